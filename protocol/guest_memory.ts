// Guest memory as an interface (vm-memory's GuestMemory): ring and device code read and
// write a page through a view and never own its bytes. Every store goes through one of the
// view's write methods, so a view can record exactly which bytes were written: dom0's mirror
// of a mapped page (dom0/remote_platform.ts) sends back only those bytes, never the bytes
// between them, which belong to the guest and may have changed meanwhile.
//
//   ByteMemory     a plain Uint8Array (tests; dom0's in-process view of a frame)
//   TrackedMemory  a ByteMemory that records the spans written, for a later sync
//   SpanSet        sorted, disjoint written ranges; merges only overlapping or adjacent ones

/** A window of guest memory: offsets are relative to its start; multi-byte values little-endian. */
export interface GuestMemory {
  readonly length: number;
  /** A copy of [offset, offset+len). */
  read(offset: number, len: number): Uint8Array;
  u8(offset: number): number;
  u16le(offset: number): number;
  u32le(offset: number): number;
  /** Stores `data` at `offset`. */
  write(offset: number, data: Uint8Array): void;
  fill(offset: number, len: number, value: number): void;
  setU8(offset: number, v: number): void;
  setU16le(offset: number, v: number): void;
  setU32le(offset: number, v: number): void;
}

export class GuestMemoryRangeError extends RangeError {
  override readonly name = 'GuestMemoryRangeError';
}

/**
 * A view over a Uint8Array. Out-of-range accesses throw (a backend bug, never guest input:
 * guest-chosen offsets are checked before they reach a view). `onWrite` hears every store,
 * after it lands, with the exact range.
 */
export class ByteMemory implements GuestMemory {
  private readonly dv: DataView;

  constructor(
    protected readonly bytes: Uint8Array,
    private readonly onWrite: ((offset: number, len: number) => void) | null = null,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  protected check(offset: number, len: number): void {
    if (!(Number.isInteger(offset) && Number.isInteger(len) && offset >= 0 && len >= 0 && offset + len <= this.bytes.length)) {
      throw new GuestMemoryRangeError(`access [${offset}, ${offset + len}) outside a ${this.bytes.length}-byte view`);
    }
  }

  private wrote(offset: number, len: number): void {
    if (len > 0) this.onWrite?.(offset, len);
  }

  read(offset: number, len: number): Uint8Array {
    this.check(offset, len);
    return this.bytes.slice(offset, offset + len);
  }
  u8(offset: number): number {
    this.check(offset, 1);
    return this.bytes[offset]!;
  }
  u16le(offset: number): number {
    this.check(offset, 2);
    return this.dv.getUint16(offset, true);
  }
  u32le(offset: number): number {
    this.check(offset, 4);
    return this.dv.getUint32(offset, true);
  }

  write(offset: number, data: Uint8Array): void {
    this.check(offset, data.length);
    this.bytes.set(data, offset);
    this.wrote(offset, data.length);
  }
  fill(offset: number, len: number, value: number): void {
    this.check(offset, len);
    this.bytes.fill(value, offset, offset + len);
    this.wrote(offset, len);
  }
  setU8(offset: number, v: number): void {
    this.check(offset, 1);
    this.bytes[offset] = v;
    this.wrote(offset, 1);
  }
  setU16le(offset: number, v: number): void {
    this.check(offset, 2);
    this.dv.setUint16(offset, v, true);
    this.wrote(offset, 2);
  }
  setU32le(offset: number, v: number): void {
    this.check(offset, 4);
    this.dv.setUint32(offset, v >>> 0, true);
    this.wrote(offset, 4);
  }
}

/**
 * Written byte ranges [lo, hi), sorted and disjoint. Only ranges that overlap or touch are
 * merged: bytes between two writes are not written, so a sync never carries them. At most
 * len/2 spans exist (a byte written, a byte not), so the set is bounded by its page.
 */
export class SpanSet {
  private spans: { lo: number; hi: number }[] = [];

  get size(): number {
    return this.spans.length;
  }

  add(lo: number, hi: number): void {
    if (hi <= lo) return;
    const s = this.spans;
    // A guest filling a buffer stores word after word: extending the last span in place
    // spares a search, an object and a splice per store.
    const last = s[s.length - 1];
    if (last !== undefined && lo <= last.hi && lo >= last.lo) {
      if (hi > last.hi) last.hi = hi;
      return;
    }
    // First span that ends at or after lo (it may touch or overlap the new one).
    let a = 0;
    let b = s.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (s[m]!.hi < lo) a = m + 1;
      else b = m;
    }
    const i = a;
    let j = i;
    while (j < s.length && s[j]!.lo <= hi) {
      lo = Math.min(lo, s[j]!.lo);
      hi = Math.max(hi, s[j]!.hi);
      j++;
    }
    s.splice(i, j - i, { lo, hi });
  }

  /** The spans, in address order, and an empty set after. */
  take(): { lo: number; hi: number }[] {
    const out = this.spans;
    this.spans = [];
    return out;
  }

  clear(): void {
    this.spans = [];
  }
}

/**
 * Stores a structure of `size` bytes at `offset` in one write: `encode` fills a scratch
 * buffer (at its offset 0) with the encoders that take a DataView (protocol/xen/*).
 */
export function writeStruct(mem: GuestMemory, offset: number, size: number, encode: (dv: DataView) => void): void {
  const scratch = new Uint8Array(size);
  encode(new DataView(scratch.buffer));
  mem.write(offset, scratch);
}

/**
 * A ByteMemory that records the exact spans written since the last `takeSpans`; `onWrite`
 * hears that a store happened (dom0's mirror uses it to note the page for its next sync).
 */
export class TrackedMemory extends ByteMemory {
  private readonly written: SpanSet;

  constructor(bytes: Uint8Array, onWrite?: () => void) {
    const written = new SpanSet();
    super(bytes, (off, len) => {
      written.add(off, off + len);
      onWrite?.();
    });
    this.written = written;
  }

  /** The spans written since the last call, in address order. */
  takeSpans(): { lo: number; hi: number }[] {
    return this.written.take();
  }

  /** Stores bytes that came from the other side: not recorded (they are not this side's writes). */
  applyRemote(offset: number, data: Uint8Array): void {
    this.check(offset, data.length);
    this.bytes.set(data, offset);
  }
}

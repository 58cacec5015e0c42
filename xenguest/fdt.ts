// A small flattened device tree (devicetree specification v0.4, chapter 5) writer and
// reader: the writer builds the blob an HVM domain's board is described by (libxl builds
// an ARM guest's tree the same way, in the toolstack); the reader parses one back, for
// tests and for tools that want to check what a guest was given. Big-endian throughout.

export const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_NOP = 4;
const FDT_END = 9;
/** Header size for version 17. */
const HEADER_BYTES = 40;
const FDT_VERSION = 17;
const FDT_LAST_COMP_VERSION = 16;

export class FdtError extends Error {
  override readonly name = 'FdtError';
}

export type FdtValue = Uint8Array;

/** Property value encoders (the specification's property types, section 2.2.4). */
export const fdtValue = {
  u32s(...cells: number[]): Uint8Array {
    const b = new Uint8Array(cells.length * 4);
    const dv = new DataView(b.buffer);
    cells.forEach((c, i) => dv.setUint32(i * 4, c >>> 0));
    return b;
  },
  /** A 64-bit quantity as two cells (for #address-cells = 2 / #size-cells = 2). */
  u64(v: number): Uint8Array {
    return fdtValue.u32s(Math.floor(v / 2 ** 32), v >>> 0);
  },
  string(...strings: string[]): Uint8Array {
    return new TextEncoder().encode(strings.map((s) => `${s}\0`).join(''));
  },
  empty(): Uint8Array {
    return new Uint8Array(0);
  },
  concat(...parts: Uint8Array[]): Uint8Array {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  },
};

/** Builds a blob node by node: beginNode / prop / endNode, then finish(). */
export class FdtWriter {
  private struct: number[] = [];
  private readonly strings: number[] = [];
  private readonly stringOffsets = new Map<string, number>();
  private depth = 0;
  private readonly reserved: { address: number; size: number }[] = [];

  private u32(v: number): void {
    this.struct.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }

  private pad(): void {
    while (this.struct.length % 4) this.struct.push(0);
  }

  /** A /memreserve/ entry (the blob itself, firmware...). */
  reserve(address: number, size: number): this {
    this.reserved.push({ address, size });
    return this;
  }

  beginNode(name: string): this {
    if (this.depth === 0 && name !== '') throw new FdtError('the root node has an empty name');
    this.u32(FDT_BEGIN_NODE);
    for (const b of new TextEncoder().encode(name)) this.struct.push(b);
    this.struct.push(0);
    this.pad();
    this.depth++;
    return this;
  }

  prop(name: string, value: Uint8Array): this {
    if (this.depth === 0) throw new FdtError(`property ${name} outside a node`);
    let off = this.stringOffsets.get(name);
    if (off === undefined) {
      off = this.strings.length;
      this.stringOffsets.set(name, off);
      for (const b of new TextEncoder().encode(name)) this.strings.push(b);
      this.strings.push(0);
    }
    this.u32(FDT_PROP);
    this.u32(value.length);
    this.u32(off);
    for (const b of value) this.struct.push(b);
    this.pad();
    return this;
  }

  endNode(): this {
    if (this.depth === 0) throw new FdtError('endNode without beginNode');
    this.u32(FDT_END_NODE);
    this.depth--;
    return this;
  }

  /** The blob; `bootCpuid` is the header's boot_cpuid_phys. */
  finish(bootCpuid = 0): Uint8Array {
    if (this.depth !== 0) throw new FdtError(`${this.depth} node(s) left open`);
    const struct = [...this.struct];
    struct.push(0, 0, 0, FDT_END);
    const rsvOff = HEADER_BYTES; // 8-byte aligned
    const rsvBytes = (this.reserved.length + 1) * 16;
    const structOff = rsvOff + rsvBytes;
    const stringsOff = structOff + struct.length;
    const total = stringsOff + this.strings.length;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, FDT_MAGIC);
    dv.setUint32(4, total);
    dv.setUint32(8, structOff);
    dv.setUint32(12, stringsOff);
    dv.setUint32(16, rsvOff);
    dv.setUint32(20, FDT_VERSION);
    dv.setUint32(24, FDT_LAST_COMP_VERSION);
    dv.setUint32(28, bootCpuid >>> 0);
    dv.setUint32(32, this.strings.length);
    dv.setUint32(36, struct.length);
    this.reserved.forEach((r, i) => {
      dv.setUint32(rsvOff + i * 16, Math.floor(r.address / 2 ** 32));
      dv.setUint32(rsvOff + i * 16 + 4, r.address >>> 0);
      dv.setUint32(rsvOff + i * 16 + 8, Math.floor(r.size / 2 ** 32));
      dv.setUint32(rsvOff + i * 16 + 12, r.size >>> 0);
    });
    out.set(struct, structOff);
    out.set(this.strings, stringsOff);
    return out;
  }
}

export interface FdtNode {
  name: string;
  props: Map<string, Uint8Array>;
  children: FdtNode[];
}

export interface ParsedFdt {
  root: FdtNode;
  reserved: { address: number; size: number }[];
  bootCpuid: number;
  totalSize: number;
}

/** Parses a blob; every malformation is an FdtError. */
export function parseFdt(blob: Uint8Array): ParsedFdt {
  if (blob.length < HEADER_BYTES) throw new FdtError('shorter than an FDT header');
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (dv.getUint32(0) !== FDT_MAGIC) throw new FdtError('bad magic');
  const total = dv.getUint32(4);
  if (total > blob.length) throw new FdtError(`totalsize ${total} exceeds the ${blob.length} bytes given`);
  const structOff = dv.getUint32(8);
  const stringsOff = dv.getUint32(12);
  const rsvOff = dv.getUint32(16);
  const stringsSize = dv.getUint32(32);
  const structSize = dv.getUint32(36);
  if (structOff + structSize > total || stringsOff + stringsSize > total || rsvOff >= total) throw new FdtError('a block lies outside the blob');
  const reserved: { address: number; size: number }[] = [];
  for (let o = rsvOff; ; o += 16) {
    if (o + 16 > total) throw new FdtError('unterminated memory reservation block');
    const address = dv.getUint32(o) * 2 ** 32 + dv.getUint32(o + 4);
    const size = dv.getUint32(o + 8) * 2 ** 32 + dv.getUint32(o + 12);
    if (address === 0 && size === 0) break;
    reserved.push({ address, size });
  }
  const str = (off: number): string => {
    if (off >= stringsSize) throw new FdtError(`string offset ${off} outside the strings block`);
    let e = stringsOff + off;
    while (e < stringsOff + stringsSize && blob[e] !== 0) e++;
    if (e >= stringsOff + stringsSize) throw new FdtError('unterminated property name');
    return new TextDecoder().decode(blob.subarray(stringsOff + off, e));
  };
  let p = structOff;
  const end = structOff + structSize;
  const word = (): number => {
    if (p + 4 > end) throw new FdtError('structure block ends early');
    const v = dv.getUint32(p);
    p += 4;
    return v;
  };
  const stack: FdtNode[] = [];
  let root: FdtNode | null = null;
  for (;;) {
    const tok = word();
    if (tok === FDT_BEGIN_NODE) {
      let e = p;
      while (e < end && blob[e] !== 0) e++;
      if (e >= end) throw new FdtError('unterminated node name');
      const node: FdtNode = { name: new TextDecoder().decode(blob.subarray(p, e)), props: new Map(), children: [] };
      p = (e + 1 + 3) & ~3;
      if (stack.length === 0) {
        if (root) throw new FdtError('more than one root node');
        root = node;
      } else stack[stack.length - 1]!.children.push(node);
      stack.push(node);
    } else if (tok === FDT_PROP) {
      const len = word();
      const nameoff = word();
      if (stack.length === 0) throw new FdtError('property outside a node');
      if (p + len > end) throw new FdtError('property value runs past the structure block');
      stack[stack.length - 1]!.props.set(str(nameoff), blob.slice(p, p + len));
      p = (p + len + 3) & ~3;
    } else if (tok === FDT_END_NODE) {
      if (!stack.pop()) throw new FdtError('END_NODE without BEGIN_NODE');
    } else if (tok === FDT_NOP) {
      continue;
    } else if (tok === FDT_END) {
      if (stack.length) throw new FdtError('FDT_END with nodes open');
      break;
    } else throw new FdtError(`unknown token ${tok}`);
  }
  if (!root) throw new FdtError('no root node');
  return { root, reserved, bootCpuid: dv.getUint32(28), totalSize: total };
}

/** The node at `path` ("/soc/serial@10000000"), or undefined. */
export function fdtFind(root: FdtNode, path: string): FdtNode | undefined {
  let n: FdtNode | undefined = root;
  for (const part of path.split('/').filter(Boolean)) {
    n = n.children.find((c) => c.name === part || c.name.split('@')[0] === part);
    if (!n) return undefined;
  }
  return n;
}

/** A property's cells. */
export function fdtCells(v: Uint8Array | undefined): number[] {
  if (!v) return [];
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  const out: number[] = [];
  for (let i = 0; i + 4 <= v.length; i += 4) out.push(dv.getUint32(i));
  return out;
}

/** A property's strings (a string list). */
export function fdtStrings(v: Uint8Array | undefined): string[] {
  if (!v || v.length === 0) return [];
  const s = new TextDecoder().decode(v);
  return s.endsWith('\0') ? s.slice(0, -1).split('\0') : s.split('\0');
}

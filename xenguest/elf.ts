// ELF32 little-endian RISC-V image parsing: program headers (what to load where),
// the symbol table (tohost/fromhost for HTIF) and Xen ELF notes (PV kernel metadata).
// Every malformation becomes an ElfError with a message a user can act on.

export class ElfError extends Error {
  override readonly name = 'ElfError';
}

const PT_LOAD = 1;
const PT_NOTE = 4;
const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const EM_RISCV = 243;
const ET_EXEC = 2;

export interface ElfSegment {
  /** Virtual address the segment is linked at. */
  vaddr: number;
  /** Physical (load) address. */
  paddr: number;
  /** File bytes; the segment is zero-filled from data.length to memsz. */
  data: Uint8Array;
  memsz: number;
  flags: number; // PF_X=1, PF_W=2, PF_R=4
}

export interface ElfNote {
  name: string;
  type: number;
  desc: Uint8Array;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
  symbols: Map<string, { value: number; size: number }>;
  notes: ElfNote[];
}

function u16(b: DataView, o: number): number {
  return b.getUint16(o, true);
}
function u32(b: DataView, o: number): number {
  return b.getUint32(o, true);
}

/**
 * The work parsing may do, in bytes looked at: a small multiple of the image's size. An
 * image's headers may point many times at the same bytes (65,535 note segments over one
 * 16 MiB region, symbol names that all run to the end of a NUL-free string table), and
 * without a bound a few MiB of image became hundreds of GiB of copies and strings. Xen's
 * libelf bounds its loops the same way (ELF_MAX_ITERATION_FACTOR).
 */
const WORK_FACTOR = 4;
class WorkBudget {
  private left: number;
  constructor(private readonly size: number) {
    this.left = WORK_FACTOR * size + 64 * 1024;
  }
  spend(n: number, what: string): void {
    this.left -= n;
    if (this.left < 0) {
      throw new ElfError(`${what}: the image's headers point at the same bytes over and over (more than ${WORK_FACTOR} x its ${this.size} bytes to read); refused`);
    }
  }
}

/** The longest symbol or note name kept; longer ones are cut (only short names are looked up). */
const MAX_NAME_BYTES = 256;

function cstring(bytes: Uint8Array, off: number, limit = bytes.length): string {
  let end = off;
  limit = Math.min(limit, off + MAX_NAME_BYTES);
  while (end < limit && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(off, end));
}

function checkRange(what: string, off: number, len: number, fileSize: number): void {
  if (off < 0 || len < 0 || off + len > fileSize) {
    throw new ElfError(`truncated ELF: ${what} at offset ${off} (+${len} bytes) lies past the end of the ${fileSize}-byte file`);
  }
}

function parseNotes(bytes: Uint8Array, off: number, size: number, out: ElfNote[], budget: WorkBudget): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = off + size;
  let p = off;
  while (p + 12 <= end) {
    budget.spend(12 + 32, `note at offset ${p}`); // its header, and the object it becomes
    const namesz = u32(dv, p);
    const descsz = u32(dv, p + 4);
    const type = u32(dv, p + 8);
    const nameOff = p + 12;
    const descOff = nameOff + ((namesz + 3) & ~3);
    const next = descOff + ((descsz + 3) & ~3);
    if (next > end) throw new ElfError(`malformed ELF note at offset ${p}: it runs past its section`);
    budget.spend(descsz, `note at offset ${p}`);
    out.push({ name: cstring(bytes, nameOff, nameOff + namesz), type, desc: bytes.slice(descOff, descOff + descsz) });
    p = next;
  }
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Two PT_LOAD segments over the same bytes would each overwrite the other (which one wins
 * depends on the loader), so an image that has them is refused, as Xen's libelf refuses
 * segments it cannot load as written.
 */
function checkNoOverlap(segments: readonly ElfSegment[], phdrIndex: readonly number[], key: 'paddr' | 'vaddr', what: string): void {
  const order = segments.map((s, k) => ({ i: phdrIndex[k]!, start: s[key], end: s[key] + s.memsz })).filter((r) => r.end > r.start);
  order.sort((a, b) => a.start - b.start);
  for (let k = 1; k < order.length; k++) {
    const a = order[k - 1]!;
    const b = order[k]!;
    if (b.start < a.end) {
      const [x, y] = a.i < b.i ? [a, b] : [b, a];
      throw new ElfError(
        `segments ${x.i} and ${y.i} (PT_LOAD) overlap in ${what} memory: [${hex(x.start)}, ${hex(x.end)}) and [${hex(y.start)}, ${hex(y.end)})`,
      );
    }
  }
}

/** Parses an RV32 executable. Throws ElfError naming what is wrong. */
export function parseElf(bytes: Uint8Array): ElfImage {
  if (bytes.length < 52) throw new ElfError(`truncated ELF: ${bytes.length} bytes is shorter than an ELF32 header (52)`);
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError('not an ELF file (bad magic)');
  }
  if (bytes[4] !== 1) throw new ElfError(`not an RV32 image: ELF class ${bytes[4] === 2 ? 'ELF64' : String(bytes[4])}, expected ELF32`);
  if (bytes[5] !== 1) throw new ElfError('not a little-endian ELF');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = u16(dv, 16);
  const machine = u16(dv, 18);
  if (machine !== EM_RISCV) throw new ElfError(`not a RISC-V image: e_machine ${machine}, expected ${EM_RISCV}`);
  if (type !== ET_EXEC) throw new ElfError(`not an executable: e_type ${type}, expected ET_EXEC (2)`);
  const entry = u32(dv, 24);
  const phoff = u32(dv, 28);
  const shoff = u32(dv, 32);
  const phentsize = u16(dv, 42);
  const phnum = u16(dv, 44);
  const shentsize = u16(dv, 46);
  const shnum = u16(dv, 48);
  if (phnum === 0) throw new ElfError('ELF has no program headers: nothing to load');
  if (phentsize < 32) throw new ElfError(`bad program header size ${phentsize}`);
  checkRange('program header table', phoff, phnum * phentsize, bytes.length);

  const budget = new WorkBudget(bytes.length);
  const segments: ElfSegment[] = [];
  /** The program header index of each segment, for messages. */
  const loadIndex: number[] = [];
  const notes: ElfNote[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    const ptype = u32(dv, o);
    const offset = u32(dv, o + 4);
    const vaddr = u32(dv, o + 8);
    const paddr = u32(dv, o + 12);
    const filesz = u32(dv, o + 16);
    const memsz = u32(dv, o + 20);
    const flags = u32(dv, o + 24);
    if (ptype === PT_LOAD) {
      if (filesz > memsz) throw new ElfError(`segment ${i}: file size ${filesz} exceeds memory size ${memsz}`);
      checkRange(`segment ${i}`, offset, filesz, bytes.length);
      if (paddr + memsz > 2 ** 32 || vaddr + memsz > 2 ** 32) throw new ElfError(`segment ${i} wraps past 4 GiB`);
      // A view, not a copy: segments may all name the same file bytes (overlaps are refused below).
      segments.push({ vaddr, paddr, data: bytes.subarray(offset, offset + filesz), memsz, flags });
      loadIndex.push(i);
    } else if (ptype === PT_NOTE) {
      checkRange(`note segment ${i}`, offset, filesz, bytes.length);
      parseNotes(bytes, offset, filesz, notes, budget);
    }
  }
  if (segments.length === 0) throw new ElfError('ELF has no PT_LOAD segment: nothing to load');
  checkNoOverlap(segments, loadIndex, 'paddr', 'physical');
  checkNoOverlap(segments, loadIndex, 'vaddr', 'virtual');

  const symbols = new Map<string, { value: number; size: number }>();
  if (shoff !== 0 && shnum > 0) {
    if (shentsize < 40) throw new ElfError(`bad section header size ${shentsize}`);
    checkRange('section header table', shoff, shnum * shentsize, bytes.length);
    const sec = (i: number) => {
      const o = shoff + i * shentsize;
      return { type: u32(dv, o + 4), offset: u32(dv, o + 16), size: u32(dv, o + 20), link: u32(dv, o + 24), entsize: u32(dv, o + 36) };
    };
    for (let i = 0; i < shnum; i++) {
      const s = sec(i);
      if (s.type === SHT_NOTE && notes.length === 0) {
        checkRange(`note section ${i}`, s.offset, s.size, bytes.length);
        parseNotes(bytes, s.offset, s.size, notes, budget);
      }
      if (s.type !== SHT_SYMTAB) continue;
      if (s.link >= shnum) throw new ElfError(`symbol table ${i} names string table ${s.link}, which does not exist`);
      const str = sec(s.link);
      checkRange(`symbol table ${i}`, s.offset, s.size, bytes.length);
      checkRange('string table', str.offset, str.size, bytes.length);
      const ent = s.entsize || 16;
      if (ent < 16) throw new ElfError(`symbol table ${i}: entry size ${ent} is smaller than an ELF32 symbol (16)`);
      for (let p = s.offset; p + 16 <= s.offset + s.size; p += ent) {
        budget.spend(16, `symbol table ${i}`);
        const nameIdx = u32(dv, p);
        if (nameIdx === 0 || nameIdx >= str.size) continue;
        const name = cstring(bytes, str.offset + nameIdx, str.offset + str.size);
        budget.spend(name.length, `symbol table ${i}`);
        if (!symbols.has(name)) symbols.set(name, { value: u32(dv, p + 4), size: u32(dv, p + 8) });
      }
    }
  }
  return { entry, segments, symbols, notes };
}

/** Xen ELF note types (xen/elfnote.h). */
export const XEN_ELFNOTE = {
  ENTRY: 1,
  HYPERCALL_PAGE: 2,
  VIRT_BASE: 3,
  PADDR_OFFSET: 4,
  XEN_VERSION: 5,
  GUEST_OS: 6,
  GUEST_VERSION: 7,
  LOADER: 8,
  PAE_MODE: 9,
  FEATURES: 10,
  BSD_SYMTAB: 11,
} as const;

/** The Xen notes of a PV kernel, decoded. */
export interface XenNotes {
  guestOs?: string;
  xenVersion?: string;
  loader?: string;
  virtBase?: number;
  entry?: number;
}

export function xenNotes(img: ElfImage): XenNotes {
  const out: XenNotes = {};
  const str = (d: Uint8Array) => cstring(d, 0);
  const num = (d: Uint8Array) => (d.length >= 4 ? new DataView(d.buffer, d.byteOffset, d.byteLength).getUint32(0, true) : undefined);
  for (const n of img.notes) {
    if (n.name !== 'Xen') continue;
    switch (n.type) {
      case XEN_ELFNOTE.GUEST_OS: out.guestOs = str(n.desc); break;
      case XEN_ELFNOTE.XEN_VERSION: out.xenVersion = str(n.desc); break;
      case XEN_ELFNOTE.LOADER: out.loader = str(n.desc); break;
      case XEN_ELFNOTE.VIRT_BASE: { const v = num(n.desc); if (v !== undefined) out.virtBase = v; break; }
      case XEN_ELFNOTE.ENTRY: { const v = num(n.desc); if (v !== undefined) out.entry = v; break; }
    }
  }
  return out;
}

/**
 * parseElf, once per image: a scenario builds thousands of domains from one kernel file
 * (the same bytes), and each parse built the same segments, notes and symbol map again.
 * The entry keeps a copy of the bytes and is used only while they are unchanged (a native
 * compare), so a buffer edited since (a test, a tool reusing it) is parsed afresh. Callers
 * must not modify the result.
 */
export function parseElfCached(bytes: Uint8Array): ElfImage {
  if (!elfCache.enabled) return parseElf(bytes);
  const hit = parsedImages.get(bytes);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (hit && view.equals(hit.copy)) return hit.img;
  const img = parseElf(bytes);
  parsedImages.set(bytes, { img, copy: Buffer.from(view) });
  return img;
}

/** Tests: turn the cache off (every build parses, as before it existed). */
export const elfCache = { enabled: true };

const parsedImages = new WeakMap<Uint8Array, { img: ElfImage; copy: Buffer }>();

// Writes small ELF32 RISC-V executables for tests: program headers, an optional symbol
// table and optional notes. Lets tests build images without the cross compiler and
// corrupt them on purpose.

export interface TestSegment {
  vaddr: number;
  paddr?: number;
  data: Uint8Array;
  memsz?: number;
  flags?: number;
}

export interface TestElf {
  entry: number;
  segments: TestSegment[];
  symbols?: Record<string, number>;
  notes?: { name: string; type: number; desc: Uint8Array }[];
  machine?: number;
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export function u32Bytes(...words: number[]): Uint8Array {
  const b = new Uint8Array(words.length * 4);
  const dv = new DataView(b.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return b;
}

export function writeElf(spec: TestElf): Uint8Array {
  const enc = new TextEncoder();
  const noteBlobs: Uint8Array[] = [];
  for (const n of spec.notes ?? []) {
    const name = enc.encode(n.name + '\0');
    const blob = new Uint8Array(12 + align(name.length, 4) + align(n.desc.length, 4));
    const dv = new DataView(blob.buffer);
    dv.setUint32(0, name.length, true);
    dv.setUint32(4, n.desc.length, true);
    dv.setUint32(8, n.type, true);
    blob.set(name, 12);
    blob.set(n.desc, 12 + align(name.length, 4));
    noteBlobs.push(blob);
  }
  const notes = new Uint8Array(noteBlobs.reduce((s, b) => s + b.length, 0));
  noteBlobs.reduce((o, b) => (notes.set(b, o), o + b.length), 0);

  const phnum = spec.segments.length + (notes.length ? 1 : 0);
  let off = 52 + phnum * 32;
  const segOffsets = spec.segments.map((s) => {
    const o = off;
    off += s.data.length;
    return o;
  });
  const noteOff = off;
  off += notes.length;

  // Symbol table: null symbol, then one per name; string table after it.
  const names = Object.keys(spec.symbols ?? {});
  const strtab: number[] = [0];
  const nameIdx = names.map((n) => {
    const i = strtab.length;
    strtab.push(...enc.encode(n), 0);
    return i;
  });
  const shstr = enc.encode('\0.symtab\0.strtab\0');
  off = align(off, 4);
  const symOff = off;
  const symSize = (names.length + 1) * 16;
  off += symSize;
  const strOff = off;
  off += strtab.length;
  const shstrOff = off;
  off += shstr.length;
  off = align(off, 4);
  const shoff = names.length ? off : 0;
  const shnum = names.length ? 4 : 0;
  const total = off + shnum * 40;

  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, spec.machine ?? 243, true);
  dv.setUint32(20, 1, true);
  dv.setUint32(24, spec.entry >>> 0, true);
  dv.setUint32(28, 52, true);
  dv.setUint32(32, shoff, true);
  dv.setUint16(40, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, phnum, true);
  dv.setUint16(46, 40, true);
  dv.setUint16(48, shnum, true);
  dv.setUint16(50, shnum ? 3 : 0, true);
  spec.segments.forEach((s, i) => {
    const p = 52 + i * 32;
    dv.setUint32(p, 1, true);
    dv.setUint32(p + 4, segOffsets[i]!, true);
    dv.setUint32(p + 8, s.vaddr >>> 0, true);
    dv.setUint32(p + 12, (s.paddr ?? s.vaddr) >>> 0, true);
    dv.setUint32(p + 16, s.data.length, true);
    dv.setUint32(p + 20, s.memsz ?? s.data.length, true);
    dv.setUint32(p + 24, s.flags ?? 7, true);
    dv.setUint32(p + 28, 4096, true);
    out.set(s.data, segOffsets[i]!);
  });
  if (notes.length) {
    const p = 52 + spec.segments.length * 32;
    dv.setUint32(p, 4, true);
    dv.setUint32(p + 4, noteOff, true);
    dv.setUint32(p + 16, notes.length, true);
    dv.setUint32(p + 20, notes.length, true);
    out.set(notes, noteOff);
  }
  if (names.length) {
    names.forEach((n, i) => {
      const p = symOff + (i + 1) * 16;
      dv.setUint32(p, nameIdx[i]!, true);
      dv.setUint32(p + 4, spec.symbols![n]! >>> 0, true);
      dv.setUint32(p + 8, 8, true);
      out[p + 12] = 0x11; // STB_GLOBAL, STT_OBJECT
    });
    out.set(strtab, strOff);
    out.set(shstr, shstrOff);
    const sh = (i: number, name: number, type: number, o: number, size: number, link: number, entsize: number) => {
      const p = shoff + i * 40;
      dv.setUint32(p, name, true);
      dv.setUint32(p + 4, type, true);
      dv.setUint32(p + 16, o, true);
      dv.setUint32(p + 20, size, true);
      dv.setUint32(p + 24, link, true);
      dv.setUint32(p + 36, entsize, true);
    };
    sh(1, 1, 2, symOff, symSize, 2, 16);
    sh(2, 9, 3, strOff, strtab.length, 0, 0);
    sh(3, 0, 3, shstrOff, shstr.length, 0, 0);
  }
  return out;
}

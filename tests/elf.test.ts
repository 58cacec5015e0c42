import { describe, expect, it } from 'vitest';
import { parseElf, xenNotes, ElfError, XEN_ELFNOTE } from '../xenguest/elf.ts';
import { writeElf, u32Bytes } from './helpers/elf_writer.ts';

const code = u32Bytes(0x00000013, 0x0000006f); // nop; j .
const good = () => writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: code, memsz: 64 }], symbols: { tohost: 0x80001000 } });

describe('ELF loader', () => {
  it('reads entry, segments and symbols', () => {
    const img = parseElf(good());
    expect(img.entry).toBe(0x80000000);
    expect(img.segments).toHaveLength(1);
    expect(img.segments[0]!.memsz).toBe(64);
    expect([...img.segments[0]!.data]).toEqual([...code]);
    expect(img.symbols.get('tohost')?.value).toBe(0x80001000);
  });

  it('decodes Xen ELF notes', () => {
    const enc = new TextEncoder();
    const img = parseElf(
      writeElf({
        entry: 0xc0000000,
        segments: [{ vaddr: 0xc0000000, data: code }],
        notes: [
          { name: 'Xen', type: XEN_ELFNOTE.GUEST_OS, desc: enc.encode('pvsim-rv32\0') },
          { name: 'Xen', type: XEN_ELFNOTE.VIRT_BASE, desc: u32Bytes(0xc0000000) },
        ],
      }),
    );
    expect(xenNotes(img)).toEqual({ guestOs: 'pvsim-rv32', virtBase: 0xc0000000 });
  });

  const bad: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    ['empty file', () => new Uint8Array(0), /truncated ELF/],
    ['bad magic', (b) => (b[0] = 0, b), /not an ELF file/],
    ['ELF64', (b) => (b[4] = 2, b), /not an RV32 image: ELF class ELF64/],
    ['big-endian', (b) => (b[5] = 2, b), /not a little-endian/],
    ['x86 machine', (b) => (b[18] = 62, b[19] = 0, b), /not a RISC-V image: e_machine 62/],
    ['relocatable object', (b) => (b[16] = 1, b), /not an executable/],
    ['truncated segment', (b) => b.slice(0, 60), /truncated ELF/],
    ['filesz > memsz', (b) => (new DataView(b.buffer).setUint32(52 + 20, 2, true), b), /exceeds memory size/],
    ['no program headers', (b) => (b[44] = 0, b), /no program headers/],
    ['truncated section table', (b) => b.slice(0, b.length - 10), /truncated ELF: section header table/],
  ];
  for (const [what, mutate, msg] of bad) {
    it(`rejects ${what} with a clear message`, () => {
      expect(() => parseElf(mutate(good()))).toThrowError(ElfError);
      expect(() => parseElf(mutate(good()))).toThrowError(msg);
    });
  }
});

// Minimal PV kernel images for tests: machine code at 0xc0000000 plus the Xen ELF notes
// the domain builder requires.

import { XEN_ELFNOTE } from '../../xenguest/elf.ts';
import { writeElf, u32Bytes } from './elf_writer.ts';

export const PV_BASE = 0xc000_0000;

export function pvImage(code: Uint8Array, opts: { bssBytes?: number; notes?: boolean } = {}): Uint8Array {
  const enc = new TextEncoder();
  return writeElf({
    entry: PV_BASE,
    segments: [{ vaddr: PV_BASE, data: code, memsz: code.length + (opts.bssBytes ?? 0) }],
    notes:
      opts.notes === false
        ? []
        : [
            { name: 'Xen', type: XEN_ELFNOTE.GUEST_OS, desc: enc.encode('test\0') },
            { name: 'Xen', type: XEN_ELFNOTE.VIRT_BASE, desc: u32Bytes(PV_BASE) },
            { name: 'Xen', type: XEN_ELFNOTE.LOADER, desc: enc.encode('generic\0') },
          ],
  });
}

/** `j .`: a kernel that spins, for tests that never run it. */
export const SPIN = u32Bytes(0x0000006f);

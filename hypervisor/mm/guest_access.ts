// copy_from_guest / copy_to_guest: hypercall pointer arguments are guest virtual
// addresses, translated through the vCPU's current page tables as the guest kernel would
// see them. Any untranslatable byte makes the whole copy fail (the caller returns -EFAULT).

import type { Hart } from '../cpu/hart.ts';
import { PAGE_MASK } from '../cpu/memory.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { HYPERVISOR_VIRT_START } from '../../protocol/xen/arch_riscv32.ts';

/**
 * A vCPU whose pointers are not translated by its hart's current mode (an HVM vCPU: its
 * guest's own page tables, walked by its virtualization mode) registers how here.
 * Returns a machine address, or -1 when the guest cannot make the access.
 */
export type GuestTranslator = (va: number, access: 'r' | 'w') => number;
const translators = new WeakMap<Hart, GuestTranslator>();

export function setGuestTranslator(hart: Hart, t: GuestTranslator): void {
  translators.set(hart, t);
}

function translate(hart: Hart, va: number, access: 'r' | 'w'): number {
  const t = translators.get(hart);
  return t ? t(va, access) : hart.translate(va, access);
}

export function copyFromGuest(hart: Hart, va: number, len: number): Uint8Array | null {
  if (len < 0 || va + len > 2 ** 32) return null;
  const out = new Uint8Array(len);
  let done = 0;
  while (done < len) {
    const a = (va + done) >>> 0;
    const pa = translate(hart, a, 'r');
    if (pa < 0) return null;
    const pfn = Math.floor(pa / PAGE_SIZE);
    const frame = hart.mem.frames[pfn];
    if (!frame && !hart.mem.isAllocated(pfn)) return null;
    const off = pa & PAGE_MASK;
    const n = Math.min(PAGE_SIZE - off, len - done);
    if (frame) out.set(frame.subarray(off, off + n), done); // an unpopulated frame reads as zeros
    done += n;
  }
  return out;
}

/** Returns false (nothing written) if any destination byte is not writable by the guest. */
export function copyToGuest(hart: Hart, va: number, data: Uint8Array): boolean {
  if (va + data.length > 2 ** 32) return false;
  // Translate every page first so a fault leaves guest memory untouched.
  const pieces: { frame: Uint8Array; off: number; n: number; pa: number }[] = [];
  let done = 0;
  while (done < data.length) {
    const a = (va + done) >>> 0;
    const pa = translate(hart, a, 'w');
    if (pa < 0) return false;
    const pfn = Math.floor(pa / PAGE_SIZE);
    const frame = hart.mem.frames[pfn] ?? (hart.mem.isAllocated(pfn) ? hart.mem.ensureFrame(pfn) : null);
    if (!frame) return false;
    const off = pa & PAGE_MASK;
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    pieces.push({ frame, off, n, pa });
    done += n;
  }
  done = 0;
  for (const p of pieces) {
    p.frame.set(data.subarray(done, done + p.n), p.off);
    hart.mem.noteStore(p.pa, p.n);
    done += p.n;
  }
  return true;
}

export function readGuestU32(hart: Hart, va: number): number | null {
  const b = copyFromGuest(hart, va, 4);
  return b ? (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0 : null;
}

/** Writes a little-endian u32 to guest memory; false if the destination is not writable. */
export function writeGuestU32(hart: Hart, va: number, value: number): boolean {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, value >>> 0, true);
  return copyToGuest(hart, va, b);
}

/** The top of the guest-accessible address space. */
const GUEST_LIMIT = HYPERVISOR_VIRT_START;

/**
 * Xen's guest_handle_okay(): an array of `count` elements of `size` bytes at `va` lies in
 * the guest's part of the address space (whether it is mapped is found out element by element).
 */
export function guestHandleOkay(va: number, count: number, size: number): boolean {
  return count * size <= GUEST_LIMIT && (va >>> 0) + count * size <= GUEST_LIMIT;
}

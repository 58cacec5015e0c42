// Sv32 helpers for code that writes or validates guest page tables. The PTE bits
// themselves are defined once, with the MMU, in cpu/csr.ts.

export { PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, SATP_MODE_SV32 } from '../cpu/csr.ts';

/** PTE bit position of the physical page number. */
export const PTE_PPN_SHIFT = 10;
/** Bytes mapped by one L1 table (one L2 entry). */
export const SV32_MEGAPAGE = 4 * 1024 * 1024;

export function pte(mfn: number, flags: number): number {
  return ((mfn << PTE_PPN_SHIFT) | flags) >>> 0;
}

// The RV32 page size and the Sv32 page-table entry format. Guest page tables are a
// contract between whoever writes them (a PV kernel, the domain builder in xenguest/)
// and whoever reads them (the MMU walk, the hypervisor's page-type validation), so the
// format is defined once here, below both (the privileged spec, "Sv32").

import { PAGE_SHIFT, PAGE_SIZE } from './xen/xen.ts';

export { PAGE_SHIFT, PAGE_SIZE };

// ---- Sv32 PTE bits ----
export const PTE_V = 1 << 0;
export const PTE_R = 1 << 1;
export const PTE_W = 1 << 2;
export const PTE_X = 1 << 3;
export const PTE_U = 1 << 4;
export const PTE_G = 1 << 5;
export const PTE_A = 1 << 6;
export const PTE_D = 1 << 7;

/** PTE bit position of the physical page number. */
export const PTE_PPN_SHIFT = 10;
/** Bytes mapped by one L1 table (one L2 entry). */
export const SV32_MEGAPAGE = 4 * 1024 * 1024;

export function pte(mfn: number, flags: number): number {
  return ((mfn << PTE_PPN_SHIFT) | flags) >>> 0;
}

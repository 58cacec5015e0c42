// Sv32 page-table entry bits (RISC-V privileged spec, section 4.3), used wherever the
// hypervisor writes or validates guest page tables.

export const PTE_V = 1 << 0;
export const PTE_R = 1 << 1;
export const PTE_W = 1 << 2;
export const PTE_X = 1 << 3;
export const PTE_U = 1 << 4;
export const PTE_G = 1 << 5;
export const PTE_A = 1 << 6;
export const PTE_D = 1 << 7;
export const PTE_PPN_SHIFT = 10;
/** Bytes mapped by one L1 table (one L2 entry). */
export const SV32_MEGAPAGE = 4 * 1024 * 1024;
export const SATP_MODE_SV32 = 0x8000_0000;

export function pte(mfn: number, flags: number): number {
  return ((mfn << PTE_PPN_SHIFT) | flags) >>> 0;
}

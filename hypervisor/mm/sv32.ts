// Sv32 helpers for code that writes or validates guest page tables. The format is
// defined once, in protocol/sv32.ts (below the hypervisor and the domain builder).

export { PTE_A, PTE_D, PTE_G, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, PTE_PPN_SHIFT, SV32_MEGAPAGE, pte } from '../../protocol/sv32.ts';
export { SATP_MODE_SV32 } from '../cpu/csr.ts';

// The part of every guest's virtual address space the hypervisor keeps (pvsim's RV32 ABI:
// docs/abi.md; the guests' copy is guests/include/pvsim/mmu.h). Defined here, below both
// guest access and the PV MMU, so that each reads the one constant.

/** Lowest guest virtual address the hypervisor reserves (the top 4 MiB, one L2 slot). */
export const HYPERVISOR_VIRT_START = 0xffc0_0000;

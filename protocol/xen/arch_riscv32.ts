// pvsim's riscv32 part of Xen's PV ABI: what Xen's public headers leave to each architecture
// and pvsim defines for RV32 (docs/abi.md). This module is the TypeScript side's one
// definition; the guests' is guests/include/pvsim/*.h, and tests/pvabi.test.ts compiles those
// headers with the RV32 cross compiler and fails on any value or offset that differs.

/** The ABI's name: start_info.magic and XENVER_capabilities (as "xen-3.0-x86_32p" on x86). */
export const XEN_ARCH_ABI = 'xen-3.0-riscv32';

/** Lowest guest virtual address the hypervisor reserves (the top 4 MiB: one Sv32 L2 slot). */
export const HYPERVISOR_VIRT_START = 0xffc0_0000;
/** The L2 (root) slot covering HYPERVISOR_VIRT_START; guests may not fill it. */
export const HYPERVISOR_L2_SLOT = HYPERVISOR_VIRT_START >>> 22;

/**
 * riscv32 struct vcpu_guest_context (VCPUOP_initialise): flags (VGCF_*), x[32], pc, sstatus,
 * stvec, sscratch, satp_mfn. Xen has none for riscv32.
 */
export const VCPU_GUEST_CONTEXT = { flags: 0, x: 4, pc: 132, sstatus: 136, stvec: 140, sscratch: 144, satp_mfn: 148, SIZE: 152 } as const;

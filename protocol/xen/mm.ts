// The PV MMU hypercalls' constants and argument layouts (xen/xen.h: mmu_update,
// update_va_mapping, mmuext_op), as compiled for RV32 ilp32. tests/mm-abi.test.ts pins every
// number and offset to Xen's headers.
//
//   mmu_update(reqs, count, done, foreigndom)   a0..a3; reqs = struct mmu_update[count]
//   update_va_mapping(va, val_lo, val_hi, flags) a0..a3; the 64-bit PTE in two registers
//   update_va_mapping_otherdomain(va, val_lo, val_hi, flags, domid)
//   mmuext_op(ops, count, done, foreigndom)      a0..a3; ops = struct mmuext_op[count]
//
// `foreigndom` of mmu_update: low 16 bits = the domain whose frames the new PTEs may map
// (DOMID_SELF = the caller), high 16 bits = 1 + the domain owning the page tables being
// changed (0 = the caller). Both need a privileged caller when they name another domain.

/** mmu_update commands, in the low two bits of `ptr` (a PTE is 4 bytes on Sv32). */
export const MMU = {
  NORMAL_PT_UPDATE: 0,
  MACHPHYS_UPDATE: 1,
  PT_UPDATE_PRESERVE_AD: 2,
  PT_UPDATE_NO_TRANSLATE: 3,
} as const;

/** struct mmu_update { uint64_t ptr; uint64_t val; } */
export const MMU_UPDATE = { ptr: 0, val: 8, SIZE: 16 } as const;

export const MMUEXT = {
  PIN_L1_TABLE: 0,
  PIN_L2_TABLE: 1,
  PIN_L3_TABLE: 2,
  PIN_L4_TABLE: 3,
  UNPIN_TABLE: 4,
  NEW_BASEPTR: 5,
  TLB_FLUSH_LOCAL: 6,
  INVLPG_LOCAL: 7,
  TLB_FLUSH_MULTI: 8,
  INVLPG_MULTI: 9,
  TLB_FLUSH_ALL: 10,
  INVLPG_ALL: 11,
  FLUSH_CACHE: 12,
  SET_LDT: 13,
  NEW_USER_BASEPTR: 15,
  CLEAR_PAGE: 16,
  COPY_PAGE: 17,
  FLUSH_CACHE_GLOBAL: 18,
  MARK_SUPER: 19,
  UNMARK_SUPER: 20,
} as const;

/**
 * struct mmuext_op { unsigned int cmd; union { xen_pfn_t mfn; unsigned long linear_addr; } arg1;
 * union { unsigned int nr_ents; const void *vcpumask; xen_pfn_t src_mfn; } arg2; }
 */
export const MMUEXT_OP = { cmd: 0, arg1: 4, arg2: 8, SIZE: 12 } as const;

/** update_va_mapping flags: a flush type, then LOCAL / ALL or a pointer to a vCPU bitmap. */
export const UVMF = {
  NONE: 0,
  TLB_FLUSH: 1,
  INVLPG: 2,
  FLUSHTYPE_MASK: 3,
  MULTI: 0,
  LOCAL: 0,
  ALL: 4,
} as const;

/**
 * mmu_update and mmuext_op steal the top bit of `count` to mark a resumed (continued) call;
 * `done` then already holds the work of the earlier part.
 */
export const MMU_UPDATE_PREEMPTED = 0x8000_0000;

/** The M2P entry of a frame that maps no pseudo-physical frame. */
export const INVALID_M2P_ENTRY = 0xffff_ffff;

/*
 * The PV MMU interface (xen.h) in Sv32 terms: direct paging, where guest
 * page tables hold machine frame numbers and every change goes through the
 * hypervisor, which keeps Xen's invariants (a page-table frame is never
 * writable anywhere; a frame mapped writable cannot become a page table).
 *
 *   mmu_update(reqs, count, done, foreigndom)
 *       reqs[i].ptr = machine address of a 4-byte PTE | MMU_* command;
 *       reqs[i].val = the new PTE (high word 0).
 *   update_va_mapping(va, val_lo, val_hi, flags)
 *       writes the L1 entry mapping va in the current address space.
 *   mmuext_op(ops, count, done, foreigndom)
 *       pin/unpin tables, switch the root (NEW_BASEPTR), TLB flushes.
 */
#ifndef PVSIM_MMU_H
#define PVSIM_MMU_H

#include <pvsim/hypercall.h>

/* mmu_update commands, in the low two bits of ptr. */
#define MMU_NORMAL_PT_UPDATE        0   /* checked *ptr = val */
#define MMU_MACHPHYS_UPDATE         1   /* ptr = mfn << 12, val = pfn: update the M2P */
#define MMU_PT_UPDATE_PRESERVE_AD   2   /* *ptr = val | (*ptr & (A|D)) */
#define MMU_PT_UPDATE_NO_TRANSLATE  3

/* mmuext_op commands. */
#define MMUEXT_PIN_L1_TABLE      0      /* arg1.mfn: validate and pin as a leaf table */
#define MMUEXT_PIN_L2_TABLE      1      /* arg1.mfn: validate and pin as a root (Sv32 L2) */
#define MMUEXT_PIN_L3_TABLE      2
#define MMUEXT_PIN_L4_TABLE      3
#define MMUEXT_UNPIN_TABLE       4      /* arg1.mfn */
#define MMUEXT_NEW_BASEPTR       5      /* arg1.mfn: a pinned L2 becomes satp's root */
#define MMUEXT_TLB_FLUSH_LOCAL   6
#define MMUEXT_INVLPG_LOCAL      7      /* arg1.linear_addr */
#define MMUEXT_TLB_FLUSH_MULTI   8
#define MMUEXT_INVLPG_MULTI      9
#define MMUEXT_TLB_FLUSH_ALL    10
#define MMUEXT_INVLPG_ALL       11      /* arg1.linear_addr */
#define MMUEXT_FLUSH_CACHE      12
#define MMUEXT_SET_LDT          13
#define MMUEXT_NEW_USER_BASEPTR 15
#define MMUEXT_CLEAR_PAGE       16
#define MMUEXT_COPY_PAGE        17

/* update_va_mapping flags. */
#define UVMF_NONE            0U
#define UVMF_TLB_FLUSH       1U         /* flush the whole TLB */
#define UVMF_INVLPG          2U         /* flush this one address */
#define UVMF_FLUSHTYPE_MASK  3U
#define UVMF_LOCAL           0U         /* this vCPU only */
#define UVMF_ALL             4U         /* every vCPU of the domain */

/* Sv32 root slot reserved for the hypervisor (HYPERVISOR_VIRT_START 0xFFC00000). */
#define HYPERVISOR_VIRT_START 0xFFC00000U
#define HYPERVISOR_L2_SLOT    1023U

#ifndef __ASSEMBLER__

struct mmu_update {
    uint64_t ptr;               /* machine address of the PTE | MMU_* */
    uint64_t val;               /* new contents */
};
typedef struct mmu_update mmu_update_t;
PV_CHECK_OFFSET(struct mmu_update, val, 8);
PV_CHECK_SIZE(struct mmu_update, 16);

struct mmuext_op {
    unsigned int cmd;           /* MMUEXT_* */
    union {
        xen_pfn_t mfn;          /* PIN_*, UNPIN_TABLE, NEW_BASEPTR, CLEAR/COPY_PAGE */
        unsigned long linear_addr;  /* INVLPG_* */
    } arg1;
    union {
        unsigned int nr_ents;   /* SET_LDT */
        PV_GUEST_HANDLE(const void) vcpumask;  /* TLB_FLUSH_MULTI, INVLPG_MULTI */
        xen_pfn_t src_mfn;      /* COPY_PAGE */
    } arg2;
};
typedef struct mmuext_op mmuext_op_t;
PV_CHECK_OFFSET(struct mmuext_op, arg1, 4);
PV_CHECK_OFFSET(struct mmuext_op, arg2, 8);
PV_CHECK_SIZE(struct mmuext_op, 12);

/* val is the new 4-byte PTE (the 64-bit argument's high word is 0 on Sv32). */
static inline int HYPERVISOR_update_va_mapping(unsigned long va, uint64_t val,
                                               unsigned long flags)
{
    return (int)_hypercall4(__HYPERVISOR_update_va_mapping, va,
                            (unsigned long)(uint32_t)val,
                            (unsigned long)(uint32_t)(val >> 32), flags);
}

#endif /* !__ASSEMBLER__ */

#endif

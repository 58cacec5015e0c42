/*
 * Memory management for PV kernels on pvsim's direct-paging MMU (lib/mm.c).
 *
 * Pseudo-physical frames (pfns) are the domain's own numbering, 0 ..
 * start_info.nr_pages - 1; start_info.mfn_list maps each to its machine
 * frame (mfn), which is what page tables and grant entries hold.
 *
 * Kernel address space (every address space shares it):
 *   virt_base + pfn * 4 KiB   the bootstrap "physmap": pfns below
 *                             mm.mapped_pfns, mapped read-write by the
 *                             domain builder (page-table frames read-only)
 *   image .bss, page aligned  fixed windows whose L1 entries exist from the
 *                             start: the shared_info page, the grant-table
 *                             frames and MM_KMAP_SLOTS kmap slots
 *   0xFFC00000 and up         the hypervisor's
 * User space: [0, USER_TOP), one L1 table per 4 MiB slot, built on demand.
 *
 * Page-table frames follow Xen's rule: never writable anywhere. A new table
 * is filled while writable, its physmap entry (if any) is made read-only, and
 * only then is it pinned or hooked into a root; all later changes go through
 * mmu_update. Every function returning int gives 0 or a negative Xen errno.
 */
#ifndef PVSIM_MM_H
#define PVSIM_MM_H

#include <pvsim/xen_types.h>
#include <pvsim/riscv.h>
#include <pvsim/mmu.h>

#define MM_MAX_PAGES   65536U           /* pfns the allocator manages (256 MiB) */
#define MM_KMAP_SLOTS  32U              /* temporary kernel mappings */
#define L1_ENTRIES     1024U
#define L1_SPAN        (4U << 20)       /* bytes one L1 table maps */

#define USER_SLOTS     4U               /* user L1 slots: USER_TOP = 16 MiB */
#define USER_TOP       (USER_SLOTS * L1_SPAN)

/* PTE flags. The physmap uses the builder's (RWX); page tables are mapped R. */
#define PTE_KERNEL_RW  (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define PTE_KERNEL_RO  (PTE_V | PTE_R | PTE_A)
#define PTE_USER_RX    (PTE_V | PTE_R | PTE_X | PTE_U | PTE_A)
#define PTE_USER_RW    (PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D)
#define PTE_TABLE      PTE_V            /* non-leaf: points to an L1 */

#define MFN_PTE(mfn, flags)  (((uint32_t)(mfn) << PTE_PPN_SHIFT) | (uint32_t)(flags))
#define PTE_MFN(pte)         ((uint32_t)(pte) >> PTE_PPN_SHIFT)
#define MFN_MADDR(mfn)       ((uint64_t)(mfn) << PAGE_SHIFT)

#define INVALID_PFN    ((xen_pfn_t)~0U)

/* The domain's layout, from start_info (mm_init). */
struct mm_layout {
    unsigned long virt_base;    /* pfn 0's virtual address */
    unsigned long nr_pages;     /* start_info.nr_pages */
    unsigned long mapped_pfns;  /* pfns [0, mapped_pfns) are in the physmap */
    unsigned long first_free_pfn;   /* first pfn after the bootstrap region */
    xen_pfn_t pt_pfn;           /* the bootstrap L2 (start_info.pt_base) */
    unsigned long nr_boot_l1;   /* bootstrap L1 tables, right after the L2 */
    const xen_pfn_t *mfn_list;  /* start_info.mfn_list */
};
extern struct mm_layout mm;

/* Reads the layout and builds the free-frame pool. Idempotent. */
void mm_init(void);

#ifdef PVSIM_NATIVE
static inline xen_pfn_t pfn_to_mfn(xen_pfn_t pfn) { return pfn; }
#else
static inline xen_pfn_t pfn_to_mfn(xen_pfn_t pfn) { return mm.mfn_list[pfn]; }
#endif

/* The physmap address of pfn, or NULL if it lies beyond the physmap. */
void *pfn_to_virt(xen_pfn_t pfn);
/* The pfn of a physmap address (kernel image included). */
xen_pfn_t virt_to_pfn(const void *va);
/* The machine frame behind a physmap or image address. */
static inline xen_pfn_t virt_to_mfn(const void *va) { return pfn_to_mfn(virt_to_pfn(va)); }

/* Free frames. page_alloc takes the lowest (physmap frames first, which
 * the kernel can address directly), page_alloc_high the highest (beyond
 * the physmap while there are any: reachable only through kmap or a user
 * mapping). Both panic when none is left. */
xen_pfn_t page_alloc(void);
xen_pfn_t page_alloc_high(void);
void page_free(xen_pfn_t pfn);
unsigned long pages_free(void);

/* A megapage's worth of frames: MEGA_FRAMES free pfns in a row whose
 * machine frames are contiguous and start on a 4 MiB boundary, all taken;
 * the first pfn, or INVALID_PFN if there is no such run. page_free each to
 * give them back. */
#define MEGA_FRAMES    L1_ENTRIES
xen_pfn_t page_alloc_mega(void);

/* update_va_mapping(va, pte, uvmf) on the current address space. */
int set_kernel_pte(unsigned long va, uint32_t pte, unsigned long uvmf);

/* Machine address of the L1 entry for a kernel address inside the bootstrap
 * L1 tables' coverage (the image and the physmap). */
uint64_t kernel_pte_maddr(unsigned long va);

/* kmap: maps machine frame mfn at a free slot (update_va_mapping with
 * UVMF_INVLPG) and returns its address; kunmap clears the entry. kmap_va
 * hands out an empty slot (e.g. for a grant mapping) without mapping it. */
void *kmap(xen_pfn_t mfn, uint32_t pte_flags);
void kunmap(void *va);
void *kmap_va(void);
void kmap_va_free(void *va);

/* Zeroes a frame, through the physmap or a temporary kmap. */
void clear_frame(xen_pfn_t pfn);

/* One mmuext_op; `arg` is the mfn or the linear address. */
int mmuext_one(unsigned int cmd, unsigned long arg);
/* One mmu_update request (MMU_NORMAL_PT_UPDATE). */
int mmu_update_one(uint64_t pte_maddr, uint32_t val);

/* A page-table frame must not stay writable: its physmap entry goes
 * read-only (protect) and back to read-write once the frame is no longer a
 * table (unprotect). No-ops for frames beyond the physmap. */
int pt_frame_protect(xen_pfn_t pfn);
int pt_frame_unprotect(xen_pfn_t pfn);

/*
 * Address spaces. The kernel's own (the bootstrap L2, pinned by the builder)
 * is as_kernel; as_create makes another root that shares every kernel slot.
 * User pages are added with as_map.
 */
struct addr_space {
    xen_pfn_t l2_pfn;
    xen_pfn_t l1_pfn[USER_SLOTS];   /* 0: no table for that slot yet */
    bool owned;                     /* false for as_kernel */
    uint32_t nr_user_pages;
};
extern struct addr_space as_kernel;
extern struct addr_space *as_current;

int as_create(struct addr_space *as);
/* Maps machine frame mfn at user address va (< USER_TOP) with `flags`. */
int as_map(struct addr_space *as, unsigned long va, xen_pfn_t mfn, uint32_t flags);
int as_unmap(struct addr_space *as, unsigned long va);
/* Maps a 4 MiB page (an Sv32 megapage: a leaf in the root) of machine
 * frames mfn .. mfn + 1023 (mfn 4 MiB-aligned) at user address va (4 MiB
 * aligned) of an owned address space whose slot has no L1 table. The PV
 * kernel asks with mmu_update on the root's entry, which Xen's PV MMU (and
 * pvsim's) refuses: PV guests get no superpages (-EINVAL). The mapping
 * goes with the root (as_destroy). */
int as_map_mega(struct addr_space *as, unsigned long va, xen_pfn_t mfn, uint32_t flags);
/* MMUEXT_NEW_BASEPTR to as's root (nothing if it is current). */
int as_switch(struct addr_space *as);
/* Removes the user tables (and, if owned, the root): unhook, unpin, make
 * the frames writable again, free them. An owned space must not be current;
 * for as_kernel only the user slots go (then a TLB flush). */
int as_destroy(struct addr_space *as);

/* Counters. */
struct mm_stats {
    uint32_t uvm_calls;         /* update_va_mapping */
    uint32_t mmu_update_calls;
    uint32_t mmuext_calls;
    uint32_t base_switches;     /* NEW_BASEPTR */
};
extern struct mm_stats mm_stats;

/* Name of the last MMU hypercall that failed, for diagnostics. */
extern const char *mm_last_error_op;

#endif

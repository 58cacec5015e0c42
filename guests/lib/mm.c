/* Frames, kernel mappings and address spaces on pvsim's PV MMU (see pvsim/mm.h). */
#include <pvsim/mm.h>
#include <pvsim/pv.h>
#include <pvsim/string.h>
#include <pvsim/console.h>

extern char __image_start[];

struct mm_layout mm;
struct mm_stats mm_stats;
struct addr_space as_kernel;
struct addr_space *as_current;
const char *mm_last_error_op;

static bool mm_ready;
static uint32_t free_map[MM_MAX_PAGES / 32];    /* bit set = free */
static unsigned long free_count;
static unsigned long alloc_hint;                /* no free pfn below this */

static uint8_t kmap_area[MM_KMAP_SLOTS][PAGE_SIZE] __pv_section(".noinit") __pv_aligned(PAGE_SIZE);
static uint32_t kmap_used;                      /* one bit per slot */

void mm_init(void)
{
    const struct start_info *si = pvsim_start_info;
    unsigned long limit, pfn;

    if (mm_ready)
        return;
    mm.virt_base = (unsigned long)__image_start;
    mm.nr_pages = si->nr_pages;
    mm.mfn_list = (const xen_pfn_t *)si->mfn_list;
    mm.pt_pfn = (si->pt_base - mm.virt_base) >> PAGE_SHIFT;
    mm.nr_boot_l1 = si->nr_pt_frames - 1;
    mm.mapped_pfns = mm.nr_boot_l1 * L1_ENTRIES;
    if (mm.mapped_pfns > mm.nr_pages)
        mm.mapped_pfns = mm.nr_pages;
    /* Bootstrap region: ... page tables, then one boot-stack page. */
    mm.first_free_pfn = mm.pt_pfn + si->nr_pt_frames + 1;

    limit = mm.nr_pages < MM_MAX_PAGES ? mm.nr_pages : MM_MAX_PAGES;
    for (pfn = mm.first_free_pfn; pfn < limit; pfn++)
        free_map[pfn / 32] |= 1U << (pfn % 32);
    free_count = limit > mm.first_free_pfn ? limit - mm.first_free_pfn : 0;
    alloc_hint = mm.first_free_pfn;

    as_kernel.l2_pfn = mm.pt_pfn;
    as_kernel.owned = false;
    as_current = &as_kernel;
    mm_ready = true;
}

void *pfn_to_virt(xen_pfn_t pfn)
{
    if (pfn >= mm.mapped_pfns)
        return NULL;
    return (void *)(mm.virt_base + ((unsigned long)pfn << PAGE_SHIFT));
}

xen_pfn_t virt_to_pfn(const void *va)
{
    return ((unsigned long)va - mm.virt_base) >> PAGE_SHIFT;
}

xen_pfn_t page_alloc(void)
{
    unsigned long limit = mm.nr_pages < MM_MAX_PAGES ? mm.nr_pages : MM_MAX_PAGES;

    for (unsigned long w = alloc_hint / 32; w * 32 < limit; w++) {
        uint32_t bits = free_map[w];
        if (bits == 0)
            continue;
        unsigned int b = 0;
        while (!(bits & (1U << b)))
            b++;
        free_map[w] &= ~(1U << b);
        free_count--;
        alloc_hint = w * 32;
        return (xen_pfn_t)(w * 32 + b);
    }
    panic("page_alloc: out of memory (%lu pages, %lu free)", mm.nr_pages, free_count);
}

xen_pfn_t page_alloc_high(void)
{
    unsigned long limit = mm.nr_pages < MM_MAX_PAGES ? mm.nr_pages : MM_MAX_PAGES;

    for (unsigned long pfn = limit; pfn-- > mm.first_free_pfn;) {
        if (free_map[pfn / 32] & (1U << (pfn % 32))) {
            free_map[pfn / 32] &= ~(1U << (pfn % 32));
            free_count--;
            return (xen_pfn_t)pfn;
        }
    }
    panic("page_alloc_high: out of memory (%lu pages)", mm.nr_pages);
}

void page_free(xen_pfn_t pfn)
{
    if (pfn < mm.first_free_pfn || pfn >= MM_MAX_PAGES || pfn >= mm.nr_pages ||
        (free_map[pfn / 32] & (1U << (pfn % 32))))
        panic("page_free: bad pfn 0x%lx", (unsigned long)pfn);
    free_map[pfn / 32] |= 1U << (pfn % 32);
    free_count++;
    if (pfn < alloc_hint)
        alloc_hint = pfn & ~31U;
}

unsigned long pages_free(void)
{
    return free_count;
}

static bool pfn_is_free(unsigned long pfn)
{
    return (free_map[pfn / 32] & (1U << (pfn % 32))) != 0;
}

xen_pfn_t page_alloc_mega(void)
{
    unsigned long limit = mm.nr_pages < MM_MAX_PAGES ? mm.nr_pages : MM_MAX_PAGES;

    /* pfn -> mfn is the builder's choice: look for a run that is
     * contiguous and aligned in machine frames. */
    for (unsigned long pfn = mm.first_free_pfn; pfn + MEGA_FRAMES <= limit; pfn++) {
        xen_pfn_t mfn = pfn_to_mfn(pfn);
        unsigned long i;

        if (mfn % MEGA_FRAMES != 0)
            continue;
        for (i = 0; i < MEGA_FRAMES; i++)
            if (!pfn_is_free(pfn + i) || pfn_to_mfn(pfn + i) != mfn + i)
                break;
        if (i < MEGA_FRAMES)
            continue;
        for (i = 0; i < MEGA_FRAMES; i++)
            free_map[(pfn + i) / 32] &= ~(1U << ((pfn + i) % 32));
        free_count -= MEGA_FRAMES;
        return (xen_pfn_t)pfn;
    }
    return INVALID_PFN;
}

static int mm_fail(const char *op, int rc)
{
    if (rc < 0)
        mm_last_error_op = op;
    return rc;
}

int set_kernel_pte(unsigned long va, uint32_t pte, unsigned long uvmf)
{
    mm_stats.uvm_calls++;
    return mm_fail("update_va_mapping", HYPERVISOR_update_va_mapping(va, pte, uvmf));
}

uint64_t kernel_pte_maddr(unsigned long va)
{
    unsigned long i = (va - mm.virt_base) >> 22;

    if (va < mm.virt_base || i >= mm.nr_boot_l1)
        panic("kernel_pte_maddr: 0x%08lx is outside the bootstrap tables", va);
    return MFN_MADDR(pfn_to_mfn(mm.pt_pfn + 1 + i)) + ((va >> PAGE_SHIFT) % L1_ENTRIES) * 4;
}

void *kmap_va(void)
{
    for (unsigned int i = 0; i < MM_KMAP_SLOTS; i++) {
        if (!(kmap_used & (1U << i))) {
            kmap_used |= 1U << i;
            return kmap_area[i];
        }
    }
    panic("kmap: all %u slots in use", MM_KMAP_SLOTS);
}

void kmap_va_free(void *va)
{
    unsigned long i = ((uintptr_t)va - (uintptr_t)kmap_area) / PAGE_SIZE;

    if (i >= MM_KMAP_SLOTS || !(kmap_used & (1U << i)))
        panic("kmap: 0x%08lx is not a slot in use", (unsigned long)(uintptr_t)va);
    kmap_used &= ~(1U << i);
}

void *kmap(xen_pfn_t mfn, uint32_t pte_flags)
{
    void *va = kmap_va();
    int rc = set_kernel_pte((unsigned long)va, MFN_PTE(mfn, pte_flags), UVMF_INVLPG);

    if (rc < 0)
        panic("kmap: update_va_mapping(0x%08lx, mfn 0x%lx) = %d (%s)",
              (unsigned long)(uintptr_t)va, (unsigned long)mfn, rc, xen_errstr(rc));
    return va;
}

void kunmap(void *va)
{
    int rc = set_kernel_pte((unsigned long)va, 0, UVMF_INVLPG);

    if (rc < 0)
        panic("kunmap: update_va_mapping(0x%08lx, 0) = %d (%s)",
              (unsigned long)(uintptr_t)va, rc, xen_errstr(rc));
    kmap_va_free(va);
}

void clear_frame(xen_pfn_t pfn)
{
    void *va = pfn_to_virt(pfn);

    if (va != NULL) {
        memset(va, 0, PAGE_SIZE);
        return;
    }
    va = kmap(pfn_to_mfn(pfn), PTE_KERNEL_RW);
    memset(va, 0, PAGE_SIZE);
    kunmap(va);
}

int mmuext_one(unsigned int cmd, unsigned long arg)
{
    struct mmuext_op op = { .cmd = cmd };

    op.arg1.linear_addr = arg;          /* same word as arg1.mfn */
    mm_stats.mmuext_calls++;
    if (cmd == MMUEXT_NEW_BASEPTR)
        mm_stats.base_switches++;
    return mm_fail("mmuext_op", HYPERVISOR_mmuext_op(&op, 1, NULL, DOMID_SELF));
}

int mmu_update_one(uint64_t pte_maddr, uint32_t val)
{
    struct mmu_update req = { .ptr = pte_maddr | MMU_NORMAL_PT_UPDATE, .val = val };

    mm_stats.mmu_update_calls++;
    return mm_fail("mmu_update", HYPERVISOR_mmu_update(&req, 1, NULL, DOMID_SELF));
}

int pt_frame_protect(xen_pfn_t pfn)
{
    void *va = pfn_to_virt(pfn);

    if (va == NULL)
        return 0;
    return set_kernel_pte((unsigned long)va, MFN_PTE(pfn_to_mfn(pfn), PTE_KERNEL_RO), UVMF_INVLPG);
}

int pt_frame_unprotect(xen_pfn_t pfn)
{
    void *va = pfn_to_virt(pfn);

    if (va == NULL)
        return 0;
    return set_kernel_pte((unsigned long)va, MFN_PTE(pfn_to_mfn(pfn), PTE_KERNEL_RW), UVMF_INVLPG);
}

/* A fresh, zeroed, read-only frame for a page table, or INVALID_PFN. */
static xen_pfn_t pt_frame_new(int *rc)
{
    xen_pfn_t pfn = page_alloc();

    clear_frame(pfn);
    *rc = pt_frame_protect(pfn);
    if (*rc < 0) {
        page_free(pfn);
        return INVALID_PFN;
    }
    return pfn;
}

static void pt_frame_release(xen_pfn_t pfn)
{
    if (mmuext_one(MMUEXT_UNPIN_TABLE, pfn_to_mfn(pfn)) < 0 || pt_frame_unprotect(pfn) < 0) {
        /* Still a table somewhere: leak it rather than hand out a read-only frame. */
        printf("mm: page-table frame pfn 0x%lx not released (%s failed)\n",
               (unsigned long)pfn, mm_last_error_op);
        return;
    }
    page_free(pfn);
}

int as_create(struct addr_space *as)
{
    const uint32_t *boot_l2 = pfn_to_virt(mm.pt_pfn);
    unsigned long first_kernel_slot = mm.virt_base >> 22;
    uint32_t *l2;
    xen_pfn_t pfn;
    int rc;

    memset(as, 0, sizeof(*as));
    pfn = page_alloc();
    /* Fill while writable: every kernel slot of the bootstrap root (they
     * point to L1 tables that are already validated), none of the user's,
     * and not the hypervisor's. */
    l2 = pfn_to_virt(pfn);
    if (l2 == NULL)
        l2 = kmap(pfn_to_mfn(pfn), PTE_KERNEL_RW);
    memset(l2, 0, PAGE_SIZE);
    for (unsigned long i = first_kernel_slot; i < HYPERVISOR_L2_SLOT; i++)
        l2[i] = boot_l2[i];
    if (pfn_to_virt(pfn) == NULL)
        kunmap(l2);
    rc = pt_frame_protect(pfn);
    if (rc == 0)
        rc = mmuext_one(MMUEXT_PIN_L2_TABLE, pfn_to_mfn(pfn));
    if (rc < 0) {
        (void)pt_frame_unprotect(pfn);
        page_free(pfn);
        return rc;
    }
    as->l2_pfn = pfn;
    as->owned = true;
    return 0;
}

static int as_l1(struct addr_space *as, unsigned long slot, xen_pfn_t *out)
{
    xen_pfn_t pfn = as->l1_pfn[slot];
    int rc;

    if (pfn == 0) {
        pfn = pt_frame_new(&rc);
        if (pfn == INVALID_PFN)
            return rc;
        rc = mmuext_one(MMUEXT_PIN_L1_TABLE, pfn_to_mfn(pfn));
        if (rc == 0) {
            rc = mmu_update_one(MFN_MADDR(pfn_to_mfn(as->l2_pfn)) + slot * 4,
                                MFN_PTE(pfn_to_mfn(pfn), PTE_TABLE));
            if (rc < 0)
                (void)mmuext_one(MMUEXT_UNPIN_TABLE, pfn_to_mfn(pfn));
        }
        if (rc < 0) {
            (void)pt_frame_unprotect(pfn);
            page_free(pfn);
            return rc;
        }
        as->l1_pfn[slot] = pfn;
    }
    *out = pfn;
    return 0;
}

int as_map(struct addr_space *as, unsigned long va, xen_pfn_t mfn, uint32_t flags)
{
    xen_pfn_t l1 = 0;
    int rc;

    if (va >= USER_TOP || (va & (PAGE_SIZE - 1)))
        return -XEN_EINVAL;
    rc = as_l1(as, va / L1_SPAN, &l1);
    if (rc < 0)
        return rc;
    rc = mmu_update_one(MFN_MADDR(pfn_to_mfn(l1)) + ((va >> PAGE_SHIFT) % L1_ENTRIES) * 4,
                        MFN_PTE(mfn, flags));
    if (rc == 0)
        as->nr_user_pages++;
    return rc;
}

int as_unmap(struct addr_space *as, unsigned long va)
{
    xen_pfn_t l1;
    int rc;

    if (va >= USER_TOP || as->l1_pfn[va / L1_SPAN] == 0)
        return -XEN_EINVAL;
    l1 = as->l1_pfn[va / L1_SPAN];
    rc = mmu_update_one(MFN_MADDR(pfn_to_mfn(l1)) + ((va >> PAGE_SHIFT) % L1_ENTRIES) * 4, 0);
    if (rc == 0) {
        as->nr_user_pages--;
        if (as == as_current)
            rc = mmuext_one(MMUEXT_INVLPG_LOCAL, va);
    }
    return rc;
}

int as_map_mega(struct addr_space *as, unsigned long va, xen_pfn_t mfn, uint32_t flags)
{
    unsigned long slot = va / L1_SPAN;

    if (!as->owned || va >= USER_TOP || va % L1_SPAN != 0 || mfn % MEGA_FRAMES != 0 ||
        as->l1_pfn[slot] != 0) {
        mm_last_error_op = "as_map_mega";
        return -XEN_EINVAL;
    }
    /* A leaf in the root, asked for as Xen PV would see it. */
    return mmu_update_one(MFN_MADDR(pfn_to_mfn(as->l2_pfn)) + slot * 4, MFN_PTE(mfn, flags));
}

int as_switch(struct addr_space *as)
{
    int rc;

    if (as == as_current)
        return 0;
    rc = mmuext_one(MMUEXT_NEW_BASEPTR, pfn_to_mfn(as->l2_pfn));
    if (rc == 0)
        as_current = as;
    return rc;
}

int as_destroy(struct addr_space *as)
{
    int rc;

    if (as->owned && as == as_current)
        return -XEN_EBUSY;
    if (as->owned) {
        /* Unpinning the root drops its references to the user L1s; kernel
         * L1s stay pinned by the bootstrap root. */
        rc = mmuext_one(MMUEXT_UNPIN_TABLE, pfn_to_mfn(as->l2_pfn));
        if (rc < 0)
            return rc;
        rc = pt_frame_unprotect(as->l2_pfn);
        if (rc < 0)
            return rc;
        page_free(as->l2_pfn);
    }
    for (unsigned int slot = 0; slot < USER_SLOTS; slot++) {
        if (as->l1_pfn[slot] == 0)
            continue;
        if (!as->owned) {
            rc = mmu_update_one(MFN_MADDR(pfn_to_mfn(as->l2_pfn)) + slot * 4, 0);
            if (rc < 0)
                return rc;
        }
        pt_frame_release(as->l1_pfn[slot]);
        as->l1_pfn[slot] = 0;
    }
    if (!as->owned) {
        rc = mmuext_one(MMUEXT_TLB_FLUSH_LOCAL, 0);
        if (rc < 0)
            return rc;
    }
    as->nr_user_pages = 0;
    return 0;
}

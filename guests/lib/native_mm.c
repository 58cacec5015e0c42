/*
 * Frames, the kernel's map and address spaces of the native kernel, over its
 * own Sv32 tables (the pvsim/mm.h calls the shared code uses; see there).
 *
 *   0x00000000 .. USER_TOP     user space: L1 tables per 4 MiB slot, per
 *                              address space
 *   NATIVE_KMAP_BASE           MM_KMAP_SLOTS page windows in one L1 table
 *                              that every address space shares
 *   RAM from the image's 4 MiB 1:1 (virtual = physical), 4 MiB pages
 *                              (an L1 table for a partial last 4 MiB)
 *
 * Free frames: RAM above the image, less the device tree's pages. Page
 * tables are ordinary frames, written with stores; each change of a live
 * mapping is followed by sfence.vma (for the one page, or all after a
 * teardown via SBI RFENCE, as Linux's flush_tlb_all does).
 */
#include <pvsim/mm.h>
#include <pvsim/native.h>
#include <pvsim/sbi.h>
#include <pvsim/pv.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>

#define NATIVE_KMAP_BASE 0xC0000000UL
#define MEGAPAGE         (4UL << 20)
#define PTE_KERNEL_1TO1  (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)

extern char __image_start[], _end[];

struct mm_layout mm;
struct mm_stats mm_stats;
struct addr_space as_kernel;
struct addr_space *as_current;
const char *mm_last_error_op;

static xen_pfn_t ram_first_pfn, ram_end_pfn;    /* the allocator's range */
static uint32_t free_map[MM_MAX_PAGES / 32];    /* bit (pfn - ram_first_pfn) set = free */
static unsigned long free_count;
static uint32_t *kernel_l2, *kmap_l1;
static uint32_t kmap_used;

static inline void sfence_page(unsigned long va)
{
    __asm__ volatile("sfence.vma %0, zero" : : "r"(va) : "memory");
}

static inline void sfence_all(void)
{
    __asm__ volatile("sfence.vma" ::: "memory");
}

static bool is_free(xen_pfn_t pfn)
{
    unsigned long i = pfn - ram_first_pfn;
    return free_map[i / 32] & (1U << (i % 32));
}

static void set_free(xen_pfn_t pfn, bool free)
{
    unsigned long i = pfn - ram_first_pfn;

    if (free)
        free_map[i / 32] |= 1U << (i % 32);
    else
        free_map[i / 32] &= ~(1U << (i % 32));
}

void *pfn_to_virt(xen_pfn_t pfn)
{
    if (pfn < ram_first_pfn || pfn >= ram_end_pfn)
        return NULL;
    return (void *)((uintptr_t)pfn << PAGE_SHIFT);
}

xen_pfn_t virt_to_pfn(const void *va)
{
    return (xen_pfn_t)((uintptr_t)va >> PAGE_SHIFT);
}

xen_pfn_t page_alloc(void)
{
    for (xen_pfn_t pfn = ram_first_pfn; pfn < ram_end_pfn; pfn++) {
        if (is_free(pfn)) {
            set_free(pfn, false);
            free_count--;
            return pfn;
        }
    }
    panic("page_alloc: out of memory (%lu pages free)", free_count);
}

xen_pfn_t page_alloc_high(void)
{
    for (xen_pfn_t pfn = ram_end_pfn; pfn-- > ram_first_pfn;) {
        if (is_free(pfn)) {
            set_free(pfn, false);
            free_count--;
            return pfn;
        }
    }
    panic("page_alloc_high: out of memory");
}

void page_free(xen_pfn_t pfn)
{
    if (pfn < ram_first_pfn || pfn >= ram_end_pfn || is_free(pfn))
        panic("page_free: bad pfn 0x%lx", (unsigned long)pfn);
    set_free(pfn, true);
    free_count++;
}

unsigned long pages_free(void)
{
    return free_count;
}

xen_pfn_t page_alloc_mega(void)
{
    xen_pfn_t first = (ram_first_pfn + MEGA_FRAMES - 1) & ~(xen_pfn_t)(MEGA_FRAMES - 1);

    for (xen_pfn_t pfn = first; pfn + MEGA_FRAMES <= ram_end_pfn; pfn += MEGA_FRAMES) {
        unsigned long i;

        for (i = 0; i < MEGA_FRAMES && is_free(pfn + i); i++)
            ;
        if (i < MEGA_FRAMES)
            continue;
        for (i = 0; i < MEGA_FRAMES; i++)
            set_free(pfn + i, false);
        free_count -= MEGA_FRAMES;
        return pfn;
    }
    return INVALID_PFN;
}

void clear_frame(xen_pfn_t pfn)
{
    memset(pfn_to_virt(pfn), 0, PAGE_SIZE);
}

static uint32_t *new_table(xen_pfn_t *pfn)
{
    *pfn = page_alloc();
    clear_frame(*pfn);
    return pfn_to_virt(*pfn);
}

void native_mm_init(void)
{
    const struct board_info *b = &native_board;
    uint64_t ram_end = b->mem_base + b->mem_size;
    uintptr_t image = (uintptr_t)__image_start, image_end = (uintptr_t)_end;
    uintptr_t fdt = (uintptr_t)native_fdt;
    xen_pfn_t l2_pfn, l1_pfn;

    if (ram_end > 0x100000000ULL)
        ram_end = 0x100000000ULL;       /* Sv32 reaches 4 GiB of it 1:1 */
    if (b->mem_base > image || ram_end < image_end + 64 * PAGE_SIZE)
        panic("mm: RAM 0x%08llx+0x%llx does not hold the image (0x%08lx..0x%08lx) and room "
              "to work", (unsigned long long)b->mem_base, (unsigned long long)b->mem_size,
              (unsigned long)image, (unsigned long)image_end);
    ram_first_pfn = (xen_pfn_t)(image_end >> PAGE_SHIFT);
    ram_end_pfn = (xen_pfn_t)(ram_end >> PAGE_SHIFT);
    if (ram_end_pfn - ram_first_pfn > MM_MAX_PAGES)
        ram_end_pfn = ram_first_pfn + MM_MAX_PAGES;
    for (xen_pfn_t pfn = ram_first_pfn; pfn < ram_end_pfn; pfn++) {
        uintptr_t pa = (uintptr_t)pfn << PAGE_SHIFT;
        if (pa + PAGE_SIZE > fdt && pa < fdt + native_board.fdt_size)
            continue;                   /* the device tree stays readable */
        set_free(pfn, true);
        free_count++;
    }

    kernel_l2 = new_table(&l2_pfn);
    for (uintptr_t va = image & ~(MEGAPAGE - 1); va < ram_end && va != 0; va += MEGAPAGE) {
        if (va + MEGAPAGE <= ram_end) {
            kernel_l2[va >> 22] = MFN_PTE(va >> PAGE_SHIFT, PTE_KERNEL_1TO1);
            continue;
        }
        uint32_t *l1 = new_table(&l1_pfn);      /* a partial 4 MiB at the end */
        for (uintptr_t pa = va; pa < ram_end; pa += PAGE_SIZE)
            l1[(pa >> PAGE_SHIFT) % L1_ENTRIES] = MFN_PTE(pa >> PAGE_SHIFT, PTE_KERNEL_1TO1);
        kernel_l2[va >> 22] = MFN_PTE(l1_pfn, PTE_TABLE);
    }
    kmap_l1 = new_table(&l1_pfn);
    kernel_l2[NATIVE_KMAP_BASE >> 22] = MFN_PTE(l1_pfn, PTE_TABLE);

    mm.virt_base = 0;
    mm.nr_pages = ram_end_pfn;
    mm.mapped_pfns = ram_end_pfn;
    mm.first_free_pfn = ram_first_pfn;
    mm.pt_pfn = l2_pfn;
    as_kernel.l2_pfn = l2_pfn;
    as_kernel.owned = false;
    as_current = &as_kernel;
    csr_write(satp, SATP_MODE_SV32 | l2_pfn);
    sfence_all();
}

void mm_init(void)
{
    /* native_mm_init did it at boot. */
}

void *kmap_va(void)
{
    for (unsigned int i = 0; i < MM_KMAP_SLOTS; i++) {
        if (!(kmap_used & (1U << i))) {
            kmap_used |= 1U << i;
            return (void *)(NATIVE_KMAP_BASE + i * PAGE_SIZE);
        }
    }
    panic("kmap: all %u slots in use", MM_KMAP_SLOTS);
}

void kmap_va_free(void *va)
{
    unsigned long i = ((uintptr_t)va - NATIVE_KMAP_BASE) / PAGE_SIZE;

    if ((uintptr_t)va < NATIVE_KMAP_BASE || i >= MM_KMAP_SLOTS || !(kmap_used & (1U << i)))
        panic("kmap: 0x%08lx is not a slot in use", (unsigned long)(uintptr_t)va);
    kmap_used &= ~(1U << i);
}

volatile uint32_t *native_kmap_pte(void *va)
{
    unsigned long i = ((uintptr_t)va - NATIVE_KMAP_BASE) / PAGE_SIZE;

    if ((uintptr_t)va < NATIVE_KMAP_BASE || i >= MM_KMAP_SLOTS)
        panic("kmap: 0x%08lx is not a window", (unsigned long)(uintptr_t)va);
    return &kmap_l1[i];
}

static uint32_t *root_of(const struct addr_space *as)
{
    return pfn_to_virt(as->l2_pfn);
}

int as_create(struct addr_space *as)
{
    xen_pfn_t pfn;
    uint32_t *l2;

    memset(as, 0, sizeof(*as));
    l2 = new_table(&pfn);
    /* Every kernel slot, none of the user's. */
    for (unsigned long i = USER_SLOTS; i < L1_ENTRIES; i++)
        l2[i] = kernel_l2[i];
    as->l2_pfn = pfn;
    as->owned = true;
    return 0;
}

int as_map(struct addr_space *as, unsigned long va, xen_pfn_t pfn, uint32_t flags)
{
    unsigned long slot = va / L1_SPAN;
    uint32_t *l1;

    if (va >= USER_TOP || (va & (PAGE_SIZE - 1))) {
        mm_last_error_op = "as_map";
        return -XEN_EINVAL;
    }
    if (as->l1_pfn[slot] == 0) {
        xen_pfn_t l1_pfn;
        (void)new_table(&l1_pfn);
        as->l1_pfn[slot] = l1_pfn;
        root_of(as)[slot] = MFN_PTE(l1_pfn, PTE_TABLE);
    }
    l1 = pfn_to_virt(as->l1_pfn[slot]);
    l1[(va >> PAGE_SHIFT) % L1_ENTRIES] = MFN_PTE(pfn, flags);
    as->nr_user_pages++;
    if (as == as_current)
        sfence_page(va);        /* invalid -> valid: needed for portability */
    return 0;
}

int as_unmap(struct addr_space *as, unsigned long va)
{
    uint32_t *l1;

    if (va >= USER_TOP || as->l1_pfn[va / L1_SPAN] == 0) {
        mm_last_error_op = "as_unmap";
        return -XEN_EINVAL;
    }
    l1 = pfn_to_virt(as->l1_pfn[va / L1_SPAN]);
    l1[(va >> PAGE_SHIFT) % L1_ENTRIES] = 0;
    as->nr_user_pages--;
    if (as == as_current)
        sfence_page(va);
    return 0;
}

int as_map_mega(struct addr_space *as, unsigned long va, xen_pfn_t pfn, uint32_t flags)
{
    unsigned long slot = va / L1_SPAN;

    if (!as->owned || va >= USER_TOP || va % L1_SPAN != 0 || pfn % MEGA_FRAMES != 0 ||
        as->l1_pfn[slot] != 0) {
        mm_last_error_op = "as_map_mega";
        return -XEN_EINVAL;
    }
    root_of(as)[slot] = MFN_PTE(pfn, flags);
    if (as == as_current)
        sfence_page(va);
    return 0;
}

int as_switch(struct addr_space *as)
{
    if (as == as_current)
        return 0;
    csr_write(satp, SATP_MODE_SV32 | as->l2_pfn);
    sfence_all();               /* no ASIDs: nothing of the old space may stay */
    mm_stats.base_switches++;
    as_current = as;
    return 0;
}

int as_destroy(struct addr_space *as)
{
    struct sbiret r;

    if (as->owned && as == as_current) {
        mm_last_error_op = "as_destroy";
        return -XEN_EBUSY;
    }
    for (unsigned int slot = 0; slot < USER_SLOTS; slot++) {
        if (as->l1_pfn[slot] == 0)
            continue;
        root_of(as)[slot] = 0;
        page_free(as->l1_pfn[slot]);
        as->l1_pfn[slot] = 0;
    }
    if (as->owned) {
        page_free(as->l2_pfn);
        as->l2_pfn = 0;
    }
    as->nr_user_pages = 0;
    /* The kernel's own root lost its user tables while live. */
    r = sbi_remote_sfence_vma(1, native_hartid, 0, 0);
    if (r.error != SBI_SUCCESS) {
        mm_last_error_op = "sbi_remote_sfence_vma";
        return -XEN_EIO;
    }
    return 0;
}

int native_ioremap(uint64_t pa, uint64_t size)
{
    uint64_t end = pa + size;
    uint64_t ram_start = (uint64_t)ram_first_pfn << PAGE_SHIFT;

    /* Device registers live below RAM on a virt board; the image's 4 MiB
     * and everything above it are RAM, windows or the 1:1 map. */
    ram_start &= ~(uint64_t)(MEGAPAGE - 1);
    if (size == 0 || end < pa || end > ram_start || pa < USER_TOP) {
        mm_last_error_op = "native_ioremap";
        return -XEN_EINVAL;
    }
    for (uint64_t va = pa & ~(uint64_t)(MEGAPAGE - 1); va < end; va += MEGAPAGE) {
        uint32_t pte = MFN_PTE(va >> PAGE_SHIFT, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D);
        unsigned long slot = (unsigned long)(va >> 22);

        if (slot == NATIVE_KMAP_BASE >> 22 || (kernel_l2[slot] != 0 && kernel_l2[slot] != pte)) {
            mm_last_error_op = "native_ioremap";
            return -XEN_EINVAL;
        }
        kernel_l2[slot] = pte;
        sfence_page((unsigned long)va);
    }
    return 0;
}

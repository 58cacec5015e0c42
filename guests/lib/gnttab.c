/* Grant-table client, version 1 (see pvsim/gnttab.h). */
#include <pvsim/gnttab.h>
#include <pvsim/hypercall.h>
#include <pvsim/atomic.h>
#include <pvsim/mm.h>
#include <pvsim/pv.h>

#define NR_ENTRIES (GNTTAB_NR_FRAMES * GNTTAB_ENTRIES_PER_FRAME)

#ifdef PVSIM_NATIVE
#include <pvsim/pvhvm.h>
#else
static uint8_t gnttab_area[GNTTAB_NR_FRAMES][PAGE_SIZE] __pv_section(".noinit") __pv_aligned(PAGE_SIZE);
#endif
static volatile struct grant_entry_v1 *gnttab;
static uint32_t ref_used[NR_ENTRIES / 32];

#ifdef PVSIM_NATIVE
/* PVHVM: the frames placed one after another in the grant region (add_to_physmap). */
void gnttab_init(void)
{
    volatile void *first = NULL;

    if (gnttab != NULL)
        return;
    if (pvhvm_setup() < 0)
        panic("gnttab_init: no Xen platform");
    for (unsigned int i = 0; i < GNTTAB_NR_FRAMES; i++) {
        volatile void *f = pvhvm_grant_frame(i);
        if (f == NULL)
            panic("gnttab_init: XENMEM_add_to_physmap(grant frame %u) failed", i);
        if (i == 0)
            first = f;
    }
    for (unsigned int r = 0; r < GNTTAB_NR_RESERVED_ENTRIES; r++)
        ref_used[r / 32] |= 1U << (r % 32);
    gnttab = (volatile struct grant_entry_v1 *)first;
}
#else
void gnttab_init(void)
{
    xen_pfn_t frames[GNTTAB_NR_FRAMES];
    struct gnttab_setup_table op = {
        .dom = DOMID_SELF,
        .nr_frames = GNTTAB_NR_FRAMES,
        .frame_list = frames,
    };
    int rc;

    if (gnttab != NULL)
        return;
    mm_init();
    rc = HYPERVISOR_grant_table_op(GNTTABOP_setup_table, &op, 1);
    if (rc < 0 || op.status != GNTST_okay)
        panic("gnttab_init: GNTTABOP_setup_table(%u frames) = %d (%s), status %d (%s)",
              GNTTAB_NR_FRAMES, rc, xen_errstr(rc),
              op.status, gntst_name(op.status));
    for (unsigned int i = 0; i < GNTTAB_NR_FRAMES; i++) {
        rc = set_kernel_pte((unsigned long)gnttab_area[i], MFN_PTE(frames[i], PTE_KERNEL_RW & ~PTE_X),
                            UVMF_INVLPG);
        if (rc < 0)
            panic("gnttab_init: update_va_mapping(grant frame %u, mfn 0x%lx) = %d (%s)", i,
                  (unsigned long)frames[i], rc, xen_errstr(rc));
    }
    for (unsigned int r = 0; r < GNTTAB_NR_RESERVED_ENTRIES; r++)
        ref_used[r / 32] |= 1U << (r % 32);
    gnttab = (volatile struct grant_entry_v1 *)gnttab_area;
}
#endif

int gnttab_grant_access_ref(grant_ref_t ref, domid_t domid, xen_pfn_t mfn, bool readonly)
{
    if (ref >= NR_ENTRIES)
        return -XEN_EINVAL;
    gnttab[ref].frame = mfn;
    gnttab[ref].domid = domid;
    wmb();                      /* frame and domid before the entry becomes valid */
    gnttab[ref].flags = (uint16_t)(GTF_permit_access | (readonly ? GTF_readonly : 0));
    return (int)ref;
}

int gnttab_grant_access(domid_t domid, xen_pfn_t mfn, bool readonly)
{
    for (grant_ref_t ref = GNTTAB_NR_RESERVED_ENTRIES; ref < NR_ENTRIES; ref++) {
        if (ref_used[ref / 32] & (1U << (ref % 32)))
            continue;
        ref_used[ref / 32] |= 1U << (ref % 32);
        return gnttab_grant_access_ref(ref, domid, mfn, readonly);
    }
    return -XEN_ENOSPC;
}

int gnttab_end_access(grant_ref_t ref)
{
    /* flags and domid share the entry's first word (flags in the low half). */
    volatile uint32_t *word = (volatile uint32_t *)&gnttab[ref];
    uint32_t old, seen;

    if (ref >= NR_ENTRIES)
        return -XEN_EINVAL;
    old = *word;
    for (;;) {
        if (old & (GTF_reading | GTF_writing))
            return -XEN_EBUSY;
        seen = cmpxchg32(word, old, old & 0xFFFF0000U);
        if (seen == old)
            return 0;
        old = seen;
    }
}

int gnttab_free_access(grant_ref_t ref)
{
    int rc = gnttab_end_access(ref);

    if (rc == 0 && ref >= GNTTAB_NR_RESERVED_ENTRIES)
        ref_used[ref / 32] &= ~(1U << (ref % 32));
    return rc;
}

int gnttab_map(domid_t dom, grant_ref_t ref, void *va, bool readonly, grant_handle_t *handle,
               int *status)
{
    struct gnttab_map_grant_ref op = {
        .host_addr = (uintptr_t)va,
        .flags = GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0),
        .ref = ref,
        .dom = dom,
    };
    int rc;

    op.status = GNTST_general_error;
    rc = HYPERVISOR_grant_table_op(GNTTABOP_map_grant_ref, &op, 1);
    *status = op.status;
    if (rc == 0 && op.status == GNTST_okay)
        *handle = op.handle;
    return rc;
}

int gnttab_unmap(void *va, grant_handle_t handle, int *status)
{
    struct gnttab_unmap_grant_ref op = { .host_addr = (uintptr_t)va, .handle = handle };
    int rc;

    op.status = GNTST_general_error;
    rc = HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref, &op, 1);
    *status = op.status;
    return rc;
}

int gnttab_copy(struct gnttab_copy *ops, unsigned int n)
{
    return HYPERVISOR_grant_table_op(GNTTABOP_copy, ops, n);
}

const char *gntst_name(int status)
{
    static const char *const names[] = {
        "okay", "general_error", "bad_domain", "bad_gntref", "bad_handle",
        "bad_virt_addr", "bad_dev_addr", "no_device_space", "permission_denied",
        "bad_page", "bad_copy_arg", "address_too_big", "eagain", "no_space",
    };
    if (status <= 0 && -status < (int)PV_ARRAY_SIZE(names))
        return names[-status];
    return "?";
}

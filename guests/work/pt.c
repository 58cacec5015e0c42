/*
 * work=pt n=N [batch=B] [frames=F]: page-table churn on the kernel's own L1
 * tables.
 *   phase 1: N times update_va_mapping a frame at a kmap slot, touch it
 *            (check its signature, write and read back a word), unmap
 *            (UVMF_INVLPG).
 *   phase 2: N times one mmu_update batch mapping B frames at B slots, touch
 *            each, one batch unmapping them, then MMUEXT_TLB_FLUSH_LOCAL.
 * The F frames (default 16) rotate, so a stale translation would show up as
 * a wrong signature. A slot is never touched while unmapped, so mapping
 * needs no flush; unmapping does, before the slot maps another frame.
 */
#include <pvsim/mm.h>
#include "work.h"

#define MAX_BATCH  32U
#define MAX_FRAMES 64U
#define SIGNATURE(k) (0x50540000U | (k))

static void pt_check(int rc, const char *what, unsigned long i)
{
    if (rc < 0)
        work_fail("%s (iteration %lu) = %d (%s)", what, i, rc, xen_errstr(rc));
}

static uint32_t touch(volatile uint32_t *p, unsigned int k, unsigned long i, bool first)
{
    unsigned int w = 1 + (unsigned int)(i % 1000);

    if (first)
        p[0] = SIGNATURE(k);
    else if (p[0] != SIGNATURE(k))
        work_fail("frame %u mapped at 0x%08lx reads 0x%08lx, expected 0x%08lx (stale mapping?)",
                  k, (unsigned long)(uintptr_t)p, (unsigned long)p[0],
                  (unsigned long)SIGNATURE(k));
    p[w] = (uint32_t)i ^ 0xA5A5A5A5U;
    if (p[w] != ((uint32_t)i ^ 0xA5A5A5A5U))
        work_fail("frame %u: write did not read back", k);
    return p[0] + p[w];
}

void work_pt(void)
{
    unsigned long n = param("n", 10000);
    unsigned int batch = (unsigned int)param("batch", 8);
    unsigned int nframes = (unsigned int)param("frames", 16);
    xen_pfn_t mfn[MAX_FRAMES], pfn[MAX_FRAMES];
    bool seen[MAX_FRAMES] = { false };
    void *slot[MAX_BATCH];
    struct mmu_update req[MAX_BATCH];
    struct measure m1, m2;
    uint32_t sum = 0;
    unsigned int done;
    int rc;

    if (batch == 0 || batch > MAX_BATCH)
        work_fail("batch=%u: 1..%u", batch, MAX_BATCH);
    if (nframes == 0 || nframes > MAX_FRAMES)
        work_fail("frames=%u: 1..%u", nframes, MAX_FRAMES);
    mm_init();
    for (unsigned int k = 0; k < nframes; k++) {
        pfn[k] = page_alloc_high();     /* beyond the physmap if there is such memory */
        mfn[k] = pfn_to_mfn(pfn[k]);
    }
    for (unsigned int j = 0; j < batch; j++)
        slot[j] = kmap_va();

    /* Phase 1: update_va_mapping. */
    measure_start(&m1);
    for (unsigned long i = 0; i < n; i++) {
        unsigned int k = (unsigned int)(i % nframes);
        rc = HYPERVISOR_update_va_mapping((unsigned long)slot[0],
                                          MFN_PTE(mfn[k], PTE_KERNEL_RW & ~PTE_X), UVMF_NONE);
        pt_check(rc, "update_va_mapping(map)", i);
        sum += touch(slot[0], k, i, !seen[k]);
        seen[k] = true;
        rc = HYPERVISOR_update_va_mapping((unsigned long)slot[0], 0, UVMF_INVLPG);
        pt_check(rc, "update_va_mapping(unmap)", i);
    }
    measure_stop(&m1);

    /* Phase 2: mmu_update batches. */
    measure_start(&m2);
    for (unsigned long i = 0; i < n; i++) {
        for (unsigned int j = 0; j < batch; j++) {
            unsigned int k = (unsigned int)((i * batch + j) % nframes);
            req[j].ptr = kernel_pte_maddr((unsigned long)slot[j]) | MMU_NORMAL_PT_UPDATE;
            req[j].val = MFN_PTE(mfn[k], PTE_KERNEL_RW & ~PTE_X);
        }
        done = 0;
        rc = HYPERVISOR_mmu_update(req, batch, &done, DOMID_SELF);
        pt_check(rc, "mmu_update(map batch)", i);
        if (done != batch)
            work_fail("mmu_update(map batch): %u of %u done", done, batch);
        for (unsigned int j = 0; j < batch; j++) {
            unsigned int k = (unsigned int)((i * batch + j) % nframes);
            sum += touch(slot[j], k, i, !seen[k]);
            seen[k] = true;
            req[j].val = 0;
        }
        rc = HYPERVISOR_mmu_update(req, batch, &done, DOMID_SELF);
        pt_check(rc, "mmu_update(unmap batch)", i);
        rc = mmuext_one(MMUEXT_TLB_FLUSH_LOCAL, 0);
        pt_check(rc, "mmuext_op(TLB_FLUSH_LOCAL)", i);
    }
    measure_stop(&m2);

    for (unsigned int j = 0; j < batch; j++)
        kmap_va_free(slot[j]);
    for (unsigned int k = 0; k < nframes; k++)
        page_free(pfn[k]);
    printf("work=pt n=%lu batch=%u frames=%u uvm_cycles=%lu mmu_batches=%lu "
           "instructions=%llu ns=%llu uvm_ns=%llu ns_per_uvm_cycle=%llu batch_ns=%llu "
           "ns_per_batch_cycle=%llu result=0x%08lx\n",
           n, batch, nframes, n, 2 * n,
           (unsigned long long)(m1.instructions + m2.instructions),
           (unsigned long long)(m1.ns + m2.ns), (unsigned long long)m1.ns,
           (unsigned long long)per(m1.ns, n), (unsigned long long)m2.ns,
           (unsigned long long)per(m2.ns, n), (unsigned long)sum);
}

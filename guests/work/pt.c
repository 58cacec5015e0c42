/*
 * work=pt n=N [batch=B] [frames=F]: page-table churn on the kernel's own
 * tables, through work/platform.h (PV: the hypercalls named below; native:
 * the kernel's Sv32 tables and sfence.vma).
 *   phase 1: N times map a frame at a kmap slot (PV: update_va_mapping),
 *            touch it (check its signature, write and read back a word),
 *            unmap it and flush that page (UVMF_INVLPG).
 *   phase 2: N times one batch mapping B frames at B slots (PV: one
 *            mmu_update), touch each, one batch unmapping them, then flush
 *            the TLB (MMUEXT_TLB_FLUSH_LOCAL).
 * The F frames (default 16) rotate, so a stale translation would show up as
 * a wrong signature. result= is the sum of what the touches read, which
 * depends only on n, batch and frames.
 */
#include <pvsim/mm.h>
#include <pvsim/xen_errno.h>
#include "work.h"

#define MAX_BATCH  32U
#define MAX_FRAMES 64U
#define SIGNATURE(k) (0x50540000U | (k))

static void pt_check(int rc, enum plat_pt_op op, unsigned long i)
{
    if (rc < 0)
        work_fail("%s (iteration %lu) = %d (%s)", plat_pt_op_name(op), i, rc, xen_errstr(rc));
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
    xen_pfn_t pfn[MAX_FRAMES], bpfn[MAX_BATCH];
    bool seen[MAX_FRAMES] = { false };
    void *slot[MAX_BATCH];
    struct measure m1, m2;
    uint32_t sum = 0;

    if (batch == 0 || batch > MAX_BATCH)
        work_fail("batch=%u: 1..%u", batch, MAX_BATCH);
    if (nframes == 0 || nframes > MAX_FRAMES)
        work_fail("frames=%u: 1..%u", nframes, MAX_FRAMES);
    mm_init();
    for (unsigned int k = 0; k < nframes; k++)
        pfn[k] = page_alloc_high();     /* beyond the physmap if there is such memory */
    for (unsigned int j = 0; j < batch; j++)
        slot[j] = kmap_va();

    /* Phase 1: one page at a time. */
    measure_start(&m1);
    for (unsigned long i = 0; i < n; i++) {
        unsigned int k = (unsigned int)(i % nframes);
        pt_check(plat_map_one(slot[0], pfn[k]), PT_MAP_ONE, i);
        sum += touch(slot[0], k, i, !seen[k]);
        seen[k] = true;
        pt_check(plat_unmap_one(slot[0]), PT_UNMAP_ONE, i);
    }
    measure_stop(&m1);

    /* Phase 2: batches. */
    measure_start(&m2);
    for (unsigned long i = 0; i < n; i++) {
        for (unsigned int j = 0; j < batch; j++)
            bpfn[j] = pfn[(i * batch + j) % nframes];
        pt_check(plat_map_batch(slot, bpfn, batch), PT_MAP_BATCH, i);
        for (unsigned int j = 0; j < batch; j++) {
            unsigned int k = (unsigned int)((i * batch + j) % nframes);
            sum += touch(slot[j], k, i, !seen[k]);
            seen[k] = true;
        }
        pt_check(plat_unmap_batch(slot, batch), PT_UNMAP_BATCH, i);
        pt_check(plat_flush_tlb(), PT_FLUSH, i);
    }
    measure_stop(&m2);
    for (unsigned int j = 0; j < batch; j++)
        kmap_va_free(slot[j]);
    for (unsigned int k = 0; k < nframes; k++)
        page_free(pfn[k]);
    printf("work=pt n=%lu batch=%u frames=%u uvm_cycles=%lu mmu_batches=%lu "
           "instructions=%llu ns=%llu uvm_ns=%llu ns_per_uvm_cycle=%llu batch_ns=%llu "
           "ns_per_batch_cycle=%llu result=0x%08lx check=0x%08lx\n",
           n, batch, nframes, n, 2 * n,
           (unsigned long long)(m1.instructions + m2.instructions),
           (unsigned long long)(m1.ns + m2.ns), (unsigned long long)m1.ns,
           (unsigned long long)per(m1.ns, n), (unsigned long long)m2.ns,
           (unsigned long long)per(m2.ns, n), (unsigned long)sum, (unsigned long)sum);
}

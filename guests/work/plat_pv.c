/* work/platform.h for the PV kernel (work.elf): Xen hypercalls. */
#include <pvsim/pv.h>
#include <pvsim/mm.h>
#include <pvsim/time.h>
#include <pvsim/events.h>
#include <pvsim/sched.h>
#include <pvsim/xen_errno.h>
#include <pvsim/atomic.h>
#include "work.h"

#define MAX_BATCH 32U

void start_kernel(struct start_info *si)
{
    (void)si;
    work_main();
}

void plat_exit(bool ok)
{
    xen_shutdown(ok ? SHUTDOWN_poweroff : SHUTDOWN_crash);
}

int plat_map_one(void *va, xen_pfn_t pfn)
{
    return HYPERVISOR_update_va_mapping((unsigned long)va,
                                        MFN_PTE(pfn_to_mfn(pfn), PTE_KERNEL_RW & ~PTE_X),
                                        UVMF_NONE);
}

int plat_unmap_one(void *va)
{
    return HYPERVISOR_update_va_mapping((unsigned long)va, 0, UVMF_INVLPG);
}

/* One mmu_update of n requests (PTE values val[j], or 0 to unmap). */
static int batch(void *const va[], const xen_pfn_t *pfn, unsigned int n)
{
    struct mmu_update req[MAX_BATCH];
    unsigned int done = 0;
    int rc;

    if (n > MAX_BATCH)
        return -XEN_EINVAL;
    for (unsigned int j = 0; j < n; j++) {
        req[j].ptr = kernel_pte_maddr((unsigned long)va[j]) | MMU_NORMAL_PT_UPDATE;
        req[j].val = pfn != NULL ? MFN_PTE(pfn_to_mfn(pfn[j]), PTE_KERNEL_RW & ~PTE_X) : 0;
    }
    rc = HYPERVISOR_mmu_update(req, n, &done, DOMID_SELF);
    if (rc == 0 && done != n)
        work_fail("mmu_update: %u of %u done", done, n);
    return rc;
}

int plat_map_batch(void *const va[], const xen_pfn_t pfn[], unsigned int n)
{
    return batch(va, pfn, n);
}

int plat_unmap_batch(void *const va[], unsigned int n)
{
    return batch(va, NULL, n);
}

int plat_flush_tlb(void)
{
    return mmuext_one(MMUEXT_TLB_FLUSH_LOCAL, 0);
}

const char *plat_pt_op_name(enum plat_pt_op op)
{
    static const char *const names[] = {
        [PT_MAP_ONE] = "update_va_mapping(map)",
        [PT_UNMAP_ONE] = "update_va_mapping(unmap)",
        [PT_MAP_BATCH] = "mmu_update(map batch)",
        [PT_UNMAP_BATCH] = "mmu_update(unmap batch)",
        [PT_FLUSH] = "mmuext_op(TLB_FLUSH_LOCAL)",
    };
    return names[op];
}

bool plat_timer_setup(bool poll)
{
    const char *what = "update_va_mapping (shared_info)";
    int rc;

    if (poll)
        return true;
    rc = events_setup();
    if (rc == 0) {
        what = "EVTCHNOP_bind_virq (VIRQ_TIMER)";
        rc = timer_setup();
    }
    if (rc == -XEN_ENOSYS) {
        printf("timer: %s: ENOSYS; sleeping with SCHEDOP_poll instead\n", what);
        return true;
    }
    if (rc < 0)
        work_fail("%s = %d (%s)", what, rc, xen_errstr(rc));
    return false;
}

void plat_timer_stop(void)
{
    (void)timer_set_deadline(0);
}

const char *plat_irq_setup(void)
{
    int rc = events_setup();

    if (rc < 0)
        work_fail("update_va_mapping (shared_info) = %d (%s)", rc, xen_errstr(rc));
    return "evtchn_upcall_mask";
}

void plat_irq_disable(void)
{
    HYPERVISOR_shared_info->vcpu_info[0].evtchn_upcall_mask = 1;
    barrier();
}

void plat_irq_enable(void)
{
    volatile struct vcpu_info *vi = &HYPERVISOR_shared_info->vcpu_info[0];

    vi->evtchn_upcall_mask = 0;
    barrier();
    /* An event that came while masked: have it delivered now (any
     * hypercall returns through the upcall check; Linux uses xen_version). */
    if (vi->evtchn_upcall_pending)
        (void)HYPERVISOR_xen_version(0, NULL);
}

/* PVHVM: the Xen platform of an HVM board for the PV library (pvsim/pvhvm.h). */
#include <pvsim/pvhvm.h>
#include <pvsim/hypercall.h>
#include <pvsim/native.h>
#include <pvsim/start_info.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include <pvsim/mm.h>

struct pvhvm pvhvm;

/* The PV library reads shared_info, the store ring and port from start_info:
 * an HVM guest has none, so pvhvm_setup fills one from the params. */
static struct start_info hvm_start_info;
struct start_info *pvsim_start_info = &hvm_start_info;

static int add_to_physmap(unsigned int space, unsigned long idx, xen_pfn_t gpfn)
{
    struct xen_add_to_physmap x = { .domid = DOMID_SELF, .space = space, .idx = idx, .gpfn = gpfn };

    return (int)_hypercall2(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, PV_HC_PTR(&x));
}

static int get_param(uint32_t index, uint32_t *out)
{
    struct xen_hvm_param p = { .domid = DOMID_SELF, .index = index };
    int rc = (int)_hypercall2(__HYPERVISOR_hvm_op, HVMOP_get_param, PV_HC_PTR(&p));

    if (rc == 0)
        *out = (uint32_t)p.value;
    return rc;
}

int pvhvm_setup(void)
{
    const struct fdt_device *x = &native_board.xen;
    uint32_t v;
    int rc;

    if (pvhvm.present)
        return 0;
    if (!x->present || x->size < 2 * PAGE_SIZE || x->irq == 0)
        return -XEN_ENODEV;
    rc = native_ioremap(x->base, x->size);
    if (rc < 0)
        return rc;
    rc = add_to_physmap(XENMAPSPACE_shared_info, 0, (xen_pfn_t)(x->base >> PAGE_SHIFT));
    if (rc < 0)
        return rc;
    pvhvm.region_base = x->base;
    pvhvm.region_size = x->size;
    pvhvm.irq = x->irq;
    pvhvm.shared_info = (volatile void *)(uintptr_t)x->base;
    if ((rc = get_param(HVM_PARAM_STORE_PFN, &v)) < 0)
        return rc;
    pvhvm.store_pfn = v;
    if ((rc = get_param(HVM_PARAM_STORE_EVTCHN, &v)) < 0)
        return rc;
    pvhvm.store_evtchn = v;
    if ((rc = get_param(HVM_PARAM_CONSOLE_PFN, &v)) < 0)
        return rc;
    pvhvm.console_pfn = v;
    if ((rc = get_param(HVM_PARAM_CONSOLE_EVTCHN, &v)) < 0)
        return rc;
    pvhvm.console_evtchn = v;
    /* The rings' pages (Xen on ARM's magic pages, outside RAM). */
    if (pvhvm.store_pfn != 0 && (rc = native_ioremap((uint64_t)pvhvm.store_pfn << PAGE_SHIFT, PAGE_SIZE)) < 0)
        return rc;
    hvm_start_info.shared_info = (unsigned long)x->base;
    hvm_start_info.store_mfn = pvhvm.store_pfn;
    hvm_start_info.store_evtchn = pvhvm.store_evtchn;
    hvm_start_info.console.domU.mfn = pvhvm.console_pfn;
    hvm_start_info.console.domU.evtchn = pvhvm.console_evtchn;
    pvhvm.present = true;
    return 0;
}

volatile void *pvhvm_grant_frame(unsigned int idx)
{
    uint64_t pa = pvhvm.region_base + (uint64_t)(1 + idx) * PAGE_SIZE;

    if (!pvhvm.present || pa + PAGE_SIZE > pvhvm.region_base + pvhvm.region_size)
        return NULL;
    if (add_to_physmap(XENMAPSPACE_grant_table, idx, (xen_pfn_t)(pa >> PAGE_SHIFT)) < 0)
        return NULL;
    return (volatile void *)(uintptr_t)pa;
}

volatile void *pvhvm_page(xen_pfn_t pfn)
{
    return (volatile void *)(uintptr_t)((uint64_t)pfn << PAGE_SHIFT);
}

static void (*upcall_fn)(void);

static void upcall_irq(void *arg)
{
    (void)arg;
    upcall_fn();
}

int pvhvm_bind_upcall(void (*upcall)(void))
{
    upcall_fn = upcall;
    return native_irq_register(pvhvm.irq, upcall_irq, NULL);
}

/*
 * PV drivers on an HVM board (PVHVM, lib/pvhvm.c, native kernel only): Xen
 * found through the device tree's "xen,xen" node (Xen on ARM's /hypervisor:
 * reg = the grant region, interrupts = the event-channel upcall, a PLIC
 * source), shared_info and grant frames placed in that region with
 * XENMEM_add_to_physmap, the xenstore ring and port from HVM params. The PV
 * library (events, gnttab, xenbus, blkfront, netfront) then runs unchanged
 * over them; its hypercalls use the SBI extension of pvsim/hypercall.h.
 */
#ifndef PVSIM_PVHVM_H
#define PVSIM_PVHVM_H

#include <stdint.h>
#include <stdbool.h>
#include <pvsim/xen_types.h>

#define XENMEM_add_to_physmap        7
#define XENMAPSPACE_shared_info      0
#define XENMAPSPACE_grant_table      1
#define HVMOP_get_param              1
#define HVM_PARAM_STORE_PFN          1
#define HVM_PARAM_STORE_EVTCHN       2
#define HVM_PARAM_CONSOLE_PFN        17
#define HVM_PARAM_CONSOLE_EVTCHN     18

struct xen_add_to_physmap {
    domid_t domid;
    uint16_t size;
    uint32_t space;
    xen_ulong_t idx;
    xen_pfn_t gpfn;
};
struct xen_hvm_param {
    domid_t domid;
    uint32_t index;
    uint64_t value;
};

struct pvhvm {
    bool present;               /* a "xen,xen" node was found and set up */
    uint64_t region_base, region_size;
    uint32_t irq;               /* the event-channel upcall's PLIC source */
    volatile void *shared_info; /* placed at region_base */
    xen_pfn_t store_pfn, console_pfn;
    uint32_t store_evtchn, console_evtchn;
};
extern struct pvhvm pvhvm;

/* Finds Xen, places shared_info, reads the params and fills pvsim_start_info
 * for the library. Idempotent. -XEN_ENODEV when the tree names no Xen. */
int pvhvm_setup(void);
/* Places grant frame idx in the grant region; its address, or NULL. */
volatile void *pvhvm_grant_frame(unsigned int idx);
/* Runs `upcall` on each event-channel interrupt (PLIC claim/complete around it). */
int pvhvm_bind_upcall(void (*upcall)(void));
/* A ring page's address from its guest frame (the magic pages, mapped 1:1). */
volatile void *pvhvm_page(xen_pfn_t pfn);

#endif

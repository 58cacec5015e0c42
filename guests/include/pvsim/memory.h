/*
 * Memory reservations (memory.h): HYPERVISOR_memory_op(cmd, arg) with PV
 * semantics. increase_reservation writes the new frames' mfns to
 * extent_start; decrease_reservation takes mfns; populate_physmap takes pfns
 * and writes back mfns. The result is the number of extents done.
 */
#ifndef PVSIM_MEMORY_H
#define PVSIM_MEMORY_H

#include <pvsim/xen_types.h>

#define XENMEM_increase_reservation  0
#define XENMEM_decrease_reservation  1
#define XENMEM_maximum_ram_page      2
#define XENMEM_current_reservation   3   /* arg: domid_t *; result: pages */
#define XENMEM_maximum_reservation   4   /* arg: domid_t *; result: pages */
#define XENMEM_machphys_mfn_list     5
#define XENMEM_populate_physmap      6
#define XENMEM_add_to_physmap        7
#define XENMEM_memory_map            9
#define XENMEM_machine_memory_map   10
#define XENMEM_exchange             11
#define XENMEM_maximum_gpfn         14

struct xen_memory_reservation {
    PV_GUEST_HANDLE(xen_pfn_t) extent_start;
    xen_ulong_t nr_extents;
    unsigned int extent_order;  /* each extent is 2^order pages */
    unsigned int mem_flags;     /* XENMEMF_* */
    domid_t domid;              /* DOMID_SELF for an unprivileged domain */
};
typedef struct xen_memory_reservation xen_memory_reservation_t;
PV_CHECK_OFFSET(struct xen_memory_reservation, nr_extents, 4);
PV_CHECK_OFFSET(struct xen_memory_reservation, extent_order, 8);
PV_CHECK_OFFSET(struct xen_memory_reservation, mem_flags, 12);
PV_CHECK_OFFSET(struct xen_memory_reservation, domid, 16);
PV_CHECK_SIZE(struct xen_memory_reservation, 20);

#endif

/*
 * The PV console ring (Xen's io/console.h) for RV32 ilp32: the page named by
 * start_info.console.domU.mfn, shared with the console backend and signalled
 * through start_info.console.domU.evtchn. out[] carries the guest's output
 * to the backend, in[] the input (keyboard) back. Indices are free-running
 * 32-bit counters; byte x of a stream lives at MASK_XENCONS_IDX(x, ring).
 * Layout pinned below and, by `make abi-check`, against Xen's header.
 */
#ifndef PVSIM_XENCONS_H
#define PVSIM_XENCONS_H

#include <pvsim/xen_types.h>

typedef uint32_t XENCONS_RING_IDX;

/* The offset of free-running index idx in ring (in or out). */
#define MASK_XENCONS_IDX(idx, ring) ((idx) & (sizeof(ring) - 1))

struct xencons_interface {
    char in[1024];                      /* backend -> guest */
    char out[2048];                     /* guest -> backend */
    XENCONS_RING_IDX in_cons, in_prod;
    XENCONS_RING_IDX out_cons, out_prod;
};
PV_CHECK_OFFSET(struct xencons_interface, out, 1024);
PV_CHECK_OFFSET(struct xencons_interface, in_cons, 3072);
PV_CHECK_OFFSET(struct xencons_interface, in_prod, 3076);
PV_CHECK_OFFSET(struct xencons_interface, out_cons, 3080);
PV_CHECK_OFFSET(struct xencons_interface, out_prod, 3084);
PV_CHECK_SIZE(struct xencons_interface, 3088);

#define XENCONS_IN_SIZE   1024U
#define XENCONS_OUT_SIZE  2048U

#endif

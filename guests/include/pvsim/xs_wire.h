/*
 * XenStore's wire protocol (Xen's io/xs_wire.h) for RV32 ilp32: message
 * types, the 16-byte message header, payload limits, and the ring page a
 * domain shares with the store daemon (start_info.store_mfn). Layouts are
 * pinned below and, by `make abi-check`, against Xen's own header; the
 * daemon's side is protocol/xen/xs_wire.ts.
 *
 * A message in either direction is a struct xsd_sockmsg followed by `len`
 * payload bytes (at most XENSTORE_PAYLOAD_MAX), mostly NUL-terminated
 * strings. A reply carries its request's type and req_id, or XS_ERROR with
 * the error's name ("ENOENT\0"). XS_WATCH_EVENT messages arrive unsolicited
 * (req_id 0) with the payload "path\0token\0".
 */
#ifndef PVSIM_XS_WIRE_H
#define PVSIM_XS_WIRE_H

#include <pvsim/xen_types.h>

/* enum xsd_sockmsg_type */
#define XS_CONTROL               0
#define XS_DEBUG                 XS_CONTROL
#define XS_DIRECTORY             1
#define XS_READ                  2
#define XS_GET_PERMS             3
#define XS_WATCH                 4
#define XS_UNWATCH               5
#define XS_TRANSACTION_START     6
#define XS_TRANSACTION_END       7
#define XS_INTRODUCE             8
#define XS_RELEASE               9
#define XS_GET_DOMAIN_PATH      10
#define XS_WRITE                11
#define XS_MKDIR                12
#define XS_RM                   13
#define XS_SET_PERMS            14
#define XS_WATCH_EVENT          15
#define XS_ERROR                16
#define XS_IS_DOMAIN_INTRODUCED 17
#define XS_RESUME               18
#define XS_SET_TARGET           19
/* 20 was XS_RESTRICT, removed from Xen. */
#define XS_RESET_WATCHES        21
#define XS_DIRECTORY_PART       22
#define XS_TYPE_COUNT           23
#define XS_INVALID              0xFFFF

/* enum xs_watch_type: index of each string in a watch event's payload. */
#define XS_WATCH_PATH   0
#define XS_WATCH_TOKEN  1

/* The message header; all fields little endian. */
struct xsd_sockmsg {
    uint32_t type;              /* XS_* */
    uint32_t req_id;            /* chosen by the client, echoed in the reply */
    uint32_t tx_id;             /* transaction, 0 outside one */
    uint32_t len;               /* payload bytes that follow */
};
PV_CHECK_OFFSET(struct xsd_sockmsg, req_id, 4);
PV_CHECK_OFFSET(struct xsd_sockmsg, tx_id, 8);
PV_CHECK_OFFSET(struct xsd_sockmsg, len, 12);
PV_CHECK_SIZE(struct xsd_sockmsg, 16);

#define XENSTORE_PAYLOAD_MAX   4096     /* longer: the daemon drops the ring */
#define XENSTORE_ABS_PATH_MAX  3072     /* longer: EINVAL */
#define XENSTORE_REL_PATH_MAX  2048

/*
 * The ring page. req[] carries the guest's requests to the daemon, rsp[] the
 * replies and watch events back. Indices are free-running 32-bit counters:
 * byte x of a stream lives at [MASK_XENSTORE_IDX(x)], prod - cons (mod 2^32)
 * is what is queued and never exceeds XENSTORE_RING_SIZE. The producer of a
 * stream writes its data, then (after a write barrier) its prod index; the
 * consumer reads prod, then (after a read barrier) the data, then (after a
 * full barrier) publishes cons.
 */
#define XENSTORE_RING_SIZE       1024
typedef uint32_t XENSTORE_RING_IDX;
#define MASK_XENSTORE_IDX(idx)   ((idx) & (XENSTORE_RING_SIZE - 1))

struct xenstore_domain_interface {
    char req[XENSTORE_RING_SIZE];       /* guest -> daemon */
    char rsp[XENSTORE_RING_SIZE];       /* daemon -> guest */
    XENSTORE_RING_IDX req_cons, req_prod;
    XENSTORE_RING_IDX rsp_cons, rsp_prod;
    uint32_t server_features;           /* XENSTORE_SERVER_FEATURE_* (daemon-written) */
    uint32_t connection;                /* XENSTORE_CONNECTED / _RECONNECT */
    uint32_t error;                     /* XENSTORE_ERROR_* (daemon-written) */
};
PV_CHECK_OFFSET(struct xenstore_domain_interface, rsp, 1024);
PV_CHECK_OFFSET(struct xenstore_domain_interface, req_cons, 2048);
PV_CHECK_OFFSET(struct xenstore_domain_interface, req_prod, 2052);
PV_CHECK_OFFSET(struct xenstore_domain_interface, rsp_cons, 2056);
PV_CHECK_OFFSET(struct xenstore_domain_interface, rsp_prod, 2060);
PV_CHECK_OFFSET(struct xenstore_domain_interface, server_features, 2064);
PV_CHECK_OFFSET(struct xenstore_domain_interface, connection, 2068);
PV_CHECK_OFFSET(struct xenstore_domain_interface, error, 2072);
PV_CHECK_SIZE(struct xenstore_domain_interface, 2076);

/* server_features bits */
#define XENSTORE_SERVER_FEATURE_RECONNECTION  1   /* the guest may ask to reconnect */
#define XENSTORE_SERVER_FEATURE_ERROR         2   /* the daemon reports in `error` */

/* connection */
#define XENSTORE_CONNECTED   0          /* steady state */
#define XENSTORE_RECONNECT   1          /* the guest asked; the daemon answers CONNECTED */

/* error */
#define XENSTORE_ERROR_NONE     0
#define XENSTORE_ERROR_COMM     1       /* communication problem */
#define XENSTORE_ERROR_RINGIDX  2       /* inconsistent producer or consumer index */
#define XENSTORE_ERROR_PROTO    3       /* protocol violation (payload too long) */

/* XS_WRITE flags of old xenstored versions (unused by pvsim). */
#define XS_WRITE_NONE         "NONE"
#define XS_WRITE_CREATE       "CREATE"
#define XS_WRITE_CREATE_EXCL  "CREATE|EXCL"

#endif

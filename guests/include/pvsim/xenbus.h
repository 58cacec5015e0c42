/*
 * XenStore client for PV kernels (lib/xenbus.c), over the ring page named
 * by start_info.store_mfn and the event channel start_info.store_evtchn
 * (an unbound port the domain builder allocated for domain 0; the guest
 * only binds a handler to it and unmasks it). Wire format: pvsim/xs_wire.h.
 *
 * Requests are synchronous and one at a time: write the message into req[]
 * (waiting for room when the ring is full), notify, then block on the event
 * channel until the reply has arrived. Replies, and the watch events that
 * arrive unsolicited between them, are read from rsp[] by the port's event
 * handler (and by a waiting request itself); they are told apart by type:
 * XS_WATCH_EVENT goes to the watch's callback, anything else must answer the
 * request in flight (same req_id).
 *
 * No allocation: results go to caller buffers. Every int function returns
 * >= 0 on success or a negative Xen errno (pvsim/xen_errno.h): the daemon's
 * XS_ERROR names map to their errno ("ENOENT" -> -XEN_ENOENT), a result
 * larger than the caller's buffer is -XEN_ERANGE, a payload over
 * XENSTORE_PAYLOAD_MAX is -XEN_E2BIG (not sent), a broken ring (bad index or
 * header, or the daemon's `error` field set) is -XEN_EIO from then on.
 *
 * Paths without a leading '/' are relative to the domain's home,
 * /local/domain/<domid> (the daemon resolves them).
 *
 * Context: the xs_* calls may come from the kernel's main flow (upcalls
 * enabled: they sleep in SCHEDOP_block) or from an event handler (upcalls
 * masked: they sleep in SCHEDOP_poll on the store port). Watch callbacks
 * run with upcalls masked, from the event handler or from inside a waiting
 * xs_* call, and must not call xs_* themselves: any xs_* call made while a
 * request is in flight or from a callback returns -XEN_EDEADLK.
 */
#ifndef PVSIM_XENBUS_H
#define PVSIM_XENBUS_H

#include <pvsim/xen_types.h>
#include <pvsim/event_channel.h>

/* enum xenbus_state (io/xenbus.h): the state of each end of a split driver. */
#define XenbusStateUnknown       0
#define XenbusStateInitialising  1
#define XenbusStateInitWait      2
#define XenbusStateInitialised   3
#define XenbusStateConnected     4
#define XenbusStateClosing       5
#define XenbusStateClosed        6
#define XenbusStateReconfiguring 7
#define XenbusStateReconfigured  8

typedef uint32_t xs_transaction_t;
#define XBT_NIL ((xs_transaction_t)0)  /* not in a transaction */

#define XS_WATCHES        8     /* watches registered at a time */
#define XS_TOKEN_MAX      64    /* bytes of a token, NUL included */
#define XS_TRANSACTION_TRIES 100U   /* xs_transaction() gives up after this many EAGAINs */

/* Maps the ring page at a fixed kernel address (update_va_mapping),
 * installs the event handler on store_evtchn and unmasks it (calls
 * events_setup() first). -XEN_ENODEV if start_info.store_evtchn is 0 (no
 * xenstore); update_va_mapping's or EVTCHNOP_unmask's error otherwise.
 * Idempotent. Leaves the ring's indices alone (they need not start at 0). */
int xenbus_setup(void);
/* The same, panicking on failure. */
void xenbus_init(void);
bool xenbus_ready(void);
evtchn_port_t xenbus_evtchn(void);

/* The value at path, NUL-terminated in buf; returns its length (the value
 * itself may contain NULs). -XEN_ERANGE if it needs more than size - 1. */
int xs_read(xs_transaction_t tx, const char *path, char *buf, size_t size);
/* xs_read, parsed as a number (strtoul base 0); -XEN_EINVAL if it is not one. */
int xs_read_ulong(xs_transaction_t tx, const char *path, unsigned long *value);
/* Creates or replaces the value (and any missing parents). */
int xs_write(xs_transaction_t tx, const char *path, const char *value);
int xs_write_bytes(xs_transaction_t tx, const char *path, const void *value, size_t len);
/* Creates path (and parents) with an empty value, if missing. */
int xs_mkdir(xs_transaction_t tx, const char *path);
/* Removes path and everything below it. */
int xs_rm(xs_transaction_t tx, const char *path);
/* The names of path's children, each NUL-terminated, back to back in buf;
 * returns how many there are. -XEN_ERANGE if they need more than size. */
int xs_directory(xs_transaction_t tx, const char *path, char *buf, size_t size);

/* Watches: fn(path, token, data) runs for every change at or below `path`
 * (and once right after registration, as Xen fires every new watch), with
 * the changed path (relative if the watch was given relative). The token
 * (< XS_TOKEN_MAX bytes) names the watch and must be unique. */
typedef void (*xs_watch_fn)(const char *path, const char *token, void *data);
int xs_watch(const char *path, const char *token, xs_watch_fn fn, void *data);
int xs_unwatch(const char *path, const char *token);

/* Transactions: start one, pass its id to the calls above, end it (abort:
 * drop its changes). Ending with commit returns -XEN_EAGAIN if another
 * change got in the way: start again. */
int xs_transaction_start(xs_transaction_t *tx);
int xs_transaction_end(xs_transaction_t tx, bool abort);
/* Runs body(tx, arg) in a transaction and commits it, starting over while
 * the commit (or the body) returns -XEN_EAGAIN, at most
 * XS_TRANSACTION_TRIES times. Another error from the body aborts the
 * transaction and is returned. *tries (may be NULL) gets the attempts made. */
int xs_transaction(int (*body)(xs_transaction_t tx, void *arg), void *arg, unsigned int *tries);

/* XS_GET_DOMAIN_PATH: "/local/domain/<domid>" from the daemon. */
int xs_get_domain_path(domid_t domid, char *buf, size_t size);
/* This domain's id, read once from its `domid` node. */
int xs_domid(domid_t *domid);

/* The negative Xen errno for an XS_ERROR name ("ENOENT" -> -XEN_ENOENT);
 * -XEN_EINVAL for a name outside Xen's table. */
int xs_errno(const char *name);

struct xs_stats {
    uint32_t requests;          /* sent */
    uint32_t replies;           /* matched to their request */
    uint32_t watch_events;      /* dispatched to a callback */
    uint32_t unmatched;         /* events for no watch, replies for no request */
    uint32_t notifies;          /* EVTCHNOP_send to the daemon */
    uint32_t req_full_waits;    /* waits for room in req[] */
    uint32_t reply_waits;       /* sleeps while waiting for a reply */
};
extern struct xs_stats xs_stats;

#endif

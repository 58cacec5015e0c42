/*
 * The frontend half of a xenbus handshake (lib/xenbus_front.c), shared by
 * blkfront and netfront: what Linux's xenbus_probe_frontend and
 * xenbus_client give a PV driver. Each device keeps only its own keys,
 * features and rings.
 *
 * A frontend lives under device/<type>/<devid> (relative to the domain's
 * home); its `backend` node names the backend's directory and `backend-id`
 * the backend's domain. The handshake (io/xenbus.h):
 *
 *   xenbus_front_find()   the directory, `backend`, `backend-id`
 *   xenbus_front_watch()  a watch on <backend>/state, token "<name>-state";
 *                         it stays while connected: it is how a lost
 *                         backend is noticed
 *   xenbus_front_wait()   InitWait, read features, grant rings, write keys
 *                         (xenbus_front_write_keys, in a transaction or
 *                         not), switch state, wait for Connected ...
 *   xenbus_front_moved()  the watch fired since the state was last read:
 *   xenbus_front_look()   read it; anything but Connected means the backend
 *                         lost the device (a restarted dom0 says Closed)
 *   xenbus_front_reinit() Initialising, then the backend's InitWait (Closed
 *                         tolerated meanwhile): connect again as at first
 *   xenbus_front_close()  teardown: unwatch, state Closing
 *
 * Only xenstore traffic happens here: each call makes exactly the requests
 * it says, in that order. Messages are printed as "<name>: ...". Every int
 * function returns >= 0 or a negative Xen errno.
 */
#ifndef PVSIM_XENBUS_FRONT_H
#define PVSIM_XENBUS_FRONT_H

#include <pvsim/xen_types.h>
#include <pvsim/xenbus.h>

struct xenbus_front {
    /* Set by the device (a static initializer). */
    const char *name;           /* "blkfront": message prefix, watch token stem */
    const char *type;           /* "vbd": the frontend is device/<type>/<devid> */
    const char **step;          /* the device's "what was I doing" for failure messages */
    char *backend;              /* the device's buffer for the backend's directory */
    size_t backend_size;
    /* Filled by xenbus_front_find(). */
    unsigned int devid;
    domid_t backend_id;         /* `backend-id`; 0 when absent */
    char frontend[32];          /* device/<type>/<devid> */
    char list_step[40];         /* "xs_directory(device/<type>)", for *step */
    /* The watch on the backend's state. */
    bool watching;
    volatile unsigned int watch_events;     /* bumped by the watch callback */
    unsigned int watch_seen;    /* watch_events when the state was last read as wanted */
};

/* One key of the frontend's directory: a string, or (str NULL) a number (%lu). */
struct xenbus_front_key {
    const char *key;
    const char *str;
    unsigned long num;
};

/* Finds the frontend: devid < 0 takes the first entry of device/<type>
 * (-XEN_ENODEV if there is none), otherwise device/<type>/<devid>. Then
 * reads `backend` (its error as is) and `backend-id` (0 if unreadable). */
int xenbus_front_find(struct xenbus_front *xf, int devid);
/* A number from the frontend's / the backend's directory. */
int xenbus_front_read_ulong(struct xenbus_front *xf, const char *key, unsigned long *v);
int xenbus_front_read_backend_ulong(struct xenbus_front *xf, const char *key, unsigned long *v);

/* Registers the watch on <backend>/state (idempotent); unregisters it. */
int xenbus_front_watch(struct xenbus_front *xf);
void xenbus_front_unwatch(struct xenbus_front *xf);

/* The backend's state (-XEN_ENOENT, *st Unknown, if it has none). */
int xenbus_front_backend_state(struct xenbus_front *xf, unsigned long *st);
/* Waits (the watch; bound_ns of virtual time at most: -XEN_ETIMEDOUT) until
 * the backend's state is `want`. Closing/Closed is -XEN_EIO, with the
 * backend's `error` node printed, unless closed_ok. On success every watch
 * event up to the read that found `want` counts as seen. Binds the timer
 * VIRQ first (timer_setup). */
int xenbus_front_wait(struct xenbus_front *xf, unsigned long want, uint64_t bound_ns,
                      bool closed_ok);
/* The watch fired since the state was last looked at (a hint: upcalls may run). */
bool xenbus_front_moved(const struct xenbus_front *xf);
/* Marks every event so far as seen, then reads the backend's state
 * (xenbus_front_backend_state). */
int xenbus_front_look(struct xenbus_front *xf, unsigned long *st);

/* Writes keys of the frontend's directory in order, in transaction t
 * (XBT_NIL: each on its own); stops at the first error. */
int xenbus_front_write_keys(struct xenbus_front *xf, xs_transaction_t t,
                            const struct xenbus_front_key *keys, unsigned int n);
/* The same in one transaction (xs_transaction: retried on -XEN_EAGAIN). */
int xenbus_front_write_keys_tx(struct xenbus_front *xf, const struct xenbus_front_key *keys,
                               unsigned int n);
/* Switches the frontend's state (its `state` node). */
int xenbus_front_switch(struct xenbus_front *xf, unsigned long state);

/* After the backend lost the device: state Initialising, then the backend's
 * InitWait within bound_ns (Closed tolerated). The device then reads its
 * features and connects new rings as at first. */
int xenbus_front_reinit(struct xenbus_front *xf, uint64_t bound_ns);
/* Teardown: the watch removed, state Closing. */
int xenbus_front_close(struct xenbus_front *xf);

/* "Connected" for XenbusStateConnected, ... ("?" past Reconfigured). */
const char *xenbus_state_name(unsigned long st);

#endif

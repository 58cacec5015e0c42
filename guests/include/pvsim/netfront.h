/*
 * Network frontend for PV kernels (lib/netfront.c): Xen's netif protocol
 * (pvsim/netif.h) to the backend the toolstack set up under
 * device/vif/<devid>.
 *
 * netfront_init() finds the vif (the first entry of device/vif, or a given
 * devid), reads `mac` and `backend` from the frontend directory, waits for
 * the backend's InitWait (a xenstore watch), requires feature-rx-copy=1,
 * and then netfront_connect() sets up the rings: a tx and an rx ring page
 * (SHARED_RING_INIT), granted to the backend domain, one unbound event
 * channel for both, tx-ring-ref, rx-ring-ref, event-channel,
 * request-rx-copy=1, feature-rx-notify=1, feature-sg=1 and
 * feature-no-csum-offload=1 written in one xenstore transaction, then
 * state Connected; it waits for the backend's Connected and only then
 * fills the rx ring. Both waits are bounded (netfront_timeout_ns); a
 * backend that closes or never gets there is an error, with its `error`
 * node printed if it wrote one.
 *
 * Reconnection: the watch on the backend's state stays while connected.
 * When it has fired, netfront_wait()/netfront_poll() read the state; if
 * the backend left Connected (a restarted dom0 finds the device Connected
 * without a ring of its own and says Closed), netfront prints `netfront:
 * backend <path> lost the device (state <s>); reconnecting ...`, takes the
 * tx responses already published, closes the old port and ends the ring
 * grants, returns every tx slot still in flight to the pool (each such
 * packet counts as lost: tx_lost and tx_errors), takes its rx buffers off
 * the old ring (what they were to receive is lost), writes Initialising,
 * waits for InitWait (Closed tolerated meanwhile; 30 s of virtual time at
 * most), and connects new rings as above (`netfront: reconnected to
 * <path>: ...`). Buffer pages stay granted and are reused. A reconnect
 * that fails is printed and tried again at the backend's next state
 * change; meanwhile netfront_send() says -XEN_ENOTCONN. A backend
 * directory that disappears takes the device down for good.
 *
 * Receive: NETFRONT_RX_BUFS pages, granted writable to the backend, are
 * kept posted on the rx ring (it is full whenever nothing is being
 * handed up). A response's status is the byte count of that slot
 * (< 0: the packet is dropped and counted as an rx error); a packet with
 * NETRXF_more_data continues in the next slots and is reassembled; the
 * frame goes to the rx handler, then its pages are posted again.
 *
 * Transmit: NETFRONT_TX_BUFS pages, granted read-only, are the tx slots'
 * buffers; a frame is copied into them. netfront_send() takes a frame as
 * pieces (e.g. headers and payload): each piece starts a new slot (and a
 * piece longer than a page takes several), so a frame of several pieces is
 * a multi-slot packet: NETTXF_more_data on all slots but the last, the
 * first slot's size is the whole packet length, later slots their own
 * length. Without the backend's feature-sg the pieces are packed into one
 * slot (frames up to a page). Slots come back with tx responses; a status
 * other than NETIF_RSP_OKAY counts as a tx error.
 *
 * Requests are pushed with Xen's push-and-check-notify; responses are
 * consumed with the final check (rsp_event rearmed). The event handler only
 * counts: rings are served by netfront_poll() and netfront_wait() from the
 * kernel's main flow, so the rx handler may call netfront_send() (and
 * netfront_wait() without delivery: no reconnect happens while packets
 * are being handed up).
 *
 * netfront_connect() is the whole ring setup and may run again after
 * netfront_disconnect() (for a backend that goes away and comes back).
 * Every int function returns >= 0 or a negative Xen errno.
 */
#ifndef PVSIM_NETFRONT_H
#define PVSIM_NETFRONT_H

#include <pvsim/xen_types.h>
#include <pvsim/netif.h>

#define NETFRONT_RX_BUFS   NET_RX_RING_SIZE   /* posted receive pages: the ring kept full */
#define NETFRONT_TX_BUFS   64U                /* transmit pages: slots in flight */
#define NETFRONT_MAX_SLOTS XEN_NETIF_NR_SLOTS_MIN   /* slots one packet may take */
#define NETFRONT_MAX_PIECES 8U
#define NETFRONT_RX_MAX    16384U             /* largest reassembled frame */

struct netfront_piece {
    const void *data;
    size_t len;
};

struct netfront_info {
    unsigned int devid;         /* device/vif/<devid> */
    domid_t backend_id;
    char backend[64];           /* the backend's directory */
    uint8_t mac[6];             /* the frontend's `mac` */
    bool sg;                    /* the backend's feature-sg */
    evtchn_port_t port;         /* one channel for both rings */
    grant_ref_t tx_ring_ref, rx_ring_ref;
};
extern struct netfront_info netfront;
/* What netfront_init()/netfront_connect() were doing last (for a failure message). */
extern const char *netfront_step;
/* Bound on each wait for the backend's state (virtual ns; default 10 s). */
extern uint64_t netfront_timeout_ns;

struct netfront_stats {
    uint32_t tx_packets, tx_bytes, tx_slots;
    uint32_t tx_errors;         /* packets whose response was not NETIF_RSP_OKAY, or lost in a reconnect */
    uint32_t tx_busy;           /* netfront_send found no free slot (-XEN_EAGAIN) */
    uint32_t rx_packets, rx_bytes, rx_slots;
    uint32_t rx_errors;         /* packets dropped: a negative status, bad offset or id, too long */
    uint32_t events;            /* on the event channel */
    uint32_t notifies;          /* EVTCHNOP_send to the backend */
    uint32_t reconnects;        /* the backend lost the device (each loss once) */
    uint32_t tx_lost;           /* packets whose slots a reconnect took back without a response */
};
extern struct netfront_stats netfront_stats;

typedef void (*netfront_rx_fn)(const uint8_t *frame, size_t len, void *arg);

/* Finds the vif (devid < 0: the first one) and connects it (sets up
 * xenstore, events, the timer, grants and the allocator first).
 * -XEN_ENODEV if there is no xenstore or no such vif; -XEN_EOPNOTSUPP if the
 * backend lacks feature-rx-copy; -XEN_ETIMEDOUT if it never reaches
 * InitWait or Connected; -XEN_EIO if it closed. Idempotent once connected. */
int netfront_init(int devid);
/* The ring setup and handshake alone (the device is known). */
int netfront_connect(void);
/* Tears the rings down: frontend state Closing, grants ended, port closed
 * (buffers are kept for the next netfront_connect). */
void netfront_disconnect(void);
bool netfront_connected(void);

/* Where received frames go (called from netfront_poll/netfront_wait). */
void netfront_set_rx_handler(netfront_rx_fn fn, void *arg);

/* Queues one frame of n pieces (empty pieces are skipped). 0, or
 * -XEN_EAGAIN if not enough tx slots are free right now (try after
 * netfront_wait), -XEN_EINVAL for an empty frame or one over
 * XEN_NETIF_MAX_TX_SIZE or too many slots, -XEN_EMSGSIZE for a frame over
 * a page without feature-sg, -XEN_ENOTCONN when not connected. */
int netfront_send(const struct netfront_piece *pieces, unsigned int n);
/* Tx slots free at the moment. */
unsigned int netfront_tx_free(void);

/* Reclaims tx slots, hands every complete received packet to the rx
 * handler and reposts its pages. Returns the number of packets delivered. */
unsigned int netfront_poll(void);
/* Sleeps until the backend has produced responses or system time reaches
 * deadline_ns (UINT64_MAX: no deadline), then, with deliver, netfront_poll();
 * without, it only reclaims tx slots (and waits for tx responses only). */
unsigned int netfront_wait(uint64_t deadline_ns, bool deliver);

#endif

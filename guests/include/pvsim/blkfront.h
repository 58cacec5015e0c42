/*
 * Block-device frontend for PV kernels (lib/blkfront.c): Xen's blkif
 * protocol (pvsim/blkif.h) over one shared ring page, to the backend that
 * the toolstack set up under device/vbd/<devid>.
 *
 * blkfront_init() connects the first vbd: reads `backend`, waits (a
 * xenstore watch) for the backend's InitWait, reads `sectors`, grants the
 * ring page to the backend domain, allocates an unbound port for it, writes
 * ring-ref, event-channel and protocol=x86_64-abi, switches the frontend to
 * Initialised and waits for Connected. The vbd is the first entry of
 * device/vbd, or, if that directory cannot be listed (-XEN_EACCES), the
 * first of the xvda..xvdp device numbers (51712 + 16 * n) present.
 *
 * Requests: each data buffer must be 512-byte aligned and lie in the
 * physmap (or the image); every 4 KiB page it touches becomes one segment,
 * granted to the backend for the life of the request (writable for reads,
 * read-only for writes), so a request covers at most 11 pages. Up to
 * BLKIF_RING_SIZE requests may be outstanding; responses are collected by
 * the port's event handler. Every int function returns >= 0 or a negative
 * Xen errno; an I/O the backend refused completes with its BLKIF_RSP_*
 * status (< 0), reported by blk_wait() as -XEN_EIO (-XEN_EOPNOTSUPP for
 * BLKIF_RSP_EOPNOTSUPP).
 */
#ifndef PVSIM_BLKFRONT_H
#define PVSIM_BLKFRONT_H

#include <pvsim/xen_types.h>
#include <pvsim/blkif.h>

/* Pages one request may span: more than 11 need the backend's indirect segments. */
#define BLK_MAX_SEGMENTS 32U
#define BLK_MAX_BYTES (BLK_MAX_SEGMENTS * 4096U)  /* a page-aligned request */

struct blkfront_info {
    unsigned int devid;         /* the device/vbd/<devid> */
    domid_t backend_id;
    char backend[64];           /* backend directory */
    uint64_t sectors;           /* disk size in 512-byte sectors */
    unsigned long info;         /* VDISK_* */
    bool flush;                 /* feature-flush-cache */
    unsigned long max_indirect; /* feature-max-indirect-segments (0: none) */
    bool persistent;            /* feature-persistent, both ends agreeing */
    evtchn_port_t port;
    grant_ref_t ring_ref;
};
extern struct blkfront_info blkfront;
/* Whether to ask for persistent grants (default true); set before blkfront_init. */
extern bool blkfront_want_persistent;
/* What blkfront_init() was doing last (for a failure message). */
extern const char *blkfront_step;

struct blkfront_stats {
    uint32_t requests;          /* pushed onto the ring */
    uint32_t responses;
    uint32_t errors;            /* responses with status != OKAY */
    uint32_t notifies;          /* EVTCHNOP_send to the backend */
    uint32_t persistent_grants; /* pages granted once and kept (feature-persistent) */
    uint32_t reconnects;        /* backend lost the device and we connected again */
    uint32_t reissued;          /* requests pushed again on a new ring */
};
extern struct blkfront_stats blkfront_stats;

/* Connects the first vbd (sets up xenstore, events, grants and the
 * allocator first). -XEN_ENODEV if there is no xenstore or no vbd;
 * -XEN_EIO if the backend closed the device (its `error` node is printed).
 * Idempotent once connected. */
int blkfront_init(void);
bool blkfront_connected(void);

/* Asynchronous requests. blk_submit pushes the request and returns its
 * tag (0 .. BLKIF_RING_SIZE-1), or -XEN_EBUSY while BLKIF_RING_SIZE
 * requests are outstanding (not yet reaped by blk_wait), -XEN_EINVAL for a
 * bad op, alignment or size, -XEN_ENOSPC past the end of the disk. op is
 * BLKIF_OP_READ/WRITE (buf, nsect sectors) or BLKIF_OP_FLUSH_DISKCACHE
 * (buf NULL, nsect 0). */
int blk_submit(unsigned int op, uint64_t sector, void *buf, unsigned int nsect);
/* Waits for tag's response, ends its grants and frees the slot; 0 or the
 * error as above. */
int blk_wait(int tag);
/* Whether tag's response has arrived (blk_wait would not sleep). */
bool blk_done(int tag);
/* Requests submitted and not yet reaped with blk_wait. */
unsigned int blk_outstanding(void);

/* Synchronous: submit and wait. */
int blk_read(uint64_t sector, void *buf, unsigned int nsect);
int blk_write(uint64_t sector, const void *buf, unsigned int nsect);
int blk_flush(void);

#endif

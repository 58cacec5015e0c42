/*
 * Block-device frontend (see pvsim/blkfront.h): the xenbus handshake with
 * the backend, then blkif requests on one shared ring page. Ring rules as
 * io/ring.h: the request slot is filled before req_prod exposes it (wmb),
 * req_prod is published before req_event is read (mb) to decide whether the
 * backend needs an event; responses are read after the rsp_prod that
 * exposes them (rmb), and rsp_event is rearmed, then rsp_prod read again
 * (mb), so no response is left without an event.
 */
#include <pvsim/blkfront.h>
#include <pvsim/xenbus_front.h>
#include <pvsim/events.h>
#include <pvsim/gnttab.h>
#include <pvsim/mm.h>
#include <pvsim/atomic.h>
#include <pvsim/string.h>
#include <pvsim/format.h>
#include <pvsim/console.h>
#include <pvsim/pv.h>
#include <pvsim/xen_errno.h>
#include <pvsim/time.h>

struct blkfront_info blkfront;
const char *blkfront_step = "";
bool blkfront_want_persistent = true;
struct blkfront_stats blkfront_stats;

struct slot {
    bool in_use;                /* submitted, not yet reaped */
    volatile bool done;         /* its response has arrived */
    int16_t status;
    uint8_t nr_grefs;
    grant_ref_t gref[BLK_MAX_SEGMENTS + 1];   /* data pages, then the indirect page */
    struct blkif_request_segment *indirect;   /* this slot's indirect page, made on first use */
    /* feature-persistent: a granted page per segment, made on first use and kept */
    void *pbuf[BLK_MAX_SEGMENTS];
    grant_ref_t pgref[BLK_MAX_SEGMENTS];
    /* The request as pushed, to push again on a new ring after a reconnect (Linux's shadow). */
    union {
        struct blkif_request req;
        struct blkif_request_indirect ind;
    } shadow;
    void *buf;                  /* the caller's buffer, for copying a read back */
    unsigned long len;
    bool read;
};

static struct {
    bool connected;
    volatile struct blkif_sring *sring;
    RING_IDX req_prod_pvt;
    RING_IDX rsp_cons;
    unsigned int outstanding;
    uint16_t handle;            /* virtual-device */
    struct slot slot[BLKIF_RING_SIZE];
} bf;

/* The xenbus handshake; its watch_seen is kept across calls, so a state change
 * noticed while not waiting is not lost. */
static struct xenbus_front xb = {
    .name = "blkfront",
    .type = "vbd",
    .step = &blkfront_step,
    .backend = blkfront.backend,
    .backend_size = sizeof(blkfront.backend),
};

/* Virtual time allowed for a backend to reach the state we wait for. */
#define BLKFRONT_BACKEND_TIMEOUT_NS (30ULL * 1000 * 1000 * 1000)

static int blkfront_check_backend(void);

/* A backend state change not looked at yet (upcalls may run: only a hint). */
static bool backend_moved(void)
{
    return xenbus_front_moved(&xb);
}

/* ---- the ring --------------------------------------------------------- */

static void ring_broken(const char *why, unsigned long a, unsigned long b)
{
    panic("blkfront: %s (%lu, %lu)", why, a, b);
}

/* Takes every response the backend has published (upcalls masked). */
static void collect(void)
{
    volatile struct blkif_sring *s = bf.sring;

    for (;;) {
        RING_IDX prod = READ_ONCE(s->rsp_prod);
        rmb();                  /* the responses are read after the index exposing them */
        if ((RING_IDX)(prod - bf.rsp_cons) > (RING_IDX)(bf.req_prod_pvt - bf.rsp_cons))
            ring_broken("rsp_prod beyond the requests made", prod, bf.req_prod_pvt);
        while (bf.rsp_cons != prod) {
            volatile struct blkif_response *r = &s->ring[bf.rsp_cons % BLKIF_RING_SIZE].rsp;
            uint64_t id = r->id;
            int16_t status = r->status;
            struct slot *sl;

            if (id >= BLKIF_RING_SIZE || !bf.slot[id].in_use || bf.slot[id].done)
                ring_broken("response for no request", (unsigned long)id, bf.rsp_cons);
            sl = &bf.slot[id];
            sl->status = status;
            blkfront_stats.responses++;
            if (status != BLKIF_RSP_OKAY)
                blkfront_stats.errors++;
            bf.rsp_cons++;
            sl->done = true;
        }
        WRITE_ONCE(s->rsp_event, bf.rsp_cons + 1);
        mb();                   /* rsp_event is set before rsp_prod is checked again */
        if (READ_ONCE(s->rsp_prod) == bf.rsp_cons)
            break;
    }
}

static void blk_event(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    if (bf.sring != NULL)
        collect();
}

static void push(const struct blkif_request *req)
{
    volatile struct blkif_sring *s = bf.sring;
    RING_IDX old, new;

    memcpy((void *)&s->ring[bf.req_prod_pvt % BLKIF_RING_SIZE].req, req, sizeof(*req));
    bf.req_prod_pvt++;
    old = s->req_prod;
    new = bf.req_prod_pvt;
    wmb();                      /* the request is in place before req_prod exposes it */
    WRITE_ONCE(s->req_prod, new);
    mb();                       /* req_prod is published before req_event is read */
    blkfront_stats.requests++;
    if ((RING_IDX)(new - READ_ONCE(s->req_event)) < (RING_IDX)(new - old)) {
        blkfront_stats.notifies++;
        (void)evtchn_send(blkfront.port);
    }
}

static int persistent_page(struct slot *sl, unsigned int i)
{
    int ref;

    if (sl->pbuf[i] != NULL)
        return 0;
    sl->pbuf[i] = pfn_to_virt(page_alloc());
    if (sl->pbuf[i] == NULL)
        return -XEN_ENOMEM;
    ref = gnttab_grant_access(blkfront.backend_id, virt_to_mfn(sl->pbuf[i]), false);
    if (ref < 0) {
        sl->pbuf[i] = NULL;     /* the page stays allocated; a later request may retry */
        return ref;
    }
    sl->pgref[i] = (grant_ref_t)ref;
    blkfront_stats.persistent_grants++;
    return 0;
}

/* A completed persistent read: from the slot's pages into the caller's buffer. */
static void copy_back(struct slot *sl)
{
    uintptr_t a = (uintptr_t)sl->buf;
    unsigned long left = sl->len;

    for (unsigned int i = 0; left > 0; i++) {
        unsigned long off = a & (PAGE_SIZE - 1);
        unsigned long n = PAGE_SIZE - off < left ? PAGE_SIZE - off : left;
        memcpy((void *)a, (const uint8_t *)sl->pbuf[i] + off, n);
        a += n;
        left -= n;
    }
}

static void end_grants(struct slot *sl)
{
    for (unsigned int i = 0; i < sl->nr_grefs; i++) {
        unsigned int tries = 0;
        while (gnttab_free_access(sl->gref[i]) == -XEN_EBUSY) {
            if (++tries > 100000)
                ring_broken("backend holds a data grant", sl->gref[i], 0);
            (void)sched_yield();
        }
    }
    sl->nr_grefs = 0;
}

int blk_submit(unsigned int op, uint64_t sector, void *buf, unsigned int nsect)
{
    union {
        struct blkif_request req;
        struct blkif_request_indirect ind;
    } u;
    struct blkif_request_segment *seg;
    struct slot *sl = NULL;
    unsigned long flags;
    int tag;

    /* A backend that moved (lost the device?) while we were not waiting: look
     * now, so the request goes onto a live ring, made for the backend's
     * features. A change after this is caught by blk_wait, which pushes the
     * request again if the ring was replaced. */
    if (bf.connected && backend_moved()) {
        int rc = blkfront_check_backend();
        if (rc < 0)
            return rc;
    }
    if (!bf.connected)
        return -XEN_ENODEV;
    memset(&u, 0, sizeof(u));
    if (op == BLKIF_OP_READ || op == BLKIF_OP_WRITE) {
        uintptr_t a = (uintptr_t)buf;
        unsigned long left = (unsigned long)nsect * BLKIF_SECTOR_SIZE;
        unsigned long pages = ((a & (PAGE_SIZE - 1)) + left + PAGE_SIZE - 1) / PAGE_SIZE;
        bool indirect = pages > BLKIF_MAX_SEGMENTS_PER_REQUEST;
        unsigned int nseg = 0;

        if (nsect == 0 || (a & (BLKIF_SECTOR_SIZE - 1)) != 0)
            return -XEN_EINVAL;
        if (pages > BLK_MAX_SEGMENTS || (indirect && pages > blkfront.max_indirect))
            return -XEN_EINVAL;
        if (sector >= blkfront.sectors || nsect > blkfront.sectors - sector)
            return -XEN_ENOSPC;
        if (op == BLKIF_OP_WRITE && (blkfront.info & VDISK_READONLY))
            return -XEN_EROFS;
        for (tag = 0; tag < (int)BLKIF_RING_SIZE && bf.slot[tag].in_use; tag++)
            ;
        if (tag == (int)BLKIF_RING_SIZE)
            return -XEN_EBUSY;
        sl = &bf.slot[tag];
        if (indirect && sl->indirect == NULL) {
            sl->indirect = pfn_to_virt(page_alloc());
            if (sl->indirect == NULL)
                return -XEN_ENOMEM;
        }
        seg = indirect ? sl->indirect : u.req.seg;
        while (left > 0) {
            unsigned long off = a & (PAGE_SIZE - 1);
            unsigned long n = PAGE_SIZE - off < left ? PAGE_SIZE - off : left;
            grant_ref_t gref;

            if (blkfront.persistent) {
                /* The slot's own granted page for this segment, kept granted:
                 * data is copied through it, so the buffer itself is never shared. */
                int rc = persistent_page(sl, nseg);
                if (rc < 0) {
                    end_grants(sl);
                    return rc;
                }
                if (op == BLKIF_OP_WRITE)
                    memcpy((uint8_t *)sl->pbuf[nseg] + off, (const void *)a, n);
                gref = sl->pgref[nseg];
            } else {
                int ref = gnttab_grant_access(blkfront.backend_id, virt_to_mfn((const void *)a),
                                              op == BLKIF_OP_WRITE);
                if (ref < 0) {
                    end_grants(sl);
                    return ref;
                }
                gref = (grant_ref_t)ref;
                sl->gref[sl->nr_grefs++] = gref;
            }
            seg[nseg].gref = gref;
            seg[nseg].first_sect = (uint8_t)(off / BLKIF_SECTOR_SIZE);
            seg[nseg].last_sect = (uint8_t)((off + n) / BLKIF_SECTOR_SIZE - 1);
            nseg++;
            a += n;
            left -= n;
        }
        sl->buf = buf;
        sl->len = (unsigned long)nsect * BLKIF_SECTOR_SIZE;
        sl->read = op == BLKIF_OP_READ;
        if (indirect) {
            /* The segment list is complete before the backend may read it. */
            int ref = gnttab_grant_access(blkfront.backend_id, virt_to_mfn(sl->indirect), true);
            if (ref < 0) {
                end_grants(sl);
                return ref;
            }
            sl->gref[sl->nr_grefs++] = (grant_ref_t)ref;
            u.ind.indirect_op = (uint8_t)op;
            u.ind.nr_segments = (uint16_t)nseg;
            u.ind.indirect_grefs[0] = (grant_ref_t)ref;
            u.ind.handle = bf.handle;
            op = BLKIF_OP_INDIRECT;
        } else {
            u.req.nr_segments = (uint8_t)nseg;
            u.req.handle = bf.handle;
        }
    } else if (op == BLKIF_OP_FLUSH_DISKCACHE) {
        if (buf != NULL || nsect != 0)
            return -XEN_EINVAL;
        if (!blkfront.flush)
            return -XEN_EOPNOTSUPP;
        for (tag = 0; tag < (int)BLKIF_RING_SIZE && bf.slot[tag].in_use; tag++)
            ;
        if (tag == (int)BLKIF_RING_SIZE)
            return -XEN_EBUSY;
        sl = &bf.slot[tag];
        u.req.handle = bf.handle;
    } else {
        return -XEN_EINVAL;
    }
    /* operation, id and sector_number sit at the same offsets in both layouts */
    u.req.operation = (uint8_t)op;
    u.req.id = (uint64_t)tag;
    u.req.sector_number = sector;
    flags = local_irq_save();   /* the handler must not see a half-made slot */
    sl->in_use = true;
    sl->done = false;
    sl->status = 0;
    memcpy(&sl->shadow, &u, sizeof(sl->shadow));
    bf.outstanding++;
    push(&u.req);
    local_irq_restore(flags);
    return tag;
}

bool blk_done(int tag)
{
    return tag >= 0 && tag < (int)BLKIF_RING_SIZE && bf.slot[tag].in_use && bf.slot[tag].done;
}

int blk_wait(int tag)
{
    struct slot *sl;
    int16_t status;

    if (tag < 0 || tag >= (int)BLKIF_RING_SIZE || !bf.slot[tag].in_use)
        return -XEN_EINVAL;
    sl = &bf.slot[tag];
    for (;;) {
        int rc;

        /* xb.watch_seen, not a count taken here: a change that came before this
         * call (the backend went Closed while the guest was busy elsewhere) must
         * still be looked at, as no further event may come. Not connected: a
         * reconnect failed, and this request cannot complete. */
        WAIT_EVENT_UNTIL(sl->done || backend_moved() || !bf.connected);
        if (sl->done)
            break;
        /* The backend's state moved: if it lost the device (dom0 restarted), reconnect
         * and push what was in flight again. */
        rc = blkfront_check_backend();
        if (rc < 0 && !sl->done) {
            sl->status = BLKIF_RSP_ERROR;
            sl->done = true;
        }
    }
    status = sl->status;
    end_grants(sl);
    if (blkfront.persistent && sl->read && status == BLKIF_RSP_OKAY)
        copy_back(sl);
    sl->in_use = false;
    bf.outstanding--;
    if (status == BLKIF_RSP_OKAY)
        return 0;
    return status == BLKIF_RSP_EOPNOTSUPP ? -XEN_EOPNOTSUPP : -XEN_EIO;
}

unsigned int blk_outstanding(void)
{
    return bf.outstanding;
}

int blk_read(uint64_t sector, void *buf, unsigned int nsect)
{
    int tag = blk_submit(BLKIF_OP_READ, sector, buf, nsect);
    return tag < 0 ? tag : blk_wait(tag);
}

int blk_write(uint64_t sector, const void *buf, unsigned int nsect)
{
    int tag = blk_submit(BLKIF_OP_WRITE, sector, (void *)buf, nsect);
    return tag < 0 ? tag : blk_wait(tag);
}

int blk_flush(void)
{
    int tag = blk_submit(BLKIF_OP_FLUSH_DISKCACHE, 0, NULL, 0);
    return tag < 0 ? tag : blk_wait(tag);
}

/* ---- the xenbus handshake -------------------------------------------- */

bool blkfront_connected(void)
{
    return bf.connected;
}

/* Reads what the backend offers (at InitWait): size, flags and features. */
static int read_backend_features(void)
{
    unsigned long v;
    int rc;

    blkfront_step = "reading the backend's sectors";
    rc = xenbus_front_read_backend_ulong(&xb, "sectors", &v);
    if (rc < 0)
        return rc;
    blkfront.sectors = v;
    blkfront.info = xenbus_front_read_backend_ulong(&xb, "info", &v) < 0 ? 0 : v;
    blkfront.flush = xenbus_front_read_backend_ulong(&xb, "feature-flush-cache", &v) >= 0 && v != 0;
    blkfront.max_indirect =
        xenbus_front_read_backend_ulong(&xb, "feature-max-indirect-segments", &v) < 0 ? 0 : v;
    blkfront.persistent = blkfront_want_persistent &&
                          xenbus_front_read_backend_ulong(&xb, "feature-persistent", &v) >= 0 && v != 0;
    return 0;
}

/* A fresh ring (the same page, emptied), its grant and event channel, the
 * frontend's keys, Initialised, and the wait for the backend's Connected. */
static int connect_ring(void)
{
    int rc, ref;

    blkfront_step = "setting up the ring";
    if (bf.sring == NULL) {
        bf.sring = pfn_to_virt(page_alloc());
        if (bf.sring == NULL)
            return -XEN_ENOMEM;
    }
    memset((void *)bf.sring, 0, PAGE_SIZE);
    bf.sring->req_event = 1;    /* SHARED_RING_INIT */
    bf.sring->rsp_event = 1;
    bf.req_prod_pvt = 0;
    bf.rsp_cons = 0;
    ref = gnttab_grant_access(blkfront.backend_id, virt_to_mfn((const void *)bf.sring), false);
    if (ref < 0)
        return ref;
    blkfront.ring_ref = (grant_ref_t)ref;
    rc = evtchn_alloc_unbound(blkfront.backend_id, blk_event, NULL, &blkfront.port);
    if (rc < 0)
        return rc;

    blkfront_step = "writing ring-ref, event-channel, protocol, state";
    {
        /* Each on its own (no transaction), in this order, then Initialised. */
        const struct xenbus_front_key keys[] = {
            { "ring-ref", NULL, blkfront.ring_ref },
            { "event-channel", NULL, blkfront.port },
            { "protocol", "x86_64-abi", 0 },
            { "feature-persistent", NULL, blkfront.persistent },
        };
        if ((rc = xenbus_front_write_keys(&xb, XBT_NIL, keys, PV_ARRAY_SIZE(keys))) < 0 ||
            (rc = xenbus_front_switch(&xb, XenbusStateInitialised)) < 0)
            return rc;
    }
    blkfront_step = "waiting for the backend's Connected";
    rc = xenbus_front_wait(&xb, XenbusStateConnected, BLKFRONT_BACKEND_TIMEOUT_NS, false);
    if (rc < 0)
        return rc;
    bf.connected = true;
    blkfront_step = "writing state Connected";
    return xenbus_front_switch(&xb, XenbusStateConnected);
}

/*
 * The backend lost the device (its dom0 restarted: it says Closed, or anything
 * but Connected): let go of the old ring, go back to Initialising, connect a new
 * ring when the backend offers InitWait again, and push every request still in
 * flight onto it (Linux's blkfront_recover). Responses already on the old ring
 * are taken first; requests the old backend finished without publishing the
 * response are done again: reads and writes of the same data, and flushes, may
 * be repeated safely.
 */
static int recover(void)
{
    bool was_persistent = blkfront.persistent;
    unsigned long max_indirect = blkfront.max_indirect;
    unsigned int again = 0, failed = 0, tries = 0;
    unsigned long flags;
    int rc;

    bf.connected = false;
    blkfront_stats.reconnects++;
    printf("blkfront: backend %s lost the device; reconnecting with %u request(s) in flight\n",
           blkfront.backend, bf.outstanding);
    (void)evtchn_close(blkfront.port);
    /* The dead backend's mappings were undone by the hypervisor; the grant can go. */
    while (gnttab_free_access(blkfront.ring_ref) == -XEN_EBUSY) {
        if (++tries > 100000)
            ring_broken("backend still maps the old ring", blkfront.ring_ref, 0);
        (void)sched_yield();
    }
    /* Nothing writes the old ring now: take the responses it published (their
     * requests are done, not issued again) before connect_ring() empties it.
     * collect() keeps its check of rsp_prod; the backend is trusted. */
    flags = local_irq_save();
    collect();
    local_irq_restore(flags);
    rc = xenbus_front_reinit(&xb, BLKFRONT_BACKEND_TIMEOUT_NS);
    if (rc < 0)
        return rc;
    rc = read_backend_features();
    if (rc < 0)
        return rc;
    rc = connect_ring();
    if (rc < 0)
        return rc;
    for (unsigned int i = 0; i < BLKIF_RING_SIZE; i++) {
        struct slot *sl = &bf.slot[i];
        bool indirect = sl->shadow.req.operation == BLKIF_OP_INDIRECT;

        if (!sl->in_use || sl->done)
            continue;
        /* A request the new backend cannot take as made fails; none is dropped. */
        if (blkfront.persistent != was_persistent ||
            (indirect && sl->shadow.ind.nr_segments > blkfront.max_indirect) ||
            (indirect && max_indirect != blkfront.max_indirect && blkfront.max_indirect == 0)) {
            sl->status = BLKIF_RSP_ERROR;
            sl->done = true;
            failed++;
            continue;
        }
        push(&sl->shadow.req);
        again++;
    }
    blkfront_stats.reissued += again;
    printf("blkfront: reconnected to %s: %u request(s) issued again, %u failed\n",
           blkfront.backend, again, failed);
    return 0;
}

/* After a backend state change: nothing to do while it says Connected. */
static int blkfront_check_backend(void)
{
    unsigned long st;
    int rc;

    if (!bf.connected)
        return -XEN_ENODEV;
    /* Events up to this read are looked at (recover()'s waits move it on).
     * No state node at all counts as a lost device too. */
    rc = xenbus_front_look(&xb, &st);
    if (rc == -XEN_ENOENT)
        rc = 0;
    if (rc < 0 || st == XenbusStateConnected)
        return rc;
    rc = recover();
    if (rc < 0)
        printf("blkfront: reconnect failed at \"%s\": %d (%s)\n", blkfront_step, rc, xen_errstr(rc));
    return rc;
}

int blkfront_init(void)
{
    unsigned long v;
    int rc;

    if (bf.connected)
        return 0;
    rc = xenbus_setup();
    if (rc < 0)
        return rc;
    rc = xenbus_front_find(&xb, -1);
    if (rc < 0)
        return rc;
    blkfront.devid = xb.devid;
    blkfront.backend_id = xb.backend_id;
    rc = xenbus_front_read_ulong(&xb, "virtual-device", &v);
    bf.handle = rc < 0 ? (uint16_t)blkfront.devid : (uint16_t)v;

    /* The watch stays while connected: it is how a lost backend is noticed. */
    rc = xenbus_front_watch(&xb);
    if (rc < 0)
        return rc;
    blkfront_step = "waiting for the backend's InitWait";
    rc = xenbus_front_wait(&xb, XenbusStateInitWait, BLKFRONT_BACKEND_TIMEOUT_NS, false);
    if (rc >= 0)
        rc = read_backend_features();
    if (rc >= 0) {
        mm_init();
        gnttab_init();
        rc = connect_ring();
    }
    if (rc < 0)
        xenbus_front_unwatch(&xb);
    return rc < 0 ? rc : 0;
}

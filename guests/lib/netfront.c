/*
 * Network frontend (see pvsim/netfront.h): the xenbus handshake with the
 * backend, then netif requests on a tx and an rx ring page. Ring rules as
 * io/ring.h (pvsim/ring.h): request slots are filled before req_prod
 * exposes them, req_event decides whether the backend wants an event;
 * responses are read after the rsp_prod that exposes them (rmb), and
 * rsp_event is rearmed with a final check, so none is left without an
 * event. Buffer ids: rx id n is rx page n, tx id n is tx page n.
 *
 * While connected, a watch on the backend's state stays registered; the
 * main flow (netfront_wait/netfront_poll) looks at the state whenever it
 * fired, and if the backend left Connected (a restarted dom0 says Closed),
 * reconnect() sets up new rings (see pvsim/netfront.h).
 */
#include <pvsim/netfront.h>
#include <pvsim/net.h>
#include <pvsim/xenbus_front.h>
#include <pvsim/events.h>
#include <pvsim/gnttab.h>
#include <pvsim/mm.h>
#include <pvsim/time.h>
#include <pvsim/atomic.h>
#include <pvsim/string.h>
#include <pvsim/format.h>
#include <pvsim/console.h>
#include <pvsim/pv.h>
#include <pvsim/xen_errno.h>

struct netfront_info netfront;
struct netfront_stats netfront_stats;
const char *netfront_step = "";
uint64_t netfront_timeout_ns = 10000000000ULL;

/* Virtual time a reconnect allows the backend to offer InitWait, and then Connected. */
#define NETFRONT_RECONNECT_NS (30ULL * 1000 * 1000 * 1000)

struct rx_buf {
    uint8_t *page;
    grant_ref_t gref;
    bool posted;                /* on the ring, owned by the backend */
};

struct tx_buf {
    uint8_t *page;
    grant_ref_t gref;
    bool busy;                  /* on the ring, waiting for its response */
    uint32_t pkt;               /* which packet it carries */
};

static struct {
    bool found;                 /* the vif is known (netfront_init) */
    bool have_pages;            /* rings and buffers allocated */
    bool tx_ring_granted, rx_ring_granted;  /* the ring pages are granted */
    bool bufs_granted;          /* the rx and tx buffer pages are granted */
    bool connected;
    bool lost;                  /* the backend lost the device; not reconnected yet */
    bool offered;               /* new rings offered (keys, Connected); the backend's Connected not seen */
    unsigned int lost_pkts;     /* tx packets the last loss took */
    uint64_t lost_at;           /* when the loss was noticed */
    bool in_rx;                 /* rx_poll is handing packets up */
    uint64_t last_rsp_ns;       /* when a response was last taken (for the reconnect note) */
    volatile struct netif_tx_sring *tx;
    volatile struct netif_rx_sring *rx;
    RING_IDX tx_prod_pvt, tx_cons;
    RING_IDX rx_prod_pvt, rx_cons;
    RING_IDX rx_seen;           /* responses up to here have been looked at */
    struct rx_buf rxb[NETFRONT_RX_BUFS];
    uint16_t rx_id_at[NET_RX_RING_SIZE];    /* the id posted at each slot */
    uint16_t rx_free[NETFRONT_RX_BUFS];
    unsigned int rx_nfree;
    struct tx_buf txb[NETFRONT_TX_BUFS];
    uint16_t tx_free[NETFRONT_TX_BUFS];
    unsigned int tx_nfree;
    uint32_t tx_pkt, tx_err_pkt;
    netfront_rx_fn rx_fn;
    void *rx_arg;
} nf;

static uint8_t rx_frame[NETFRONT_RX_MAX];

/* The xenbus handshake and the watch on the backend's state. */
static struct xenbus_front xb = {
    .name = "netfront",
    .type = "vif",
    .step = &netfront_step,
    .backend = netfront.backend,
    .backend_size = sizeof(netfront.backend),
};

static void ring_broken(const char *why, unsigned long a, unsigned long b)
{
    panic("netfront: %s (%lu, %lu)", why, a, b);
}

static void nf_event(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    netfront_stats.events++;    /* the rings are served from the main flow */
}

static void notify_backend(void)
{
    netfront_stats.notifies++;
    (void)evtchn_send(netfront.port);
}

/* ---- receive ------------------------------------------------------------ */

static volatile struct netif_rx_response *rx_rsp(RING_IDX i)
{
    return &nf.rx->ring[i % NET_RX_RING_SIZE].rsp;
}

static void rx_release(uint16_t id)
{
    if (id < NETFRONT_RX_BUFS && nf.rxb[id].posted) {
        nf.rxb[id].posted = false;
        nf.rx_free[nf.rx_nfree++] = id;
    }
}

/* Posts every free page while the ring has room. */
static void rx_refill(void)
{
    unsigned int n = 0;
    bool notify;

    while (nf.rx_nfree > 0 && (RING_IDX)(nf.rx_prod_pvt - nf.rx_cons) < NET_RX_RING_SIZE) {
        uint16_t id = nf.rx_free[--nf.rx_nfree];
        volatile struct netif_rx_request *r = &nf.rx->ring[nf.rx_prod_pvt % NET_RX_RING_SIZE].req;

        r->id = id;
        r->pad = 0;
        r->gref = nf.rxb[id].gref;
        nf.rxb[id].posted = true;
        nf.rx_id_at[nf.rx_prod_pvt % NET_RX_RING_SIZE] = id;
        nf.rx_prod_pvt++;
        n++;
    }
    if (n == 0)
        return;
    PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(nf.rx, nf.rx_prod_pvt, notify);
    if (notify && nf.connected)
        notify_backend();
}

/* One data slot of a packet: appended to rx_frame, its page freed. */
static void rx_data_slot(RING_IDX idx, size_t *len, bool *bad)
{
    volatile struct netif_rx_response *r = rx_rsp(idx);
    uint16_t id = r->id, off = r->offset;
    int16_t st = r->status;

    netfront_stats.rx_slots++;
    if (id >= NETFRONT_RX_BUFS || !nf.rxb[id].posted) {
        *bad = true;
        rx_release(nf.rx_id_at[idx % NET_RX_RING_SIZE]);
        return;
    }
    if (st < 0 || (unsigned long)off + (unsigned long)st > PAGE_SIZE ||
        *len + (size_t)st > NETFRONT_RX_MAX)
        *bad = true;
    else if (!*bad)
        memcpy(rx_frame + *len, nf.rxb[id].page + off, (size_t)st);
    if (!*bad)
        *len += (size_t)st;
    rx_release(id);
}

/* Takes the packet at rx_cons if all its slots are below prod: 1 if it was
 * delivered, 0 if dropped, -1 if it is not complete yet. */
static int rx_packet(RING_IDX prod)
{
    RING_IDX i = nf.rx_cons, j = i + 1, k;
    uint16_t flags0 = rx_rsp(i)->flags, f;
    size_t len = 0;
    bool bad = false;

    /* Find the end: extra-info slots follow the first, then data slots. */
    if (flags0 & NETRXF_extra_info) {
        for (;;) {
            volatile struct netif_extra_info *e;
            if (j == prod)
                return -1;
            e = (volatile struct netif_extra_info *)(volatile void *)rx_rsp(j);
            j++;
            if (!(e->flags & XEN_NETIF_EXTRA_FLAG_MORE))
                break;
        }
    }
    k = j;                      /* the first data slot after the extras */
    for (f = flags0; f & NETRXF_more_data; j++) {
        if (j == prod)
            return -1;
        f = rx_rsp(j)->flags;
    }

    nf.last_rsp_ns = time_now_ns();
    rx_data_slot(i, &len, &bad);
    for (RING_IDX x = i + 1; x != k; x++) {
        rx_release(nf.rx_id_at[x % NET_RX_RING_SIZE]);      /* an extra slot: no data */
        netfront_stats.rx_slots++;
    }
    for (RING_IDX x = k; x != j; x++)
        rx_data_slot(x, &len, &bad);
    nf.rx_cons = j;
    nf.rx_seen = j;
    if (nf.rx_nfree >= 32)
        rx_refill();
    if (bad || len == 0) {
        netfront_stats.rx_errors++;
        return 0;
    }
    netfront_stats.rx_packets++;
    netfront_stats.rx_bytes += (uint32_t)len;
    if (nf.rx_fn != NULL)
        nf.rx_fn(rx_frame, len, nf.rx_arg);
    return 1;
}

static unsigned int rx_poll_ring(void);

static unsigned int rx_poll(void)
{
    bool outer = !nf.in_rx;
    unsigned int n;

    nf.in_rx = true;
    n = rx_poll_ring();
    if (outer)
        nf.in_rx = false;
    return n;
}

static unsigned int rx_poll_ring(void)
{
    unsigned int delivered = 0;

    for (;;) {
        RING_IDX prod = READ_ONCE(nf.rx->rsp_prod);
        bool incomplete = false, more;

        rmb();                  /* the responses are read after the index exposing them */
        if ((RING_IDX)(prod - nf.rx_cons) > (RING_IDX)(nf.rx_prod_pvt - nf.rx_cons))
            ring_broken("rx rsp_prod beyond the requests posted", prod, nf.rx_prod_pvt);
        while (nf.rx_cons != prod) {
            int n = rx_packet(prod);
            if (n < 0) {
                incomplete = true;
                break;
            }
            delivered += (unsigned int)n;
        }
        rx_refill();
        if (incomplete) {
            /* The rest of a packet is still to come: ask for an event for it. */
            nf.rx_seen = prod;
            WRITE_ONCE(nf.rx->rsp_event, prod + 1);
            mb();
            more = READ_ONCE(nf.rx->rsp_prod) != prod;
        } else {
            nf.rx_seen = nf.rx_cons;
            PVSIM_RING_FINAL_CHECK_FOR_RESPONSES(nf.rx, nf.rx_cons, more);
        }
        if (!more)
            return delivered;
    }
}

/* ---- transmit ----------------------------------------------------------- */

static void tx_reclaim(void)
{
    for (;;) {
        RING_IDX prod = READ_ONCE(nf.tx->rsp_prod);
        bool more;

        rmb();
        if ((RING_IDX)(prod - nf.tx_cons) > (RING_IDX)(nf.tx_prod_pvt - nf.tx_cons))
            ring_broken("tx rsp_prod beyond the requests made", prod, nf.tx_prod_pvt);
        while (nf.tx_cons != prod) {
            volatile struct netif_tx_response *r = &nf.tx->ring[nf.tx_cons % NET_TX_RING_SIZE].rsp;
            uint16_t id = r->id;
            int16_t st = r->status;
            struct tx_buf *b;

            nf.tx_cons++;
            nf.last_rsp_ns = time_now_ns();
            if (st == NETIF_RSP_NULL)
                continue;       /* an extra-info slot (never sent here) */
            if (id >= NETFRONT_TX_BUFS || !nf.txb[id].busy)
                ring_broken("tx response for no request", id, nf.tx_cons - 1);
            b = &nf.txb[id];
            if (st != NETIF_RSP_OKAY && b->pkt != nf.tx_err_pkt) {
                netfront_stats.tx_errors++;     /* once per packet */
                nf.tx_err_pkt = b->pkt;
            }
            b->busy = false;
            nf.tx_free[nf.tx_nfree++] = id;
        }
        PVSIM_RING_FINAL_CHECK_FOR_RESPONSES(nf.tx, nf.tx_cons, more);
        if (!more)
            return;
    }
}

unsigned int netfront_tx_free(void)
{
    return nf.tx_nfree;
}

int netfront_send(const struct netfront_piece *pieces, unsigned int n)
{
    uint16_t ids[NETFRONT_MAX_SLOTS];
    uint16_t sizes[NETFRONT_MAX_SLOTS];
    unsigned int slots = 0, s = 0;
    size_t total = 0, fill = 0;
    bool open = false, notify;
    uint32_t pkt;

    if (!nf.connected)
        return -XEN_ENOTCONN;
    if (n > NETFRONT_MAX_PIECES)
        return -XEN_EINVAL;
    for (unsigned int i = 0; i < n; i++) {
        total += pieces[i].len;
        slots += (unsigned int)((pieces[i].len + PAGE_SIZE - 1) / PAGE_SIZE);
    }
    if (total == 0 || total > XEN_NETIF_MAX_TX_SIZE)
        return -XEN_EINVAL;
    if (!netfront.sg) {
        if (total > PAGE_SIZE)
            return -XEN_EMSGSIZE;
        slots = 1;
    }
    if (slots > NETFRONT_MAX_SLOTS)
        return -XEN_EINVAL;
    if (nf.tx_nfree < slots)
        tx_reclaim();
    if (nf.tx_nfree < slots) {
        netfront_stats.tx_busy++;
        return -XEN_EAGAIN;
    }

    /* Copy: with feature-sg each piece starts a slot, else all share one. */
    for (unsigned int i = 0; i < n; i++) {
        const uint8_t *p = pieces[i].data;
        size_t left = pieces[i].len;

        if (netfront.sg)
            open = false;
        while (left > 0) {
            size_t c;
            if (!open || fill == PAGE_SIZE) {
                ids[s] = nf.tx_free[--nf.tx_nfree];
                sizes[s] = 0;
                s++;
                fill = 0;
                open = true;
            }
            c = PAGE_SIZE - fill < left ? PAGE_SIZE - fill : left;
            memcpy(nf.txb[ids[s - 1]].page + fill, p, c);
            fill += c;
            sizes[s - 1] = (uint16_t)(sizes[s - 1] + c);
            p += c;
            left -= c;
        }
    }

    pkt = ++nf.tx_pkt;
    for (unsigned int k = 0; k < s; k++) {
        volatile struct netif_tx_request *r = &nf.tx->ring[nf.tx_prod_pvt % NET_TX_RING_SIZE].req;
        struct tx_buf *b = &nf.txb[ids[k]];

        r->gref = b->gref;
        r->offset = 0;
        r->flags = (uint16_t)(k + 1 < s ? NETTXF_more_data : 0);
        r->id = ids[k];
        r->size = (uint16_t)(k == 0 ? total : sizes[k]);   /* the first slot: the whole packet */
        b->busy = true;
        b->pkt = pkt;
        nf.tx_prod_pvt++;
    }
    PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(nf.tx, nf.tx_prod_pvt, notify);
    if (notify)
        notify_backend();
    netfront_stats.tx_packets++;
    netfront_stats.tx_bytes += (uint32_t)total;
    netfront_stats.tx_slots += s;
    return 0;
}

/* ---- polling and waiting ------------------------------------------------ */

static void check_backend(void);

void netfront_set_rx_handler(netfront_rx_fn fn, void *arg)
{
    nf.rx_fn = fn;
    nf.rx_arg = arg;
}

/* A state change to look at: not while received packets are being handed
 * up (the rx handler may wait for tx room), as a reconnect resets the rings
 * under rx_poll. */
static bool backend_moved(void)
{
    return !nf.in_rx && xenbus_front_moved(&xb);
}

unsigned int netfront_poll(void)
{
    if (backend_moved())
        check_backend();
    if (!nf.connected)
        return 0;
    tx_reclaim();
    return rx_poll();
}

unsigned int netfront_wait(uint64_t deadline_ns, bool deliver)
{
    if (!nf.connected && !nf.lost) {
        if (deadline_ns != UINT64_MAX)
            (void)sleep_until(deadline_ns);
        return 0;
    }
    local_irq_disable();
    for (;;) {
        /* Responses to serve, or the backend's state moved (it may have lost the device). */
        bool work = backend_moved() ||
                    (nf.connected && (READ_ONCE(nf.tx->rsp_prod) != nf.tx_cons ||
                                      (deliver && READ_ONCE(nf.rx->rsp_prod) != nf.rx_seen)));
        if (work || time_now_ns() >= deadline_ns)
            break;
        if (deadline_ns != UINT64_MAX)
            (void)timer_set_deadline(deadline_ns);
        events_block();
        local_irq_enable();     /* the upcall runs here */
        local_irq_disable();
    }
    local_irq_enable();
    if (backend_moved())
        check_backend();
    if (!nf.connected)
        return 0;
    if (deliver)
        return netfront_poll();
    tx_reclaim();
    return 0;
}

/* ---- the xenbus handshake ---------------------------------------------- */

/* What the backend offers at InitWait: copying receive is required. */
static int read_features(void)
{
    unsigned long v;

    netfront_step = "reading the backend's features";
    if (xenbus_front_read_backend_ulong(&xb, "feature-rx-copy", &v) < 0 || v != 1) {
        printf("netfront: backend %s does not offer feature-rx-copy\n", netfront.backend);
        return -XEN_EOPNOTSUPP;
    }
    netfront.sg = xenbus_front_read_backend_ulong(&xb, "feature-sg", &v) >= 0 && v != 0;
    return 0;
}

static void *alloc_page(void)
{
    void *p = pfn_to_virt(page_alloc());

    if (p != NULL)
        memset(p, 0, PAGE_SIZE);
    return p;
}

static int alloc_pages(void)
{
    if (nf.have_pages)
        return 0;
    nf.tx = alloc_page();
    nf.rx = alloc_page();
    if (nf.tx == NULL || nf.rx == NULL)
        return -XEN_ENOMEM;
    for (unsigned int i = 0; i < NETFRONT_RX_BUFS; i++)
        if ((nf.rxb[i].page = alloc_page()) == NULL)
            return -XEN_ENOMEM;
    for (unsigned int i = 0; i < NETFRONT_TX_BUFS; i++)
        if ((nf.txb[i].page = alloc_page()) == NULL)
            return -XEN_ENOMEM;
    nf.have_pages = true;
    return 0;
}

static int grant(const void *page, bool readonly, grant_ref_t *ref)
{
    int r = gnttab_grant_access(netfront.backend_id, virt_to_mfn(page), readonly);

    if (r < 0)
        return r;
    *ref = (grant_ref_t)r;
    return 0;
}

static int grant_rings(void)
{
    int rc;

    if (!nf.tx_ring_granted) {
        if ((rc = grant((const void *)nf.tx, false, &netfront.tx_ring_ref)) < 0)
            return rc;
        nf.tx_ring_granted = true;
    }
    if (!nf.rx_ring_granted) {
        if ((rc = grant((const void *)nf.rx, false, &netfront.rx_ring_ref)) < 0)
            return rc;
        nf.rx_ring_granted = true;
    }
    return 0;
}

/* The buffers are granted once and stay granted across reconnects (the
 * backend only copies to and from them, it never maps them). */
static int grant_bufs(void)
{
    int rc;

    if (nf.bufs_granted)
        return 0;
    for (unsigned int i = 0; i < NETFRONT_RX_BUFS; i++)
        if ((rc = grant(nf.rxb[i].page, false, &nf.rxb[i].gref)) < 0)
            return rc;
    for (unsigned int i = 0; i < NETFRONT_TX_BUFS; i++)
        if ((rc = grant(nf.txb[i].page, true, &nf.txb[i].gref)) < 0)
            return rc;
    nf.bufs_granted = true;
    return 0;
}

/* Ends a ring page's grant. The backend must have unmapped it (a dead
 * dom0's mappings are undone by the hypervisor); it gets a few yields. */
static int end_ring_grant(grant_ref_t ref, bool *granted)
{
    unsigned int tries = 0;
    int rc = 0;

    if (!*granted)
        return 0;
    while ((rc = gnttab_free_access(ref)) == -XEN_EBUSY && ++tries < 1000)
        (void)sched_yield();
    if (rc < 0)
        return rc;
    *granted = false;
    return 0;
}

/* The event channel and the rings' grants (-XEN_EBUSY if the backend still
 * maps a ring page: the page is not reused then). */
static int release_rings(void)
{
    int rc, rc2;

    nf.offered = false;
    if (netfront.port != 0) {
        (void)evtchn_close(netfront.port);
        netfront.port = 0;
    }
    rc = end_ring_grant(netfront.tx_ring_ref, &nf.tx_ring_granted);
    rc2 = end_ring_grant(netfront.rx_ring_ref, &nf.rx_ring_granted);
    return rc < 0 ? rc : rc2;
}

/* Ends every grant (a page the backend still has mapped stays granted:
 * its ref is lost, not reused) and closes the port. */
static void release(void)
{
    (void)release_rings();
    nf.tx_ring_granted = nf.rx_ring_granted = false;
    if (nf.bufs_granted) {
        for (unsigned int i = 0; i < NETFRONT_RX_BUFS; i++)
            (void)gnttab_free_access(nf.rxb[i].gref);
        for (unsigned int i = 0; i < NETFRONT_TX_BUFS; i++)
            (void)gnttab_free_access(nf.txb[i].gref);
        nf.bufs_granted = false;
    }
}

/* Empty rings (the pages cleared, SHARED_RING_INIT) and every buffer free. */
static void reset_rings(void)
{
    memset((void *)nf.tx, 0, PAGE_SIZE);
    memset((void *)nf.rx, 0, PAGE_SIZE);
    PVSIM_SHARED_RING_INIT(nf.tx);
    PVSIM_SHARED_RING_INIT(nf.rx);
    nf.tx_prod_pvt = nf.tx_cons = 0;
    nf.rx_prod_pvt = nf.rx_cons = nf.rx_seen = 0;
    nf.tx_nfree = 0;
    for (unsigned int i = NETFRONT_TX_BUFS; i-- > 0;) {
        nf.txb[i].busy = false;
        nf.tx_free[nf.tx_nfree++] = (uint16_t)i;
    }
    nf.rx_nfree = 0;
    for (unsigned int i = NETFRONT_RX_BUFS; i-- > 0;) {
        nf.rxb[i].posted = false;
        nf.rx_free[nf.rx_nfree++] = (uint16_t)i;
    }
}

/* The backend is Connected to the rings offered: fill the rx ring. */
static void rings_up(void)
{
    nf.offered = false;
    nf.connected = true;
    nf.lost = false;
    /* The rx ring is filled only now, once the backend has attached to it
     * (pvsim's BackRing, like Xen's BACK_RING_ATTACH, would also serve
     * buffers posted before). */
    rx_refill();
    notify_backend();
}

/* New rings (granted), a new event channel, the keys, state Connected and
 * the backend's Connected (within bound_ns); then the rx ring is filled.
 * The rings' pages must not be mapped by anyone. */
static int connect_rings(uint64_t bound_ns)
{
    int rc;

    netfront_step = "setting up the rings";
    reset_rings();
    if ((rc = grant_rings()) < 0 || (rc = grant_bufs()) < 0)
        return rc;
    rc = evtchn_alloc_unbound(netfront.backend_id, nf_event, NULL, &netfront.port);
    if (rc < 0)
        return rc;
    netfront_step = "writing the ring keys";
    {
        /* In one transaction, then Connected (netfront skips Initialised). */
        const struct xenbus_front_key keys[] = {
            { "tx-ring-ref", NULL, netfront.tx_ring_ref },
            { "rx-ring-ref", NULL, netfront.rx_ring_ref },
            { "event-channel", NULL, netfront.port },
            { "request-rx-copy", NULL, 1 },
            { "feature-rx-notify", NULL, 1 },
            { "feature-sg", NULL, 1 },
            { "feature-no-csum-offload", NULL, 1 },
        };
        rc = xenbus_front_write_keys_tx(&xb, keys, PV_ARRAY_SIZE(keys));
    }
    if (rc < 0)
        return rc;
    netfront_step = "writing state Connected";
    rc = xenbus_front_switch(&xb, XenbusStateConnected);
    if (rc < 0)
        return rc;
    nf.offered = true;
    netfront_step = "waiting for the backend's Connected";
    rc = xenbus_front_wait(&xb, XenbusStateConnected, bound_ns, false);
    if (rc < 0)
        return rc;
    rings_up();
    return 0;
}

/*
 * The backend lost the device (a restarted dom0 finds it Connected without
 * a ring of its own and says Closed; any state but Connected counts). The
 * old rings' responses already published are taken (tx slots only), then
 * the port is closed and the ring grants end (the dead backend's mappings
 * were undone by the hypervisor). Every tx slot still waiting for its
 * response goes back to the pool: its packet is lost (counted in tx_errors
 * and tx_lost); rx buffers are taken off the old ring (what they were to
 * receive is lost). The buffers stay granted and are used again. Then as
 * at first: state Initialising, the backend's InitWait (Closed tolerated
 * meanwhile), new rings, the keys, Connected, the rx ring filled. The
 * stack's retries (ARP, ping timeouts, the done handshake) cover what was
 * lost. A failed attempt is made again at the next state change.
 */
static void note_reconnected(void)
{
    printf("netfront: reconnected to %s: tx-ring-ref %lu, rx-ring-ref %lu, port %lu, sg %d; "
           "%u tx packet(s) lost; %llu us after noticing\n",
           netfront.backend, (unsigned long)netfront.tx_ring_ref,
           (unsigned long)netfront.rx_ring_ref, (unsigned long)netfront.port, netfront.sg,
           nf.lost_pkts, (unsigned long long)((time_now_ns() - nf.lost_at) / 1000U));
}

static int reconnect(unsigned long st)
{
    unsigned int lost_pkts = 0;
    int rc;

    if (!nf.lost) {
        unsigned int busy = 0;

        nf.connected = false;
        nf.lost = true;
        netfront_stats.reconnects++;
        nf.lost_at = time_now_ns();
        tx_reclaim();
        for (unsigned int i = 0; i < NETFRONT_TX_BUFS; i++) {
            bool first = true;

            if (!nf.txb[i].busy)
                continue;
            busy++;
            for (unsigned int j = 0; j < i && first; j++)
                first = !(nf.txb[j].busy && nf.txb[j].pkt == nf.txb[i].pkt);
            if (first)
                lost_pkts++;
        }
        for (unsigned int i = 0; i < NETFRONT_TX_BUFS; i++) {
            if (nf.txb[i].busy) {
                nf.txb[i].busy = false;
                nf.tx_free[nf.tx_nfree++] = (uint16_t)i;
            }
        }
        nf.lost_pkts = lost_pkts;
        netfront_stats.tx_lost += lost_pkts;
        netfront_stats.tx_errors += lost_pkts;
        printf("netfront: backend %s lost the device (state %s); reconnecting with %u tx "
               "packet(s) in flight (%u slots), the last response %llu ms ago\n",
               netfront.backend, xenbus_state_name(st), lost_pkts, busy,
               (unsigned long long)((nf.lost_at - nf.last_rsp_ns) / 1000000U));
    }
    netfront_step = "reconnect: releasing the old rings";
    rc = release_rings();
    if (rc < 0)
        return rc;
    rc = xenbus_front_reinit(&xb, NETFRONT_RECONNECT_NS);
    if (rc < 0)
        return rc;
    rc = read_features();
    if (rc < 0)
        return rc;
    rc = connect_rings(NETFRONT_RECONNECT_NS);
    if (rc < 0)
        return rc;
    note_reconnected();
    return 0;
}

/* The backend's state watch fired: nothing to do while it says Connected. */
static void check_backend(void)
{
    unsigned long st;
    int rc = xenbus_front_look(&xb, &st);

    if (rc < 0 && rc != -XEN_ENOENT)
        return;                 /* xenstore trouble: looked at again at the next event */
    if (rc == -XEN_ENOENT) {
        if (nf.connected || nf.lost) {
            printf("netfront: backend %s is gone\n", netfront.backend);
            nf.connected = false;
            nf.lost = false;
            release();
            xenbus_front_unwatch(&xb);
        }
        return;
    }
    if (nf.connected ? st == XenbusStateConnected : !nf.lost)
        return;
    if (nf.offered && st == XenbusStateConnected) {
        /* A reconnect gave up waiting for this, and the backend got there later. */
        rings_up();
        note_reconnected();
        return;
    }
    rc = reconnect(st);
    if (rc < 0)
        printf("netfront: reconnect failed at \"%s\": %d (%s); trying again when the backend's "
               "state changes\n",
               netfront_step, rc, xen_errstr(rc));
}

bool netfront_connected(void)
{
    return nf.connected;
}

int netfront_connect(void)
{
    int rc;

    if (nf.connected)
        return 0;
    if (!nf.found)
        return -XEN_ENODEV;
    if (nf.lost)
        return reconnect(XenbusStateUnknown);
    /* The watch stays while connected: it is how a lost backend is noticed. */
    rc = xenbus_front_watch(&xb);
    if (rc < 0)
        return rc;
    netfront_step = "waiting for the backend's InitWait";
    rc = xenbus_front_wait(&xb, XenbusStateInitWait, netfront_timeout_ns, false);
    if (rc >= 0)
        rc = read_features();
    if (rc >= 0) {
        netfront_step = "setting up the rings";
        mm_init();
        gnttab_init();
        rc = alloc_pages();
    }
    if (rc >= 0) {
        rc = connect_rings(netfront_timeout_ns);
        if (rc < 0)
            release();
    }
    if (rc < 0)
        xenbus_front_unwatch(&xb);
    return rc < 0 ? rc : 0;
}

void netfront_disconnect(void)
{
    if (!nf.found)
        return;
    (void)xenbus_front_close(&xb);
    nf.connected = false;
    nf.lost = false;
    release();
}

int netfront_init(int devid)
{
    char tmp[64], mac[32];
    int rc;

    if (nf.connected)
        return 0;
    rc = xenbus_setup();
    if (rc < 0)
        return rc;
    rc = timer_setup();
    if (rc < 0)
        return rc;
    if (!nf.found) {
        rc = xenbus_front_find(&xb, devid);
        if (rc == -XEN_ENOENT)
            return -XEN_ENODEV;     /* no `backend`: no such vif */
        if (rc < 0)
            return rc;
        netfront.devid = xb.devid;
        netfront.backend_id = xb.backend_id;

        netfront_step = "reading the frontend's mac";
        snprintf(tmp, sizeof(tmp), "%s/mac", xb.frontend);
        rc = xs_read(XBT_NIL, tmp, mac, sizeof(mac));
        if (rc < 0)
            return rc;
        if (net_parse_mac(mac, netfront.mac) < 0) {
            printf("netfront: %s: bad mac \"%s\"\n", xb.frontend, mac);
            return -XEN_EINVAL;
        }
        nf.found = true;
    }
    return netfront_connect();
}

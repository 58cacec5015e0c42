/* XenStore client over the domain's ring page (see pvsim/xenbus.h). */
#include <pvsim/xenbus.h>
#include <pvsim/xs_wire.h>
#include <pvsim/events.h>
#include <pvsim/atomic.h>
#include <pvsim/mm.h>
#include <pvsim/pv.h>
#include <pvsim/string.h>
#include <pvsim/format.h>
#include <pvsim/xen_errno.h>

#define HDR_SIZE ((uint32_t)sizeof(struct xsd_sockmsg))

/* The fixed kernel address of the ring: a page of the image whose mapping
 * is replaced by the store frame, as for shared_info. */
#ifdef PVSIM_NATIVE
#include <pvsim/pvhvm.h>
#else
static uint8_t xenstore_page[PAGE_SIZE] __pv_section(".noinit") __pv_aligned(PAGE_SIZE);
#endif

struct xs_stats xs_stats;

/* One piece of a request's payload. */
struct xs_iov {
    const void *base;
    size_t len;
};

static struct {
    volatile struct xenstore_domain_interface *intf;
    evtchn_port_t port;
    int failed;                 /* 0, or -XEN_EIO once the ring is unusable */
    bool busy;                  /* a request is in flight */
    bool in_callback;           /* a watch callback is running */
    bool unsent;                /* req[] has bytes the daemon was not told of */
    uint32_t next_req_id;

    /* The request in flight and its reply. */
    struct {
        uint32_t req_id;
        bool done;
        uint32_t type;          /* the reply's type */
        uint32_t len;           /* its payload length (all of it) */
        int err;                /* XS_ERROR's errno */
        char *buf;              /* where the payload goes, up to size bytes */
        size_t size;
    } pend;

    /* The message being received from rsp[]. */
    struct xsd_sockmsg hdr;
    uint32_t hdr_got, body_got;
    char body[XENSTORE_PAYLOAD_MAX + 1];

    struct {
        bool used;
        char token[XS_TOKEN_MAX];
        xs_watch_fn fn;
        void *data;
    } watches[XS_WATCHES];

    domid_t domid;
    bool domid_known;
} xs;

/* ---- errors ----------------------------------------------------------- */

int xs_errno(const char *name)
{
    /* Xen's xsd_errors table (io/xs_wire.h), with Xen's errno values. */
    static const struct {
        char name[10];
        unsigned char err;
    } table[] = {
        { "EINVAL", XEN_EINVAL }, { "EACCES", XEN_EACCES },       { "EEXIST", XEN_EEXIST },
        { "EISDIR", XEN_EISDIR }, { "ENOENT", XEN_ENOENT },       { "ENOMEM", XEN_ENOMEM },
        { "ENOSPC", XEN_ENOSPC }, { "EIO", XEN_EIO },             { "ENOTEMPTY", XEN_ENOTEMPTY },
        { "ENOSYS", XEN_ENOSYS }, { "EROFS", XEN_EROFS },         { "EBUSY", XEN_EBUSY },
        { "EAGAIN", XEN_EAGAIN }, { "EISCONN", XEN_EISCONN },     { "E2BIG", XEN_E2BIG },
        { "EPERM", XEN_EPERM },
    };

    for (unsigned int i = 0; i < PV_ARRAY_SIZE(table); i++)
        if (strcmp(name, table[i].name) == 0)
            return -(int)table[i].err;
    return -XEN_EINVAL;
}

/* ---- the ring --------------------------------------------------------- */

static void notify(void)
{
    mb();                       /* indices published before the daemon looks */
    xs.unsent = false;
    xs_stats.notifies++;
    (void)evtchn_send(xs.port);
}

/* The ring is unusable (a bad index or header from the daemon, or the
 * daemon's `error` field): every request fails from now on. */
static void ring_failed(const char *why, unsigned long a, unsigned long b)
{
    if (xs.failed)
        return;
    xs.failed = -XEN_EIO;
    printf("xenbus: %s (0x%lx, 0x%lx); xenstore unusable\n", why, a, b);
}

static bool daemon_error(void)
{
    volatile struct xenstore_domain_interface *intf = xs.intf;

    if ((READ_ONCE(intf->server_features) & XENSTORE_SERVER_FEATURE_ERROR) &&
        READ_ONCE(intf->error) != XENSTORE_ERROR_NONE)
        ring_failed("the daemon stopped serving the ring: error", intf->error, 0);
    return xs.failed != 0;
}

static void dispatch_watch(void)
{
    const char *path = xs.body, *token;
    size_t plen = strnlen(path, xs.hdr.len);

    if (plen >= xs.hdr.len) {
        xs_stats.unmatched++;
        return;
    }
    token = path + plen + 1;    /* body[len] is NUL, so token is terminated */
    for (unsigned int i = 0; i < XS_WATCHES; i++) {
        if (xs.watches[i].used && strcmp(xs.watches[i].token, token) == 0) {
            xs_stats.watch_events++;
            xs.in_callback = true;
            xs.watches[i].fn(path, token, xs.watches[i].data);
            xs.in_callback = false;
            return;
        }
    }
    xs_stats.unmatched++;
}

/* A whole message is in hdr and body (NUL-terminated at body[len]). */
static void message_done(void)
{
    if (xs.hdr.type == XS_WATCH_EVENT) {
        dispatch_watch();
        return;
    }
    if (!xs.busy || xs.pend.done || xs.hdr.req_id != xs.pend.req_id) {
        xs_stats.unmatched++;
        return;
    }
    xs.pend.type = xs.hdr.type;
    xs.pend.len = xs.hdr.len;
    if (xs.hdr.type == XS_ERROR)
        xs.pend.err = xs_errno(xs.body);
    else
        memcpy(xs.pend.buf, xs.body, xs.hdr.len < xs.pend.size ? xs.hdr.len : xs.pend.size);
    xs.pend.done = true;
    xs_stats.replies++;
}

/*
 * Reads what the daemon has produced in rsp[], message by message, and
 * dispatches each complete one. Runs with upcalls masked (event handler or
 * a waiting request), so never twice at once.
 */
static void rx_poll(void)
{
    volatile struct xenstore_domain_interface *intf = xs.intf;
    XENSTORE_RING_IDX start, cons, prod;

    if (xs.failed)
        return;
    start = cons = intf->rsp_cons;
    for (;;) {
        uint32_t want, n, off;
        char *dst;

        prod = READ_ONCE(intf->rsp_prod);
        rmb();                  /* the data is read after the index exposing it */
        if (prod - cons > XENSTORE_RING_SIZE) {
            ring_failed("bad rsp indices", prod, cons);
            return;
        }
        if (prod == cons)
            break;
        /* The rest of the header, or of the payload, up to the ring's end. */
        if (xs.hdr_got < HDR_SIZE) {
            want = HDR_SIZE - xs.hdr_got;
            dst = (char *)&xs.hdr + xs.hdr_got;
        } else {
            want = xs.hdr.len - xs.body_got;
            dst = xs.body + xs.body_got;
        }
        off = MASK_XENSTORE_IDX(cons);
        n = prod - cons;
        if (n > want)
            n = want;
        if (n > XENSTORE_RING_SIZE - off)
            n = XENSTORE_RING_SIZE - off;
        memcpy(dst, (const char *)&intf->rsp[off], n);
        cons += n;
        mb();                   /* the data is copied out before its slots are freed */
        intf->rsp_cons = cons;

        if (xs.hdr_got < HDR_SIZE) {
            xs.hdr_got += n;
            if (xs.hdr_got < HDR_SIZE)
                continue;
            if (xs.hdr.len > XENSTORE_PAYLOAD_MAX) {
                ring_failed("reply header announces too long a payload", xs.hdr.len,
                            xs.hdr.type);
                return;
            }
        } else {
            xs.body_got += n;
        }
        if (xs.body_got == xs.hdr.len) {
            xs.body[xs.hdr.len] = 0;
            xs.hdr_got = xs.body_got = 0;
            message_done();
        }
    }
    /* The daemon stops writing while rsp[] is full and waits to be told
     * there is room again (Linux's test: full as seen from where we began). */
    if (cons != start) {
        mb();
        if (READ_ONCE(intf->rsp_prod) - start >= XENSTORE_RING_SIZE)
            notify();
    }
}

static void xs_event(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    rx_poll();
}

static bool req_room(void *arg)
{
    volatile struct xenstore_domain_interface *intf = xs.intf;

    (void)arg;
    rx_poll();                  /* the daemon may be waiting for us to read */
    if (daemon_error())
        return true;
    return intf->req_prod - READ_ONCE(intf->req_cons) < XENSTORE_RING_SIZE;
}

/* Appends len bytes to req[], waiting for room while it is full. */
static int tx_bytes(const void *data, size_t len)
{
    volatile struct xenstore_domain_interface *intf = xs.intf;
    const char *p = data;

    while (len > 0) {
        XENSTORE_RING_IDX prod = intf->req_prod;
        XENSTORE_RING_IDX cons = READ_ONCE(intf->req_cons);
        uint32_t space, n, off;

        if (prod - cons > XENSTORE_RING_SIZE) {
            ring_failed("bad req indices", prod, cons);
            return xs.failed;
        }
        space = XENSTORE_RING_SIZE - (prod - cons);
        if (space == 0) {
            if (xs.unsent)
                notify();
            xs_stats.req_full_waits++;
            wait_event_port(xs.port, req_room, NULL);
            if (xs.failed)
                return xs.failed;
            continue;
        }
        off = MASK_XENSTORE_IDX(prod);
        n = len < space ? (uint32_t)len : space;
        if (n > XENSTORE_RING_SIZE - off)
            n = XENSTORE_RING_SIZE - off;
        mb();                   /* req_cons is read before the slots it frees are reused */
        memcpy((char *)&intf->req[off], p, n);
        wmb();                  /* the data is in place before the index exposing it */
        intf->req_prod = prod + n;
        xs.unsent = true;
        p += n;
        len -= n;
    }
    return 0;
}

static bool reply_done(void *arg)
{
    (void)arg;
    rx_poll();
    if (xs.pend.done)
        return true;
    if (daemon_error())
        return true;
    xs_stats.reply_waits++;
    return false;
}

/*
 * Sends one request (header + the payload pieces) and waits for its reply.
 * Up to `size` bytes of the reply's payload go to `reply`; *reply_len gets
 * its whole length. 0 or -errno (XS_ERROR's, or a local one).
 */
static int xs_talk(uint32_t type, xs_transaction_t tx, const struct xs_iov *iov,
                   unsigned int niov, char *reply, size_t size, uint32_t *reply_len)
{
    struct xsd_sockmsg hdr = { .type = type, .tx_id = tx };
    unsigned long flags;
    size_t total = 0;
    int rc = 0;

    if (xs.intf == NULL)
        return -XEN_ENOTCONN;
    for (unsigned int i = 0; i < niov; i++)
        total += iov[i].len;
    if (total > XENSTORE_PAYLOAD_MAX)
        return -XEN_E2BIG;

    flags = local_irq_save();
    if (xs.busy || xs.in_callback) {
        local_irq_restore(flags);
        return -XEN_EDEADLK;
    }
    if (xs.failed) {
        local_irq_restore(flags);
        return xs.failed;
    }
    xs.busy = true;
    xs.pend.req_id = hdr.req_id = ++xs.next_req_id;
    xs.pend.done = false;
    xs.pend.buf = reply;
    xs.pend.size = reply != NULL ? size : 0;
    xs.pend.err = 0;
    local_irq_restore(flags);

    hdr.len = (uint32_t)total;
    xs_stats.requests++;
    rc = tx_bytes(&hdr, sizeof(hdr));
    for (unsigned int i = 0; rc == 0 && i < niov; i++)
        rc = tx_bytes(iov[i].base, iov[i].len);
    if (rc == 0) {
        notify();
        wait_event_port(xs.port, reply_done, NULL);
        if (!xs.pend.done)
            rc = xs.failed;
        else if (xs.pend.type == XS_ERROR)
            rc = xs.pend.err;
        else if (xs.pend.type != type)
            rc = -XEN_EIO;      /* not an answer to this request */
        else if (reply_len != NULL)
            *reply_len = xs.pend.len;
    }

    flags = local_irq_save();
    xs.busy = false;
    local_irq_restore(flags);
    return rc;
}

/* Requests whose payload is strings, each sent with its NUL. */
static int xs_talk_strings(uint32_t type, xs_transaction_t tx, const char *a, const char *b,
                           char *reply, size_t size, uint32_t *reply_len)
{
    struct xs_iov iov[2] = {
        { a, strlen(a) + 1 },
        { b, b != NULL ? strlen(b) + 1 : 0 },
    };

    return xs_talk(type, tx, iov, b != NULL ? 2 : 1, reply, size, reply_len);
}

/* Replies that are "OK\0" (write, mkdir, rm, watch, unwatch, transaction end). */
static int xs_talk_ok(uint32_t type, xs_transaction_t tx, const char *a, const char *b)
{
    return xs_talk_strings(type, tx, a, b, NULL, 0, NULL);
}

/* A reply that is one NUL-terminated string, into buf. */
static int reply_string(int rc, char *buf, size_t size, uint32_t len)
{
    if (rc < 0)
        return rc;
    if (len > 0 && len <= size && buf[len - 1] == 0)
        len--;                  /* the daemon sent the NUL */
    if (len >= size)
        return -XEN_ERANGE;
    buf[len] = 0;
    return (int)len;
}

/* ---- set-up ----------------------------------------------------------- */

int xenbus_setup(void)
{
    const struct start_info *si = pvsim_start_info;
    int rc;

    if (xs.intf != NULL)
        return 0;
#ifdef PVSIM_NATIVE
    /* PVHVM: start_info's fields come from the HVM params. */
    rc = pvhvm_setup();
    if (rc < 0)
        return rc;
#endif
    if (si->store_evtchn == 0)
        return -XEN_ENODEV;
    rc = events_setup();
    if (rc < 0)
        return rc;
#ifdef PVSIM_NATIVE
    /* PVHVM: the ring is at the guest frame HVM_PARAM_STORE_PFN named (mapped 1:1). */
    xs.port = si->store_evtchn;
    xs.intf = (volatile struct xenstore_domain_interface *)pvhvm_page(si->store_mfn);
#else
    rc = set_kernel_pte((unsigned long)xenstore_page,
                        MFN_PTE(si->store_mfn, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D),
                        UVMF_INVLPG);
    if (rc < 0)
        return rc;
    xs.port = si->store_evtchn;
    xs.intf = (volatile struct xenstore_domain_interface *)xenstore_page;
#endif
    rc = evtchn_attach(xs.port, xs_event, NULL);
    if (rc < 0) {
        xs.intf = NULL;
        return rc;
    }
    return 0;
}

void xenbus_init(void)
{
    int rc = xenbus_setup();

    if (rc < 0)
        panic("xenbus_init: store_mfn 0x%lx, store_evtchn %lu: %d (%s)",
              (unsigned long)pvsim_start_info->store_mfn,
              (unsigned long)pvsim_start_info->store_evtchn, rc, xen_errstr(rc));
}

bool xenbus_ready(void)
{
    return xs.intf != NULL;
}

evtchn_port_t xenbus_evtchn(void)
{
    return xs.port;
}

/* ---- operations ------------------------------------------------------- */

int xs_read(xs_transaction_t tx, const char *path, char *buf, size_t size)
{
    uint32_t len = 0;
    int rc = xs_talk_strings(XS_READ, tx, path, NULL, buf, size, &len);

    if (rc < 0)
        return rc;
    if (len >= size)
        return -XEN_ERANGE;
    buf[len] = 0;
    return (int)len;
}

int xs_read_ulong(xs_transaction_t tx, const char *path, unsigned long *value)
{
    char buf[24], *end;
    int rc = xs_read(tx, path, buf, sizeof(buf));

    if (rc < 0)
        return rc;
    *value = strtoul(buf, &end, 0);
    return rc == 0 || *end != 0 ? -XEN_EINVAL : 0;
}

int xs_write_bytes(xs_transaction_t tx, const char *path, const void *value, size_t len)
{
    struct xs_iov iov[2] = { { path, strlen(path) + 1 }, { value, len } };

    return xs_talk(XS_WRITE, tx, iov, 2, NULL, 0, NULL);
}

int xs_write(xs_transaction_t tx, const char *path, const char *value)
{
    return xs_write_bytes(tx, path, value, strlen(value));
}

int xs_mkdir(xs_transaction_t tx, const char *path)
{
    return xs_talk_ok(XS_MKDIR, tx, path, NULL);
}

int xs_rm(xs_transaction_t tx, const char *path)
{
    return xs_talk_ok(XS_RM, tx, path, NULL);
}

int xs_directory(xs_transaction_t tx, const char *path, char *buf, size_t size)
{
    uint32_t len = 0;
    int count = 0;
    int rc = xs_talk_strings(XS_DIRECTORY, tx, path, NULL, buf, size, &len);

    if (rc < 0)
        return rc;
    if (len > size)
        return -XEN_ERANGE;
    if (len > 0 && buf[len - 1] != 0)
        return -XEN_EIO;        /* names must each end with a NUL */
    for (uint32_t i = 0; i < len; i++)
        count += buf[i] == 0;
    return count;
}

int xs_watch(const char *path, const char *token, xs_watch_fn fn, void *data)
{
    unsigned long flags;
    int slot = -1, rc;

    if (fn == NULL || strlen(token) >= XS_TOKEN_MAX)
        return -XEN_EINVAL;
    if (xs.intf == NULL)
        return -XEN_ENOTCONN;
    flags = local_irq_save();
    if (xs.busy || xs.in_callback) {
        local_irq_restore(flags);
        return -XEN_EDEADLK;
    }
    for (int i = 0; i < XS_WATCHES; i++) {
        if (xs.watches[i].used && strcmp(xs.watches[i].token, token) == 0) {
            local_irq_restore(flags);
            return -XEN_EEXIST;
        }
        if (!xs.watches[i].used && slot < 0)
            slot = i;
    }
    if (slot < 0) {
        local_irq_restore(flags);
        return -XEN_ENOSPC;
    }
    /* Registered before asking: the first event follows the reply at once. */
    strncpy(xs.watches[slot].token, token, XS_TOKEN_MAX);
    xs.watches[slot].fn = fn;
    xs.watches[slot].data = data;
    xs.watches[slot].used = true;
    local_irq_restore(flags);

    rc = xs_talk_ok(XS_WATCH, XBT_NIL, path, token);
    if (rc < 0) {
        flags = local_irq_save();
        xs.watches[slot].used = false;
        local_irq_restore(flags);
    }
    return rc;
}

int xs_unwatch(const char *path, const char *token)
{
    unsigned long flags;
    int rc = xs_talk_ok(XS_UNWATCH, XBT_NIL, path, token);

    if (rc < 0 && rc != -XEN_ENOENT)
        return rc;
    flags = local_irq_save();
    for (int i = 0; i < XS_WATCHES; i++)
        if (xs.watches[i].used && strcmp(xs.watches[i].token, token) == 0)
            xs.watches[i].used = false;
    local_irq_restore(flags);
    return rc;
}

int xs_transaction_start(xs_transaction_t *tx)
{
    char buf[16], *end;
    uint32_t len = 0;
    unsigned long id;
    int rc = xs_talk_strings(XS_TRANSACTION_START, XBT_NIL, "", NULL, buf, sizeof(buf), &len);

    rc = reply_string(rc, buf, sizeof(buf), len);
    if (rc < 0)
        return rc;
    id = strtoul(buf, &end, 10);
    if (rc == 0 || *end != 0 || id == 0)
        return -XEN_EIO;
    *tx = (xs_transaction_t)id;
    return 0;
}

int xs_transaction_end(xs_transaction_t tx, bool abort)
{
    return xs_talk_ok(XS_TRANSACTION_END, tx, abort ? "F" : "T", NULL);
}

int xs_transaction(int (*body)(xs_transaction_t tx, void *arg), void *arg, unsigned int *tries)
{
    unsigned int attempt = 0;
    xs_transaction_t tx;
    int rc;

    do {
        attempt++;
        rc = xs_transaction_start(&tx);
        if (rc < 0)
            break;
        rc = body(tx, arg);
        if (rc < 0)
            (void)xs_transaction_end(tx, true);
        else
            rc = xs_transaction_end(tx, false);
    } while (rc == -XEN_EAGAIN && attempt < XS_TRANSACTION_TRIES);
    if (tries != NULL)
        *tries = attempt;
    return rc;
}

int xs_get_domain_path(domid_t domid, char *buf, size_t size)
{
    char id[8];
    uint32_t len = 0;
    int rc;

    snprintf(id, sizeof(id), "%u", (unsigned int)domid);
    rc = xs_talk_strings(XS_GET_DOMAIN_PATH, XBT_NIL, id, NULL, buf, size, &len);
    return reply_string(rc, buf, size, len);
}

int xs_domid(domid_t *domid)
{
    unsigned long id;
    int rc;

    if (!xs.domid_known) {
        rc = xs_read_ulong(XBT_NIL, "domid", &id);
        if (rc < 0)
            return rc;
        if (id >= DOMID_FIRST_RESERVED)
            return -XEN_EINVAL;
        xs.domid = (domid_t)id;
        xs.domid_known = true;
    }
    *domid = xs.domid;
    return 0;
}

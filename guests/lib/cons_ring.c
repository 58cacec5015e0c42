/* The PV console ring driver (see pvsim/cons_ring.h). */
#include <pvsim/cons_ring.h>
#include <pvsim/xencons.h>
#include <pvsim/console.h>
#include <pvsim/events.h>
#include <pvsim/atomic.h>
#include <pvsim/time.h>
#include <pvsim/mm.h>
#include <pvsim/pv.h>
#include <pvsim/string.h>
#include <pvsim/format.h>
#include <pvsim/xen_errno.h>

/* The fixed kernel address of the ring, remapped like shared_info. */
static uint8_t console_page[PAGE_SIZE] __pv_section(".noinit") __pv_aligned(PAGE_SIZE);

static volatile struct xencons_interface *cons;
static evtchn_port_t cons_port;
static bool broken;             /* the backend corrupted an index */
static bool last_cr;            /* readline: the last line ended with '\r' */

struct cons_ring_stats cons_ring_stats;

static void ring_sink_write(const char *s, size_t n)
{
    cons_ring_write(s, n);
}

static void ring_sink_sync(void)
{
    (void)cons_ring_sync();
}

static const struct console_sink ring_sink = {
    .write = ring_sink_write,
    .sync = ring_sink_sync,
};

static void notify(void)
{
    mb();                       /* indices published before the backend looks */
    cons_ring_stats.notifies++;
    (void)evtchn_send(cons_port);
}

/* A bad index from the backend: the ring cannot be trusted any more, so
 * output goes to CONSOLEIO_write from now on and input ends. */
static void ring_broken(const char *which, uint32_t prod, uint32_t cons_idx)
{
    char msg[96];
    int n;

    broken = true;
    n = snprintf(msg, sizeof(msg),
                 "cons_ring: bad %s indices (prod 0x%08lx, cons 0x%08lx); back on console_io\n",
                 which, (unsigned long)prod, (unsigned long)cons_idx);
    console_io_write(msg, n < (int)sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

int cons_ring_setup(void)
{
    const struct start_info *si = pvsim_start_info;
    int rc;

    if (cons != NULL)
        return 0;
    if (si->console.domU.evtchn == 0)
        return -XEN_ENODEV;
    rc = events_setup();
    if (rc < 0)
        return rc;
    rc = set_kernel_pte((unsigned long)console_page,
                        MFN_PTE(si->console.domU.mfn, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D),
                        UVMF_INVLPG);
    if (rc < 0)
        return rc;
    rc = evtchn_attach(si->console.domU.evtchn, NULL, NULL);
    if (rc < 0)
        return rc;
    cons_port = si->console.domU.evtchn;
    cons = (volatile struct xencons_interface *)console_page;
    console_set_sink(&ring_sink);
    return 0;
}

bool cons_ring_ready(void)
{
    return cons != NULL && !broken;
}

evtchn_port_t cons_ring_evtchn(void)
{
    return cons_port;
}

static bool out_room(void *arg)
{
    (void)arg;
    return cons->out_prod - READ_ONCE(cons->out_cons) < XENCONS_OUT_SIZE;
}

void cons_ring_write(const char *s, size_t n)
{
    bool unsent = false;

    while (n > 0 && !broken) {
        XENCONS_RING_IDX prod = cons->out_prod;
        XENCONS_RING_IDX c = READ_ONCE(cons->out_cons);
        uint32_t space, chunk, off;

        if (prod - c > XENCONS_OUT_SIZE) {
            ring_broken("out", prod, c);
            break;
        }
        space = XENCONS_OUT_SIZE - (prod - c);
        if (space == 0) {
            if (unsent)
                notify();
            unsent = false;
            cons_ring_stats.out_full_waits++;
            wait_event_port(cons_port, out_room, NULL);
            continue;
        }
        off = MASK_XENCONS_IDX(prod, cons->out);
        chunk = n < space ? (uint32_t)n : space;
        if (chunk > XENCONS_OUT_SIZE - off)
            chunk = XENCONS_OUT_SIZE - off;
        mb();                   /* out_cons is read before the slots it frees are reused */
        memcpy((char *)&cons->out[off], s, chunk);
        wmb();                  /* the data is in place before the index exposing it */
        cons->out_prod = prod + chunk;
        cons_ring_stats.out_bytes += chunk;
        unsent = true;
        s += chunk;
        n -= chunk;
    }
    if (unsent)
        notify();
    if (n > 0)
        console_io_write(s, n); /* the ring broke under us */
}

bool cons_ring_sync(void)
{
    uint64_t deadline;

    if (cons == NULL || broken)
        return true;
    deadline = time_now_ns() + CONS_RING_SYNC_NS;
    for (;;) {
        evtchn_clear(cons_port);
        mb();
        if (READ_ONCE(cons->out_cons) == cons->out_prod)
            return true;
        if (time_now_ns() >= deadline)
            return false;
        if (evtchn_poll(cons_port, deadline) < 0)
            return false;
    }
}

static bool in_ready(void *arg)
{
    (void)arg;
    return broken || READ_ONCE(cons->in_prod) != cons->in_cons;
}

size_t cons_ring_read(char *buf, size_t n)
{
    XENCONS_RING_IDX c, prod;
    size_t got = 0;

    if (cons == NULL || broken || n == 0)
        return 0;
    for (;;) {
        c = cons->in_cons;
        prod = READ_ONCE(cons->in_prod);
        rmb();                  /* the data is read after the index exposing it */
        if (prod - c > XENCONS_IN_SIZE) {
            ring_broken("in", prod, c);
            return 0;
        }
        if (prod != c)
            break;
        cons_ring_stats.in_waits++;
        wait_event_port(cons_port, in_ready, NULL);
        if (broken)
            return 0;
    }
    while (c != prod && got < n)
        buf[got++] = cons->in[MASK_XENCONS_IDX(c++, cons->in)];
    mb();                       /* the data is copied out before its slots are freed */
    cons->in_cons = c;
    cons_ring_stats.in_bytes += got;
    notify();                   /* the backend may be waiting for room */
    return got;
}

int cons_ring_getc(void)
{
    char c;

    if (cons_ring_read(&c, 1) != 1)
        return -1;
    return (unsigned char)c;
}

size_t cons_ring_readline(char *buf, size_t size)
{
    size_t len = 0;
    int c;

    for (;;) {
        c = cons_ring_getc();
        if (c < 0)
            break;
        if (c == '\n' && last_cr && len == 0) {
            last_cr = false;    /* the '\n' of a "\r\n" */
            continue;
        }
        last_cr = c == '\r';
        if (c == '\n' || c == '\r')
            break;
        if (len + 1 < size)
            buf[len++] = (char)c;
    }
    if (size > 0)
        buf[len] = 0;
    return len;
}

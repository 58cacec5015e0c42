/*
 * echofront: the example device's frontend (examples/echodev), a PV guest kernel built with
 * pvsim's guest library out of the tree (see Makefile: it includes guests/sdk.mk).
 *
 * It finds device/echo/<devid>, does the xenbus handshake (InitWait: read the backend's
 * features; grant the ring, allocate an event channel, write ring-ref and event-channel,
 * Initialised; Connected), then sends n requests (command line n=, default 100), keeping at
 * most qd= (default 8) in flight: ECHO requests with inline data, and SUM requests over a
 * granted page when the backend offers feature-sum. Every response is checked; it prints
 * "echofront: sent N answered N errors E" and powers off. type= names another device type
 * (device/<type>/<devid>), for testing other backends of the same protocol.
 */
#include <pvsim/cmdline.h>
#include <pvsim/console.h>
#include <pvsim/cons_ring.h>
#include <pvsim/events.h>
#include <pvsim/gnttab.h>
#include <pvsim/mm.h>
#include <pvsim/pv.h>
#include <pvsim/sched.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include <pvsim/xenbus_front.h>
#include "echoif.h"

#define BACKEND_TIMEOUT_NS (10ULL * 1000 * 1000 * 1000)

static const char *step = "starting";
static char backend_dir[64];
static struct xenbus_front xb = {
    .name = "echofront",
    .type = "echo", /* or the command line's type= */
    .step = &step,
    .backend = backend_dir,
    .backend_size = sizeof(backend_dir),
};

static volatile struct echoif_sring *ring;
static RING_IDX req_prod_pvt, rsp_cons;
static evtchn_port_t port;
static uint8_t *data_page;
static int data_ref;

static void on_event(evtchn_port_t p, void *arg)
{
    (void)p;
    (void)arg; /* the wait below looks at the ring itself */
}

static bool responses_or_final_check(void *arg)
{
    bool more;
    (void)arg;
    PVSIM_RING_FINAL_CHECK_FOR_RESPONSES(ring, rsp_cons, more);
    return more;
}

static void fail(int rc)
{
    printf("echofront: %s: %d (%s)\n", step, rc, xen_errstr(rc));
    xen_shutdown(SHUTDOWN_crash);
}

static int connect(void)
{
    unsigned long v;
    int rc, ref;

    step = "xenstore";
    if ((rc = xenbus_setup()) < 0)
        return rc;
    /* printf on the console ring from here (what `xl console` shows); console_io if none. */
    (void)cons_ring_setup();
    if ((rc = xenbus_front_find(&xb, -1)) < 0 || (rc = xenbus_front_watch(&xb)) < 0)
        return rc;
    step = "waiting for the backend's InitWait";
    if ((rc = xenbus_front_wait(&xb, XenbusStateInitWait, BACKEND_TIMEOUT_NS, false)) < 0)
        return rc;
    step = "reading max-len";
    if ((rc = xenbus_front_read_backend_ulong(&xb, "max-len", &v)) < 0)
        return rc;
    if (v != ECHOIF_MAX_INLINE)
        printf("echofront: backend max-len %lu\n", v);

    mm_init();
    gnttab_init();
    step = "setting up the ring";
    ring = pfn_to_virt(page_alloc());
    data_page = pfn_to_virt(page_alloc());
    if (ring == NULL || data_page == NULL)
        return -XEN_ENOMEM;
    memset((void *)ring, 0, PAGE_SIZE);
    PVSIM_SHARED_RING_INIT(ring);
    ref = gnttab_grant_access(xb.backend_id, virt_to_mfn((const void *)ring), false);
    if (ref < 0)
        return ref;
    for (unsigned int i = 0; i < PAGE_SIZE; i++)
        data_page[i] = (uint8_t)(i * 7 + 3);
    data_ref = gnttab_grant_access(xb.backend_id, virt_to_mfn(data_page), true);
    if (data_ref < 0)
        return data_ref;
    if ((rc = evtchn_alloc_unbound(xb.backend_id, on_event, NULL, &port)) < 0)
        return rc;

    step = "writing ring-ref, event-channel, state";
    {
        const struct xenbus_front_key keys[] = {
            { "ring-ref", NULL, (unsigned long)ref },
            { "event-channel", NULL, port },
        };
        if ((rc = xenbus_front_write_keys_tx(&xb, keys, 2)) < 0 ||
            (rc = xenbus_front_switch(&xb, XenbusStateInitialised)) < 0)
            return rc;
    }
    step = "waiting for the backend's Connected";
    if ((rc = xenbus_front_wait(&xb, XenbusStateConnected, BACKEND_TIMEOUT_NS, false)) < 0)
        return rc;
    step = "writing state Connected";
    return xenbus_front_switch(&xb, XenbusStateConnected);
}

static uint32_t expected_sum(unsigned int len)
{
    uint32_t s = 0;
    for (unsigned int i = 0; i < len; i++)
        s += data_page[i];
    return s;
}

void start_kernel(struct start_info *si)
{
    unsigned long n = cmdline_get_ulong("n", 100), qd = cmdline_get_ulong("qd", 8);
    unsigned long sent = 0, answered = 0, errors = 0;
    bool sum;
    unsigned long v;
    int rc;

    (void)si;
    if (cmdline_get("type") != NULL)
        xb.type = cmdline_get("type");
    if (qd < 1 || qd > ECHOIF_RING_SIZE)
        qd = 8;
    if ((rc = connect()) < 0)
        fail(rc);
    sum = xenbus_front_read_backend_ulong(&xb, "feature-sum", &v) >= 0 && v == 1;
    printf("echofront: connected, ring-size %u, feature-sum %d\n", ECHOIF_RING_SIZE, sum);

    step = "serving";
    while (answered < n) {
        bool notify;

        while (sent < n && req_prod_pvt - rsp_cons < qd) {
            volatile struct echoif_request *req = &ring->ring[req_prod_pvt & (ECHOIF_RING_SIZE - 1)].req;
            req->id = (uint32_t)sent;
            if (sum && sent % 2 == 1) {
                req->op = ECHOIF_OP_SUM;
                req->len = (uint16_t)(1 + (sent * 37) % PAGE_SIZE);
                req->gref = (uint32_t)data_ref;
            } else {
                req->op = ECHOIF_OP_ECHO;
                req->len = (uint16_t)(1 + sent % ECHOIF_MAX_INLINE);
                req->gref = 0;
                for (unsigned int i = 0; i < ECHOIF_MAX_INLINE; i++)
                    req->data[i] = (uint8_t)('a' + (sent + i) % 26);
            }
            req_prod_pvt++;
            sent++;
        }
        PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(ring, req_prod_pvt, notify);
        if (notify)
            evtchn_send(port);

        wait_event(responses_or_final_check, NULL);
        {
            RING_IDX prod = READ_ONCE(ring->rsp_prod);
            rmb(); /* the responses are read after rsp_prod */
            if ((RING_IDX)(prod - rsp_cons) > (RING_IDX)(req_prod_pvt - rsp_cons)) {
                printf("echofront: backend published rsp_prod %lu past the %lu requests outstanding\n",
                       (unsigned long)prod, (unsigned long)(req_prod_pvt - rsp_cons));
                xen_shutdown(SHUTDOWN_crash);
            }
            for (; rsp_cons != prod; rsp_cons++) {
                struct echoif_response rsp = ring->ring[rsp_cons & (ECHOIF_RING_SIZE - 1)].rsp;
                bool ok = rsp.status == ECHOIF_RSP_OKAY && rsp.id < sent;
                if (ok && rsp.id % 2 == 1 && sum) {
                    ok = rsp.value == expected_sum(1 + (rsp.id * 37) % PAGE_SIZE);
                } else if (ok) {
                    ok = rsp.len == 1 + rsp.id % ECHOIF_MAX_INLINE;
                    for (unsigned int i = 0; ok && i < rsp.len; i++)
                        ok = rsp.data[i] == (uint8_t)('A' + (rsp.id + i) % 26);
                }
                if (!ok) {
                    if (errors < 5)
                        printf("echofront: bad response id %lu status %d\n", (unsigned long)rsp.id, rsp.status);
                    errors++;
                }
                answered++;
            }
        }
    }
    printf("echofront: sent %lu answered %lu errors %lu\n", sent, answered, errors);
    xenbus_front_close(&xb);
    xen_shutdown(SHUTDOWN_poweroff);
}

/*
 * work=evtchn-ping: event-channel ping-pong, N round trips (n=, default 1000).
 *
 * The two domains meet without xenstore:
 *   role=server peer=<domid>          allocates an unbound port for the peer
 *                                     first thing (the lowest free: 1, or 3
 *                                     when the domain builder gave the domain
 *                                     xenstore and console ports), then
 *                                     answers each event with one.
 *   role=client peer=<domid> [port=P] retries EVTCHNOP_bind_interdomain
 *                                     (SCHEDOP_yield between tries, at most
 *                                     retries=R, default 100000) until the
 *                                     server's port exists, then sends and
 *                                     waits for each answer. Without port=
 *                                     it looks for the server's port: the
 *                                     one of ports 1..32 it may bind to.
 *   role=loopback                     both ends in this domain (DOMID_SELF).
 * Both sides need the same n. Xen notifies a port right after
 * bind_interdomain (a notification the unbound end may have missed); the
 * binding side drops that one before it starts counting.
 */
#include <pvsim/events.h>
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/hypercall.h>
#include "work.h"

void count_event(evtchn_port_t port, void *data)
{
    (void)port;
    (*(volatile unsigned long *)data)++;
}

void drain_bind_event(evtchn_port_t port, volatile unsigned long *count)
{
    local_irq_disable();
    evtchn_clear(port);
    *count = 0;
    local_irq_enable();
}

domid_t own_domid(void)
{
    struct evtchn_status st;
    evtchn_port_t port;
    domid_t self = param_domid("self", DOMID_INVALID);
    int rc;

    if (self != DOMID_INVALID && self != DOMID_SELF)
        return self;
    /* A port allocated for DOMID_SELF names us as its remote end. */
    events_init();
    rc = evtchn_alloc_unbound(DOMID_SELF, NULL, NULL, &port);
    if (rc == 0) {
        rc = evtchn_status(DOMID_SELF, port, &st);
        (void)evtchn_close(port);
        if (rc == 0 && st.status == EVTCHNSTAT_unbound && st.u.unbound.dom < DOMID_FIRST_RESERVED)
            return st.u.unbound.dom;
    }
    work_fail("cannot tell our own domain id (EVTCHNOP_status: %d (%s)); give self=<domid>", rc,
              xen_errstr(rc));
}

static void ev_check(int rc, const char *what)
{
    if (rc < 0)
        work_fail("%s = %d (%s)", what, rc, xen_errstr(rc));
}

unsigned long bind_with_retry(domid_t peer, evtchn_port_t *remote_port, evtchn_handler_t fn,
                              void *data, evtchn_port_t *local)
{
    unsigned long retries = param("retries", 100000);
    evtchn_port_t first = *remote_port, last = *remote_port;
    unsigned long tries = 0;
    int rc = 0;

    if (first == 0) {
        first = 1;
        last = BIND_PROBE_PORTS;
    }
    for (;;) {
        tries++;
        for (evtchn_port_t p = first; p <= last; p++) {
            rc = evtchn_bind_interdomain(peer, p, fn, data, local);
            if (rc == 0) {
                *remote_port = p;
                return tries;
            }
        }
        if (tries > retries)
            work_fail("EVTCHNOP_bind_interdomain(dom %u, port %lu%s%lu) = %d (%s) after %lu tries",
                      peer, (unsigned long)first, first == last ? "" : "..",
                      first == last ? 0UL : (unsigned long)last, rc, xen_errstr(rc), tries);
        (void)sched_yield();
    }
}

static void server(unsigned long n)
{
    domid_t peer = param_domid("peer", DOMID_INVALID);
    static volatile unsigned long events;
    evtchn_port_t port;
    struct measure m;

    if (peer == DOMID_INVALID)
        work_fail("role=server needs peer=<domid>");
    events_init();
    ev_check(evtchn_alloc_unbound(peer, count_event, (void *)&events, &port),
             "EVTCHNOP_alloc_unbound");
    printf("evtchn-ping: server port %lu open for domain %u\n", (unsigned long)port, peer);
    WAIT_EVENT_UNTIL(events > 0);
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        WAIT_EVENT_UNTIL(events > i);
        ev_check(evtchn_send(port), "EVTCHNOP_send");
    }
    measure_stop(&m);
    printf("work=evtchn-ping role=server peer=%u port=%lu n=%lu events=%lu instructions=%llu ns=%llu\n",
           peer, (unsigned long)port, n, events, (unsigned long long)m.instructions,
           (unsigned long long)m.ns);
}

static void client(unsigned long n)
{
    domid_t peer = param_domid("peer", DOMID_INVALID);
    evtchn_port_t remote = (evtchn_port_t)param("port", 0);
    static volatile unsigned long events;
    evtchn_port_t port;
    unsigned long tries;
    struct measure m;

    if (peer == DOMID_INVALID)
        work_fail("role=client needs peer=<domid>");
    events_init();
    tries = bind_with_retry(peer, &remote, count_event, (void *)&events, &port);
    drain_bind_event(port, &events);
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        ev_check(evtchn_send(port), "EVTCHNOP_send");
        WAIT_EVENT_UNTIL(events > i);
    }
    measure_stop(&m);
    printf("work=evtchn-ping role=client peer=%u port=%lu local_port=%lu n=%lu round_trips=%lu "
           "bind_tries=%lu instructions=%llu ns=%llu ns_per_rt=%llu\n",
           peer, (unsigned long)remote, (unsigned long)port, n, events, tries,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n));
}

static void loopback(unsigned long n)
{
    static volatile unsigned long events_a, events_b;
    evtchn_port_t a, b;
    struct measure m;

    events_init();
    ev_check(evtchn_alloc_unbound(DOMID_SELF, count_event, (void *)&events_a, &a),
             "EVTCHNOP_alloc_unbound(DOMID_SELF)");
    ev_check(evtchn_bind_interdomain(DOMID_SELF, a, count_event, (void *)&events_b, &b),
             "EVTCHNOP_bind_interdomain(DOMID_SELF)");
    drain_bind_event(b, &events_b);
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        ev_check(evtchn_send(b), "EVTCHNOP_send");     /* notifies a */
        WAIT_EVENT_UNTIL(events_a > i);
        ev_check(evtchn_send(a), "EVTCHNOP_send");     /* notifies b */
        WAIT_EVENT_UNTIL(events_b > i);
    }
    measure_stop(&m);
    ev_check(evtchn_close(b), "EVTCHNOP_close");
    ev_check(evtchn_close(a), "EVTCHNOP_close");
    printf("work=evtchn-ping role=loopback ports=%lu,%lu n=%lu round_trips=%lu instructions=%llu "
           "ns=%llu ns_per_rt=%llu\n",
           (unsigned long)a, (unsigned long)b, n, events_b, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, n));
}

void work_evtchn_ping(void)
{
    const char *role = cmdline_get("role");
    unsigned long n = param("n", 1000);

    if (role != NULL && strcmp(role, "server") == 0)
        server(n);
    else if (role != NULL && strcmp(role, "client") == 0)
        client(n);
    else if (role != NULL && strcmp(role, "loopback") == 0)
        loopback(n);
    else
        work_fail("role=server|client|loopback expected");
}

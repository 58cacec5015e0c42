/*
 * work=grant: grant-table round trips between two domains, N rounds (n=,
 * default 1000; both sides need the same n).
 *
 *   role=granter peer=<domid>
 *       allocates the event-channel port first (the lowest free), sets up its grant
 *       table, grants a data page read-only (gref 8, the first non-reserved)
 *       and a reply page writable (gref 9), then per round: waits for the
 *       mapper's event, checks the reply, writes the next round's pattern
 *       and answers with an event. At the end both grants must end cleanly.
 *   role=mapper peer=<domid> gref=8 [port=P] [reply_gref=gref+1] [reply=copy|map]
 *       binds to the port (retrying; without port=, to whichever of the
 *       granter's ports 1..32 is unbound for it), then per round: maps gref read-only
 *       (retrying, first round only, while the grant does not exist yet),
 *       checks the whole page, writes the reply (GNTTABOP_copy into
 *       reply_gref, or through a writable mapping of it), unmaps, sends an
 *       event and waits for the answer.
 *   role=loopback [self=<domid>] [reply=copy|map]
 *       both sides in this domain, without events.
 */
#include <pvsim/gnttab.h>
#include <pvsim/mm.h>
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/hypercall.h>
#include "work.h"

#define REPLY_MAGIC 0x5245504CU     /* "REPL" */
#define PAGE_WORDS  (PAGE_SIZE / 4)

static uint32_t pattern(unsigned long round, unsigned int w)
{
    return (w * 2654435761U) ^ ((uint32_t)round * 0x9E3779B9U) ^ 0x47524E54U;
}

static void fill(volatile uint32_t *p, unsigned long round)
{
    for (unsigned int w = 0; w < PAGE_WORDS; w++)
        p[w] = pattern(round, w);
}

/* Checks a page of pattern(round); returns its word sum. */
static uint32_t verify(const volatile uint32_t *p, unsigned long round)
{
    uint32_t sum = 0;

    for (unsigned int w = 0; w < PAGE_WORDS; w++) {
        uint32_t v = p[w];
        if (v != pattern(round, w))
            work_fail("round %lu: word %u of the granted page is 0x%08lx, expected 0x%08lx",
                      round, w, (unsigned long)v, (unsigned long)pattern(round, w));
        sum += v;
    }
    return sum;
}

static uint32_t expected_sum(unsigned long round)
{
    uint32_t sum = 0;

    for (unsigned int w = 0; w < PAGE_WORDS; w++)
        sum += pattern(round, w);
    return sum;
}

static void check_reply(const volatile uint32_t *r, unsigned long round)
{
    if (r[0] != REPLY_MAGIC || r[1] != round || r[2] != expected_sum(round))
        work_fail("round %lu: reply page holds {0x%08lx, %lu, 0x%08lx}, expected {0x%08lx, %lu, 0x%08lx}",
                  round, (unsigned long)r[0], (unsigned long)r[1], (unsigned long)r[2],
                  (unsigned long)REPLY_MAGIC, round, (unsigned long)expected_sum(round));
}

static bool reply_by_copy(void)
{
    const char *how = cmdline_get("reply");

    if (how == NULL || strcmp(how, "copy") == 0)
        return true;
    if (strcmp(how, "map") != 0)
        work_fail("reply=%s: expected copy or map", how);
    return false;
}

/* A kernel-addressable page of our own: (pfn, mfn, va). */
struct own_page {
    xen_pfn_t pfn, mfn;
    volatile uint32_t *va;
};

static void own_page_alloc(struct own_page *p)
{
    p->pfn = page_alloc();
    p->mfn = pfn_to_mfn(p->pfn);
    p->va = pfn_to_virt(p->pfn);
    if (p->va == NULL)
        work_fail("no physmap page left for a shared page");
    memset((void *)p->va, 0, PAGE_SIZE);
}

/* Sets the granter-side state: data page (round 0) and reply page granted to peer. */
static void grant_pages(domid_t peer, struct own_page *data, struct own_page *reply,
                        int *gref_data, int *gref_reply)
{
    gnttab_init();
    own_page_alloc(data);
    own_page_alloc(reply);
    fill(data->va, 0);
    *gref_data = gnttab_grant_access(peer, data->mfn, true);
    *gref_reply = gnttab_grant_access(peer, reply->mfn, false);
    if (*gref_data < 0 || *gref_reply < 0)
        work_fail("gnttab_grant_access = %d, %d", *gref_data, *gref_reply);
}

static void end_grants(int gref_data, int gref_reply)
{
    int rc1 = gnttab_free_access((grant_ref_t)gref_data);
    int rc2 = gnttab_free_access((grant_ref_t)gref_reply);

    if (rc1 < 0 || rc2 < 0)
        work_fail("ending the grants: gref %d: %d (%s), gref %d: %d (%s) (still mapped?)",
                  gref_data, rc1, xen_errstr(rc1), gref_reply, rc2, xen_errstr(rc2));
}

/* The mapper's side of one round: map, check, reply, unmap. Returns the
 * number of map attempts. */
static unsigned long mapper_round(domid_t peer, grant_ref_t gref, grant_ref_t reply_gref,
                                  unsigned long round, bool by_copy, void *va,
                                  struct own_page *scratch, unsigned long retries)
{
    grant_handle_t handle, reply_handle;
    unsigned long tries = 0;
    uint32_t sum;
    int rc, st;

    for (;;) {
        tries++;
        rc = gnttab_map(peer, gref, va, true, &handle, &st);
        if (rc == 0 && st == GNTST_okay)
            break;
        if (round > 0 || tries > retries)
            work_fail("round %lu: GNTTABOP_map_grant_ref(dom %u, gref %lu) = %d (%s), status %d (%s) after %lu tries",
                      round, peer, (unsigned long)gref, rc, xen_errstr(rc), st, gntst_name(st), tries);
        (void)sched_yield();
    }
    sum = verify(va, round);

    if (by_copy) {
        struct gnttab_copy op = {
            .source = { .u.gmfn = scratch->mfn, .domid = DOMID_SELF, .offset = 0 },
            .dest = { .u.ref = reply_gref, .domid = peer, .offset = 0 },
            .len = 12,
            .flags = GNTCOPY_dest_gref,
        };
        scratch->va[0] = REPLY_MAGIC;
        scratch->va[1] = (uint32_t)round;
        scratch->va[2] = sum;
        rc = gnttab_copy(&op, 1);
        if (rc < 0 || op.status != GNTST_okay)
            work_fail("round %lu: GNTTABOP_copy(to dom %u gref %lu) = %d (%s), status %d (%s)",
                      round, peer, (unsigned long)reply_gref, rc, xen_errstr(rc), op.status,
                      gntst_name(op.status));
    } else {
        void *rva = kmap_va();
        volatile uint32_t *r = rva;
        rc = gnttab_map(peer, reply_gref, rva, false, &reply_handle, &st);
        if (rc < 0 || st != GNTST_okay)
            work_fail("round %lu: GNTTABOP_map_grant_ref(dom %u, gref %lu, writable) = %d (%s), status %d (%s)",
                      round, peer, (unsigned long)reply_gref, rc, xen_errstr(rc), st, gntst_name(st));
        r[0] = REPLY_MAGIC;
        r[1] = (uint32_t)round;
        r[2] = sum;
        rc = gnttab_unmap(rva, reply_handle, &st);
        if (rc < 0 || st != GNTST_okay)
            work_fail("round %lu: GNTTABOP_unmap_grant_ref(reply) = %d (%s), status %d (%s)",
                      round, rc, xen_errstr(rc), st, gntst_name(st));
        kmap_va_free(rva);
    }

    rc = gnttab_unmap(va, handle, &st);
    if (rc < 0 || st != GNTST_okay)
        work_fail("round %lu: GNTTABOP_unmap_grant_ref = %d (%s), status %d (%s)", round, rc,
                  xen_errstr(rc), st, gntst_name(st));
    return tries;
}

static void granter(unsigned long n)
{
    domid_t peer = param_domid("peer", DOMID_INVALID);
    static volatile unsigned long events;
    struct own_page data, reply;
    int gref_data, gref_reply;
    evtchn_port_t port;
    struct measure m;
    int rc;

    if (peer == DOMID_INVALID)
        work_fail("role=granter needs peer=<domid>");
    mm_init();
    events_init();
    rc = evtchn_alloc_unbound(peer, count_event, (void *)&events, &port);
    if (rc < 0)
        work_fail("EVTCHNOP_alloc_unbound = %d (%s)", rc, xen_errstr(rc));
    grant_pages(peer, &data, &reply, &gref_data, &gref_reply);
    printf("grant: granter gref %d (data, read-only) and gref %d (reply) for domain %u, port %lu\n",
           gref_data, gref_reply, peer, (unsigned long)port);
    WAIT_EVENT_UNTIL(events > 0);
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        WAIT_EVENT_UNTIL(events > i);
        check_reply(reply.va, i);
        fill(data.va, i + 1);
        rc = evtchn_send(port);
        if (rc < 0)
            work_fail("EVTCHNOP_send = %d (%s)", rc, xen_errstr(rc));
    }
    measure_stop(&m);
    end_grants(gref_data, gref_reply);
    printf("work=grant role=granter peer=%u port=%lu gref=%d reply_gref=%d n=%lu rounds=%lu "
           "instructions=%llu ns=%llu ns_per_op=%llu\n",
           peer, (unsigned long)port, gref_data, gref_reply, n, n,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n));
}

static void mapper(unsigned long n)
{
    domid_t peer = param_domid("peer", DOMID_INVALID);
    grant_ref_t gref = (grant_ref_t)param("gref", GNTTAB_NR_RESERVED_ENTRIES);
    grant_ref_t reply_gref = (grant_ref_t)param("reply_gref", gref + 1);
    evtchn_port_t remote = (evtchn_port_t)param("port", 0);
    unsigned long retries = param("retries", 100000);
    bool by_copy = reply_by_copy();
    static volatile unsigned long events;
    unsigned long bind_tries, map_tries = 0;
    struct own_page scratch;
    evtchn_port_t port;
    struct measure m;
    void *va;
    int rc;

    if (peer == DOMID_INVALID)
        work_fail("role=mapper needs peer=<domid>");
    mm_init();
    events_init();
    bind_tries = bind_with_retry(peer, &remote, count_event, (void *)&events, &port);
    drain_bind_event(port, &events);
    own_page_alloc(&scratch);
    va = kmap_va();
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        map_tries += mapper_round(peer, gref, reply_gref, i, by_copy, va, &scratch, retries);
        rc = evtchn_send(port);
        if (rc < 0)
            work_fail("EVTCHNOP_send = %d (%s)", rc, xen_errstr(rc));
        WAIT_EVENT_UNTIL(events > i);
    }
    measure_stop(&m);
    kmap_va_free(va);
    printf("work=grant role=mapper peer=%u port=%lu gref=%lu reply_gref=%lu reply=%s n=%lu ops=%lu "
           "bind_tries=%lu map_tries=%lu instructions=%llu ns=%llu ns_per_op=%llu\n",
           peer, (unsigned long)remote, (unsigned long)gref, (unsigned long)reply_gref,
           by_copy ? "copy" : "map", n, n, bind_tries, map_tries,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n));
}

static void loopback(unsigned long n)
{
    bool by_copy = reply_by_copy();
    domid_t self;
    struct own_page data, reply, scratch;
    int gref_data, gref_reply;
    struct measure m;
    void *va;

    mm_init();
    self = own_domid();
    grant_pages(self, &data, &reply, &gref_data, &gref_reply);
    own_page_alloc(&scratch);
    va = kmap_va();
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        (void)mapper_round(self, (grant_ref_t)gref_data, (grant_ref_t)gref_reply, i, by_copy, va,
                           &scratch, 0);
        check_reply(reply.va, i);
        fill(data.va, i + 1);
    }
    measure_stop(&m);
    kmap_va_free(va);
    end_grants(gref_data, gref_reply);
    printf("work=grant role=loopback self=%u gref=%d reply_gref=%d reply=%s n=%lu ops=%lu "
           "instructions=%llu ns=%llu ns_per_op=%llu\n",
           self, gref_data, gref_reply, by_copy ? "copy" : "map", n, n,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n));
}

void work_grant(void)
{
    const char *role = cmdline_get("role");
    unsigned long n = param("n", 1000);

    if (role != NULL && strcmp(role, "granter") == 0)
        granter(n);
    else if (role != NULL && strcmp(role, "mapper") == 0)
        mapper(n);
    else if (role != NULL && strcmp(role, "loopback") == 0)
        loopback(n);
    else
        work_fail("role=granter|mapper|loopback expected");
}

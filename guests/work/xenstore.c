/*
 * work=xenstore n=N: N XS_WRITE + XS_READ pairs of a small value under the
 * domain's data/ directory, each read checked against what was written.
 * Needs xenstore (start_info.store_evtchn != 0). Before the measured part
 * it checks the client end to end (skip with `nocheck`): domain path,
 * error mapping, directories, a value larger than the ring, watches (and
 * that a callback cannot issue requests), a transaction, removal. With
 * console=ring its output goes through the console ring.
 *
 * work=console n=N [len=L]: N lines of L characters (default 100 x 60)
 * through the console ring, which they overflow: the writer waits for the
 * backend. Prints the ring's counters.
 */
#include <pvsim/xenbus.h>
#include <pvsim/cons_ring.h>
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include "work.h"

#define BIG_VALUE 1800          /* > XENSTORE_RING_SIZE, < xenstored's entry quota */

static void need_xenstore(void)
{
    const char *console = cmdline_get("console");
    int rc = xenbus_setup();

    if (rc == -XEN_ENODEV)
        work_fail("no xenstore (start_info.store_evtchn is 0)");
    if (rc < 0)
        work_fail("xenbus_setup = %d (%s)", rc, xen_errstr(rc));
    if (console != NULL && strcmp(console, "ring") == 0) {
        rc = cons_ring_setup();
        if (rc < 0)
            work_fail("cons_ring_setup = %d (%s)", rc, xen_errstr(rc));
    }
}

#define CHECK_RC(what, rc, want)                                                        \
    do {                                                                                \
        int rc_ = (rc);                                                                 \
        if (rc_ != (want))                                                              \
            work_fail("%s = %d (%s), expected %d (%s)", what, rc_, xen_errstr(rc_),     \
                      (int)(want), xen_errstr(want));                                   \
    } while (0)

struct watch_log {
    volatile unsigned int events;
    char path[64];
    char token[XS_TOKEN_MAX];
    int nested_rc;              /* what an xs_read from the callback returned */
};

static void watch_cb(const char *path, const char *token, void *data)
{
    struct watch_log *w = data;
    char buf[8];

    strncpy(w->path, path, sizeof(w->path) - 1);
    strncpy(w->token, token, sizeof(w->token) - 1);
    w->nested_rc = xs_read(XBT_NIL, "domid", buf, sizeof(buf));
    w->events++;
}

struct tx_arg {
    unsigned int runs;
};

/* data/wx/c = data/wx/a + 1, inside the transaction. */
static int tx_body(xs_transaction_t tx, void *arg)
{
    struct tx_arg *t = arg;
    unsigned long a;
    char val[16];
    int rc;

    t->runs++;
    rc = xs_read_ulong(tx, "data/wx/a", &a);
    if (rc < 0)
        return rc;
    snprintf(val, sizeof(val), "%lu", a + 1);
    return xs_write(tx, "data/wx/c", val);
}

static void checks(void)
{
    static char big[BIG_VALUE + 1], back[BIG_VALUE + 16];
    static struct watch_log w;
    char buf[64], want[32];
    struct tx_arg t = { 0 };
    unsigned int tries = 0, seen;
    unsigned long c;
    domid_t domid;
    int rc;

    CHECK_RC("xs_domid", xs_domid(&domid), 0);
    rc = xs_get_domain_path(domid, buf, sizeof(buf));
    snprintf(want, sizeof(want), "/local/domain/%u", (unsigned int)domid);
    if (rc < 0 || strcmp(buf, want) != 0)
        work_fail("xs_get_domain_path(%u) = %d (%s) \"%s\", expected \"%s\"", (unsigned int)domid,
                  rc, xen_errstr(rc), rc < 0 ? "" : buf, want);

    CHECK_RC("xs_read(data/wx-missing)", xs_read(XBT_NIL, "data/wx-missing", buf, sizeof(buf)),
             -XEN_ENOENT);
    CHECK_RC("xs_mkdir(data/wx)", xs_mkdir(XBT_NIL, "data/wx"), 0);
    CHECK_RC("xs_write(data/wx/a)", xs_write(XBT_NIL, "data/wx/a", "41"), 0);
    CHECK_RC("xs_write(data/wx/b)", xs_write(XBT_NIL, "data/wx/b", "12345"), 0);
    CHECK_RC("xs_read(data/wx/b, 4 bytes)", xs_read(XBT_NIL, "data/wx/b", buf, 4), -XEN_ERANGE);
    rc = xs_directory(XBT_NIL, "data/wx", buf, sizeof(buf));
    if (rc != 2 || !((strcmp(buf, "a") == 0 && strcmp(buf + 2, "b") == 0) ||
                     (strcmp(buf, "b") == 0 && strcmp(buf + 2, "a") == 0)))
        work_fail("xs_directory(data/wx) = %d (%s), expected a and b", rc, xen_errstr(rc));

    /* A value larger than either ring: the request and the reply wrap. */
    for (unsigned int i = 0; i < BIG_VALUE; i++)
        big[i] = (char)('a' + (i * 7 + i / 26) % 26);
    CHECK_RC("xs_write(data/wx/big)", xs_write(XBT_NIL, "data/wx/big", big), 0);
    rc = xs_read(XBT_NIL, "data/wx/big", back, sizeof(back));
    if (rc != BIG_VALUE || memcmp(back, big, BIG_VALUE) != 0)
        work_fail("xs_read(data/wx/big) = %d (%s), or the %u bytes differ", rc, xen_errstr(rc),
                  BIG_VALUE);

    /* Watches: one event on registration, one per change below the path. */
    CHECK_RC("xs_watch(data/wx)", xs_watch("data/wx", "wx-token", watch_cb, &w), 0);
    WAIT_EVENT_UNTIL(w.events >= 1);
    if (strcmp(w.token, "wx-token") != 0)
        work_fail("watch event with token \"%s\"", w.token);
    if (w.nested_rc != -XEN_EDEADLK)
        work_fail("xs_read from a watch callback = %d (%s), expected EDEADLK", w.nested_rc,
                  xen_errstr(w.nested_rc));
    seen = w.events;
    CHECK_RC("xs_write(data/wx/a)", xs_write(XBT_NIL, "data/wx/a", "42"), 0);
    WAIT_EVENT_UNTIL(w.events > seen);
    if (strcmp(w.path, "data/wx/a") != 0)
        work_fail("watch event for \"%s\", expected data/wx/a", w.path);
    CHECK_RC("xs_unwatch(data/wx)", xs_unwatch("data/wx", "wx-token"), 0);
    seen = w.events;
    CHECK_RC("xs_write(data/wx/b)", xs_write(XBT_NIL, "data/wx/b", "0"), 0);
    CHECK_RC("xs_read(data/wx/b)", xs_read(XBT_NIL, "data/wx/b", buf, sizeof(buf)), 1);
    if (w.events != seen)
        work_fail("watch event after xs_unwatch (path \"%s\")", w.path);

    /* A transaction, retried while the commit says EAGAIN. */
    CHECK_RC("xs_transaction", xs_transaction(tx_body, &t, &tries), 0);
    CHECK_RC("xs_read_ulong(data/wx/c)", xs_read_ulong(XBT_NIL, "data/wx/c", &c), 0);
    if (c != 43 || t.runs != tries)
        work_fail("transaction: data/wx/c = %lu (expected 43), body ran %u times in %u tries", c,
                  t.runs, tries);

    CHECK_RC("xs_rm(data/wx)", xs_rm(XBT_NIL, "data/wx"), 0);
    CHECK_RC("xs_read(data/wx/a) after rm", xs_read(XBT_NIL, "data/wx/a", buf, sizeof(buf)),
             -XEN_ENOENT);
    printf("xenstore: checks passed: domain path %s, watch events %u, transaction tries %u, "
           "requests %lu, notifies %lu, req_full_waits %lu, reply_waits %lu\n",
           want, w.events, tries, (unsigned long)xs_stats.requests,
           (unsigned long)xs_stats.notifies, (unsigned long)xs_stats.req_full_waits,
           (unsigned long)xs_stats.reply_waits);
}

void work_xenstore(void)
{
    unsigned long n = param("n", 1000);
    char val[16], back[16];
    struct measure m;
    int rc;

    need_xenstore();
    if (!flag("nocheck"))
        checks();
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        int len = snprintf(val, sizeof(val), "v%lu", i);
        rc = xs_write(XBT_NIL, "data/work-xenstore", val);
        if (rc < 0)
            work_fail("xs_write(data/work-xenstore) #%lu = %d (%s)", i, rc, xen_errstr(rc));
        rc = xs_read(XBT_NIL, "data/work-xenstore", back, sizeof(back));
        if (rc != len || strcmp(back, val) != 0)
            work_fail("xs_read(data/work-xenstore) #%lu = %d (%s), expected \"%s\"", i, rc,
                      xen_errstr(rc), val);
    }
    measure_stop(&m);
    printf("work=xenstore n=%lu ops=%lu instructions=%llu ns=%llu ns_per_op=%llu\n", n, 2 * n,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, 2 * (uint64_t)n));
}

void work_console(void)
{
    unsigned long n = param("n", 100);
    unsigned long len = param("len", 60);
    static char line[256];
    struct measure m;
    int rc;

    if (len == 0 || len >= sizeof(line) - 1)
        work_fail("len=%lu: expected 1..%u", len, (unsigned int)sizeof(line) - 2);
    rc = cons_ring_setup();
    if (rc < 0)
        work_fail("cons_ring_setup = %d (%s)", rc, xen_errstr(rc));
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        for (unsigned long j = 0; j < len; j++)
            line[j] = (char)('0' + (i + j) % 10);
        line[len] = '\n';
        console_write(line, len + 1);
    }
    measure_stop(&m);
    printf("work=console n=%lu len=%lu bytes=%lu out_full_waits=%lu notifies=%lu instructions=%llu ns=%llu\n",
           n, len, n * (len + 1), (unsigned long)cons_ring_stats.out_full_waits,
           (unsigned long)cons_ring_stats.notifies, (unsigned long long)m.instructions,
           (unsigned long long)m.ns);
}

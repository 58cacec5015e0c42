/*
 * The frontend half of a xenbus handshake (see pvsim/xenbus_front.h): the
 * xenstore reads, writes, watch and state waits blkfront and netfront share.
 */
#include <pvsim/xenbus_front.h>
#include <pvsim/events.h>
#include <pvsim/time.h>
#include <pvsim/string.h>
#include <pvsim/format.h>
#include <pvsim/console.h>
#include <pvsim/pv.h>
#include <pvsim/xen_errno.h>

static void step(struct xenbus_front *xf, const char *what)
{
    if (xf->step != NULL)
        *xf->step = what;
}

int xenbus_front_find(struct xenbus_front *xf, int devid)
{
    static char names[256];
    char path[64];
    unsigned long v;
    int rc;

    if (devid < 0) {
        snprintf(xf->list_step, sizeof(xf->list_step), "xs_directory(device/%s)", xf->type);
        step(xf, xf->list_step);
        snprintf(path, sizeof(path), "device/%s", xf->type);
        rc = xs_directory(XBT_NIL, path, names, sizeof(names));
        if (rc == -XEN_ENOENT || rc == 0)
            return -XEN_ENODEV;
        if (rc < 0)
            return rc;
        /* The entry's own name is its directory (a devid in decimal, as the toolstack writes). */
        xf->devid = (unsigned int)strtoul(names, NULL, 10);
        snprintf(xf->frontend, sizeof(xf->frontend), "device/%s/%s", xf->type, names);
    } else {
        xf->devid = (unsigned int)devid;
        snprintf(xf->frontend, sizeof(xf->frontend), "device/%s/%u", xf->type, xf->devid);
    }

    step(xf, "reading the frontend's backend");
    snprintf(path, sizeof(path), "%s/backend", xf->frontend);
    rc = xs_read(XBT_NIL, path, xf->backend, xf->backend_size);
    if (rc < 0)
        return rc;
    xf->backend_id = xenbus_front_read_ulong(xf, "backend-id", &v) < 0 ? 0 : (domid_t)v;
    return 0;
}

int xenbus_front_read_ulong(struct xenbus_front *xf, const char *key, unsigned long *v)
{
    char path[96];

    snprintf(path, sizeof(path), "%s/%s", xf->frontend, key);
    return xs_read_ulong(XBT_NIL, path, v);
}

int xenbus_front_read_backend_ulong(struct xenbus_front *xf, const char *key, unsigned long *v)
{
    char path[96];

    snprintf(path, sizeof(path), "%s/%s", xf->backend, key);
    return xs_read_ulong(XBT_NIL, path, v);
}

/* ---- the watch on the backend's state ----------------------------------- */

static void state_watch(const char *path, const char *token, void *data)
{
    struct xenbus_front *xf = data;

    (void)path;
    (void)token;
    xf->watch_events++;
}

static void watch_names(struct xenbus_front *xf, char *path, size_t psize, char *token,
                        size_t tsize)
{
    snprintf(path, psize, "%s/state", xf->backend);
    snprintf(token, tsize, "%s-state", xf->name);
}

int xenbus_front_watch(struct xenbus_front *xf)
{
    char path[96], token[XS_TOKEN_MAX];
    int rc;

    if (xf->watching)
        return 0;
    watch_names(xf, path, sizeof(path), token, sizeof(token));
    step(xf, "watching the backend's state");
    rc = xs_watch(path, token, state_watch, xf);
    if (rc < 0)
        return rc;
    xf->watching = true;
    return 0;
}

void xenbus_front_unwatch(struct xenbus_front *xf)
{
    char path[96], token[XS_TOKEN_MAX];

    if (!xf->watching)
        return;
    watch_names(xf, path, sizeof(path), token, sizeof(token));
    (void)xs_unwatch(path, token);
    xf->watching = false;
}

bool xenbus_front_moved(const struct xenbus_front *xf)
{
    return xf->watching && xf->watch_events != xf->watch_seen;
}

/* ---- the backend's state ------------------------------------------------ */

const char *xenbus_state_name(unsigned long st)
{
    static const char *const names[] = { "Unknown", "Initialising", "InitWait", "Initialised",
                                         "Connected", "Closing", "Closed", "Reconfiguring",
                                         "Reconfigured" };
    return st < PV_ARRAY_SIZE(names) ? names[st] : "?";
}

int xenbus_front_backend_state(struct xenbus_front *xf, unsigned long *st)
{
    char path[96];

    snprintf(path, sizeof(path), "%s/state", xf->backend);
    *st = XenbusStateUnknown;
    return xs_read_ulong(XBT_NIL, path, st);
}

int xenbus_front_look(struct xenbus_front *xf, unsigned long *st)
{
    /* Events up to this read are looked at; a later one is a new hint. */
    xf->watch_seen = xf->watch_events;
    return xenbus_front_backend_state(xf, st);
}

static void report_backend_error(struct xenbus_front *xf)
{
    char path[96], msg[128];

    snprintf(path, sizeof(path), "%s/error", xf->backend);
    if (xs_read(XBT_NIL, path, msg, sizeof(msg)) >= 0)
        printf("%s: backend %s: %s\n", xf->name, xf->backend, msg);
}

int xenbus_front_wait(struct xenbus_front *xf, unsigned long want, uint64_t bound_ns,
                      bool closed_ok)
{
    uint64_t deadline = time_now_ns() + bound_ns;
    unsigned long st = XenbusStateUnknown;
    int rc = timer_setup();

    if (rc < 0)
        return rc;
    for (;;) {
        unsigned int seen = xf->watch_events;

        rc = xenbus_front_backend_state(xf, &st);
        if (rc < 0 && rc != -XEN_ENOENT)
            return rc;
        if (rc >= 0 && st == want) {
            xf->watch_seen = seen;
            return 0;
        }
        if (rc >= 0 && !closed_ok && (st == XenbusStateClosing || st == XenbusStateClosed)) {
            printf("%s: backend %s is %s\n", xf->name, xf->backend, xenbus_state_name(st));
            report_backend_error(xf);
            return -XEN_EIO;
        }
        if (time_now_ns() >= deadline) {
            printf("%s: backend %s did not reach %s within %llu ms (state %s)\n", xf->name,
                   xf->backend, xenbus_state_name(want),
                   (unsigned long long)(bound_ns / 1000000U),
                   rc < 0 ? "missing" : xenbus_state_name(st));
            return -XEN_ETIMEDOUT;
        }
        /* The deadline is set again before each sleep: an upcall may have moved the timer. */
        local_irq_disable();
        while (xf->watch_events == seen && time_now_ns() < deadline) {
            (void)timer_set_deadline(deadline);
            events_block();
            local_irq_enable();
            local_irq_disable();
        }
        local_irq_enable();
    }
}

/* ---- the frontend's keys and state -------------------------------------- */

int xenbus_front_write_keys(struct xenbus_front *xf, xs_transaction_t t,
                            const struct xenbus_front_key *keys, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        char path[96], num[24];
        const char *val = keys[i].str;
        int rc;

        if (val == NULL) {
            snprintf(num, sizeof(num), "%lu", keys[i].num);
            val = num;
        }
        snprintf(path, sizeof(path), "%s/%s", xf->frontend, keys[i].key);
        rc = xs_write(t, path, val);
        if (rc < 0)
            return rc;
    }
    return 0;
}

struct keys_arg {
    struct xenbus_front *xf;
    const struct xenbus_front_key *keys;
    unsigned int n;
};

static int write_keys_body(xs_transaction_t t, void *arg)
{
    struct keys_arg *a = arg;

    return xenbus_front_write_keys(a->xf, t, a->keys, a->n);
}

int xenbus_front_write_keys_tx(struct xenbus_front *xf, const struct xenbus_front_key *keys,
                               unsigned int n)
{
    struct keys_arg a = { xf, keys, n };

    return xs_transaction(write_keys_body, &a, NULL);
}

int xenbus_front_switch(struct xenbus_front *xf, unsigned long state)
{
    const struct xenbus_front_key k = { "state", NULL, state };

    return xenbus_front_write_keys(xf, XBT_NIL, &k, 1);
}

int xenbus_front_reinit(struct xenbus_front *xf, uint64_t bound_ns)
{
    int rc;

    step(xf, "reconnect: writing state Initialising");
    rc = xenbus_front_switch(xf, XenbusStateInitialising);
    if (rc < 0)
        return rc;
    step(xf, "reconnect: waiting for the backend's InitWait");
    return xenbus_front_wait(xf, XenbusStateInitWait, bound_ns, true);
}

int xenbus_front_close(struct xenbus_front *xf)
{
    xenbus_front_unwatch(xf);
    return xenbus_front_switch(xf, XenbusStateClosing);
}

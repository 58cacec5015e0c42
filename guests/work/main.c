/*
 * work: the workload kernel. `work=<name>` on the command line picks one of
 * the workloads below; see guests/README.md for their parameters and output.
 * The same file builds the PV kernel and the native one (PVSIM_NATIVE),
 * which lacks the workloads that need PV devices.
 */
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/time.h>
#include "work.h"

const char *work_name = "?";

static const struct {
    const char *name;
    void (*run)(void);
} workloads[] = {
    { "cpu", work_cpu },
    { "spin", work_spin },
    { "syscall", work_syscall },
    { "pt", work_pt },
    { "ctxsw", work_ctxsw },
    { "timer", work_timer },
    { "user-hello", work_user_hello },
    { "pgfault", work_pgfault },
    { "blk", work_blk },
    { "net", work_net },
    { "irq", work_irq },
    { "timerlat", work_timerlat },
    { "fork", work_fork },
    { "shell", work_shell },
    { "tlbwalk", work_tlbwalk },
#ifndef PVSIM_NATIVE
    { "evtchn-ping", work_evtchn_ping },
    { "grant", work_grant },
    { "xenstore", work_xenstore },
    { "console", work_console },
#endif
};

unsigned long param(const char *key, unsigned long dflt)
{
    return cmdline_get_ulong(key, dflt);
}

bool flag(const char *key)
{
    return cmdline_has(key);
}

#ifndef PVSIM_NATIVE
domid_t param_domid(const char *key, domid_t dflt)
{
    const char *v = cmdline_get(key);
    unsigned long d;

    if (v == NULL || *v == 0)
        return dflt;
    if (strcmp(v, "self") == 0)
        return DOMID_SELF;
    d = cmdline_get_ulong(key, dflt);
    if (d >= DOMID_FIRST_RESERVED)
        work_fail("%s=%s is not a domain id", key, v);
    return (domid_t)d;
}
#endif

void work_fail(const char *fmt, ...)
{
    va_list ap;

    console_flush();
    printf("work=%s: FAILED: ", work_name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    plat_exit(false);
}

void measure_start(struct measure *m)
{
    m->i0 = instret_now();
    m->t0 = time_now_ns();
}

void measure_stop(struct measure *m)
{
    uint64_t t1 = time_now_ns();
    uint64_t i1 = instret_now();

    m->ns = t1 - m->t0;
    m->instructions = i1 - m->i0;
}

uint64_t per(uint64_t a, uint64_t b)
{
    return b == 0 ? 0 : a / b;
}

/* The workload called name (len bytes of it), or -1. */
static int find_workload(const char *name, size_t len)
{
    for (unsigned int i = 0; i < PV_ARRAY_SIZE(workloads); i++)
        if (strlen(workloads[i].name) == len && strncmp(name, workloads[i].name, len) == 0)
            return (int)i;
    return -1;
}

/* work=<name> runs one workload; work=<a>,<b>,... runs several in order
 * (each with the same command line), then powers off. */
void work_main(void)
{
    const char *name = cmdline_get("work");
    int list[8];
    unsigned int n = 0;

    if (name == NULL || *name == 0) {
        printf("work: no work=<name> on the command line; one of:");
        for (unsigned int i = 0; i < PV_ARRAY_SIZE(workloads); i++)
            printf(" %s", workloads[i].name);
        printf("\n");
        plat_exit(false);
    }
    for (const char *p = name;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        int w = find_workload(p, len);

        if (w < 0 || n == PV_ARRAY_SIZE(list)) {
            work_name = name;
            work_fail(w < 0 ? "unknown workload" : "too many workloads");
        }
        list[n++] = w;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    for (unsigned int i = 0; i < n; i++) {
        work_name = workloads[list[i]].name;
        workloads[list[i]].run();
    }
    plat_exit(true);
}

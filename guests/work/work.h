/*
 * The `work` kernels: one image per kernel flavour (PV: work.elf; native:
 * native.elf), many workloads, chosen by the command line (`work=<name>` plus
 * parameters). Each prints one result line starting with `work=<name>` and
 * powers off; any failure reports one (work_fail, plat_exit(false)). The
 * native flavour (PVSIM_NATIVE) has only the workloads that need no PV
 * device; their code is the same, over work/platform.h.
 */
#ifndef WORK_H
#define WORK_H

#include <stdint.h>
#include <stdbool.h>
#include <pvsim/compiler.h>
#include <pvsim/console.h>
#include <pvsim/xen_types.h>
#include "platform.h"
#ifndef PVSIM_NATIVE
#include <pvsim/events.h>
#endif

/* The running workload's name, for messages. */
extern const char *work_name;

/* Command-line parameters: the number (strtoul base 0), or dflt if absent. */
unsigned long param(const char *key, unsigned long dflt);
bool flag(const char *key);
/* "work=<name>: <message>" and plat_exit(false). */
void work_fail(const char *fmt, ...) __pv_noreturn __pv_printf(1, 2);

/* Time and instructions around a measured section. */
struct measure {
    uint64_t t0, i0;
    uint64_t ns, instructions;
};
void measure_start(struct measure *m);
void measure_stop(struct measure *m);

/* Per-request latencies of the I/O workloads (work/latency.c): lat_reset
 * before the measured section, lat_add per request, then lat_print_fields
 * prints " lat_samples= lat_p50_ns= lat_p99_ns= lat_max_ns= lat_hist_ns="
 * (without a leading space or a newline) into the result line. */
void lat_reset(void);
void lat_add(uint64_t ns);
void lat_print_fields(void);

/* a / b, or 0 if b is 0 (64-bit). */
uint64_t per(uint64_t a, uint64_t b);

#ifndef PVSIM_NATIVE
/* Like param, but for a domain id (panics if it is out of range). */
domid_t param_domid(const char *key, domid_t dflt);

/* EVTCHNOP_bind_interdomain to peer's *remote_port, with SCHEDOP_yield
 * between tries (retries=, default 100000); returns the number of tries.
 * *remote_port 0 means "the peer's port that is unbound for us": each try
 * then sweeps the peer's ports 1..BIND_PROBE_PORTS, and *remote_port gets
 * the one bound. */
#define BIND_PROBE_PORTS 32U
unsigned long bind_with_retry(domid_t peer, evtchn_port_t *remote_port, evtchn_handler_t fn,
                              void *data, evtchn_port_t *local);
/* Drops the notification Xen raises on a port just bound with
 * bind_interdomain, and zeroes its event counter. */
void drain_bind_event(evtchn_port_t port, volatile unsigned long *count);
/* This domain's id: self=<domid>, else asked of EVTCHNOP_status. */
domid_t own_domid(void);
/* An event handler counting into the unsigned long at data. */
void count_event(evtchn_port_t port, void *data);

#endif

void work_cpu(void);
void work_spin(void);
void work_syscall(void);
void work_pt(void);
void work_ctxsw(void);
void work_timer(void);
void work_user_hello(void);
void work_pgfault(void);
void work_blk(void);
void work_net(void);
void work_irq(void);
void work_timerlat(void);
void work_fork(void);
void work_shell(void);
void work_tlbwalk(void);
#ifndef PVSIM_NATIVE
void work_evtchn_ping(void);
void work_grant(void);
void work_xenstore(void);
void work_console(void);
#endif

#endif

/*
 * Event channels for PV kernels (lib/events.c): the shared_info mapping, a
 * 2-level upcall dispatcher with per-port handlers, and the EVTCHNOP_*
 * wrappers.
 *
 * Upcalls arrive as supervisor external interrupts (scause 0x80000009) while
 * vcpu_info.evtchn_upcall_pending is set and evtchn_upcall_mask is clear.
 * events_init() clears the mask once and leaves it clear; the kernel masks
 * upcalls with sstatus.SIE (local_irq_*), which costs no hypervisor
 * involvement. Handlers run in the upcall, with SIE clear.
 *
 * Waiting: wait_event() and WAIT_EVENT_UNTIL() use Xen's race-free pattern:
 * with upcalls masked, test the condition; if false, SCHEDOP_block (which
 * returns at once if an upcall is pending, and otherwise sleeps until one
 * is); unmask so the upcall runs; repeat.
 */
#ifndef PVSIM_EVENTS_H
#define PVSIM_EVENTS_H

#include <pvsim/xen_types.h>
#include <pvsim/shared_info.h>
#include <pvsim/event_channel.h>
#include <pvsim/trap.h>
#include <pvsim/riscv.h>

/* The shared_info page, mapped by events_init(); NULL before. */
extern volatile struct shared_info *HYPERVISOR_shared_info;

/* Sets up traps (trap_init), maps shared_info at a fixed kernel address
 * (update_va_mapping), masks every port, installs the dispatcher, clears
 * vcpu_info[0].evtchn_upcall_mask and enables upcalls (sstatus.SIE).
 * Allocates no port. Idempotent; panics if shared_info cannot be mapped. */
void events_init(void);
/* The same, returning update_va_mapping's error instead of panicking. */
int events_setup(void);

typedef void (*evtchn_handler_t)(evtchn_port_t port, void *data);

/* Handler for port (NULL: count the event, nothing else). */
void evtchn_set_handler(evtchn_port_t port, evtchn_handler_t fn, void *data);

/* Each binds a port, installs fn for it and unmasks it. 0 or -errno. */
int evtchn_bind_virq(uint32_t virq, evtchn_handler_t fn, void *data, evtchn_port_t *port);
int evtchn_alloc_unbound(domid_t remote_dom, evtchn_handler_t fn, void *data,
                         evtchn_port_t *port);
int evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port,
                            evtchn_handler_t fn, void *data, evtchn_port_t *local_port);

/* For a port the domain already has (start_info's xenstore and console
 * ports, allocated by the domain builder): installs fn and unmasks it. */
int evtchn_attach(evtchn_port_t port, evtchn_handler_t fn, void *data);

int evtchn_send(evtchn_port_t port);
int evtchn_close(evtchn_port_t port);       /* also removes the handler */
int evtchn_unmask(evtchn_port_t port);      /* EVTCHNOP_unmask */
int evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *out);
void evtchn_mask(evtchn_port_t port);       /* sets the mask bit (no hypercall) */
void evtchn_clear(evtchn_port_t port);      /* clears the pending bit */
bool evtchn_is_pending(evtchn_port_t port);

/* Events dispatched per port since boot (all 1024 ports). */
uint32_t evtchn_count(evtchn_port_t port);

/* Upcall masking through sstatus.SIE: local_irq_* (pvsim/trap.h). */

/* One SCHEDOP_block; panics if the hypervisor refuses it. Call with
 * upcalls masked, after testing the condition being waited for. */
void events_block(void);

/* Blocks until done(arg) is true; done is evaluated with upcalls masked.
 * Returns with upcalls enabled. */
void wait_event(bool (*done)(void *arg), void *arg);

#define WAIT_EVENT_UNTIL(cond)                  \
    do {                                        \
        for (;;) {                              \
            local_irq_disable();                \
            if (cond)                           \
                break;                          \
            events_block();                     \
            local_irq_enable();                 \
        }                                       \
        local_irq_enable();                     \
    } while (0)

/* SCHEDOP_poll on one port: sleeps until it is pending (masked or not) or
 * system time reaches timeout_ns (0: no timeout). Returns the hypercall's
 * result. */
int evtchn_poll(evtchn_port_t port, uint64_t timeout_ns);

/* Blocks until done(arg) is true, for events on `port`. From the main flow
 * (upcalls enabled) this is wait_event(). With upcalls masked (inside an
 * event handler) it clears the port's pending bit, tests done(arg) and
 * sleeps in SCHEDOP_poll on the port, and returns with upcalls still
 * masked; the port's own handler does not see the events taken this way.
 * done() is always evaluated with upcalls masked. */
void wait_event_port(evtchn_port_t port, bool (*done)(void *arg), void *arg);

/* Yields the vCPU (SCHEDOP_yield). */
int sched_yield(void);

#endif

/*
 * Time for PV kernels (lib/time.c). `time` counts virtual nanoseconds (1 GHz
 * timebase) of the domain's system time; `instret` counts retired
 * instructions. The one-shot timer is set_timer_op(deadline): an absolute
 * system time in ns, low word in a0 and high word in a1; 0 cancels; a
 * deadline in the past fires at once. Expiry raises VIRQ_TIMER on the vCPU.
 */
#ifndef PVSIM_TIME_H
#define PVSIM_TIME_H

#include <stdint.h>

/* The time/instret CSR pairs as 64-bit values (high half read until stable). */
uint64_t time_now_ns(void);
uint64_t instret_now(void);

/* Binds VIRQ_TIMER (once; calls events_init()). Panics on failure;
 * timer_setup returns EVTCHNOP_bind_virq's error instead. */
void timer_init(void);
int timer_setup(void);

/* set_timer_op(deadline); 0 cancels. Returns the hypercall's result. */
int timer_set_deadline(uint64_t deadline_ns);

/* VIRQ_TIMER events dispatched so far. */
uint32_t timer_events(void);

/* time_now_ns() as the timer's handler began, at its latest event (PV: the
 * VIRQ_TIMER handler the upcall dispatches; native: the supervisor timer
 * interrupt's); 0 before the first. For interrupt latency (work=timerlat). */
uint64_t timer_last_event_ns(void);

/* Sleeps (SCHEDOP_block) until system time >= deadline; returns the time
 * at wake-up. Any other event handled meanwhile does not end the sleep. */
uint64_t sleep_until(uint64_t deadline_ns);
uint64_t sleep_ns(uint64_t ns);

/* Sleeps with SCHEDOP_poll (no ports, timeout = deadline) instead: needs
 * neither shared_info nor VIRQ_TIMER. Panics if the hypervisor refuses. */
uint64_t sleep_until_poll(uint64_t deadline_ns);

#endif

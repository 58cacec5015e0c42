/*
 * The PV console ring driver (lib/cons_ring.c): the page named by
 * start_info.console.domU.mfn (pvsim/xencons.h) and the event channel
 * start_info.console.domU.evtchn, which the domain builder allocated for
 * the console backend in domain 0; the guest binds a handler and unmasks it.
 *
 * Output goes into out[] (data, write barrier, out_prod, notify); while the
 * ring is full the writer sleeps on the event channel until the backend has
 * consumed some. Input comes from in[] (read in_prod, read barrier, the
 * data, full barrier, in_cons, notify); a reader with nothing to read
 * sleeps until the backend produces. The waits work from the main flow
 * (SCHEDOP_block) and from event handlers (SCHEDOP_poll on the port).
 *
 * cons_ring_setup() makes the ring the console's sink: printf output goes
 * there from then on, while panic and trap reports go back to
 * CONSOLEIO_write (pvsim/console.h). Before shutdown the library waits up
 * to CONS_RING_SYNC_NS of system time for the backend to drain out[].
 */
#ifndef PVSIM_CONS_RING_H
#define PVSIM_CONS_RING_H

#include <pvsim/xen_types.h>
#include <pvsim/event_channel.h>

#define CONS_RING_SYNC_NS  100000000ULL     /* 100 ms */

/* Maps the ring (update_va_mapping at a fixed kernel address), attaches
 * the port and redirects console output to the ring. -XEN_ENODEV if
 * start_info.console.domU.evtchn is 0; a hypercall's error otherwise.
 * Idempotent. */
int cons_ring_setup(void);
bool cons_ring_ready(void);
evtchn_port_t cons_ring_evtchn(void);

/* Writes all n bytes to out[], sleeping while it is full; notifies the
 * backend after producing. */
void cons_ring_write(const char *s, size_t n);
/* Waits (at most CONS_RING_SYNC_NS) until the backend has consumed all
 * output. Returns true if it has. */
bool cons_ring_sync(void);

/* Reads at least one and at most n bytes of input, sleeping until some
 * arrives; returns the count. */
size_t cons_ring_read(char *buf, size_t n);
/* One byte of input (0..255), sleeping until there is one. */
int cons_ring_getc(void);
/* One line of input: bytes up to '\n' or '\r' (a '\n' right after a '\r'
 * is skipped), at most size - 1 of them kept, NUL-terminated; returns the
 * length kept. */
size_t cons_ring_readline(char *buf, size_t size);

struct cons_ring_stats {
    uint32_t out_bytes;
    uint32_t in_bytes;
    uint32_t notifies;
    uint32_t out_full_waits;    /* waits for the backend to make room */
    uint32_t in_waits;          /* waits for input */
};
extern struct cons_ring_stats cons_ring_stats;

#endif

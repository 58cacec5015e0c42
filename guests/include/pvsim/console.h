/*
 * PV console output. printf and friends buffer a line (flushed at each
 * newline, when the buffer fills, and by console_flush()) and hand it to
 * the console's sink: the console_io hypercall (CONSOLEIO_write) from the
 * start, the console ring once lib/cons_ring.c has set it up
 * (console_set_sink). CONSOLEIO_write stays the emergency path: panic and
 * trap reports switch back to it for good (console_emergency), since the
 * ring may be what is stuck. Shutdown flushes and lets the sink drain.
 */
#ifndef PVSIM_CONSOLE_H
#define PVSIM_CONSOLE_H

#include <stddef.h>
#include <pvsim/format.h>

struct console_sink {
    /* Takes all n bytes (may block until the backend makes room). */
    void (*write)(const char *s, size_t n);
    /* Before shutdown: waits, for a bounded time, until the backend has
     * taken everything written. May be NULL. */
    void (*sync)(void);
};

void console_putc(char c);
/* Unbuffered: straight to the sink. */
void console_write(const char *s, size_t n);
void console_flush(void);

/* Flushes what is buffered to the current sink, then sends later output to
 * `sink` (NULL: CONSOLEIO_write). Ignored after console_emergency(). */
void console_set_sink(const struct console_sink *sink);
/* CONSOLEIO_write, whatever the sink. */
void console_io_write(const char *s, size_t n);
/* Back to CONSOLEIO_write for good, then flushes (panic, trap reports). */
void console_emergency(void);
/* The sink's sync (shutdown). */
void console_sync(void);

#endif

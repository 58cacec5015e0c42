/*
 * printf-style formatting (guests/lib/format.c), independent of where the
 * characters go. Conversions: %d %i %u %x %X %o %c %s %p %%; flags - 0 + space #;
 * field width and precision (numbers or *); length modifiers hh h l ll z t j.
 * %p prints "0x" and 8 hex digits. Returns the number of characters the full
 * output has (vsnprintf: even if it was truncated).
 */
#ifndef PVSIM_FORMAT_H
#define PVSIM_FORMAT_H

#include <stdarg.h>
#include <stddef.h>
#include <pvsim/compiler.h>

typedef void (*pv_emit_fn)(void *ctx, char c);

int pv_vformat(pv_emit_fn emit, void *ctx, const char *fmt, va_list ap);

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __pv_printf(3, 4);

/* Supplied by the console back end an image links (PV console or bare UART). */
int printf(const char *fmt, ...) __pv_printf(1, 2);
int vprintf(const char *fmt, va_list ap);
int putchar(int c);
int puts(const char *s);

#endif

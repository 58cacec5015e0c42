/*
 * Kernel command line parsing. The command line is a list of words separated
 * by spaces; a word is either `key=value` or a flag `key`. Double quotes
 * group spaces into a value (key="a b"); they are removed.
 *
 * PV kernels get start_info's cmd_line parsed before start_kernel runs;
 * other images call cmdline_init() themselves (until then every key is
 * absent). When a key appears more than once the last one wins.
 */
#ifndef PVSIM_CMDLINE_H
#define PVSIM_CMDLINE_H

#include <stddef.h>
#include <stdbool.h>

/* Parses `len` bytes at most of `s` (stops at a NUL). Replaces earlier input. */
void cmdline_init(const char *s, size_t len);

/* The value of `key=value`; "" for a bare flag word `key`; NULL if absent. */
const char *cmdline_get(const char *key);

/* True if `key` appears at all, as a flag or with a value. */
bool cmdline_has(const char *key);

/* The value of `key` as a number (strtoul base 0), or `dflt` if absent/empty. */
unsigned long cmdline_get_ulong(const char *key, unsigned long dflt);

#endif

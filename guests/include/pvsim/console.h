/*
 * PV console output through the console_io hypercall (CONSOLEIO_write).
 * Output is buffered and flushed at each newline, when the buffer fills,
 * and by console_flush() (shutdown and panic flush too).
 */
#ifndef PVSIM_CONSOLE_H
#define PVSIM_CONSOLE_H

#include <stddef.h>
#include <pvsim/format.h>

void console_putc(char c);
void console_write(const char *s, size_t n);
void console_flush(void);

#endif

/*
 * Bare-metal M-mode runtime for `pvsim run-bare` (and QEMU's spike/virt
 * machines): RAM at 0x80000000, a 16550 UART at 0x10000000, and the HTIF
 * tohost/fromhost convention of riscv-tests for the exit status.
 */
#ifndef PVSIM_BARE_H
#define PVSIM_BARE_H

#define BARE_RAM_BASE   0x80000000U
#define BARE_UART_BASE  0x10000000U
#define UART_THR        0       /* transmit holding register (write) */
#define UART_LSR        5       /* line status register */
#define UART_LSR_THRE   0x20    /* transmit holding register empty */

#ifndef __ASSEMBLER__
#include <stdint.h>
#include <pvsim/compiler.h>
#include <pvsim/format.h>

/* HTIF mailboxes, each 8 bytes in section .tohost. */
extern volatile uint32_t tohost[2];
extern volatile uint32_t fromhost[2];

/* Ends the run: tohost = 1 for code 0 (pass), else code << 1 | 1. */
void bare_exit(unsigned int code) __pv_noreturn;

/* One byte to the console (the UART; HTIF console in the QEMU check build). */
void bare_putc(char c);

/* Called by crt.S's trap vector for any trap nobody expected. */
void bare_unexpected_trap(unsigned long mcause, unsigned long mepc,
                          unsigned long mtval) __pv_noreturn;

/* The program's entry point, called in M-mode after .bss is zeroed.
 * Its return value is the exit code given to bare_exit(). */
int main(void);
#endif

#endif

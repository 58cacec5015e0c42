/* PV kernel runtime: entry point contract, shutdown and panic. */
#ifndef PVSIM_PV_H
#define PVSIM_PV_H

#include <pvsim/compiler.h>
#include <pvsim/start_info.h>

/* Each PV kernel defines this; _start calls it after zeroing .bss and
 * pv_runtime_init(). Returning from it powers the domain off. */
void start_kernel(struct start_info *si);

/* Library set-up before start_kernel: records si in pvsim_start_info and
 * parses its command line for cmdline_get(). */
void pv_runtime_init(struct start_info *si);

/* Flushes the console and asks the hypervisor to shut the domain down. */
void xen_shutdown(unsigned int reason) __pv_noreturn;

/* Prints "panic: <message>" and shuts down with SHUTDOWN_crash. */
void panic(const char *fmt, ...) __pv_noreturn __pv_printf(1, 2);

/* Called by the default trap vector for any trap the kernel did not expect. */
void pv_unexpected_trap(unsigned long scause, unsigned long sepc,
                        unsigned long stval, unsigned long sp) __pv_noreturn;

#endif

/*
 * The native kernel runtime (lib/native*.c): an unmodified-kernel flavour
 * of the guest library that knows nothing of Xen. Boot contract (what SBI
 * firmware or a hypervisor's HVM board must give it):
 *   - the ELF image is linked and loaded at 0x80400000 (physical = virtual
 *     until it turns Sv32 on); entry `_start` in S-mode, satp = 0,
 *     sstatus.SIE = 0, a0 = hart id, a1 = physical address of a flattened
 *     device tree (version 17);
 *   - the device tree has /memory (RAM containing the image; the kernel
 *     uses what lies above its image, not the device tree's pages),
 *     /chosen bootargs (the command line), /cpus timebase-frequency, and
 *     may describe an ns16550a UART, a CLINT, a PLIC and virtio-mmio slots
 *     (recorded; the console goes through SBI);
 *   - SBI v0.2 or later with the TIME, IPI, RFENCE and SRST extensions, and
 *     DBCN or else the legacy console_putchar;
 *   - time, cycle and instret readable from S-mode.
 */
#ifndef PVSIM_NATIVE_H
#define PVSIM_NATIVE_H

#include <stdbool.h>
#include <pvsim/compiler.h>
#include <pvsim/fdt.h>

#define NATIVE_KERNEL_BASE 0x80400000UL

extern struct board_info native_board;
extern unsigned long native_hartid;
extern const void *native_fdt;

/* Each native image defines it; the runtime calls it once set up. */
void native_kernel_main(void);

/* SBI SRST shutdown: no reason if ok, "system failure" otherwise. */
void native_shutdown(bool ok) __pv_noreturn;

/* lib/native_mm.c: frames, the kernel's 1:1 map and page windows; turns
 * Sv32 on. */
void native_mm_init(void);
/* The PTE of a kmap window (kmap_va), for work=pt; writing it is the
 * caller's business, flushing too (sfence.vma). */
volatile uint32_t *native_kmap_pte(void *va);

/* Maps the device registers [pa, pa + size) 1:1 (read-write, no execute,
 * 4 MiB pages) into the kernel's map, which address spaces created later
 * share. 0, or -XEN_EINVAL for a range that meets RAM, the page windows,
 * user space or wraps. */
int native_ioremap(uint64_t pa, uint64_t size);

/* lib/native_irq.c: device interrupts through the PLIC's S-mode context of
 * this hart (2 * hart + 1, as on QEMU's virt and pvsim's HVM board).
 * native_irq_register enables source `irq` (priority 1, threshold 0) and
 * calls fn(arg) from the trap handler for each claim, before completing it:
 * fn must quieten a level-triggered device (e.g. virtio's InterruptACK).
 * -XEN_ENODEV without a PLIC, -XEN_EINVAL for a bad source. */
int native_irq_register(uint32_t irq, void (*fn)(void *arg), void *arg);
/* With interrupts masked (local_irq_save), after finding nothing to do:
 * sleeps in wfi until an interrupt (a device's, or the timer at deadline_ns,
 * or 10 ms later at most, against a lost interrupt), lets the handlers run,
 * and returns masked again. The caller loops on its condition. */
void native_idle(uint64_t deadline_ns);
extern uint32_t native_irq_count;

/* lib/native_console.c: picks DBCN or the legacy putchar. */
void native_console_init(void);
extern const char *native_console_kind;

/* lib/native_time.c: the timebase from the device tree. */
void native_time_init(uint32_t timebase_frequency);
uint64_t native_ns_to_ticks(uint64_t ns);
/* The timer's handler and sie.STIE, once, without unmasking (sstatus.SIE
 * unchanged); timer_setup is this and, the first time, local_irq_enable. */
void native_timer_prepare(void);

#endif

/*
 * What the shared workloads need from the kernel under them. The workload
 * sources (work/<name>.c) are compiled twice: into the PV kernel (work.elf), where
 * this is implemented over Xen hypercalls (work/plat_pv.c), and into the
 * native kernel (native.elf), where it is implemented over SBI, satp and
 * sfence.vma (work/plat_native.c, lib/native*.c).
 *
 * Besides these, both kernels give the workloads the same library calls
 * under the same names: printf and the console (pvsim/console.h); time and
 * sleeping (pvsim/time.h: time_now_ns, instret_now, timer_setup,
 * sleep_until, sleep_until_poll, timer_set_deadline, timer_events); frames
 * and address spaces (pvsim/mm.h: mm_init, page_alloc_high, page_free,
 * kmap_va, kmap_va_free, as_create, as_map, as_unmap, as_switch, as_destroy);
 * and user tasks (pvsim/task.h). Errors are negated Xen errno values in both
 * (pvsim/xen_errno.h), so messages read the same.
 */
#ifndef WORK_PLATFORM_H
#define WORK_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>
#include <pvsim/compiler.h>
#include <pvsim/xen_types.h>
#include <pvsim/fold.h>

/* The workload kernel's main: runs the workloads the command line names. */
void work_main(void);

/* Powers off (ok) or reports a failure to whoever runs the machine (PV:
 * SHUTDOWN_crash; native: SBI SRST with reason "system failure"). */
void plat_exit(bool ok) __pv_noreturn;

/* Page-table operations of work=pt on the kernel's own tables, at page
 * windows from kmap_va(); frames are the kernel's own frame numbers (pfns).
 * Each returns 0 or a negated errno. */
enum plat_pt_op { PT_MAP_ONE, PT_UNMAP_ONE, PT_MAP_BATCH, PT_UNMAP_BATCH, PT_FLUSH };
/* Maps pfn read-write (no execute) at the window va; the window was unmapped. */
int plat_map_one(void *va, xen_pfn_t pfn);
/* Unmaps va and flushes its translation. */
int plat_unmap_one(void *va);
/* Maps pfn[j] at va[j] for j < n, as one batch (PV: one mmu_update). */
int plat_map_batch(void *const va[], const xen_pfn_t pfn[], unsigned int n);
/* Unmaps va[0..n) as one batch, without flushing. */
int plat_unmap_batch(void *const va[], unsigned int n);
/* Flushes this hart's whole TLB. */
int plat_flush_tlb(void);
/* The name of an operation, for failure messages. */
const char *plat_pt_op_name(enum plat_pt_op op);

/* Prepares the one-shot timer of work=timer. wait=block (poll false) needs
 * timer interrupts (PV: shared_info and VIRQ_TIMER); if the kernel cannot
 * have them, this says so and returns true (sleep with sleep_until_poll).
 * Fails the workload on any other error. */
bool plat_timer_setup(bool poll);
void plat_timer_stop(void);

/* result= checksums: work_fold (pvsim/fold.h). */

#endif

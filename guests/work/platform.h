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
#include <stddef.h>
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

/* Interrupt masking of work=irq, the way each kernel does it. PV: the
 * event upcall mask in vcpu_info (evtchn_upcall_mask, as Xen PV kernels'
 * local_irq_disable/enable do: a store to shared memory, and on enable a
 * hypercall only if an event came meanwhile); native: sstatus.SIE, a CSR
 * write (which traps to the hypervisor under trap-and-emulate, and not
 * with the H extension). plat_irq_setup prepares it (PV: maps
 * shared_info) and returns what is toggled, for the result line. */
const char *plat_irq_setup(void);
void plat_irq_disable(void);
void plat_irq_enable(void);

/* The disk of work=blk (PV: blkfront, work/dev_pv.c; native: virtio-blk or
 * the legacy ATA disk, work/dev_native.c, dev=virtio|legacy on the command
 * line, default the first found, virtio first). */
#define WORK_BLK_MAX_BYTES (128U * 1024U)   /* largest request (bs) */
#define WORK_BLK_MAX_QD    128U             /* most requests in flight the workload keeps */
struct plat_blk {
    const char *kind;           /* "vbd", "virtio-blk", "ata", or what was looked for */
    uint64_t sectors;
    unsigned int max_qd;        /* requests the device takes at once */
    char error[160];            /* why plat_blk_open failed */
};
/* Finds and sets up the disk and prints its first line (`blk: ...`).
 * 0; -XEN_ENODEV if there is none (d->kind names what was looked for);
 * another -errno with d->error filled in. Idempotent. */
int plat_blk_open(struct plat_blk *d);
/* Asynchronous requests of nsect sectors at a 512-byte aligned buffer in
 * the kernel's 1:1/physmap memory: a tag >= 0 or -errno; plat_blk_wait
 * reaps it (0 or the request's error: -XEN_EIO, -XEN_EOPNOTSUPP). */
int plat_blk_submit(bool write, uint64_t sector, void *buf, unsigned int nsect);
int plat_blk_wait(int tag);
/* A cache flush, waited for: 0 or -errno. */
int plat_blk_flush(void);

/* The network device of work=net (PV: netfront; native: virtio-net). The
 * device's frames go to rx (from the main flow); *link is what lib/net.c
 * sends and waits through. Prints the device's first line (`net: ...`,
 * ending with "; ip <ip>, peer <peer>"). 0, -XEN_ENODEV (none: kind says
 * what was looked for), or -errno with error filled in. */
struct net_link;
struct plat_net {
    const char *kind;           /* "vif", "virtio-net" */
    uint8_t mac[6];
    const struct net_link *link;
    char error[160];
};
int plat_net_open(struct plat_net *n, void (*rx)(const uint8_t *frame, size_t len),
                  const char *ip, const char *peer);
/* The counters note before work=net's result line (rtt min/max, the
 * device's and the stack's counters). */
void plat_net_report(uint64_t rtt_min, uint64_t rtt_max);
/* Transmit errors of the device and the stack, for tx_errors=. */
unsigned long plat_net_tx_errors(void);

/* result= checksums: work_fold (pvsim/fold.h). */

#endif

/*
 * S-mode traps of a PV kernel (lib/entry.S, lib/trap.c).
 *
 * trap_init() replaces start.S's catch-all vector with pv_trap_entry, which
 * saves every register in a struct trap_frame and calls pv_trap_dispatch():
 *
 *   scause 8 (ecall from U)         -> the system call table (lib/task.c)
 *   interrupt 9 (SEI: event upcall) -> the event-channel dispatcher (lib/events.c)
 *   interrupt 5 (STI), 1 (SSI)      -> the native kernel's timer and IPI handlers
 *   page faults from U-mode         -> pv_fault_entry (lib/task.c: demand paging)
 *   other page faults, anything else -> panic with the frame's registers
 *
 * sscratch tells where a trap came from: 0 while the kernel runs (the frame
 * is pushed on the current kernel stack), &task->frame while a user task runs
 * (the frame is the task's own, and C code runs on the kernel stack recorded
 * by pv_user_enter()). The dispatcher returns the frame to resume, which may
 * belong to another task (a context switch).
 */
#ifndef PVSIM_TRAP_H
#define PVSIM_TRAP_H

/* struct trap_frame layout, for assembly. */
#define TF_X(n)      ((n) * 4)       /* x1..x31; x[0] holds nothing */
#define TF_SEPC      128
#define TF_SSTATUS   132
#define TF_SCAUSE    136
#define TF_STVAL     140
#define TF_SIZE      144             /* a multiple of 16 */

/* struct kernel_context layout (pv_user_enter / pv_user_leave). */
#define KC_RA        0
#define KC_SP        4
#define KC_S(n)      (8 + (n) * 4)   /* s0..s11 */
#define KC_SSTATUS   56
#define KC_SIZE      60

#define SSTATUS_SIE  (1U << 1)
#define SSTATUS_SPIE (1U << 5)
#define SSTATUS_SPP  (1U << 8)
#define SSTATUS_SUM  (1U << 18)
#define SIE_SSIE     (1U << 1)
#define SIE_STIE     (1U << 5)
#define SIE_SEIE     (1U << 9)
#define IRQ_S_SOFT   1              /* native: an SBI IPI */
#define IRQ_S_TIMER  5              /* native: the SBI timer */
#define IRQ_S_EXT    9              /* scause of an event upcall: 0x80000009 */

#ifndef __ASSEMBLER__
#include <stdint.h>
#include <pvsim/compiler.h>

/* Register numbers for trap_frame.x[]. */
enum {
    REG_RA = 1, REG_SP = 2, REG_GP = 3, REG_TP = 4,
    REG_T0 = 5, REG_T1 = 6, REG_T2 = 7, REG_S0 = 8, REG_S1 = 9,
    REG_A0 = 10, REG_A1 = 11, REG_A2 = 12, REG_A3 = 13,
    REG_A4 = 14, REG_A5 = 15, REG_A6 = 16, REG_A7 = 17,
};

struct trap_frame {
    unsigned long x[32];        /* x[n] = register xn at the trap */
    unsigned long sepc;
    unsigned long sstatus;
    unsigned long scause;
    unsigned long stval;
};
PV_CHECK_OFFSET(struct trap_frame, sepc, TF_SEPC);
PV_CHECK_OFFSET(struct trap_frame, sstatus, TF_SSTATUS);
PV_CHECK_OFFSET(struct trap_frame, scause, TF_SCAUSE);
PV_CHECK_OFFSET(struct trap_frame, stval, TF_STVAL);
PV_CHECK_SIZE(struct trap_frame, TF_SIZE);

/* Callee-saved state of the kernel thread that entered user mode. */
struct kernel_context {
    unsigned long ra, sp, s[12], sstatus;
};
PV_CHECK_OFFSET(struct kernel_context, sstatus, KC_SSTATUS);
PV_CHECK_SIZE(struct kernel_context, KC_SIZE);

/* Installs pv_trap_entry in stvec (direct mode) with sscratch = 0, lets
 * U-mode read cycle/time/instret (scounteren) and enables SEI in sie. Does
 * not touch sstatus.SIE. Idempotent. */
void trap_init(void);

/* What the dispatcher calls; NULL (the default) makes that trap a panic.
 * lib/task.c installs the system call table (tasks_run), lib/events.c the
 * event-channel dispatcher (events_init). A system call handler returns the
 * frame to resume: its own, or another task's. */
typedef struct trap_frame *(*syscall_entry_t)(struct trap_frame *f);
extern syscall_entry_t pv_syscall_entry;
extern void (*pv_upcall_entry)(void);
/* The native kernel's (lib/native_time.c, lib/native.c); NULL in PV ones. */
extern void (*pv_timer_entry)(void);
extern void (*pv_soft_entry)(void);
/* Page faults (scause 12, 13, 15) taken in U-mode; returns the frame to
 * resume (the faulting one, to retry the access). lib/task.c installs it. */
extern struct trap_frame *(*pv_fault_entry)(struct trap_frame *f);

/* Called by pv_trap_entry; returns the frame pv_trap_entry restores. */
struct trap_frame *pv_trap_dispatch(struct trap_frame *f);

/* Prints the frame's registers and crashes the domain. */
void trap_panic(const struct trap_frame *f, const char *what) __pv_noreturn;

/* Saves the calling kernel thread in k, then resumes user frame f (sret to
 * U-mode). Returns `rv` when some trap handler calls pv_user_leave(k, rv).
 * Traps from U-mode meanwhile run on the stack below this call. */
unsigned long pv_user_enter(struct trap_frame *f, struct kernel_context *k);

/* From a trap handler: abandons the trap and returns `rv` from the
 * pv_user_enter() that saved k, with its sstatus.SIE restored. */
void pv_user_leave(struct kernel_context *k, unsigned long rv) __pv_noreturn;

/* Interrupt (PV: upcall) masking through sstatus.SIE. */
static inline unsigned long local_irq_save(void)
{
    unsigned long old;
    __asm__ volatile("csrrci %0, sstatus, %1" : "=r"(old) : "i"(SSTATUS_SIE) : "memory");
    return old & SSTATUS_SIE;
}

static inline void local_irq_restore(unsigned long flags)
{
    if (flags & SSTATUS_SIE)
        __asm__ volatile("csrsi sstatus, %0" : : "i"(SSTATUS_SIE) : "memory");
}

static inline void local_irq_disable(void)
{
    __asm__ volatile("csrci sstatus, %0" : : "i"(SSTATUS_SIE) : "memory");
}

static inline void local_irq_enable(void)
{
    __asm__ volatile("csrsi sstatus, %0" : : "i"(SSTATUS_SIE) : "memory");
}

/* Counters kept by the dispatcher. */
struct trap_stats {
    uint32_t syscalls;
    uint32_t upcalls;
    uint32_t spurious_upcalls;
};
extern struct trap_stats trap_stats;

#endif /* !__ASSEMBLER__ */

#endif

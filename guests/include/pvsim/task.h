/*
 * User-mode tasks of a PV kernel (lib/task.c): a task is a register frame, a
 * user stack and an address space (its own, or the kernel's as_kernel, in
 * which case user pages live in the kernel root's user slots).
 *
 * tasks_run() enters U-mode with the first task (sret) and returns when
 * every task has exited. Meanwhile the kernel runs only in traps: system
 * calls (pvsim/syscall.h) go through the table in lib/task.c; SYS_yield
 * switches round-robin to the next task, switching the root table
 * (MMUEXT_NEW_BASEPTR) when the next task's address space differs.
 *
 * User code: the image's `.text.user` pages ([__user_start, __user_end),
 * position-independent) are mapped read-execute at USER_TEXT_BASE by
 * task_map_user_text(); USER_ENTRY(sym) is sym's user address.
 */
#ifndef PVSIM_TASK_H
#define PVSIM_TASK_H

#include <pvsim/trap.h>
#include <pvsim/mm.h>
#include <pvsim/syscall.h>
#include <pvsim/fold.h>

#define USER_TEXT_BASE   0x00010000UL
#define USER_STACK_TOP   0x00400000UL   /* one page below it */

extern char __user_start[], __user_end[];
#define USER_ENTRY(sym) (USER_TEXT_BASE + ((uintptr_t)(sym) - (uintptr_t)__user_start))

enum task_state { TASK_RUNNABLE, TASK_WAITING, TASK_DEAD };

#define TASK_MAX_PAGES 8U       /* private data pages a task may have (task_map_page) */
#define TASK_MAX_FORKED 4U      /* forked tasks alive at once (they come from a pool) */

struct task_page {
    unsigned long va;
    xen_pfn_t pfn;
};

struct task {
    struct trap_frame frame;    /* first: sscratch points here in U-mode */
    struct task *next;          /* run queue */
    struct addr_space *as;
    xen_pfn_t stack_pfn;
    unsigned int id;
    enum task_state state;
    unsigned long exit_code;
    /* Processes (SYS_fork, SYS_wait, SYS_exec). */
    struct task *parent;        /* NULL for tasks the kernel created */
    unsigned int wait_id;       /* TASK_WAITING: the child waited for */
    bool forked;                /* from the pool: reaped by SYS_wait (or tasks_run) */
    unsigned int nr_pages;
    struct task_page pages[TASK_MAX_PAGES];
    struct addr_space own_as;   /* a forked task's address space */
};

/* Maps the user text into as (read-execute, PTE_U). */
int task_map_user_text(struct addr_space *as);

/* Prepares t to start at user address `entry` with a0 = arg0, a1 = arg1 and
 * a fresh zeroed stack page mapped at USER_STACK_TOP - 4 KiB in as. */
int task_create(struct task *t, unsigned int id, struct addr_space *as, unsigned long entry,
                unsigned long arg0, unsigned long arg1);
/* Unmaps and frees the task's stack page and its data pages. */
int task_destroy(struct task *t);

/* Maps a fresh zeroed frame read-write at user address va in t's address
 * space and records it as t's data page (SYS_fork copies it, SYS_exec and
 * task_destroy drop it). -XEN_ENOMEM beyond TASK_MAX_PAGES. */
int task_map_page(struct task *t, unsigned long va);

/* The programs SYS_exec(i, arg) starts: user addresses (USER_ENTRY) of
 * entry points in the user text, which every address space maps. */
void task_set_programs(const unsigned long *entries, unsigned int n);

/* Adds t to the run queue (in order). */
void task_add(struct task *t);

/* Runs the queued tasks until all have exited; the queue is then empty and
 * the kernel's address space current again. Forked tasks nobody waited for
 * are reaped then. Forked tasks get ids 2, 3, ... in the order of the
 * forks of this run, so the ids (and task_stats.checksum) are the same on
 * every kernel. */
void tasks_run(void);

/*
 * Demand paging (work=pgfault). A page fault taken in U-mode calls
 * task_fault_handler(current task, stval, scause): 0 means it has mapped the
 * page and the access is retried; anything else (or no handler) panics with
 * the frame. SYS_munmap(addr, len) calls task_munmap_handler, whose result
 * the task gets (-ENOSYS without one). Both run in the task's address space
 * with the kernel's trap stack; the workload sets them and clears them after.
 */
extern int (*task_fault_handler)(struct task *t, unsigned long va, unsigned long scause);
extern long (*task_munmap_handler)(struct task *t, unsigned long addr, unsigned long len);

struct task_stats {
    uint32_t syscalls[NR_SYSCALLS];
    uint32_t switches;          /* yields that changed task */
    uint32_t as_switches;       /* ... and address space */
    uint32_t forks, execs, reaped;
    uint32_t pages_copied;      /* by SYS_fork */
    uint32_t checksum;          /* work_fold of each call's task id, number and result
                                 * (exit: its code), in order; set it to start */
};
extern struct task_stats task_stats;

#endif

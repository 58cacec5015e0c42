/* User-mode tasks and the system call table (see pvsim/task.h). Shared by
 * the PV and the native kernels: it uses only the address-space calls of
 * pvsim/mm.h, which each implements. */
#include <pvsim/task.h>
#include <pvsim/console.h>
#include <pvsim/string.h>
#include <pvsim/pv.h>

struct task_stats task_stats;
int (*task_fault_handler)(struct task *t, unsigned long va, unsigned long scause);
long (*task_munmap_handler)(struct task *t, unsigned long addr, unsigned long len);

static struct task *run_head, *run_tail;
static struct task *current;
static struct kernel_context task_kctx;

int task_map_user_text(struct addr_space *as)
{
    for (uintptr_t va = (uintptr_t)__user_start; va < (uintptr_t)__user_end; va += PAGE_SIZE) {
        int rc = as_map(as, USER_ENTRY(va), virt_to_mfn((void *)va), PTE_USER_RX);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int task_create(struct task *t, unsigned int id, struct addr_space *as, unsigned long entry,
                unsigned long arg0, unsigned long arg1)
{
    int rc;

    memset(t, 0, sizeof(*t));
    t->id = id;
    t->as = as;
    t->stack_pfn = page_alloc_high();
    clear_frame(t->stack_pfn);
    rc = as_map(as, USER_STACK_TOP - PAGE_SIZE, pfn_to_mfn(t->stack_pfn), PTE_USER_RW);
    if (rc < 0) {
        page_free(t->stack_pfn);
        return rc;
    }
    t->frame.sepc = entry;
    /* sret to U-mode (SPP = 0) with SPIE set; SUM off. */
    t->frame.sstatus = (csr_read(sstatus) & ~(SSTATUS_SPP | SSTATUS_SIE | SSTATUS_SUM)) |
                       SSTATUS_SPIE;
    t->frame.x[REG_SP] = USER_STACK_TOP;
    t->frame.x[REG_A0] = arg0;
    t->frame.x[REG_A1] = arg1;
    t->state = TASK_RUNNABLE;
    return 0;
}

int task_destroy(struct task *t)
{
    int rc = as_unmap(t->as, USER_STACK_TOP - PAGE_SIZE);

    if (rc == 0)
        page_free(t->stack_pfn);
    return rc;
}

void task_add(struct task *t)
{
    t->next = NULL;
    if (run_tail != NULL)
        run_tail->next = t;
    else
        run_head = t;
    run_tail = t;
}

/* Removes t (the head's predecessor chain is short: tasks are few). */
static void task_remove(struct task *t)
{
    struct task **pp = &run_head, *prev = NULL;

    while (*pp != NULL && *pp != t) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = t->next;
    if (run_tail == t)
        run_tail = prev;
    t->next = NULL;
}

static struct trap_frame *switch_to(struct task *next)
{
    if (next != current) {
        task_stats.switches++;
        if (next->as != current->as) {
            int rc = as_switch(next->as);
            if (rc < 0)
                panic("task switch %u -> %u: MMUEXT_NEW_BASEPTR = %d (%s)", current->id,
                      next->id, rc, xen_errstr(rc));
            task_stats.as_switches++;
        }
        current = next;
    }
    return &current->frame;
}

static long sys_write(unsigned long fd, unsigned long buf, unsigned long len)
{
    char chunk[128];
    unsigned long done = 0;

    if (fd != 1 && fd != 2)
        return -XEN_EBADF;
    if (buf >= USER_TOP || len > USER_TOP - buf)
        return -XEN_EFAULT;
    while (done < len) {
        unsigned long n = len - done < sizeof(chunk) ? len - done : sizeof(chunk);
        /* A bad user pointer faults here and panics (no fixups yet). */
        __asm__ volatile("csrs sstatus, %0" : : "r"(SSTATUS_SUM) : "memory");
        memcpy(chunk, (const void *)(buf + done), n);
        __asm__ volatile("csrc sstatus, %0" : : "r"(SSTATUS_SUM) : "memory");
        for (unsigned long i = 0; i < n; i++)
            console_putc(chunk[i]);
        done += n;
    }
    return (long)len;
}

static void account(const struct task *t, unsigned long nr, unsigned long result)
{
    task_stats.checksum = work_fold(work_fold(work_fold(task_stats.checksum, t->id),
                                              (uint32_t)nr), (uint32_t)result);
}

static struct trap_frame *task_syscall(struct trap_frame *f)
{
    unsigned long nr = f->x[REG_A7];
    struct task *t = current, *next;

    f->sepc += 4;
    if (nr < NR_SYSCALLS)
        task_stats.syscalls[nr]++;
    switch (nr) {
    case SYS_null:
        f->x[REG_A0] = 0;
        account(t, nr, 0);
        return f;
    case SYS_write:
        f->x[REG_A0] = (unsigned long)sys_write(f->x[REG_A0], f->x[REG_A1], f->x[REG_A2]);
        account(t, nr, f->x[REG_A0]);
        return f;
    case SYS_yield:
        f->x[REG_A0] = 0;
        account(t, nr, 0);
        next = t->next != NULL ? t->next : run_head;
        return switch_to(next);
    case SYS_exit:
        t->state = TASK_DEAD;
        t->exit_code = f->x[REG_A0];
        account(t, nr, t->exit_code);
        next = t->next != NULL ? t->next : run_head;
        task_remove(t);
        if (run_head == NULL)
            pv_user_leave(&task_kctx, 0);
        return switch_to(next == t ? run_head : next);
    case SYS_munmap:
        f->x[REG_A0] = task_munmap_handler != NULL
                           ? (unsigned long)task_munmap_handler(t, f->x[REG_A0], f->x[REG_A1])
                           : (unsigned long)-XEN_ENOSYS;
        account(t, nr, f->x[REG_A0]);
        return f;
    default:
        f->x[REG_A0] = (unsigned long)-XEN_ENOSYS;
        account(t, nr, f->x[REG_A0]);
        return f;
    }
}

/* A page fault in U-mode: the handler maps the page and the access is
 * retried (the same frame, sepc unchanged). */
static struct trap_frame *task_page_fault(struct trap_frame *f)
{
    if (task_fault_handler == NULL || task_fault_handler(current, f->stval, f->scause) != 0)
        trap_panic(f, "page fault");
    return f;
}

void tasks_run(void)
{
    int rc;

    if (run_head == NULL)
        return;
    trap_init();
    pv_syscall_entry = task_syscall;
    pv_fault_entry = task_page_fault;
    current = run_head;
    rc = as_switch(current->as);
    if (rc < 0)
        panic("tasks_run: MMUEXT_NEW_BASEPTR = %d (%s)", rc, xen_errstr(rc));
    (void)pv_user_enter(&current->frame, &task_kctx);
    /* Every task has exited; back to the kernel's own root. */
    rc = as_switch(&as_kernel);
    if (rc < 0)
        panic("tasks_run: MMUEXT_NEW_BASEPTR (kernel) = %d (%s)", rc, xen_errstr(rc));
    current = NULL;
}

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

/* Processes: forked tasks come from a pool; SYS_exec starts one of these. */
static struct task forked_pool[TASK_MAX_FORKED];
static bool forked_used[TASK_MAX_FORKED];
static unsigned int next_fork_id;
static const unsigned long *programs;
static unsigned int nr_programs;

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

/* Unmaps and frees t's data pages. */
static int drop_pages(struct task *t)
{
    while (t->nr_pages > 0) {
        struct task_page *p = &t->pages[t->nr_pages - 1];
        int rc = as_unmap(t->as, p->va);

        if (rc < 0)
            return rc;
        page_free(p->pfn);
        t->nr_pages--;
    }
    return 0;
}

int task_destroy(struct task *t)
{
    int rc = drop_pages(t);

    if (rc == 0)
        rc = as_unmap(t->as, USER_STACK_TOP - PAGE_SIZE);
    if (rc == 0)
        page_free(t->stack_pfn);
    return rc;
}

int task_map_page(struct task *t, unsigned long va)
{
    xen_pfn_t pfn;
    int rc;

    if (t->nr_pages == TASK_MAX_PAGES)
        return -XEN_ENOMEM;
    pfn = page_alloc();
    clear_frame(pfn);
    rc = as_map(t->as, va, pfn_to_mfn(pfn), PTE_USER_RW);
    if (rc < 0) {
        page_free(pfn);
        return rc;
    }
    t->pages[t->nr_pages].va = va;
    t->pages[t->nr_pages].pfn = pfn;
    t->nr_pages++;
    return 0;
}

void task_set_programs(const unsigned long *entries, unsigned int n)
{
    programs = entries;
    nr_programs = n;
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

/* The kernel's view of a frame: physmap, else a temporary read-only or
 * writable kmap (PV frames beyond the physmap). */
static void *frame_map(xen_pfn_t pfn, bool write, bool *kmapped)
{
    void *va = pfn_to_virt(pfn);

    *kmapped = va == NULL;
#ifdef PVSIM_NATIVE
    (void)write;                /* all RAM is in the native kernel's 1:1 map */
    if (va == NULL)
        panic("fork: pfn 0x%lx is not RAM", (unsigned long)pfn);
#else
    if (va == NULL)
        va = kmap(pfn_to_mfn(pfn), write ? PTE_KERNEL_RW : PTE_KERNEL_RO);
#endif
    return va;
}

/* A new frame holding a copy of src, mapped at va in as (fork's copy). */
static int copy_page_to(struct addr_space *as, unsigned long va, xen_pfn_t src, xen_pfn_t *out)
{
    xen_pfn_t pfn = page_alloc();
    bool ks, kd;
    void *s = frame_map(src, false, &ks), *d = frame_map(pfn, true, &kd);
    int rc;

    memcpy(d, s, PAGE_SIZE);
#ifndef PVSIM_NATIVE
    if (kd)
        kunmap(d);
    if (ks)
        kunmap(s);
#endif
    rc = as_map(as, va, pfn_to_mfn(pfn), PTE_USER_RW);
    if (rc < 0) {
        page_free(pfn);
        return rc;
    }
    task_stats.pages_copied++;
    *out = pfn;
    return 0;
}

/* Frees a forked task: its address space (not current), frames and slot. */
static void reap(struct task *c)
{
    int rc = as_destroy(c->as);

    if (rc < 0)
        panic("reaping task %u: %s = %d (%s)", c->id, mm_last_error_op ? mm_last_error_op : "?",
              rc, xen_errstr(rc));
    /* The tables are gone, and with them every mapping of these frames. */
    for (unsigned int i = 0; i < c->nr_pages; i++)
        page_free(c->pages[i].pfn);
    if (c->stack_pfn != 0)
        page_free(c->stack_pfn);
    forked_used[c - forked_pool] = false;
    task_stats.reaped++;
}

/* SYS_fork: a copy of t (its frame already past the ecall) in a new
 * address space: the user text mapped again, the stack and data pages
 * copied. The child runs after the tasks queued before it. */
static long sys_fork(struct task *t)
{
    struct task *c = NULL;
    int rc;

    for (unsigned int i = 0; i < TASK_MAX_FORKED; i++) {
        if (!forked_used[i]) {
            c = &forked_pool[i];
            forked_used[i] = true;
            break;
        }
    }
    if (c == NULL)
        return -XEN_EAGAIN;
    memset(c, 0, sizeof(*c));
    c->forked = true;
    c->as = &c->own_as;
    rc = as_create(c->as);
    if (rc < 0) {
        forked_used[c - forked_pool] = false;
        return rc;
    }
    rc = task_map_user_text(c->as);
    if (rc == 0)
        rc = copy_page_to(c->as, USER_STACK_TOP - PAGE_SIZE, t->stack_pfn, &c->stack_pfn);
    for (unsigned int i = 0; rc == 0 && i < t->nr_pages; i++) {
        rc = copy_page_to(c->as, t->pages[i].va, t->pages[i].pfn, &c->pages[i].pfn);
        if (rc == 0) {
            c->pages[i].va = t->pages[i].va;
            c->nr_pages++;
        }
    }
    if (rc < 0) {
        reap(c);
        task_stats.reaped--;
        return rc;
    }
    c->frame = t->frame;
    c->frame.x[REG_A0] = 0;
    c->id = next_fork_id++;
    c->parent = t;
    c->state = TASK_RUNNABLE;
    task_add(c);
    task_stats.forks++;
    return (long)c->id;
}

static struct task *find_child(const struct task *t, unsigned long id)
{
    for (unsigned int i = 0; i < TASK_MAX_FORKED; i++)
        if (forked_used[i] && forked_pool[i].parent == t && forked_pool[i].id == id)
            return &forked_pool[i];
    return NULL;
}

/* SYS_exec: the task's data pages and stack go, a fresh zeroed stack comes,
 * and the program starts from its entry with a0 = arg. The user text is
 * shared by every program, so it stays mapped. */
static long sys_exec(struct task *t, struct trap_frame *f)
{
    unsigned long prog = f->x[REG_A0], arg = f->x[REG_A1];
    unsigned long sstatus = f->sstatus;
    xen_pfn_t stack;
    int rc;

    if (prog >= nr_programs)
        return -XEN_ENOEXEC;
    rc = drop_pages(t);
    if (rc == 0)
        rc = as_unmap(t->as, USER_STACK_TOP - PAGE_SIZE);
    if (rc < 0)
        panic("exec in task %u: %s = %d (%s)", t->id, mm_last_error_op ? mm_last_error_op : "?",
              rc, xen_errstr(rc));
    page_free(t->stack_pfn);
    stack = page_alloc();
    clear_frame(stack);
    rc = as_map(t->as, USER_STACK_TOP - PAGE_SIZE, pfn_to_mfn(stack), PTE_USER_RW);
    if (rc < 0)
        panic("exec in task %u: mapping the stack: %s = %d (%s)", t->id,
              mm_last_error_op ? mm_last_error_op : "?", rc, xen_errstr(rc));
    t->stack_pfn = stack;
    memset(f, 0, sizeof(*f));
    f->sstatus = sstatus;
    f->sepc = programs[prog];
    f->x[REG_SP] = USER_STACK_TOP;
    f->x[REG_A0] = arg;
    task_stats.execs++;
    return 0;
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
    case SYS_exit: {
        struct task *parent = t->parent, *after = t->next;
        bool wake = parent != NULL && parent->state == TASK_WAITING && parent->wait_id == t->id;
        struct trap_frame *resume;

        t->state = TASK_DEAD;
        t->exit_code = f->x[REG_A0];
        account(t, nr, t->exit_code);
        task_remove(t);
        if (wake) {
            /* The parent's SYS_wait completes now. */
            parent->state = TASK_RUNNABLE;
            parent->frame.x[REG_A0] = t->exit_code;
            account(parent, SYS_wait, t->exit_code);
            task_add(parent);
        }
        if (run_head == NULL)
            pv_user_leave(&task_kctx, 0);
        resume = switch_to(after != NULL ? after : run_head);
        /* Off t's address space now: a reaped child's can go. */
        if (wake)
            reap(t);
        return resume;
    }
    case SYS_fork:
        f->x[REG_A0] = (unsigned long)sys_fork(t);
        account(t, nr, f->x[REG_A0]);
        return f;
    case SYS_wait: {
        struct task *c = find_child(t, f->x[REG_A0]);

        if (c == NULL) {
            f->x[REG_A0] = (unsigned long)-XEN_ECHILD;
            account(t, nr, f->x[REG_A0]);
            return f;
        }
        if (c->state == TASK_DEAD) {
            f->x[REG_A0] = c->exit_code;
            account(t, nr, c->exit_code);
            reap(c);
            return f;
        }
        /* Sleep until the child exits (SYS_exit wakes us); the child is
         * runnable, so the queue is not empty without us. */
        t->state = TASK_WAITING;
        t->wait_id = c->id;
        next = t->next != NULL ? t->next : run_head;
        task_remove(t);
        return switch_to(next == t ? run_head : next);
    }
    case SYS_exec: {
        long rc = sys_exec(t, f);

        account(t, nr, (unsigned long)rc);
        if (rc < 0)
            f->x[REG_A0] = (unsigned long)rc;
        return f;
    }
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
    next_fork_id = 2;
    rc = as_switch(current->as);
    if (rc < 0)
        panic("tasks_run: MMUEXT_NEW_BASEPTR = %d (%s)", rc, xen_errstr(rc));
    (void)pv_user_enter(&current->frame, &task_kctx);
    /* Every task has exited; back to the kernel's own root. */
    rc = as_switch(&as_kernel);
    if (rc < 0)
        panic("tasks_run: MMUEXT_NEW_BASEPTR (kernel) = %d (%s)", rc, xen_errstr(rc));
    current = NULL;
    /* Children nobody waited for. */
    for (unsigned int i = 0; i < TASK_MAX_FORKED; i++)
        if (forked_used[i])
            reap(&forked_pool[i]);
}

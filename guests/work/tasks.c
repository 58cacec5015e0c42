/*
 * Workloads with user-mode tasks:
 *   work=syscall n=N [as=kernel|private]   N null system calls from one task
 *   work=ctxsw n=N [as=private|kernel]     two tasks, N SYS_yield each
 *   work=user-hello [as=kernel|private]    one SYS_write from U-mode
 * as=kernel puts the user pages in the kernel root's user slots; private
 * gives each task its own root (PV: pinned with MMUEXT_PIN_L2_TABLE,
 * switched with MMUEXT_NEW_BASEPTR; native: satp).
 * result= is task_stats.checksum over the run: every system call's task,
 * number and result in order, so for ctxsw it is the yield sequence.
 */
#include <pvsim/task.h>
#include <pvsim/string.h>
#include <pvsim/cmdline.h>
#include "work.h"

extern char user_syscall_loop[], user_yield_loop[], user_hello[];

static bool want_private(const char *dflt)
{
    const char *as = cmdline_get("as");

    if (as == NULL)
        as = dflt;
    if (strcmp(as, "private") == 0)
        return true;
    if (strcmp(as, "kernel") != 0)
        work_fail("as=%s: expected as=kernel or as=private", as);
    return false;
}

static void mm_check(int rc, const char *what)
{
    if (rc < 0)
        work_fail("%s: %s = %d (%s)", what, mm_last_error_op ? mm_last_error_op : "?", rc,
                  xen_errstr(rc));
}

/* The address space for a task: the kernel's, or a fresh one (in *priv). */
static struct addr_space *space_for(bool private_as, struct addr_space *priv)
{
    struct addr_space *as = &as_kernel;

    if (private_as) {
        mm_check(as_create(priv), "new root table (MMUEXT_PIN_L2_TABLE)");
        as = priv;
    }
    mm_check(task_map_user_text(as), "mapping the user text");
    return as;
}

static void start_task(struct task *t, unsigned int id, struct addr_space *as, void *entry,
                       unsigned long arg)
{
    mm_check(task_create(t, id, as, USER_ENTRY(entry), arg, 0), "user stack");
    task_add(t);
}

static void finish_task(struct task *t)
{
    if (t->exit_code != 0)
        work_fail("user task %u exited with %lu", t->id, t->exit_code);
    mm_check(task_destroy(t), "unmapping the user stack");
}

void work_syscall(void)
{
    unsigned long n = param("n", 100000);
    bool private_as = want_private("kernel");
    struct addr_space priv, *as;
    struct task t;
    struct measure m;
    uint32_t before;

    mm_init();
    as = space_for(private_as, &priv);
    start_task(&t, 1, as, user_syscall_loop, n);
    before = task_stats.syscalls[SYS_null];
    task_stats.checksum = WORK_FOLD_INIT;
    measure_start(&m);
    tasks_run();
    measure_stop(&m);
    finish_task(&t);
    if (task_stats.syscalls[SYS_null] - before != n)
        work_fail("%lu null system calls counted, %lu expected",
                  (unsigned long)(task_stats.syscalls[SYS_null] - before), n);
    mm_check(as_destroy(as), "tearing down the user tables");
    printf("work=syscall n=%lu as=%s syscalls=%lu instructions=%llu ns=%llu ns_per_call=%llu instructions_per_call=%llu result=0x%08lx\n",
           n, private_as ? "private" : "kernel", n, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, n),
           (unsigned long long)per(m.instructions, n), (unsigned long)task_stats.checksum);
}

void work_ctxsw(void)
{
    unsigned long n = param("n", 10000);
    bool private_as = want_private("private");
    struct addr_space priv[2], *as[2];
    struct task t[2];
    struct measure m;
    uint32_t switches, as_switches;

    mm_init();
    as[0] = space_for(private_as, &priv[0]);
    as[1] = private_as ? space_for(true, &priv[1]) : as[0];
    start_task(&t[0], 1, as[0], user_yield_loop, n);
    start_task(&t[1], 2, as[1], user_yield_loop, n);
    switches = task_stats.switches;
    as_switches = task_stats.as_switches;
    task_stats.checksum = WORK_FOLD_INIT;
    measure_start(&m);
    tasks_run();
    measure_stop(&m);
    switches = task_stats.switches - switches;
    as_switches = task_stats.as_switches - as_switches;
    finish_task(&t[0]);
    finish_task(&t[1]);
    if (switches < 2 * n)
        work_fail("%lu task switches for 2 x %lu yields", (unsigned long)switches, n);
    mm_check(as_destroy(as[0]), "tearing down the user tables");
    if (as[1] != as[0])
        mm_check(as_destroy(as[1]), "tearing down the user tables");
    printf("work=ctxsw n=%lu as=%s tasks=2 switches=%lu as_switches=%lu instructions=%llu ns=%llu ns_per_switch=%llu result=0x%08lx\n",
           n, private_as ? "private" : "kernel", (unsigned long)switches,
           (unsigned long)as_switches, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, switches),
           (unsigned long)task_stats.checksum);
}

void work_user_hello(void)
{
    bool private_as = want_private("kernel");
    struct addr_space priv, *as;
    struct task t;

    mm_init();
    as = space_for(private_as, &priv);
    start_task(&t, 1, as, user_hello, 0);
    task_stats.checksum = WORK_FOLD_INIT;
    tasks_run();
    finish_task(&t);
    mm_check(as_destroy(as), "tearing down the user tables");
    printf("work=user-hello as=%s writes=%lu exit=%lu result=0x%08lx\n",
           private_as ? "private" : "kernel", (unsigned long)task_stats.syscalls[SYS_write],
           t.exit_code, (unsigned long)task_stats.checksum);
}

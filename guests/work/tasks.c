/*
 * Workloads with user-mode tasks:
 *   work=syscall n=N [as=kernel|private]   N null system calls from one task
 *   work=ctxsw n=N [as=private|kernel]     two tasks, N SYS_yield each
 *   work=user-hello [as=kernel|private]    one SYS_write from U-mode
 *   work=pgfault n=N [pages=P] [overrun=K] N rounds of P demand-zero page faults
 *   work=fork n=N [pages=P]                N fork + exit + wait of a small process
 *   work=shell n=N                         N commands: fork, exec, exit, wait
 *   work=tlbwalk [size=S] [steps=N] [mega] a TLB-miss-bound random walk
 * as=kernel puts the user pages in the kernel root's user slots; private
 * gives each task its own root (PV: pinned with MMUEXT_PIN_L2_TABLE,
 * switched with MMUEXT_NEW_BASEPTR; native: satp).
 * result= is task_stats.checksum over the run: every system call's task,
 * number and result in order, so for ctxsw it is the yield sequence.
 */
#include <pvsim/task.h>
#include <pvsim/string.h>
#include <pvsim/cmdline.h>
#include <pvsim/format.h>
#include "work.h"

extern char user_syscall_loop[], user_yield_loop[], user_hello[], user_pgfault_loop[];

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
    printf("work=syscall n=%lu as=%s syscalls=%lu instructions=%llu ns=%llu ns_per_call=%llu instructions_per_call=%llu result=0x%08lx check=0x%08lx\n",
           n, private_as ? "private" : "kernel", n, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, n),
           (unsigned long long)per(m.instructions, n), (unsigned long)task_stats.checksum,
           (unsigned long)task_stats.checksum);
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
    printf("work=ctxsw n=%lu as=%s tasks=2 switches=%lu as_switches=%lu instructions=%llu ns=%llu ns_per_switch=%llu result=0x%08lx check=0x%08lx\n",
           n, private_as ? "private" : "kernel", (unsigned long)switches,
           (unsigned long)as_switches, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, switches),
           (unsigned long)task_stats.checksum, (unsigned long)task_stats.checksum);
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
    printf("work=user-hello as=%s writes=%lu exit=%lu result=0x%08lx check=0x%08lx\n",
           private_as ? "private" : "kernel", (unsigned long)task_stats.syscalls[SYS_write],
           t.exit_code, (unsigned long)task_stats.checksum, (unsigned long)task_stats.checksum);
}

/*
 * work=pgfault: one task in its own address space touches P pages of a
 * region that nothing maps, N rounds. Each first touch (a load) is a page
 * fault to this kernel, whose handler maps a fresh zeroed frame there with
 * as_map (PV: mmu_update; native: a PTE store and sfence.vma) and retries
 * the access; the task stores a value per page and loads it back. At the end
 * of a round the task calls SYS_munmap: the kernel folds each page's first
 * word (what the task read back), unmaps the pages (as_unmap) and frees the
 * frames. result= is that fold, so it depends on n and pages only.
 * overrun=K (a test) makes the task touch K pages past the region: the first
 * such fault must fail the workload.
 */
#define PGFAULT_BASE      0x00800000UL  /* user slot 2: an L1 table of its own */
#define PGFAULT_MAX_PAGES L1_ENTRIES
#define PGFAULT_SPARE     16U           /* frames beyond the region: tables, stack */

static struct {
    unsigned long pages;
    uint32_t faults;
    uint32_t fold;
    xen_pfn_t pfn[PGFAULT_MAX_PAGES];   /* INVALID_PFN: not mapped */
} pgf;

static const char *fault_kind(unsigned long scause)
{
    switch (scause) {
    case CAUSE_LOAD_PAGE_FAULT:
        return "load page fault";
    case CAUSE_STORE_PAGE_FAULT:
        return "store page fault";
    default:
        return "instruction page fault";
    }
}

static int pgfault_fault(struct task *t, unsigned long va, unsigned long scause)
{
    unsigned long end = PGFAULT_BASE + pgf.pages * PAGE_SIZE, i, page;
    xen_pfn_t pfn;
    int rc;

    if (va < PGFAULT_BASE || va >= end || scause == CAUSE_FETCH_PAGE_FAULT)
        work_fail("task %u: %s at 0x%08lx, outside the region [0x%08lx, 0x%08lx)", t->id,
                  fault_kind(scause), va, PGFAULT_BASE, end);
    i = (va - PGFAULT_BASE) >> PAGE_SHIFT;
    page = PGFAULT_BASE + i * PAGE_SIZE;
    if (pgf.pfn[i] != INVALID_PFN)
        work_fail("task %u: %s at 0x%08lx again: the page is mapped (pfn 0x%lx)", t->id,
                  fault_kind(scause), va, (unsigned long)pgf.pfn[i]);
    pfn = page_alloc();
    clear_frame(pfn);
    rc = as_map(t->as, page, pfn_to_mfn(pfn), PTE_USER_RW);
    if (rc < 0)
        work_fail("mapping 0x%08lx on a %s: %s = %d (%s)", page, fault_kind(scause),
                  mm_last_error_op ? mm_last_error_op : "?", rc, xen_errstr(rc));
    pgf.pfn[i] = pfn;
    pgf.faults++;
    return 0;
}

static long pgfault_munmap(struct task *t, unsigned long addr, unsigned long len)
{
    if (addr != PGFAULT_BASE || len != pgf.pages * PAGE_SIZE)
        return -XEN_EINVAL;
    for (unsigned long i = 0; i < pgf.pages; i++)
        if (pgf.pfn[i] == INVALID_PFN)
            work_fail("SYS_munmap: page 0x%08lx was never touched", PGFAULT_BASE + i * PAGE_SIZE);
    /* Through the task's own mapping: what it read back. */
    __asm__ volatile("csrs sstatus, %0" : : "r"(SSTATUS_SUM) : "memory");
    for (unsigned long i = 0; i < pgf.pages; i++)
        pgf.fold = work_fold(pgf.fold, *(volatile uint32_t *)(PGFAULT_BASE + i * PAGE_SIZE));
    __asm__ volatile("csrc sstatus, %0" : : "r"(SSTATUS_SUM) : "memory");
    for (unsigned long i = 0; i < pgf.pages; i++) {
        unsigned long page = PGFAULT_BASE + i * PAGE_SIZE;
        int rc = as_unmap(t->as, page);

        if (rc < 0)
            work_fail("SYS_munmap: unmapping 0x%08lx: %s = %d (%s)", page,
                      mm_last_error_op ? mm_last_error_op : "?", rc, xen_errstr(rc));
        page_free(pgf.pfn[i]);
        pgf.pfn[i] = INVALID_PFN;
    }
    return 0;
}

void work_pgfault(void)
{
    unsigned long n = param("n", 10);
    unsigned long pages = param("pages", 64);
    unsigned long overrun = param("overrun", 0);   /* a test: touch beyond the region */
    struct addr_space priv, *as;
    struct task t;
    struct measure m;

    if (pages == 0 || pages > PGFAULT_MAX_PAGES)
        work_fail("pages=%lu: 1..%u", pages, PGFAULT_MAX_PAGES);
    if (overrun > PGFAULT_MAX_PAGES)
        work_fail("overrun=%lu: 0..%u", overrun, PGFAULT_MAX_PAGES);
    if (n > UINT32_MAX / pages)
        work_fail("n=%lu x pages=%lu faults do not fit 32 bits", n, pages);
    mm_init();
    if (pages_free() < pages + PGFAULT_SPARE)
        work_fail("pages=%lu: %lu free frames, %lu needed", pages, pages_free(),
                  pages + PGFAULT_SPARE);
    as = space_for(true, &priv);
    start_task(&t, 1, as, user_pgfault_loop, n);
    t.frame.x[REG_A1] = pages + overrun;
    t.frame.x[REG_A2] = PGFAULT_BASE;
    pgf.pages = pages;
    pgf.faults = 0;
    pgf.fold = WORK_FOLD_INIT;
    for (unsigned long i = 0; i < pages; i++)
        pgf.pfn[i] = INVALID_PFN;
    task_fault_handler = pgfault_fault;
    task_munmap_handler = pgfault_munmap;
    measure_start(&m);
    tasks_run();
    measure_stop(&m);
    task_fault_handler = NULL;
    task_munmap_handler = NULL;
    if (t.exit_code == 2 || t.exit_code == 3)
        work_fail("the task %s (exit code %lu)",
                  t.exit_code == 2 ? "found a fresh page not zeroed" : "read back another value",
                  t.exit_code);
    finish_task(&t);
    if (pgf.faults != n * pages)
        work_fail("%lu page faults for %lu rounds of %lu pages", (unsigned long)pgf.faults, n,
                  pages);
    mm_check(as_destroy(as), "tearing down the user tables");
    printf("work=pgfault n=%lu pages=%lu faults=%lu instructions=%llu ns=%llu ns_per_fault=%llu result=0x%08lx check=0x%08lx\n",
           n, pages, (unsigned long)pgf.faults, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, pgf.faults),
           (unsigned long)pgf.fold, (unsigned long)pgf.fold);
}

/*
 * work=fork n=N [pages=P]: lmbench's lat_proc fork in spirit. One task in
 * its own address space with P data pages (default 4) and its stack forks
 * N times; each child (a new root, the user text mapped again, the stack
 * and data pages copied: PV builds and pins the tables with mmuext_op and
 * fills them with mmu_update; native stores PTEs) adds to its copies and
 * exits; the parent waits for it (SYS_wait), which reaps the child's
 * address space. result is task_stats.checksum: every system call with
 * its task id and result (fork's child ids, wait's exit codes) in order.
 */
#define PROC_DATA_BASE 0x00800000UL

extern char user_fork_loop[], user_shell[], prog_true[], prog_sum[], prog_fib[], prog_hash[];
extern char user_tlbwalk[];

void work_fork(void)
{
    unsigned long n = param("n", 1000);
    unsigned long pages = param("pages", 4);
    struct addr_space priv, *as;
    struct task t;
    struct measure m;
    uint32_t forks, copied;

    if (pages == 0 || pages > TASK_MAX_PAGES)
        work_fail("pages=%lu: 1..%u", pages, TASK_MAX_PAGES);
    mm_init();
    as = space_for(true, &priv);
    start_task(&t, 1, as, user_fork_loop, n);
    t.frame.x[REG_A1] = PROC_DATA_BASE;
    t.frame.x[REG_A2] = pages;
    for (unsigned long p = 0; p < pages; p++)
        mm_check(task_map_page(&t, PROC_DATA_BASE + p * PAGE_SIZE), "a data page");
    forks = task_stats.forks;
    copied = task_stats.pages_copied;
    task_stats.checksum = WORK_FOLD_INIT;
    measure_start(&m);
    tasks_run();
    measure_stop(&m);
    forks = task_stats.forks - forks;
    copied = task_stats.pages_copied - copied;
    finish_task(&t);
    if (forks != n)
        work_fail("%lu forks for n=%lu", (unsigned long)forks, n);
    mm_check(as_destroy(as), "tearing down the user tables");
    printf("work=fork n=%lu pages=%lu forks=%lu pages_copied=%lu instructions=%llu ns=%llu "
           "ns_per_fork=%llu instructions_per_fork=%llu check=0x%08lx\n",
           n, pages, (unsigned long)forks, (unsigned long)copied,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n), (unsigned long long)per(m.instructions, n),
           (unsigned long)task_stats.checksum);
}

/*
 * work=shell n=N: a shell-like loop, N commands: the shell task forks, the
 * child execs one of four small programs (true, sum of squares, Fibonacci,
 * a hash of bytes it writes on its stack: command i runs program i % 4 with
 * argument i) and the shell waits for it. Every process has its own address
 * space, so this is fork + exec + exit + wait + address-space teardown per
 * command. check= is task_stats.checksum (the programs' exit codes among
 * it).
 */
void work_shell(void)
{
    unsigned long n = param("n", 100);
    static unsigned long entries[4];
    struct addr_space priv, *as;
    struct task t;
    struct measure m;
    uint32_t forks, execs;

    entries[0] = USER_ENTRY(prog_true);
    entries[1] = USER_ENTRY(prog_sum);
    entries[2] = USER_ENTRY(prog_fib);
    entries[3] = USER_ENTRY(prog_hash);
    task_set_programs(entries, PV_ARRAY_SIZE(entries));
    mm_init();
    as = space_for(true, &priv);
    start_task(&t, 1, as, user_shell, n);
    t.frame.x[REG_A1] = PV_ARRAY_SIZE(entries);
    forks = task_stats.forks;
    execs = task_stats.execs;
    task_stats.checksum = WORK_FOLD_INIT;
    measure_start(&m);
    tasks_run();
    measure_stop(&m);
    forks = task_stats.forks - forks;
    execs = task_stats.execs - execs;
    task_set_programs(NULL, 0);
    if (t.exit_code == 2)
        work_fail("an exec failed in a child");
    finish_task(&t);
    if (forks != n || execs != n)
        work_fail("%lu forks and %lu execs for n=%lu", (unsigned long)forks,
                  (unsigned long)execs, n);
    mm_check(as_destroy(as), "tearing down the user tables");
    printf("work=shell n=%lu programs=%u forks=%lu execs=%lu instructions=%llu ns=%llu "
           "ns_per_command=%llu instructions_per_command=%llu check=0x%08lx\n",
           n, (unsigned int)PV_ARRAY_SIZE(entries), (unsigned long)forks, (unsigned long)execs,
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n), (unsigned long long)per(m.instructions, n),
           (unsigned long)task_stats.checksum);
}

/*
 * work=tlbwalk [size=S] [steps=N] [mega]: a TLB-miss-bound random walk. A
 * user task walks a region of S bytes (size=<n>K or <n>M, a plain number
 * is KiB; default 8M, at most 8M) at 0x00800000, N steps (default 200000),
 * each a load and a store of a word on a random page (user_tlbwalk), far
 * more pages than any TLB holds. With 4 KiB pages (default) nearly every
 * step misses the TLB and walks two levels; `mega` maps the region with
 * 4 MiB Sv32 megapages instead (S a multiple of 4M), one TLB entry each,
 * where the kernel can: the native kernel can (on the board and in an HVM
 * domain); the PV kernel asks (mmu_update of a leaf in the root) and Xen's
 * PV MMU, like pvsim's, refuses, so it says why and walks 4 KiB pages:
 * `pages=` on the result line is what was walked. check= folds steps and
 * the walk's sum (a fold of every word read), the same for either page
 * size.
 */
#define TLBWALK_BASE      0x00800000UL
#define TLBWALK_MAX_BYTES (USER_TOP - TLBWALK_BASE)
#define TLBWALK_MEGA      (TLBWALK_MAX_BYTES / L1_SPAN)

static xen_pfn_t tlbwalk_pfn[TLBWALK_MAX_BYTES / PAGE_SIZE];

/* size=<n>[K|M] in bytes (a plain number: KiB), or dflt. */
static unsigned long param_size(const char *key, unsigned long dflt)
{
    const char *v = cmdline_get(key), *given = v;
    unsigned long n = 0, unit = 1024;

    if (v == NULL || *v == 0)
        return dflt;
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > 0x00ffffffUL)
            work_fail("%s=%s: too large", key, given);
        n = n * 10 + (unsigned long)(*v - '0');
    }
    if (*v == 'M' || *v == 'm')
        unit = 1024 * 1024, v++;
    else if (*v == 'K' || *v == 'k')
        v++;
    if (*v != 0 && *v != ' ')
        work_fail("%s=%s: expected <n>K or <n>M", key, given);
    if (n > 0x7fffffffUL / unit)
        work_fail("%s=%s: too large", key, given);
    return n * unit;
}

/* Maps the region with megapages; false (and why in reason) if it cannot. */
static bool tlbwalk_map_mega(struct addr_space *as, unsigned long blocks, xen_pfn_t *first,
                             char *reason, size_t len)
{
    unsigned long b;
    int rc;

    for (b = 0; b < blocks; b++) {
        first[b] = page_alloc_mega();
        if (first[b] == INVALID_PFN) {
            snprintf(reason, len, "no free run of %u frames contiguous and 4 MiB-aligned in machine memory",
                     MEGA_FRAMES);
            break;
        }
    }
    if (b == blocks) {
        rc = as_map_mega(as, TLBWALK_BASE, pfn_to_mfn(first[0]), PTE_USER_RW);
        if (rc == 0) {
            for (b = 1; b < blocks; b++) {
                rc = as_map_mega(as, TLBWALK_BASE + b * L1_SPAN, pfn_to_mfn(first[b]),
                                 PTE_USER_RW);
                if (rc < 0)
                    work_fail("megapage %lu: %s = %d (%s)", b,
                              mm_last_error_op ? mm_last_error_op : "?", rc, xen_errstr(rc));
            }
            for (b = 0; b < blocks; b++)
                for (unsigned int i = 0; i < MEGA_FRAMES; i++)
                    clear_frame(first[b] + i);
            return true;
        }
        snprintf(reason, len, "%s of a 4 MiB leaf = %d (%s)",
                 mm_last_error_op ? mm_last_error_op : "?", rc, xen_errstr(rc));
    }
    while (b-- > 0)
        for (unsigned int i = 0; i < MEGA_FRAMES; i++)
            page_free(first[b] + i);
    return false;
}

void work_tlbwalk(void)
{
    unsigned long size = param_size("size", 8UL << 20);
    unsigned long steps = param("steps", 200000);
    bool want_mega = flag("mega"), mega = false;
    unsigned long pages = size / PAGE_SIZE, blocks = size / L1_SPAN;
    xen_pfn_t first[TLBWALK_MEGA] = { 0 };
    struct addr_space priv, *as;
    struct task t;
    struct measure m;
    unsigned long sum;
    char reason[120];

    if (size == 0 || size % PAGE_SIZE != 0 || size > TLBWALK_MAX_BYTES)
        work_fail("size=%luK: a multiple of 4K up to %luK", size / 1024,
                  (unsigned long)TLBWALK_MAX_BYTES / 1024);
    if (want_mega && size % L1_SPAN != 0)
        work_fail("size=%luK with mega: a multiple of 4M", size / 1024);
    mm_init();
    if (pages_free() < pages + 16)
        work_fail("size=%luK: %lu free frames, %lu needed", size / 1024, pages_free(),
                  pages + 16);
    as = space_for(true, &priv);
    if (want_mega) {
        mega = tlbwalk_map_mega(as, blocks, first, reason, sizeof(reason));
        if (!mega)
            printf("tlbwalk: no 4 MiB pages: %s; walking 4 KiB pages\n", reason);
    }
    if (!mega) {
        for (unsigned long i = 0; i < pages; i++) {
            tlbwalk_pfn[i] = page_alloc();
            clear_frame(tlbwalk_pfn[i]);
            mm_check(as_map(as, TLBWALK_BASE + i * PAGE_SIZE, pfn_to_mfn(tlbwalk_pfn[i]),
                            PTE_USER_RW), "mapping the region");
        }
    }
    start_task(&t, 1, as, user_tlbwalk, steps);
    t.frame.x[REG_A1] = TLBWALK_BASE;
    t.frame.x[REG_A2] = pages;
    measure_start(&m);
    tasks_run();
    measure_stop(&m);
    sum = t.exit_code;          /* the walk's result, not a failure */
    t.exit_code = 0;
    finish_task(&t);
    mm_check(as_destroy(as), "tearing down the user tables");
    if (mega) {
        for (unsigned long b = 0; b < blocks; b++)
            for (unsigned int i = 0; i < MEGA_FRAMES; i++)
                page_free(first[b] + i);
    } else {
        for (unsigned long i = 0; i < pages; i++)
            page_free(tlbwalk_pfn[i]);
    }
    printf("work=tlbwalk size_kib=%lu pages=%s region_pages=%lu steps=%lu instructions=%llu "
           "ns=%llu ns_per_step=%llu check=0x%08lx\n",
           size / 1024, mega ? "4m" : "4k", pages, steps, (unsigned long long)m.instructions,
           (unsigned long long)m.ns, (unsigned long long)per(m.ns, steps),
           (unsigned long)work_fold(work_fold(WORK_FOLD_INIT, (uint32_t)steps), (uint32_t)sum));
}

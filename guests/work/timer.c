/*
 * work=timer n=N period_us=P: N sleep/wake cycles. Each arms set_timer_op
 * for now + P us, blocks (SCHEDOP_block) until VIRQ_TIMER wakes the domain
 * and the time has come, and records how late the wake-up was. `forever`
 * never stops (an I/O-like domain for scheduler tests) and prints a line
 * every `report=K` wake-ups if K > 0. Deadlines are periodic (deadline +=
 * P), so lateness does not accumulate.
 *
 * wait=block (default) is the above; wait=poll sleeps with SCHEDOP_poll
 * (no ports, timeout = deadline) instead, which needs no event channel. If
 * the hypervisor lacks what wait=block needs (update_va_mapping for
 * shared_info, or event channels: -ENOSYS), wait=block falls back to
 * wait=poll and says so on the console.
 */
#include <pvsim/time.h>
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include "work.h"

struct lateness {
    uint64_t min, max, sum;
    unsigned long count;
};

static void record(struct lateness *l, uint64_t late)
{
    if (l->count == 0 || late < l->min)
        l->min = late;
    if (late > l->max)
        l->max = late;
    l->sum += late;
    l->count++;
}

void work_timer(void)
{
    unsigned long n = param("n", 100);
    unsigned long period_us = param("period_us", 1000);
    bool forever = flag("forever");
    unsigned long report = param("report", 0);
    uint64_t period = (uint64_t)period_us * 1000;
    struct lateness l = { 0 };
    const char *wait = cmdline_get("wait");
    bool poll = wait != NULL && strcmp(wait, "poll") == 0;
    struct measure m;
    uint64_t deadline, now;
    uint32_t result = WORK_FOLD_INIT;

    if (period == 0)
        work_fail("period_us must be > 0");
    if (wait != NULL && !poll && strcmp(wait, "block") != 0)
        work_fail("wait=%s: expected block or poll", wait);
    poll = plat_timer_setup(poll);
    measure_start(&m);
    deadline = time_now_ns();
    for (unsigned long i = 0; forever || i < n; i++) {
        deadline += period;
        now = poll ? sleep_until_poll(deadline) : sleep_until(deadline);
        record(&l, now - deadline);
        if (now - deadline > period)
            deadline = now;         /* fell behind by a whole period: resynchronise */
        if (forever && report && l.count % report == 0) {
            printf("work=timer forever period_us=%lu wait=%s wakeups=%lu late_min_ns=%llu late_avg_ns=%llu late_max_ns=%llu\n",
                   period_us, poll ? "poll" : "block", l.count, (unsigned long long)l.min,
                   (unsigned long long)per(l.sum, l.count), (unsigned long long)l.max);
            l = (struct lateness){ 0 };
        }
    }
    measure_stop(&m);
    if (!poll)
        plat_timer_stop();
    for (unsigned long i = 1; i <= l.count; i++)
        result = work_fold(result, (uint32_t)i);
    printf("work=timer n=%lu period_us=%lu wait=%s wakeups=%lu timer_events=%lu instructions=%llu ns=%llu "
           "late_min_ns=%llu late_avg_ns=%llu late_max_ns=%llu result=0x%08lx check=0x%08lx\n",
           n, period_us, poll ? "poll" : "block", l.count, (unsigned long)timer_events(),
           (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)l.min, (unsigned long long)per(l.sum, l.count),
           (unsigned long long)l.max, (unsigned long)result, (unsigned long)result);
}

/*
 * Interrupt micro-benchmarks shared by the PV and the native kernel:
 *   work=irq n=N                   N disable/enable pairs of interrupt delivery
 *   work=timerlat n=N delay_us=D   N timer interrupts: handler entry - deadline
 * check= folds only what does not depend on time: the parameters and the
 * work done (irq: a value computed inside each masked section; timerlat:
 * the samples' count), so it is the same on every kernel and board.
 */
#include <pvsim/time.h>
#include "work.h"

#define TIMERLAT_MAX 4096U

void work_irq(void)
{
    unsigned long n = param("n", 100000);
    const char *what = plat_irq_setup();
    struct measure m;
    uint32_t x = 1;

    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        plat_irq_disable();
        x = x * 1664525U + (uint32_t)i;     /* the critical section */
        plat_irq_enable();
    }
    measure_stop(&m);
    printf("work=irq n=%lu mask=%s toggles=%lu instructions=%llu ns=%llu ns_per_toggle=%llu "
           "instructions_per_toggle=%llu check=0x%08lx\n",
           n, what, n, (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long long)per(m.ns, n), (unsigned long long)per(m.instructions, n),
           (unsigned long)work_fold(work_fold(WORK_FOLD_INIT, (uint32_t)n), x));
}

/* Sorts a[0..n) ascending (Shell's sort with Ciura's gaps: n is small). */
static void sort_u32(uint32_t *a, unsigned int n)
{
    static const unsigned int gaps[] = { 701, 301, 132, 57, 23, 10, 4, 1 };

    for (unsigned int g = 0; g < PV_ARRAY_SIZE(gaps); g++) {
        unsigned int gap = gaps[g];
        for (unsigned int i = gap; i < n; i++) {
            uint32_t v = a[i];
            unsigned int j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
    }
}

/* The value at quantile q/100 of sorted a[0..n) (nearest rank). */
static uint32_t quantile(const uint32_t *a, unsigned int n, unsigned int q)
{
    unsigned int rank = (n * q + 99) / 100;

    return n == 0 ? 0 : a[rank == 0 ? 0 : rank - 1];
}

/*
 * work=timerlat: N times arm the one-shot timer for now + D us and sleep
 * (PV: set_timer_op and SCHEDOP_block; native: SBI set_timer and wfi); the
 * timer's handler stamps the time it began (timer_last_event_ns). Latency
 * = that stamp - the deadline: the hypervisor's timer and injection path
 * plus the kernel's own entry path. A handler that ran before the deadline
 * (the timer fired early and sleep_until armed it again) counts 0.
 */
void work_timerlat(void)
{
    static uint32_t lat[TIMERLAT_MAX];
    unsigned long n = param("n", 100);
    unsigned long delay_us = param("delay_us", 200);
    uint64_t delay = (uint64_t)delay_us * 1000, sum = 0;
    uint32_t fold = WORK_FOLD_INIT;
    struct measure m;

    if (n == 0 || n > TIMERLAT_MAX)
        work_fail("n=%lu: 1..%u", n, TIMERLAT_MAX);
    if (delay == 0)
        work_fail("delay_us must be > 0");
    if (plat_timer_setup(false))
        work_fail("no timer interrupts (the hypervisor lacks event channels)");
    measure_start(&m);
    for (unsigned long i = 0; i < n; i++) {
        uint64_t deadline = time_now_ns() + delay, entry;

        (void)sleep_until(deadline);
        entry = timer_last_event_ns();
        lat[i] = entry > deadline ? (uint32_t)(entry - deadline > UINT32_MAX ? UINT32_MAX
                                                                           : entry - deadline)
                                  : 0;
        sum += lat[i];
        fold = work_fold(fold, (uint32_t)i + 1);
    }
    measure_stop(&m);
    plat_timer_stop();
    sort_u32(lat, (unsigned int)n);
    printf("work=timerlat n=%lu delay_us=%lu samples=%lu instructions=%llu ns=%llu "
           "lat_min_ns=%lu lat_avg_ns=%llu lat_p50_ns=%lu lat_p99_ns=%lu lat_max_ns=%lu "
           "check=0x%08lx\n",
           n, delay_us, n, (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long)lat[0], (unsigned long long)per(sum, n),
           (unsigned long)quantile(lat, (unsigned int)n, 50),
           (unsigned long)quantile(lat, (unsigned int)n, 99), (unsigned long)lat[n - 1],
           (unsigned long)fold);
}

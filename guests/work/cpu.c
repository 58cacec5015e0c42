/*
 * work=cpu: the compute mix of guests/bench (bench/workload.c) in the PV
 * kernel. `iterations=N` (alias n=, default 100) rounds; the checksum is
 * compared with the QEMU-measured references where one exists. `forever`
 * repeats batches of N rounds until the domain is destroyed (a CPU hog),
 * printing a line every `report=K` batches if K > 0.
 */
#include "work.h"
#include "../bench/workload.h"
#include "../bench/reference.h"

#define DEFAULT_ITERATIONS 100

static void check_reference(uint32_t iterations, uint32_t sum)
{
    if (bench_errors)
        work_fail("self-check failed (%lu errors)", (unsigned long)bench_errors);
    for (unsigned int i = 0; i < PV_ARRAY_SIZE(reference); i++)
        if (reference[i].iterations == iterations && reference[i].checksum != sum)
            work_fail("checksum 0x%08lx, reference 0x%08lx", (unsigned long)sum,
                      (unsigned long)reference[i].checksum);
}

void work_cpu(void)
{
    uint32_t n = (uint32_t)param("iterations", param("n", DEFAULT_ITERATIONS));
    struct measure m;
    uint32_t sum;

    if (flag("forever")) {
        unsigned long report = param("report", 0);
        for (uint64_t batch = 1;; batch++) {
            measure_start(&m);
            sum = bench_run(n);
            measure_stop(&m);
            check_reference(n, sum);
            if (report && batch % report == 0)
                printf("work=cpu forever batch=%llu iterations=%lu instructions=%llu ns=%llu result=0x%08lx\n",
                       (unsigned long long)batch, (unsigned long)n,
                       (unsigned long long)m.instructions, (unsigned long long)m.ns,
                       (unsigned long)sum);
        }
    }
    measure_start(&m);
    sum = bench_run(n);
    measure_stop(&m);
    check_reference(n, sum);
    printf("work=cpu iterations=%lu instructions=%llu ns=%llu result=0x%08lx check=0x%08lx\n",
           (unsigned long)n, (unsigned long long)m.instructions, (unsigned long long)m.ns,
           (unsigned long)sum, (unsigned long)sum);
}

/*
 * work=spin: a pure CPU hog, a two-instruction loop that touches no memory.
 * Without n= it never ends; with n=N it spins N times and reports; result=
 * folds the count of spins done.
 */
void work_spin(void)
{
    unsigned long n = param("n", 0);
    struct measure m;
    unsigned long i;
    uint32_t fold;

    if (n == 0)
        for (;;)
            __asm__ volatile("");
    measure_start(&m);
    for (i = 0; i < n; i++)
        __asm__ volatile("");
    measure_stop(&m);
    fold = work_fold(WORK_FOLD_INIT, (uint32_t)i);
    printf("work=spin n=%lu instructions=%llu ns=%llu result=0x%08lx check=0x%08lx\n", n,
           (unsigned long long)m.instructions, (unsigned long long)m.ns, (unsigned long)fold,
           (unsigned long)fold);
}

/* bench-compute: the workload in M-mode with paging off. */
#include <pvsim/bare.h>
#include <pvsim/riscv.h>
#include "workload.h"

int main(void)
{
    uint32_t iterations = bench_iterations;
    uint64_t start, end;
    uint32_t sum;

    printf("bench-compute: CoreMark-like mix, M-mode, paging off\n");
    start = read_minstret64();
    sum = bench_run(iterations);
    end = read_minstret64();
    return bench_report("bench-compute", iterations, sum, end - start, end);
}

/*
 * The compute benchmark's workload, shared by bench-compute (M-mode, paging
 * off) and bench-compute-sv32 (U-mode under Sv32). It only touches its own
 * static data, so it runs unchanged in either setting.
 */
#ifndef BENCH_WORKLOAD_H
#define BENCH_WORKLOAD_H

#include <stdint.h>

/* Iterations the images run; a volatile global in .data that a host may
 * patch in the ELF before loading (symbol `bench_iterations`). */
extern volatile uint32_t bench_iterations;

/* Self-check failures seen by the last bench_run (sorts and CRCs that do
 * not agree with each other). */
extern uint32_t bench_errors;

/* Runs `iterations` rounds of the mix and returns their checksum. */
uint32_t bench_run(uint32_t iterations);

/* Prints the result lines and returns the exit code (0 = pass). */
int bench_report(const char *name, uint32_t iterations, uint32_t checksum,
                 uint64_t workload_instret, uint64_t total_instret);

#endif

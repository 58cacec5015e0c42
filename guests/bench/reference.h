/*
 * Reference checksums of the compute workload (bench/workload.c), shared by
 * the bench images' report and the work kernel's `work=cpu`.
 */
#ifndef BENCH_REFERENCE_H
#define BENCH_REFERENCE_H

#include <stdint.h>

/* Checksums for iteration counts a host is likely to patch in, measured on
 * QEMU (qemu-system-riscv32 -M spike). */
static const struct {
    uint32_t iterations;
    uint32_t checksum;
} reference[] = {
    { 0, 0x811C9DC5U },
    { 1, 0x9994695EU },
    { 2, 0xA5218E00U },
    { 10, 0x67C46429U },
    { 100, 0x0B322A4DU },
    { 1000, 0xFB630BD4U },
    { 5375, 0x03FBA747U },      /* the default, BENCH_DEFAULT_ITERATIONS */
};

#endif

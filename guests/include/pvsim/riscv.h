/* RISC-V privileged-architecture constants and CSR access helpers. */
#ifndef PVSIM_RISCV_H
#define PVSIM_RISCV_H

/* mstatus / sstatus */
#define MSTATUS_SIE      (1U << 1)
#define MSTATUS_MIE      (1U << 3)
#define MSTATUS_SPIE     (1U << 5)
#define MSTATUS_MPIE     (1U << 7)
#define MSTATUS_SPP      (1U << 8)
#define MSTATUS_MPP_MASK (3U << 11)
#define MSTATUS_MPP_U    (0U << 11)
#define MSTATUS_MPP_S    (1U << 11)
#define MSTATUS_MPP_M    (3U << 11)
#define MSTATUS_MPRV     (1U << 17)
#define MSTATUS_SUM      (1U << 18)
#define MSTATUS_MXR      (1U << 19)

/* exception causes (mcause/scause with the interrupt bit clear) */
#define CAUSE_MISALIGNED_FETCH   0
#define CAUSE_FETCH_ACCESS       1
#define CAUSE_ILLEGAL_INSN       2
#define CAUSE_BREAKPOINT         3
#define CAUSE_MISALIGNED_LOAD    4
#define CAUSE_LOAD_ACCESS        5
#define CAUSE_MISALIGNED_STORE   6
#define CAUSE_STORE_ACCESS       7
#define CAUSE_USER_ECALL         8
#define CAUSE_SUPERVISOR_ECALL   9
#define CAUSE_MACHINE_ECALL     11
#define CAUSE_FETCH_PAGE_FAULT  12
#define CAUSE_LOAD_PAGE_FAULT   13
#define CAUSE_STORE_PAGE_FAULT  15
#define CAUSE_INTERRUPT_BIT     (1U << 31)

/* Sv32 */
#define PAGE_SHIFT   12
#define PAGE_SIZE    (1U << PAGE_SHIFT)
#define PTE_V  (1U << 0)
#define PTE_R  (1U << 1)
#define PTE_W  (1U << 2)
#define PTE_X  (1U << 3)
#define PTE_U  (1U << 4)
#define PTE_G  (1U << 5)
#define PTE_A  (1U << 6)
#define PTE_D  (1U << 7)
#define PTE_PPN_SHIFT 10
#define SATP_MODE_SV32 (1U << 31)

/* PMP configuration bits */
#define PMP_R      0x01U
#define PMP_W      0x02U
#define PMP_X      0x04U
#define PMP_NAPOT  0x18U

#ifndef __ASSEMBLER__
#include <stdint.h>

#define csr_read(csr) ({                                              \
    unsigned long __v;                                                \
    __asm__ volatile("csrr %0, " #csr : "=r"(__v) : : "memory");      \
    __v; })

#define csr_write(csr, val) ({                                        \
    unsigned long __w = (unsigned long)(val);                         \
    __asm__ volatile("csrw " #csr ", %0" : : "rK"(__w) : "memory");   \
})

/* minstret as one 64-bit value (RV32 reads the halves until stable). */
static inline uint64_t read_minstret64(void)
{
    uint32_t hi, lo, hi2;
    do {
        hi = (uint32_t)csr_read(minstreth);
        lo = (uint32_t)csr_read(minstret);
        hi2 = (uint32_t)csr_read(minstreth);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

/* The unprivileged counters time and instret, each as one 64-bit value (RV32 reads the
 * high half again until it did not change under the low one). */
static inline uint64_t read_time64(void)
{
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("rdtimeh %0" : "=r"(hi));
        __asm__ volatile("rdtime %0" : "=r"(lo));
        __asm__ volatile("rdtimeh %0" : "=r"(hi2));
    } while (hi != hi2);
    return (uint64_t)hi << 32 | lo;
}

static inline uint64_t read_instret64(void)
{
    uint32_t hi, lo, hi2;
    do {
        __asm__ volatile("rdinstreth %0" : "=r"(hi));
        __asm__ volatile("rdinstret %0" : "=r"(lo));
        __asm__ volatile("rdinstreth %0" : "=r"(hi2));
    } while (hi != hi2);
    return (uint64_t)hi << 32 | lo;
}
#endif

#endif

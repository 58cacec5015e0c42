/*
 * bench-compute-sv32: the same workload in U-mode under Sv32 paging.
 * M-mode identity-maps the image with 4 KiB pages (text R-X, rodata R--,
 * data and bss RW-, all U=1; the HTIF page and M-mode-only memory are left
 * unmapped), opens PMP, turns on satp and mrets to U-mode. The workload ends
 * with an ecall carrying its checksum; the M-mode trap handler reports.
 */
#include <pvsim/bare.h>
#include <pvsim/riscv.h>
#include <pvsim/string.h>
#include "workload.h"

#define NAME          "bench-compute-sv32"
#define LEAF_TABLES   2             /* each maps 4 MiB */
#define USER_STACK    (16 * 1024)
#define EXIT_BAD_TRAP 0x7E
#define EXIT_NO_ROOM  0x7D

/* Implemented in sv32_entry.S. */
void sv32_open_pmp(void);
void sv32_enter_user(uintptr_t entry, uint32_t arg, uintptr_t user_sp) __pv_noreturn;
void sv32_trap_vector(void);
void sv32_trap(unsigned long mcause, unsigned long mepc, unsigned long mtval,
               unsigned long a0) __pv_noreturn;

extern char __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[];
extern char __data_start[], __user_end[];

static uint32_t root_table[1024] __pv_section(".mbss.pt") __pv_aligned(4096);
static uint32_t leaf_tables[LEAF_TABLES][1024] __pv_section(".mbss.pt") __pv_aligned(4096);
static unsigned int leaf_used;

static uint8_t user_stack[USER_STACK] __pv_aligned(16);
static uint32_t user_iterations;
static uint64_t instret_start;

static void map_range(uintptr_t start, uintptr_t end, uint32_t perms)
{
    for (uintptr_t va = start; va < end; va += PAGE_SIZE) {
        uint32_t *root_pte = &root_table[va >> 22];
        uint32_t *leaf;

        if ((*root_pte & PTE_V) == 0) {
            if (leaf_used == LEAF_TABLES) {
                printf(NAME ": image too large for %d leaf tables\n", LEAF_TABLES);
                bare_exit(EXIT_NO_ROOM);
            }
            leaf = leaf_tables[leaf_used++];
            *root_pte = (((uintptr_t)leaf >> PAGE_SHIFT) << PTE_PPN_SHIFT) | PTE_V;
        }
        leaf = (uint32_t *)((*root_pte >> PTE_PPN_SHIFT) << PAGE_SHIFT);
        /* Identity map; A and D preset so no implementation needs to update them. */
        leaf[(va >> PAGE_SHIFT) & 0x3FF] = ((va >> PAGE_SHIFT) << PTE_PPN_SHIFT) |
            perms | PTE_U | PTE_A | ((perms & PTE_W) ? PTE_D : 0) | PTE_V;
    }
}

/* Runs in U-mode. */
static void __attribute__((noinline)) __pv_noreturn user_main(uint32_t iterations)
{
    register unsigned long a0 __asm__("a0") = bench_run(iterations);
    register unsigned long a7 __asm__("a7") = 93;       /* "exit" */

    __asm__ volatile("ecall" : : "r"(a0), "r"(a7) : "memory");
    for (;;)
        ;
}

int main(void)
{
    printf(NAME ": CoreMark-like mix, U-mode, Sv32 paging\n");

    memset(root_table, 0, sizeof(root_table));
    memset(leaf_tables, 0, sizeof(leaf_tables));
    map_range((uintptr_t)__text_start, (uintptr_t)__text_end, PTE_R | PTE_X);
    map_range((uintptr_t)__rodata_start, (uintptr_t)__rodata_end, PTE_R);
    map_range((uintptr_t)__data_start, (uintptr_t)__user_end, PTE_R | PTE_W);

    sv32_open_pmp();
    csr_write(medeleg, 0);
    csr_write(mideleg, 0);
    csr_write(mtvec, (uintptr_t)sv32_trap_vector);
    csr_write(satp, SATP_MODE_SV32 | ((uintptr_t)root_table >> PAGE_SHIFT));
    __asm__ volatile("sfence.vma" : : : "memory");

    user_iterations = bench_iterations;
    instret_start = read_minstret64();
    sv32_enter_user((uintptr_t)user_main, user_iterations,
                    (uintptr_t)(user_stack + sizeof(user_stack)));
}

void sv32_trap(unsigned long mcause, unsigned long mepc, unsigned long mtval,
               unsigned long a0)
{
    uint64_t end = read_minstret64();

    csr_write(satp, 0);
    if (mcause == CAUSE_USER_ECALL)
        bare_exit((unsigned int)bench_report(NAME, user_iterations, (uint32_t)a0,
                                             end - instret_start, end));
    printf(NAME ": unexpected trap from U-mode: mcause=0x%08lx mepc=0x%08lx mtval=0x%08lx\n",
           mcause, mepc, mtval);
    bare_exit(EXIT_BAD_TRAP);
}

/*
 * pvsim's M-mode SBI firmware (SBI specification v2.0) for riscv32 boards
 * like QEMU's `virt`: loaded with `-bios`, it opens PMP to S-mode,
 * delegates what OpenSBI delegates, jumps to the kernel in S-mode with
 * a0 = hart id and a1 = the device tree, and then serves:
 *   base (spec version 2.0, impl id, probe, machine ids), TIME (CLINT
 *   mtimecmp and STIP), IPI (CLINT msip, delivered as SSIP), RFENCE (fence.i
 *   and sfence.vma on this hart: the others are parked), SRST (QEMU's test
 *   finisher), DBCN and the legacy console, set_timer and shutdown calls
 *   (NS16550 UART).
 * Exceptions it does not delegate (illegal instruction, access faults,
 * misaligned loads and stores) are redirected to the kernel's stvec as a
 * real hart with delegation would have raised them in S-mode.
 */
#include <stdint.h>
#include <stdbool.h>
#include <pvsim/riscv.h>
#include <pvsim/sbi.h>
#include <pvsim/fdt.h>
#include <pvsim/format.h>
#include <pvsim/string.h>

#define MIP_SSIP (1U << 1)
#define MIP_MSIP (1U << 3)
#define MIP_STIP (1U << 5)
#define MIP_MTIP (1U << 7)
#define MIP_SEIP (1U << 9)
#define IRQ_M_SOFT  3
#define IRQ_M_TIMER 7

/* QEMU virt's addresses, used when the device tree lacks a node. */
#define DEFAULT_UART   0x10000000U
#define DEFAULT_CLINT  0x02000000U
#define DEFAULT_TEST   0x00100000U
#define DEFAULT_KERNEL 0x80400000U
#define CLINT_MSIP(h)      (0x0000U + 4U * (h))
#define CLINT_MTIMECMP(h)  (0x4000U + 8U * (h))

/* QEMU's test finisher ("sifive,test0"): what to write for each outcome. */
#define FINISHER_PASS  0x5555U
#define FINISHER_FAIL  0x3333U      /* | exit code << 16 */
#define FINISHER_RESET 0x7777U

/* QEMU's struct fw_dynamic_info (a2 at reset), the OpenSBI "dynamic" ABI. */
#define FW_DYNAMIC_INFO_MAGIC 0x4942534fU   /* "OSBI" */
struct fw_dynamic_info {
    unsigned long magic, version, next_addr, next_mode, options, boot_hart;
};

struct sbi_frame {
    unsigned long x[32];        /* x[n] = register xn; x[0] unused */
    unsigned long mepc, mstatus, mcause, mtval;
};
_Static_assert(sizeof(struct sbi_frame) == 144, "frame layout (sbi/start.S)");

enum { REG_SP = 2, REG_A0 = 10, REG_A1, REG_A2, REG_A3, REG_A4, REG_A5, REG_A6, REG_A7 };

void sbi_enter_kernel(unsigned long hartid, unsigned long fdt, unsigned long entry)
    __attribute__((noreturn));
void sbi_boot(unsigned long hartid, unsigned long fdt, unsigned long dyn)
    __attribute__((noreturn));
void sbi_trap(struct sbi_frame *f);
void sbi_m_fault(unsigned long mcause, unsigned long mepc, unsigned long mtval)
    __attribute__((noreturn));

static struct board_info board;
static uintptr_t uart_base = DEFAULT_UART, clint_base = DEFAULT_CLINT, test_base = DEFAULT_TEST;
static unsigned int uart_shift, uart_width = 1;
static unsigned long nr_harts = 1;
static uint64_t ram_base, ram_size;

#define csr_set(csr, v)   __asm__ volatile("csrs " #csr ", %0" : : "r"((unsigned long)(v)) : "memory")
#define csr_clear(csr, v) __asm__ volatile("csrc " #csr ", %0" : : "r"((unsigned long)(v)) : "memory")

static inline void mmio_write32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }
static inline uint32_t mmio_read32(uintptr_t a) { return *(volatile uint32_t *)a; }

/* NS16550: register r at base + (r << reg-shift), reg-io-width bytes wide. */
static uint32_t uart_read(unsigned int r)
{
    uintptr_t a = uart_base + ((uintptr_t)r << uart_shift);
    return uart_width == 4 ? mmio_read32(a) : *(volatile uint8_t *)a;
}

static void uart_write(unsigned int r, uint32_t v)
{
    uintptr_t a = uart_base + ((uintptr_t)r << uart_shift);
    if (uart_width == 4)
        mmio_write32(a, v);
    else
        *(volatile uint8_t *)a = (uint8_t)v;
}

#define UART_THR 0
#define UART_RBR 0
#define UART_LSR 5
#define LSR_DR   0x01U
#define LSR_THRE 0x20U

static void uart_putc(char c)
{
    while (!(uart_read(UART_LSR) & LSR_THRE))
        ;
    uart_write(UART_THR, (uint8_t)c);
}

static int uart_getc(void)
{
    if (!(uart_read(UART_LSR) & LSR_DR))
        return -1;
    return (int)(uart_read(UART_RBR) & 0xFF);
}

/* printf's output (lib/stdio.c). */
void console_putc(char c)
{
    uart_putc(c);
}

static void __attribute__((noreturn)) finish(uint32_t value)
{
    mmio_write32(test_base, value);
    for (;;)
        __asm__ volatile("wfi");
}

void sbi_m_fault(unsigned long mcause, unsigned long mepc, unsigned long mtval)
{
    printf("pvsim-sbi: trap in M-mode: mcause=0x%08lx mepc=0x%08lx mtval=0x%08lx\n", mcause,
           mepc, mtval);
    finish(0x7E << 16 | FINISHER_FAIL);
}

static bool in_ram(uint64_t base, uint64_t len)
{
    return base >= ram_base && len <= ram_size && base - ram_base <= ram_size - len;
}

/* Harts named by (mask, base), as the specification reads them; false if
 * the base or one of the harts does not exist (even with an empty mask).
 * base = -1 means every hart. */
static bool hart_mask(unsigned long mask, unsigned long base, unsigned long *out)
{
    unsigned long all = nr_harts >= 32 ? ~0UL : (1UL << nr_harts) - 1;

    if (base == ~0UL) {
        *out = all;
        return true;
    }
    if (base >= nr_harts || base >= 32)
        return false;
    if (mask == 0) {
        *out = 0;
        return true;
    }
    if (base > 0 && (mask >> (32 - base)) != 0)     /* hart ids past 31 */
        return false;
    *out = mask << base;
    return (*out & ~all) == 0;
}

static void set_timer(unsigned long hartid, uint64_t t)
{
    uintptr_t cmp = clint_base + CLINT_MTIMECMP(hartid);

    /* No transient compare value below both the old and the new one. */
    mmio_write32(cmp + 4, 0xFFFFFFFFU);
    mmio_write32(cmp, (uint32_t)t);
    mmio_write32(cmp + 4, (uint32_t)(t >> 32));
    csr_clear(mip, MIP_STIP);
    csr_set(mie, MIP_MTIP);
}

static void system_reset(uint32_t type, uint32_t reason)
{
    if (type == SBI_SRST_TYPE_SHUTDOWN)
        finish(reason == SBI_SRST_REASON_NONE ? FINISHER_PASS : (1U << 16 | FINISHER_FAIL));
    finish(FINISHER_RESET);
}

static bool probe(unsigned long eid)
{
    switch (eid) {
    case SBI_EXT_0_1_SET_TIMER:
    case SBI_EXT_0_1_CONSOLE_PUTCHAR:
    case SBI_EXT_0_1_CONSOLE_GETCHAR:
    case SBI_EXT_0_1_SHUTDOWN:
    case SBI_EXT_BASE:
    case SBI_EXT_TIME:
    case SBI_EXT_IPI:
    case SBI_EXT_RFENCE:
    case SBI_EXT_SRST:
    case SBI_EXT_DBCN:
        return true;
    default:
        return false;
    }
}

/* One SBI call from S-mode; error and value go to a0 and a1. */
static void sbi_call(struct sbi_frame *f, unsigned long hartid)
{
    unsigned long eid = f->x[REG_A7], fid = f->x[REG_A6];
    unsigned long a0 = f->x[REG_A0], a1 = f->x[REG_A1], a2 = f->x[REG_A2], a3 = f->x[REG_A3];
    long err = SBI_SUCCESS, val = 0;
    unsigned long harts;

    switch (eid) {
    /* Legacy extensions: one result in a0, a1 untouched. */
    case SBI_EXT_0_1_SET_TIMER:
        set_timer(hartid, (uint64_t)a1 << 32 | a0);
        f->x[REG_A0] = 0;
        return;
    case SBI_EXT_0_1_CONSOLE_PUTCHAR:
        uart_putc((char)a0);
        f->x[REG_A0] = 0;
        return;
    case SBI_EXT_0_1_CONSOLE_GETCHAR:
        f->x[REG_A0] = (unsigned long)(long)uart_getc();
        return;
    case SBI_EXT_0_1_SHUTDOWN:
        system_reset(SBI_SRST_TYPE_SHUTDOWN, SBI_SRST_REASON_NONE);
        return;
    case SBI_EXT_BASE:
        switch (fid) {
        case SBI_BASE_GET_SPEC_VERSION: val = SBI_SPEC_VERSION(2, 0); break;
        case SBI_BASE_GET_IMPL_ID: val = SBI_IMPL_ID_PVSIM; break;
        case SBI_BASE_GET_IMPL_VERSION: val = 1; break;
        case SBI_BASE_PROBE_EXT: val = probe(a0) ? 1 : 0; break;
        case SBI_BASE_GET_MVENDORID: val = (long)csr_read(mvendorid); break;
        case SBI_BASE_GET_MARCHID: val = (long)csr_read(marchid); break;
        case SBI_BASE_GET_MIMPID: val = (long)csr_read(mimpid); break;
        default: err = SBI_ERR_NOT_SUPPORTED;
        }
        break;
    case SBI_EXT_TIME:
        if (fid == SBI_TIME_SET_TIMER)
            set_timer(hartid, (uint64_t)a1 << 32 | a0);
        else
            err = SBI_ERR_NOT_SUPPORTED;
        break;
    case SBI_EXT_IPI:
        if (fid != SBI_IPI_SEND_IPI) {
            err = SBI_ERR_NOT_SUPPORTED;
        } else if (!hart_mask(a0, a1, &harts)) {
            err = SBI_ERR_INVALID_PARAM;
        } else {
            for (unsigned long h = 0; h < nr_harts && h < 32; h++)
                if (harts & (1UL << h))
                    mmio_write32(clint_base + CLINT_MSIP(h), 1);
        }
        break;
    case SBI_EXT_RFENCE:
        if (fid > SBI_RFENCE_REMOTE_SFENCE_VMA_ASID) {
            err = SBI_ERR_NOT_SUPPORTED;    /* the HFENCE calls: no H extension here */
        } else if (!hart_mask(a0, a1, &harts)) {
            err = SBI_ERR_INVALID_PARAM;
        } else if (harts & (1UL << hartid)) {
            /* Only this hart runs S-mode code: the others are parked in M. */
            if (fid == SBI_RFENCE_REMOTE_FENCE_I)
                __asm__ volatile("fence.i" ::: "memory");
            else if ((a2 == 0 && a3 == 0) || a3 == ~0UL || a3 > 64 * PAGE_SIZE)
                __asm__ volatile("sfence.vma" ::: "memory");
            else {
                unsigned long first = a2 & ~(PAGE_SIZE - 1);
                unsigned long pages = (a2 - first + a3 + PAGE_SIZE - 1) / PAGE_SIZE;
                for (unsigned long i = 0; i < pages; i++)
                    __asm__ volatile("sfence.vma %0" : : "r"(first + i * PAGE_SIZE) : "memory");
            }
        }
        break;
    case SBI_EXT_SRST:
        if (fid != SBI_SRST_SYSTEM_RESET)
            err = SBI_ERR_NOT_SUPPORTED;
        else if (a0 > SBI_SRST_TYPE_WARM_REBOOT || a1 > SBI_SRST_REASON_SYSFAIL)
            err = SBI_ERR_INVALID_PARAM;
        else
            system_reset((uint32_t)a0, (uint32_t)a1);
        break;
    case SBI_EXT_DBCN:
        if (fid == SBI_DBCN_WRITE_BYTE) {
            uart_putc((char)a0);
        } else if (fid == SBI_DBCN_WRITE || fid == SBI_DBCN_READ) {
            uint64_t base = (uint64_t)a2 << 32 | a1;
            if (!in_ram(base, a0)) {
                err = SBI_ERR_INVALID_PARAM;
            } else if (fid == SBI_DBCN_WRITE) {
                const volatile char *p = (const volatile char *)(uintptr_t)base;
                for (unsigned long i = 0; i < a0; i++)
                    uart_putc(p[i]);
                val = (long)a0;
            } else {
                volatile char *p = (volatile char *)(uintptr_t)base;
                int c;
                while ((unsigned long)val < a0 && (c = uart_getc()) >= 0)
                    p[val++] = (char)c;
            }
        } else {
            err = SBI_ERR_NOT_SUPPORTED;
        }
        break;
    default:
        err = SBI_ERR_NOT_SUPPORTED;
    }
    f->x[REG_A0] = (unsigned long)err;
    f->x[REG_A1] = (unsigned long)val;
}

/* An exception from S or U that M took: raise it in S-mode instead. */
static void redirect_to_s(struct sbi_frame *f)
{
    unsigned long stvec = csr_read(stvec);
    unsigned long from_s = (f->mstatus & MSTATUS_MPP_MASK) == MSTATUS_MPP_S;
    unsigned long st = f->mstatus;

    if (stvec == 0)
        sbi_m_fault(f->mcause, f->mepc, f->mtval);
    csr_write(scause, f->mcause);
    csr_write(sepc, f->mepc);
    csr_write(stval, f->mtval);
    st &= ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_MPP_MASK);
    if (from_s)
        st |= MSTATUS_SPP;
    if (f->mstatus & MSTATUS_SIE)
        st |= MSTATUS_SPIE;
    st |= MSTATUS_MPP_S;
    f->mstatus = st;
    f->mepc = stvec & ~3UL;     /* exceptions go to BASE in either stvec mode */
}

void sbi_trap(struct sbi_frame *f)
{
    unsigned long hartid = csr_read(mhartid);
    unsigned long cause = f->mcause;

    if (cause & CAUSE_INTERRUPT_BIT) {
        switch (cause & ~CAUSE_INTERRUPT_BIT) {
        case IRQ_M_TIMER:   /* the kernel's deadline: hand it over as STIP */
            csr_clear(mie, MIP_MTIP);
            csr_set(mip, MIP_STIP);
            return;
        case IRQ_M_SOFT:    /* an SBI IPI: hand it over as SSIP */
            mmio_write32(clint_base + CLINT_MSIP(hartid), 0);
            csr_set(mip, MIP_SSIP);
            return;
        default:
            sbi_m_fault(cause, f->mepc, f->mtval);
        }
    }
    if ((f->mstatus & MSTATUS_MPP_MASK) == MSTATUS_MPP_M)
        sbi_m_fault(cause, f->mepc, f->mtval);
    if (cause == CAUSE_SUPERVISOR_ECALL) {
        f->mepc += 4;
        sbi_call(f, hartid);
        return;
    }
    redirect_to_s(f);
}

/* Lets S and U reach all memory: one NAPOT entry over the whole 34-bit
 * physical space. A hart without PMP traps here; the vector skips it. */
static void pmp_open(void)
{
    unsigned long saved = csr_read(mtvec);

    __asm__ volatile(
        "la    t0, 1f\n\t"
        "csrw  mtvec, t0\n\t"
        "csrw  pmpaddr0, %0\n\t"
        "csrw  pmpcfg0, %1\n\t"
        ".balign 4\n"
        "1:"
        : : "r"(~0UL), "r"((unsigned long)(PMP_NAPOT | PMP_R | PMP_W | PMP_X)) : "t0", "memory");
    csr_write(mtvec, saved);
}

void sbi_boot(unsigned long hartid, unsigned long fdt, unsigned long dyn)
{
    const struct fw_dynamic_info *info = (const struct fw_dynamic_info *)dyn;
    unsigned long entry = DEFAULT_KERNEL;
    const char *entry_from = "default";
    const char *err = NULL;
    bool have_fdt = fdt_parse((const void *)fdt, &board, &err) == 0;

    if (have_fdt) {
        if (board.uart.present) {
            uart_base = (uintptr_t)board.uart.base;
            uart_shift = board.uart_reg_shift;
            uart_width = board.uart_reg_io_width == 4 ? 4 : 1;
        }
        if (board.clint.present)
            clint_base = (uintptr_t)board.clint.base;
        if (board.test.present)
            test_base = (uintptr_t)board.test.base;
        if (board.nr_cpus > 0)
            nr_harts = board.nr_cpus;
        ram_base = board.mem_base;
        ram_size = board.have_memory ? board.mem_size : 0;
    }
    if (ram_size == 0) {
        ram_base = 0x80000000U;
        ram_size = 128U << 20;
    }
    /* QEMU's reset vector passes fw_dynamic_info in its ROM (0x1000..). */
    if (dyn >= 0x1000 && dyn < 0x10000 && (dyn & 3) == 0 && info->magic == FW_DYNAMIC_INFO_MAGIC &&
        info->next_addr != 0) {
        entry = info->next_addr;
        entry_from = "fw_dynamic_info";
    }

    printf("pvsim-sbi: SBI v2.0 firmware on hart %lu of %lu; kernel at 0x%08lx (%s) in S-mode, "
           "device tree at 0x%08lx\n", hartid, nr_harts, entry, entry_from, fdt);
    if (!have_fdt)
        printf("pvsim-sbi: device tree unreadable (%s); using QEMU virt's addresses\n", err);

    pmp_open();
    /* What OpenSBI delegates: misaligned fetch, breakpoint, ecall from U,
     * the page faults; and the supervisor interrupts. */
    csr_write(medeleg, (1U << CAUSE_MISALIGNED_FETCH) | (1U << CAUSE_BREAKPOINT) |
                       (1U << CAUSE_USER_ECALL) | (1U << CAUSE_FETCH_PAGE_FAULT) |
                       (1U << CAUSE_LOAD_PAGE_FAULT) | (1U << CAUSE_STORE_PAGE_FAULT));
    csr_write(mideleg, MIP_SSIP | MIP_STIP | MIP_SEIP);
    csr_write(mcounteren, 7);       /* cycle, time, instret readable from S */
    csr_write(mie, MIP_MSIP);       /* IPIs; MTIE once the kernel sets a timer */
    csr_write(satp, 0);
    csr_write(stvec, 0);
    csr_write(sie, 0);
    csr_clear(mstatus, MSTATUS_MPP_MASK | MSTATUS_MPIE | MSTATUS_MIE | MSTATUS_SIE | MSTATUS_MPRV);
    csr_set(mstatus, MSTATUS_MPP_S | MSTATUS_MPIE);     /* M interrupts on once in S */
    sbi_enter_kernel(hartid, fdt, entry);
}

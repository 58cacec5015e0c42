/* S-mode trap dispatch for PV kernels and the native one (entry and exit
 * are in lib/entry.S). */
#include <pvsim/trap.h>
#include <pvsim/riscv.h>
#include <pvsim/console.h>
#include <pvsim/pv.h>

void pv_trap_entry(void);

syscall_entry_t pv_syscall_entry;
void (*pv_upcall_entry)(void);
void (*pv_timer_entry)(void);
void (*pv_soft_entry)(void);
struct trap_frame *(*pv_fault_entry)(struct trap_frame *f);
struct trap_stats trap_stats;

void trap_init(void)
{
    csr_write(sscratch, 0);
    csr_write(stvec, (uintptr_t)pv_trap_entry);
    csr_write(scounteren, 7);           /* cycle, time, instret for U-mode too */
    __asm__ volatile("csrs sie, %0" : : "r"(SIE_SEIE) : "memory");
}

static const char *cause_name(unsigned long cause)
{
    static const char *const names[] = {
        [CAUSE_MISALIGNED_FETCH] = "misaligned fetch",
        [CAUSE_FETCH_ACCESS] = "fetch access fault",
        [CAUSE_ILLEGAL_INSN] = "illegal instruction",
        [CAUSE_BREAKPOINT] = "breakpoint",
        [CAUSE_MISALIGNED_LOAD] = "misaligned load",
        [CAUSE_LOAD_ACCESS] = "load access fault",
        [CAUSE_MISALIGNED_STORE] = "misaligned store",
        [CAUSE_STORE_ACCESS] = "store access fault",
        [CAUSE_USER_ECALL] = "ecall from U",
        [CAUSE_SUPERVISOR_ECALL] = "ecall from S",
        [CAUSE_FETCH_PAGE_FAULT] = "instruction page fault",
        [CAUSE_LOAD_PAGE_FAULT] = "load page fault",
        [CAUSE_STORE_PAGE_FAULT] = "store page fault",
    };
    if (cause & CAUSE_INTERRUPT_BIT)
        return (cause & ~CAUSE_INTERRUPT_BIT) == IRQ_S_EXT ? "event upcall" : "interrupt";
    if (cause < PV_ARRAY_SIZE(names) && names[cause])
        return names[cause];
    return "exception";
}

void trap_panic(const struct trap_frame *f, const char *what)
{
    console_emergency();
    printf("trap: %s: scause=0x%08lx (%s) from %s-mode\n", what, f->scause,
           cause_name(f->scause), (f->sstatus & SSTATUS_SPP) ? "S" : "U");
    printf("trap: sepc=0x%08lx stval=0x%08lx sstatus=0x%08lx\n", f->sepc, f->stval,
           f->sstatus);
    for (int i = 1; i < 32; i += 4) {
        printf("trap:");
        for (int j = i; j < i + 4 && j < 32; j++)
            printf(" x%-2d=0x%08lx", j, f->x[j]);
        printf("\n");
    }
    panic("%s at sepc=0x%08lx stval=0x%08lx", cause_name(f->scause), f->sepc, f->stval);
}

struct trap_frame *pv_trap_dispatch(struct trap_frame *f)
{
    unsigned long cause = f->scause;

    if (cause & CAUSE_INTERRUPT_BIT) {
        unsigned long irq = cause & ~CAUSE_INTERRUPT_BIT;
        if (irq == IRQ_S_EXT && pv_upcall_entry != NULL) {
            trap_stats.upcalls++;
            pv_upcall_entry();
            return f;
        }
        if (irq == IRQ_S_TIMER && pv_timer_entry != NULL) {
            pv_timer_entry();
            return f;
        }
        if (irq == IRQ_S_SOFT && pv_soft_entry != NULL) {
            pv_soft_entry();
            return f;
        }
        trap_panic(f, "unexpected interrupt");
    }
    switch (cause) {
    case CAUSE_USER_ECALL:
        if (pv_syscall_entry == NULL)
            trap_panic(f, "system call with no system call table");
        trap_stats.syscalls++;
        return pv_syscall_entry(f);
    case CAUSE_FETCH_PAGE_FAULT:
    case CAUSE_LOAD_PAGE_FAULT:
    case CAUSE_STORE_PAGE_FAULT:
        if (!(f->sstatus & SSTATUS_SPP) && pv_fault_entry != NULL)
            return pv_fault_entry(f);
        trap_panic(f, "page fault");
    default:
        trap_panic(f, "unexpected trap");
    }
}

/* PV kernel runtime: shutdown, panic and the catch-all trap report. */
#include <pvsim/pv.h>
#include <pvsim/console.h>
#include <pvsim/hypercall.h>
#include <pvsim/cmdline.h>

struct start_info *pvsim_start_info;

void pv_runtime_init(struct start_info *si)
{
    pvsim_start_info = si;
    cmdline_init((const char *)si->cmd_line, sizeof(si->cmd_line));
}

void xen_shutdown(unsigned int reason)
{
    struct sched_shutdown arg = { .reason = reason };

    console_flush();
    console_sync();
    HYPERVISOR_sched_op(SCHEDOP_shutdown, &arg);
    /* Not reached with a working hypervisor; try harder, then sleep forever. */
    arg.reason = SHUTDOWN_crash;
    HYPERVISOR_sched_op(SCHEDOP_shutdown, &arg);
    for (;;)
        HYPERVISOR_sched_op(SCHEDOP_block, NULL);
}

void panic(const char *fmt, ...)
{
    static int nested;
    va_list ap;

    if (nested++ == 0) {
        console_emergency();
        printf("panic: ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    xen_shutdown(SHUTDOWN_crash);
}

void pv_unexpected_trap(unsigned long scause, unsigned long sepc,
                        unsigned long stval, unsigned long sp)
{
    panic("unexpected trap: scause=0x%08lx sepc=0x%08lx stval=0x%08lx sp=0x%08lx",
          scause, sepc, stval, sp);
}

/*
 * Native kernel runtime: boot from SBI firmware (see pvsim/native.h),
 * shutdown and panic over SBI SRST.
 */
#include <pvsim/native.h>
#include <pvsim/sbi.h>
#include <pvsim/console.h>
#include <pvsim/cmdline.h>
#include <pvsim/trap.h>
#include <pvsim/riscv.h>
#include <pvsim/time.h>
#include <pvsim/pv.h>
#include <pvsim/mm.h>

struct board_info native_board;
unsigned long native_hartid;
const void *native_fdt;

static volatile uint32_t ipis;

void native_boot(unsigned long hartid, const void *fdt) __pv_noreturn;

void native_shutdown(bool ok)
{
    console_flush();
    (void)sbi_system_reset(SBI_SRST_TYPE_SHUTDOWN,
                           ok ? SBI_SRST_REASON_NONE : SBI_SRST_REASON_SYSFAIL);
    /* A firmware without SRST: the legacy call, then wait forever. */
    (void)sbi_legacy_ecall(SBI_EXT_0_1_SHUTDOWN, 0, 0);
    for (;;)
        __asm__ volatile("wfi");
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
    native_shutdown(false);
}

void pv_unexpected_trap(unsigned long scause, unsigned long sepc, unsigned long stval,
                        unsigned long sp)
{
    panic("unexpected trap: scause=0x%08lx sepc=0x%08lx stval=0x%08lx sp=0x%08lx", scause,
          sepc, stval, sp);
}

static void ipi_handler(void)
{
    __asm__ volatile("csrc sip, %0" : : "r"(SIE_SSIE) : "memory");
    ipis++;
}

static void require(unsigned long ext, const char *name)
{
    if (sbi_probe_extension(ext) == 0)
        panic("the SBI implementation lacks the %s extension (0x%lx)", name, ext);
}

/* One IPI to ourselves through SBI: proves the IPI path before any workload. */
static void ipi_self_test(void)
{
    struct sbiret r;

    pv_soft_entry = ipi_handler;
    __asm__ volatile("csrs sie, %0" : : "r"(SIE_SSIE) : "memory");
    r = sbi_send_ipi(1, native_hartid);
    if (r.error != SBI_SUCCESS)
        panic("sbi_send_ipi(self) = %ld (%s)", r.error, sbi_error_name(r.error));
    local_irq_enable();
    for (unsigned long i = 0; ipis == 0 && i < 1000000; i++)
        __asm__ volatile("nop");
    if (ipis == 0)
        panic("sbi_send_ipi(self): no supervisor software interrupt arrived");
}

void native_boot(unsigned long hartid, const void *fdt)
{
    struct board_info *b = &native_board;
    const char *err = NULL;
    long spec;

    native_hartid = hartid;
    native_fdt = fdt;
    native_console_init();
    spec = sbi_spec_version();
    if (spec < 0)
        panic("SBI base extension missing (a v0.1 firmware?)");
    if (fdt_parse(fdt, b, &err) < 0)
        panic("device tree at 0x%08lx: %s", (unsigned long)(uintptr_t)fdt, err);
    if (!b->have_memory)
        panic("device tree: no /memory node with a reg");
    if (b->timebase_frequency == 0)
        panic("device tree: no timebase-frequency under /cpus");
    cmdline_init(b->bootargs, b->bootargs != NULL ? b->bootargs_len : 0);
    require(SBI_EXT_TIME, "TIME");
    require(SBI_EXT_IPI, "IPI");
    require(SBI_EXT_RFENCE, "RFENCE");
    require(SBI_EXT_SRST, "SRST");
    native_time_init(b->timebase_frequency);

    printf("native: hart %lu, SBI %lu.%lu (impl 0x%lx), console %s, device tree at 0x%08lx "
           "(%lu bytes)\n", hartid, (unsigned long)(spec >> 24) & 0x7F,
           (unsigned long)spec & 0xFFFFFF, sbi_ecall(SBI_EXT_BASE, SBI_BASE_GET_IMPL_ID, 0, 0, 0,
                                                    0, 0, 0).value,
           native_console_kind, (unsigned long)(uintptr_t)fdt, (unsigned long)b->fdt_size);
    printf("native: memory 0x%08llx+0x%llx, %lu cpu(s), timebase %lu Hz\n",
           (unsigned long long)b->mem_base, (unsigned long long)b->mem_size,
           (unsigned long)b->nr_cpus, (unsigned long)b->timebase_frequency);
    printf("native: uart %s0x%08llx (reg-shift %lu, reg-io-width %lu), clint %s0x%08llx, "
           "plic %s0x%08llx (%lu sources), %u virtio-mmio slot(s) from 0x%08llx\n",
           b->uart.present ? "" : "none ", (unsigned long long)b->uart.base,
           (unsigned long)b->uart_reg_shift, (unsigned long)b->uart_reg_io_width,
           b->clint.present ? "" : "none ", (unsigned long long)b->clint.base,
           b->plic.present ? "" : "none ", (unsigned long long)b->plic.base,
           (unsigned long)b->plic_ndev, b->nr_virtio,
           (unsigned long long)(b->nr_virtio ? b->virtio[0].base : 0));

    native_mm_init();
    trap_init();
    ipi_self_test();
    native_kernel_main();
    native_shutdown(true);
}

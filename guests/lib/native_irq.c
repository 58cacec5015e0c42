/*
 * Device interrupts of the native kernel: the PLIC (RISC-V PLIC
 * specification 1.0.0) from the device tree, its S-mode context of this
 * hart, and sleeping in wfi until a device or the timer wakes the hart.
 */
#include <pvsim/native.h>
#include <pvsim/trap.h>
#include <pvsim/time.h>
#include <pvsim/xen_errno.h>

#define PLIC_PRIORITY(src)     (4U * (src))
#define PLIC_ENABLE(ctx)       (0x2000U + 0x80U * (ctx))
#define PLIC_THRESHOLD(ctx)    (0x200000U + 0x1000U * (ctx))
#define PLIC_CLAIM(ctx)        (0x200004U + 0x1000U * (ctx))
#define PLIC_MAX_SOURCES       1024U
#define IDLE_MAX_NS            10000000ULL     /* wake at least this often */
#define MAX_HANDLERS           8U

uint32_t native_irq_count;

static uintptr_t plic;
static uint32_t ctx;
static struct {
    uint32_t irq;
    void (*fn)(void *);
    void *arg;
} handlers[MAX_HANDLERS];
static unsigned int nr_handlers;

static inline volatile uint32_t *reg(uint32_t off)
{
    return (volatile uint32_t *)(plic + off);
}

/* The S-mode external interrupt: claim, run the source's handler, complete,
 * until nothing is pending. */
static void plic_interrupt(void)
{
    uint32_t src;

    while ((src = *reg(PLIC_CLAIM(ctx))) != 0) {
        native_irq_count++;
        for (unsigned int i = 0; i < nr_handlers; i++)
            if (handlers[i].irq == src)
                handlers[i].fn(handlers[i].arg);
        *reg(PLIC_CLAIM(ctx)) = src;
    }
}

static int plic_init(void)
{
    const struct board_info *b = &native_board;
    int rc;

    if (plic != 0)
        return 0;
    if (!b->plic.present)
        return -XEN_ENODEV;
    rc = native_ioremap(b->plic.base, b->plic.size);
    if (rc < 0)
        return rc;
    plic = (uintptr_t)b->plic.base;
    ctx = 2 * (uint32_t)native_hartid + 1;
    if (PLIC_CLAIM(ctx) + 4 > b->plic.size) {
        plic = 0;
        return -XEN_EINVAL;
    }
    *reg(PLIC_THRESHOLD(ctx)) = 0;
    pv_upcall_entry = plic_interrupt;
    __asm__ volatile("csrs sie, %0" : : "r"(SIE_SEIE) : "memory");
    return 0;
}

int native_irq_register(uint32_t irq, void (*fn)(void *arg), void *arg)
{
    int rc = plic_init();

    if (rc < 0)
        return rc;
    if (irq == 0 || irq >= PLIC_MAX_SOURCES ||
        (native_board.plic_ndev != 0 && irq > native_board.plic_ndev) ||
        nr_handlers == MAX_HANDLERS)
        return -XEN_EINVAL;
    handlers[nr_handlers].irq = irq;
    handlers[nr_handlers].fn = fn;
    handlers[nr_handlers].arg = arg;
    nr_handlers++;
    *reg(PLIC_PRIORITY(irq)) = 1;
    reg(PLIC_ENABLE(ctx))[irq / 32] |= 1U << (irq % 32);
    return 0;
}

void native_idle(uint64_t deadline_ns)
{
    uint64_t now = time_now_ns(), wake = deadline_ns;

    if (wake > now + IDLE_MAX_NS)
        wake = now + IDLE_MAX_NS;
    if (now >= wake)
        return;
    native_timer_prepare();     /* not timer_init: that unmasks (SIE) on first use */
    (void)timer_set_deadline(wake);
    __asm__ volatile("wfi");    /* wakes on a pending enabled interrupt, SIE or not */
    local_irq_enable();         /* ... which is taken here */
    local_irq_disable();
}

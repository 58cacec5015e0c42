/*
 * Time for the native kernel (the pvsim/time.h calls): `time` counts at the
 * device tree's timebase-frequency, converted to ns; the one-shot timer is
 * SBI set_timer (in timebase ticks), which raises the supervisor timer
 * interrupt (sie.STIE). set_timer also clears a pending one, so the
 * handler disarms the timer by setting it to the end of time.
 */
#include <pvsim/time.h>
#include <pvsim/riscv.h>
#include <pvsim/native.h>
#include <pvsim/sbi.h>
#include <pvsim/trap.h>
#include <pvsim/pv.h>

#define NS_PER_S 1000000000ULL
#define NEVER    (~0ULL)

static uint64_t timebase;           /* Hz */
static bool timer_ready;
static volatile uint32_t timer_count;
static volatile uint64_t timer_stamp;

void native_time_init(uint32_t timebase_frequency)
{
    timebase = timebase_frequency;
}

/* Split so that neither product overflows for any timebase below 4 GHz. */
uint64_t time_now_ns(void)
{
    uint64_t t = read_time64();

    return t / timebase * NS_PER_S + t % timebase * NS_PER_S / timebase;
}

/* The first tick at or after ns, so that time_now_ns() >= ns once it has come. */
uint64_t native_ns_to_ticks(uint64_t ns)
{
    return ns / NS_PER_S * timebase + (ns % NS_PER_S * timebase + NS_PER_S - 1) / NS_PER_S;
}

uint64_t instret_now(void)
{
    return read_instret64();
}

static void arm(uint64_t ticks)
{
    struct sbiret r = sbi_set_timer(ticks);

    if (r.error != SBI_SUCCESS)
        panic("sbi_set_timer(%llu) = %ld (%s)", (unsigned long long)ticks, r.error,
              sbi_error_name(r.error));
}

static void timer_handler(void)
{
    timer_stamp = time_now_ns();    /* first: the interrupt's latency ends here */
    timer_count++;
    arm(NEVER);                 /* clears the pending interrupt */
}

/* The handler and sie.STIE, once, leaving sstatus.SIE as it is: native_idle
 * runs it masked, and an interrupt taken here, before its wfi, would leave
 * the wfi nothing to wake on (a lost wake-up until the idle bound). */
void native_timer_prepare(void)
{
    if (timer_ready)
        return;
    trap_init();
    pv_timer_entry = timer_handler;
    arm(NEVER);
    __asm__ volatile("csrs sie, %0" : : "r"(SIE_STIE) : "memory");
    timer_ready = true;
}

int timer_setup(void)
{
    if (!timer_ready) {
        native_timer_prepare();
        local_irq_enable();
    }
    return 0;
}

void timer_init(void)
{
    (void)timer_setup();
}

int timer_set_deadline(uint64_t deadline_ns)
{
    arm(deadline_ns == 0 ? NEVER : native_ns_to_ticks(deadline_ns));
    return 0;
}

uint32_t timer_events(void)
{
    return timer_count;
}

uint64_t timer_last_event_ns(void)
{
    return timer_stamp;
}

uint64_t sleep_until(uint64_t deadline)
{
    uint64_t now;
    uint32_t seen;

    timer_init();
    seen = timer_count;
    (void)timer_set_deadline(deadline);
    for (;;) {
        local_irq_disable();
        now = time_now_ns();
        if (now >= deadline)
            break;
        if (timer_count != seen) {      /* fired early or was taken: arm again */
            seen = timer_count;
            (void)timer_set_deadline(deadline);
        }
        __asm__ volatile("wfi");        /* wakes on the pending interrupt, SIE or not */
        local_irq_enable();             /* ... which is taken here */
    }
    local_irq_enable();
    return now;
}

uint64_t sleep_until_poll(uint64_t deadline)
{
    unsigned long flags = local_irq_save();
    uint64_t now;

    /* wfi wakes on an interrupt enabled in sie even with SIE clear; the
     * handler never runs, so this disarms the timer itself. */
    __asm__ volatile("csrs sie, %0" : : "r"(SIE_STIE) : "memory");
    arm(native_ns_to_ticks(deadline));
    while ((now = time_now_ns()) < deadline)
        __asm__ volatile("wfi");
    arm(NEVER);
    local_irq_restore(flags);
    return now;
}

uint64_t sleep_ns(uint64_t ns)
{
    return sleep_until(time_now_ns() + ns);
}

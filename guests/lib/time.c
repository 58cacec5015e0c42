/* Virtual time, VIRQ_TIMER and sleeping (see pvsim/time.h). */
#include <pvsim/time.h>
#include <pvsim/riscv.h>
#include <pvsim/events.h>
#include <pvsim/hypercall.h>
#include <pvsim/atomic.h>
#include <pvsim/pv.h>

static bool timer_bound;
static evtchn_port_t timer_port;
static volatile uint32_t timer_count;
static volatile uint64_t timer_stamp;

uint64_t time_now_ns(void)
{
    return read_time64();
}

uint64_t instret_now(void)
{
    return read_instret64();
}

static void timer_handler(evtchn_port_t port, void *data)
{
    (void)port;
    (void)data;
    timer_stamp = time_now_ns();    /* first: the interrupt's latency ends here */
    timer_count++;
}

int timer_setup(void)
{
    int rc;

    if (timer_bound)
        return 0;
    events_init();
    rc = evtchn_bind_virq(VIRQ_TIMER, timer_handler, NULL, &timer_port);
    if (rc < 0)
        return rc;
    timer_bound = true;
    return 0;
}

void timer_init(void)
{
    int rc = timer_setup();

    if (rc < 0)
        panic("timer_init: EVTCHNOP_bind_virq(VIRQ_TIMER) = %d (%s)", rc, xen_errstr(rc));
}

int timer_set_deadline(uint64_t deadline_ns)
{
    return HYPERVISOR_set_timer_op(deadline_ns);
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
    int rc;

    timer_init();
    seen = timer_count;
    rc = timer_set_deadline(deadline);
    if (rc < 0)
        panic("set_timer_op(%llu) = %d (%s)", (unsigned long long)deadline, rc,
              xen_errstr(rc));
    for (;;) {
        local_irq_disable();
        now = time_now_ns();
        if (now >= deadline)
            break;
        /* The timer fired early (or was consumed): arm it again. */
        if (timer_count != seen) {
            seen = timer_count;
            rc = timer_set_deadline(deadline);
            if (rc < 0)
                panic("set_timer_op(%llu) = %d (%s)", (unsigned long long)deadline, rc,
                      xen_errstr(rc));
        }
        events_block();
        local_irq_enable();
    }
    local_irq_enable();
    return now;
}

uint64_t sleep_until_poll(uint64_t deadline)
{
    struct sched_poll poll = { .ports = NULL, .nr_ports = 0, .timeout = deadline };
    uint64_t now;
    int rc;

    while ((now = time_now_ns()) < deadline) {
        rc = HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
        if (rc < 0)
            panic("SCHEDOP_poll(timeout %llu) = %d (%s)", (unsigned long long)deadline, rc,
                  xen_errstr(rc));
    }
    return now;
}

uint64_t sleep_ns(uint64_t ns)
{
    return sleep_until(time_now_ns() + ns);
}

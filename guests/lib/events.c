/* shared_info, the 2-level event dispatcher and EVTCHNOP_* wrappers (see pvsim/events.h). */
#include <pvsim/events.h>
#include <pvsim/atomic.h>
#include <pvsim/hypercall.h>
#include <pvsim/mm.h>
#include <pvsim/pv.h>
#include <pvsim/console.h>
#ifdef PVSIM_NATIVE
#include <pvsim/pvhvm.h>
#include <pvsim/native.h>
#include <pvsim/time.h>
#endif

volatile struct shared_info *HYPERVISOR_shared_info;

#ifndef PVSIM_NATIVE
/* The fixed kernel address of shared_info: a page of the image, whose
 * bootstrap mapping is replaced by the shared_info frame (as Mini-OS does). */
static uint8_t shared_info_page[PAGE_SIZE] __pv_section(".noinit") __pv_aligned(PAGE_SIZE);
#endif

static struct {
    evtchn_handler_t fn;
    void *data;
} handlers[EVTCHN_2L_NR_CHANNELS];
static uint32_t counts[EVTCHN_2L_NR_CHANNELS];

/* Lowest set bit of a non-zero word (no Zbb, no libgcc). */
static inline unsigned int lowest_bit(uint32_t x)
{
    static const uint8_t debruijn[32] = {
        0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8,
        31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6, 11, 5, 10, 9,
    };
    return debruijn[((x & -x) * 0x077CB531U) >> 27];
}

static void evtchn_do_upcall(void)
{
    volatile struct shared_info *s = HYPERVISOR_shared_info;
    volatile struct vcpu_info *vi = &s->vcpu_info[0];
    bool any = false;

    while (READ_ONCE(vi->evtchn_upcall_pending)) {
        /* Clear the flag before the selector, so an event marked pending
         * after the xchg raises a new upcall (Xen's order). */
        vi->evtchn_upcall_pending = 0;
        mb();
        uint32_t sel = xchg32(&vi->evtchn_pending_sel, 0);
        while (sel != 0) {
            unsigned int w = lowest_bit(sel);
            uint32_t bits;
            sel &= sel - 1;
            while ((bits = s->evtchn_pending[w] & ~s->evtchn_mask[w]) != 0) {
                evtchn_port_t port = w * 32 + lowest_bit(bits);
                sync_clear_bit(port, s->evtchn_pending);
                counts[port]++;
                any = true;
                if (handlers[port].fn != NULL)
                    handlers[port].fn(port, handlers[port].data);
            }
        }
    }
    if (!any)
        trap_stats.spurious_upcalls++;
}

#ifdef PVSIM_NATIVE
/* PVHVM: shared_info placed in the grant region (lib/pvhvm.c); upcalls are the
 * "xen,xen" node's PLIC source, claimed and completed around the dispatcher. */
int events_setup(void)
{
    volatile struct shared_info *s;
    int rc;

    if (HYPERVISOR_shared_info != NULL)
        return 0;
    rc = pvhvm_setup();
    if (rc < 0)
        return rc;
    s = (volatile struct shared_info *)pvhvm.shared_info;
    for (unsigned int i = 0; i < EVTCHN_2L_WORD_BITS; i++)
        s->evtchn_mask[i] = ~0U;
    HYPERVISOR_shared_info = s;
    rc = pvhvm_bind_upcall(evtchn_do_upcall);
    if (rc < 0)
        return rc;
    mb();
    s->vcpu_info[0].evtchn_upcall_mask = 0;
    local_irq_enable();
    return 0;
}

void events_init(void)
{
    int rc = events_setup();

    if (rc < 0)
        panic("events_init: PVHVM set-up = %d (%s)", rc, xen_errstr(rc));
}
#else
int events_setup(void)
{
    volatile struct shared_info *s;
    unsigned long ma = pvsim_start_info->shared_info;
    int rc;

    if (HYPERVISOR_shared_info != NULL)
        return 0;
    mm_init();
    trap_init();
    rc = set_kernel_pte((unsigned long)shared_info_page,
                        MFN_PTE(ma >> PAGE_SHIFT, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D),
                        UVMF_INVLPG);
    if (rc < 0)
        return rc;
    s = (volatile struct shared_info *)shared_info_page;
    for (unsigned int i = 0; i < EVTCHN_2L_WORD_BITS; i++)
        s->evtchn_mask[i] = ~0U;
    HYPERVISOR_shared_info = s;
    pv_upcall_entry = evtchn_do_upcall;
    mb();
    s->vcpu_info[0].evtchn_upcall_mask = 0;
    local_irq_enable();
    return 0;
}

void events_init(void)
{
    int rc = events_setup();

    if (rc < 0)
        panic("events_init: update_va_mapping(shared_info at 0x%08lx -> machine 0x%08lx) = %d (%s)",
              (unsigned long)(uintptr_t)shared_info_page, pvsim_start_info->shared_info, rc,
              xen_errstr(rc));
}
#endif

void evtchn_set_handler(evtchn_port_t port, evtchn_handler_t fn, void *data)
{
    unsigned long flags;

    if (port >= EVTCHN_2L_NR_CHANNELS)
        return;
    flags = local_irq_save();
    handlers[port].fn = fn;
    handlers[port].data = data;
    local_irq_restore(flags);
}

static int bind_done(int rc, evtchn_port_t port, evtchn_handler_t fn, void *data,
                     evtchn_port_t *out)
{
    if (rc < 0)
        return rc;
    if (port >= EVTCHN_2L_NR_CHANNELS)
        panic("evtchn: the hypervisor returned port %lu (2-level ABI has %u)",
              (unsigned long)port, EVTCHN_2L_NR_CHANNELS);
    evtchn_set_handler(port, fn, data);
    if (out != NULL)
        *out = port;
    return evtchn_unmask(port);
}

int evtchn_bind_virq(uint32_t virq, evtchn_handler_t fn, void *data, evtchn_port_t *port)
{
    struct evtchn_bind_virq op = { .virq = virq, .vcpu = 0 };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_virq, &op);

    return bind_done(rc, op.port, fn, data, port);
}

int evtchn_alloc_unbound(domid_t remote_dom, evtchn_handler_t fn, void *data,
                         evtchn_port_t *port)
{
    struct evtchn_alloc_unbound op = { .dom = DOMID_SELF, .remote_dom = remote_dom };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);

    return bind_done(rc, op.port, fn, data, port);
}

int evtchn_bind_interdomain(domid_t remote_dom, evtchn_port_t remote_port,
                            evtchn_handler_t fn, void *data, evtchn_port_t *local_port)
{
    struct evtchn_bind_interdomain op = { .remote_dom = remote_dom, .remote_port = remote_port };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);

    return bind_done(rc, op.local_port, fn, data, local_port);
}

int evtchn_attach(evtchn_port_t port, evtchn_handler_t fn, void *data)
{
    if (port == 0 || port >= EVTCHN_2L_NR_CHANNELS)
        return -XEN_EINVAL;
    evtchn_set_handler(port, fn, data);
    return evtchn_unmask(port);
}

int evtchn_send(evtchn_port_t port)
{
    struct evtchn_send op = { .port = port };

    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &op);
}

int evtchn_close(evtchn_port_t port)
{
    struct evtchn_close op = { .port = port };
    int rc = HYPERVISOR_event_channel_op(EVTCHNOP_close, &op);

    if (rc == 0)
        evtchn_set_handler(port, NULL, NULL);
    return rc;
}

int evtchn_unmask(evtchn_port_t port)
{
    struct evtchn_unmask op = { .port = port };

    return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &op);
}

int evtchn_status(domid_t dom, evtchn_port_t port, struct evtchn_status *out)
{
    out->dom = dom;
    out->port = port;
    return HYPERVISOR_event_channel_op(EVTCHNOP_status, out);
}

void evtchn_mask(evtchn_port_t port)
{
    sync_set_bit(port, HYPERVISOR_shared_info->evtchn_mask);
}

void evtchn_clear(evtchn_port_t port)
{
    sync_clear_bit(port, HYPERVISOR_shared_info->evtchn_pending);
}

bool evtchn_is_pending(evtchn_port_t port)
{
    return sync_test_bit(port, HYPERVISOR_shared_info->evtchn_pending);
}

uint32_t evtchn_count(evtchn_port_t port)
{
    return port < EVTCHN_2L_NR_CHANNELS ? READ_ONCE(counts[port]) : 0;
}

#ifdef PVSIM_NATIVE
/* An HVM vCPU idles in wfi: it wakes on the event-channel interrupt and on
 * the timer (10 ms at most, against a lost interrupt), which SCHEDOP_block's
 * wake-up would not include. */
void events_block(void)
{
    native_idle(UINT64_MAX);
}
#else
void events_block(void)
{
    int rc = HYPERVISOR_sched_op(SCHEDOP_block, NULL);

    if (rc < 0)
        panic("SCHEDOP_block = %d (%s)", rc, xen_errstr(rc));
}
#endif

void wait_event(bool (*done)(void *arg), void *arg)
{
    WAIT_EVENT_UNTIL(done(arg));
}

int evtchn_poll(evtchn_port_t port, uint64_t timeout_ns)
{
    struct sched_poll poll = { .ports = &port, .nr_ports = 1, .timeout = timeout_ns };

    return HYPERVISOR_sched_op(SCHEDOP_poll, &poll);
}

void wait_event_port(evtchn_port_t port, bool (*done)(void *arg), void *arg)
{
    unsigned long flags = local_irq_save();
    int rc;

    if (flags & SSTATUS_SIE) {
        /* The main flow: the port's handler runs in the upcall. */
        local_irq_restore(flags);
        WAIT_EVENT_UNTIL(done(arg));
        return;
    }
    /* Upcalls masked (an event handler): no handler can run, so take the
     * port's events here. Clearing the pending bit before the test means an
     * event arriving after it makes SCHEDOP_poll return at once. */
    for (;;) {
        evtchn_clear(port);
        mb();
        if (done(arg))
            return;
        rc = evtchn_poll(port, 0);
        if (rc < 0)
            panic("SCHEDOP_poll(port %lu) = %d (%s)", (unsigned long)port, rc, xen_errstr(rc));
    }
}

int sched_yield(void)
{
    return HYPERVISOR_sched_op(SCHEDOP_yield, NULL);
}

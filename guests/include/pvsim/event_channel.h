/*
 * Event channels (event_channel.h and the VIRQ numbers of xen.h): the
 * EVTCHNOP_* sub-operations of HYPERVISOR_event_channel_op(cmd, arg) and
 * their argument structures for RV32 ilp32. OUT fields are written by the
 * hypervisor on success.
 */
#ifndef PVSIM_EVENT_CHANNEL_H
#define PVSIM_EVENT_CHANNEL_H

#include <pvsim/xen_types.h>

#define EVTCHNOP_bind_interdomain  0
#define EVTCHNOP_bind_virq         1
#define EVTCHNOP_bind_pirq         2
#define EVTCHNOP_close             3
#define EVTCHNOP_send              4
#define EVTCHNOP_status            5
#define EVTCHNOP_alloc_unbound     6
#define EVTCHNOP_bind_ipi          7
#define EVTCHNOP_bind_vcpu         8
#define EVTCHNOP_unmask            9
#define EVTCHNOP_reset            10
#define EVTCHNOP_init_control     11
#define EVTCHNOP_expand_array     12
#define EVTCHNOP_set_priority     13

/* evtchn_status.status */
#define EVTCHNSTAT_closed        0
#define EVTCHNSTAT_unbound       1
#define EVTCHNSTAT_interdomain   2
#define EVTCHNSTAT_pirq          3
#define EVTCHNSTAT_virq          4
#define EVTCHNSTAT_ipi           5

/* Virtual interrupts (xen.h). V = per vCPU, G = global. */
#define VIRQ_TIMER       0      /* V: the set_timer_op deadline passed */
#define VIRQ_DEBUG       1      /* V */
#define VIRQ_CONSOLE     2      /* G (dom0): emergency console input */
#define VIRQ_DOM_EXC     3      /* G (dom0): a domain shut down or crashed */
#define VIRQ_TBUF        4
#define VIRQ_DEBUGGER    6
#define VIRQ_XENOPROF    7
#define VIRQ_CON_RING    8
#define VIRQ_PCPU_STATE  9
#define VIRQ_MEM_EVENT  10
#define VIRQ_ARGO       11
#define VIRQ_ENOMEM     12
#define VIRQ_XENPMU     13
#define NR_VIRQS        24

/* A port of ours that `remote_dom` may bind to. */
struct evtchn_alloc_unbound {
    domid_t dom;                /* IN: DOMID_SELF (or a domain we control) */
    domid_t remote_dom;         /* IN: who may connect */
    evtchn_port_t port;         /* OUT */
};
PV_CHECK_OFFSET(struct evtchn_alloc_unbound, remote_dom, 2);
PV_CHECK_OFFSET(struct evtchn_alloc_unbound, port, 4);
PV_CHECK_SIZE(struct evtchn_alloc_unbound, 8);

/* Connects a new local port to remote_dom's unbound remote_port. */
struct evtchn_bind_interdomain {
    domid_t remote_dom;         /* IN */
    evtchn_port_t remote_port;  /* IN */
    evtchn_port_t local_port;   /* OUT */
};
PV_CHECK_OFFSET(struct evtchn_bind_interdomain, remote_port, 4);
PV_CHECK_OFFSET(struct evtchn_bind_interdomain, local_port, 8);
PV_CHECK_SIZE(struct evtchn_bind_interdomain, 12);

struct evtchn_bind_virq {
    uint32_t virq;              /* IN: VIRQ_* */
    uint32_t vcpu;              /* IN */
    evtchn_port_t port;         /* OUT */
};
PV_CHECK_OFFSET(struct evtchn_bind_virq, vcpu, 4);
PV_CHECK_OFFSET(struct evtchn_bind_virq, port, 8);
PV_CHECK_SIZE(struct evtchn_bind_virq, 12);

struct evtchn_bind_ipi {
    uint32_t vcpu;              /* IN */
    evtchn_port_t port;         /* OUT */
};
PV_CHECK_SIZE(struct evtchn_bind_ipi, 8);

struct evtchn_close {
    evtchn_port_t port;         /* IN */
};
PV_CHECK_SIZE(struct evtchn_close, 4);

struct evtchn_send {
    evtchn_port_t port;         /* IN */
};
PV_CHECK_SIZE(struct evtchn_send, 4);

struct evtchn_status {
    domid_t dom;                /* IN */
    evtchn_port_t port;         /* IN */
    uint32_t status;            /* OUT: EVTCHNSTAT_* */
    uint32_t vcpu;              /* OUT: vCPU notified */
    union {
        struct {
            domid_t dom;
        } unbound;              /* EVTCHNSTAT_unbound */
        struct {
            domid_t dom;
            evtchn_port_t port;
        } interdomain;          /* EVTCHNSTAT_interdomain */
        uint32_t pirq;
        uint32_t virq;
    } u;
};
PV_CHECK_OFFSET(struct evtchn_status, port, 4);
PV_CHECK_OFFSET(struct evtchn_status, status, 8);
PV_CHECK_OFFSET(struct evtchn_status, vcpu, 12);
PV_CHECK_OFFSET(struct evtchn_status, u, 16);
PV_CHECK_OFFSET(struct evtchn_status, u.interdomain.port, 20);
PV_CHECK_SIZE(struct evtchn_status, 24);

struct evtchn_bind_vcpu {
    evtchn_port_t port;
    uint32_t vcpu;
};
PV_CHECK_SIZE(struct evtchn_bind_vcpu, 8);

struct evtchn_unmask {
    evtchn_port_t port;         /* IN */
};
PV_CHECK_SIZE(struct evtchn_unmask, 4);

struct evtchn_reset {
    domid_t dom;
};
PV_CHECK_SIZE(struct evtchn_reset, 2);

#endif

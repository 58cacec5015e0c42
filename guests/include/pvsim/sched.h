/* sched_op sub-operations and their argument structures (Xen's numbering). */
#ifndef PVSIM_SCHED_H
#define PVSIM_SCHED_H

#define SCHEDOP_yield            0  /* give up the pCPU, stay runnable */
#define SCHEDOP_block            1  /* sleep until an event is pending */
#define SCHEDOP_shutdown         2  /* arg: struct sched_shutdown * */
#define SCHEDOP_poll             3  /* arg: struct sched_poll * */
#define SCHEDOP_remote_shutdown  4  /* arg: struct sched_remote_shutdown * */
#define SCHEDOP_shutdown_code    5
#define SCHEDOP_watchdog         6

#define SHUTDOWN_poweroff   0  /* exited normally */
#define SHUTDOWN_reboot     1  /* wants to be restarted */
#define SHUTDOWN_suspend    2  /* suspended, state saved */
#define SHUTDOWN_crash      3  /* crashed */
#define SHUTDOWN_watchdog   4  /* watchdog expired */
#define SHUTDOWN_soft_reset 5

#ifndef __ASSEMBLER__
#include <pvsim/xen_types.h>

struct sched_shutdown {
    unsigned int reason;            /* SHUTDOWN_* */
};
PV_CHECK_SIZE(struct sched_shutdown, 4);

struct sched_poll {
    PV_GUEST_HANDLE(evtchn_port_t) ports;
    unsigned int nr_ports;
    uint64_t timeout;               /* absolute system time, ns; 0 = none */
};
PV_CHECK_OFFSET(struct sched_poll, nr_ports, 4);
PV_CHECK_OFFSET(struct sched_poll, timeout, 8);
PV_CHECK_SIZE(struct sched_poll, 16);

struct sched_remote_shutdown {
    domid_t domain_id;
    unsigned int reason;            /* SHUTDOWN_* */
};
PV_CHECK_OFFSET(struct sched_remote_shutdown, reason, 4);
PV_CHECK_SIZE(struct sched_remote_shutdown, 8);
#endif

#endif

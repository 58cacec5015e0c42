// sched_op argument structures (xen/sched.h) for RV32 ilp32.

export const SCHED_SHUTDOWN = { reason: 0, SIZE: 4 } as const;
export const SCHED_POLL = { ports: 0, nr_ports: 4, timeout: 8, SIZE: 16 } as const;
export const SCHED_REMOTE_SHUTDOWN = { domain_id: 0, reason: 4, SIZE: 8 } as const;
/** Most ports one SCHEDOP_poll may watch (Xen's limit). */
export const SCHED_POLL_MAX_PORTS = 128;

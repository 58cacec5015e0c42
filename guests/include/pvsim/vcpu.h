/*
 * vCPU operations (vcpu.h): HYPERVISOR_vcpu_op(cmd, vcpuid, arg). The
 * initial context for VCPUOP_initialise has no riscv32 definition in Xen;
 * pvsim's is vcpu_guest_context below (docs/abi.md).
 */
#ifndef PVSIM_VCPU_H
#define PVSIM_VCPU_H

#include <pvsim/xen_types.h>

#define VCPUOP_initialise                 0   /* arg: struct vcpu_guest_context * */
#define VCPUOP_up                         1
#define VCPUOP_down                       2
#define VCPUOP_is_up                      3
#define VCPUOP_get_runstate_info          4   /* arg: struct vcpu_runstate_info * */
#define VCPUOP_register_runstate_memory_area 5
#define VCPUOP_set_periodic_timer         6   /* arg: struct vcpu_set_periodic_timer * */
#define VCPUOP_stop_periodic_timer        7
#define VCPUOP_set_singleshot_timer       8   /* arg: struct vcpu_set_singleshot_timer * */
#define VCPUOP_stop_singleshot_timer      9
#define VCPUOP_register_vcpu_info        10
#define VCPUOP_send_nmi                  11
#define VCPUOP_get_physid                12
#define VCPUOP_register_vcpu_time_memory_area 13

/* vcpu_runstate_info.state */
#define RUNSTATE_running   0
#define RUNSTATE_runnable  1
#define RUNSTATE_blocked   2
#define RUNSTATE_offline   3

struct vcpu_runstate_info {
    int state;                  /* RUNSTATE_* */
    uint64_t state_entry_time;  /* system time of the last change, ns */
    uint64_t time[4];           /* ns spent in each state */
};
PV_CHECK_OFFSET(struct vcpu_runstate_info, state_entry_time, 8);
PV_CHECK_OFFSET(struct vcpu_runstate_info, time, 16);
PV_CHECK_SIZE(struct vcpu_runstate_info, 48);

struct vcpu_set_periodic_timer {
    uint64_t period_ns;
};
PV_CHECK_SIZE(struct vcpu_set_periodic_timer, 8);

#define VCPU_SSHOTTMR_future  (1U << 0)  /* -ETIME if the deadline already passed */

struct vcpu_set_singleshot_timer {
    uint64_t timeout_abs_ns;    /* absolute system time */
    uint32_t flags;             /* VCPU_SSHOTTMR_* */
};
PV_CHECK_OFFSET(struct vcpu_set_singleshot_timer, flags, 8);
PV_CHECK_SIZE(struct vcpu_set_singleshot_timer, 16);

/* pvsim's riscv32 initial vCPU context (VCPUOP_initialise). */
#define VGCF_online  (1U << 5)  /* bring the vCPU up at once */

struct vcpu_guest_context {
    uint32_t flags;             /* VGCF_* */
    uint32_t x[32];             /* initial integer registers; x[0] ignored */
    uint32_t pc;                /* where the vCPU starts, in S-mode */
    uint32_t sstatus;           /* only SIE, SPIE, SPP, SUM and MXR are taken */
    uint32_t stvec;
    uint32_t sscratch;
    xen_pfn_t satp_mfn;         /* root table's mfn, pinned or valid as an L2 */
};
PV_CHECK_OFFSET(struct vcpu_guest_context, x, 4);
PV_CHECK_OFFSET(struct vcpu_guest_context, pc, 132);
PV_CHECK_OFFSET(struct vcpu_guest_context, sstatus, 136);
PV_CHECK_OFFSET(struct vcpu_guest_context, stvec, 140);
PV_CHECK_OFFSET(struct vcpu_guest_context, sscratch, 144);
PV_CHECK_OFFSET(struct vcpu_guest_context, satp_mfn, 148);
PV_CHECK_SIZE(struct vcpu_guest_context, 152);

#endif

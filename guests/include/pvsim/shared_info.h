/*
 * The shared_info page and vcpu_info (xen.h) for RV32 ilp32, with the
 * riscv32 architecture parts docs/abi.md defines: arch_vcpu_info is x86_32's
 * (cr2 + 5 pads; pvsim puts the last reflected page-fault address in cr2) and
 * arch_shared_info is x86_32's. 32 legacy vCPU slots of 64 bytes; the
 * 2-level event ABI has 32 x 32 = 1024 ports.
 *
 * The page's machine address is start_info.shared_info; a kernel maps it
 * itself (events_init() in lib/events.c maps it at `HYPERVISOR_shared_info`).
 */
#ifndef PVSIM_SHARED_INFO_H
#define PVSIM_SHARED_INFO_H

#include <pvsim/xen_types.h>

#define XEN_LEGACY_MAX_VCPUS      32
#define EVTCHN_2L_WORD_BITS       32        /* bits in an xen_ulong_t */
#define EVTCHN_2L_NR_CHANNELS     (EVTCHN_2L_WORD_BITS * EVTCHN_2L_WORD_BITS)

/* vcpu_time_info.flags */
#define XEN_PVCLOCK_TSC_STABLE_BIT (1U << 0)
#define XEN_PVCLOCK_GUEST_STOPPED  (1U << 1)

/*
 * system_time + ((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32,
 * read while version is even and unchanged. On pvsim the "tsc" is `time`
 * itself (ns), mul = 0x80000000 and shift = 1: a scale of exactly 1.
 */
struct vcpu_time_info {
    uint32_t version;           /* odd while the hypervisor updates */
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;       /* ns since the hypervisor started */
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad1[2];
};
PV_CHECK_OFFSET(struct vcpu_time_info, tsc_timestamp, 8);
PV_CHECK_OFFSET(struct vcpu_time_info, system_time, 16);
PV_CHECK_OFFSET(struct vcpu_time_info, tsc_to_system_mul, 24);
PV_CHECK_OFFSET(struct vcpu_time_info, tsc_shift, 28);
PV_CHECK_OFFSET(struct vcpu_time_info, flags, 29);
PV_CHECK_SIZE(struct vcpu_time_info, 32);

struct arch_vcpu_info {
    unsigned long cr2;          /* pvsim: address of the last reflected page fault */
    unsigned long pad[5];
};
PV_CHECK_SIZE(struct arch_vcpu_info, 24);

struct vcpu_info {
    /* Set by the hypervisor when it marks an event pending for this vCPU;
     * the guest clears it before scanning evtchn_pending_sel. */
    uint8_t evtchn_upcall_pending;
    /* Non-zero: no upcall (SEIP) is raised for this vCPU. */
    uint8_t evtchn_upcall_mask;
    /* One bit per word of shared_info.evtchn_pending with work in it. */
    xen_ulong_t evtchn_pending_sel;
    struct arch_vcpu_info arch;
    struct vcpu_time_info time;
};
PV_CHECK_OFFSET(struct vcpu_info, evtchn_upcall_pending, 0);
PV_CHECK_OFFSET(struct vcpu_info, evtchn_upcall_mask, 1);
PV_CHECK_OFFSET(struct vcpu_info, evtchn_pending_sel, 4);
PV_CHECK_OFFSET(struct vcpu_info, arch, 8);
PV_CHECK_OFFSET(struct vcpu_info, time, 32);
PV_CHECK_SIZE(struct vcpu_info, 64);

struct arch_shared_info {
    unsigned long max_pfn;
    xen_pfn_t pfn_to_mfn_frame_list_list;
    unsigned long nmi_reason;
    unsigned long p2m_cr3;
    unsigned long p2m_vaddr;
    unsigned long p2m_generation;
    uint32_t wc_sec_hi;         /* x86_32 keeps it here; so does riscv32 */
};
PV_CHECK_SIZE(struct arch_shared_info, 28);

struct shared_info {
    struct vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
    /* 2-level event ABI: port p is bit p % 32 of word p / 32. */
    xen_ulong_t evtchn_pending[EVTCHN_2L_WORD_BITS];
    xen_ulong_t evtchn_mask[EVTCHN_2L_WORD_BITS];
    uint32_t wc_version;        /* wall clock at system time 0 */
    uint32_t wc_sec;
    uint32_t wc_nsec;
    struct arch_shared_info arch;
};
typedef struct shared_info shared_info_t;
PV_CHECK_OFFSET(struct shared_info, evtchn_pending, 2048);
PV_CHECK_OFFSET(struct shared_info, evtchn_mask, 2176);
PV_CHECK_OFFSET(struct shared_info, wc_version, 2304);
PV_CHECK_OFFSET(struct shared_info, wc_sec, 2308);
PV_CHECK_OFFSET(struct shared_info, wc_nsec, 2312);
PV_CHECK_OFFSET(struct shared_info, arch, 2316);
PV_CHECK_OFFSET(struct shared_info, arch.max_pfn, 2316);
PV_CHECK_OFFSET(struct shared_info, arch.wc_sec_hi, 2340);
PV_CHECK_SIZE(struct shared_info, 2344);

#endif

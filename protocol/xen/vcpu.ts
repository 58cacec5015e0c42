// vcpu_op (xen/vcpu.h) for RV32 ilp32, plus pvsim's riscv32 vcpu_guest_context
// (docs/abi.md: Xen defines none for riscv32).

export const VCPUOP = {
  initialise: 0,
  up: 1,
  down: 2,
  is_up: 3,
  get_runstate_info: 4,
  register_runstate_memory_area: 5,
  set_periodic_timer: 6,
  stop_periodic_timer: 7,
  set_singleshot_timer: 8,
  stop_singleshot_timer: 9,
  register_vcpu_info: 10,
  send_nmi: 11,
  get_physid: 12,
  register_vcpu_time_memory_area: 13,
} as const;

export const RUNSTATE = { running: 0, runnable: 1, blocked: 2, offline: 3 } as const;

/** struct vcpu_runstate_info: int state; uint64_t state_entry_time; uint64_t time[4]. */
export const VCPU_RUNSTATE_INFO = { state: 0, state_entry_time: 8, time: 16, SIZE: 48 } as const;
/** struct vcpu_set_singleshot_timer: uint64_t timeout_abs_ns; uint32_t flags. */
export const VCPU_SET_SINGLESHOT_TIMER = { timeout_abs_ns: 0, flags: 8, SIZE: 16 } as const;
export const VCPU_SSHOTTMR_future = 1 << 0;
/** struct vcpu_set_periodic_timer: uint64_t period_ns. */
export const VCPU_SET_PERIODIC_TIMER = { period_ns: 0, SIZE: 8 } as const;

/** VCPUOP_initialise's flags (the context itself is riscv32's: arch_riscv32.ts). */
export const VGCF_online = 1 << 5;

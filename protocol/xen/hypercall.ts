// Hypercall numbers and sub-operation codes, with Xen's values (xen/xen.h, sched.h,
// version.h). On RV32 the number travels in a7; see docs/abi.md.

export const HYPERVISOR = {
  set_trap_table: 0,
  mmu_update: 1,
  set_gdt: 2,
  stack_switch: 3,
  set_callbacks: 4,
  fpu_taskswitch: 5,
  sched_op_compat: 6,
  platform_op: 7,
  set_debugreg: 8,
  get_debugreg: 9,
  update_descriptor: 10,
  memory_op: 12,
  multicall: 13,
  update_va_mapping: 14,
  set_timer_op: 15,
  event_channel_op_compat: 16,
  xen_version: 17,
  console_io: 18,
  physdev_op_compat: 19,
  grant_table_op: 20,
  vm_assist: 21,
  update_va_mapping_otherdomain: 22,
  iret: 23,
  vcpu_op: 24,
  set_segment_base: 25,
  mmuext_op: 26,
  xsm_op: 27,
  nmi_op: 28,
  sched_op: 29,
  callback_op: 30,
  xenoprof_op: 31,
  event_channel_op: 32,
  physdev_op: 33,
  hvm_op: 34,
  sysctl: 35,
  domctl: 36,
  kexec_op: 37,
  tmem_op: 38,
  argo_op: 39,
  xenpmu_op: 40,
  dm_op: 41,
  hypfs_op: 42,
} as const;

export const CONSOLEIO = { write: 0, read: 1 } as const;

export const SCHEDOP = {
  yield: 0,
  block: 1,
  shutdown: 2,
  poll: 3,
  remote_shutdown: 4,
  shutdown_code: 5,
  watchdog: 6,
  pin_override: 7,
} as const;

export const SHUTDOWN = {
  poweroff: 0,
  reboot: 1,
  suspend: 2,
  crash: 3,
  watchdog: 4,
  soft_reset: 5,
} as const;

export type ShutdownReason = keyof typeof SHUTDOWN;

export const SHUTDOWN_NAMES: ReadonlyMap<number, ShutdownReason> = new Map(
  (Object.entries(SHUTDOWN) as [ShutdownReason, number][]).map(([k, v]) => [v, k]),
);

export const XENVER = {
  version: 0,
  extraversion: 1,
  compile_info: 2,
  capabilities: 3,
  changeset: 4,
  platform_parameters: 5,
  get_features: 6,
  pagesize: 7,
  guest_handle: 8,
  commandline: 9,
  build_id: 10,
} as const;

/** Sizes of the fixed buffers XENVER_* sub-ops fill (xen/version.h). */
export const XENVER_SIZES = {
  extraversion: 16,
  compile_info: 64 + 16 + 32 + 32, // compiler, compile_by, compile_domain, compile_date
  capabilities: 1024,
  changeset: 64,
  platform_parameters: 4, // virt_start (unsigned long)
  get_features: 8, // submap_idx, submap
  guest_handle: 16,
  commandline: 1024,
} as const;

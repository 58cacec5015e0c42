// domctl and sysctl (xen/domctl.h, xen/sysctl.h; tools-only interfaces) for RV32 ilp32.
// Numbers and offsets are pinned to Xen's headers by tests/xen-abi-domctl.test.ts.

export const XEN_DOMCTL_INTERFACE_VERSION = 0x15;
export const XEN_SYSCTL_INTERFACE_VERSION = 0x15;

/** struct xen_domctl: cmd, interface_version, domain, then the union at 16; 144 bytes. */
export const XEN_DOMCTL_HDR = { cmd: 0, interface_version: 4, domain: 8, u: 16, SIZE: 144 } as const;
/** struct xen_sysctl: cmd, interface_version, then the union at 8; 136 bytes. */
export const XEN_SYSCTL_HDR = { cmd: 0, interface_version: 4, u: 8, SIZE: 136 } as const;

export const XEN_DOMCTL = {
  createdomain: 1,
  destroydomain: 2,
  pausedomain: 3,
  unpausedomain: 4,
  getdomaininfo: 5,
  max_mem: 11,
  getvcpuinfo: 14,
  max_vcpus: 15,
  scheduler_op: 16,
} as const;

export const XEN_SYSCTL = { physinfo: 3, sched_id: 4, getdomaininfolist: 6 } as const;

/** struct xen_domctl_getdomaininfo (112 bytes). */
export const GETDOMAININFO = {
  domain: 0,
  flags: 4,
  tot_pages: 8,
  max_pages: 16,
  outstanding_pages: 24,
  shr_pages: 32,
  paged_pages: 40,
  shared_info_frame: 48,
  cpu_time: 56,
  nr_online_vcpus: 64,
  max_vcpu_id: 68,
  ssidref: 72,
  handle: 76,
  cpupool: 92,
  gpaddr_bits: 96,
  SIZE: 112,
} as const;

export const XEN_DOMINF = {
  dying: 1 << 0,
  hvm_guest: 1 << 1,
  shutdown: 1 << 2,
  paused: 1 << 3,
  blocked: 1 << 4,
  running: 1 << 5,
  debugged: 1 << 6,
  xs_domain: 1 << 7,
  hap: 1 << 8,
  shutdownshift: 16,
  shutdownmask: 255,
} as const;

/** struct xen_domctl_scheduler_op: sched_id, cmd, u.credit.{weight (u16), cap (u16)}. */
export const DOMCTL_SCHEDULER_OP = { sched_id: 0, cmd: 4, credit_weight: 8, credit_cap: 10, SIZE: 24 } as const;
export const XEN_DOMCTL_SCHEDOP = { putinfo: 0, getinfo: 1 } as const;
export const XEN_SCHEDULER_CREDIT = 5;

/** struct xen_sysctl_getdomaininfolist: first_domain, max_domains, buffer (64-bit handle), num_domains. */
export const SYSCTL_GETDOMAININFOLIST = { first_domain: 0, max_domains: 4, buffer: 8, num_domains: 16, SIZE: 24 } as const;

/** struct xen_sysctl_physinfo (112 bytes), the fields pvsim fills. */
export const SYSCTL_PHYSINFO = {
  threads_per_core: 0,
  cores_per_socket: 4,
  nr_cpus: 8,
  max_cpu_id: 12,
  nr_nodes: 16,
  max_node_id: 20,
  cpu_khz: 24,
  capabilities: 28,
  total_pages: 40,
  free_pages: 48,
  scrub_pages: 56,
  outstanding_pages: 64,
  max_mfn: 72,
  SIZE: 112,
} as const;

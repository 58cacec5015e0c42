// Event channel constants and argument layouts (xen/event_channel.h, VIRQ_* and DOMID_*
// from xen/xen.h) as compiled for RV32 ilp32. HYPERVISOR_event_channel_op(cmd, arg):
// cmd in a0, a guest-virtual pointer to the cmd's struct in a1 (docs/abi.md).
// tests/evtchn-abi.test.ts pins every number here to Xen's headers.
//
// Port life cycle (Xen's ECS_* states; EVTCHNSTAT_* is what EVTCHNOP_status reports):
//
//   free ──alloc_unbound──▶ unbound(remote domid) ──peer bind_interdomain──▶ interdomain
//     │                         ▲                                               │
//     ├──bind_virq──▶ virq      └───────────── peer closes its end ─────────────┘
//     ├──bind_ipi───▶ ipi
//     └◀── close (any bound state) ── the port's pending bit is cleared, notify vCPU -> 0
//
// Port 0 is reserved in every domain and never allocated.

export const EVTCHNOP = {
  bind_interdomain: 0,
  bind_virq: 1,
  bind_pirq: 2,
  close: 3,
  send: 4,
  status: 5,
  alloc_unbound: 6,
  bind_ipi: 7,
  bind_vcpu: 8,
  unmask: 9,
  reset: 10,
  init_control: 11,
  expand_array: 12,
  set_priority: 13,
} as const;

/**
 * Xen's continuation of a preempted EVTCHNOP_reset. The public header defines it only for
 * the hypervisor itself (__XEN__), but do_event_channel_op accepts it from any caller.
 */
export const EVTCHNOP_reset_cont = 14;

/** EVTCHNOP_status results. */
export const EVTCHNSTAT = {
  closed: 0,
  unbound: 1,
  interdomain: 2,
  pirq: 3,
  virq: 4,
  ipi: 5,
} as const;

/** Virtual IRQs (xen/xen.h). "V" = per-vCPU, the rest are global (delivered to one vCPU of the domain). */
export const VIRQ = {
  TIMER: 0, // V
  DEBUG: 1, // V
  CONSOLE: 2,
  DOM_EXC: 3,
  TBUF: 4,
  DEBUGGER: 6,
  XENOPROF: 7, // V
  CON_RING: 8,
  PCPU_STATE: 9,
  MEM_EVENT: 10,
  ARGO: 11,
  ENOMEM: 12,
  XENPMU: 13, // V
  ARCH_0: 16,
  ARCH_1: 17,
  ARCH_2: 18,
  ARCH_3: 19,
  ARCH_4: 20,
  ARCH_5: 21,
  ARCH_6: 22,
  ARCH_7: 23,
} as const;
export const NR_VIRQS = 24;

/**
 * Xen's virq_is_global(): the per-vCPU VIRQs are TIMER, DEBUG, XENOPROF and XENPMU; the
 * architecture VIRQs are global on riscv32 as on x86 (arch_virq_is_global returns true).
 */
export function virqIsGlobal(virq: number): boolean {
  return !(virq === VIRQ.TIMER || virq === VIRQ.DEBUG || virq === VIRQ.XENOPROF || virq === VIRQ.XENPMU);
}

export const BIND_PIRQ__WILL_SHARE = 1;

// Argument structures: offsets and sizes (RV32 ilp32; domid_t is uint16_t, evtchn_port_t uint32_t).

export const EVTCHN_ALLOC_UNBOUND = { dom: 0, remote_dom: 2, port: 4, SIZE: 8 } as const;
export const EVTCHN_BIND_INTERDOMAIN = { remote_dom: 0, remote_port: 4, local_port: 8, SIZE: 12 } as const;
export const EVTCHN_BIND_VIRQ = { virq: 0, vcpu: 4, port: 8, SIZE: 12 } as const;
export const EVTCHN_BIND_PIRQ = { pirq: 0, flags: 4, port: 8, SIZE: 12 } as const;
export const EVTCHN_BIND_IPI = { vcpu: 0, port: 4, SIZE: 8 } as const;
export const EVTCHN_CLOSE = { port: 0, SIZE: 4 } as const;
export const EVTCHN_SEND = { port: 0, SIZE: 4 } as const;
export const EVTCHN_STATUS = {
  dom: 0,
  port: 4,
  status: 8,
  vcpu: 12,
  u: 16,
  u_unbound_dom: 16,
  u_interdomain_dom: 16,
  u_interdomain_port: 20,
  u_pirq: 16,
  u_virq: 16,
  SIZE: 24,
} as const;
export const EVTCHN_BIND_VCPU = { port: 0, vcpu: 4, SIZE: 8 } as const;
export const EVTCHN_UNMASK = { port: 0, SIZE: 4 } as const;
export const EVTCHN_RESET = { dom: 0, SIZE: 2 } as const;
export const EVTCHN_INIT_CONTROL = { control_gfn: 0, offset: 8, vcpu: 12, link_bits: 16, SIZE: 24 } as const;
export const EVTCHN_EXPAND_ARRAY = { array_gfn: 0, SIZE: 8 } as const;
export const EVTCHN_SET_PRIORITY = { port: 0, priority: 4, SIZE: 8 } as const;

/** Bytes of the argument each EVTCHNOP_* reads from the guest. */
export const EVTCHNOP_ARG_SIZE: ReadonlyMap<number, number> = new Map([
  [EVTCHNOP.bind_interdomain, EVTCHN_BIND_INTERDOMAIN.SIZE],
  [EVTCHNOP.bind_virq, EVTCHN_BIND_VIRQ.SIZE],
  [EVTCHNOP.bind_pirq, EVTCHN_BIND_PIRQ.SIZE],
  [EVTCHNOP.close, EVTCHN_CLOSE.SIZE],
  [EVTCHNOP.send, EVTCHN_SEND.SIZE],
  [EVTCHNOP.status, EVTCHN_STATUS.SIZE],
  [EVTCHNOP.alloc_unbound, EVTCHN_ALLOC_UNBOUND.SIZE],
  [EVTCHNOP.bind_ipi, EVTCHN_BIND_IPI.SIZE],
  [EVTCHNOP.bind_vcpu, EVTCHN_BIND_VCPU.SIZE],
  [EVTCHNOP.unmask, EVTCHN_UNMASK.SIZE],
  [EVTCHNOP.reset, EVTCHN_RESET.SIZE],
  [EVTCHNOP_reset_cont, EVTCHN_RESET.SIZE],
  [EVTCHNOP.init_control, EVTCHN_INIT_CONTROL.SIZE],
  [EVTCHNOP.expand_array, EVTCHN_EXPAND_ARRAY.SIZE],
  [EVTCHNOP.set_priority, EVTCHN_SET_PRIORITY.SIZE],
]);

// The FIFO ABI (EVTCHNOP_init_control / expand_array / set_priority). Each port has a
// 32-bit event word in an event array the guest hands over a page at a time; each vCPU has
// a control block with a READY bitmap and the HEAD of one queue per priority (0 highest).

export const EVTCHN_FIFO = {
  PRIORITY_MAX: 0,
  PRIORITY_DEFAULT: 7,
  PRIORITY_MIN: 15,
  MAX_QUEUES: 16,
  /** Bit numbers in an event word. */
  PENDING: 31,
  MASKED: 30,
  LINKED: 29,
  BUSY: 28,
  LINK_BITS: 17,
  LINK_MASK: (1 << 17) - 1,
  NR_CHANNELS: 1 << 17,
} as const;

/** struct evtchn_fifo_control_block: ready, _rsvd, head[EVTCHN_FIFO_MAX_QUEUES]. */
export const EVTCHN_FIFO_CONTROL_BLOCK = { ready: 0, head: 8, SIZE: 72 } as const;

/** Event words per event array page (PAGE_SIZE / sizeof(event_word_t)). */
export const EVTCHN_FIFO_EVENT_WORDS_PER_PAGE = 1024;
/** Event array pages a domain may add (EVTCHN_FIFO_NR_CHANNELS / words per page). */
export const EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES = EVTCHN_FIFO.NR_CHANNELS / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;

// Per-domain performance counters: what `pvsim compare` reports per mode (issue 14 item 3).
// One home, filled where the events happen (the run loop, traps, hypercalls, shadow/G-stage
// code, the MMU, grant and event-channel code, dom0 dispatches), read as a plain snapshot.
// Counting must never change virtual time or the trace hash.

/** Count, total and extremes of one kind of exit (virtual ns). */
export interface ExitCounter {
  count: number;
  totalNs: number;
  minNs: number;
  maxNs: number;
}

export interface DomainPerfSnapshot {
  /** Guest instructions retired by (virtual) privilege: U and S (HVM: VU/VS or virtual U/S). */
  instr: { user: number; kernel: number };
  /** Virtual ns the hypervisor spent on this domain's behalf (exits, traps, hypercalls). */
  hypervisorNs: number;
  /** Virtual ns dom0 worked for this domain (its dispatches and device-model ioreqs). */
  dom0Ns: number;
  /** Exits (HVM) or hypervisor entries (PV traps, hypercalls), by reason. */
  exits: Record<string, ExitCounter>;
  /** Illegal-instruction exits by the instruction emulated ("csrrs sstatus", "sret", "wfi", ...). */
  illegalInsn: Record<string, number>;
  /** Hypercalls by number. */
  hypercalls: Record<number, number>;
  mmu: {
    pageWalks: number;
    /** Memory references made by those walks (1-D: up to 2 per walk; 2-D: up to 15). */
    walkRefs: number;
    tlbMisses: number;
    /** Virtual ns charged for the hardware's page-walk references (walkMemRefNs each; not PV, which is not charged for walks). */
    walkNs: number;
    shadowFills: number;
    /** Shadow flushes by cause. */
    shadowFlushes: Record<string, number>;
    wpFaults: number;
    mmuUpdateCalls: number;
    mmuUpdatePtes: number;
  };
  io: {
    /** Event-channel notifications sent by the domain (EVTCHNOP_send, virtio queue notifies). */
    notifications: number;
    /** Interrupts / upcalls delivered to the domain. */
    interrupts: number;
    /** Grant operations done on this domain's grants (map, unmap, copy entries). */
    grantOps: number;
    /** Bytes copied by grant copy or device-model DMA to or from this domain. */
    bytesCopied: number;
    /** MMIO accesses of emulated devices (each an ioreq). */
    mmioAccesses: number;
  };
}

export class DomainPerf {
  instrUser = 0;
  instrKernel = 0;
  hypervisorNs = 0;
  dom0Ns = 0;
  readonly exits = new Map<string, ExitCounter>();
  readonly illegalInsn = new Map<string, number>();
  readonly hypercalls = new Map<number, number>();
  pageWalks = 0;
  walkRefs = 0;
  tlbMisses = 0;
  walkNs = 0;
  shadowFills = 0;
  readonly shadowFlushes = new Map<string, number>();
  wpFaults = 0;
  mmuUpdateCalls = 0;
  mmuUpdatePtes = 0;
  notifications = 0;
  interrupts = 0;
  grantOps = 0;
  bytesCopied = 0;
  mmioAccesses = 0;

  /** One exit (or hypervisor entry) of `reason` that cost `ns` of virtual time. */
  exit(reason: string, ns: number): void {
    let c = this.exits.get(reason);
    if (!c) this.exits.set(reason, (c = { count: 0, totalNs: 0, minNs: Infinity, maxNs: 0 }));
    c.count++;
    c.totalNs += ns;
    if (ns < c.minNs) c.minNs = ns;
    if (ns > c.maxNs) c.maxNs = ns;
    this.hypervisorNs += ns;
  }

  illegal(insn: string): void {
    this.illegalInsn.set(insn, (this.illegalInsn.get(insn) ?? 0) + 1);
  }

  hypercall(nr: number): void {
    this.hypercalls.set(nr, (this.hypercalls.get(nr) ?? 0) + 1);
  }

  shadowFlush(cause: string): void {
    this.shadowFlushes.set(cause, (this.shadowFlushes.get(cause) ?? 0) + 1);
  }

  snapshot(): DomainPerfSnapshot {
    const exits: Record<string, ExitCounter> = {};
    for (const [k, c] of [...this.exits].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) exits[k] = { ...c, minNs: c.count ? c.minNs : 0 };
    return {
      instr: { user: this.instrUser, kernel: this.instrKernel },
      hypervisorNs: this.hypervisorNs,
      dom0Ns: this.dom0Ns,
      exits,
      illegalInsn: Object.fromEntries([...this.illegalInsn].sort()),
      hypercalls: Object.fromEntries([...this.hypercalls].sort((a, b) => a[0] - b[0])),
      mmu: {
        pageWalks: this.pageWalks,
        walkRefs: this.walkRefs,
        tlbMisses: this.tlbMisses,
        walkNs: this.walkNs,
        shadowFills: this.shadowFills,
        shadowFlushes: Object.fromEntries([...this.shadowFlushes].sort()),
        wpFaults: this.wpFaults,
        mmuUpdateCalls: this.mmuUpdateCalls,
        mmuUpdatePtes: this.mmuUpdatePtes,
      },
      io: {
        notifications: this.notifications,
        interrupts: this.interrupts,
        grantOps: this.grantOps,
        bytesCopied: this.bytesCopied,
        mmioAccesses: this.mmioAccesses,
      },
    };
  }
}

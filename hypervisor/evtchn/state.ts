// Per-domain event channel state: Xen's struct evtchn array (state, notify vCPU, the
// binding) kept as parallel typed arrays indexed by port, plus the per-vCPU VIRQ table
// (Xen's v->virq_to_evtchn). The bits the guest sees (pending, mask, pending_sel,
// upcall_pending) live in the shared_info page, not here; see two_level.ts.

import { EVTCHN_2L_NR_CHANNELS, SharedInfoPage } from '../../protocol/xen/shared_info.ts';
import { EVTCHN_FIFO, NR_VIRQS } from '../../protocol/xen/event_channel.ts';

/** Xen's ECS_* port states. */
export const ECS = {
  FREE: 0,
  RESERVED: 1,
  UNBOUND: 2,
  INTERDOMAIN: 3,
  PIRQ: 4,
  VIRQ: 5,
  IPI: 6,
} as const;

/**
 * Ports become valid a bucket at a time, as in Xen (EVTCHNS_PER_BUCKET = a page of 64-byte
 * struct evtchn on x86_64). A port beyond the buckets allocated so far is invalid (-EINVAL
 * from status/unmask/close/send); a free port inside them is "closed".
 */
export const EVTCHNS_PER_BUCKET = 64;

/** Xen's default for max_evtchn_port (libxl's `event_channels` default of 1023). */
export const DEFAULT_MAX_EVTCHN_PORT = 1023;

export interface EvtchnStats {
  /** EVTCHNOP_send calls (and evtchnSend from the hypervisor) that were accepted. */
  sends: number;
  /** Ports that went from not-pending to pending. */
  setPending: number;
}

/**
 * A vCPU's FIFO queues (Xen's struct evtchn_fifo_vcpu): the control block the guest
 * registered (null until EVTCHNOP_init_control for this vCPU) and each queue's tail, which
 * only the hypervisor knows.
 */
export interface FifoVcpu {
  /** The control block's words (ready at 0, head[q] at 2 + q); null: not registered yet. */
  control: Uint32Array | null;
  /** Machine address of the control block (guest stores are reported there); -1: host memory. */
  controlPa: number;
  /** The frame holding a reference for the control block; -1: none (host memory). */
  controlMfn: number;
  readonly tail: Uint32Array;
}

/** A domain's FIFO event array (Xen's struct evtchn_fifo_domain) and per-port FIFO state. */
export interface FifoDomain {
  /** The event array pages added so far, 1024 event words each. */
  readonly pages: Uint32Array[];
  /** Each page's machine frame (its reference), or -1 for host memory (dom0 in TypeScript). */
  readonly pageMfns: number[];
  /** Ports with an event word (pages.length * 1024). */
  numEvtchns: number;
  readonly vcpus: FifoVcpu[];
}

export class DomainEvtchn {
  /** Highest port the domain may allocate (Xen's d->max_evtchn_port, XEN_DOMCTL_set_max_evtchn). */
  maxEvtchnPort: number;
  /** Ports in allocated buckets (Xen's d->valid_evtchns); only grows. */
  validPorts = EVTCHNS_PER_BUCKET;
  /** No port below this one is free (get_free_port's starting point). */
  freeHint = 0;
  /** Set by evtchnDestroy: no further allocations (get_free_port answers -EINVAL). */
  dying = false;
  /** The FIFO ABI once the domain asked for it (EVTCHNOP_init_control); null: 2-level. */
  fifo: FifoDomain | null = null;

  // Per-port state, sized to the ports in allocated buckets (grown a bucket at a time, so a
  // domain with a handful of ports costs a few hundred bytes, not the ABI's 2^17 ports).
  state = new Uint8Array(EVTCHNS_PER_BUCKET);
  /** vCPU told about events on the port (Xen's notify_vcpu_id); 0 for a free port. */
  notifyVcpu = new Uint16Array(EVTCHNS_PER_BUCKET);
  /** UNBOUND: the domain allowed to bind; INTERDOMAIN: the peer domain. */
  remoteDomid = new Uint16Array(EVTCHNS_PER_BUCKET);
  /** INTERDOMAIN: the peer's port (FIFO ports go up to 2^17 - 1). */
  remotePort = new Uint32Array(EVTCHNS_PER_BUCKET);
  /** VIRQ: the VIRQ number. */
  virq = new Uint8Array(EVTCHNS_PER_BUCKET);
  /** FIFO: the port's queue priority (Xen's evtchn->priority). */
  priority = new Uint8Array(EVTCHNS_PER_BUCKET).fill(EVTCHN_FIFO.PRIORITY_DEFAULT);
  /** FIFO: pending while its event array page was missing (Xen's evtchn->pending). */
  pendingNoWord = new Uint8Array(EVTCHNS_PER_BUCKET);
  /** virqToEvtchn[vcpuId][virq] = port, 0 when unbound. Global VIRQs live in vCPU 0's row. */
  private readonly virqRows: Uint32Array[] = [];

  readonly stats: EvtchnStats = { sends: 0, setPending: 0 };

  constructor(
    /** The domain's shared_info frame (a detached copy once the domain is destroyed). */
    public shared: SharedInfoPage,
    maxEvtchnPort = DEFAULT_MAX_EVTCHN_PORT,
  ) {
    this.maxEvtchnPort = maxEvtchnPort;
    this.state[0] = ECS.RESERVED;
  }

  /** Ports the ABI can name (Xen's max_evtchns(d)): 1024 for 2-level on RV32, 2^17 for FIFO. */
  get maxEvtchns(): number {
    return this.fifo ? EVTCHN_FIFO.NR_CHANNELS : EVTCHN_2L_NR_CHANNELS;
  }

  /** Makes ports below `n` valid (a bucket at a time), growing the per-port arrays. */
  growValid(n: number): void {
    while (this.validPorts < n) this.validPorts += EVTCHNS_PER_BUCKET;
    const cap = this.state.length;
    if (this.validPorts <= cap) return;
    let next = cap;
    while (next < this.validPorts) next *= 2;
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array>(a: T, make: (n: number) => T): T => {
      const b = make(next);
      b.set(a);
      return b;
    };
    this.state = grow(this.state, (k) => new Uint8Array(k));
    this.notifyVcpu = grow(this.notifyVcpu, (k) => new Uint16Array(k));
    this.remoteDomid = grow(this.remoteDomid, (k) => new Uint16Array(k));
    this.remotePort = grow(this.remotePort, (k) => new Uint32Array(k));
    this.virq = grow(this.virq, (k) => new Uint8Array(k));
    this.pendingNoWord = grow(this.pendingNoWord, (k) => new Uint8Array(k));
    const pr = new Uint8Array(next).fill(EVTCHN_FIFO.PRIORITY_DEFAULT);
    pr.set(this.priority);
    this.priority = pr;
  }

  virqToEvtchn(vcpuId: number): Uint32Array {
    let row = this.virqRows[vcpuId];
    if (row === undefined) {
      row = new Uint32Array(NR_VIRQS);
      this.virqRows[vcpuId] = row;
    }
    return row;
  }

  /** Xen's port_is_valid(). */
  portIsValid(port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < this.validPorts;
  }
}

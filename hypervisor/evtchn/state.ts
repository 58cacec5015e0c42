// Per-domain event channel state: Xen's struct evtchn array (state, notify vCPU, the
// binding) kept as parallel typed arrays indexed by port, plus the per-vCPU VIRQ table
// (Xen's v->virq_to_evtchn). The bits the guest sees (pending, mask, pending_sel,
// upcall_pending) live in the shared_info page, not here; see two_level.ts.

import { EVTCHN_2L_NR_CHANNELS, SharedInfoPage } from '../../protocol/xen/shared_info.ts';
import { NR_VIRQS } from '../../protocol/xen/event_channel.ts';

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

export class DomainEvtchn {
  /** Ports the ABI can name (Xen's d->max_evtchns): 1024 for the 2-level ABI on RV32. */
  readonly maxEvtchns = EVTCHN_2L_NR_CHANNELS;
  /** Highest port the domain may allocate (Xen's d->max_evtchn_port, XEN_DOMCTL_set_max_evtchn). */
  maxEvtchnPort: number;
  /** Ports in allocated buckets (Xen's d->valid_evtchns); only grows. */
  validPorts = EVTCHNS_PER_BUCKET;
  /** Set by evtchnDestroy: no further allocations (get_free_port answers -EINVAL). */
  dying = false;

  readonly state = new Uint8Array(EVTCHN_2L_NR_CHANNELS);
  /** vCPU told about events on the port (Xen's notify_vcpu_id); 0 for a free port. */
  readonly notifyVcpu = new Uint16Array(EVTCHN_2L_NR_CHANNELS);
  /** UNBOUND: the domain allowed to bind; INTERDOMAIN: the peer domain. */
  readonly remoteDomid = new Uint16Array(EVTCHN_2L_NR_CHANNELS);
  /** INTERDOMAIN: the peer's port. */
  readonly remotePort = new Uint16Array(EVTCHN_2L_NR_CHANNELS);
  /** VIRQ: the VIRQ number. */
  readonly virq = new Uint8Array(EVTCHN_2L_NR_CHANNELS);
  /** virqToEvtchn[vcpuId][virq] = port, 0 when unbound. Global VIRQs live in vCPU 0's row. */
  private readonly virqRows: Uint16Array[] = [];

  readonly stats: EvtchnStats = { sends: 0, setPending: 0 };

  constructor(
    /** The domain's shared_info frame (a detached copy once the domain is destroyed). */
    public shared: SharedInfoPage,
    maxEvtchnPort = DEFAULT_MAX_EVTCHN_PORT,
  ) {
    this.maxEvtchnPort = maxEvtchnPort;
    this.state[0] = ECS.RESERVED;
  }

  virqToEvtchn(vcpuId: number): Uint16Array {
    let row = this.virqRows[vcpuId];
    if (row === undefined) {
      row = new Uint16Array(NR_VIRQS);
      this.virqRows[vcpuId] = row;
    }
    return row;
  }

  /** Xen's port_is_valid(). */
  portIsValid(port: number): boolean {
    return Number.isInteger(port) && port >= 0 && port < this.validPorts;
  }
}

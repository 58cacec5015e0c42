// A domain and its vCPUs: the hypervisor's view of one guest.

import type { Hart } from '../cpu/hart.ts';
import type { ShutdownReason } from '../../protocol/xen/hypercall.ts';

/** Xen's domain life cycle, as `xl list` shows it (r, b, p, s, c, d). */
export type DomainState = 'running' | 'paused' | 'shutdown' | 'crashed' | 'dying';

export interface VcpuStats {
  hypercalls: number;
  /** Traps taken by the hypervisor (host traps), by mcause. */
  traps: Map<number, number>;
}

export class Vcpu {
  readonly stats: VcpuStats = { hypercalls: 0, traps: new Map() };
  online = true;
  /** Waiting for an event or timer (SCHEDOP_block). */
  blocked = false;
  constructor(readonly domain: Domain, readonly vcpuId: number, readonly hart: Hart) {}
}

export class Domain {
  state: DomainState = 'paused';
  shutdownReason: ShutdownReason | null = null;
  /** Why the hypervisor crashed the domain, when it did. */
  crashMessage: string | null = null;
  readonly vcpus: Vcpu[] = [];
  /** pfn -> mfn, as published to the guest in start_info.mfn_list. */
  p2m: Uint32Array = new Uint32Array(0);
  sharedInfoMfn = 0;
  startInfoVa = 0;
  /** Bytes the guest wrote with CONSOLEIO_write that have not formed a full line yet. */
  consolePartial = '';

  constructor(
    readonly domid: number,
    readonly name: string,
    readonly maxPages: number,
    readonly privileged: boolean,
  ) {}

  get nrPages(): number {
    return this.p2m.length;
  }

  get isAlive(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }
}

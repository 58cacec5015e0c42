// What the hypervisor core asks of the event-channel layer (evtchnHooks in index.ts is the
// implementation). The core reaches events only through these, so the scheduler, timers
// and domain life cycle do not depend on how ports are kept.

import type { Domain, Vcpu } from '../domain/domain.ts';

export interface EventHooks {
  /** Sends a VIRQ to a vCPU of `domain` (VIRQ_TIMER, VIRQ_DOM_EXC, ...). */
  sendVirq(domain: Domain, virq: number, vcpuId: number): void;
  /** Re-evaluates a vCPU's upcall line (on schedule-in). */
  updateUpcallLine(vcpu: Vcpu): void;
  /** True if `port` is pending for `domain` (SCHEDOP_poll). */
  isPortPending(domain: Domain, port: number): boolean;
  /** Sets up and tears down a domain's event state. */
  initDomain(domain: Domain): void;
  destroyDomain(domain: Domain): void;
}

// vCPU timers (Xen's singleshot_timer and periodic_timer in common/sched/core.c): each
// vCPU has a single-shot deadline (set_timer_op, VCPUOP_set_singleshot_timer) and an
// optional periodic tick (VCPUOP_set_periodic_timer); both send VIRQ_TIMER when they fire.

import type { Domain, Vcpu } from '../domain/domain.ts';
import type { EventQueue } from './event_queue.ts';
import type { PcpuClocks } from '../run/pcpu.ts';
import { TRC, type TraceBuffer } from '../trace/trace.ts';
import { VIRQ } from '../../protocol/xen/event_channel.ts';

export class VcpuTimers {
  constructor(
    private readonly events: EventQueue,
    private readonly clocks: PcpuClocks,
    private readonly trace: TraceBuffer,
    /** Raises a VIRQ in a domain (the event layer's). */
    private readonly sendVirq: (domain: Domain, virq: number, vcpuId: number) => void,
  ) {}

  /** Arms (or, with 0, cancels) the vCPU's single-shot timer; expiry sends VIRQ_TIMER. */
  setSingleshot(vcpu: Vcpu, deadline: number): void {
    this.events.cancel(vcpu.singleshot);
    vcpu.singleshot = null;
    if (deadline === 0) return;
    const when = Math.max(deadline, this.clocks.now());
    vcpu.singleshot = this.events.schedule(when, () => {
      vcpu.singleshot = null;
      this.trace.record(when, vcpu.pcpu, TRC.SCHED_S_TIMER_FN, vcpu.domain.domid, vcpu.vcpuId);
      if (vcpu.domain.isAlive) this.sendVirq(vcpu.domain, VIRQ.TIMER, vcpu.vcpuId);
    });
  }

  /** Arms (period > 0) or stops (0) the vCPU's periodic VIRQ_TIMER. */
  setPeriodic(vcpu: Vcpu, periodNs: number): void {
    this.events.cancel(vcpu.periodic);
    vcpu.periodic = null;
    vcpu.periodNs = periodNs;
    if (periodNs <= 0) return;
    const arm = (when: number) => {
      vcpu.periodic = this.events.schedule(when, () => {
        if (!vcpu.domain.isAlive) return;
        this.sendVirq(vcpu.domain, VIRQ.TIMER, vcpu.vcpuId);
        arm(when + periodNs);
      });
    };
    arm(this.clocks.now() + periodNs);
  }

  /** Stops both timers (the domain shut down or is going away). */
  stop(vcpu: Vcpu): void {
    this.events.cancel(vcpu.singleshot);
    this.events.cancel(vcpu.periodic);
    vcpu.singleshot = vcpu.periodic = null;
  }
}

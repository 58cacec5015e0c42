// The port operations of whichever event ABI a domain uses (Xen's evtchn_port_ops):
// 2-level (two_level.ts) until the domain calls EVTCHNOP_init_control, FIFO (fifo.ts) after.

import { TRC } from '../trace/trace.ts';
import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { ECS, type DomainEvtchn } from './state.ts';
import { clearPending2l, setPending2l, unmask2l } from './two_level.ts';
import { clearPendingFifo, isBusyFifo, isMaskedFifo, isPendingFifo, setPendingFifo, unmaskFifo } from './fifo.ts';

/** Raises `port` of `domain`, notifying vCPU `vcpuId` (Xen's evtchn_port_set_pending). */
export function setPending(hv: HypervisorServices, domain: Domain, vcpuId: number, port: number): void {
  hv.trace(TRC.PVSIM_EVTCHN_SEND, domain.domid, port, vcpuId);
  const e = domain.evtchn;
  if (e === null || e.dying) return;
  if (hv.traceSide && e.portIsValid(port)) {
    // Who is at the other end, so a trace can draw the event from its sender.
    const kind = e.state[port]!;
    const inter = kind === ECS.INTERDOMAIN;
    hv.traceSide(TRC.PVSIM_EVTCHN_FROM, inter ? e.remoteDomid[port]! : -1, inter ? e.remotePort[port]! : -1, kind, kind === ECS.VIRQ ? e.virq[port]! : -1);
    if (inter) hv.traceRingEvent?.(domain.domid, port);
  }
  if (e.fifo) setPendingFifo(hv, domain, vcpuId, port);
  else setPending2l(hv, domain, vcpuId, port);
}

/** Clears the port's pending state (a bound port starts quiet; dom0 took the event). */
export function clearPending(hv: HypervisorServices, domain: Domain, port: number): void {
  const e = domain.evtchn!;
  if (e.fifo) clearPendingFifo(hv, e, port);
  else clearPending2l(domain, port);
}

/** EVTCHNOP_unmask's effect: clear the mask; deliver if pending. */
export function unmask(hv: HypervisorServices, domain: Domain, port: number): void {
  if (domain.evtchn!.fifo) unmaskFifo(hv, domain, port);
  else unmask2l(hv, domain, port);
}

export function portIsPending(e: DomainEvtchn, port: number): boolean {
  return e.fifo ? isPendingFifo(e, port) : e.shared.isPending(port);
}

export function portIsMasked(e: DomainEvtchn, port: number): boolean {
  return e.fifo ? isMaskedFifo(e, port) : e.shared.isMasked(port);
}

/** Xen's evtchn_is_busy(): a FIFO port still on a queue cannot be allocated again; 2-level ports never are. */
export function portIsBusy(e: DomainEvtchn, port: number): boolean {
  return e.fifo !== null && isBusyFifo(e, port);
}

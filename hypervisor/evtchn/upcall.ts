// The upcall line and the wake-ups both event ABIs share (2-level: two_level.ts, FIFO:
// fifo.ts): evtchn_upcall_pending / evtchn_upcall_mask in each vCPU's vcpu_info, SEIP, and
// SCHEDOP_poll's pollers.
//
// The upcall line: SEIP = evtchn_upcall_pending && !evtchn_upcall_mask, re-evaluated after
// every change the hypervisor makes and, through a watcher on the shared_info frame, after
// every guest store to those two bytes.

import { TRC } from '../trace/trace.ts';
import { IRQ_SEI, MIP_SEIP } from '../cpu/csr.ts';
import { PAGE_MASK } from '../cpu/memory.ts';
import type { Domain, Vcpu } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { VCPU_INFO, XEN_LEGACY_MAX_VCPUS } from '../../protocol/xen/shared_info.ts';

/**
 * Sets the vCPU's SEIP line to evtchn_upcall_pending && !evtchn_upcall_mask. Returns true
 * when this call raised the line (so a caller inside the guest's instruction stream can
 * stop the vCPU and let it take the interrupt at once).
 */
export function updateUpcallLine(_hv: HypervisorServices, vcpu: Vcpu): boolean {
  const e = vcpu.domain.evtchn;
  const id = vcpu.vcpuId;
  const on = e !== null && id < XEN_LEGACY_MAX_VCPUS && e.shared.upcallPending(id) !== 0 && e.shared.upcallMask(id) === 0;
  // An HVM vCPU's upcall is an interrupt of its board (PVHVM), not the real hart's SEIP.
  if (vcpu.arch && vcpu.domain.hvm) return vcpu.domain.hvm.setUpcall(id, on);
  const hart = vcpu.hart;
  if (on === ((hart.mipHw & MIP_SEIP) !== 0)) return false;
  hart.setInterruptPending(IRQ_SEI, on);
  if (on) vcpu.domain.perf.interrupts++; // an upcall raised (pvsim compare's interrupts delivered)
  return on;
}

/** Xen's local_events_need_delivery(): an upcall is pending and not masked (SCHEDOP_block's re-check). */
export function localEventsNeedDelivery(vcpu: Vcpu): boolean {
  const e = vcpu.domain.evtchn;
  const id = vcpu.vcpuId;
  return e !== null && id < XEN_LEGACY_MAX_VCPUS && e.shared.upcallPending(id) !== 0 && e.shared.upcallMask(id) === 0;
}

/** Writes evtchn_upcall_mask for the vCPU (Xen's local_event_delivery_enable/disable) and updates the line. */
export function setUpcallMask(hv: HypervisorServices, vcpu: Vcpu, masked: boolean): void {
  const e = vcpu.domain.evtchn;
  if (e === null || vcpu.vcpuId >= XEN_LEGACY_MAX_VCPUS) return;
  e.shared.setUpcallMask(vcpu.vcpuId, masked ? 1 : 0);
  updateUpcallLine(hv, vcpu);
}

/** Xen's vcpu_mark_events_pending(): set upcall_pending and, if it was clear, kick the vCPU. */
export function markEventsPending(hv: HypervisorServices, vcpu: Vcpu): void {
  const sh = vcpu.domain.evtchn!.shared;
  const id = vcpu.vcpuId;
  if (sh.upcallPending(id) !== 0) {
    updateUpcallLine(hv, vcpu);
    return;
  }
  sh.setUpcallPending(id, 1);
  vcpu.stats.events++;
  hv.trace(TRC.PVSIM_EVTCHN_UPCALL, vcpu.domain.domid, id);
  updateUpcallLine(hv, vcpu);
  // vcpu_kick -> vcpu_unblock: a blocked vCPU wakes even with upcalls masked.
  hv.wakeVcpu(vcpu);
}

/**
 * Xen's evtchn_check_pollers(): wake vCPUs in SCHEDOP_poll on this port, or on several
 * ports (any event may be theirs). The poller's own wake-up path clears `vcpu.poll`.
 */
export function checkPollers(hv: HypervisorServices, domain: Domain, port: number): void {
  for (const v of domain.vcpus) {
    const poll = v.poll;
    if (poll === null) continue;
    if (poll.ports.length !== 1 || poll.ports[0] === port) hv.wakeVcpu(v);
  }
}

/**
 * A watcher for the shared_info frame: re-evaluates the upcall line of every vCPU whose
 * evtchn_upcall_pending or evtchn_upcall_mask byte the store touched. Returns true (stop
 * after this instruction) when it raised a line.
 */
export function sharedInfoWatcher(hv: HypervisorServices, domain: Domain): (pa: number, size: number) => boolean {
  const limit = XEN_LEGACY_MAX_VCPUS * VCPU_INFO.SIZE;
  return (pa, size) => {
    const start = pa & PAGE_MASK;
    if (start >= limit) return false;
    const end = Math.min(start + size, limit);
    let raised = false;
    for (let id = Math.floor(start / VCPU_INFO.SIZE); id * VCPU_INFO.SIZE < end; id++) {
      const base = id * VCPU_INFO.SIZE;
      // The two bytes: evtchn_upcall_pending (0) and evtchn_upcall_mask (1).
      if (start >= base + 2 || end <= base) continue;
      const v = domain.vcpus[id];
      if (v !== undefined && updateUpcallLine(hv, v)) raised = true;
    }
    return raised;
  };
}

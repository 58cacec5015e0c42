// The 2-level event ABI (Xen's event_2l.c) on the shared_info page, and the upcall line.
//
// Delivering port p to vCPU v, in this order (each step only if the one before changed a bit):
//   1. set evtchn_pending[p]                      (already set: nothing more, no wake-up)
//   2. if evtchn_mask[p] is clear: set bit p/32 of v's evtchn_pending_sel
//   3. set v's evtchn_upcall_pending; then kick v: raise SEIP if evtchn_upcall_mask is
//      clear, and wake v if it was blocked — whatever the mask, as Xen's vcpu_kick does
//   4. (after step 1, masked or not) wake vCPUs polling for p (SCHEDOP_poll)
// The guest clears upcall_pending, then pending_sel words, then pending bits, in that order.
//
// The upcall line: SEIP = evtchn_upcall_pending && !evtchn_upcall_mask, re-evaluated after
// every change the hypervisor makes and, through a watcher on the shared_info frame, after
// every guest store to those two bytes. A guest store to evtchn_mask delivers nothing: a
// guest that unmasks a port with pending set must call EVTCHNOP_unmask, as in Xen.

import { TRC } from '../trace/trace.ts';
import { IRQ_SEI, MIP_SEIP } from '../cpu/csr.ts';
import { PAGE_MASK } from '../cpu/memory.ts';
import type { Domain, Vcpu } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { BITS_PER_EVTCHN_WORD, VCPU_INFO, XEN_LEGACY_MAX_VCPUS } from '../../protocol/xen/shared_info.ts';

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
function markEventsPending(hv: HypervisorServices, vcpu: Vcpu): void {
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

/** Sets the word's bit in the vCPU's pending_sel; if newly set, marks events pending. */
function raiseSelector(hv: HypervisorServices, vcpu: Vcpu | undefined, word: number): void {
  if (vcpu === undefined || vcpu.vcpuId >= XEN_LEGACY_MAX_VCPUS) return; // no vcpu_info to signal
  const sh = vcpu.domain.evtchn!.shared;
  const sel = sh.pendingSel(vcpu.vcpuId);
  const bit = (1 << word) >>> 0;
  if ((sel & bit) !== 0) return;
  sh.setPendingSel(vcpu.vcpuId, sel | bit);
  markEventsPending(hv, vcpu);
}

/** Xen's evtchn_2l_set_pending() for `port` of `domain`, notifying vCPU `vcpuId`. */
export function setPending(hv: HypervisorServices, domain: Domain, vcpuId: number, port: number): void {
  hv.trace(TRC.PVSIM_EVTCHN_SEND, domain.domid, port, vcpuId);
  const e = domain.evtchn;
  if (e === null || e.dying) return;
  const sh = e.shared;
  const word = port >>> 5;
  const bit = (1 << (port & (BITS_PER_EVTCHN_WORD - 1))) >>> 0;
  const pending = sh.pendingWord(word);
  if ((pending & bit) !== 0) return;
  sh.setPendingWord(word, pending | bit);
  e.stats.setPending++;
  // A control domain served from outside (dom0's process): hand the port over. An HVM
  // board takes its console port and returns false for the guest's own ports.
  if (domain.onEvent && domain.onEvent(port) !== false) return;
  if ((sh.maskWord(word) & bit) === 0) raiseSelector(hv, domain.vcpus[vcpuId], word);
  checkPollers(hv, domain, port);
}

/** Xen's evtchn_2l_clear_pending(). */
export function clearPending(domain: Domain, port: number): void {
  const sh = domain.evtchn!.shared;
  const word = port >>> 5;
  sh.setPendingWord(word, sh.pendingWord(word) & ~(1 << (port & 31)));
}

/** Xen's evtchn_2l_unmask(): clear the mask bit; if it was set and the port is pending, deliver. */
export function unmask(hv: HypervisorServices, domain: Domain, port: number): void {
  const e = domain.evtchn!;
  const sh = e.shared;
  const word = port >>> 5;
  const bit = (1 << (port & 31)) >>> 0;
  const mask = sh.maskWord(word);
  if ((mask & bit) === 0) return;
  sh.setMaskWord(word, mask & ~bit);
  if ((sh.pendingWord(word) & bit) === 0) return;
  raiseSelector(hv, domain.vcpus[e.notifyVcpu[port]!], word);
}

/**
 * Xen's evtchn_check_pollers(): wake vCPUs in SCHEDOP_poll on this port, or on several
 * ports (any event may be theirs). The poller's own wake-up path clears `vcpu.poll`.
 */
function checkPollers(hv: HypervisorServices, domain: Domain, port: number): void {
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

// The 2-level event ABI (Xen's event_2l.c) on the shared_info page.
//
// Delivering port p to vCPU v, in this order (each step only if the one before changed a bit):
//   1. set evtchn_pending[p]                      (already set: nothing more, no wake-up)
//   2. if evtchn_mask[p] is clear: set bit p/32 of v's evtchn_pending_sel
//   3. set v's evtchn_upcall_pending; then kick v: raise SEIP if evtchn_upcall_mask is
//      clear, and wake v if it was blocked — whatever the mask, as Xen's vcpu_kick does
//   4. (after step 1, masked or not) wake vCPUs polling for p (SCHEDOP_poll)
// The guest clears upcall_pending, then pending_sel words, then pending bits, in that order.
// A guest store to evtchn_mask delivers nothing: a guest that unmasks a port with pending
// set must call EVTCHNOP_unmask, as in Xen.

import type { Domain, Vcpu } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { BITS_PER_EVTCHN_WORD, XEN_LEGACY_MAX_VCPUS } from '../../protocol/xen/shared_info.ts';
import { checkPollers, markEventsPending } from './upcall.ts';

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
export function setPending2l(hv: HypervisorServices, domain: Domain, vcpuId: number, port: number): void {
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
export function clearPending2l(domain: Domain, port: number): void {
  const sh = domain.evtchn!.shared;
  const word = port >>> 5;
  sh.setPendingWord(word, sh.pendingWord(word) & ~(1 << (port & 31)));
}

/** Xen's evtchn_2l_unmask(): clear the mask bit; if it was set and the port is pending, deliver. */
export function unmask2l(hv: HypervisorServices, domain: Domain, port: number): void {
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


// Fault injection on a device's event channel (issue 16 item 4), at EVTCHNOP_send: the one
// point every notification passes, whether dom0 runs in the hypervisor's process or as its
// own (its sends arrive through the control service's evtchnSend). Decisions are counted
// sends and a seeded PRNG, taken in virtual time: the same scenario gives the same trace
// in both homes.
//
// The device's channel is the domain's interdomain channel with dom0 that is neither the
// xenstore nor the console port (a domain with one ring device: pvsim's blkfront or netfront).

import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { setPending } from './port.ts';
import { ECS } from './state.ts';
import type { EvtchnFaultPlan } from './fault_plan.ts';

export { newFaultPlan, type EvtchnFault, type EvtchnFaultDir, type EvtchnFaultKind, type EvtchnFaultPlan, type EvtchnFaultStats, type EvtchnFaultWhen } from './fault_plan.ts';

/** The guest-side port is its device channel: interdomain with dom0, not xenstore's nor the console's. */
export function isDevicePort(guest: Domain, port: number): boolean {
  const e = guest.evtchn;
  return !!e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN && e.remoteDomid[port] === 0 && port !== guest.storeEvtchn && port !== guest.consoleEvtchn;
}

/** Sets the port pending if it is still bound where it was (a delayed event after a close is gone). */
function raise(hv: HypervisorServices, d: Domain, port: number): void {
  const e = d.evtchn;
  if (e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN) setPending(hv, d, e.notifyVcpu[port]!, port);
}

function matches(plan: EvtchnFaultPlan, k: number, now: number): boolean {
  const f = plan.faults[k]!;
  const w = f.when;
  if ('every' in w) return plan.seen[k]! % w.every === 0;
  if ('prob' in w) return plan.random() < w.prob;
  if (f.kind === 'stall') return now >= w.at && now < w.at + f.windowNs;
  if (plan.fired[k] || now < w.at) return false;
  plan.fired[k] = true;
  return true;
}

/**
 * A send on a faulted device channel from `ld`:`lport` to `rd`:`rport`; `toBackend` says
 * which way. Delivers (or not) what the plan says, in place of setPending.
 */
export function faultedSend(hv: HypervisorServices, plan: EvtchnFaultPlan, ld: Domain, lport: number, rd: Domain, rport: number, toBackend: boolean): void {
  const now = hv.now();
  plan.stats.sends++;
  let lose = false;
  let delay = 0;
  let dup = false;
  let spurious = false;
  let stall = false;
  plan.faults.forEach((f, k) => {
    if (f.dir !== 'both' && (f.dir === 'to-backend') !== toBackend) return;
    if (f.kind === 'stall' && !toBackend) return;
    plan.seen[k]!++;
    if (f.kind === 'spurious' && 'at' in f.when) return; // scheduled, not tied to a send
    if (!matches(plan, k, now)) return;
    if (f.kind === 'lose-notify') lose = true;
    else if (f.kind === 'delay-notify') delay = Math.max(delay, f.delayNs);
    else if (f.kind === 'dup-notify') dup = true;
    else if (f.kind === 'spurious') spurious = true;
    else {
      stall = true;
      const end = (f.when as { at: number }).at + f.windowNs;
      if (!plan.held) plan.schedule(end, () => {
        plan.held = false;
        raise(hv, rd, rport);
      });
    }
  });
  // An event nobody sent, on the sender's own port: it wakes the side that notified.
  if (spurious) {
    plan.stats.spurious++;
    raise(hv, ld, lport);
  }
  if (stall) {
    plan.stats.stalled++;
    plan.held = true;
    return;
  }
  if (lose) {
    plan.stats.lost++;
    return;
  }
  if (delay > 0) {
    plan.stats.delayed++;
    plan.schedule(now + delay, () => raise(hv, rd, rport));
  } else raise(hv, rd, rport);
  // A second delivery once the first could have been taken (an event channel's pending bit
  // would merge two at once): 10 µs later.
  if (dup) {
    plan.stats.duplicated++;
    plan.schedule(now + delay + 10_000, () => raise(hv, rd, rport));
  }
}

/** A spurious event on both ends of the guest's device channel, at a scheduled time. */
export function spuriousNow(hv: HypervisorServices, plan: EvtchnFaultPlan, guest: Domain): void {
  const e = guest.evtchn;
  if (!e) return;
  for (let p = 1; e.portIsValid(p); p++) {
    if (!isDevicePort(guest, p)) continue;
    plan.stats.spurious++;
    raise(hv, guest, p);
    const rd = hv.domain(0);
    if (rd) raise(hv, rd, e.remotePort[p]!);
  }
}

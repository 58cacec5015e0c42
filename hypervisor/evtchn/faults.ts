// Fault injection on a device's event channel (issue 16 item 4), at EVTCHNOP_send: the one
// point every notification passes, whether dom0 runs in the hypervisor's process or as its
// own (its sends arrive through the control service's evtchnSend). Decisions are counted
// sends and a seeded PRNG, taken in virtual time: the same scenario gives the same trace
// in both homes.
//
// A device's channel is an interdomain channel of the guest with dom0 that is neither the
// xenstore nor the console port; which device it is comes from the frontend's own XenStore
// write of `device/<type>/<devid>/event-channel`, read off the guest's xenstore ring as it
// notifies xenstored (sniffStore: guest memory, the same in both homes). A domain with one
// PV device needs no such write to be matched.

import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { setPending } from './port.ts';
import { ECS } from './state.ts';
import { RING_FAULT_KINDS, type EvtchnFaultPlan } from './fault_plan.ts';

export { CRASH_POINTS, faultCounts, newFaultPlan, REQ_FAULT_KINDS, RING_FAULT_KINDS, type CrashPoint, type EvtchnFault, type EvtchnFaultDir, type EvtchnFaultKind, type EvtchnFaultPlan, type EvtchnFaultStats, type EvtchnFaultWhen, type RingFaultKind } from './fault_plan.ts';

/** The guest-side port is a device channel: interdomain with dom0, not xenstore's nor the console's. */
export function isDevicePort(guest: Domain, port: number): boolean {
  const e = guest.evtchn;
  return !!e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN && e.remoteDomid[port] === 0 && port !== guest.storeEvtchn && port !== guest.consoleEvtchn;
}

/** The device a guest port serves ('vbd/51712'), or null when not known. */
export function portDevice(plan: EvtchnFaultPlan, port: number): string | null {
  return plan.portDevice.get(port) ?? (plan.devices.length === 1 ? plan.devices[0]! : null);
}

/** Sets the port pending if it is still bound where it was (a delayed event after a close is gone). */
function raise(hv: HypervisorServices, d: Domain, port: number): void {
  const e = d.evtchn;
  if (e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN) setPending(hv, d, e.notifyVcpu[port]!, port);
}

/** Whether fault `k` bites now (its `seen` already counts this occasion). */
export function faultMatches(plan: EvtchnFaultPlan, k: number, now: number): boolean {
  const f = plan.faults[k]!;
  const w = f.when;
  if ('every' in w) return plan.seen[k]! % w.every === 0;
  if ('prob' in w) return plan.random() < w.prob;
  if (f.kind === 'stall') return now >= w.at && now < w.at + f.windowNs;
  if (plan.fired[k] || now < w.at) return false;
  plan.fired[k] = true;
  return true;
}

/** The longest a reorder-notify holds a notification when no later one comes. */
export const REORDER_DEFAULT_NS = 1_000_000;

/**
 * A send on a faulted device channel from `ld`:`lport` to `rd`:`rport`; `toBackend` says
 * which way. Delivers (or not) what the plan says, in place of setPending.
 */
export function faultedSend(hv: HypervisorServices, plan: EvtchnFaultPlan, ld: Domain, lport: number, rd: Domain, rport: number, toBackend: boolean): void {
  const now = hv.now();
  const device = portDevice(plan, toBackend ? lport : rport);
  plan.stats.sends++;
  // A crashed backend hears nothing and sends nothing until dom0 has restarted it.
  if (device !== null && plan.crashed.has(device)) return;
  let lose = false;
  let delay = 0;
  let dup = false;
  let spurious = false;
  let stall = false;
  let reorder = -1;
  plan.faults.forEach((f, k) => {
    if (f.device !== device || (RING_FAULT_KINDS as readonly string[]).includes(f.kind)) return;
    if (f.dir !== 'both' && (f.dir === 'to-backend') !== toBackend) return;
    if (f.kind === 'stall' && !toBackend) return;
    plan.seen[k]!++;
    if (f.kind === 'spurious' && 'at' in f.when) return; // scheduled, not tied to a send
    if (!faultMatches(plan, k, now)) return;
    if (f.kind !== 'stall') plan.injected[k]!++;
    if (f.kind === 'lose-notify') lose = true;
    else if (f.kind === 'delay-notify') delay = Math.max(delay, f.delayNs);
    else if (f.kind === 'dup-notify') dup = true;
    else if (f.kind === 'spurious') spurious = true;
    else if (f.kind === 'reorder-notify') reorder = reorder < 0 ? k : reorder;
    else {
      stall = true;
      if (!plan.held) plan.injected[k]!++; // one per window's held kick
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
  // The backend's notifications wait for a late publish of its responses (ring_faults.ts):
  // the event may not arrive before the rsp_prod it announces is visible.
  // Likewise the frontend's to its backend wait for a late req_prod (req-publish-late): its
  // mb() orders the req_prod store before the notify.
  const hold = device === null ? 0 : ((toBackend ? plan.reqHold : plan.publishHold).get(device) ?? 0);
  if (hold > now + delay) delay = hold - now;
  const deliver = () => raise(hv, rd, rport);
  if (reorder >= 0) {
    // Held until `after` later notifications of the domain's devices have been delivered
    // (any port, either way), or the deadline: delivered out of order with them.
    plan.stats.reordered++;
    const f = plan.faults[reorder]!;
    const held = { deliver, left: f.after, done: false };
    plan.reorder.push(held);
    plan.schedule(now + (f.delayNs || REORDER_DEFAULT_NS), () => releaseHeld(plan, held));
  } else if (delay > 0) {
    plan.stats.delayed++;
    plan.schedule(now + delay, deliver);
  } else {
    deliver();
    // Delivered now: the notifications held back for a later one go after it.
    passHeld(plan);
  }
  // A second delivery once the first could have been taken (an event channel's pending bit
  // would merge two at once): 10 µs later.
  if (dup) {
    plan.stats.duplicated++;
    plan.schedule(now + delay + 10_000, deliver);
  }
}

function releaseHeld(plan: EvtchnFaultPlan, held: EvtchnFaultPlan['reorder'][number]): void {
  if (held.done) return;
  held.done = true;
  plan.reorder.splice(plan.reorder.indexOf(held), 1);
  held.deliver();
}

/** One notification went through: each held one waits for one fewer. */
function passHeld(plan: EvtchnFaultPlan): void {
  if (plan.reorder.length === 0) return;
  for (const h of [...plan.reorder]) if (--h.left <= 0) releaseHeld(plan, h);
}

/** A spurious event on both ends of the guest's device channel, at a scheduled time. */
export function spuriousNow(hv: HypervisorServices, plan: EvtchnFaultPlan, guest: Domain, device: string, k: number): void {
  const e = guest.evtchn;
  if (!e) return;
  for (let p = 1; e.portIsValid(p); p++) {
    if (!isDevicePort(guest, p) || portDevice(plan, p) !== device) continue;
    plan.stats.spurious++;
    plan.injected[k]!++;
    raise(hv, guest, p);
    const rd = hv.domain(0);
    if (rd) raise(hv, rd, e.remotePort[p]!);
  }
}

// --- Which port and ring pages are whose: the frontend's XenStore writes ------------------

/** struct xenstore_domain_interface: req[1024], rsp[1024], req_cons, req_prod, ... */
const XS_RING = 1024;
const XS_REQ_PROD = 2052;
const XS_HEADER = 16;
const XS_WRITE = 11;
/** Larger messages are not device keys: skipped, never buffered. */
const XS_SNIFF_MAX = 512;
/** XENSTORE_PAYLOAD_MAX: a longer one is no message xenstored takes (the sniffer resynchronises). */
const XS_PAYLOAD_MAX = 4096;
const DEVICE_KEY = /(?:^|\/)device\/(vbd|vif)\/(\d+)\/(event-channel|ring-ref|tx-ring-ref|rx-ring-ref)$/;

/**
 * The guest notified xenstored: reads the requests it queued since the last look (its own
 * ring page, in guest memory) and learns its devices' ports and ring grants from the
 * XS_WRITEs of `device/<type>/<devid>/{event-channel,ring-ref,tx-ring-ref,rx-ring-ref}`.
 * Only reads; a ring it cannot follow (more than a ring ahead) is resynchronised.
 */
export function sniffStore(hv: HypervisorServices, plan: EvtchnFaultPlan, guest: Domain): void {
  const page = guest.storeMfn ? hv.mem.frames[guest.storeMfn] : undefined;
  if (!page || page.length < XS_REQ_PROD + 4) return;
  const prod = new DataView(page.buffer, page.byteOffset).getUint32(XS_REQ_PROD, true);
  const x = plan.xs;
  const n = (prod - x.seen) >>> 0;
  if (n > XS_RING) {
    x.seen = prod;
    x.buf = [];
    x.skip = 0;
    return;
  }
  for (let i = 0; i < n; i++) {
    if (x.skip > 0) x.skip--;
    else x.buf.push(page[(x.seen + i) % XS_RING]!);
  }
  x.seen = prod;
  while (x.buf.length >= XS_HEADER) {
    const u32 = (o: number) => (x.buf[o]! | (x.buf[o + 1]! << 8) | (x.buf[o + 2]! << 16) | (x.buf[o + 3]! << 24)) >>> 0;
    const type = u32(0);
    const len = u32(12);
    if (len > XS_SNIFF_MAX) {
      // Not a device key: dropped as it streams by, whole (its body must not be read as the
      // next header: a long write before the device keys would hide them).
      const whole = XS_HEADER + len;
      if (len <= XS_PAYLOAD_MAX && x.buf.length >= whole) {
        x.buf = x.buf.slice(whole);
        continue;
      }
      x.skip = len <= XS_PAYLOAD_MAX ? whole - x.buf.length : 0;
      x.buf = [];
      return;
    }
    if (x.buf.length < XS_HEADER + len) return;
    const body = x.buf.slice(XS_HEADER, XS_HEADER + len);
    x.buf = x.buf.slice(XS_HEADER + len);
    if (type !== XS_WRITE) continue;
    const nul = body.indexOf(0);
    if (nul < 0) continue;
    const path = String.fromCharCode(...body.slice(0, nul));
    const m = DEVICE_KEY.exec(path);
    if (!m) continue;
    const value = Number(String.fromCharCode(...body.slice(nul + 1)));
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) continue;
    const device = `${m[1]}/${m[2]}`;
    // Only the domain's configured devices: a guest cannot grow these maps with made-up ones.
    if (!plan.devices.includes(device)) continue;
    if (m[3] === 'event-channel') {
      for (const [p, d] of plan.portDevice) if (d === device) plan.portDevice.delete(p);
      plan.portDevice.set(value, device);
    } else {
      let refs = plan.ringRefs.get(device);
      if (!refs) plan.ringRefs.set(device, (refs = new Map()));
      refs.set(m[3]!, value);
    }
  }
}

// Faults on a device's shared ring pages in a live run (issue 16 item 4): the order in which
// the backend's stores become visible to the frontend, and a frontend's grant revoked while
// its request is in flight.
//
// Where the hook sits: around each dom0 dispatch that serves a faulted device's port
// (hypervisor/control/service.ts). A dispatch stops the machine, and whatever home dom0 has,
// its stores to the guest's ring have reached the frame when the dispatch ends (in-process
// the page is the frame; as a process they come back with the dispatch's answer, applied
// before it resolves). So the frame at the dispatch's start and end is the same in both homes,
// and what is done here is guest memory written by the hypervisor (noted as stores, so a
// dom0 with mirrored pages sees them with its next dispatch, as in-process dom0 sees the
// frame): one trace hash in both homes.
//
// io/ring.h's backend publishes as: write response bodies; wmb(); rsp_prod = pvt; mb();
// read rsp_event; notify. The hypervisor sees the dispatch's result whole and rewinds part
// of it to show the guest an intermediate state for `by` of virtual time:
//
//   publish-late   (allowed) the push step as if it ran `by` later: the new responses'
//                  bodies appear one by one in a seeded order within by/2 (wmb orders them
//                  before rsp_prod, not among themselves), then rsp_prod at `by`, then the
//                  notification (dom0's own waits for it; if dom0 sent none, the push's
//                  notify check is made again against rsp_event as it stands then).
//   publish-early  (forbidden: a missing wmb) rsp_prod is visible at once, the bodies `by`
//                  later: the frontend reads the slots' old bytes (the requests) as answers.
//   req-publish-late, req-publish-early: the request direction (the frontend's publish as
//                  dom0 is shown it during its dispatches; reqView below).
//   revoke-grant   at the start of a dispatch, a request the backend is about to take has
//                  its first grant ended (the frontend's gnttab_end_foreign_access while the
//                  request is in flight): the backend's copy or map fails.
//
// The ring pages are found from the frontend's XenStore writes (faults.ts, sniffStore): the
// grant reference under ring-ref (vbd) or tx-ring-ref / rx-ring-ref (vif), resolved through
// the guest's own grant table to a frame the guest owns.

import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { GTF } from '../../protocol/xen/grant_table.ts';
import { isPageTable } from '../mm/frame_table.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { SRING, needsNotify, ringSize } from '../../protocol/ring.ts';
import { setPending } from './port.ts';
import { ECS } from './state.ts';
import { faultMatches, isDevicePort, portDevice } from './faults.ts';
import { REQ_FAULT_KINDS, RING_FAULT_KINDS, type EvtchnFaultPlan, type FaultRing } from './fault_plan.ts';

/** Each device type's rings: the key its grant is under and the slot size (union of request and response). */
const RINGS: Record<string, readonly { key: string; entryBytes: number; requests: boolean; rspFields: readonly (readonly [number, number])[] }[]> = {
  // blkif_request is 112 bytes (a blkif_response fits in it: id 0-7, operation 8, status 10-11).
  vbd: [{ key: 'ring-ref', entryBytes: 112, requests: true, rspFields: [[0, 9], [10, 12]] }],
  // netif_tx_request 12 (netif_tx_response: id, status), netif_rx_request/response 8.
  vif: [
    { key: 'tx-ring-ref', entryBytes: 12, requests: true, rspFields: [[0, 4]] },
    { key: 'rx-ring-ref', entryBytes: 8, requests: false, rspFields: [[0, 8]] },
  ],
};

const isRingKind = (k: string) => (RING_FAULT_KINDS as readonly string[]).includes(k);
const atPublish = (k: string) => k === 'publish-late' || k === 'publish-early' || k === 'crash-backend';
const isReqKind = (k: string) => (REQ_FAULT_KINDS as readonly string[]).includes(k);
/** Faults that look at the device's rings in every dom0 dispatch, not only its own port's. */
const everyDispatch = (k: string) => atPublish(k) || isReqKind(k);
const ringName = (key: string) => (key === 'tx-ring-ref' ? 'tx' : key === 'rx-ring-ref' ? 'rx' : null);

function u32(page: Uint8Array, off: number): number {
  return new DataView(page.buffer, page.byteOffset).getUint32(off, true);
}

/**
 * The hypervisor's store to a guest's ring frame: noted as a store, so a mirroring dom0 gets
 * it too. Only while the frame is still the live guest's and not a page table in use (a
 * guest could grant one as its ring; a raw store would bypass PV page-table validation, as
 * dom0's own page updates may not either: control/service.ts applyPageUpdates).
 */
function store(hv: HypervisorServices, guest: Domain, mfn: number, off: number, data: Uint8Array): void {
  const f = hv.mem.frames[mfn];
  if (!f || off + data.length > PAGE_SIZE || !guest.isAlive || hv.domain(guest.domid) !== guest || hv.frames.ownerOf(mfn) !== guest.domid) return;
  if (hv.frames.typeCount(mfn) > 0 && isPageTable(hv.frames.typeOf(mfn))) return;
  f.set(data, off);
  hv.mem.noteStore(mfn * PAGE_SIZE + off, data.length);
}

function storeU32(hv: HypervisorServices, guest: Domain, mfn: number, off: number, v: number): void {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  store(hv, guest, mfn, off, b);
}

/** The device's ring pages, from its grant references (a new grant: a new ring, counted afresh). */
function findRings(hv: HypervisorServices, plan: EvtchnFaultPlan, guest: Domain, device: string): FaultRing[] {
  const type = device.split('/')[0]!;
  const refs = plan.ringRefs.get(device);
  const known = plan.rings.get(device) ?? [];
  const out: FaultRing[] = [];
  for (const spec of RINGS[type] ?? []) {
    const ref = refs?.get(spec.key);
    if (ref === undefined || !guest.gnttab) continue;
    const frame = guest.gnttab.readEntry(hv, ref).frame;
    const mfn = guest.hvm ? guest.hvm.gfnToMfn(frame) : frame;
    if (mfn < 0 || hv.frames.ownerOf(mfn) !== guest.domid || !hv.mem.frames[mfn]) continue;
    let r = known.find((k) => k.key === spec.key && k.mfn === mfn);
    // First seen: the requests from the last published response on are in flight.
    const rsp = u32(hv.mem.frames[mfn]!, SRING.rsp_prod);
    r ??= { key: spec.key, mfn, entryBytes: spec.entryBytes, reqSeen: rsp, busyUntil: 0, before: null, finish: null, reqShown: rsp, reqHide: null, reqStale: [], lastSeen: null, view: [] };
    out.push(r);
  }
  plan.rings.set(device, out);
  return out;
}

/**
 * Domains with publish or crash faults, per hypervisor: a backend publishes to a frontend in
 * dispatches of other ports too (netback's rx: a frame from the peer's tx), so every
 * dispatch looks at their rings, not only the served device's.
 */
const publishFaulted = new WeakMap<object, Set<Domain>>();

/** Called when a domain's fault plan is armed (sim/scenario/runner.ts). */
export function registerRingFaults(hv: HypervisorServices, guest: Domain): void {
  if (!guest.evtchnFaults?.faults.some((f) => everyDispatch(f.kind))) return;
  let set = publishFaulted.get(hv);
  if (!set) publishFaulted.set(hv, (set = new Set()));
  set.add(guest);
}

/** The guest port of `device` (learnt from its XenStore write; with one device, its one device channel). */
function devicePort(plan: EvtchnFaultPlan, guest: Domain, device: string): number {
  for (const [p, d] of plan.portDevice) if (d === device) return p;
  const e = guest.evtchn;
  if (plan.devices.length === 1 && e) for (let p = 1; e.portIsValid(p); p++) if (isDevicePort(guest, p)) return p;
  return 0;
}

interface Target { guest: Domain; plan: EvtchnFaultPlan; device: string; gport: number; rings: FaultRing[] }

/**
 * A dom0 dispatch of `port` is about to run: the rings of the devices with ring faults are
 * noted as they are — the served device's (whose requests about to be taken may lose a
 * grant) and every device with publish or crash faults; the function returned is called
 * when the dispatch's stores have all landed.
 */
export function ringFaultsAround(hv: HypervisorServices, dom0: Domain, port: number): (() => void) | null {
  const targets: Target[] = [];
  const e = dom0.evtchn;
  let served: Target | null = null;
  if (e && e.portIsValid(port) && e.state[port] === ECS.INTERDOMAIN) {
    const guest = hv.domain(e.remoteDomid[port]!);
    const plan = guest?.evtchnFaults;
    const gport = e.remotePort[port]!;
    const device = plan ? portDevice(plan, gport) : null;
    if (guest && plan && device !== null && plan.faults.some((f) => f.device === device && isRingKind(f.kind))) {
      served = { guest, plan, device, gport, rings: findRings(hv, plan, guest, device) };
      targets.push(served);
    }
  }
  const set = publishFaulted.get(hv);
  if (set) {
    for (const guest of [...set]) {
      if (!guest.isAlive || hv.domain(guest.domid) !== guest) {
        set.delete(guest);
        continue;
      }
      const plan = guest.evtchnFaults!;
      for (const device of plan.devices) {
        if (served && served.guest === guest && served.device === device) continue;
        if (!plan.faults.some((f) => f.device === device && everyDispatch(f.kind))) continue;
        targets.push({ guest, plan, device, gport: devicePort(plan, guest, device), rings: findRings(hv, plan, guest, device) });
      }
    }
  }
  if (!targets.some((t) => t.rings.length > 0)) return null;
  for (const t of targets) for (const r of t.rings) r.before = hv.mem.frames[r.mfn]!.slice();
  const revoked: Revoked = [];
  if (served) revokeInFlight(hv, served.plan, served.guest, served.device, served.rings, revoked);
  // The request direction: what dom0 is shown of the frontend's publish (its own bytes
  // given back when the dispatch is over).
  for (const t of targets) for (const r of t.rings) reqView(hv, t, r, t === served);
  return () => {
    for (const t of targets) {
      for (const r of t.rings) {
        restoreView(hv, t.guest, r);
        if (t.plan.faults.some((f) => f.device === t.device && f.kind === 'req-publish-early')) r.lastSeen = hv.mem.frames[r.mfn]!.slice();
        // A hide for one dispatch is over: the requests are visible from now on.
        if (r.reqHide && r.reqHide.until === 0) r.reqHide.release();
      }
    }
    // The frontend grants the page again after the request (pvsim's blkfront keeps its
    // grants: without this one revoke would fail every later request on that page).
    const g0 = served?.guest;
    for (const g of revoked) if (g0 && (g0.gnttab?.readEntry(hv, g.ref).flags ?? -1) === (g.flags & ~GTF.type_mask)) g0.gnttab!.updateFlags(hv, g.ref, g.flags, 0);
    for (const t of targets) {
      for (const r of t.rings) {
        publishFaults(hv, t.plan, t.guest, t.gport, t.device, r);
        r.before = null;
      }
    }
  };
}

// --- revoke-grant ------------------------------------------------------------------------

/** The first grant a request names: blkif's first segment (or first indirect page), netif tx's gref. */
function requestGref(device: string, slot: Uint8Array): number | null {
  const dv = new DataView(slot.buffer, slot.byteOffset, slot.length);
  if (device.startsWith('vif/')) return dv.getUint32(0, true);
  const op = dv.getUint8(0);
  if (op === 6) return dv.getUint32(28, true); // BLKIF_OP_INDIRECT: indirect_grefs[0]
  if (op === 0 || op === 1) return dv.getUint8(1) >= 1 ? dv.getUint32(24, true) : null; // READ, WRITE: seg[0].gref
  return null;
}

/** Grants ended for a dispatch, with their flags: given back once it is over. */
type Revoked = { ref: number; flags: number }[];

function revokeInFlight(hv: HypervisorServices, plan: EvtchnFaultPlan, guest: Domain, device: string, rings: FaultRing[], revoked: Revoked): void {
  const ks = plan.faults.map((f, k) => (f.device === device && f.kind === 'revoke-grant' ? k : -1)).filter((k) => k >= 0);
  const r = rings.find((x) => RINGS[device.split('/')[0]!]!.find((s) => s.key === x.key)!.requests);
  if (!r || !r.before) return;
  const size = ringSize(PAGE_SIZE, r.entryBytes);
  const prod = u32(r.before, SRING.req_prod);
  const n = (prod - r.reqSeen) >>> 0;
  const from = r.reqSeen;
  r.reqSeen = prod;
  if (ks.length === 0 || n > size) return; // more than a ring ahead: a hostile index, not requests
  const now = hv.now();
  for (let i = 0; i < n; i++) {
    const off = SRING.ring + (((from + i) >>> 0) % size) * r.entryBytes;
    for (const k of ks) {
      plan.seen[k]!++;
      if (!faultMatches(plan, k, now)) continue;
      const ref = requestGref(device, r.before.subarray(off, off + r.entryBytes));
      if (ref === null || !guest.gnttab || ref >= guest.gnttab.nrEntries) continue;
      const flags = guest.gnttab.readEntry(hv, ref).flags;
      // Ended as the frontend would end it: only a grant in use by nobody (Xen refuses otherwise).
      if ((flags & GTF.type_mask) !== GTF.permit_access || flags & (GTF.reading | GTF.writing)) continue;
      guest.gnttab.updateFlags(hv, ref, 0, GTF.type_mask);
      plan.injected[k]!++;
      revoked.push({ ref, flags });
      break;
    }
  }
}

// --- publish-late, publish-early ---------------------------------------------------------

function publishFaults(hv: HypervisorServices, plan: EvtchnFaultPlan, guest: Domain, gport: number, device: string, r: FaultRing): void {
  const page = hv.mem.frames[r.mfn];
  if (!page || !r.before) return;
  const size = ringSize(PAGE_SIZE, r.entryBytes);
  const old = u32(r.before, SRING.rsp_prod);
  const cur = u32(page, SRING.rsp_prod);
  const n = (cur - old) >>> 0;
  if (n === 0 || n > size) return;
  // A crashed backend not yet restarted publishes nothing the frontend can see (netback's rx
  // goes on in its peer's dispatches until dom0 tears the instance down).
  if (plan.crashed.has(device)) {
    storeU32(hv, guest, r.mfn, SRING.rsp_prod, old);
    return;
  }
  // dom0 published past a late publish still held: it is over (its bodies shown now).
  r.finish?.();
  const now = hv.now();
  if (r.busyUntil > now) return;
  // One fault acts at a publish: a crash before the others, then in the order listed. Each
  // sees the occasion; once one acts the rest are not asked (a one-shot `at` stays armed).
  let k = -1;
  const order = plan.faults.map((f, i) => i).filter((i) => plan.faults[i]!.device === device && atPublish(plan.faults[i]!.kind));
  order.sort((a, b) => Number(plan.faults[b]!.kind === 'crash-backend') - Number(plan.faults[a]!.kind === 'crash-backend') || a - b);
  for (const i of order) {
    const on = plan.faults[i]!.ring;
    if (on !== null && on !== ringName(r.key)) continue;
    plan.seen[i]!++;
    if (k < 0 && faultMatches(plan, i, now)) k = i;
  }
  if (k < 0) return;
  const f = plan.faults[k]!;
  plan.injected[k]!++;
  // The new responses' slots: what the backend wrote, and what was there before (the requests).
  const slots: { off: number; body: Uint8Array; stale: Uint8Array }[] = [];
  for (let i = 0; i < n; i++) {
    const off = SRING.ring + (((old + i) >>> 0) % size) * r.entryBytes;
    const body = page.slice(off, off + r.entryBytes);
    const stale = r.before.slice(off, off + r.entryBytes);
    if (body.some((b, j) => b !== stale[j])) slots.push({ off, body, stale });
  }
  const show = (s: (typeof slots)[number]) => {
    const now = page.subarray(s.off, s.off + r.entryBytes);
    if (now.every((b, j) => b === s.stale[j])) store(hv, guest, r.mfn, s.off, s.body);
  };
  if (f.kind === 'crash-backend') {
    // The backend stops at the named point: what it did after that point is undone, its
    // notifications go nowhere, and dom0 tears the device's backend down and finds it again
    // (the frontend sees Closed and reconnects, re-issuing what was not answered).
    if (f.point === 'request-consumed') for (const s of slots) store(hv, guest, r.mfn, s.off, s.stale);
    if (f.point !== 'response-published') {
      storeU32(hv, guest, r.mfn, SRING.rsp_prod, old);
      storeU32(hv, guest, r.mfn, SRING.req_event, u32(r.before, SRING.req_event));
    }
    plan.crashed.add(device);
    plan.restart?.(device, () => plan.crashed.delete(device));
    return;
  }
  for (const s of slots) store(hv, guest, r.mfn, s.off, s.stale);
  r.busyUntil = now + f.delayNs;
  if (f.kind === 'publish-early') {
    // rsp_prod stays published: the frontend may read the slots before their bodies arrive.
    plan.schedule(now + f.delayNs, () => slots.forEach(show));
    return;
  }
  storeU32(hv, guest, r.mfn, SRING.rsp_prod, old);
  // Each body at its own time within the first half, in a seeded order; all before rsp_prod.
  const half = Math.max(1, Math.floor(f.delayNs / 2));
  for (const s of slots) plan.schedule(now + 1 + Math.floor(plan.random() * half), () => show(s));
  plan.publishHold.set(device, Math.max(plan.publishHold.get(device) ?? 0, now + f.delayNs));
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    r.finish = null;
    r.busyUntil = 0;
    slots.forEach(show);
    if (u32(page, SRING.rsp_prod) !== old) return; // dom0 has published since: its value stands
    storeU32(hv, guest, r.mfn, SRING.rsp_prod, cur);
    // The push's notify check, made now: the frontend may have gone to sleep meanwhile.
    if (needsNotify(old, cur, u32(page, SRING.rsp_event))) {
      const e = guest.evtchn;
      if (e && guest.isAlive && e.portIsValid(gport) && e.state[gport] === ECS.INTERDOMAIN) setPending(hv, guest, e.notifyVcpu[gport]!, gport);
    }
  };
  r.finish = finish;
  plan.schedule(now + f.delayNs, finish);
}

// --- req-publish-late, req-publish-early -------------------------------------------------

/**
 * io/ring.h's frontend publishes as: write request bodies; wmb(); req_prod = pvt; mb(); read
 * req_event; notify. The machine stands still while dom0 serves a dispatch (see the note
 * at the top: the guest makes no store until the dispatch is over), so the hypervisor can
 * show dom0 another view of the ring page for the dispatch's length and give the guest its
 * own bytes back after:
 *
 *   req-publish-late   (allowed) req_prod lags: the newest 1..n of the n requests the
 *                      backend has not seen yet (seeded) are hidden, for this dispatch or
 *                      for every dispatch within `by`; then they are visible and the
 *                      frontend's push is made again: the backend is woken if
 *                      RING_PUSH_REQUESTS_AND_CHECK_NOTIFY would wake it against req_event
 *                      as it stands then (the frontend's own notifications wait till then).
 *   req-publish-early  (forbidden: a missing wmb) req_prod is seen, but the newest 1..n new
 *                      requests' slots still hold what they held at the end of the last
 *                      dispatch (a response, or an older request): dom0 reads stale bytes,
 *                      in this dispatch, or with `by` in every dispatch within `by` while
 *                      the request is unanswered (a vif's rx buffers are read when a frame
 *                      comes, not when they are posted).
 *
 * An occasion is a dispatch in which the ring has requests the backend has not been shown:
 * the device's own dispatch for a vbd or a vif's tx ring, any dispatch for a vif's rx ring
 * (netback takes rx buffers when its peer sends).
 */
function reqView(hv: HypervisorServices, t: Target, r: FaultRing, served: boolean): void {
  const { plan, guest, device } = t;
  const ks = plan.faults.map((f, i) => (f.device === device && isReqKind(f.kind) && (f.ring === null || f.ring === ringName(r.key)) ? i : -1)).filter((i) => i >= 0);
  if (ks.length === 0 || plan.crashed.has(device)) return;
  const page = hv.mem.frames[r.mfn]!;
  const size = ringSize(PAGE_SIZE, r.entryBytes);
  const prod = u32(page, SRING.req_prod);
  const put = (off: number, bytes: Uint8Array) => {
    r.view.push({ off, put: bytes.slice(), guest: page.slice(off, off + bytes.length) });
    store(hv, guest, r.mfn, off, bytes);
  };
  const putProd = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, true);
    put(SRING.req_prod, b);
  };
  // Stale slots of a req-publish-early with `by`, still shown while their request is not
  // answered and the guest has not written the slot again.
  const now = hv.now();
  r.reqStale = r.reqStale.filter((e) => {
    const off = SRING.ring + (e.q % size) * r.entryBytes;
    const rsp = u32(page, SRING.rsp_prod);
    const open = ((e.q - rsp) >>> 0) < ((prod - rsp) >>> 0);
    if (now >= e.until || !open || e.guest.some((b, j) => b !== page[off + j])) return false;
    put(off, e.stale);
    return true;
  });
  const hide = r.reqHide;
  if (hide) {
    // Still hidden: req_prod as the backend last saw it (a ring reset under it ends the hide).
    if (((prod - hide.shown) >>> 0) <= size) return void (prod !== hide.shown && putProd(hide.shown));
    r.reqHide = null;
  }
  const n = (prod - r.reqShown) >>> 0;
  if (n === 0) return;
  // More than a ring ahead (a hostile index, or a ring set up again): not requests to delay.
  if (n > size) return void (r.reqShown = prod);
  // Another port's dispatch shows them whole (netback may look at a tx ring then too): a
  // hide never goes below what the backend may have read, so req_prod never runs backwards.
  if (r.key !== 'rx-ring-ref' && !served) return void (r.reqShown = prod);
  let k = -1;
  for (const i of ks) {
    plan.seen[i]!++;
    if (k < 0 && faultMatches(plan, i, now)) k = i;
  }
  r.reqShown = prod;
  if (k < 0) return;
  const f = plan.faults[k]!;
  const hidden = 1 + Math.floor(plan.random() * n);
  if (f.kind === 'req-publish-late') {
    const shown = (prod - hidden) >>> 0;
    plan.injected[k]!++;
    putProd(shown);
    r.reqShown = shown;
    const until = f.delayNs > 0 ? now + f.delayNs : 0;
    const h = {
      shown,
      until,
      release: () => {
        if (r.reqHide !== h) return;
        r.reqHide = null;
        const p = hv.mem.frames[r.mfn];
        if (!p) return;
        const cur = u32(p, SRING.req_prod);
        // Visible from now on: no longer requests to hide (else every:1 hides them for ever).
        r.reqShown = cur;
        // The push as if made now: notify if the backend asked for it (req_event in (shown, cur]).
        if (((cur - shown) >>> 0) > size || !needsNotify(shown, cur, u32(p, SRING.req_event))) return;
        const kick = () => kickBackend(hv, guest, t.gport);
        if (until === 0) plan.schedule(hv.now(), kick); // out of the dispatch being finished
        else kick();
      },
    };
    r.reqHide = h;
    if (until > 0) {
      plan.reqHold.set(device, Math.max(plan.reqHold.get(device) ?? 0, until));
      plan.schedule(until, h.release);
    }
    return;
  }
  // req-publish-early: the slots as they were at the end of the last dispatch.
  if (!r.lastSeen) return;
  let damaged = false;
  for (let i = hidden; i >= 1; i--) {
    const q = (prod - i) >>> 0;
    const off = SRING.ring + (q % size) * r.entryBytes;
    const stale = r.lastSeen.slice(off, off + r.entryBytes);
    if (stale.every((b, j) => b === page[off + j])) continue; // the same bytes: no damage
    if (f.delayNs > 0 && r.reqStale.length < size) r.reqStale.push({ q, stale, guest: page.slice(off, off + r.entryBytes), until: now + f.delayNs });
    put(off, stale);
    damaged = true;
  }
  if (damaged) plan.injected[k]!++;
}

/** The frontend's notification to its backend, as its push would send it (after any hold). */
function kickBackend(hv: HypervisorServices, guest: Domain, gport: number): void {
  const e = guest.evtchn;
  if (!guest.isAlive || !e || !isDevicePort(guest, gport)) return;
  const d0 = hv.domain(e.remoteDomid[gport]!);
  const rport = e.remotePort[gport]!;
  const e0 = d0?.evtchn;
  if (d0 && e0 && e0.portIsValid(rport) && e0.state[rport] === ECS.INTERDOMAIN) setPending(hv, d0, e0.notifyVcpu[rport]!, rport);
}

/**
 * Gives the guest back its own bytes once dom0's dispatch is over: only bytes that still
 * hold what the view put there (never one stored since, by the guest or by dom0), and never
 * a response field dom0 wrote in the slots it published this dispatch (it may have written
 * the same value the view held).
 */
function restoreView(hv: HypervisorServices, guest: Domain, r: FaultRing): void {
  if (r.view.length === 0) return;
  const page = hv.mem.frames[r.mfn];
  const view = r.view;
  r.view = [];
  if (!page || !r.before) return;
  const size = ringSize(PAGE_SIZE, r.entryBytes);
  const fields = Object.values(RINGS).flat().find((s) => s.key === r.key)!.rspFields;
  const rsp0 = u32(r.before, SRING.rsp_prod);
  const nAns = (u32(page, SRING.rsp_prod) - rsp0) >>> 0;
  const answered = new Set<number>();
  if (nAns <= size) for (let i = 0; i < nAns; i++) answered.add(((rsp0 + i) >>> 0) % size);
  for (const v of view) {
    const cur = page.slice(v.off, v.off + v.put.length);
    if (v.off === SRING.req_prod) {
      if (cur.every((b, j) => b === v.put[j])) store(hv, guest, r.mfn, v.off, v.guest);
      continue;
    }
    const slot = (v.off - SRING.ring) / r.entryBytes;
    let changed = false;
    for (let j = 0; j < cur.length; j++) {
      if (cur[j] !== v.put[j] || cur[j] === v.guest[j]) continue;
      if (answered.has(slot) && fields.some(([lo, hi]) => j >= lo && j < hi)) continue;
      cur[j] = v.guest[j]!;
      changed = true;
    }
    if (changed) store(hv, guest, r.mfn, v.off, cur);
  }
}

// --- no progress: what a run's end finds on a faulted domain's rings ----------------------

/**
 * Lines naming a lost wake-up left on the domain's rings at the end of a run: a side whose
 * event index the other's producer has passed (so it asked to be woken and was not, or was
 * and slept on), with work outstanding. pvsim's frontends have no re-check timer, so a lost
 * notification leaves them here for good; the run's report says so.
 */
export function ringsStuck(hv: HypervisorServices, guest: Domain): string[] {
  const plan = guest.evtchnFaults;
  // Only a domain that is alive and asleep: a running frontend's event index lags by design.
  if (!plan || !guest.isAlive || guest.vcpus.some((v) => v.runstate !== 'blocked')) return [];
  const out: string[] = [];
  for (const device of plan.ringRefs.keys()) {
    for (const r of findRings(hv, plan, guest, device)) {
      const page = hv.mem.frames[r.mfn]!;
      const size = ringSize(PAGE_SIZE, r.entryBytes);
      const reqProd = u32(page, SRING.req_prod);
      const reqEvent = u32(page, SRING.req_event);
      const rspProd = u32(page, SRING.rsp_prod);
      const rspEvent = u32(page, SRING.rsp_event);
      // How far a producer has gone past the index its peer asked to be woken at (0: not past).
      const past = (prod: number, event: number) => {
        const n = ((prod - event) >>> 0) + 1;
        return n <= size ? n : 0;
      };
      const outstanding = (reqProd - rspProd) >>> 0;
      const unread = past(rspProd, rspEvent);
      const untaken = past(reqProd, reqEvent);
      // An rx ring's requests are buffers posted ahead: unanswered is their resting state.
      const posted = r.key === 'rx-ring-ref';
      if (unread === 0 && (posted || outstanding === 0 || outstanding > size)) continue;
      const why = unread > 0 ? `the frontend sleeps with ${unread} response(s) published past its rsp_event (a lost notification)` : untaken > 0 ? `the backend was passed by ${untaken} request(s) it asked to be woken for` : 'neither end asked to be woken';
      out.push(`no progress on ${device} ${r.key}: ${outstanding} request(s) unanswered; ${why} (req_prod ${reqProd} req_event ${reqEvent} rsp_prod ${rspProd} rsp_event ${rspEvent})`);
    }
  }
  return out;
}

// A domain's fault plan (the scenario key `faults`): its data only, no imports, so Domain can
// hold one without an import cycle; faults.ts (event channels) and ring_faults.ts (the shared
// ring pages, grants) act on it.

/** Faults on the device's event channel (faults.ts). */
export type EvtchnNotifyKind = 'lose-notify' | 'delay-notify' | 'dup-notify' | 'spurious' | 'stall' | 'reorder-notify';
/**
 * Faults on the device's shared pages, at a dom0 dispatch (ring_faults.ts): the backend's
 * responses published in an order io/ring.h's barriers allow (`publish-late`) or one they
 * forbid (`publish-early`: what a missing wmb() breaks), and a frontend's grant revoked while
 * its request is in flight (`revoke-grant`).
 */
export type RingFaultKind = 'publish-late' | 'publish-early' | 'revoke-grant' | 'crash-backend' | 'req-publish-late' | 'req-publish-early';
export type EvtchnFaultKind = EvtchnNotifyKind | RingFaultKind;
export const RING_FAULT_KINDS: readonly RingFaultKind[] = ['publish-late', 'publish-early', 'revoke-grant', 'crash-backend', 'req-publish-late', 'req-publish-early'];
/**
 * The request direction (the frontend publishes: bodies, wmb(), req_prod, mb(), read
 * req_event, notify), shown to dom0's backend during its dispatches: `req-publish-late`
 * (allowed: req_prod lags, the newest requests hidden) and `req-publish-early` (a missing
 * wmb(): req_prod seen, the newest bodies still the slots' old bytes).
 */
export const REQ_FAULT_KINDS: readonly RingFaultKind[] = ['req-publish-late', 'req-publish-early'];
/**
 * Where a crash-backend fault stops the backend, in the conformance bench's words
 * (sim/ringkit/harness.ts "crash mid-request"): requests taken, nothing of their answers
 * visible; answers written, rsp_prod not published; published, not notified.
 */
export type CrashPoint = 'request-consumed' | 'response-written' | 'response-published';
export const CRASH_POINTS: readonly CrashPoint[] = ['request-consumed', 'response-written', 'response-published'];
export type EvtchnFaultWhen = { every: number } | { at: number } | { prob: number };
/** Which notifications: the frontend's to its backend, the backend's to the frontend, or both. */
export type EvtchnFaultDir = 'to-backend' | 'to-frontend' | 'both';

export interface EvtchnFault {
  /** 'vbd/51712', 'vif/0': the device whose channel or ring it bites. */
  device: string;
  kind: EvtchnFaultKind;
  when: EvtchnFaultWhen;
  dir: EvtchnFaultDir;
  /** delay-notify, publish-late, publish-early, reorder-notify (longest hold), req-publish-late (0: one dispatch): ns of virtual time. */
  delayNs: number;
  /** stall: ns the backend hears nothing from the frontend (held sends arrive as one at its end). */
  windowNs: number;
  /** reorder-notify: the held notification is delivered after this many later ones. */
  after: number;
  /** crash-backend: where the backend stops. */
  point: CrashPoint;
  /** publish-late, publish-early, crash-backend, req-publish-* on a vif: only its 'tx' or 'rx' ring (null: both). */
  ring: 'tx' | 'rx' | null;
}

export interface EvtchnFaultStats { sends: number; lost: number; delayed: number; duplicated: number; spurious: number; stalled: number; reordered: number }

/** One ring page of a device, as the fault point found it (ring_faults.ts). */
export interface FaultRing {
  /** The xenstore key the frontend wrote its grant reference under (ring-ref, tx-ring-ref, rx-ring-ref). */
  key: string;
  mfn: number;
  /** Bytes per slot (io/ring.h's union of request and response). */
  entryBytes: number;
  /** Requests looked at for revoke-grant (req_prod as last seen). */
  reqSeen: number;
  /** A publish fault in progress on this ring: no other until it is over. */
  busyUntil: number;
  /** The page at the start of the dispatch being served (null outside one). */
  before: Uint8Array | null;
  /** Ends a publish-late early (dom0 published past it): every held body shown at once. */
  finish: (() => void) | null;
  /** req_prod as last presented to the backend at a dispatch (the request-direction occasions). */
  reqShown: number;
  /** A req-publish-late in progress: dom0 is shown req_prod = `shown` until `until` (virtual ns). */
  reqHide: { shown: number; until: number; release: () => void } | null;
  /** The page at the end of the last dispatch: a slot's previous contents (req-publish-early). */
  lastSeen: Uint8Array | null;
  /** req-publish-early with `by`: request index q's slot shown as `stale` until `until` (while the guest's bytes are `guest`). */
  reqStale: { q: number; stale: Uint8Array; guest: Uint8Array; until: number }[];
  /** What this dispatch's view changed: the bytes put there, and the guest's own, to give back. */
  view: { off: number; put: Uint8Array; guest: Uint8Array }[];
}

export interface EvtchnFaultPlan {
  faults: EvtchnFault[];
  /** Seeded from the scenario's seed: [0, 1). */
  random: () => number;
  /** Runs `fn` at virtual time `at` (the hypervisor's event queue). */
  schedule: (at: number, fn: () => void) => void;
  stats: EvtchnFaultStats;
  /** Per fault: how many it injected (the run's report: per device and kind). */
  injected: number[];
  /** Per fault: sends (or publishes, requests) it has seen (for `every`), and whether `at` fired. */
  seen: number[];
  fired: boolean[];
  /** A stall's held notification to the backend. */
  held: boolean;
  /** The domain's PV devices ('vbd/51712', ...), from its configuration. */
  devices: string[];
  /** Guest port -> device, learnt from the frontend's `event-channel` write to XenStore. */
  portDevice: Map<number, string>;
  /** Device -> xenstore key -> grant reference (ring-ref, tx-ring-ref, rx-ring-ref). */
  ringRefs: Map<string, Map<string, number>>;
  /** Device -> its ring pages once found. */
  rings: Map<string, FaultRing[]>;
  /** What the XenStore sniffer has read of the guest's request ring (`skip`: bytes of a long message still to pass by). */
  xs: { seen: number; buf: number[]; skip: number };
  /** Notifications held by reorder-notify: delivered after `left` later ones (or at the deadline). */
  reorder: { deliver: () => void; left: number; done: boolean }[];
  /** Device -> virtual time until which the frontend's notifications wait for its late req_prod. */
  reqHold: Map<string, number>;
  /** Device -> virtual time until which the backend's notifications wait for its late publish. */
  publishHold: Map<string, number>;
  /** Devices whose backend crashed and is not yet restarted: their notifications go nowhere. */
  crashed: Set<string>;
  /** Has dom0 restart the device's backend (a dispatch: the machine waits), then calls `done`. */
  restart: ((device: string, done: () => void) => void) | null;
}

export function newFaultPlan(faults: EvtchnFault[], random: () => number, schedule: (at: number, fn: () => void) => void, devices: string[] = []): EvtchnFaultPlan {
  return {
    faults, random, schedule,
    stats: { sends: 0, lost: 0, delayed: 0, duplicated: 0, spurious: 0, stalled: 0, reordered: 0 },
    injected: faults.map(() => 0),
    seen: faults.map(() => 0),
    fired: faults.map(() => false),
    held: false,
    devices,
    portDevice: new Map(),
    ringRefs: new Map(),
    rings: new Map(),
    xs: { seen: 0, buf: [], skip: 0 },
    reorder: [],
    reqHold: new Map(),
    publishHold: new Map(),
    crashed: new Set(),
    restart: null,
  };
}

/** Injections per device and kind ({ 'vbd/51712': { 'lose-notify': 3 } }), for the run's report. */
export function faultCounts(plan: EvtchnFaultPlan): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  plan.faults.forEach((f, k) => {
    const d = (out[f.device] ??= {});
    d[f.kind] = (d[f.kind] ?? 0) + plan.injected[k]!;
  });
  return out;
}

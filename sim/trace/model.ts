// What a trace says, rebuilt from its records: per-vCPU run-state slices with reasons,
// hypercall slices, exits, event-channel flows from sender to receiver, ring requests to
// their responses, and counters. Both the Perfetto export (perfetto.ts) and `pvsim trace
// summary` (summary.ts) read this model, so the two always agree.

import { isSideEvent, TRACE_ECS_INTERDOMAIN, TRACE_ECS_VIRQ, TRACE_WAKE, TRC, TRC_NAMES, type TraceRecord } from '../../hypervisor/trace/trace.ts';
import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';

export const RUNSTATE_NAMES = ['running', 'runnable', 'blocked', 'offline'] as const;
export type RunstateName = (typeof RUNSTATE_NAMES)[number];

/** Why a vCPU was runnable or blocked, where the trace says it. */
export type SliceReason =
  | ''
  /** runnable: woken from blocked, waiting for a pCPU (wake-to-run latency). */
  | 'wake'
  /** runnable: descheduled while it could still run (its slice ended, a higher priority came). */
  | 'preempted'
  /** runnable: gave way (SCHEDOP_yield, wfi). */
  | 'yield'
  /** runnable: unpaused or brought up. */
  | 'up'
  /** blocked until an event from another guest (interdomain event channel). */
  | 'evtchn'
  /** blocked until a dom0 backend answered (its event channel: disk, network, console, xenstore). */
  | 'io'
  /** blocked until its timer fired (a sleep: set_timer_op then block). */
  | 'timer'
  /** blocked in SCHEDOP_poll until a port or its timeout. */
  | 'poll'
  /** blocked until another kind of event (an IPI, a VIRQ other than the timer). */
  | 'virq'
  /** blocked until something the trace does not name (an HVM vCPU's IPI line, a poll's timeout, an unpause). */
  | 'other'
  /** blocked and nothing woke it (still blocked at the end of the trace, or made offline). */
  | 'unwoken'
  /** offline: the domain shut down. */
  | 'shutdown'
  /** offline: paused, not yet started, or the vCPU is down. */
  | 'down'
  /** the state before the first record seen for it (records dropped by the ring). */
  | 'before-window';

export interface VcpuKey {
  domid: number;
  vcpu: number;
}

export interface RunSlice extends VcpuKey {
  state: RunstateName;
  reason: SliceReason;
  start: number;
  end: number;
  /** running: the pCPU it ran on. */
  pcpu?: number;
}

export interface CallSlice extends VcpuKey {
  nr: number;
  name: string;
  start: number;
  end: number;
}

export interface ExitInstant extends VcpuKey {
  kind: 'pv_trap' | 'hvm_exit';
  cause: number;
  name: string;
  time: number;
  /** Virtual ns serving it cost (when the trace says). */
  ns?: number;
}

export interface UpcallInstant extends VcpuKey {
  port: number;
  time: number;
}

/** Where a flow starts or ends: a vCPU, a pCPU, or dom0's backends (which run on no traced vCPU). */
export type FlowEnd = { kind: 'vcpu'; domid: number; vcpu: number; time: number } | { kind: 'dom0'; time: number };

export interface Flow {
  id: number;
  cat: 'evtchn' | 'ring';
  name: string;
  from: FlowEnd;
  to: FlowEnd;
}

export interface CounterTrack {
  /** The process it belongs to: Xen's or a domain's. */
  owner: 'xen' | number;
  subject: string;
  metric: 'runq' | 'credit' | 'occupancy';
  samples: CounterSample[];
}

export interface CounterSample {
  time: number;
  value: number;
}

/** dom0's own notifications (backend answers), shown on a track of their own. */
export interface Dom0Send {
  time: number;
  domid: number;
  port: number;
}

export interface RingInfo {
  /** Frontend domain and its port: with the page, the ring's identity. */
  domid: number;
  port: number;
  /** Machine frame of the ring page. */
  mfn: number;
  /** blkif, netif tx, netif rx (as dom0 connected it), ring when not known. */
  kind: string;
  /** "ring d1 p3 blkif": the name of its counter and flows. */
  name: string;
}

export interface TraceModel {
  /** Virtual time the model covers (ns). */
  start: number;
  end: number;
  /** Records the ring had dropped before the window (0: the whole run). */
  dropped: number;
  pcpus: number[];
  /** Domain names by domid (d<N> when the trace did not name it). */
  domains: Map<number, string>;
  /** Every vCPU seen, "d1v0" style keys. */
  vcpus: VcpuKey[];
  runs: RunSlice[];
  /** pCPU slices: which vCPU a pCPU ran. */
  pcpuRuns: { pcpu: number; domid: number; vcpu: number; start: number; end: number }[];
  calls: CallSlice[];
  exits: ExitInstant[];
  upcalls: UpcallInstant[];
  dom0Sends: Dom0Send[];
  flows: Flow[];
  /**
   * Counter tracks by name "<subject> <metric>", Perfetto's own naming of a JSON counter:
   * "pCPU 0 runq", "d1v0 credit", "ring d1 p3 blkif occupancy".
   */
  counters: Map<string, CounterTrack>;
  rings: RingInfo[];
}

export const vcpuName = (domid: number, vcpu: number): string => `d${domid}v${vcpu}`;

const HYPERCALL_NAMES = new Map<number, string>(Object.entries(HYPERVISOR).map(([k, v]) => [v, k]));
export const hypercallName = (nr: number): string => HYPERCALL_NAMES.get(nr) ?? `hypercall_${nr}`;

const TRAP_NAMES: Record<number, string> = {
  0: 'misaligned_fetch', 1: 'fetch_access', 2: 'illegal_insn', 3: 'breakpoint', 4: 'misaligned_load', 5: 'load_access',
  6: 'misaligned_store', 7: 'store_access', 8: 'ecall_u', 9: 'ecall_s', 10: 'ecall_vs', 12: 'fetch_page_fault',
  13: 'load_page_fault', 15: 'store_page_fault', 20: 'fetch_guest_page_fault', 21: 'load_guest_page_fault',
  22: 'virtual_instruction', 23: 'store_guest_page_fault',
};
const WFI_ENCODING = 0x1050_0073;

/** An exit's name from its mcause (interrupts as irq_N; wfi told apart from other illegal instructions). */
export function causeName(cause: number, tval: number): string {
  if (cause >= 0x8000_0000) return `irq_${cause - 0x8000_0000}`;
  if (cause === 2 && tval === WFI_ENCODING) return 'wfi';
  return TRAP_NAMES[cause] ?? `trap_${cause}`;
}

/** Xen's VIRQ_TIMER. */
const VIRQ_TIMER = 0;

/** PVSIM_RING_ADD's kind (hypervisor/trace/rings.ts TRACE_RING_KIND). */
const RING_KINDS = ['ring', 'blkif', 'netif tx', 'netif rx'];

/** The pseudo-record lines toJsonLines adds: domain names and the end of the run. */
export const TRACE_META = { DOMAIN_NAME: 0x0100_80f0, END: 0x0100_80f1 } as const;

export interface TraceInput {
  records: TraceRecord[];
  names: Map<number, string>;
  /** Number of vCPUs per domain: a vCPU never brought up leaves no record but has a track. */
  vcpus?: ReadonlyMap<number, number>;
  /** End of the run (ns); the last record's time when not known. */
  end?: number;
  dropped?: number;
}

/** Builds the model from the records in ring order. */
export function buildTraceModel(input: TraceInput): TraceModel {
  const recs = input.records;
  let start = recs.length ? recs[0]!.time : 0;
  let end = input.end ?? 0;
  for (const r of recs) {
    if (r.time < start) start = r.time;
    if (input.end === undefined && r.time > end) end = r.time;
  }
  const domains = new Map<number, string>(input.names);
  const pcpuSet = new Set<number>();
  const vcpuMap = new Map<string, VcpuKey>();
  const seeVcpu = (domid: number, vcpu: number) => {
    const k = vcpuName(domid, vcpu);
    if (!vcpuMap.has(k)) vcpuMap.set(k, { domid, vcpu });
    if (!domains.has(domid)) domains.set(domid, `d${domid}`);
    return k;
  };

  // Per vCPU: its state since `since`, and what the trace said about why.
  interface VState {
    state: RunstateName;
    since: number;
    reason: SliceReason;
    /** Known from a record (false: before the first record of it). */
    known: boolean;
    yielded: boolean;
    polled: boolean;
    wakeCause: SliceReason | null;
    pcpu: number;
  }
  const vstate = new Map<string, VState>();
  const addTimes = new Map<number, number>();
  const shutdownDoms = new Set<number>();
  const runs: RunSlice[] = [];
  const calls: CallSlice[] = [];
  const exits: ExitInstant[] = [];
  const upcalls: UpcallInstant[] = [];
  const dom0Sends: Dom0Send[] = [];
  const flows: Flow[] = [];
  const counters = new Map<string, CounterTrack>();
  const counter = (subject: string, metric: CounterTrack['metric'], owner: 'xen' | number, time: number, value: number) => {
    const name = `${subject} ${metric}`;
    let c = counters.get(name);
    if (!c) counters.set(name, (c = { owner, subject, metric, samples: [] }));
    c.samples.push({ time, value });
  };
  const pcpuRuns: TraceModel['pcpuRuns'] = [];
  const pcpuOpen = new Map<number, { domid: number; vcpu: number; start: number }>();
  const current = new Map<number, VcpuKey>();
  let flowId = 1;
  const lastExit = new Map<string, ExitInstant>();
  for (const [domid, n] of input.vcpus ?? []) for (let v = 0; v < Math.min(n, 4096); v++) seeVcpu(domid, v);

  // The last send not yet taken by an upcall, per receiving domain (setPending's order:
  // SEND, FROM, then UPCALL if the vCPU had none pending).
  let lastSend: { domid: number; port: number; vcpu: number; time: number; pcpu: number; from?: { remote: number; remotePort: number; kind: number; virq: number } } | null = null;
  // Ring requests published and not yet answered: ring key -> req index -> flow start.
  const rings = new Map<string, RingInfo & { reqSeen: number; rspSeen: number; open: Map<number, FlowEnd | null> }>();

  const stateOf = (k: string, domid: number): VState => {
    let s = vstate.get(k);
    if (!s) {
      const added = addTimes.get(domid);
      s = { state: 'offline', since: added ?? start, reason: added !== undefined ? 'down' : 'before-window', known: added !== undefined, yielded: false, polled: false, wakeCause: null, pcpu: -1 };
      vstate.set(k, s);
    }
    return s;
  };

  for (const r of recs) {
    const d = r.data;
    if (r.pcpu >= 0 && r.event !== TRACE_META.DOMAIN_NAME && r.event !== TRACE_META.END) pcpuSet.add(r.pcpu);
    switch (r.event) {
      case TRC.SCHED_DOM_ADD:
        addTimes.set(d[0]!, r.time);
        if (!domains.has(d[0]!)) domains.set(d[0]!, `d${d[0]}`);
        break;
      case TRC.SCHED_SHUTDOWN:
        shutdownDoms.add(d[0]!);
        break;
      case TRC.SCHED_SWITCH: {
        const prev = pcpuOpen.get(r.pcpu);
        if (prev) pcpuRuns.push({ pcpu: r.pcpu, domid: prev.domid, vcpu: prev.vcpu, start: prev.start, end: r.time });
        const nextDom = d[2]!;
        if (nextDom >= 0) {
          seeVcpu(nextDom, d[3]!);
          pcpuOpen.set(r.pcpu, { domid: nextDom, vcpu: d[3]!, start: r.time });
          current.set(r.pcpu, { domid: nextDom, vcpu: d[3]! });
        } else {
          pcpuOpen.delete(r.pcpu);
          current.delete(r.pcpu);
        }
        break;
      }
      case TRC.SCHED_YIELD:
        stateOf(seeVcpu(d[0]!, d[1]!), d[0]!).yielded = true;
        break;
      case TRC.PVSIM_POLL:
        stateOf(seeVcpu(d[0]!, d[1]!), d[0]!).polled = true;
        break;
      case TRC.PVSIM_WAKE_CAUSE: {
        const s = stateOf(seeVcpu(d[0]!, d[1]!), d[0]!);
        const cause: SliceReason = d[2] === TRACE_WAKE.timer ? 'timer' : d[2] === TRACE_WAKE.io ? 'io' : 'other';
        if (s.state === 'blocked' && s.wakeCause === null) s.wakeCause = cause;
        break;
      }
      case TRC.SCHED_S_TIMER_FN: {
        const s = stateOf(seeVcpu(d[0]!, d[1]!), d[0]!);
        if (s.state === 'blocked' && s.wakeCause === null) s.wakeCause = 'timer';
        break;
      }
      case TRC.PVSIM_RUNSTATE: {
        const domid = d[0]!;
        const k = seeVcpu(domid, d[1]!);
        const s = stateOf(k, domid);
        const old = RUNSTATE_NAMES[d[2]!] ?? 'offline';
        const next = RUNSTATE_NAMES[d[3]!] ?? 'offline';
        if (!s.known) {
          // The first record of a vCPU whose start the ring dropped: its old state from here back.
          s.state = old;
          s.known = true;
        }
        let reason = s.reason;
        if (old === 'blocked') reason = s.wakeCause ?? (s.polled ? 'poll' : next === 'runnable' ? 'other' : 'unwoken');
        runs.push({ domid, vcpu: d[1]!, state: s.state, reason: s.state === 'running' ? '' : reason, start: s.since, end: Math.max(r.time, s.since), ...(s.state === 'running' ? { pcpu: s.pcpu } : {}) });
        s.state = next;
        s.pcpu = r.pcpu;
        s.since = Math.max(r.time, s.since);
        s.reason =
          next === 'runnable' ? (old === 'blocked' ? 'wake' : old === 'running' ? (s.yielded ? 'yield' : 'preempted') : 'up')
          : next === 'offline' ? (shutdownDoms.has(domid) ? 'shutdown' : 'down')
          : '';
        if (next === 'blocked') {
          s.wakeCause = null;
        }
        if (old === 'blocked') s.polled = false;
        if (next === 'running' || next === 'blocked') s.yielded = false;
        break;
      }
      case TRC.PVSIM_HYPERCALL_END: {
        seeVcpu(d[0]!, d[1]!);
        calls.push({ domid: d[0]!, vcpu: d[1]!, nr: d[2]!, name: hypercallName(d[2]!), start: r.time - d[3]!, end: r.time });
        break;
      }
      case TRC.PV_TRAP:
      case TRC.HVM_VMEXIT:
      case TRC.PVSIM_HVM_EXIT:
        seeVcpu(d[0]!, d[1]!);
        exits.push({ domid: d[0]!, vcpu: d[1]!, kind: r.event === TRC.PV_TRAP ? 'pv_trap' : 'hvm_exit', cause: d[2]!, name: causeName(d[2]!, d[3]!), time: r.time });
        lastExit.set(vcpuName(d[0]!, d[1]!), exits[exits.length - 1]!);
        break;
      case TRC.PVSIM_EXIT_END: {
        // The exit just recorded for this vCPU, with the same cause, is the one that ended.
        const k = vcpuName(d[0]!, d[1]!);
        const e = lastExit.get(k);
        if (e && e.cause === d[2] && e.ns === undefined && Number.isFinite(d[3])) e.ns = d[3]!;
        lastExit.delete(k);
        break;
      }
      case TRC.PVSIM_EVTCHN_SEND:
        lastSend = { domid: d[0]!, port: d[1]!, vcpu: d[2]!, time: r.time, pcpu: r.pcpu };
        break;
      case TRC.PVSIM_EVTCHN_FROM:
        if (lastSend) {
          lastSend.from = { remote: d[0]!, remotePort: d[1]!, kind: d[2]!, virq: d[3]! };
          const from = lastSend.from;
          if (from.kind === TRACE_ECS_INTERDOMAIN && from.remote === 0) dom0Sends.push({ time: lastSend.time, domid: lastSend.domid, port: lastSend.port });
        }
        break;
      case TRC.PVSIM_EVTCHN_UPCALL: {
        const domid = d[0]!;
        const vcpu = d[1]!;
        const k = seeVcpu(domid, vcpu);
        const send = lastSend && lastSend.domid === domid && lastSend.time === r.time ? lastSend : null;
        upcalls.push({ domid, vcpu, port: send?.port ?? -1, time: r.time });
        if (send) {
          lastSend = null;
          const from = send.from;
          const s = stateOf(k, domid);
          let cause: SliceReason = 'virq';
          if (from?.kind === TRACE_ECS_INTERDOMAIN) cause = from.remote === 0 ? 'io' : 'evtchn';
          else if (from?.kind === TRACE_ECS_VIRQ && from.virq === VIRQ_TIMER) cause = 'timer';
          if (s.state === 'blocked' && s.wakeCause === null) s.wakeCause = cause;
          if (from?.kind === TRACE_ECS_INTERDOMAIN) {
            let src: FlowEnd | null = null;
            if (from.remote === 0) src = { kind: 'dom0', time: send.time };
            else {
              const cur = current.get(send.pcpu);
              if (cur && cur.domid === from.remote) src = { kind: 'vcpu', domid: cur.domid, vcpu: cur.vcpu, time: send.time };
            }
            if (src) flows.push({ id: flowId++, cat: 'evtchn', name: `evtchn d${from.remote}:${from.remotePort} -> d${domid}:${send.port}`, from: src, to: { kind: 'vcpu', domid, vcpu, time: r.time } });
          }
        }
        break;
      }
      case TRC.PVSIM_SCHED_STATE: {
        if (d[0]! >= 0) counter(`pCPU ${r.pcpu}`, 'runq', 'xen', r.time, d[0]!);
        if (d[1]! >= 0 && d[3] !== null && Number.isFinite(d[3]!)) counter(vcpuName(d[1]!, d[2]!), 'credit', d[1]!, r.time, d[3]!);
        break;
      }
      case TRC.PVSIM_RING_ADD: {
        const key = `${d[0]}:${d[1]}:${d[2]}`;
        const kind = RING_KINDS[d[3]!] ?? 'ring';
        rings.set(key, { domid: d[0]!, port: d[1]!, mfn: d[2]!, kind, name: `ring d${d[0]} p${d[1]} ${kind}`, reqSeen: 0, rspSeen: 0, open: new Map() });
        break;
      }
      case TRC.PVSIM_RING_INDEX: {
        const ring = rings.get(`${d[0]}:${d[1]}:${d[2]}`);
        if (!ring) break;
        const reqProd = d[3]!;
        const rspProd = d[4]!;
        const cur = current.get(r.pcpu);
        // A request seen at its frontend's kick starts on that vCPU; one first seen at a dom0
        // event (published without a kick) has no known start and draws no flow.
        const here: FlowEnd | null = cur && cur.domid === ring.domid ? { kind: 'vcpu', domid: cur.domid, vcpu: cur.vcpu, time: r.time } : null;
        if (ring.reqSeen < 0) ring.reqSeen = reqProd;
        if (ring.rspSeen < 0) ring.rspSeen = rspProd;
        // Ring indices are free-running 32-bit counters; a bounded step keeps a hostile guest's jump from flooding the model.
        const newReqs = (reqProd - ring.reqSeen) >>> 0;
        if (newReqs > 0 && newReqs <= 4096) for (let i = 0; i < newReqs; i++) ring.open.set((ring.reqSeen + i) >>> 0, here);
        ring.reqSeen = reqProd;
        const newRsps = (rspProd - ring.rspSeen) >>> 0;
        if (newRsps > 0 && newRsps <= 4096) {
          for (let i = 0; i < newRsps; i++) {
            const idx = (ring.rspSeen + i) >>> 0;
            const from = ring.open.get(idx);
            ring.open.delete(idx);
            if (!from) continue;
            flows.push({ id: flowId++, cat: 'ring', name: `${ring.name} req ${idx}`, from, to: { kind: 'dom0', time: r.time } });
          }
        }
        ring.rspSeen = rspProd;
        if (ring.open.size > 4096) ring.open.clear();
        counter(ring.name, 'occupancy', ring.domid, r.time, (reqProd - rspProd) | 0);
        break;
      }
      default:
        break;
    }
  }
  if (input.end === undefined) for (const s of vstate.values()) end = Math.max(end, s.since);
  for (const [pcpu, o] of pcpuOpen) pcpuRuns.push({ pcpu, domid: o.domid, vcpu: o.vcpu, start: o.start, end: Math.max(end, o.start) });
  for (const [k, s] of vstate) {
    const v = vcpuMap.get(k)!;
    const reason = s.state === 'blocked' ? (s.wakeCause ?? (s.polled ? 'poll' : 'unwoken')) : s.state === 'running' ? '' : s.reason;
    runs.push({ domid: v.domid, vcpu: v.vcpu, state: s.state, reason, start: s.since, end: Math.max(end, s.since), ...(s.state === 'running' ? { pcpu: s.pcpu } : {}) });
  }
  // vCPUs seen only in other records (their domain added, no run-state change recorded).
  for (const [k, v] of vcpuMap) {
    if (vstate.has(k)) continue;
    const since = addTimes.get(v.domid) ?? start;
    runs.push({ domid: v.domid, vcpu: v.vcpu, state: 'offline', reason: addTimes.has(v.domid) ? 'down' : 'before-window', start: since, end: Math.max(end, since) });
  }
  const vcpus = [...vcpuMap.values()].sort((a, b) => a.domid - b.domid || a.vcpu - b.vcpu);
  // A hypercall that outlives its run (a shutdown from inside it) is cut at the run's end.
  clampCalls(calls, runs);
  return {
    start,
    end,
    dropped: input.dropped ?? 0,
    pcpus: [...pcpuSet].sort((a, b) => a - b),
    domains,
    vcpus,
    runs: runs.filter((s) => s.end > s.start),
    pcpuRuns,
    calls,
    exits,
    upcalls,
    dom0Sends,
    flows,
    counters,
    rings: [...rings.values()].map(({ domid, port, mfn, kind, name }) => ({ domid, port, mfn, kind, name })),
  };
}

function clampCalls(calls: CallSlice[], runs: RunSlice[]): void {
  const byVcpu = new Map<string, RunSlice[]>();
  for (const s of runs) {
    if (s.state !== 'running') continue;
    const k = vcpuName(s.domid, s.vcpu);
    let l = byVcpu.get(k);
    if (!l) byVcpu.set(k, (l = []));
    l.push(s);
  }
  for (const l of byVcpu.values()) l.sort((a, b) => a.start - b.start);
  for (const c of calls) {
    const l = byVcpu.get(vcpuName(c.domid, c.vcpu)) ?? [];
    // The running slice holding the call's start (binary search on start).
    let lo = 0;
    let hi = l.length - 1;
    let found: RunSlice | null = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (l[mid]!.start <= c.start) {
        found = l[mid]!;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found && c.start < found.end) {
      c.end = Math.min(c.end, found.end);
      c.start = Math.max(c.start, found.start);
    } else if (found) {
      c.start = c.end = Math.min(c.start, found.end); // outside any run: kept as a zero-length call
    }
  }
}

/** Parses the JSON lines `--trace F.jsonl` writes into a model. */
export function modelFromJsonLines(text: string): TraceModel {
  const records: TraceRecord[] = [];
  const names = new Map<number, string>();
  const vcpus = new Map<number, number>();
  let end: number | undefined;
  let dropped = 0;
  let line = 0;
  for (const l of text.split('\n')) {
    line++;
    if (!l.trim()) continue;
    let o: unknown;
    try {
      o = JSON.parse(l);
    } catch {
      throw new TraceFormatError(`line ${line}: not JSON`);
    }
    if (typeof o !== 'object' || o === null) throw new TraceFormatError(`line ${line}: not a trace record ({t, cpu, event, name, data})`);
    const rec = o as { t?: unknown; cpu?: unknown; event?: unknown; data?: unknown; label?: unknown };
    if (typeof rec.t !== 'number' || typeof rec.cpu !== 'number' || typeof rec.event !== 'string' || !Array.isArray(rec.data)) throw new TraceFormatError(`line ${line}: not a trace record ({t, cpu, event, name, data})`);
    const event = Number.parseInt(rec.event, 16);
    if (!Number.isFinite(event)) throw new TraceFormatError(`line ${line}: bad event id ${rec.event}`);
    // A record has four data words (five for side records); null stands for a NaN (no credit).
    if (rec.data.length < 4 || rec.data.length > 5 || !rec.data.every((x) => x === null || (typeof x === 'number' && Number.isFinite(x)))) throw new TraceFormatError(`line ${line}: data must be 4 or 5 numbers`);
    if (!Number.isFinite(rec.t) || !Number.isInteger(rec.cpu)) throw new TraceFormatError(`line ${line}: bad time or cpu`);
    const data = rec.data.map((x) => (typeof x === 'number' ? x : NaN));
    if (event === TRACE_META.DOMAIN_NAME) {
      names.set(data[0]!, typeof rec.label === 'string' ? rec.label : `d${data[0]}`);
      if (Number.isInteger(data[1]) && data[1]! > 0) vcpus.set(data[0]!, data[1]!);
      continue;
    }
    if (event === TRACE_META.END) {
      end = rec.t;
      dropped = data[0] ?? 0;
      continue;
    }
    records.push({ time: rec.t, pcpu: rec.cpu, event, data });
  }
  return buildTraceModel({ records, names, vcpus, end, dropped });
}

export class TraceFormatError extends Error {}

/** A record's name for JSON lines (side records included). */
export function recordName(event: number): string {
  return TRC_NAMES.get(event) ?? (isSideEvent(event) ? `pvsim_side_${event.toString(16)}` : 'unknown');
}

// `pvsim trace summary`: what xenalyze's summary tells of a xentrace file, from a pvsim
// trace: per domain and per vCPU the time in each run state (blocked and runnable broken
// down by reason), hypercalls by number and name with counts and time, exits by name, and
// wake-to-run latency percentiles.

import { RUNSTATE_NAMES, TraceFormatError, buildTraceModel, hypercallName, modelFromJsonLines, vcpuName, type RunstateName, type TraceModel } from './model.ts';
import type { ChromeEvent } from './perfetto.ts';

export interface StateTimes {
  /** ns in each run state. */
  running: number;
  runnable: number;
  blocked: number;
  offline: number;
  /** ns by "state:reason", e.g. "blocked:io", "runnable:wake". */
  byReason: Record<string, number>;
}

export interface CallStat {
  nr: number;
  name: string;
  count: number;
  /** Total ns spent in it (entry cost and handler). */
  ns: number;
}

export interface ExitStat {
  name: string;
  kind: string;
  count: number;
  /** Virtual ns serving them cost (PV traps: the reflection; HVM exits: the world switch and the emulation). */
  ns: number;
}

export interface Latency {
  count: number;
  /** ns; null when no wake-up was seen. */
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

export interface VcpuSummary {
  name: string;
  domid: number;
  vcpu: number;
  /** ns from its first moment in the trace to the end of the run. */
  total: number;
  times: StateTimes;
  hypercalls: CallStat[];
  exits: ExitStat[];
  wakeToRun: Latency;
}

export interface DomainSummary {
  domid: number;
  name: string;
  times: StateTimes;
  hypercalls: CallStat[];
  exits: ExitStat[];
  wakeToRun: Latency;
  vcpus: VcpuSummary[];
}

export interface TraceSummary {
  /** ns the trace covers. */
  start: number;
  end: number;
  /** Records the ring dropped before the window (then the first state of a vCPU is marked before-window). */
  dropped: number;
  pcpus: number;
  domains: DomainSummary[];
}

const emptyTimes = (): StateTimes => ({ running: 0, runnable: 0, blocked: 0, offline: 0, byReason: {} });

function addTimes(a: StateTimes, b: StateTimes): void {
  for (const s of RUNSTATE_NAMES) a[s] += b[s];
  for (const [k, v] of Object.entries(b.byReason)) a.byReason[k] = (a.byReason[k] ?? 0) + v;
}

function mergeCalls(lists: CallStat[][]): CallStat[] {
  const m = new Map<number, CallStat>();
  for (const l of lists) for (const c of l) {
    const x = m.get(c.nr);
    if (x) {
      x.count += c.count;
      x.ns += c.ns;
    } else m.set(c.nr, { ...c });
  }
  return [...m.values()].sort((a, b) => a.nr - b.nr);
}

function mergeExits(lists: ExitStat[][]): ExitStat[] {
  const m = new Map<string, ExitStat>();
  for (const l of lists) for (const e of l) {
    const k = `${e.kind}:${e.name}`;
    const x = m.get(k);
    if (x) {
      x.count += e.count;
      x.ns += e.ns;
    } else m.set(k, { ...e });
  }
  return [...m.values()].sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number | null {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function latency(values: number[]): Latency {
  const s = [...values].sort((a, b) => a - b);
  return { count: s.length, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length ? s[s.length - 1]! : null };
}

export function summarize(m: TraceModel): TraceSummary {
  const perVcpu = new Map<string, { domid: number; vcpu: number; times: StateTimes; first: number; last: number; calls: Map<number, CallStat>; exits: Map<string, ExitStat>; lat: number[] }>();
  const get = (domid: number, vcpu: number) => {
    const k = vcpuName(domid, vcpu);
    let v = perVcpu.get(k);
    if (!v) perVcpu.set(k, (v = { domid, vcpu, times: emptyTimes(), first: Infinity, last: -Infinity, calls: new Map(), exits: new Map(), lat: [] }));
    return v;
  };
  // Run-state slices in time order per vCPU: a runnable slice after a wake-up that ends in
  // a run is one wake-to-run latency.
  const runs = [...m.runs].sort((a, b) => a.domid - b.domid || a.vcpu - b.vcpu || a.start - b.start);
  for (let i = 0; i < runs.length; i++) {
    const s = runs[i]!;
    const v = get(s.domid, s.vcpu);
    const ns = s.end - s.start;
    v.first = Math.min(v.first, s.start);
    v.last = Math.max(v.last, s.end);
    v.times[s.state] += ns;
    if (s.reason) v.times.byReason[`${s.state}:${s.reason}`] = (v.times.byReason[`${s.state}:${s.reason}`] ?? 0) + ns;
    const next = runs[i + 1];
    if (s.state === 'runnable' && s.reason === 'wake' && next && next.domid === s.domid && next.vcpu === s.vcpu && next.state === 'running') v.lat.push(ns);
  }
  for (const c of m.calls) {
    const v = get(c.domid, c.vcpu);
    const x = v.calls.get(c.nr) ?? { nr: c.nr, name: c.name, count: 0, ns: 0 };
    x.count++;
    x.ns += c.end - c.start;
    v.calls.set(c.nr, x);
  }
  for (const e of m.exits) {
    const v = get(e.domid, e.vcpu);
    const k = `${e.kind}:${e.name}`;
    const x = v.exits.get(k) ?? { name: e.name, kind: e.kind, count: 0, ns: 0 };
    x.count++;
    x.ns += e.ns ?? 0;
    v.exits.set(k, x);
  }
  const domains = new Map<number, DomainSummary>();
  const keys = [...perVcpu].map(([k, v]) => ({ k, domid: v.domid, vcpu: v.vcpu })).sort((a, b) => a.domid - b.domid || a.vcpu - b.vcpu);
  const lats = new Map<number, number[]>();
  for (const { k, domid, vcpu } of keys) {
    const v = perVcpu.get(k)!;
    let d = domains.get(domid);
    if (!d) domains.set(domid, (d = { domid, name: m.domains.get(domid) ?? `d${domid}`, times: emptyTimes(), hypercalls: [], exits: [], wakeToRun: latency([]), vcpus: [] }));
    // Its slices tile its life, from its first moment in the trace to the end of the run.
    const total = Number.isFinite(v.first) ? v.last - v.first : 0;
    d.vcpus.push({
      name: k,
      domid,
      vcpu,
      total,
      times: v.times,
      hypercalls: [...v.calls.values()].sort((a, b) => a.nr - b.nr),
      exits: mergeExits([[...v.exits.values()]]),
      wakeToRun: latency(v.lat),
    });
    lats.set(domid, [...(lats.get(domid) ?? []), ...v.lat]);
  }
  for (const d of domains.values()) {
    for (const v of d.vcpus) addTimes(d.times, v.times);
    d.hypercalls = mergeCalls(d.vcpus.map((v) => v.hypercalls));
    d.exits = mergeExits(d.vcpus.map((v) => v.exits));
    d.wakeToRun = latency(lats.get(d.domid) ?? []);
  }
  return { start: m.start, end: m.end, dropped: m.dropped, pcpus: m.pcpus.length, domains: [...domains.values()] };
}

// --- Reading trace files ------------------------------------------------------------------

/**
 * The model a trace file holds: JSON lines (every record) or the Chrome/Perfetto JSON
 * (its run-state slices, hypercall slices and exits, which is all a summary needs).
 */
export function modelFromTraceFile(text: string): TraceModel {
  const head = text.trimStart();
  if (head.startsWith('{"traceEvents"') || (head.startsWith('{') && head.includes('"traceEvents"') && !head.startsWith('{"t"'))) return modelFromChromeTrace(text);
  return modelFromJsonLines(text);
}

export function modelFromChromeTrace(text: string): TraceModel {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new TraceFormatError('not JSON');
  }
  if (typeof o !== 'object' || o === null) throw new TraceFormatError('not a trace-event JSON object');
  const t = o as { traceEvents?: unknown; metadata?: { pvsim?: { start?: unknown; end?: unknown; dropped?: unknown; domains?: unknown } } };
  if (!Array.isArray(t.traceEvents)) throw new TraceFormatError('no traceEvents array');
  const pv = t.metadata?.pvsim;
  if (!pv || typeof pv.start !== 'number' || typeof pv.end !== 'number') throw new TraceFormatError('not a pvsim trace (no metadata.pvsim): record it with pvsim run --trace');
  const m = buildTraceModel({ records: [], names: new Map(), end: pv.end });
  m.start = pv.start;
  m.end = pv.end;
  m.dropped = typeof pv.dropped === 'number' ? pv.dropped : 0;
  if (pv.domains && typeof pv.domains === 'object') for (const [d, n] of Object.entries(pv.domains)) if (typeof n === 'string') m.domains.set(Number(d), n);
  const threads = new Map<string, { domid: number; vcpu: number }>();
  const pcpus = new Set<number>();
  const events = t.traceEvents as ChromeEvent[];
  for (const e of events) {
    if (e?.ph !== 'M' || e.name !== 'thread_name') continue;
    const name = String((e.args as { name?: unknown } | undefined)?.name ?? '');
    const v = /^d(\d+)v(\d+)$/.exec(name);
    if (v) threads.set(`${e.pid}:${e.tid}`, { domid: Number(v[1]), vcpu: Number(v[2]) });
    const p = /^pCPU (\d+)$/.exec(name);
    if (p) pcpus.add(Number(p[1]));
  }
  m.pcpus = [...pcpus].sort((a, b) => a - b);
  const ns = (us: unknown) => (typeof us === 'number' ? us * 1000 : NaN);
  const seen = new Set<string>();
  for (const e of events) {
    if (!e || (e.ph !== 'X' && e.ph !== 'i')) continue;
    const v = threads.get(`${e.pid}:${e.tid}`);
    if (!v) continue;
    const key = vcpuName(v.domid, v.vcpu);
    if (!seen.has(key)) {
      seen.add(key);
      m.vcpus.push(v);
    }
    const args = (e.args ?? {}) as Record<string, unknown>;
    if (e.cat === 'runstate' && e.ph === 'X') {
      const state = args.state as RunstateName;
      if (!(RUNSTATE_NAMES as readonly string[]).includes(state)) throw new TraceFormatError(`slice with an unknown run state ${String(args.state)}`);
      const start = ns(e.ts);
      m.runs.push({ ...v, state, reason: (typeof args.reason === 'string' ? args.reason : '') as never, start, end: start + ns(e.dur) });
    } else if (e.cat === 'hypercall' && e.ph === 'X') {
      const start = ns(e.ts);
      const nr = Number(args.nr);
      m.calls.push({ ...v, nr, name: hypercallName(nr), start, end: start + ns(e.dur) });
    } else if (e.cat === 'exit') {
      m.exits.push({ ...v, kind: args.kind === 'hvm_exit' ? 'hvm_exit' : 'pv_trap', cause: Number(args.cause), name: e.name, time: ns(e.ts), ...(typeof args.ns === 'number' ? { ns: args.ns } : {}) });
    }
  }
  return m;
}

// --- Printing -------------------------------------------------------------------------------

const ms = (ns: number) => (ns / 1e6).toFixed(3);
const usec = (ns: number | null) => (ns === null ? '-' : (ns / 1e3).toFixed(1));
const pct = (ns: number, total: number) => (total > 0 ? ((100 * ns) / total).toFixed(2) : '0.00');

function timesLines(times: StateTimes, total: number, indent: string): string[] {
  const out: string[] = [];
  for (const s of RUNSTATE_NAMES) {
    out.push(`${indent}${s.padEnd(24)}${ms(times[s]).padStart(12)} ms ${pct(times[s], total).padStart(7)} %`);
    const reasons = Object.entries(times.byReason).filter(([k]) => k.startsWith(s + ':')).sort((a, b) => b[1] - a[1]);
    if (reasons.length > 1 || (reasons.length === 1 && s !== 'running')) {
      for (const [k, v] of reasons) out.push(`${indent}  ${k.slice(s.length + 1).padEnd(22)}${ms(v).padStart(12)} ms ${pct(v, total).padStart(7)} %`);
    }
  }
  return out;
}

function callLines(calls: CallStat[], indent: string): string[] {
  if (!calls.length) return [];
  const out = [`${indent}hypercalls              nr     count    total(us)   avg(us)`];
  for (const c of calls) out.push(`${indent}  ${c.name.padEnd(22)}${String(c.nr).padStart(3)}${String(c.count).padStart(10)}${usec(c.ns).padStart(13)}${usec(c.ns / c.count).padStart(10)}`);
  return out;
}

function exitLines(exits: ExitStat[], indent: string): string[] {
  if (!exits.length) return [];
  const out = [`${indent}exits                                    count    total(us)   avg(us)`];
  for (const e of exits) out.push(`${indent}  ${(e.kind === 'hvm_exit' ? 'vmexit ' : '') + e.name}`.padEnd(indent.length + 35) + String(e.count).padStart(10) + usec(e.ns).padStart(13) + usec(e.ns / e.count).padStart(10));
  return out;
}

function latLine(l: Latency, indent: string): string[] {
  if (!l.count) return [];
  return [`${indent}wake-to-run (us)   n=${l.count}  p50 ${usec(l.p50)}  p90 ${usec(l.p90)}  p99 ${usec(l.p99)}  max ${usec(l.max)}`];
}

export function formatSummary(s: TraceSummary): string {
  const out: string[] = [];
  out.push(`trace: ${ms(s.start)}-${ms(s.end)} ms of virtual time, ${s.pcpus} pCPU(s), ${s.domains.length} domain(s)` + (s.dropped ? `; ${s.dropped} earlier records dropped (states before the window: before-window)` : ''));
  for (const d of s.domains) {
    out.push('');
    const total = d.vcpus.reduce((a, v) => a + v.total, 0);
    out.push(`Domain d${d.domid} ${d.name} (${d.vcpus.length === 1 ? `vCPU ${d.vcpus[0]!.name}` : `${d.vcpus.length} vCPUs`})`);
    out.push(...timesLines(d.times, total, '  '));
    out.push(...callLines(d.hypercalls, '  '));
    out.push(...exitLines(d.exits, '  '));
    out.push(...latLine(d.wakeToRun, '  '));
    if (d.vcpus.length > 1) {
      for (const v of d.vcpus) {
        out.push(`  vCPU ${v.name}`);
        out.push(...timesLines(v.times, v.total, '    '));
        out.push(...callLines(v.hypercalls, '    '));
        out.push(...exitLines(v.exits, '    '));
        out.push(...latLine(v.wakeToRun, '    '));
      }
    }
  }
  return out.join('\n');
}

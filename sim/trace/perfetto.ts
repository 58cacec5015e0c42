// The trace model (model.ts) as Chrome trace-event JSON, the format ui.perfetto.dev and
// chrome://tracing open. Layout (docs/trace.md):
// - process "Xen": one thread per pCPU ("pCPU 0"), a slice per vCPU run ("d1v0"), and a
//   counter per pCPU ("pCPU 0 runq": vCPUs waiting in its runqueue);
// - one process per domain ("d1 alice"): one thread per vCPU ("d1v0") with its run-state
//   slices (running, runnable, blocked, offline; args.reason says why), hypercall slices
//   nested in the running ones, exits and upcalls as instants; counters "d1v0 credit" and
//   "ring d1 p3 blkif occupancy" (requests published and not yet answered);
// - process "d0 dom0", thread "d0 backends": dom0's notifications (it runs on no traced vCPU);
// - flows ("s"/"f", bound to enclosing slices): an event-channel send to the receiving vCPU's
//   next run (its upcall handler), and a ring request from where it was published to the
//   backend's response.

import { vcpuName, type FlowEnd, type TraceModel } from './model.ts';

export const XEN_PID = 1;
const PCPU_TID_BASE = 1_000;
const DOMAIN_PID_BASE = 100_000;
const VCPU_TID_BASE = 1_000_000;
const DOM0_BACKENDS_TID = 999_999;
/** Length given to a dom0 notification's slice, so a flow has something to bind to, strictly inside it (ns). */
const DOM0_SLICE_NS = 2;

export const domainPid = (domid: number): number => DOMAIN_PID_BASE + domid;
export const vcpuTid = (domid: number, vcpu: number): number => VCPU_TID_BASE + domid * 1024 + vcpu;
export const pcpuTid = (pcpu: number): number => PCPU_TID_BASE + pcpu;

/** One trace event as the JSON format has it. */
export interface ChromeEvent {
  name: string;
  ph: string;
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  id?: number;
  bp?: string;
  s?: string;
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ns';
  /** What the run was (Perfetto ignores it; `pvsim trace summary` reads it). */
  metadata: { pvsim: { start: number; end: number; dropped: number; domains: Record<string, string> } };
}

/**
 * µs for the JSON from ns, whole ns first: Perfetto rounds ts and dur to ns separately, so
 * slices that meet in pvsim meet there too (no 1 ns overlap pushing one off its track).
 */
const us = (ns: number) => Math.round(ns) / 1000;
const durUs = (start: number, end: number) => (Math.round(end) - Math.round(start)) / 1000;

export function toChromeTrace(m: TraceModel): ChromeTrace {
  const meta: ChromeEvent[] = [];
  const ev: ChromeEvent[] = [];
  meta.push({ name: 'process_name', ph: 'M', pid: XEN_PID, args: { name: 'Xen' } });
  meta.push({ name: 'process_sort_index', ph: 'M', pid: XEN_PID, args: { sort_index: 0 } });
  for (const p of m.pcpus) {
    meta.push({ name: 'thread_name', ph: 'M', pid: XEN_PID, tid: pcpuTid(p), args: { name: `pCPU ${p}` } });
    meta.push({ name: 'thread_sort_index', ph: 'M', pid: XEN_PID, tid: pcpuTid(p), args: { sort_index: p } });
  }
  const doms = new Set<number>([...m.vcpus.map((v) => v.domid)]);
  const hasDom0Track = m.dom0Sends.length > 0 || m.flows.some((f) => f.from.kind === 'dom0' || f.to.kind === 'dom0');
  if (hasDom0Track) doms.add(0);
  for (const d of [...doms].sort((a, b) => a - b)) {
    const name = m.domains.get(d) ?? `d${d}`;
    meta.push({ name: 'process_name', ph: 'M', pid: domainPid(d), args: { name: d === 0 ? 'd0 dom0' : `d${d} ${name}` } });
    meta.push({ name: 'process_sort_index', ph: 'M', pid: domainPid(d), args: { sort_index: d + 1 } });
  }
  if (hasDom0Track) meta.push({ name: 'thread_name', ph: 'M', pid: domainPid(0), tid: DOM0_BACKENDS_TID, args: { name: 'd0 backends' } });
  for (const v of m.vcpus) {
    meta.push({ name: 'thread_name', ph: 'M', pid: domainPid(v.domid), tid: vcpuTid(v.domid, v.vcpu), args: { name: vcpuName(v.domid, v.vcpu) } });
    meta.push({ name: 'thread_sort_index', ph: 'M', pid: domainPid(v.domid), tid: vcpuTid(v.domid, v.vcpu), args: { sort_index: v.vcpu } });
  }

  for (const r of m.pcpuRuns) {
    ev.push({ name: vcpuName(r.domid, r.vcpu), cat: 'pcpu', ph: 'X', pid: XEN_PID, tid: pcpuTid(r.pcpu), ts: us(r.start), dur: durUs(r.start, r.end), args: { domid: r.domid, vcpu: r.vcpu } });
  }
  for (const s of m.runs) {
    ev.push({
      name: s.reason ? `${s.state} (${s.reason})` : s.state,
      cat: 'runstate',
      ph: 'X',
      pid: domainPid(s.domid),
      tid: vcpuTid(s.domid, s.vcpu),
      ts: us(s.start),
      dur: durUs(s.start, s.end),
      args: s.pcpu === undefined ? { state: s.state, reason: s.reason } : { state: s.state, reason: s.reason, pcpu: s.pcpu },
    });
  }
  for (const c of m.calls) {
    ev.push({ name: c.name, cat: 'hypercall', ph: 'X', pid: domainPid(c.domid), tid: vcpuTid(c.domid, c.vcpu), ts: us(c.start), dur: durUs(c.start, c.end), args: { nr: c.nr } });
  }
  for (const e of m.exits) {
    ev.push({ name: e.name, cat: 'exit', ph: 'i', s: 't', pid: domainPid(e.domid), tid: vcpuTid(e.domid, e.vcpu), ts: us(e.time), args: e.ns === undefined ? { kind: e.kind, cause: e.cause } : { kind: e.kind, cause: e.cause, ns: e.ns } });
  }
  for (const u of m.upcalls) {
    ev.push({ name: 'upcall', cat: 'evtchn', ph: 'i', s: 't', pid: domainPid(u.domid), tid: vcpuTid(u.domid, u.vcpu), ts: us(u.time), args: { port: u.port } });
  }

  // dom0's track: a short slice at each of its notifications and each flow end it holds,
  // laid end to end so none overlaps.
  const dom0Times = [...m.dom0Sends.map((s) => s.time), ...m.flows.flatMap((f) => [f.from, f.to]).filter((e) => e.kind === 'dom0').map((e) => e.time)].sort((a, b) => a - b);
  const dom0Slice = new Map<number, number>();
  let lastEnd = -Infinity;
  for (const t of dom0Times) {
    if (dom0Slice.has(t)) continue;
    const start = Math.max(Math.round(t), lastEnd);
    dom0Slice.set(t, start);
    lastEnd = start + DOM0_SLICE_NS;
  }
  const sendsAt = new Map<number, string[]>();
  for (const s of m.dom0Sends) {
    const l = sendsAt.get(s.time) ?? [];
    l.push(`d${s.domid}:${s.port}`);
    sendsAt.set(s.time, l);
  }
  for (const [t, start] of dom0Slice) {
    const to = sendsAt.get(t);
    ev.push({ name: to ? `notify ${to.join(' ')}` : 'backend', cat: 'dom0', ph: 'X', pid: domainPid(0), tid: DOM0_BACKENDS_TID, ts: us(start), dur: DOM0_SLICE_NS / 1000 });
  }

  // Flow ends bind to the slice enclosing them; a receiving vCPU's end moves to its next run
  // (where its upcall handler runs), a dom0 end into its slice.
  const running = new Map<string, { start: number; end: number }[]>();
  for (const s of m.runs) {
    if (s.state !== 'running') continue;
    const k = vcpuName(s.domid, s.vcpu);
    const l = running.get(k) ?? [];
    l.push({ start: s.start, end: s.end });
    running.set(k, l);
  }
  for (const l of running.values()) l.sort((a, b) => a.start - b.start);
  const place = (e: FlowEnd, receiving: boolean): { pid: number; tid: number; ts: number } | null => {
    if (e.kind === 'dom0') {
      const s = dom0Slice.get(e.time);
      if (s === undefined) return null;
      return { pid: domainPid(0), tid: DOM0_BACKENDS_TID, ts: us(s + 1) };
    }
    const pid = domainPid(e.domid);
    const tid = vcpuTid(e.domid, e.vcpu);
    if (!receiving) return { pid, tid, ts: us(e.time) };
    const l = running.get(vcpuName(e.domid, e.vcpu)) ?? [];
    // The first run ending after the event (runs are in time order and do not overlap).
    let lo = 0;
    let hi = l.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (l[mid]!.end > e.time) hi = mid;
      else lo = mid + 1;
    }
    const r = l[lo];
    if (!r) return null;
    // Strictly inside the run, so "enclosing" is not left to how a viewer treats a boundary.
    const t = r.start >= e.time ? Math.round(r.start) + (Math.round(r.end) - Math.round(r.start) >= 2 ? 1 : 0) : e.time;
    return { pid, tid, ts: us(t) };
  };
  for (const f of m.flows) {
    const a = place(f.from, false);
    const b = place(f.to, true);
    if (!a || !b || b.ts < a.ts) continue;
    ev.push({ name: f.name, cat: f.cat, ph: 's', id: f.id, pid: a.pid, tid: a.tid, ts: a.ts });
    ev.push({ name: f.name, cat: f.cat, ph: 'f', bp: 'e', id: f.id, pid: b.pid, tid: b.tid, ts: b.ts });
  }

  // Perfetto names a JSON counter's track "<event name> <arg key>": "pCPU 0 runq".
  for (const c of m.counters.values()) {
    const pid = c.owner === 'xen' ? XEN_PID : domainPid(c.owner);
    const samples = [...c.samples].sort((a, b) => a.time - b.time);
    for (const s of samples) ev.push({ name: c.subject, cat: 'counter', ph: 'C', pid, ts: us(s.time), args: { [c.metric]: s.value } });
  }

  // Time order; at one instant parents (longer) before children.
  ev.sort((a, b) => a.ts! - b.ts! || (b.dur ?? 0) - (a.dur ?? 0));
  const domains: Record<string, string> = {};
  for (const [d, n] of m.domains) domains[String(d)] = n;
  return { traceEvents: [...meta, ...ev], displayTimeUnit: 'ns', metadata: { pvsim: { start: m.start, end: m.end, dropped: m.dropped, domains } } };
}

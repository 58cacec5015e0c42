// The per-domain table `pvsim run` prints, xentop-like, and its JSON twin.

import { formatDuration } from './duration.ts';
import type { DomainReport, ScenarioResult } from './runner.ts';
import type { RunMetrics } from './metrics.ts';
import type { SchedulerName } from '../../hypervisor/sched/options.ts';

/** The JSON report (`pvsim run --json`); the HTML page (html.ts) is made from it. */
export interface RunReportJson {
  name: string;
  pcpus: number;
  scheduler: SchedulerName;
  seed: number;
  until_ns: number;
  pools: { name: string; scheduler: string; cpus: number[] }[];
  domains: Omit<DomainReport, 'console'>[];
  metrics: RunMetrics;
  trace_hash: string;
}

const pct = (x: number) => (100 * x).toFixed(1);
/** A latency in us with one decimal ('-' when nothing woke). */
const us = (ns: number, wakeups: number) => (wakeups ? (ns / 1e3).toFixed(1) : '-');

export function formatReport(r: ScenarioResult): string {
  // Under RTDS, the periods each domain's vCPUs missed (docs/scheduling.md).
  const rt = r.scheduler === 'rtds' || r.pools.some((p) => p.scheduler === 'rtds');
  const head = ['domid', 'name', 'vcpus', 'weight', 'cap', 'state', 'cpu(s)', 'cpu%', 'run%', 'wait%', 'blk%', 'off%', 'hypercalls', 'events', 'traps', 'wakes', 'p50(us)', 'p99(us)', 'max(us)', ...(rt ? ['misses'] : [])];
  const rows = r.domains.map((d) => {
    const total = d.runstate.reduce((a, b) => a + b, 0) || 1;
    return [
      String(d.domid),
      d.name,
      String(d.vcpus),
      String(d.weight),
      String(d.cap),
      d.state,
      (d.cpuNs / 1e9).toFixed(3),
      pct(d.cpuShare),
      pct(d.runstate[0] / total),
      pct(d.runstate[1] / total),
      pct(d.runstate[2] / total),
      pct(d.runstate[3] / total),
      String(d.hypercalls),
      String(d.events),
      String(d.traps),
      String(d.latency.wakeups),
      us(d.latency.p50Ns, d.latency.wakeups),
      us(d.latency.p99Ns, d.latency.wakeups),
      us(d.latency.maxNs, d.latency.wakeups),
      ...(rt ? [String(d.deadlineMisses)] : []),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `scenario ${r.name}: ${r.domains.length} domains, ${r.pcpus} pCPU(s), scheduler ${r.scheduler}, seed ${r.seed}, ${formatDuration(r.until)} virtual`,
    // With cpupools: each pool's scheduler and pCPUs, and its domains by name.
    ...(r.pools.length > 1 ? [`cpupools: ${r.pools.map((p) => `${p.name} (${p.scheduler}, pCPUs ${p.cpus.join(',')}: ${r.domains.filter((d) => d.pool === p.name).length} domains)`).join('; ')}`] : []),
    line(head),
    ...rows.map(line),
    // HVM domains: exits by reason (the counts; virtual ns in the JSON report).
    ...r.domains.filter((d) => d.hvm).map((d) => `hvm d${d.domid} ${d.name} (${d.hvm!.mode}, shadow ${d.hvm!.shadow_sync}): ` + Object.entries(d.hvm!.exits).map(([k, n]) => `${k}=${n}`).join(' ')),
    ...faultLines(r),
    ...metricsSummary(r),
    `trace-hash: ${r.traceHash}`,
  ].join('\n');
}

/** Per faulted domain: injections per device and kind, then any ring left without progress. */
function faultLines(r: ScenarioResult): string[] {
  const out: string[] = [];
  for (const d of r.domains) {
    if (!d.faults) continue;
    const per = Object.entries(d.faults.injected).map(([dev, kinds]) => `${dev} ${Object.entries(kinds).map(([k, n]) => `${k}=${n}`).join(' ')}`);
    out.push(`faults d${d.domid} ${d.name}: ${per.join('; ')}`);
    for (const s of d.faults.stuck) out.push(`faults d${d.domid} ${d.name}: ${s}`);
  }
  return out;
}

/** The metrics under the table: fairness per weight, latency per group, pCPU utilisation. */
function metricsSummary(r: ScenarioResult): string[] {
  const m = r.metrics;
  const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
  const fair = (f: (typeof m.fairness.byWeight)[number]) => `${f.key}: ${f.jain.toFixed(3)} (${f.domains}, ${pct(f.minShare)}-${pct(f.maxShare)} %)`;
  return [
    `fairness (Jain) by weight: ${m.fairness.byWeight.map(fair).join('; ')}`,
    `fairness (Jain) by group: ${m.fairness.byGroup.map(fair).join('; ')}`,
    `latency wake-to-run (us) by group: ${m.latencyByGroup.filter((g) => g.wakeups > 0).map((g) => `${g.group}: p50 ${us(g.p50Ns, 1)} p99 ${us(g.p99Ns, 1)} max ${us(g.maxNs, 1)} (${g.wakeups})`).join('; ') || 'no wake-ups'}`,
    `pCPU utilisation (%): ${m.pcpuUtilisation.map((u, c) => `${c}: ${pct(mean(u))}`).join(' ')} (samples of ${formatDuration(m.sampleIntervalNs)})` + (r.scheduler === 'rtds' ? `; deadline misses ${m.deadlineMisses}` : ''),
  ];
}

export function reportJson(r: ScenarioResult): RunReportJson {
  return {
    name: r.name,
    pcpus: r.pcpus,
    scheduler: r.scheduler,
    seed: r.seed,
    until_ns: r.until,
    pools: r.pools,
    domains: r.domains.map(({ console: _c, ...d }) => d),
    metrics: r.metrics,
    trace_hash: r.traceHash,
  };
}

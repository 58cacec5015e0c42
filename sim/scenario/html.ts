// `pvsim run --html FILE`: the scenario report as one self-contained HTML page, made with the
// report kit (sim/report_html/): CPU share over time per domain group, wake-to-run latency
// CDFs, fairness, pCPU utilisation, and the per-domain table. Built from the JSON report
// (reportJson), so the page shows exactly what `--json` gives. docs/scenarios.md.

import { cdfFromHistogram, renderHtmlReport, type Block, type HtmlReport } from '../report_html/index.ts';
import { formatDuration } from './duration.ts';
import type { RunReportJson } from './report.ts';

const pct = (x: number) => Math.round(1e4 * x) / 100;
const usOf = (ns: number) => Math.round(ns / 10) / 100;

/** Mean over a group's domains, per sample. */
function groupShares(r: RunReportJson): { group: string; weight: number; cap: number; count: number; shares: number[] }[] {
  const by = new Map<string, RunReportJson['domains']>();
  for (const d of r.domains) {
    const g = by.get(d.group);
    if (g) g.push(d);
    else by.set(d.group, [d]);
  }
  return [...by].map(([group, ds]) => ({
    group,
    weight: ds[0]!.weight,
    cap: ds[0]!.cap,
    count: ds.length,
    shares: Array.from({ length: r.metrics.samples }, (_, k) => ds.reduce((a, d) => a + (d.shareOverTime[k] ?? 0), 0) / ds.length),
  }));
}

/** The blocks of a run's charts (also used per run by other reports). */
export function runBlocks(r: RunReportJson): { heading: string; intro?: string; blocks: Block[] }[] {
  const m = r.metrics;
  const stepMs = m.sampleIntervalNs / 1e6;
  const time = (k: number) => Math.round((k + 1) * stepMs * 1000) / 1000;
  const groups = groupShares(r);
  const latency = m.latencyByGroup.filter((g) => g.wakeups > 0);
  return [
    {
      heading: 'CPU share over time',
      intro: `Each point is a sample of ${formatDuration(m.sampleIntervalNs)} of virtual time, drawn at its end: the running time of a group's domains in it, as a share of one pCPU, averaged over the group.`,
      blocks: [
        {
          kind: 'line',
          title: 'CPU share per domain group',
          xLabel: 'virtual time (ms)',
          yLabel: 'CPU share per domain (% of one pCPU)',
          unit: ' %',
          yMin: 0,
          stepped: true,
          series: groups.map((g) => ({ name: `${g.group} (${g.count} x, weight ${g.weight}${g.cap ? `, cap ${g.cap} %` : ''})`, points: g.shares.map((s, k) => [time(k), pct(s)] as [number, number]) })),
        },
        {
          kind: 'line',
          title: 'Utilisation per pCPU',
          xLabel: 'virtual time (ms)',
          yLabel: 'busy (%)',
          unit: ' %',
          yMin: 0,
          yMax: 100,
          stepped: true,
          series: m.pcpuUtilisation.map((u, c) => ({ name: `pCPU ${c}`, points: u.map((x, k) => [time(k), pct(x)] as [number, number]) })),
        },
      ],
    },
    {
      heading: 'Scheduling latency',
      intro: 'From a vCPU made runnable by an event or timer (blocked to runnable) to its running: one sample per wake-up. Percentiles are histogram bucket bounds (within 3 %).',
      blocks: [
        latency.length
          ? {
              kind: 'cdf',
              title: 'Wake-to-run latency per domain group',
              xLabel: 'wake to run (µs)',
              yLabel: 'wake-ups (%)',
              xLog: true,
              unit: ' µs',
              series: latency.map((g) => ({ name: `${g.group} (${g.wakeups} wake-ups)`, points: cdfFromHistogram(g.histogram.map((b) => ({ ns: Math.max(0.001, usOf(b.ns)), count: b.count }))) })),
            }
          : { kind: 'text', text: 'No domain woke from blocked in this run: there is no latency to show.' },
        {
          kind: 'table',
          title: 'Latency per domain group (µs)',
          columns: [{ label: 'group' }, { label: 'wake-ups', numeric: true }, { label: 'p50', numeric: true }, { label: 'p99', numeric: true }, { label: 'max', numeric: true }, { label: 'mean', numeric: true }],
          rows: m.latencyByGroup.map((g) => [g.group, g.wakeups, g.wakeups ? usOf(g.p50Ns) : null, g.wakeups ? usOf(g.p99Ns) : null, g.wakeups ? usOf(g.maxNs) : null, g.wakeups ? usOf(g.meanNs) : null]),
        },
      ],
    },
    {
      heading: 'Fairness',
      intro: "Jain's index of the domains' CPU shares over the run: 1 when domains of equal weight got equal shares, 1/n when one of n took everything.",
      blocks: [
        {
          kind: 'bar',
          title: "Jain's fairness index",
          xLabel: 'domains',
          yLabel: "Jain's index",
          valueMin: 0,
          valueMax: 1,
          categories: [...m.fairness.byGroup.map((f) => `group ${f.key}`), ...m.fairness.byWeight.map((f) => `weight ${f.key}`)],
          series: [{ name: 'index', values: [...m.fairness.byGroup.map((f) => f.jain), ...m.fairness.byWeight.map((f) => f.jain)] }],
        },
        {
          kind: 'table',
          title: 'Fairness',
          columns: [{ label: 'domains' }, { label: 'weight', numeric: true }, { label: 'count', numeric: true }, { label: 'Jain', numeric: true }, { label: 'mean share (%)', numeric: true }, { label: 'min (%)', numeric: true }, { label: 'max (%)', numeric: true }],
          rows: [...m.fairness.byGroup.map((f) => ({ ...f, label: `group ${f.key}` })), ...m.fairness.byWeight.map((f) => ({ ...f, label: `weight ${f.key}` }))].map((f) => [f.label, f.weight, f.domains, f.jain, pct(f.meanShare), pct(f.minShare), pct(f.maxShare)]),
        },
      ],
    },
  ];
}

/** A scenario's `faults`: injections per domain, device and kind; rings left without progress. */
function faultSection(r: RunReportJson): HtmlReport['sections'] {
  const rows: (string | number | null)[][] = [];
  for (const d of r.domains) {
    if (!d.faults) continue;
    for (const [dev, kinds] of Object.entries(d.faults.injected)) for (const [kind, n] of Object.entries(kinds)) rows.push([d.domid, d.name, dev, kind, n]);
    for (const s of d.faults.stuck) rows.push([d.domid, d.name, s.replace(/^no progress on (\S+).*$/, '$1'), s, null]);
  }
  if (rows.length === 0) return [];
  return [{
    heading: 'Faults',
    blocks: [{
      kind: 'table',
      columns: [{ label: 'domid' }, { label: 'name' }, { label: 'device' }, { label: 'kind' }, { label: 'injected', numeric: true }],
      rows,
    }],
  }];
}

export function renderRunHtml(r: RunReportJson, scenarioFile: string): string {
  const rt = r.scheduler === 'rtds' || r.pools.some((p) => p.scheduler === 'rtds');
  const report: HtmlReport = {
    title: `pvsim run: ${r.name}`,
    subtitle: `${r.domains.length} domains on ${r.pcpus} pCPU(s) under ${r.scheduler}, ${formatDuration(r.until_ns)} of virtual time`,
    meta: [
      ['scenario', scenarioFile],
      ['scheduler', r.scheduler],
      ['seed', String(r.seed)],
      ['sample interval', formatDuration(r.metrics.sampleIntervalNs)],
      ...(rt ? [['deadline misses', String(r.metrics.deadlineMisses)] as [string, string]] : []),
      ['trace hash', r.trace_hash],
    ],
    sections: [
      ...runBlocks(r),
      {
        heading: 'Domains',
        blocks: [
          {
            kind: 'table',
            collapsed: r.domains.length > 40,
            columns: [
              { label: 'domid' }, { label: 'name' }, { label: 'group' }, { label: 'weight', numeric: true }, { label: 'cap', numeric: true }, { label: 'cpu (%)', numeric: true },
              { label: 'wake-ups', numeric: true }, { label: 'p50 (µs)', numeric: true }, { label: 'p99 (µs)', numeric: true }, { label: 'max (µs)', numeric: true }, ...(rt ? [{ label: 'misses', numeric: true }] : []),
            ],
            rows: r.domains.map((d) => [
              d.domid, d.name, d.group, d.weight, d.cap, pct(d.cpuShare), d.latency.wakeups,
              d.latency.wakeups ? usOf(d.latency.p50Ns) : null, d.latency.wakeups ? usOf(d.latency.p99Ns) : null, d.latency.wakeups ? usOf(d.latency.maxNs) : null,
              ...(rt ? [d.deadlineMisses] : []),
            ]),
          },
        ],
      },
      ...faultSection(r),
    ],
  };
  return renderHtmlReport(report);
}

// The per-domain table `pvsim run` prints, xentop-like, and its JSON twin.

import { formatDuration } from './duration.ts';
import type { ScenarioResult } from './runner.ts';

const pct = (x: number) => (100 * x).toFixed(1);

export function formatReport(r: ScenarioResult): string {
  // Under RTDS, the periods each domain's vCPUs missed (docs/scheduling.md).
  const rt = r.scheduler === 'rtds';
  const head = ['domid', 'name', 'vcpus', 'weight', 'cap', 'state', 'cpu(s)', 'cpu%', 'run%', 'wait%', 'blk%', 'off%', 'hypercalls', 'events', 'traps', ...(rt ? ['misses'] : [])];
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
      ...(rt ? [String(d.deadlineMisses)] : []),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 || i === 5 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `scenario ${r.name}: ${r.domains.length} domains, ${r.pcpus} pCPU(s), scheduler ${r.scheduler}, seed ${r.seed}, ${formatDuration(r.until)} virtual`,
    line(head),
    ...rows.map(line),
    // HVM domains: exits by reason (the counts; virtual ns in the JSON report).
    ...r.domains.filter((d) => d.hvm).map((d) => `hvm d${d.domid} ${d.name} (${d.hvm!.mode}, shadow ${d.hvm!.shadow_sync}): ` + Object.entries(d.hvm!.exits).map(([k, n]) => `${k}=${n}`).join(' ')),
    `trace-hash: ${r.traceHash}`,
  ].join('\n');
}

export function reportJson(r: ScenarioResult): object {
  return {
    name: r.name,
    pcpus: r.pcpus,
    scheduler: r.scheduler,
    seed: r.seed,
    until_ns: r.until,
    domains: r.domains.map(({ console: _c, ...d }) => d),
    trace_hash: r.traceHash,
  };
}

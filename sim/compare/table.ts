// The terminal table of a comparison: one row per cell (workload × mode, with its I/O path,
// shadow policy and varied cost values), then the checksums and the orderings.

import type { CompareCell, CompareReport } from './types.ts';
import { checksumDisagreements } from './report.ts';
import { formatNs } from './format.ts';

export { formatNs };


function topExits(c: CompareCell, n = 3): string {
  return c.exits
    .slice(0, n)
    .map((e) => `${e.reason} ${Math.round(e.share * 100)}%`)
    .join(', ');
}

const ORDER_MARK = (o: { checked: boolean; holds: boolean }) => (!o.checked ? 'not checked' : o.holds ? 'holds' : 'DOES NOT HOLD');

/** Columns padded to their widest cell; `right` names the right-aligned ones; the last column is not padded. */
function columns(head: string[], rows: string[][], right: Set<string>): string[] {
  const last = head.length - 1;
  const widths = head.map((h, i) => (i === last ? 0 : Math.max(h.length, ...rows.map((row) => row[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === last ? c : right.has(head[i]!) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}

/** Per I/O request: the I/O workloads' cells that ran. */
function ioTable(r: CompareReport): string[] {
  const cells = r.cells.filter((c) => c.ok && c.ioStats);
  if (cells.length === 0) return [];
  const varied = r.varied.length > 0;
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const head = ['workload', 'mode', 'io', 'shadow', ...(varied ? ['cost'] : []), 'exits', 'notify', 'irqs', 'grant ops', 'bytes copied', 'dom0', 'p50', 'p99', 'throughput'];
  const rows = cells.map((c) => {
    const s = c.ioStats!;
    return [
      c.workload, c.mode, c.io ?? '-', c.shadow ?? '-', ...(varied ? [Object.entries(c.vary).map(([k, v]) => `${k}=${v}`).join(',')] : []),
      f(s.exitsPerRequest), f(s.notificationsPerRequest), f(s.interruptsPerRequest), f(s.grantOpsPerRequest), f(s.bytesCopiedPerRequest),
      formatNs(s.dom0NsPerRequest), formatNs(s.latencyP50Ns), formatNs(s.latencyP99Ns), `${f(s.throughput)} ${s.throughputUnit}`,
    ];
  });
  return ['', 'per I/O request (latency: blk submit to completion, net ping round trip, as the guest measured them):', ...columns(head, rows, new Set(['exits', 'notify', 'irqs', 'grant ops', 'bytes copied', 'dom0', 'p50', 'p99']))];
}

export function formatCompareTable(r: CompareReport): string {
  const varied = r.varied.length > 0;
  const head = ['workload', 'mode', 'io', 'shadow', ...(varied ? ['cost'] : []), 'virtual time', 'slowdown', 'exits/op', 'top exit reasons'];
  const rows = r.cells.map((c) => [
    c.workload,
    c.mode,
    c.io ?? '-',
    c.shadow ?? '-',
    ...(varied ? [Object.entries(c.vary).map(([k, v]) => `${k}=${v}`).join(',')] : []),
    c.ok ? formatNs(c.virtualNs) : 'n/a',
    c.ok && c.slowdown !== null ? `${c.slowdown.toFixed(2)}×` : '-',
    c.ok && c.exitsPerOp !== undefined ? c.exitsPerOp.toFixed(2) : '-',
    c.ok ? topExits(c) || '(none)' : `error: ${c.error ?? 'failed'}`,
  ]);
  const out = [`pvsim compare: ${r.cells.length} runs, seed ${r.seed}, virtual time of each workload's measured section; slowdown against native`, ...columns(head, rows, new Set(['virtual time', 'slowdown', 'exits/op'])), ...ioTable(r)];
  const bad = checksumDisagreements(r);
  out.push('', bad.length === 0 ? 'checksums: every workload printed the same checksum in every mode that ran' : `checksums DIFFER: ${bad.map((b) => `${b.workload}: ${b.values.join(' vs ')}`).join('; ')}`);
  out.push('', 'orderings (docs/compare.md):');
  // Claims about workloads this run did not include are folded into one line.
  const absent = r.orderings.filter((o) => / not in this run$/.test(o.detail) && /workload \S+ not in this run/.test(o.detail));
  const shown = r.orderings.filter((o) => !absent.includes(o));
  const mw = Math.max(0, ...shown.map((o) => ORDER_MARK(o).length));
  for (const o of shown) out.push(`  ${ORDER_MARK(o).padEnd(mw)}  ${o.claim}`, `  ${''.padEnd(mw)}    ${o.detail}`);
  if (absent.length) {
    const ws = [...new Set(absent.map((o) => /workload (\S+) not in this run/.exec(o.detail)![1]!))];
    out.push(`  (${absent.length} more need workloads not in this run: ${ws.join(', ')})`);
  }
  return out.join('\n') + '\n';
}

// `pvsim compare --html`: the compare report as one self-contained HTML page (sim/report_html/).
// Charts: slowdown per workload and mode, where virtual time went, exits per run and their
// reasons, exits per I/O request and latency distributions, and slowdown against each varied
// cost key; tables: the literature's orderings with holds or not, and every figure. Runs that
// failed are listed, never silently dropped. Every string from the report (workload names,
// result fields, exit reasons, errors) is data to the page, never markup.

import { cdfFromHistogram, renderHtmlReport, type Block, type ChartSpec, type Dash, type HtmlReport, type TableCell } from '../report_html/index.ts';
import type { CompareCell, CompareReport } from './types.ts';

/** A colour per mode, the same in every chart (shadow variants of hvm-trap in two reds). */
const MODE_COLOUR: Record<string, string> = {
  native: '#7f7f7f',
  pv: '#59a14f',
  'hvm-trap': '#e15759',
  'hvm-trap (wp)': '#e15759',
  'hvm-trap (lazy)': '#b07aa1',
  'hvm-hw': '#4e79a7',
};
/** In latency charts the colour is the mode and the line style the I/O path. */
const IO_DASH: Record<string, Dash> = { pv: 'solid', virtio: 'dashed', legacy: 'dotted', pvhvm: 'dashdot' };
const TIME_PARTS = [
  ['guestUser', 'guest user', '#59a14f'],
  ['guestKernel', 'guest kernel', '#8cd17d'],
  ['hypervisor', 'hypervisor', '#e15759'],
  ['dom0', 'dom0', '#f28e2b'],
  ['idle', 'idle', '#bab0ac'],
] as const;

/** The mode a cell ran in, with its shadow policy under trap-and-emulate. */
export const variantOf = (c: CompareCell): string => (c.shadow ? `${c.mode} (${c.shadow})` : c.mode);
/** What a cell measured: the workload, and its I/O path for I/O workloads. */
export const caseOf = (c: CompareCell): string => (c.io ? `${c.workload} · ${c.io}` : c.workload);

// Deterministic number formatting (no locale): the same report gives the same bytes.
function group(n: number): string {
  const [i, f] = Math.abs(n).toString().split('.');
  return `${n < 0 ? '-' : ''}${i!.replace(/\B(?=(\d{3})+(?!\d))/g, ',')}${f ? `.${f}` : ''}`;
}
const sig = (n: number, d = 3) => Number(n.toPrecision(d));
export function fmtCount(n: number): string {
  return Number.isFinite(n) ? group(Math.round(n)) : '–';
}
export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return '–';
  return Math.abs(n) >= 1000 ? group(Math.round(n)) : String(sig(n));
}
export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '–';
  const a = Math.abs(ns);
  if (a < 1e3) return `${sig(ns)} ns`;
  if (a < 1e6) return `${sig(ns / 1e3)} µs`;
  if (a < 1e9) return `${sig(ns / 1e6)} ms`;
  return `${sig(ns / 1e9)} s`;
}
const fmtX = (x: number | null) => (x === null || !Number.isFinite(x) ? '–' : `×${sig(x)}`);
const pct = (x: number) => (Number.isFinite(x) ? `${sig(x * 100)} %` : '–');
const varyText = (v: Record<string, number>) => Object.entries(v).map(([k, x]) => `${k}=${x}`).join(', ');

function uniq<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/** The cost model's default for a varied key (`--vary cost.KEY=...` names it with or without `cost.`). */
function defaultOf(report: CompareReport, key: string): number | undefined {
  return report.costModel[key] ?? report.costModel[key.replace(/^cost\./, '')];
}

/**
 * The cells run with the cost model as given: those with nothing varied; when every cell
 * varies something (a sweep without a baseline run), those whose varied keys sit at the cost
 * model's default or, failing that, at their first value.
 */
export function baseCells(report: CompareReport): CompareCell[] {
  const plain = report.cells.filter((c) => Object.keys(c.vary).length === 0);
  if (plain.length > 0 || report.cells.length === 0) return plain;
  const atDefault = report.cells.filter((c) => Object.entries(c.vary).every(([k, v]) => v === defaultOf(report, k)));
  if (atDefault.length > 0) return atDefault;
  return report.cells.filter((c) => report.varied.every((vk) => c.vary[vk.key] === undefined || c.vary[vk.key] === vk.values[0]));
}

/** Order of cases and variants: the report's own order of workloads, I/O paths, modes, shadows. */
function orderCells(report: CompareReport, cells: CompareCell[]): CompareCell[] {
  const idx = (xs: readonly (string | null)[], x: string | null) => (x === null ? -1 : xs.indexOf(x) === -1 ? xs.length : xs.indexOf(x));
  return [...cells].sort(
    (a, b) =>
      idx(report.workloads, a.workload) - idx(report.workloads, b.workload) ||
      (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : 0) ||
      idx(report.ioPaths, a.io) - idx(report.ioPaths, b.io) ||
      idx(report.modes, a.mode) - idx(report.modes, b.mode) ||
      idx(report.shadows, a.shadow) - idx(report.shadows, b.shadow),
  );
}

const geomean = (xs: number[]) => (xs.length === 0 ? null : Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length));

/** Workloads whose ok runs printed more than one checksum. */
function checksumMismatches(cells: CompareCell[]): Set<string> {
  const seen = new Map<string, Set<string>>();
  for (const c of cells) if (c.ok) (seen.get(c.workload) ?? seen.set(c.workload, new Set()).get(c.workload)!).add(c.checksum);
  return new Set([...seen].filter(([, s]) => s.size > 1).map(([w]) => w));
}

function slowdownSection(report: CompareReport, base: CompareCell[]): Block[] {
  const cases = uniq(base.map(caseOf));
  const variants = uniq(base.filter((c) => c.mode !== 'native').map(variantOf));
  const at = (cs: string, v: string) => base.find((c) => caseOf(c) === cs && variantOf(c) === v);
  // A case with no slowdown at all (no native run on its I/O path) has no bar: the table lists it.
  const drawn = cases.filter((cs) => variants.some((v) => (at(cs, v)?.slowdown ?? null) !== null));
  const series = variants.map((v) => ({ name: v, colour: MODE_COLOUR[v], values: drawn.map((cs) => at(cs, v)?.slowdown ?? null) }));
  const all = series.flatMap((s) => s.values).filter((x): x is number => x !== null && x > 0);
  const spread = all.length ? Math.max(...all) / Math.min(...all) : 1;
  const blocks: Block[] = [];
  if (variants.length > 0 && drawn.length > 0) {
    const left = cases.length - drawn.length;
    blocks.push({
      kind: 'bar',
      title: 'Slowdown against native, per workload and mode',
      caption: `Virtual time of each run divided by the same workload's time bare on the board, on the same I/O path (1 = as fast as native; no bar: no native run or the run failed).${left > 0 ? ` ${left} case(s) with no native run to compare with are only in the table.` : ''}${spread > 30 ? ' Logarithmic scale.' : ''}`,
      xLabel: 'workload · I/O path',
      yLabel: 'slowdown (× native virtual time)',
      categories: drawn,
      series,
      horizontal: drawn.length > 8,
      logValues: spread > 30,
      unit: '×',
    });
  }
  blocks.push({
    kind: 'table',
    title: 'Virtual time and slowdown',
    columns: [{ label: 'workload · I/O path' }, ...uniq(base.map(variantOf)).map((v) => ({ label: v, numeric: true }))],
    rows: cases.map((cs) => [
      cs,
      ...uniq(base.map(variantOf)).map((v) => {
        const c = at(cs, v);
        if (!c) return null;
        if (!c.ok) return 'failed';
        return c.mode === 'native' ? fmtNs(c.virtualNs) : `${fmtNs(c.virtualNs)} (${fmtX(c.slowdown)})`;
      }),
    ]),
  });
  return blocks;
}

function timeSection(base: CompareCell[]): Block[] {
  const cells = base.filter((c) => c.ok);
  const label = (c: CompareCell) => `${caseOf(c)} — ${variantOf(c)}`;
  const total = (c: CompareCell) => TIME_PARTS.reduce((s, [k]) => s + c.timeNs[k], 0);
  if (cells.length === 0) return [{ kind: 'text', text: 'No run succeeded: nothing to break down.' }];
  return [
    {
      kind: 'bar',
      title: 'Where virtual time went',
      caption: 'Share of each run’s virtual time spent in guest user mode, the guest kernel, the hypervisor, dom0 (device backends, the device model) and idle. Absolute times in the table below.',
      xLabel: 'workload · I/O path — mode',
      yLabel: 'share of virtual time (%)',
      categories: cells.map(label),
      series: TIME_PARTS.map(([k, name, colour]) => ({ name, colour, stack: 'time', values: cells.map((c) => (total(c) > 0 ? (100 * c.timeNs[k]) / total(c) : null)) })),
      stacked: true,
      horizontal: true,
      valueMax: 100,
      unit: ' %',
    },
    {
      kind: 'table',
      title: 'Virtual time and instructions by where they ran',
      collapsed: true,
      columns: [
        { label: 'workload · I/O path' },
        { label: 'mode' },
        ...TIME_PARTS.map(([, name]) => ({ label: `${name} time`, numeric: true })),
        { label: 'guest user insns', numeric: true },
        { label: 'guest kernel insns', numeric: true },
        { label: 'hypervisor insns', numeric: true },
        { label: 'dom0 insns', numeric: true },
      ],
      rows: cells.map((c) => [
        caseOf(c),
        variantOf(c),
        ...TIME_PARTS.map(([k]) => fmtNs(c.timeNs[k])),
        fmtCount(c.instructions.guestUser),
        fmtCount(c.instructions.guestKernel),
        fmtCount(c.instructions.hypervisor),
        fmtCount(c.instructions.dom0),
      ]),
    },
  ];
}

function exitSection(base: CompareCell[]): Block[] {
  const cells = base.filter((c) => c.ok && c.mode !== 'native');
  const cases = uniq(cells.map(caseOf));
  const variants = uniq(cells.map(variantOf));
  const exitsOf = (c: CompareCell) => c.exits.reduce((s, e) => s + e.count, 0);
  const withExits = cells.filter((c) => exitsOf(c) > 0);
  const reasons = uniq(withExits.flatMap((c) => c.exits.map((e) => e.reason)));
  const reasonTotal = (r: string) => withExits.reduce((s, c) => s + (c.exits.find((e) => e.reason === r)?.count ?? 0), 0);
  reasons.sort((a, b) => reasonTotal(b) - reasonTotal(a) || (a < b ? -1 : 1));
  const blocks: Block[] = [];
  if (cells.length > 0) {
    blocks.push({
      kind: 'bar',
      title: 'Exits to the hypervisor per run',
      caption: 'All exits of each run (for PV: traps and hypercalls into the hypervisor), on a logarithmic scale.',
      xLabel: 'workload · I/O path',
      yLabel: 'exits per run (count)',
      categories: cases,
      series: variants.map((v) => ({ name: v, colour: MODE_COLOUR[v], values: cases.map((cs) => { const c = cells.find((x) => caseOf(x) === cs && variantOf(x) === v); return c ? exitsOf(c) : null; }) })),
      horizontal: cases.length > 8,
      logValues: true,
    });
  }
  if (withExits.length > 0) {
    blocks.push({
      kind: 'bar',
      title: 'Exits by reason',
      caption: 'Each run’s exits split by reason, as shares of its exits (the label gives the total). Per-reason counts and times: the perf kvm stat tables below.',
      xLabel: 'workload · I/O path — mode (exits)',
      yLabel: 'share of the run’s exits (%)',
      categories: withExits.map((c) => `${caseOf(c)} — ${variantOf(c)} (${fmtCount(exitsOf(c))})`),
      series: reasons.map((r) => ({ name: r, stack: 'exits', values: withExits.map((c) => (100 * (c.exits.find((e) => e.reason === r)?.count ?? 0)) / exitsOf(c)) })),
      stacked: true,
      horizontal: true,
      valueMax: 100,
      unit: ' %',
    });
  }
  for (const c of withExits) {
    blocks.push({
      kind: 'table',
      title: `perf kvm stat: ${caseOf(c)} — ${variantOf(c)}`,
      collapsed: true,
      columns: [{ label: 'reason' }, { label: 'samples', numeric: true }, { label: 'samples %', numeric: true }, { label: 'time %', numeric: true }, { label: 'min', numeric: true }, { label: 'avg', numeric: true }, { label: 'max', numeric: true }],
      rows: c.exits.map((e) => [e.reason, fmtCount(e.count), pct(e.share), pct(e.timeShare), fmtNs(e.minNs), fmtNs(e.avgNs), fmtNs(e.maxNs)]),
    });
  }
  const illegal = cells.filter((c) => c.illegalInsn.length > 0);
  if (illegal.length > 0) {
    blocks.push({
      kind: 'table',
      title: 'Illegal-instruction exits by the instruction emulated',
      collapsed: true,
      columns: [{ label: 'workload · I/O path' }, { label: 'mode' }, { label: 'instruction' }, { label: 'count', numeric: true }],
      rows: illegal.flatMap((c) => c.illegalInsn.map((i): TableCell[] => [caseOf(c), variantOf(c), i.insn, fmtCount(i.count)])),
    });
  }
  const hc = cells.filter((c) => c.hypercalls.length > 0);
  if (hc.length > 0) {
    blocks.push({
      kind: 'table',
      title: 'Hypercalls by number',
      collapsed: true,
      columns: [{ label: 'workload · I/O path' }, { label: 'mode' }, { label: 'nr', numeric: true }, { label: 'hypercall' }, { label: 'count', numeric: true }],
      rows: hc.flatMap((c) => c.hypercalls.map((h): TableCell[] => [caseOf(c), variantOf(c), h.nr, h.name, fmtCount(h.count)])),
    });
  }
  return blocks;
}

function mmuSection(base: CompareCell[]): Block[] {
  const cells = base.filter((c) => c.ok);
  const flushCauses = uniq(cells.flatMap((c) => Object.keys(c.mmu.shadowFlushes)));
  return [
    {
      kind: 'table',
      title: 'Memory management: page walks, TLB misses, shadow paging, PV mmu_update batching',
      collapsed: true,
      columns: [
        { label: 'workload · I/O path' },
        { label: 'mode' },
        { label: 'page walks', numeric: true },
        { label: 'refs per walk', numeric: true },
        { label: 'TLB misses', numeric: true },
        { label: 'shadow fills', numeric: true },
        ...flushCauses.map((f) => ({ label: `flushes: ${f}`, numeric: true })),
        { label: 'WP faults', numeric: true },
        { label: 'mmu_update calls', numeric: true },
        { label: 'PTEs per call', numeric: true },
      ],
      rows: cells.map((c) => [
        caseOf(c),
        variantOf(c),
        fmtCount(c.mmu.pageWalks),
        fmtNum(c.mmu.refsPerWalk),
        fmtCount(c.mmu.tlbMisses),
        fmtCount(c.mmu.shadowFills),
        ...flushCauses.map((f) => fmtCount(c.mmu.shadowFlushes[f] ?? 0)),
        fmtCount(c.mmu.wpFaults),
        fmtCount(c.mmu.mmuUpdateCalls),
        fmtNum(c.mmu.ptesPerMmuUpdate),
      ]),
    },
  ];
}

function ioSection(base: CompareCell[]): Block[] {
  const cells = base.filter((c) => c.ok && c.ioStats !== undefined);
  if (cells.length === 0) return [];
  const cases = uniq(cells.map(caseOf));
  const variants = uniq(cells.map(variantOf));
  const blocks: Block[] = [
    {
      kind: 'bar',
      title: 'Exits per I/O request',
      caption: 'Exits each request costs on each I/O path (logarithmic scale): batched PV split drivers and virtio need a few; the emulated legacy disk traps on every register access.',
      xLabel: 'workload · I/O path',
      yLabel: 'exits per request (count)',
      categories: cases,
      series: variants.map((v) => ({ name: v, colour: MODE_COLOUR[v], values: cases.map((cs) => cells.find((c) => caseOf(c) === cs && variantOf(c) === v)?.ioStats?.exitsPerRequest ?? null) })),
      horizontal: cases.length > 8,
      logValues: true,
    },
  ];
  for (const w of uniq(cells.map((c) => c.workload))) {
    const ws = cells.filter((c) => c.workload === w);
    const series = ws.map((c) => ({ name: `${variantOf(c)} · ${c.io ?? 'no I/O'}`, colour: MODE_COLOUR[variantOf(c)], dash: c.io ? IO_DASH[c.io] : undefined, points: cdfFromHistogram(c.ioStats!.latencyHistogram).map(([ns, p]): [number, number] => [ns / 1000, p]) })).filter((s) => s.points.length > 0);
    if (series.length === 0) continue;
    const xs = series.flatMap((s) => s.points.map((p) => p[0]));
    blocks.push({
      kind: 'cdf',
      title: `Request latency: ${w}`,
      caption: 'Cumulative distribution of request latency (virtual time) from each run’s latency histogram (each point is a bucket’s upper bound). Colour: the mode; line style: the I/O path (solid pv, dashed virtio, dotted legacy, dash-dot pvhvm).',
      xLabel: 'request latency (µs, virtual time)',
      yLabel: 'requests completed within (%)',
      series,
      xLog: Math.max(...xs) / Math.max(Math.min(...xs), 1e-9) > 20,
      unit: ' µs',
    });
  }
  blocks.push({
    kind: 'table',
    title: 'Per I/O request',
    columns: [
      { label: 'workload · I/O path' },
      { label: 'mode' },
      { label: 'requests', numeric: true },
      { label: 'exits', numeric: true },
      { label: 'notifications', numeric: true },
      { label: 'interrupts', numeric: true },
      { label: 'grant ops', numeric: true },
      { label: 'bytes copied', numeric: true },
      { label: 'dom0 time', numeric: true },
      { label: 'latency p50', numeric: true },
      { label: 'latency p99', numeric: true },
      { label: 'throughput', numeric: true },
    ],
    rows: cells.map((c) => {
      const s = c.ioStats!;
      return [caseOf(c), variantOf(c), fmtCount(s.requests), fmtNum(s.exitsPerRequest), fmtNum(s.notificationsPerRequest), fmtNum(s.interruptsPerRequest), fmtNum(s.grantOpsPerRequest), fmtNum(s.bytesCopiedPerRequest), fmtNs(s.dom0NsPerRequest), fmtNs(s.latencyP50Ns), fmtNs(s.latencyP99Ns), `${fmtNum(s.throughput)} ${s.throughputUnit}`];
    }),
  });
  return blocks;
}

/**
 * Slowdown against one varied key: the cells that vary it with every other varied key at its
 * default (or absent), plus the base run at the key's default value.
 */
function sensitivitySection(report: CompareReport, base: CompareCell[]): Block[] {
  const blocks: Block[] = [];
  for (const { key, values } of report.varied) {
    const def = defaultOf(report, key);
    const others = report.varied.filter((v) => v.key !== key);
    const atOthers = (c: CompareCell, strict: boolean) =>
      others.every((o) => c.vary[o.key] === undefined || c.vary[o.key] === defaultOf(report, o.key) || (!strict && c.vary[o.key] === o.values[0]));
    let varying = report.cells.filter((c) => c.vary[key] !== undefined && atOthers(c, true));
    if (varying.length === 0) varying = report.cells.filter((c) => c.vary[key] !== undefined && atOthers(c, false));
    // The base run joins as the point at the default value, for the cases that were varied only.
    const variedCases = new Set(varying.map(caseOf));
    const atDefault = def !== undefined && !values.includes(def) ? base.filter((c) => variedCases.has(caseOf(c))).map((c) => ({ x: def, c })) : [];
    const points = [...varying.map((c) => ({ x: c.vary[key]!, c })), ...atDefault].filter((p) => p.c.ok && p.c.mode !== 'native');
    const xs = uniq(points.map((p) => p.x)).sort((a, b) => a - b);
    const variants = uniq(points.map((p) => variantOf(p.c)));
    const cases = uniq(points.map((p) => caseOf(p.c)));
    const slow = (v: string, x: number) =>
      points.filter((p) => p.x === x && variantOf(p.c) === v && p.c.slowdown !== null && p.c.slowdown > 0).map((p) => p.c.slowdown!);
    blocks.push({
      kind: 'line',
      title: `Sensitivity: slowdown against ${key}`,
      caption: `Geometric mean over ${cases.length} workload case(s) of each mode’s slowdown as ${key} varies${def !== undefined ? ` (cost model default: ${def})` : ''}. A flat line: the conclusion does not depend on this cost.`,
      xLabel: key,
      yLabel: 'slowdown (× native, geometric mean)',
      series: variants.map((v) => ({ name: v, colour: MODE_COLOUR[v], points: xs.map((x): [number, number | null] => [x, geomean(slow(v, x))]) })),
      xLog: xs.length > 1 && xs[0]! > 0 && xs[xs.length - 1]! / xs[0]! > 20,
      markers: true,
      unit: '×',
    });
    blocks.push({
      kind: 'table',
      title: `Slowdown per workload against ${key}`,
      collapsed: true,
      columns: [{ label: 'workload · I/O path' }, { label: 'mode' }, ...xs.map((x) => ({ label: `${key}=${x}${x === def ? ' (default)' : ''}`, numeric: true }))],
      rows: cases.flatMap((cs) =>
        variants
          .filter((v) => points.some((p) => caseOf(p.c) === cs && variantOf(p.c) === v))
          .map((v): TableCell[] => [cs, v, ...xs.map((x) => fmtX(points.find((p) => p.x === x && caseOf(p.c) === cs && variantOf(p.c) === v)?.c.slowdown ?? null))]),
      ),
    });
  }
  return blocks;
}

function figuresSection(report: CompareReport): Block[] {
  const cells = orderCells(report, report.cells);
  const bad = checksumMismatches(report.cells);
  const row = (c: CompareCell): TableCell[] => [
    c.workload,
    c.io ?? '',
    variantOf(c),
    varyText(c.vary),
    c.ok ? 'ok' : `failed: ${c.error ?? 'no reason given'}`,
    `${c.checksum}${bad.has(c.workload) ? ' (differs)' : ''}`,
    fmtNs(c.virtualNs),
    fmtX(c.slowdown),
    Object.entries(c.result).map(([k, v]) => `${k}=${v}`).join(' '),
  ];
  const failed = cells.filter((c) => !c.ok || bad.has(c.workload));
  const columns = ['workload', 'I/O', 'mode', 'varied', 'status', 'checksum', 'virtual time', 'slowdown', 'result line'].map((label) => ({ label, numeric: label === 'virtual time' || label === 'slowdown' }));
  const blocks: Block[] = [];
  if (failed.length > 0) {
    blocks.push({ kind: 'text', text: `${failed.length} run(s) failed or printed a checksum that differs from another mode's for the same workload; they are left out of the charts.` });
    blocks.push({ kind: 'table', title: 'Failed runs and checksum disagreements', columns, rows: failed.map(row), rowStatus: failed.map(() => 'bad') });
  }
  blocks.push({ kind: 'table', title: 'Every run', collapsed: true, columns, rows: cells.map(row), rowStatus: cells.map((c) => (!c.ok || bad.has(c.workload) ? 'bad' : null)) });
  blocks.push({
    kind: 'table',
    title: 'Cost model (virtual ns unless named otherwise)',
    collapsed: true,
    columns: [{ label: 'key' }, { label: 'value', numeric: true }],
    rows: Object.entries(report.costModel).map(([k, v]): TableCell[] => [k, fmtNum(v)]),
  });
  return blocks;
}

/** The compare report as page data: for `renderCompareHtml`, or to add sections before rendering. */
export function compareHtmlReport(report: CompareReport): HtmlReport {
  const base = orderCells(report, baseCells(report)).filter((c) => c.ok && !checksumMismatches(report.cells).has(c.workload));
  const holds = report.orderings.filter((o) => o.checked && o.holds).length;
  const checked = report.orderings.filter((o) => o.checked).length;
  const failed = report.cells.filter((c) => !c.ok).length;
  const sections: HtmlReport['sections'] = [
    { heading: 'Slowdown', intro: 'How much longer each workload takes in each mode than bare on the board, in deterministic virtual time.', blocks: slowdownSection(report, base) },
    {
      heading: 'Orderings from the literature',
      intro: `${holds} of the ${checked} published orderings this run could check hold${checked < report.orderings.length ? ` (${report.orderings.length - checked} not checked: a workload or mode they need is not in the run)` : ''}. Where one does not, the detail says on which figures it was decided; docs/compare.md explains the departures.`,
      blocks: [
        {
          kind: 'table',
          columns: [{ label: 'claim' }, { label: 'source' }, { label: 'holds' }, { label: 'figures' }],
          // An ordering the run could not check is neither a success nor a failure: untinted.
          rows: report.orderings.map((o) => [o.claim, o.source, !o.checked ? '– not checked' : o.holds ? '✓ holds' : '✗ does not hold', o.detail]),
          rowStatus: report.orderings.map((o) => (!o.checked ? null : o.holds ? 'good' : 'bad')),
        },
      ],
    },
    { heading: 'Where the time goes', blocks: timeSection(base) },
    { heading: 'Exits', blocks: exitSection(base) },
    { heading: 'Memory management', intro: 'Per run: page walks and memory references per walk, TLB misses, shadow paging (trap-and-emulate), PV mmu_update batching.', blocks: mmuSection(base) },
  ];
  const io = ioSection(base);
  if (io.length > 0) sections.push({ heading: 'I/O', blocks: io });
  if (report.varied.length > 0) sections.push({ heading: 'Sensitivity to the cost model', intro: 'Reruns with other cost-model values (--vary): which conclusions depend on which assumption.', blocks: sensitivitySection(report, base) });
  sections.push({ heading: 'All figures', blocks: figuresSection(report) });
  return {
    title: 'pvsim compare',
    subtitle: 'Paravirtualization against full virtualization: one workload, every mode.',
    meta: [
      ['seed', String(report.seed)],
      ['workloads', report.workloads.join(', ')],
      ['modes', report.modes.join(', ')],
      ['I/O paths', report.ioPaths.join(', ') || '–'],
      ['shadow policies', report.shadows.join(', ') || '–'],
      ['varied', report.varied.map((v) => `${v.key}=${v.values.join(',')}`).join('; ') || 'nothing'],
      ['runs', `${report.cells.length} (${failed} failed)`],
      ['orderings holding', `${holds} of ${checked} checked (${report.orderings.length} in all)`],
    ],
    sections,
  };
}

/** `pvsim compare --html`: the whole report as one self-contained HTML document. */
export function renderCompareHtml(report: CompareReport): string {
  return renderHtmlReport(compareHtmlReport(report));
}

/** The charts a report of this data draws (tests check that each one rendered). */
export function compareChartCount(report: CompareReport): number {
  return compareHtmlReport(report).sections.flatMap((s) => s.blocks).filter((b): b is ChartSpec => b.kind === 'bar' || b.kind === 'line' || b.kind === 'cdf').length;
}

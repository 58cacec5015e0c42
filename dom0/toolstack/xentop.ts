// xentop (tools/xentop in Xen): the summary lines, the domain table with its 19 columns,
// and the per-vCPU, per-vif and per-vbd lines, from samples of the hypervisor (domains,
// vCPUs, host) and of dom0's backends (split-device counters). Layout, widths, sort
// orders and state letters are xentop's; CPU(%) needs two samples, as in xentop: the CPU
// time a domain used between them over the (hypervisor) time that passed.
//
// This module only formats; cli/xl_top.ts draws it on a terminal or prints it (batch).

import type { DeviceStats, DomainInfo, Response, VcpuInfo } from '../../protocol/wire.ts';
import type { Peer } from '../../protocol/session.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { SHUTDOWN } from '../../protocol/xen/hypercall.ts';

/** The host as xentop's summary shows it. */
export interface XentopNode {
  /** "major.minor" + extra, as xenstat_node_xen_version. */
  xenVersion: string;
  nrCpus: number;
  cpuMhz: number;
  totalKb: number;
  freeKb: number;
}

export interface XentopSample {
  domains: readonly DomainInfo[];
  devices: readonly DeviceStats[];
  /** Hypervisor time of the sample, ns. */
  nowNs: number;
  /** Machine memory, KiB (for MEM(%)). */
  totalKb: number;
  /** The host (summary lines); filled by sampleXentop. */
  node?: XentopNode;
  /** Every vCPU with its CPU time, when sampled with `vcpus` (xentop -v). */
  vcpus?: readonly VcpuInfo[];
  /** Wall-clock time of the sample, ms since the epoch (the summary's clock). */
  wallMs?: number;
}

export interface SampleOptions {
  /** Include Domain-0, as xentop does (default: guests only, as before). */
  dom0?: boolean;
  /** Also ask every vCPU's CPU time (one more request). */
  vcpus?: boolean;
}

/** What the user chose, by options and keys (xentop's globals of the same names). */
export interface XentopView {
  /** Index into XENTOP_FIELDS; 0 (NAME) at start, S cycles. */
  sortField: number;
  showVcpus: boolean;
  showNetworks: boolean;
  showVbds: boolean;
  repeatHeader: boolean;
  fullName: boolean;
  dom0First: boolean;
  /** First domain shown (arrow keys scroll). */
  firstDomain: number;
}

export const defaultView = (): XentopView => ({ sortField: 0, showVcpus: false, showNetworks: false, showVbds: false, repeatHeader: false, fullName: false, dom0First: false, firstDomain: 0 });

/** A run of text with curses attributes (reverse: the header; bold: the sort column; hilite: a toggle that is on). */
export interface Span {
  text: string;
  reverse?: boolean;
  bold?: boolean;
  hilite?: boolean;
}
export type Line = Span[];

/** One domain with everything a row needs. */
interface Row {
  d: DomainInfo;
  dev: DeviceStats | undefined;
  cpuPct: number;
  vcpus: readonly VcpuInfo[];
}

// --- the columns --------------------------------------------------------------------------

const NO_LIMIT = 0xffffffff; // max_pages Xen reports for a domain without a limit (UINT_MAX)
const curKb = (r: Row) => r.d.totPages * 4;
const maxKb = (r: Row) => (r.d.maxPages >= NO_LIMIT ? -1 : r.d.maxPages * 4);
const numVcpus = (r: Row) => r.d.maxVcpuId + 1; // xenstat: max_vcpu_id + 1
const netTx = (r: Row) => r.dev?.netTxBytes ?? 0;
const netRx = (r: Row) => r.dev?.netRxBytes ?? 0;
const vbdSum = (r: Row, k: 'rdReqs' | 'wrReqs' | 'rdSect' | 'wrSect' | 'ooReqs'): number => {
  if (r.dev?.vbd?.length) return r.dev.vbd.reduce((n, v) => n + v[k], 0);
  // A DeviceStats from before per-device lists: its totals.
  if (k === 'rdReqs') return r.dev?.vbdReads ?? 0;
  if (k === 'wrReqs') return r.dev?.vbdWrites ?? 0;
  if (k === 'rdSect') return r.dev?.vbdRdSect ?? 0;
  if (k === 'wrSect') return r.dev?.vbdWrSect ?? 0;
  return 0;
};

/** xenstat's six state tests, in xentop's letter order. */
const STATES: [string, (flags: number) => boolean][] = [
  ['d', (f) => (f & XEN_DOMINF.dying) !== 0],
  ['s', (f) => (f & XEN_DOMINF.shutdown) !== 0 && shutdownReason(f) !== SHUTDOWN.crash],
  ['b', (f) => (f & XEN_DOMINF.blocked) !== 0],
  ['c', (f) => (f & XEN_DOMINF.shutdown) !== 0 && shutdownReason(f) === SHUTDOWN.crash],
  ['p', (f) => (f & XEN_DOMINF.paused) !== 0],
  ['r', (f) => (f & XEN_DOMINF.running) !== 0],
];
function shutdownReason(flags: number): number {
  return (flags >>> XEN_DOMINF.shutdownshift) & XEN_DOMINF.shutdownmask;
}

/** xentop's STATE column: one letter per state, '-' where not (order d s b c p r). */
export function xentopState(flags: number): string {
  return STATES.map(([ch, on]) => (on(flags) ? ch : '-')).join('');
}

const cmp = (a: number, b: number) => (a < b ? -1 : a > b ? 1 : 0);
/** strcasecmp: byte order of the lower-cased names. */
const caseCmp = (a: string, b: string) => {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x < y ? -1 : x > y ? 1 : 0;
};

interface Field {
  header: string;
  width: number;
  /** Widened to fit the largest value shown (xentop's adjust_field_widths). */
  grows?: (r: Row) => number;
  compare: (a: Row, b: Row) => number;
  cell: (r: Row, width: number, o: { totalKb: number; fullName: boolean }) => string;
}

const num = (v: number) => (w: number) => String(Math.floor(v)).padStart(w);
const pct = (v: number, w: number) => v.toFixed(1).padStart(w);

/** xentop's fields, in its order; the sort keys cycle through them (S). */
export const XENTOP_FIELDS: readonly Field[] = [
  { header: 'NAME', width: 10, compare: (a, b) => caseCmp(a.d.name, b.d.name), cell: (r, w, o) => (o.fullName ? r.d.name : r.d.name.slice(0, 10)).padStart(w) },
  {
    header: 'STATE',
    width: 6,
    compare: (a, b) => {
      for (const [, on] of STATES) {
        const x = on(a.d.flags);
        const y = on(b.d.flags);
        if (x !== y) return x ? -1 : 1;
      }
      return 0;
    },
    cell: (r) => xentopState(r.d.flags),
  },
  { header: 'CPU(sec)', width: 10, compare: (a, b) => -cmp(a.d.cpuTimeNs, b.d.cpuTimeNs), cell: (r, w) => num(r.d.cpuTimeNs / 1e9)(w) },
  { header: 'CPU(%)', width: 6, compare: (a, b) => -cmp(a.cpuPct, b.cpuPct), cell: (r, w) => pct(r.cpuPct, w) },
  { header: 'MEM(k)', width: 10, compare: (a, b) => -cmp(curKb(a), curKb(b)), cell: (r, w) => num(curKb(r))(w) },
  { header: 'MEM(%)', width: 6, compare: (a, b) => -cmp(curKb(a), curKb(b)), cell: (r, w, o) => pct(o.totalKb > 0 ? (100 * curKb(r)) / o.totalKb : 0, w) },
  { header: 'MAXMEM(k)', width: 10, compare: (a, b) => -cmp(maxKb(a) < 0 ? Infinity : maxKb(a), maxKb(b) < 0 ? Infinity : maxKb(b)), cell: (r, w) => (maxKb(r) < 0 ? 'no limit'.padStart(w) : num(maxKb(r))(w)) },
  { header: 'MAXMEM(%)', width: 9, compare: (a, b) => -cmp(maxKb(a) < 0 ? Infinity : maxKb(a), maxKb(b) < 0 ? Infinity : maxKb(b)), cell: (r, w, o) => (maxKb(r) < 0 ? 'n/a'.padStart(w) : pct(o.totalKb > 0 ? (100 * maxKb(r)) / o.totalKb : 0, w)) },
  { header: 'VCPUS', width: 5, compare: (a, b) => -cmp(numVcpus(a), numVcpus(b)), cell: (r, w) => num(numVcpus(r))(w) },
  { header: 'NETS', width: 4, compare: (a, b) => -cmp(a.dev?.nets ?? 0, b.dev?.nets ?? 0), cell: (r, w) => num(r.dev?.nets ?? 0)(w) },
  { header: 'NETTX(k)', width: 8, grows: (r) => Math.floor(netTx(r) / 1024), compare: (a, b) => -cmp(netTx(a), netTx(b)), cell: (r, w) => num(netTx(r) / 1024)(w) },
  { header: 'NETRX(k)', width: 8, grows: (r) => Math.floor(netRx(r) / 1024), compare: (a, b) => -cmp(netRx(a), netRx(b)), cell: (r, w) => num(netRx(r) / 1024)(w) },
  { header: 'VBDS', width: 4, compare: (a, b) => -cmp(a.dev?.vbds ?? 0, b.dev?.vbds ?? 0), cell: (r, w) => num(r.dev?.vbds ?? 0)(w) },
  { header: 'VBD_OO', width: 8, compare: (a, b) => -cmp(vbdSum(a, 'ooReqs'), vbdSum(b, 'ooReqs')), cell: (r, w) => num(vbdSum(r, 'ooReqs'))(w) },
  { header: 'VBD_RD', width: 8, grows: (r) => vbdSum(r, 'rdReqs'), compare: (a, b) => -cmp(vbdSum(a, 'rdReqs'), vbdSum(b, 'rdReqs')), cell: (r, w) => num(vbdSum(r, 'rdReqs'))(w) },
  { header: 'VBD_WR', width: 8, grows: (r) => vbdSum(r, 'wrReqs'), compare: (a, b) => -cmp(vbdSum(a, 'wrReqs'), vbdSum(b, 'wrReqs')), cell: (r, w) => num(vbdSum(r, 'wrReqs'))(w) },
  { header: 'VBD_RSECT', width: 10, grows: (r) => vbdSum(r, 'rdSect'), compare: (a, b) => -cmp(vbdSum(a, 'rdSect'), vbdSum(b, 'rdSect')), cell: (r, w) => num(vbdSum(r, 'rdSect'))(w) },
  { header: 'VBD_WSECT', width: 10, grows: (r) => vbdSum(r, 'wrSect'), compare: (a, b) => -cmp(vbdSum(a, 'wrSect'), vbdSum(b, 'wrSect')), cell: (r, w) => num(vbdSum(r, 'wrSect'))(w) },
  // No XSM/FLASK in pvsim: every domain's security id is 0, as Xen's without XSM.
  { header: 'SSID', width: 4, compare: () => 0, cell: (_r, w) => num(0)(w) },
];

/** The column headers, in order (what S cycles through). */
export const XENTOP_HEADERS: readonly string[] = XENTOP_FIELDS.map((f) => f.header);

/** The default header line (every width at its default). */
export const XENTOP_HEADER = XENTOP_FIELDS.map((f) => f.header.padStart(f.width)).join(' ');

// --- frames -------------------------------------------------------------------------------

function rows(now: XentopSample, before: XentopSample | undefined): Row[] {
  const dt = before ? now.nowNs - before.nowNs : 0;
  return now.domains.map((d) => {
    const prev = before?.domains.find((p) => p.domid === d.domid);
    const used = prev ? d.cpuTimeNs - prev.cpuTimeNs : 0;
    return {
      d,
      dev: now.devices.find((s) => s.domid === d.domid),
      cpuPct: prev && dt > 0 && used > 0 ? (100 * used) / dt : 0,
      vcpus: (now.vcpus ?? []).filter((v) => v.domid === d.domid).sort((a, b) => a.vcpu - b.vcpu),
    };
  });
}

/** Domains in the order shown: sorted by the view's field (stable; Domain-0 first with dom0First). */
function ordered(all: Row[], view: XentopView): Row[] {
  const f = XENTOP_FIELDS[view.sortField] ?? XENTOP_FIELDS[0]!;
  const dom0 = view.dom0First ? all.filter((r) => r.d.name === 'Domain-0') : [];
  const rest = all.filter((r) => !dom0.includes(r)).sort((a, b) => f.compare(a, b) || a.d.domid - b.d.domid);
  return [...dom0, ...rest];
}

/** Widths for this frame: defaults, widened for large counters and, with fullName, long names. */
function widths(shown: readonly Row[], view: XentopView): number[] {
  return XENTOP_FIELDS.map((f, i) => {
    let w = f.width;
    if (i === 0 && view.fullName) for (const r of shown) w = Math.max(w, r.d.name.length);
    if (f.grows) for (const r of shown) w = Math.max(w, String(f.grows(r) + 1).length);
    return w;
  });
}

const plain = (text: string): Span => ({ text });

function headerLine(w: readonly number[], view: XentopView): Line {
  const out: Line = [];
  XENTOP_FIELDS.forEach((f, i) => {
    if (i) out.push({ text: ' ', reverse: true });
    out.push({ text: f.header.padStart(w[i]!), reverse: true, bold: i === view.sortField });
  });
  return out;
}

function domainLine(r: Row, w: readonly number[], view: XentopView, totalKb: number): Line {
  const out: Line = [];
  XENTOP_FIELDS.forEach((f, i) => {
    if (i) out.push(plain(' '));
    out.push({ text: f.cell(r, w[i]!, { totalKb, fullName: view.fullName }), bold: i === view.sortField });
  });
  return out;
}

/** xentop -v: the vCPUs online, five a line, whole seconds each. */
function vcpuText(r: Row): string {
  let s = 'VCPUs(sec): ';
  r.vcpus.forEach((v, i) => {
    if (!v.online) return;
    if (i !== 0 && i % 5 === 0) s += '\n        ';
    s += ` ${String(v.vcpu).padStart(2)}: ${String(Math.floor(v.cpuTimeNs / 1e9)).padStart(10)}s`;
  });
  return s;
}

const p8 = (v: number) => String(v).padStart(8);

/** xentop -n: one line per vif, counted from the guest's side. */
function networkText(r: Row): string[] {
  return (r.dev?.vif ?? []).map(
    (n, i) => `Net${i} RX: ${p8(n.rxBytes)}bytes ${p8(n.rxPackets)}pkts ${p8(n.rxErrs)}err ${p8(n.rxDrop)}drop  TX: ${p8(n.txBytes)}bytes ${p8(n.txPackets)}pkts ${p8(n.txErrs)}err ${p8(n.txDrop)}drop`,
  );
}

/** xentop -x: one line per vbd; "[major:minor]" as Linux's MAJOR/MINOR of the virtual device number. */
function vbdText(r: Row): string[] {
  const hx = (v: number) => v.toString(16).padStart(2);
  return (r.dev?.vbd ?? []).map(
    (v) =>
      `VBD BlkBack ${String(v.devid).padStart(4)} [${hx(v.devid >> 8)}:${hx(v.devid & 0xff)}]  OO: ${p8(v.ooReqs)}   RD: ${p8(v.rdReqs)}   WR: ${p8(v.wrReqs)}   RSECT: ${String(v.rdSect).padStart(10)}   WSECT: ${String(v.wrSect).padStart(10)}`,
  );
}

/**
 * The table part of a frame (what `xentop -b` prints for one iteration): the header, then
 * each domain from view.firstDomain with its vCPU, vif and vbd lines as the view asks;
 * the header again before each domain with repeatHeader. Multi-line texts (vCPUs beyond
 * five) are split into lines here.
 */
export function xentopTable(now: XentopSample, before: XentopSample | undefined, view: XentopView): Line[] {
  const all = ordered(rows(now, before), view);
  const first = Math.max(0, Math.min(view.firstDomain, all.length - 1));
  const shown = all.slice(first);
  const w = widths(shown, view);
  const out: Line[] = [];
  const totalKb = now.node?.totalKb ?? now.totalKb;
  shown.forEach((r, i) => {
    if (i === 0 || view.repeatHeader) out.push(headerLine(w, view));
    out.push(domainLine(r, w, view, totalKb));
    if (view.showVcpus) for (const l of vcpuText(r).split('\n')) out.push([plain(l)]);
    if (view.showNetworks) for (const l of networkText(r)) out.push([plain(l)]);
    if (view.showVbds) for (const l of vbdText(r)) out.push([plain(l)]);
  });
  if (shown.length === 0) out.push(headerLine(w, view));
  return out;
}

/** xentop's three summary lines (interactive mode only): clock and version, domains by state, memory and CPUs. */
export function xentopSummary(now: XentopSample, clock: (ms: number) => string = localClock): string[] {
  const n = now.node ?? { xenVersion: '', nrCpus: 0, cpuMhz: 0, totalKb: now.totalKb, freeKb: 0 };
  let run = 0, block = 0, pause = 0, crash = 0, dying = 0, shutdown = 0; // prettier-ignore
  for (const d of now.domains) {
    // Counted once each, by the first state that holds, in this order (as xentop).
    const s = xentopState(d.flags);
    if (s[5] === 'r') run++;
    else if (s[2] === 'b') block++;
    else if (s[4] === 'p') pause++;
    else if (s[1] === 's') shutdown++;
    else if (s[3] === 'c') crash++;
    else if (s[0] === 'd') dying++;
  }
  return [
    `xentop - ${clock(now.wallMs ?? Date.now())}   Xen ${n.xenVersion}`,
    `${now.domains.length} domains: ${run} running, ${block} blocked, ${pause} paused, ${crash} crashed, ${dying} dying, ${shutdown} shutdown `,
    `Mem: ${n.totalKb}k total, ${n.totalKb - n.freeKb}k used, ${n.freeKb}k free    CPUs: ${n.nrCpus} @ ${n.cpuMhz}MHz`,
  ];
}

function localClock(ms: number): string {
  const t = new Date(ms);
  return [t.getHours(), t.getMinutes(), t.getSeconds()].map((v) => String(v).padStart(2, '0')).join(':');
}

/** The keys of xentop's bottom line, each with its toggle's state (null: not a toggle). */
export function xentopBottomLine(view: XentopView): Line {
  const item = (key: string, before: string, after: string, on: boolean | null): Span[] => [
    ...(before ? [{ text: before, hilite: on === true }] : []),
    { text: key, reverse: true },
    { text: after, hilite: on === true },
    plain('  '),
  ];
  return [
    ...item('D', '', 'elay', null),
    ...item('N', '', 'etworks', view.showNetworks),
    ...item('B', 'v', 'ds', view.showVbds),
    ...item('V', '', 'CPUs', view.showVcpus),
    ...item('R', '', 'epeat header', view.repeatHeader),
    ...item('S', '', 'ort order', null),
    ...item('Q', '', 'uit', null),
  ];
}

export const lineText = (l: Line): string => l.map((s) => s.text).join('');

/** The table as text (xentop -b's output for one iteration). */
export function xentopBatch(now: XentopSample, before: XentopSample | undefined, view: XentopView): string {
  return xentopTable(now, before, view).map(lineText).join('\n') + '\n';
}

/** The table for `now` with xentop's default view; CPU(%) from `before` when given (else 0, as xentop's first frame). */
export function formatXentop(now: XentopSample, before?: XentopSample): string {
  return xentopBatch(now, before, defaultView());
}

function ok(r: Response, what: string): Response {
  if (r.rc !== 0) throw new Error(`${what}: ${r.error ?? `error ${r.rc}`}`);
  return r;
}

/**
 * One sample through dom0 (a pvsim client connection): every guest domain (and Domain-0
 * with o.dom0), dom0's device counters, the host, and with o.vcpus every vCPU's CPU time.
 */
export async function sampleXentop(p: Peer, o: SampleOptions = {}): Promise<XentopSample> {
  const [doms, devs, info, vcpus] = await Promise.all([
    p.request('listDomains', {}),
    p.request('deviceStats', {}),
    p.request('info', {}),
    o.vcpus ? p.request('vcpuList', {}) : Promise.resolve(null),
  ]);
  const i = ok(info, 'info').info;
  const totalKb = (i?.totalPages ?? 0) * 4;
  return {
    domains: (ok(doms, 'list').domains?.domains ?? []).filter((d) => o.dom0 || d.domid !== 0),
    devices: ok(devs, 'device stats').deviceStats?.domains ?? [],
    nowNs: i?.nowNs ?? 0,
    totalKb,
    node: {
      xenVersion: `${i?.xenMajor ?? 0}.${i?.xenMinor ?? 0}${i?.xenExtra ?? ''}`,
      nrCpus: i?.nrCpus ?? 0,
      cpuMhz: 1000, // the clock pvsim reports (xl info's cpu_mhz, XEN_SYSCTL_physinfo cpu_khz)
      totalKb,
      freeKb: (i?.freePages ?? 0) * 4,
    },
    vcpus: vcpus ? (ok(vcpus, 'vcpu list').vcpus?.vcpus ?? []) : undefined,
    wallMs: Date.now(),
  };
}

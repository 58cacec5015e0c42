// xentop's table (tools/xentop): one row per domain with its CPU, memory, vCPUs and the
// split-device counters dom0's backends keep. CPU(%) needs two samples, as in xentop:
// the CPU time a domain used between them over the time that passed.

import type { DeviceStats, DomainInfo, Response } from '../../protocol/wire.ts';
import type { Peer } from '../../protocol/session.ts';
import { domainStateString } from './format.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';

export interface XentopSample {
  domains: readonly DomainInfo[];
  devices: readonly DeviceStats[];
  /** Hypervisor time of the sample, ns. */
  nowNs: number;
  /** Machine memory, KiB (for MEM(%)). */
  totalKb: number;
}

const COLUMNS: [string, number][] = [
  ['NAME', 10], ['STATE', 6], ['CPU(sec)', 10], ['CPU(%)', 6], ['MEM(k)', 10], ['MEM(%)', 6], ['VCPUS', 5],
  ['NETS', 4], ['NETTX(k)', 8], ['NETRX(k)', 8], ['VBDS', 4], ['VBD_RD', 8], ['VBD_WR', 8],
];

export const XENTOP_HEADER = COLUMNS.map(([h, w]) => h.padStart(w)).join(' ');

/** The table for `now`; CPU(%) from `before` when given (else 0, as xentop's first frame). */
export function formatXentop(now: XentopSample, before?: XentopSample): string {
  const lines = [XENTOP_HEADER];
  const dt = before ? now.nowNs - before.nowNs : 0;
  for (const d of now.domains) {
    const prev = before?.domains.find((p) => p.domid === d.domid);
    const cpuPct = prev && dt > 0 ? (100 * (d.cpuTimeNs - prev.cpuTimeNs)) / dt : 0;
    const memKb = (d.totPages * PAGE_SIZE) / 1024;
    const dev = now.devices.find((s) => s.domid === d.domid);
    const cells = [
      d.name.length > 10 ? d.name.slice(0, 10) : d.name,
      domainStateString(d.flags),
      (d.cpuTimeNs / 1e9).toFixed(3), // xentop prints whole seconds; pvsim's runs are short
      cpuPct.toFixed(1),
      String(Math.floor(memKb)),
      now.totalKb > 0 ? ((100 * memKb) / now.totalKb).toFixed(1) : '0.0',
      String(d.onlineVcpus),
      String(dev?.nets ?? 0),
      String(Math.floor((dev?.netTxBytes ?? 0) / 1024)),
      String(Math.floor((dev?.netRxBytes ?? 0) / 1024)),
      String(dev?.vbds ?? 0),
      String(dev?.vbdReads ?? 0),
      String(dev?.vbdWrites ?? 0),
    ];
    lines.push(cells.map((c, i) => c.padStart(COLUMNS[i]![1])).join(' '));
  }
  return lines.join('\n') + '\n';
}

function ok(r: Response, what: string): Response {
  if (r.rc !== 0) throw new Error(`${what}: ${r.error ?? `error ${r.rc}`}`);
  return r;
}

/** One sample of every guest domain through dom0 (a pvsim client connection). */
export async function sampleXentop(p: Peer): Promise<XentopSample> {
  const [doms, devs, info] = await Promise.all([p.request('listDomains', {}), p.request('deviceStats', {}), p.request('info', {})]);
  return {
    domains: (ok(doms, 'list').domains?.domains ?? []).filter((d) => d.domid !== 0),
    devices: ok(devs, 'device stats').deviceStats?.domains ?? [],
    nowNs: ok(info, 'info').info?.nowNs ?? 0,
    totalKb: (info.info?.totalPages ?? 0) * 4,
  };
}

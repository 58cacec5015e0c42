// What `xl list`, `xl vcpu-list`, `xl sched-credit` and `xl info` print, column for
// column as xl 4.17 prints them (tools/xl/xl_info.c, xl_vcpu.c, xl_sched.c), so that
// scripts which parse xl's output work on pvsim's. Pure functions from data to text; each
// returns whole lines, every one ending in "\n", as xl writes them. Quirks are xl's own:
// `xl list` has tabs in its header but spaces in its rows, and `xl vcpu-list` prints the
// CPU column one place left of its heading.

import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';

/** C's printf("%.*f"): the exact binary value rounded, ties to even (JS's toFixed rounds ties up). */
export function cFixed(x: number, digits: number): string {
  const s = x.toFixed(digits);
  const p = 2 ** (digits + 1);
  // An exact tie has the form odd / 2^(digits+1).
  if (!Number.isInteger(x * p) || Number.isInteger(x * (p / 2))) return s;
  const scaled = Math.abs(x) * 10 ** digits;
  const low = Math.floor(scaled);
  const n = String(low % 2 === 0 ? low : low + 1).padStart(digits + 1, '0');
  const body = digits === 0 ? n : `${n.slice(0, -digits)}.${n.slice(-digits)}`;
  return x < 0 ? `-${body}` : body;
}

/** xl's seconds column: the ns count goes through a C float first, then "%W.1f". */
function seconds(ns: number, width: number): string {
  return cFixed(Math.fround(ns) / 1e9, 1).padStart(width);
}

const d = (n: number, width: number) => String(Math.trunc(n)).padStart(width);

// --- xl list -------------------------------------------------------------------------------

/** One domain for `xl list`, from XEN_DOMCTL_getdomaininfo. */
export interface ListRow {
  name: string;
  domid: number;
  /** Current memory in MiB (tot_pages * 4 KiB / 1 MiB); shown rounded down. */
  memMiB: number;
  /** Online vCPUs (nr_online_vcpus). */
  vcpus: number;
  /** xen_domctl_getdomaininfo.flags: XEN_DOMINF_* bits and the shutdown reason in bits 16-23. */
  flags: number;
  /** Total CPU time of all its vCPUs, ns. */
  cpuTimeNs: number;
}

export const XL_LIST_HEADER = 'Name                                        ID   Mem VCPUs\tState\tTime(s)';

// The fifth state letter is the shutdown reason: poweroff, reboot, suspend, crash, watchdog, soft_reset.
const SHUTDOWN_REASON_LETTERS = '-rscwS';

/**
 * The six state letters of `xl list`: r running, b blocked, p paused, s shut down, then the
 * shutdown reason (c crashed, r reboot, s suspend, w watchdog, S soft reset; - for poweroff
 * or while not shut down), d dying.
 */
export function domainStateString(flags: number): string {
  const has = (bit: number) => (flags & bit) !== 0;
  const shutdown = has(XEN_DOMINF.shutdown);
  const reason = shutdown ? (flags >>> XEN_DOMINF.shutdownshift) & XEN_DOMINF.shutdownmask : 0;
  return [
    has(XEN_DOMINF.running) ? 'r' : '-',
    has(XEN_DOMINF.blocked) ? 'b' : '-',
    has(XEN_DOMINF.paused) ? 'p' : '-',
    shutdown ? 's' : '-',
    SHUTDOWN_REASON_LETTERS[reason] ?? '?',
    has(XEN_DOMINF.dying) ? 'd' : '-',
  ].join('');
}

export function formatList(rows: readonly ListRow[]): string {
  let out = `${XL_LIST_HEADER}\n`;
  for (const r of rows) {
    out += `${r.name.padEnd(40)} ${d(r.domid, 5)} ${d(Math.floor(r.memMiB), 5)} ${d(r.vcpus, 5)}     ${domainStateString(r.flags)}  ${seconds(r.cpuTimeNs, 8)}\n`;
  }
  return out;
}

// --- xl vcpu-list --------------------------------------------------------------------------

/** One vCPU for `xl vcpu-list`, from XEN_DOMCTL_getvcpuinfo. */
export interface VcpuRow {
  name: string;
  domid: number;
  vcpu: number;
  /** The pCPU it runs on or last ran on; not shown for an offline vCPU. */
  cpu: number;
  /** Not down (VPF_down clear); an offline vCPU shows "--p". */
  online: boolean;
  /** On a pCPU now (RUNSTATE_running): "r". */
  running: boolean;
  /** Waiting for an event (RUNSTATE_blocked): "b". A runnable vCPU waiting for a pCPU shows "---". */
  blocked: boolean;
  cpuTimeNs: number;
  /** pCPUs it may run on; all of them when absent. */
  hardAffinity?: readonly number[];
  softAffinity?: readonly number[];
}

export const XL_VCPU_LIST_HEADER = `${'Name'.padEnd(32)} ${'ID'.padStart(5)} ${'VCPU'.padStart(5)} ${'CPU'.padStart(5)} ${'State'.padStart(5)} ${'Time(s)'.padStart(9)} Affinity (Hard / Soft)`;

/** xl's print_bitmap: "all", "none", or ranges such as "0-3,6", over pCPUs 0..nrCpus-1. */
export function formatCpuMap(cpus: readonly number[] | undefined, nrCpus: number): string {
  const set = new Set(cpus ?? Array.from({ length: nrCpus }, (_, i) => i));
  const parts: string[] = [];
  let first = -1;
  for (let i = 0; i <= nrCpus; i++) {
    const on = i < nrCpus && set.has(i);
    if (on && first < 0) first = i;
    if (!on && first >= 0) {
      if (first === 0 && i === nrCpus) return 'all';
      parts.push(i - 1 > first ? `${first}-${i - 1}` : `${first}`);
      first = -1;
    }
  }
  return parts.length ? parts.join(',') : 'none';
}

export function formatVcpuList(rows: readonly VcpuRow[], nrCpus: number): string {
  let out = `${XL_VCPU_LIST_HEADER}\n`;
  for (const r of rows) {
    // xl prints "%-32s %5u %5u" then "%5u %3c%c- ": no space between VCPU and CPU.
    const cpuState = r.online ? `${d(r.cpu, 5)}   ${r.running ? 'r' : '-'}${r.blocked ? 'b' : '-'}- ` : `    -   --p `;
    out += `${r.name.padEnd(32)} ${d(r.domid, 5)} ${d(r.vcpu, 5)}${cpuState}${seconds(r.cpuTimeNs, 9)}  ${formatCpuMap(r.hardAffinity, nrCpus)} / ${formatCpuMap(r.softAffinity, nrCpus)}\n`;
  }
  return out;
}

// --- xl sched-credit -----------------------------------------------------------------------

/** A cpupool running the credit scheduler, with its scheduler parameters. */
export interface CreditPool {
  name: string;
  tsliceMs: number;
  ratelimitUs: number;
  migrationDelayUs: number;
}

/** Xen's credit defaults: 30 ms time slice, 1000 us rate limit, no migration delay. */
export const DEFAULT_CREDIT_POOL: CreditPool = { name: 'Pool-0', tsliceMs: 30, ratelimitUs: 1000, migrationDelayUs: 0 };

export interface SchedCreditRow {
  name: string;
  domid: number;
  weight: number;
  /** Percent of one pCPU; 0 = no cap. */
  cap: number;
}

export function formatSchedCredit(rows: readonly SchedCreditRow[], pool: CreditPool = DEFAULT_CREDIT_POOL): string {
  let out = `Cpupool ${pool.name}: tslice=${pool.tsliceMs}ms ratelimit=${pool.ratelimitUs}us migration-delay=${pool.migrationDelayUs}us\n`;
  out += `${'Name'.padEnd(33)} ${'ID'.padStart(4)} ${'Weight'.padStart(6)} ${'Cap'.padStart(4)}\n`;
  for (const r of rows) out += `${r.name.padEnd(33)} ${d(r.domid, 4)} ${d(r.weight, 6)} ${d(r.cap, 4)}\n`;
  return out;
}

// --- xl sched-credit2, xl sched-rtds ------------------------------------------------------

/** xl sched-credit2: "Cpupool <name>: ratelimit=<us>us", then the domains (as sched-credit's rows). */
export function formatSchedCredit2(rows: readonly SchedCreditRow[], pool: { name: string; ratelimitUs: number }): string {
  let out = `Cpupool ${pool.name}: ratelimit=${pool.ratelimitUs}us\n`;
  out += `${'Name'.padEnd(33)} ${'ID'.padStart(4)} ${'Weight'.padStart(6)} ${'Cap'.padStart(4)}\n`;
  for (const r of rows) out += `${r.name.padEnd(33)} ${d(r.domid, 4)} ${d(r.weight, 6)} ${d(r.cap, 4)}\n`;
  return out;
}

/** One RTDS row: a domain (its vCPU 0's parameters) or, with `vcpu`, one vCPU. */
export interface SchedRtdsRow {
  name: string;
  domid: number;
  vcpu?: number;
  periodUs: number;
  budgetUs: number;
  extratime: boolean;
}

/** xl sched-rtds: "Cpupool <name>: sched=RTDS", then per domain or (-v) per vCPU, as xl_sched.c prints. */
export function formatSchedRtds(rows: readonly SchedRtdsRow[], poolName: string, perVcpu: boolean): string {
  let out = `Cpupool ${poolName}: sched=RTDS\n`;
  const yn = (b: boolean) => (b ? 'yes' : 'no').padStart(10);
  if (perVcpu) {
    out += `${'Name'.padEnd(33)} ${'ID'.padStart(4)} ${'VCPU'.padStart(4)} ${'Period'.padStart(9)} ${'Budget'.padStart(9)} ${'Extratime'.padStart(10)}\n`;
    for (const r of rows) out += `${r.name.padEnd(33)} ${d(r.domid, 4)} ${d(r.vcpu ?? 0, 4)} ${d(r.periodUs, 9)} ${d(r.budgetUs, 9)} ${yn(r.extratime)}\n`;
  } else {
    out += `${'Name'.padEnd(33)} ${'ID'.padStart(4)} ${'Period'.padStart(9)} ${'Budget'.padStart(9)} ${'Extratime'.padStart(10)}\n`;
    for (const r of rows) out += `${r.name.padEnd(33)} ${d(r.domid, 4)} ${d(r.periodUs, 9)} ${d(r.budgetUs, 9)} ${yn(r.extratime)}\n`;
  }
  return out;
}

// --- xl info -------------------------------------------------------------------------------

/** virt_caps words, in the order xl prints them. */
export const XL_VIRT_CAPS = ['pv', 'hvm', 'hvm_directio', 'pv_directio', 'hap', 'shadow', 'iommu_hap_pt_share', 'vmtrace', 'vpmu', 'gnttab-v1', 'gnttab-v2'] as const;
export type XlVirtCap = (typeof XL_VIRT_CAPS)[number];

/** The host as `xl info` describes it: uname, XEN_SYSCTL_physinfo, xen_version and the scheduler. */
export interface XlInfo {
  host: string;
  release: string;
  version: string;
  machine: string;
  nrCpus: number;
  maxCpuId: number;
  nrNodes: number;
  coresPerSocket: number;
  threadsPerCore: number;
  cpuKhz: number;
  /** Eight 32-bit words; zeros when absent. */
  hwCaps?: readonly number[];
  virtCaps: readonly XlVirtCap[];
  pageSize: number;
  totalPages: number;
  freePages: number;
  outstandingPages?: number;
  sharingFreedPages?: number;
  sharingUsedFrames?: number;
  freeCpus: number;
  xenMajor: number;
  xenMinor: number;
  /** E.g. ".0-pvsim"; xen_version is major.minor followed by this. */
  xenExtra: string;
  xenCaps: string;
  /** libxl's scheduler name: credit, credit2, rtds, null, arinc653. */
  xenScheduler: string;
  virtStart?: number;
  xenChangeset?: string;
  xenCommandline: string;
  ccCompiler: string;
  ccCompileBy: string;
  ccCompileDomain: string;
  ccCompileDate: string;
  buildId?: string;
}

/**
 * `xl info`, or with `only` what `xl info <only>` prints: the values of the lines whose key
 * starts with `only` (xl matches a prefix, so `xl info xen_m` prints xen_major and xen_minor).
 */
export function formatInfo(info: XlInfo, only?: string): string {
  const mib = (pages: number) => Math.floor(pages / ((1 << 20) / info.pageSize));
  const hex8 = (w: number) => (w >>> 0).toString(16).padStart(8, '0');
  const hw = Array.from({ length: 8 }, (_, i) => hex8(info.hwCaps?.[i] ?? 0)).join(':');
  const caps = XL_VIRT_CAPS.filter((c) => info.virtCaps.includes(c) && (c !== 'hvm_directio' || info.virtCaps.includes('hvm')) && (c !== 'pv_directio' || info.virtCaps.includes('pv')));
  const lines: string[] = [];
  const kv = (k: string, v: string | number) => lines.push(`${k.padEnd(23)}: ${v}`);
  kv('host', info.host);
  kv('release', info.release);
  kv('version', info.version);
  kv('machine', info.machine);
  kv('nr_cpus', info.nrCpus);
  kv('max_cpu_id', info.maxCpuId);
  kv('nr_nodes', info.nrNodes);
  kv('cores_per_socket', info.coresPerSocket);
  kv('threads_per_core', info.threadsPerCore);
  kv('cpu_mhz', `${Math.floor(info.cpuKhz / 1000)}.${String(info.cpuKhz % 1000).padStart(3, '0')}`);
  kv('hw_caps', hw);
  lines.push(`${'virt_caps'.padEnd(23)}:${caps.map((c) => ` ${c}`).join('')}`);
  kv('total_memory', mib(info.totalPages));
  kv('free_memory', mib(info.freePages - (info.outstandingPages ?? 0)));
  kv('sharing_freed_memory', mib(info.sharingFreedPages ?? 0));
  kv('sharing_used_memory', mib(info.sharingUsedFrames ?? 0));
  kv('outstanding_claims', mib(info.outstandingPages ?? 0));
  kv('free_cpus', info.freeCpus);
  kv('xen_major', info.xenMajor);
  kv('xen_minor', info.xenMinor);
  kv('xen_extra', info.xenExtra);
  kv('xen_version', `${info.xenMajor}.${info.xenMinor}${info.xenExtra}`);
  kv('xen_caps', info.xenCaps);
  kv('xen_scheduler', info.xenScheduler);
  kv('xen_pagesize', info.pageSize);
  kv('platform_params', `virt_start=0x${(info.virtStart ?? 0).toString(16)}`);
  kv('xen_changeset', info.xenChangeset ?? '');
  kv('xen_commandline', info.xenCommandline);
  kv('cc_compiler', info.ccCompiler);
  kv('cc_compile_by', info.ccCompileBy);
  kv('cc_compile_domain', info.ccCompileDomain);
  kv('cc_compile_date', info.ccCompileDate);
  kv('build_id', info.buildId ?? '');
  kv('xend_config_format', 4);
  if (only === undefined) return lines.map((l) => `${l}\n`).join('');
  // xl's maybe_printf: a line counts if it starts with the name and its first ':' is followed by a space.
  let out = '';
  for (const l of lines) {
    const c = l.indexOf(':');
    if (l.startsWith(only) && c >= 0 && l[c + 1] === ' ') out += `${l.slice(c + 2)}\n`;
  }
  return out;
}

/** `xl cpupool-list` (tools/xl/xl_cpupool.c): name in 19 columns, then pCPU count, scheduler, active, domains; -c: the pCPU list. */
export function formatCpupoolList(pools: readonly { name: string; scheduler: string; cpus: readonly number[]; nDom: number }[], cpuList: boolean): string {
  const lines = [`${'Name'.padEnd(19)}${cpuList ? 'CPU list' : 'CPUs   Sched     Active   Domain count'}`];
  for (const p of pools) {
    lines.push(p.name.padEnd(19) + (cpuList ? p.cpus.join(',') : `${String(p.cpus.length).padStart(3)} ${p.scheduler.padStart(9)}       y       ${String(p.nDom).padStart(4)}`));
  }
  return lines.join('\n') + '\n';
}

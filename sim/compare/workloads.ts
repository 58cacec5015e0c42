// The workloads `pvsim compare` knows: one table row each. A row says which kernel
// workload (`work=<name>`) it runs, the small default parameters the comparison uses, what
// kind of I/O it does (which decides the I/O paths and devices a run gets) and what one
// "operation" of it is (for exits per operation). Adding a workload is adding a row.

export type WorkloadIo = 'none' | 'blk' | 'net';

export interface WorkloadDef {
  /** The `pvsim compare` name; also the kernel's `work=` name unless `work` says otherwise. */
  name: string;
  work?: string;
  io: WorkloadIo;
  /** Default parameters (kernel command-line keys): small, so a comparison takes seconds. */
  defaults: Record<string, string>;
  /** Operations done, from the result line (for exits per operation). */
  ops: (r: Record<string, string>) => number;
  /** The workload's checksum from its result line (equal across modes); default: check=, else result=, else checksum=. */
  checksum?: (r: Record<string, string>) => string;
  /** The console line after which the measured section starts (default: the line just before the result). */
  startMarker?: RegExp;
  /** Bare words the kernel takes as flags (`tlbwalk:mega`), passed without a value. */
  flags?: readonly string[];
  /** What the workload measures, for --help and docs. */
  about: string;
}

const num = (r: Record<string, string>, k: string): number => {
  const v = Number(r[k]);
  return Number.isFinite(v) ? v : 0;
};

export const WORKLOADS: readonly WorkloadDef[] = [
  { name: 'cpu', io: 'none', defaults: { n: '20' }, ops: (r) => num(r, 'iterations'), about: 'compute mix (CoreMark-like rounds)' },
  { name: 'syscall', io: 'none', defaults: { n: '2000' }, ops: (r) => num(r, 'syscalls'), about: 'null system calls from a user task' },
  { name: 'pt', io: 'none', defaults: { n: '500' }, ops: (r) => num(r, 'uvm_cycles') + num(r, 'mmu_batches'), about: 'PTE writes: map/unmap one page, then batches of 8' },
  { name: 'ctxsw', io: 'none', defaults: { n: '500' }, ops: (r) => num(r, 'switches'), about: 'context switches between two processes' },
  { name: 'pgfault', io: 'none', defaults: { n: '4', pages: '64' }, ops: (r) => num(r, 'faults'), about: 'demand-zero page faults' },
  { name: 'timer', io: 'none', defaults: { n: '20', period_us: '200' }, ops: (r) => num(r, 'wakeups'), about: 'periodic timer sleeps (wake-up lateness)' },
  { name: 'blk', io: 'blk', defaults: { mode: 'seq', bs: '4096', qd: '1', n: '32' }, ops: (r) => num(r, 'writes') + num(r, 'reads'), startMarker: /^blk: (vbd|virtio-blk|ata) /, about: 'block I/O: writes, flush, reads back' },
  { name: 'net', io: 'net', defaults: { ping: '5', udp: '20', size: '512' }, ops: (r) => num(r, 'pings') + num(r, 'udp_tx'), startMarker: /^net: (vif|virtio-net) /, checksum: (r) => `replies=${r.replies ?? '?'},udp_rx_bytes=${r.udp_rx_bytes ?? '?'},tx_errors=${r.tx_errors ?? '?'}`, about: 'ping and UDP to a peer domain' },
  { name: 'irq', io: 'none', defaults: { n: '2000' }, ops: (r) => num(r, 'toggles'), about: 'interrupt disable/enable toggles (PV: evtchn_upcall_mask; native: sstatus.SIE)' },
  { name: 'fork', io: 'none', defaults: { n: '10', pages: '4' }, ops: (r) => num(r, 'forks'), about: 'fork + exit + wait of a small address space' },
  { name: 'shell', io: 'none', defaults: { n: '8' }, ops: (r) => num(r, 'forks'), about: 'a shell loop: fork, exec of a small program, exit, wait' },
  { name: 'timerlat', io: 'none', defaults: { n: '20', delay_us: '200' }, ops: (r) => num(r, 'samples'), about: 'timer-interrupt latency (handler entry - deadline)' },
  // 4 MiB: 1024 pages, four times the TLB's 256 entries; `mega` maps it with one 4 MiB page,
  // which fits the comparison's 16 MiB domain (8M mega needs 32 MiB). The result's pages=
  // says what was walked (PV: always 4k, Xen gives PV guests no superpages).
  { name: 'tlbwalk', io: 'none', defaults: { size: '4M', steps: '200000' }, flags: ['mega'], ops: (r) => num(r, 'steps'), about: 'TLB-miss-bound random walk (4 KiB pages; `tlbwalk:mega` for 4 MiB megapages)' },
];

export class CompareInputError extends Error {
  override readonly name = 'CompareInputError';
}

export function workloadDef(name: string): WorkloadDef | undefined {
  return WORKLOADS.find((w) => w.name === name);
}

/** A workload argument `name[:k=v,k=v]`, checked against the table. */
export interface WorkloadSpec {
  /** The argument normalised: `name` or `name:k=v,...` (the user's keys, in their order). */
  label: string;
  def: WorkloadDef;
  /** The defaults with the user's values over them. */
  params: Record<string, string>;
}

/** Room for a workload's own keys on the 1024-byte kernel command line. */
const MAX_WORKLOAD_CMDLINE = 900;

/** Keys the comparison sets itself (the network addresses and the device choice). */
const RESERVED = new Set(['work', 'ip', 'peer', 'dev', 'vif']);

export function parseWorkload(arg: string): WorkloadSpec {
  const colon = arg.indexOf(':');
  const name = colon < 0 ? arg : arg.slice(0, colon);
  const def = workloadDef(name);
  if (!def) throw new CompareInputError(`unknown workload "${name}"; known: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  const user: [string, string][] = [];
  if (colon >= 0) {
    for (const kv of arg.slice(colon + 1).split(',')) {
      if (def.flags?.includes(kv)) {
        if (!user.some(([k]) => k === kv)) user.push([kv, '']);
        continue;
      }
      const m = /^([a-z_][a-z0-9_]*)=([A-Za-z0-9_.x]+)$/.exec(kv);
      if (!m) throw new CompareInputError(`workload "${arg}": parameter "${kv}" is not key=value (letters, digits, _ and .)`);
      if (RESERVED.has(m[1]!)) throw new CompareInputError(`workload "${arg}": ${m[1]}= is set by pvsim compare itself`);
      if (def.flags?.includes(m[1]!)) throw new CompareInputError(`workload "${arg}": ${m[1]} is a flag: give it without a value (${name}:${m[1]})`);
      user.push([m[1]!, m[2]!]);
    }
  }
  const spec = { label: colon < 0 ? name : `${name}:${user.map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(',')}`, def, params: { ...def.defaults, ...Object.fromEntries(user) } };
  // The kernel's command line holds 1024 bytes; leave room for the keys the comparison adds.
  if (workloadCmdline(spec).length > MAX_WORKLOAD_CMDLINE) throw new CompareInputError(`workload "${arg}": its command line would be longer than ${MAX_WORKLOAD_CMDLINE} bytes`);
  return spec;
}

/** The kernel command line of a workload (without the device and address keys). */
export function workloadCmdline(w: WorkloadSpec): string {
  return [`work=${w.def.work ?? w.def.name}`, ...Object.entries(w.params).map(([k, v]) => (v === '' ? k : `${k}=${v}`))].join(' ');
}

/** A result line `work=<name> k=v ...` as fields (`work` included). */
export function parseResultLine(line: string): Record<string, string> {
  // No prototype: the guest's keys are its own, `__proto__=` or `constructor=` included.
  const out = Object.create(null) as Record<string, string>;
  for (const tok of line.trim().split(/\s+/)) {
    const eq = tok.indexOf('=');
    if (eq > 0) out[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  return out;
}

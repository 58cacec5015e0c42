// One cell of a comparison: a workload in one mode (I/O path, shadow policy, cost values),
// run in deterministic virtual time in this process, turned into a CompareCell. pv,
// hvm-trap and hvm-hw run through the scenario runner (dom0 in-process); native through
// the native board. The cell carries no wall-clock figure: the same job gives the same cell.

import { closeSync, ftruncateSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateScenario } from '../scenario/schema.ts';
import { runScenario } from '../scenario/runner.ts';
import type { EngineKind } from '../../hypervisor/cpu/engines.ts';
import { costModel, type CostModel } from '../../hypervisor/time/cost_model.ts';
import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import type { Domain } from '../../hypervisor/domain/domain.ts';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../local.ts';
import { addDevice, vbdDevice, vifDevice, type DeviceSpec } from '../../dom0/toolstack/devices.ts';
import type { CompareCell, CompareIo, CompareIoPath, CompareMode, CompareShadow, ExitStat } from './types.ts';
import { diffCounters, EMPTY_COUNTERS, readCounters, type Counters } from './counters.ts';
import { parseResultLine, parseWorkload, workloadCmdline, type WorkloadSpec } from './workloads.ts';
import { runNativeBoards, type NativeRunOptions } from '../native/machine.ts';

/** What a worker is asked to run. Plain data: it crosses the IPC channel as JSON. */
export interface CellJob {
  /** The workload argument (`name[:k=v,...]`). */
  workload: string;
  mode: CompareMode;
  io: CompareIoPath | null;
  shadow: CompareShadow | null;
  /** Cost-model values for this cell (`--vary`). */
  vary: Record<string, number>;
  seed: number;
  images: { work: string; native: string; sbi: string };
  /** A private directory for disk images (the worker's own). */
  tmpDir: string;
  /** Virtual time after which a run that has not finished fails (ns). */
  maxVirtualNs: number;
  /** `--cpu`: the engine (absent: DEFAULT_ENGINE). Never changes a result, only the wall time. */
  cpu?: EngineKind;
}

const GUEST = 'guest';
const PEER = 'peer';
const GUEST_MIB = 16;
/** Disk image size: the blk workload's default region (2048 sectors) and some room. */
const DISK_BYTES = 4 << 20;

const HYPERCALL_NAMES = new Map<number, string>(Object.entries(HYPERVISOR).map(([k, v]) => [v, k]));

/** A console line of the guest and the guest's counters when it was printed. */
interface Line {
  text: string;
  counters: Counters;
}

interface RawRun {
  lines: Line[];
  /** Counters at the end of the run. */
  end: Counters;
  /** True when the window could be taken from counters read as the guest printed (false: whole run). */
  windowed: boolean;
  note?: string;
}

function blankCell(job: CellJob, error?: string): CompareCell {
  return {
    workload: job.workload,
    mode: job.mode,
    io: job.io,
    shadow: job.shadow,
    vary: { ...job.vary },
    ok: error === undefined,
    ...(error !== undefined ? { error } : {}),
    checksum: '',
    result: {},
    virtualNs: 0,
    slowdown: null,
    instructions: { guestUser: 0, guestKernel: 0, hypervisor: 0, dom0: 0 },
    timeNs: { guestUser: 0, guestKernel: 0, hypervisor: 0, dom0: 0, idle: 0 },
    exits: [],
    illegalInsn: [],
    hypercalls: [],
    mmu: { pageWalks: 0, refsPerWalk: 0, tlbMisses: 0, shadowFills: 0, shadowFlushes: {}, wpFaults: 0, mmuUpdateCalls: 0, ptesPerMmuUpdate: 0 },
  };
}

function makeDisk(dir: string, name: string): string {
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(0));
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, DISK_BYTES); // sparse: zeroes, nothing written
  } finally {
    closeSync(fd);
  }
  return path;
}

const NET = { guest: { ip: '10.0.0.1', mac: '00:16:3e:00:00:01' }, peer: { ip: '10.0.0.2', mac: '00:16:3e:00:00:02' } };

function guestCmdline(job: CellJob, w: WorkloadSpec): string {
  let c = workloadCmdline(w);
  if (w.def.io === 'net') c += ` ip=${NET.guest.ip} peer=${NET.peer.ip}`;
  if (w.def.io !== 'none' && job.mode !== 'pv') c += ` dev=${job.io === 'pvhvm' ? 'pv' : job.io}`;
  return c;
}

/** Splits console bytes into lines, reading the guest's counters at each line's end. */
function lineCollector(read: () => Counters): { push(text: string): void; lines: Line[] } {
  const lines: Line[] = [];
  let partial = '';
  return {
    lines,
    push(text: string) {
      partial += text;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const t = partial.slice(0, nl).replace(/\r$/, '');
        partial = partial.slice(nl + 1);
        // Bounded: a chatty guest keeps its last lines only (the result line is the last).
        if (lines.length >= 4096) lines.splice(0, 1024);
        lines.push({ text: t, counters: read() });
      }
      if (partial.length > 65_536) partial = partial.slice(-65_536);
    },
  };
}

/**
 * PVHVM: the unmodified kernel's blkfront/netfront on an HVM domain. xl.cfg (and so a
 * scenario) cannot give an HVM domain PV devices yet, so this builds the machine itself and
 * announces them to dom0 directly, as tests/pvhvm.test.ts does; once xl.cfg can, this becomes
 * a scenario like the other modes. No start jitter here: the seed does not change the run.
 */
async function runPvhvm(job: CellJob, w: WorkloadSpec, costs: CostModel): Promise<RawRun> {
  const hv = new Hypervisor({ machineMemoryBytes: 256 << 20, pcpus: w.def.io === 'net' ? 2 : 1, costs: job.vary, ...(job.cpu ? { cpu: job.cpu, forceCpu: true } : {}) });
  let target: Domain | null = null;
  const collector = lineCollector(() => (target ? readCounters(target, costs) : EMPTY_COUNTERS));
  const onConsole = (d: Domain, bytes: Uint8Array) => {
    if (d.name !== GUEST) return;
    target = d;
    collector.push(new TextDecoder().decode(bytes));
  };
  hv.onConsole = onConsole;
  const dom0 = startLocalDom0(hv, { onConsole });
  try {
    const h = hv.createHvmDomain(readFileSync(job.images.native), {
      name: GUEST, memoryBytes: GUEST_MIB << 20, cmdline: guestCmdline(job, w), vcpus: 1,
      hvm: { mode: job.mode === 'hvm-hw' ? 'hw' : 'trap', shadowSync: job.shadow ?? 'wp' },
    });
    const guests: Domain[] = [h];
    const announce = (domid: number, dev: DeviceSpec) => {
      const r = addDevice(dom0.xs, domid, dev);
      if (!r.ok) throw new CellFailure(`pvhvm: announcing ${dev.kind} to dom0: ${r.problem ?? r.error}`);
    };
    if (w.def.io === 'blk') announce(h.domid, vbdDevice({ devid: 51712, path: makeDisk(job.tmpDir, 'disk.img'), access: 'w', vdev: 'xvda' }));
    else {
      announce(h.domid, vifDevice({ devid: 0, mac: NET.guest.mac }));
      const peer = hv.createPvDomain(readFileSync(job.images.work), { name: PEER, memoryBytes: GUEST_MIB << 20, cmdline: workloadCmdline(w) + ` ip=${NET.peer.ip} peer=${NET.guest.ip}` }).domain;
      announce(peer.domid, vifDevice({ devid: 0, mac: NET.peer.mac }));
      guests.push(peer);
    }
    for (const d of guests) hv.unpause(d);
    await hv.runAsync({ until: job.maxVirtualNs });
    return { lines: collector.lines, end: readCounters(h, costs), windowed: true };
  } finally {
    dom0.close();
  }
}

async function runDomain(job: CellJob, w: WorkloadSpec, costs: CostModel): Promise<RawRun> {
  if (job.io === 'pvhvm') return runPvhvm(job, w, costs);
  const hvm = job.mode !== 'pv';
  const guest: Record<string, unknown> = {
    name: GUEST,
    image: hvm ? job.images.native : job.images.work,
    cmdline: guestCmdline(job, w),
    memory: GUEST_MIB,
  };
  if (hvm) {
    guest.type = 'hvm';
    guest.hvm_mode = job.mode === 'hvm-hw' ? 'hw' : 'trap';
    if (job.mode === 'hvm-trap') guest.shadow_sync = job.shadow ?? 'wp';
  }
  const domains: Record<string, unknown>[] = [guest];
  if (w.def.io === 'blk') {
    const img = makeDisk(job.tmpDir, 'disk.img');
    guest.disk = [`file:${img},xvda,w${hvm ? `,devtype=${job.io}` : ''}`];
  } else if (w.def.io === 'net') {
    guest.vif = [`mac=${NET.guest.mac},bridge=xenbr0${hvm ? ',model=virtio' : ''}`];
    // The peer is a PV work kernel doing the same exchange with the addresses swapped.
    const peerLine = workloadCmdline(w) + ` ip=${NET.peer.ip} peer=${NET.guest.ip}`;
    domains.push({ name: PEER, image: job.images.work, cmdline: peerLine, memory: GUEST_MIB, vif: [`mac=${NET.peer.mac},bridge=xenbr0`] });
  }
  const scenario = validateScenario(
    { name: 'compare', pcpus: domains.length, machineMemory: 256, seed: job.seed, until: job.maxVirtualNs, domains },
    join(job.tmpDir, 'compare.json'),
  );
  let target: Domain | null = null;
  const collector = lineCollector(() => (target ? readCounters(target, costs) : EMPTY_COUNTERS));
  const result = await runScenario(scenario, {
    baseDir: job.tmpDir,
    seed: job.seed,
    costs: job.vary,
    ...(job.cpu ? { cpu: job.cpu } : {}),
    onConsole: (d, bytes) => {
      if (d.name !== GUEST) return;
      target = d;
      collector.push(new TextDecoder().decode(bytes));
    },
  });
  const d = [...result.hv.domains.values()].find((x) => x.name === GUEST);
  if (!d) throw new CellFailure('the guest domain is gone');
  return { lines: collector.lines, end: readCounters(d, costs), windowed: true };
}

/**
 * The native board (sim/native/machine.ts): the unmodified kernel on sbi.elf with no
 * hypervisor. `net` runs two boards on one bridge and one virtual clock, the peer the same
 * kernel with the addresses swapped, so the network has a native baseline too.
 */
async function runNativeCell(job: CellJob, w: WorkloadSpec, costs: CostModel): Promise<RawRun> {
  if (job.io === 'pv' || job.io === 'pvhvm') throw new CellFailure(`native has no ${job.io} I/O path`);
  if (w.def.io === 'net' && job.io !== 'virtio') throw new CellFailure(`native net has no ${job.io} NIC (virtio only)`);
  const kernel = new Uint8Array(readFileSync(job.images.native));
  const firmware = new Uint8Array(readFileSync(job.images.sbi));
  const collector = lineCollectorOf();
  const board: NativeRunOptions = {
    kernel,
    firmware,
    cmdline: guestCmdline(job, w),
    memoryMiB: GUEST_MIB,
    costs,
    maxVirtualNs: job.maxVirtualNs,
    ...(job.cpu ? { cpu: job.cpu } : {}),
    onConsole: (text, perf) => collector.push({ text, counters: { perf: perf(), fallback: false } }),
  };
  const boards: NativeRunOptions[] = [board];
  if (w.def.io === 'blk') board.disks = [{ path: makeDisk(job.tmpDir, 'disk.img'), devtype: job.io as 'virtio' | 'legacy' }];
  else if (w.def.io === 'net') {
    board.nics = [{ mac: NET.guest.mac, bridge: 'xenbr0' }];
    const peerLine = workloadCmdline(w) + ` ip=${NET.peer.ip} peer=${NET.guest.ip} dev=virtio`;
    boards.push({ kernel, firmware, cmdline: peerLine, memoryMiB: GUEST_MIB, costs, maxVirtualNs: job.maxVirtualNs, ...(job.cpu ? { cpu: job.cpu } : {}), nics: [{ mac: NET.peer.mac, bridge: 'xenbr0' }] });
  }
  const [r] = await runNativeBoards(boards);
  return { lines: collector.lines, end: { perf: r!.perf, fallback: false }, windowed: true };
}

/** Console lines already split, with the counters read as each completed (bounded as lineCollector). */
function lineCollectorOf(): { push(l: Line): void; lines: Line[] } {
  const lines: Line[] = [];
  return {
    lines,
    push(l: Line) {
      if (lines.length >= 4096) lines.splice(0, 1024);
      lines.push(l);
    },
  };
}

class CellFailure extends Error {}

const FAIL = /^(work=\S*: FAILED|panic:)|unknown workload/;

function exitStats(perf: Counters['perf']): ExitStat[] {
  const entries = Object.entries(perf.exits);
  const count = entries.reduce((a, [, c]) => a + c.count, 0);
  const ns = entries.reduce((a, [, c]) => a + c.totalNs, 0);
  return entries
    .map(([reason, c]) => ({
      reason,
      count: c.count,
      share: round(count ? c.count / count : 0),
      timeShare: round(ns ? c.totalNs / ns : 0),
      minNs: round(c.minNs),
      avgNs: round(c.count ? c.totalNs / c.count : 0),
      maxNs: round(c.maxNs),
    }))
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : 1));
}

/** Rounds to 4 decimals: figures in the report do not carry float noise. */
function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

const MAX_LATENCY_BUCKETS = 128;

/** `lat_hist_ns=<bound>:<count>,...` (guests/work/latency.c) as buckets; [] when absent or malformed. */
export function parseLatencyHistogram(field: string | undefined): { ns: number; count: number }[] {
  if (!field || field === '-') return [];
  const parts = field.split(',');
  // The kernel prints at most 121 buckets (4 per power of two up to 2^32); more is not its histogram.
  if (parts.length > MAX_LATENCY_BUCKETS) return [];
  const out: { ns: number; count: number }[] = [];
  for (const part of parts) {
    const m = /^(\d+):(\d+)$/.exec(part);
    if (!m) return [];
    out.push({ ns: Number(m[1]), count: Number(m[2]) });
  }
  return out.sort((x, y) => x.ns - y.ns);
}

function ioStats(w: WorkloadSpec, r: Record<string, string>, perf: Counters['perf'], exits: number, ops: number, virtualNs: number): CompareIo {
  const per = (x: number) => round(ops ? x / ops : 0);
  let throughput = 0;
  let unit = '';
  if (w.def.io === 'blk') {
    throughput = virtualNs ? (ops * 1e9) / virtualNs : 0;
    unit = 'IOPS';
  } else {
    throughput = virtualNs ? (Number(r.udp_tx_bytes ?? 0) * 8 * 1e3) / virtualNs : 0;
    unit = 'Mbit/s';
  }
  // The guest's own per-request latencies (guests/work/latency.c): blk from submit to
  // completion as the workload reaps it, net the ping round trips.
  const histogram = parseLatencyHistogram(r.lat_hist_ns);
  const num = (k: string) => (r[k] !== undefined && Number.isFinite(Number(r[k])) ? Number(r[k]) : 0);
  return {
    requests: ops,
    exitsPerRequest: per(exits),
    notificationsPerRequest: per(perf.io.notifications),
    interruptsPerRequest: per(perf.io.interrupts),
    grantOpsPerRequest: per(perf.io.grantOps),
    bytesCopiedPerRequest: per(perf.io.bytesCopied),
    dom0NsPerRequest: per(perf.dom0Ns),
    latencyP50Ns: num('lat_p50_ns'),
    latencyP99Ns: num('lat_p99_ns'),
    latencyHistogram: histogram,
    latencyNote: w.def.io === 'blk'
      ? `per request, submit to completion as the guest reaps it (in order)${histogram.length ? '' : '; the kernel printed no lat_hist_ns'}`
      : `per ping round trip (UDP is one-way)${histogram.length ? '' : '; the kernel printed no lat_hist_ns'}`,
    throughput: round(throughput),
    throughputUnit: unit,
  };
}

/** Builds the cell from a run's console and counters. */
function cellFrom(job: CellJob, w: WorkloadSpec, costs: CostModel, raw: RawRun): CompareCell {
  const name = w.def.work ?? w.def.name;
  const texts = raw.lines.map((l) => l.text);
  const failed = texts.find((t) => FAIL.test(t) && (t.includes(`work=${name}`) || !t.startsWith('work=')));
  if (failed && /unknown workload/.test(failed)) return blankCell(job, `workload missing: the kernel has no work=${name} (${failed.trim()})`);
  const at = texts.findIndex((t) => t.startsWith(`work=${name} `));
  if (at < 0) return blankCell(job, failed ? failed.trim() : `no result line (work=${name} ...) within ${job.maxVirtualNs / 1e9} s of virtual time; last line: ${texts.at(-1) ?? '(none)'}`);
  const result = parseResultLine(texts[at]!);
  let startIdx = -1;
  if (w.def.startMarker) startIdx = raw.lines.slice(0, at).findIndex((l) => w.def.startMarker!.test(l.text));
  else startIdx = at - 1;
  const start = raw.windowed && startIdx >= 0 ? raw.lines[startIdx]!.counters : EMPTY_COUNTERS;
  const win = diffCounters(raw.windowed ? raw.lines[at]!.counters : raw.end, start).perf;

  const cell = blankCell(job);
  cell.result = result;
  cell.checksum = w.def.checksum ? w.def.checksum(result) : (result.check ?? result.result ?? result.checksum ?? '');
  // The guest's own figure: whatever it printed must be a time, or every ratio built on it
  // (slowdowns, idle time, throughput) is Infinity, NaN or negative.
  const ns = result.ns === undefined ? 0 : Number(result.ns);
  if (!Number.isFinite(ns) || ns < 0 || ns > job.maxVirtualNs) return blankCell(job, `the result line's ns=${result.ns!.slice(0, 40)} is not a virtual time (0 to ${job.maxVirtualNs} ns)`);
  cell.virtualNs = ns;
  const insNs = costs.instructionNs;
  cell.instructions = {
    guestUser: win.instr.user,
    guestKernel: win.instr.kernel,
    hypervisor: Math.round(win.hypervisorNs / insNs),
    dom0: Math.round(win.dom0Ns / insNs),
  };
  const t = { guestUser: round(win.instr.user * insNs), guestKernel: round(win.instr.kernel * insNs), hypervisor: round(win.hypervisorNs), dom0: round(win.dom0Ns) };
  cell.timeNs = { ...t, idle: round(Math.max(0, cell.virtualNs - t.guestUser - t.guestKernel - t.hypervisor - t.dom0)) };
  cell.exits = exitStats(win);
  cell.illegalInsn = Object.entries(win.illegalInsn).map(([insn, count]) => ({ insn, count })).sort((a, b) => b.count - a.count || (a.insn < b.insn ? -1 : 1));
  cell.hypercalls = Object.entries(win.hypercalls).map(([nr, count]) => ({ nr: Number(nr), name: HYPERCALL_NAMES.get(Number(nr)) ?? `hypercall_${nr}`, count })).sort((a, b) => a.nr - b.nr);
  cell.mmu = {
    pageWalks: win.mmu.pageWalks,
    refsPerWalk: round(win.mmu.pageWalks ? win.mmu.walkRefs / win.mmu.pageWalks : 0),
    tlbMisses: win.mmu.tlbMisses,
    shadowFills: win.mmu.shadowFills,
    shadowFlushes: win.mmu.shadowFlushes,
    wpFaults: win.mmu.wpFaults,
    mmuUpdateCalls: win.mmu.mmuUpdateCalls,
    ptesPerMmuUpdate: round(win.mmu.mmuUpdateCalls ? win.mmu.mmuUpdatePtes / win.mmu.mmuUpdateCalls : 0),
  };
  const exits = cell.exits.reduce((a, e) => a + e.count, 0);
  const ops = w.def.ops(result);
  cell.ops = ops;
  cell.exitsPerOp = round(ops ? exits / ops : 0);
  if (w.def.io !== 'none') cell.ioStats = ioStats(w, result, win, exits, ops, cell.virtualNs);
  const notes = [raw.note, raw.end.fallback ? 'Domain.perf is empty in this build: instructions are not split by privilege, exits come from the HVM board and vCPU statistics' : undefined].filter((x) => x);
  if (notes.length) cell.note = notes.join('; ');
  return cell;
}

/** Runs one cell. Never throws for a failing guest or a missing mode: the cell says why. */
export async function runCell(job: CellJob): Promise<CompareCell> {
  let w: WorkloadSpec;
  try {
    w = parseWorkload(job.workload);
  } catch (e) {
    return blankCell(job, (e as Error).message);
  }
  const costs = costModel(job.vary);
  try {
    const raw = job.mode === 'native' ? await runNativeCell(job, w, costs) : await runDomain(job, w, costs);
    return cellFrom(job, w, costs, raw);
  } catch (e) {
    if (e instanceof CellFailure) return blankCell(job, e.message);
    return blankCell(job, `${job.mode}: ${(e as Error).message}`);
  }
}


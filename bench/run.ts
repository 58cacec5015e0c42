// `npm run bench`: one JSON object on stdout, human-readable progress on stderr.
// Every figure is measured in this run; `baseline_*` keys are the same-run references the
// other figures are compared against (see docs/benchmarks.md).

import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { runBare } from '../hypervisor/bare/machine.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { hypercallLoopKernel, ioKernel } from '../tests/helpers/test_guests.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { XsFrameDecoder, encodeXsMessage, XS_TYPE, xsJoinStrings } from '../protocol/xen/xs_wire.ts';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { addDevice, vbdDevice, vifDevice } from '../dom0/toolstack/devices.ts';
import { parsePcap } from '../dom0/backends/net/pcap.ts';
import { dom0Args, newRunFiles, readToken } from '../cli/runtime.ts';
import { start, stopChild } from '../cli/up.ts';
import { connect, type Peer } from '../protocol/session.ts';
import type { WireProfile } from '../protocol/wire_stats.ts';
import type { CreateDomain } from '../protocol/wire.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';
import { xenstorePersistMs } from './xenstore_persist.ts';
import { fullvirtBench } from './fullvirt.ts';
import { DEVICEMODEL_KEYS, devicemodelBench } from './devicemodel.ts';
import { startupBench } from './startup.ts';
import { scaleBench } from './scale.ts';
import { framesFromA, runNetPair } from './net_pair.ts';

type Results = Record<string, number | string>;

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** Best of `runs` wall-clock measurements of `fn`, which returns the work it did. */
function best(runs: number, fn: () => number): { work: number; seconds: number } {
  let bestRate = 0;
  let out = { work: 0, seconds: 0 };
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const work = fn();
    const seconds = (performance.now() - t0) / 1000;
    if (work / seconds > bestRate) {
      bestRate = work / seconds;
      out = { work, seconds };
    }
  }
  return out;
}

/** Millions of simple integer operations per second in plain JS: the host's ceiling. */
function baselineJsMops(): number {
  const buf = new Int32Array(4096);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) | 0;
  const { work, seconds } = best(3, () => {
    let h = 0;
    const rounds = 20_000;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < buf.length; i++) h = (Math.imul(h ^ buf[i]!, 16777619) + (h >>> 13)) | 0;
    }
    if (h === 42) log('');
    return rounds * buf.length * 4; // xor, mul, shift, add
  });
  return work / seconds / 1e6;
}

function interpMips(image: string): { mips: number; instructions: number } {
  const elf = readFileSync(image);
  const { work, seconds } = best(2, () => {
    const r = runBare(elf, { cpu: 'interp', maxInstructions: 5_000_000_000 });
    if (r.outcome.kind !== 'pass') throw new Error(`${image} did not pass: ${JSON.stringify(r.outcome, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    return r.instructions;
  });
  return { mips: work / seconds / 1e6, instructions: work };
}

/** interpMips with the block translator: the same programs on the same bare machine, best of 2 in one process like interp_mips. */
function jitMips(image: string): { mips: number; instructions: number } {
  const elf = readFileSync(image);
  const { work, seconds } = best(2, () => {
    const r = runBare(elf, { cpu: 'jit', maxInstructions: 5_000_000_000 });
    if (r.outcome.kind !== 'pass') throw new Error(`${image} did not pass under the translator: ${r.outcome.kind}`);
    return r.instructions;
  });
  return { mips: work / seconds / 1e6, instructions: work };
}

const MiB = 1024 * 1024;

/** Null-ish hypercalls (xen_version) per wall second, through the whole trap path. */
function hypercallsPerSecond(): number {
  const n = 1_000_000;
  const img = hypercallLoopKernel(n);
  const { work, seconds } = best(2, () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    const d = hv.createPvDomain(img, { name: 'hc', memoryBytes: 4 * MiB }).domain;
    hv.unpause(d);
    hv.run();
    if (d.shutdownReason !== 'poweroff') throw new Error('hypercall loop did not finish');
    return d.vcpus[0]!.stats.hypercalls;
  });
  return work / seconds;
}

/** Interdomain event-channel ping-pong between two work.elf domains on one pCPU. */
function evtchnRoundtrips(): { perSecond: number; virtualNs: number } {
  const img = readFileSync('guests/build/work.elf');
  const n = 20_000;
  const { work, seconds } = best(2, () => {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
    const server = hv.createPvDomain(img, { name: 'server', memoryBytes: 8 * MiB, cmdline: `work=evtchn-ping role=server peer=2 n=${n}` }).domain;
    const client = hv.createPvDomain(img, { name: 'client', memoryBytes: 8 * MiB, cmdline: `work=evtchn-ping role=client peer=1 port=1 n=${n}` }).domain;
    hv.unpause(server);
    hv.unpause(client);
    hv.run();
    if (client.shutdownReason !== 'poweroff' || server.shutdownReason !== 'poweroff') throw new Error('evtchn-ping did not finish');
    lastEvtchnVirtualNs = hv.now();
    return n;
  });
  return { perSecond: work / seconds, virtualNs: lastEvtchnVirtualNs / n };
}
let lastEvtchnVirtualNs = 0;

/** 1,000 timer-driven domains on 4 pCPUs: scheduler decisions per wall second. */
function schedDecisions1000(): { perSecond: number; decisions: number } {
  const img = ioKernel(2_000_000, 50);
  const hv = new Hypervisor({ machineMemoryBytes: 4096 * MiB, pcpus: 4 });
  const doms = Array.from({ length: 1000 }, (_, i) => hv.createPvDomain(img, { name: `io${i}`, memoryBytes: 1 * MiB }).domain);
  doms.forEach((d) => hv.unpause(d));
  hv.run({ until: 20_000_000 }); // warm-up: every domain has started
  const before = hv.schedDecisions;
  const t0 = performance.now();
  hv.run({ until: 120_000_000 });
  const seconds = (performance.now() - t0) / 1000;
  const decisions = hv.schedDecisions - before;
  return { perSecond: decisions / seconds, decisions };
}

/** Wall seconds to build 1,000 hello domains and run each to its poweroff. */
function boot1000(): number {
  const img = readFileSync('guests/build/hello.elf');
  const t0 = performance.now();
  const hv = new Hypervisor({ machineMemoryBytes: 4096 * MiB, pcpus: 4 });
  const doms = Array.from({ length: 1000 }, (_, i) => hv.createPvDomain(img, { name: `h${i}`, memoryBytes: 1 * MiB }).domain);
  doms.forEach((d) => hv.unpause(d));
  hv.run();
  const seconds = (performance.now() - t0) / 1000;
  const done = doms.filter((d) => d.shutdownReason === 'poweroff').length;
  if (done !== 1000) throw new Error(`only ${done} of 1000 domains powered off`);
  return seconds;
}

/** Host memory per built, idle (never run) 4 MiB hello domain. */
function hostMibPerIdleDomain(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  const img = readFileSync('guests/build/hello.elf');
  const hv = new Hypervisor({ machineMemoryBytes: 4096 * MiB });
  hv.createPvDomain(img, { name: 'warm', memoryBytes: 4 * MiB }); // load code, warm caches
  gc?.();
  const used = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const n = 200;
  for (let i = 0; i < n; i++) hv.createPvDomain(img, { name: `idle${i}`, memoryBytes: 4 * MiB });
  gc?.();
  return (used() - before) / n / MiB;
}

/** Starts a bench peer (bench/peers.ts) and waits for its READY line. */
async function peer(...args: string[]): Promise<{ proc: ChildProcess; info: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'bench/peers.ts', ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const info = await new Promise<string>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`bench peer ${args[0]} did not start`)), 20_000);
    createInterface({ input: proc.stdout! }).once('line', (l) => {
      clearTimeout(t);
      res(l.replace(/^READY ?/, ''));
    });
  });
  return { proc, info };
}

/** XenStore write+read pairs over the Unix socket to a xenstored in another process. */
async function xenstoreOpsPerSecond(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-'));
  const sock = join(dir, 'xs.sock');
  const { proc } = await peer('xenstored', sock);
  try {
    const conn = createConnection(sock);
    await new Promise<void>((res) => conn.once('connect', () => res()));
    const dec = new XsFrameDecoder();
    let waiting: (() => void) | null = null;
    conn.on('data', (chunk) => {
      if (dec.push(new Uint8Array(chunk)).length && waiting) waiting();
    });
    const call = (type: number, strings: string[]) =>
      new Promise<void>((res) => {
        waiting = res;
        conn.write(encodeXsMessage({ type, reqId: 0, txId: 0, payload: xsJoinStrings(strings) }));
      });
    const n = 5_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await call(XS_TYPE.WRITE, [`/bench/key${i % 64}`, `value-${i}`]);
      await call(XS_TYPE.READ, [`/bench/key${i % 64}`]);
    }
    const seconds = (performance.now() - t0) / 1000;
    conn.destroy();
    return (2 * n) / seconds;
  } finally {
    proc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Plain WebSocket echo round trips between two processes: the ceiling for dispatches. */
async function wsEchoPerSecond(): Promise<number> {
  const { proc, info } = await peer('echo');
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${info}`);
    await new Promise((res) => ws.once('open', res));
    const msg = new Uint8Array(64);
    const n = 10_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      await new Promise<void>((res) => {
        ws.once('message', () => res());
        ws.send(msg);
      });
    }
    const seconds = (performance.now() - t0) / 1000;
    ws.close();
    return n / seconds;
  } finally {
    proc.kill();
  }
}

/**
 * Dispatches across the dom0 boundary: the hypervisor notifies a dom0 port whose handler
 * does nothing, runs the machine until dom0 has answered, and again: each one a dispatch
 * frame to dom0 and its answer, through the run loop, Dom0Bridge and RemotePlatform (the
 * seam's own cost, beside a plain ws echo). Warm: 2,000 first, then 10,000 timed. Also
 * the older figure: dispatches per wall second of a guest doing XenStore requests (its
 * interpretation included), dom0 in-process and as a process.
 */
async function dom0Dispatches(): Promise<{ roundTrips: number; xenstoreRemote: number; xenstoreLocal: number }> {
  const img = readFileSync('guests/build/work.elf');
  const cmdline = 'work=xenstore n=1000 nocheck';
  // In-process baseline.
  const hvl = new Hypervisor({ machineMemoryBytes: 256 * MiB });
  startLocalDom0(hvl);
  const dl = hvl.createPvDomain(img, { name: 'xs', memoryBytes: 8 * MiB, cmdline }).domain;
  hvl.unpause(dl);
  let t0 = performance.now();
  await hvl.runAsync();
  const xenstoreLocal = hvl.dispatches / ((performance.now() - t0) / 1000);
  // dom0 in a child process.
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-'));
  const { newToken } = await import('../cli/runtime.ts');
  const hvTok = join(dir, 'hv.token');
  const clTok = join(dir, 'client.token');
  const token = newToken(hvTok);
  newToken(clTok);
  const server = new HypervisorServer({ token, manual: true, machineMemoryBytes: 256 * MiB, pcpus: 1 });
  const h = await server.start();
  const dom0 = spawn(process.execPath, ['bin/pvsim.js', 'dom0', '--hypervisor', h.url, '--hypervisor-token-file', hvTok, '--client-token-file', clTok, '--xenstored-path', join(dir, 'xs.sock')], {
    stdio: ['pipe', 'ignore', 'inherit'],
    env: { ...process.env, PVSIM_EXIT_WITH_STDIN: '1' },
  });
  try {
    await server.waitForDom0();
    const hv = server.hv;
    const svc = server.control!;
    // A port no daemon serves: dom0 answers at once with nothing to apply.
    const idle = 0xfffff;
    const rounds = async (n: number) => {
      for (let i = 0; i < n; i++) {
        svc.dispatcher.notify(idle);
        await hv.runAsync();
      }
    };
    await rounds(2_000);
    t0 = performance.now();
    await rounds(10_000);
    const roundTrips = 10_000 / ((performance.now() - t0) / 1000);
    const d = hv.createPvDomain(img, { name: 'xs', memoryBytes: 8 * MiB, cmdline }).domain;
    hv.unpause(d);
    const before = hv.dispatches;
    t0 = performance.now();
    await hv.runAsync();
    if (d.shutdownReason !== 'poweroff') throw new Error('work=xenstore did not finish with dom0 remote');
    return { roundTrips, xenstoreRemote: (hv.dispatches - before) / ((performance.now() - t0) / 1000), xenstoreLocal };
  } finally {
    dom0.kill();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Block I/O through the whole split driver (in-process dom0): the guest's blkfront runs
 * work=blk (n writes then n reads of bs bytes, qd in flight) against blkback on a sparse
 * image file. Wall figures are operations per wall second of the whole run (boot and the
 * xenbus handshake included, small beside n); virtual figures use the guest's own ns=.
 */
async function blkBench(bs: number, qd: number, n: number, persistent = false): Promise<{ iops: number; iopsVirtual: number; mbps: number; mbpsVirtual: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-blk-'));
  try {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
    const daemons = startLocalDom0(hv);
    const region = (64 * MiB) / 512;
    const cmdline = `work=blk mode=rand bs=${bs} qd=${qd} n=${n} region=${region} persistent=${persistent ? 1 : 0}`;
    const d = hv.createPvDomain(readFileSync('guests/build/work.elf'), { name: 'blk', memoryBytes: 16 * MiB, cmdline }).domain;
    addDevice(daemons.xs, d.domid, vbdDevice({ devid: 51712, path: join(dir, 'disk.img'), access: 'w', vdev: 'xvda' }));
    hv.unpause(d);
    const t0 = performance.now();
    await hv.runAsync();
    const seconds = (performance.now() - t0) / 1000;
    const line = hv.dmesg().find((l) => l.includes('work=blk mode='));
    const m = line && /writes=(\d+) reads=(\d+) errors=0 ns=(\d+)/.exec(line);
    if (d.shutdownReason !== 'poweroff' || !m) throw new Error(`work=blk failed: ${hv.dmesg().slice(-5).join(' | ')}`);
    const ops = Number(m[1]) + Number(m[2]);
    const virtualSeconds = Number(m[3]) / 1e9;
    return { iops: ops / seconds, iopsVirtual: ops / virtualSeconds, mbps: (ops * bs) / 1e6 / seconds, mbpsVirtual: (ops * bs) / 1e6 / virtualSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Two work=net guests on one bridge, dom0 in-process, capturing the bridge. Virtual time
 * comes from the capture (the span from the first to the last frame of the kind measured);
 * wall time is the whole run's, boot and handshakes included (small beside the traffic).
 */
async function netBench(args: string, kind: 'ping' | 'udp'): Promise<{ perSecond: number; perSecondVirtual: number; bytes: number; sentBytes: number; count: number; seconds: number; virtualSeconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-net-'));
  try {
    const pcap = join(dir, 'net.pcap');
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB, pcpus: 2 });
    const daemons = startLocalDom0(hv, { pcap });
    const image = readFileSync('guests/build/work.elf');
    const mk = (name: string, ip: string, peerIp: string, mac: string, extra: string) => {
      const d = hv.createPvDomain(image, { name, memoryBytes: 16 * MiB, cmdline: `work=net ip=${ip} peer=${peerIp} ${extra}` }).domain;
      addDevice(daemons.xs, d.domid, vifDevice({ devid: 0, mac }));
      return d;
    };
    const { a, b, seconds } = await runNetPair(hv, daemons, mk, args);
    const line = hv.dmesg().find((l) => l.startsWith('(d1) work=net'));
    const received = /udp_rx_bytes=(\d+)/.exec(hv.dmesg().find((l) => l.startsWith('(d2) work=net')) ?? '');
    if (a.shutdownReason !== 'poweroff' || b.shutdownReason !== 'poweroff' || !line || !/tx_errors=0/.test(line) || !received) throw new Error(`work=net failed: ${hv.dmesg().slice(-6).join(' | ')}`);
    // IPv4 frames from a (10.0.0.1): ICMP echo requests, or UDP to the discard port.
    const frames = framesFromA(readFileSync(pcap), kind);
    if (frames.length < 2) throw new Error('no traffic captured');
    const virtualSeconds = (frames[frames.length - 1]!.timeNs - frames[0]!.timeNs) / 1e9;
    const bytes = Number(received[1]); // UDP payload the receiver counted
    const count = frames.length;
    const measure = kind === 'ping' ? count : (bytes * 8) / 1e6;
    const sentBytes = frames.reduce((n, p) => n + p.data.length - 42, 0);
    return { perSecond: measure / seconds, perSecondVirtual: measure / virtualSeconds, bytes, sentBytes, count, seconds, virtualSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sums the boundary profiles (protocol/wire_stats.ts) the children wrote into `dir`. */
function readProfiles(dir: string): { hv: WireProfile | null; dom0: WireProfile | null } {
  const out: { hv: WireProfile | null; dom0: WireProfile | null } = { hv: null, dom0: null };
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as WireProfile;
    if (p.role === 'hypervisor') out.hv = p;
    else if (p.role === 'dom0') out.dom0 = p;
  }
  return out;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/**
 * Per unit of work (a block request, a ping): messages and round trips across the dom0
 * boundary, bytes, and where the wall time went. Counted on the hypervisor's side (every
 * frame it sends or receives is dom0's); dom0's encode/decode and handler time from dom0's.
 */
function profileTable(dir: string, units: number, wallS: number): Record<string, number> {
  const { hv, dom0 } = readProfiles(dir);
  if (!hv || !dom0) throw new Error('no boundary profile written');
  const per = (x: number) => Number((x / units).toFixed(3));
  const us = (ns: number) => Number((ns / units / 1000).toFixed(2));
  const reqsToDom0 = Object.entries(hv.framesOut).filter(([k]) => k.startsWith('req:') || k.startsWith('hot:dispatch')).reduce((a, [, v]) => a + v, 0);
  const reqsFromDom0 = Object.entries(hv.framesIn).filter(([k]) => k.startsWith('req:') || k.startsWith('hot:batch')).reduce((a, [, v]) => a + v, 0);
  return {
    messages: per(sum(hv.framesOut) + sum(hv.framesIn)),
    round_trips: per(reqsToDom0 + reqsFromDom0),
    dispatches: per(hv.dispatches),
    kbytes: Number(((sum(hv.bytesOut) + sum(hv.bytesIn)) / units / 1024).toFixed(2)),
    page_update_bytes_out: per(hv.pageBytesOut),
    page_write_bytes_in: per(hv.pageBytesIn),
    grant_copy_bytes: per(hv.grantCopyToBytes + hv.grantCopyFromBytes),
    loop_turns: per(hv.loopTurns),
    wall_us: us(wallS * 1e9),
    hv_encode_decode_us: us(hv.encodeNs + hv.decodeNs),
    hv_send_us: us(hv.sendNs),
    dom0_encode_decode_us: us(dom0.encodeNs + dom0.decodeNs),
    dom0_send_us: us(dom0.sendNs),
    dom0_handler_us: us(dom0.handlerNs),
    dom0_handler_awaiting_hv_us: us(dom0.handlerAwaitNs),
    hv_round_trip_us: us(hv.roundTripNs),
    dom0_round_trip_us: us(dom0.roundTripNs),
    machine_waiting_us: us(hv.dispatchWaitNs),
    hv_cpu_us: us(hv.cpuNs ?? 0),
    dom0_cpu_us: us(dom0.cpuNs ?? 0),
    prefetched_bytes: per(hv.prefetchedBytesOut ?? 0),
    prefetch_hits: per(dom0.prefetchHits ?? 0),
    prefetch_misses: per(dom0.prefetchMisses ?? 0),
  };
}

/** The hypervisor and dom0 as two processes (as pvsim up), a client of dom0 driving them. */
async function withProcesses<T>(opts: { pcap?: string; profile?: string }, fn: (c: Peer, dir: string) => Promise<T>): Promise<T> {
  const files = newRunFiles();
  const kids = [];
  const env = opts.profile ? { PVSIM_WIRE_PROFILE: opts.profile } : {};
  try {
    const hv = await start('hypervisor', ['hypervisor', '--token-file', files.hvToken, '--pcpus', '2', '--memory', '256'], env, ['PVSIM_HYPERVISOR_URL']);
    kids.push(hv.child);
    const d0 = await start('dom0', dom0Args(hv.vars.PVSIM_HYPERVISOR_URL!, files, { pcap: opts.pcap }), env, ['PVSIM_URL']);
    kids.push(d0.child);
    const { peer: c } = await connect(d0.vars.PVSIM_URL!, 'client', readToken(files.clientToken));
    try {
      return await fn(c, files.dir);
    } finally {
      c.close();
    }
  } finally {
    for (const k of kids.reverse()) await stopChild(k);
    rmSync(files.dir, { recursive: true, force: true });
  }
}

/** Creates domains through dom0 and waits (polling every 20 ms: each poll is work for both processes) until all have shut down. */
async function runToShutdown(c: Peer, domains: CreateDomain[]): Promise<number> {
  const t0 = performance.now();
  for (const d of domains) {
    const r = await c.request('createDomain', { onPoweroff: 'preserve', ...d });
    if (r.rc !== 0) throw new Error(`create ${d.name}: ${r.error}`);
  }
  const names = new Set(domains.map((d) => d.name));
  for (;;) {
    const l = await c.request('listDomains', {});
    const done = (l.domains?.domains ?? []).filter((d) => names.has(d.name) && d.flags & XEN_DOMINF.shutdown).length;
    if (done === names.size) break;
    if (performance.now() - t0 > 300_000) throw new Error(`${[...names].join(', ')} did not finish`);
    await new Promise((res) => setTimeout(res, 20));
  }
  return (performance.now() - t0) / 1000;
}

/**
 * work=blk with the hypervisor and dom0 as two processes (as pvsim up), every ring
 * notification crossing the WebSocket. Wall time from create to the shutdown seen by
 * polling; virtual time is the guest's own. `warm`: a short work=blk domain runs first (the
 * processes' code paths compiled and their caches filled), and only the second is timed.
 */
async function blkBenchRemote(bs: number, qd: number, n: number, persistent = false, warm = false, profile?: string): Promise<{ iops: number; iopsVirtual: number; seconds: number }> {
  return withProcesses({ profile }, async (c, dir) => {
    const blk = (name: string, count: number): CreateDomain => ({
      name,
      kernel: readFileSync('guests/build/work.elf'),
      memoryMib: 16,
      cmdline: `work=blk mode=rand bs=${bs} qd=${qd} n=${count} region=${(64 * MiB) / 512} persistent=${persistent ? 1 : 0}`,
      devices: [vbdDevice({ devid: 51712, path: join(dir, `${name}.img`), access: 'w', vdev: 'xvda' })],
    });
    if (warm) await runToShutdown(c, [blk('warmup', 500)]);
    const seconds = await runToShutdown(c, [blk('blk', n)]);
    const line = (await c.request('dmesg', {})).lines?.lines.find((x) => x.startsWith(warm ? '(d2) ' : '(d1) ') && x.includes('work=blk mode='));
    const m = line && /writes=(\d+) reads=(\d+) errors=0 ns=(\d+)/.exec(line);
    if (!m) throw new Error(`work=blk failed: ${line}`);
    const ops = Number(m[1]) + Number(m[2]);
    return { iops: ops / seconds, iopsVirtual: ops / (Number(m[3]) / 1e9), seconds };
  });
}

/**
 * Two work=net guests on xenbr0 with dom0 as its own process; the bridge's capture gives
 * the count (ping) or the receiver's byte count (udp). Wall time from the first create to
 * both shutdowns. `warm`: a pair of guests exchanges a few pings first.
 */
async function netBenchRemote(args: string, kind: 'ping' | 'udp', warm = false, profile?: string): Promise<{ perSecond: number; count: number; seconds: number }> {
  const pcapDir = mkdtempSync(join(tmpdir(), 'pvsim-bench-net-'));
  const pcap = join(pcapDir, 'net.pcap');
  try {
    return await withProcesses({ pcap, profile }, async (c) => {
      const image = readFileSync('guests/build/work.elf');
      const pair = (tag: string, extra: string): CreateDomain[] => [
        { name: `${tag}a`, kernel: image, memoryMib: 16, cmdline: `work=net ip=10.0.0.1 peer=10.0.0.2 ${extra}`, devices: [vifDevice({ devid: 0, mac: '00:16:3e:00:00:01' })] },
        { name: `${tag}b`, kernel: image, memoryMib: 16, cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=0 udp=0', devices: [vifDevice({ devid: 0, mac: '00:16:3e:00:00:02' })] },
      ];
      if (warm) {
        await runToShutdown(c, pair('w', 'ping=50 udp=0'));
        for (const n of ['wa', 'wb']) await c.request('destroyDomain', { name: n });
      }
      const before = warm ? parsePcap(readFileSync(pcap)).packets.length : 0;
      const seconds = await runToShutdown(c, pair('', args));
      const dmesg = (await c.request('dmesg', {})).lines?.lines ?? [];
      const received = [...dmesg].reverse().find((l) => /work=net .*udp_rx_bytes=/.test(l) && /ip=10\.0\.0\.2/.test(l));
      const frames = parsePcap(readFileSync(pcap)).packets.slice(before).filter((p) => {
        const f = p.data;
        if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[29] !== 1) return false;
        const proto = f[23];
        return kind === 'ping' ? proto === 1 && f[34] === 8 : proto === 17 && f[36] === 0 && f[37] === 9;
      });
      if (kind === 'ping') return { perSecond: frames.length / seconds, count: frames.length, seconds };
      const bytes = Number(/udp_rx_bytes=(\d+)/.exec(received ?? '')?.[1] ?? 0);
      return { perSecond: (bytes * 8) / 1e6 / seconds, count: frames.length, seconds };
    });
  } finally {
    rmSync(pcapDir, { recursive: true, force: true });
  }
}

/** Runs `fn` with the boundary profile on; returns its result and the per-unit table. */
async function profiled<T extends { seconds: number }>(units: number, fn: (dir: string) => Promise<T>): Promise<{ r: T; table: Record<string, number> }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-prof-'));
  try {
    const r = await fn(dir);
    return { r, table: profileTable(dir, units, r.seconds) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: Results = {};
// `npm run bench -- <regex>` runs only the benchmarks whose first key matches (and the baseline and ws_echo references).
const only = process.argv[2] ? new RegExp(process.argv[2]) : null;
const want = (key: string) => key.startsWith('baseline') || key.startsWith('ws_echo') || !only || only.test(key);
if (want('host_mib_per_idle_domain')) {
  log('host_mib_per_idle_domain: 200 built 4 MiB domains...');
  results.host_mib_per_idle_domain = Number(hostMibPerIdleDomain().toFixed(3));
}
if (want('baseline')) {
  log('baseline: plain JS integer loop...');
  results.baseline_js_mops = Number(baselineJsMops().toFixed(1));
}
if (want('cli_help_ms') || want('up_ready_ms')) {
  // Start-up (bench/startup.ts): what a user waits for before pvsim does anything.
  log('cli_help_ms, up_ready_ms: pvsim --help and pvsim up until ready, best of 5, beside node -e 0...');
  const st = await startupBench(5);
  results.baseline_node_start_ms = Math.round(st.nodeMs);
  results.cli_help_ms = Math.round(st.helpMs);
  results.up_ready_ms = Math.round(st.upMs);
  results.cli_build = st.build;
}
if (want('interp_mips')) {
  log('interp_mips: bench-compute (M-mode, paging off)...');
  const flat = interpMips('guests/build/bench-compute.elf');
  results.interp_mips = Number(flat.mips.toFixed(1));
  results.interp_instructions = flat.instructions;
}
if (want('interp_mips_sv32')) {
  log('interp_mips_sv32: bench-compute-sv32 (U-mode, Sv32)...');
  const sv32 = interpMips('guests/build/bench-compute-sv32.elf');
  results.interp_mips_sv32 = Number(sv32.mips.toFixed(1));
}
// The block translator on the same two programs (docs/jit.md); the ratio to interp_mips of the
// same run is what the target (>= 4x) is about.
if (want('jit_mips')) {
  log('jit_mips: bench-compute under the block translator...');
  results.jit_mips = Number(jitMips('guests/build/bench-compute.elf').mips.toFixed(1));
}
if (want('jit_mips_sv32')) {
  log('jit_mips_sv32: bench-compute-sv32 under the block translator...');
  results.jit_mips_sv32 = Number(jitMips('guests/build/bench-compute-sv32.elf').mips.toFixed(1));
}
// PV against full virtualization (bench/fullvirt.ts): one run gives every key below.
const FULLVIRT_KEYS = ['interp_mips_pv_work', 'interp_mips_hvm_trap', 'interp_mips_hvm_hw', 'syscall_ns_pv', 'syscall_ns_trap', 'syscall_ns_hw',
  'pte_update_ns_pv', 'pte_update_ns_trap', 'pte_update_ns_hw', 'page_fault_ns_pv', 'page_fault_ns_trap', 'page_fault_ns_hw',
  'ctxsw_ns_pv', 'ctxsw_ns_trap', 'ctxsw_ns_hw', 'exits_per_kinstr_trap', 'exits_per_kinstr_hw'];
if (FULLVIRT_KEYS.some(want)) {
  Object.assign(results, fullvirtBench(log));
}
// The device model (bench/devicemodel.ts): HVM I/O through virtio and the legacy disk, with
// the PV path's per-request cost measured the same way; the PV figures (blk_iops_4k_qd*,
// net_ping_rtt_per_s) of the same run stand beside them.
if (DEVICEMODEL_KEYS.some(want)) {
  Object.assign(results, await devicemodelBench(log, want));
}
if (want('hypercalls_per_s')) {
  log('hypercalls_per_s: 1M xen_version hypercalls...');
  results.hypercalls_per_s = Math.round(hypercallsPerSecond());
}
if (want('evtchn_roundtrips_per_s')) {
  log('evtchn_roundtrips_per_s: 20,000 interdomain ping-pongs...');
  const ev = evtchnRoundtrips();
  results.evtchn_roundtrips_per_s = Math.round(ev.perSecond);
  results.evtchn_roundtrip_virtual_ns = Math.round(ev.virtualNs);
}
if (want('sched_decisions_per_s_1000dom')) {
  log('sched_decisions_per_s_1000dom: 1000 timer domains, 4 pCPUs, 100 ms virtual...');
  const sd = schedDecisions1000();
  results.sched_decisions_per_s_1000dom = Math.round(sd.perSecond);
  results.sched_decisions_1000dom = sd.decisions;
}
if (want('boot_1000_domains_s')) {
  log('boot_1000_domains_s: 1000 hello domains to poweroff...');
  results.boot_1000_domains_s = Number(boot1000().toFixed(2));
}
if (want('ws_echo_roundtrips_per_s')) {
  log('ws_echo_roundtrips_per_s: plain ws echo between two processes...');
  results.ws_echo_roundtrips_per_s = Math.round(await wsEchoPerSecond());
}
if (want('xenstore_ops_per_s')) {
  log('xenstore_ops_per_s: write+read over the Unix socket to another process...');
  results.xenstore_ops_per_s = Math.round(await xenstoreOpsPerSecond());
  log('xenstore write and read with persistence at 15,000 nodes...');
  const xsPersist = await xenstorePersistMs();
  results.xenstore_write_ms_15k_nodes = Number(xsPersist.writeMs.toFixed(3));
  results.xenstore_read_ms_15k_nodes = Number(xsPersist.readMs.toFixed(3));
}
if (want('dom0_dispatch_roundtrips_per_s')) {
  log('dom0_dispatch_roundtrips_per_s: null dispatches to dom0 as a process; a xenstore guest in both homes...');
  const dd = await dom0Dispatches();
  results.dom0_dispatch_roundtrips_per_s = Math.round(dd.roundTrips);
  results.dom0_xenstore_dispatches_per_s = Math.round(dd.xenstoreRemote);
  results.dom0_dispatches_per_s_in_process = Math.round(dd.xenstoreLocal);
}
if (want('blk_iops_4k_qd1')) {
  log('blk_iops_4k_qd1 / blk_iops_4k_qd32 / blk_mbps_64k_qd32: work=blk against blkback (in-process dom0)...');
  const b1 = await blkBench(4096, 1, 1000);
  results.blk_iops_4k_qd1 = Math.round(b1.iops);
  results.blk_iops_4k_qd1_virtual = Math.round(b1.iopsVirtual);
  const b32 = await blkBench(4096, 32, 2000);
  results.blk_iops_4k_qd32 = Math.round(b32.iops);
  results.blk_iops_4k_qd32_virtual = Math.round(b32.iopsVirtual);
  const b64 = await blkBench(64 * 1024, 32, 500);
  results.blk_mbps_64k_qd32 = Number(b64.mbps.toFixed(1));
  results.blk_mbps_64k_qd32_virtual = Number(b64.mbpsVirtual.toFixed(1));
  const bp = await blkBench(4096, 32, 2000, true);
  results.blk_iops_4k_qd32_persistent = Math.round(bp.iops);
  results.blk_iops_4k_qd32_persistent_virtual = Math.round(bp.iopsVirtual);
}
if (want('blk_iops_4k_qd32_dom0_process')) {
  log('blk_iops_4k_qd32_dom0_process: work=blk with dom0 as its own process (cold, then warm)...');
  const cold = await blkBenchRemote(4096, 32, 2000);
  results.blk_iops_4k_qd32_dom0_process_cold = Math.round(cold.iops);
  const br = await blkBenchRemote(4096, 32, 2000, false, true);
  results.blk_iops_4k_qd32_dom0_process = Math.round(br.iops);
  results.blk_iops_4k_qd32_dom0_process_virtual = Math.round(br.iopsVirtual);
  // Persistent grants across the boundary: data through pages mirrored once, not a grant copy request per segment.
  const brp = await blkBenchRemote(4096, 32, 2000, true, true);
  results.blk_iops_4k_qd32_dom0_process_persistent = Math.round(brp.iops);
  results.blk_iops_4k_qd32_dom0_process_persistent_virtual = Math.round(brp.iopsVirtual);
}
if (want('net_ping_rtt_per_s_dom0_process')) {
  log('net_ping_rtt_per_s_dom0_process / net_udp_mbps_dom0_process: work=net pair, dom0 as its own process (cold, then warm)...');
  results.net_ping_rtt_per_s_dom0_process_cold = Math.round((await netBenchRemote('ping=2000 udp=0', 'ping')).perSecond);
  results.net_ping_rtt_per_s_dom0_process = Math.round((await netBenchRemote('ping=2000 udp=0', 'ping', true)).perSecond);
  results.net_udp_mbps_dom0_process_cold = Number((await netBenchRemote('ping=1 udp=4000 size=1472', 'udp')).perSecond.toFixed(1));
  results.net_udp_mbps_dom0_process = Number((await netBenchRemote('ping=1 udp=4000 size=1472', 'udp', true)).perSecond.toFixed(1));
}
// PVSIM_BENCH_PROFILE=1: the boundary's profile per block request and per ping (docs/benchmarks.md).
if (process.env.PVSIM_BENCH_PROFILE && want('boundary_profile')) {
  log('boundary_profile: per 4 KiB qd32 request and per ping, dom0 as a process (cold)...');
  const blk = await profiled(4000, (dir) => blkBenchRemote(4096, 32, 2000, false, false, dir));
  for (const [k, v] of Object.entries(blk.table)) results[`boundary_blk_${k}`] = v;
  const ping = await profiled(2000, (dir) => netBenchRemote('ping=2000 udp=0', 'ping', false, dir));
  for (const [k, v] of Object.entries(ping.table)) results[`boundary_ping_${k}`] = v;
}
if (want('net_ping_rtt_per_s')) {
  log('net_ping_rtt_per_s: 2000 pings between two work=net guests (in-process dom0, netback, bridge)...');
  const np = await netBench('ping=2000 udp=0', 'ping');
  results.net_ping_rtt_per_s = Math.round(np.perSecond);
  results.net_ping_rtt_per_s_virtual = Math.round(np.perSecondVirtual);
}
if (want('net_udp_mbps')) {
  log('net_udp_mbps: 4000 x 1472-byte UDP datagrams, guest to guest...');
  const nu = await netBench('ping=1 udp=4000 size=1472', 'udp');
  results.net_udp_mbps = Number(nu.perSecond.toFixed(1));
  results.net_udp_mbps_virtual = Number(nu.perSecondVirtual.toFixed(1));
  results.net_udp_bytes = nu.bytes;
  results.net_udp_bytes_lost = nu.sentBytes - nu.bytes;
}
// Slow (about a minute quiet, several under load): only when asked by name or PVSIM_BENCH_SCALE=1.
if (only ? want('run_10000_domains_s') || want('host_mib_per_domain_10000') : process.env.PVSIM_BENCH_SCALE) {
  log('run_10000_domains_s / host_mib_per_domain_10000: pvsim run examples/scale-10000.json (two processes)...');
  const sc = await scaleBench(log);
  results.run_10000_domains_s = Number(sc.seconds.toFixed(1));
  results.host_mib_per_domain_10000 = Number(sc.mibPerDomain.toFixed(3));
  results.scale_peak_rss_mib = Math.round(sc.peakRssMib);
  results.scale_build = sc.build;
}
// First, before other benchmarks leave garbage that a collection would subtract.
log(`done: ${JSON.stringify(results)}`);
process.stdout.write(JSON.stringify(results) + '\n');

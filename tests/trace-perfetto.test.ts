// Traces that explain themselves (docs/trace.md): the Perfetto JSON `pvsim run --trace`
// writes has a named track per pCPU and vCPU, slices that nest and never overlap, flows
// whose every start has its end, numeric counters, and per-track time order; `pvsim trace
// summary` gives the run report's numbers; and asking for a trace changes no trace hash.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runScenario, type ScenarioResult } from '../sim/scenario/runner.ts';
import { validateScenario, type Scenario } from '../sim/scenario/schema.ts';
import { buildTraceModel, modelFromJsonLines } from '../sim/trace/model.ts';
import { traceChromeJson, traceJsonLines } from '../sim/trace/export.ts';
import { modelFromChromeTrace, summarize, type TraceSummary } from '../sim/trace/summary.ts';
import type { ChromeEvent, ChromeTrace } from '../sim/trace/perfetto.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-trace-'));
const work = resolve('guests/build/work.elf');

/** net-pair's guests (disk, network, pings through dom0), a 2-vCPU hog and two guests pinging over an event channel, 150 ms. */
function ioScenario(): Scenario {
  return validateScenario(
    {
      name: 'trace-io',
      pcpus: 2,
      seed: 1,
      until: '150ms',
      domains: [
        { name: 'alice', image: work, cmdline: 'work=blk,net mode=seq bs=4096 qd=8 n=32 ip=10.0.0.1 peer=10.0.0.2 ping=4 udp=8', memory: 16, disk: [`file:${dir}/alice.img,xvda,w`], vif: ['mac=00:16:3e:00:00:01,bridge=xenbr0'] },
        { name: 'bob', image: work, cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=4 udp=8', memory: 16, vif: ['mac=00:16:3e:00:00:02,bridge=xenbr0'] },
        { name: 'hog', image: work, cmdline: 'work=spin', memory: 4, vcpus: 2 },
        // Events from guest to guest (domids 4 and 5): flows between two domU vCPUs.
        { name: 'pong', image: work, cmdline: 'work=evtchn-ping role=server peer=5 n=10', memory: 4 },
        { name: 'ping', image: work, cmdline: 'work=evtchn-ping role=client peer=4 n=10', memory: 4 },
      ],
    },
    'trace-io.json',
  );
}

/** Three CPU hogs and a ticking domain on one pCPU under credit (credit1): runqueues and credit move, wake-ups wait. */
function creditScenario(): Scenario {
  return validateScenario(
    {
      name: 'trace-credit',
      pcpus: 1,
      scheduler: 'credit',
      seed: 1,
      until: '100ms',
      domains: [
        { name: 'low', image: work, cmdline: 'work=spin', memory: 4, weight: 128 },
        { name: 'high', image: work, cmdline: 'work=spin', memory: 4, weight: 512, count: 2 },
        { name: 'tick', image: work, cmdline: 'work=timer n=50 period_us=1000 wait=poll', memory: 4 },
      ],
    },
    'trace-credit.json',
  );
}

const names = (r: ScenarioResult) => new Map(r.domains.map((d) => [d.domid, { name: d.name, vcpus: d.vcpus }]));
const chrome = (r: ScenarioResult): ChromeTrace => JSON.parse(traceChromeJson(r.hv.traceBuffer, names(r), r.until)) as ChromeTrace;

/** Threads by "pid:tid" -> name, from the metadata events. */
function threadNames(t: ChromeTrace): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of t.traceEvents) if (e.ph === 'M' && e.name === 'thread_name') m.set(`${e.pid}:${e.tid}`, String(e.args?.name));
  return m;
}

/** Counter tracks as Perfetto makes them: "<name> <arg key>" -> samples. */
function counterTracks(t: ChromeTrace): Map<string, { ts: number; value: number }[]> {
  const m = new Map<string, { ts: number; value: number }[]>();
  for (const e of t.traceEvents) {
    if (e.ph !== 'C') continue;
    const args = Object.entries(e.args ?? {});
    expect(args.length).toBe(1);
    const [key, value] = args[0]!;
    expect(typeof value).toBe('number');
    const name = `${e.name} ${key}`;
    const l = m.get(name) ?? [];
    l.push({ ts: e.ts!, value: value as number });
    m.set(name, l);
  }
  return m;
}

/** Checks the structure every pvsim Perfetto trace must have; returns the flows by category. */
function checkStructure(t: ChromeTrace, r: ScenarioResult): Map<string, number> {
  expect(t.displayTimeUnit).toBe('ns');
  const threads = threadNames(t);
  const trackNames = new Set(threads.values());
  // A named track per pCPU and per vCPU, named as xentrace/xenalyze name them.
  for (let p = 0; p < r.pcpus; p++) expect(trackNames).toContain(`pCPU ${p}`);
  for (const d of r.hv.domains.values()) for (const v of d.vcpus) expect(trackNames).toContain(`d${d.domid}v${v.vcpuId}`);
  const processes = new Set(t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => String(e.args?.name)));
  for (const d of r.domains) expect(processes).toContain(`d${d.domid} ${d.name}`);

  const perTrack = new Map<string, ChromeEvent[]>();
  for (const e of t.traceEvents) {
    if (e.ph === 'M') continue;
    expect(typeof e.ts).toBe('number');
    expect(Number.isFinite(e.ts)).toBe(true);
    if (e.ph === 'C') continue;
    const k = `${e.pid}:${e.tid}`;
    // Every event is on a named track.
    expect(threads.has(k)).toBe(true);
    const l = perTrack.get(k) ?? [];
    l.push(e);
    perTrack.set(k, l);
  }
  // Checked in whole ns, as Perfetto reads a JSON trace (ts and dur each rounded to ns).
  const ns = (us: number) => Math.round(us * 1000);
  for (const [k, evs] of perTrack) {
    // Timestamps in file order never go back on a track.
    for (let i = 1; i < evs.length; i++) expect(ns(evs[i]!.ts!), `track ${threads.get(k)}`).toBeGreaterThanOrEqual(ns(evs[i - 1]!.ts!));
    // Slices nest and never overlap: each starts after the enclosing one's start and ends
    // by its end, or starts after it ended.
    const stack: { ts: number; end: number; name: string }[] = [];
    for (const e of evs) {
      if (e.ph !== 'X') continue;
      expect(e.dur!).toBeGreaterThanOrEqual(0);
      const ts = ns(e.ts!);
      const end = ts + ns(e.dur!);
      while (stack.length && stack.at(-1)!.end <= ts) stack.pop();
      const top = stack.at(-1);
      if (top) expect(end, `${e.name} at ${ts} inside ${top.name} (${top.ts}-${top.end}) on ${threads.get(k)}`).toBeLessThanOrEqual(top.end);
      stack.push({ ts, end, name: e.name });
    }
  }
  // Run-state slices of a vCPU tile its life: one after another, no gap, no overlap.
  for (const [k, evs] of perTrack) {
    const rs = evs.filter((e) => e.cat === 'runstate');
    for (let i = 1; i < rs.length; i++) expect(ns(rs[i]!.ts!), `gap on ${threads.get(k)}`).toBe(ns(rs[i - 1]!.ts!) + ns(rs[i - 1]!.dur!));
  }

  // Flows: every start has one end with its id, later or at once, each strictly inside a
  // slice of its track (where Perfetto binds it: the slice open at that instant).
  const starts = new Map<number, ChromeEvent>();
  const ends = new Map<number, ChromeEvent>();
  for (const e of t.traceEvents) {
    if (e.ph === 's') {
      expect(starts.has(e.id!)).toBe(false);
      starts.set(e.id!, e);
    } else if (e.ph === 'f') {
      expect(ends.has(e.id!)).toBe(false);
      expect(e.bp).toBe('e');
      ends.set(e.id!, e);
    }
  }
  expect([...starts.keys()].sort()).toEqual([...ends.keys()].sort());
  const enclosed = (e: ChromeEvent) => (perTrack.get(`${e.pid}:${e.tid}`) ?? []).some((s) => s.ph === 'X' && ns(s.ts!) <= ns(e.ts!) && ns(e.ts!) < ns(s.ts!) + ns(s.dur!));
  const byCat = new Map<string, number>();
  for (const [id, s] of starts) {
    const f = ends.get(id)!;
    expect(f.cat).toBe(s.cat);
    expect(f.name).toBe(s.name);
    expect(ns(f.ts!)).toBeGreaterThanOrEqual(ns(s.ts!));
    expect(enclosed(s), `flow ${s.name} start binds to a slice`).toBe(true);
    expect(enclosed(f), `flow ${f.name} end binds to a slice`).toBe(true);
    byCat.set(s.cat!, (byCat.get(s.cat!) ?? 0) + 1);
  }

  // Counters: one numeric value each, in time order per counter track (named as Perfetto
  // names it: the event's name and the arg's key).
  const counters = counterTracks(t);
  for (const [name, samples] of counters) {
    for (const s of samples) expect(Number.isFinite(s.value), name).toBe(true);
    for (let i = 1; i < samples.length; i++) expect(samples[i]!.ts, name).toBeGreaterThanOrEqual(samples[i - 1]!.ts);
  }
  for (let p = 0; p < r.pcpus; p++) expect(counters.has(`pCPU ${p} runq`)).toBe(true);
  for (const [k, n] of counters) byCat.set(`counter:${k.replace(/.* /, '')}`, (byCat.get(`counter:${k.replace(/.* /, '')}`) ?? 0) + n.length);
  return byCat;
}

/** The summary agrees with the run report: run states to the ns, hypercalls, exits, wake-ups. */
function checkSummary(s: TraceSummary, r: ScenarioResult): void {
  expect(s.end).toBe(r.until);
  for (const d of r.domains) {
    const sd = s.domains.find((x) => x.domid === d.domid)!;
    expect(sd.name).toBe(d.name);
    expect([sd.times.running, sd.times.runnable, sd.times.blocked, sd.times.offline]).toEqual(d.runstate);
    expect(sd.hypercalls.reduce((a, c) => a + c.count, 0)).toBe(d.hypercalls);
    expect(sd.exits.reduce((a, c) => a + c.count, 0)).toBe(d.traps);
    expect(sd.wakeToRun.count).toBe(d.latency.wakeups);
    if (d.latency.wakeups) {
      // The report's percentiles are histogram bucket tops (within 3 %); the trace's exact.
      expect(sd.wakeToRun.max!).toBe(d.latency.maxNs);
      expect(Math.abs(sd.wakeToRun.p50! - d.latency.p50Ns)).toBeLessThanOrEqual(0.03 * d.latency.p50Ns + 1);
    }
    for (const v of sd.vcpus) {
      // Every vCPU's states add up to its life: from its domain's creation to the end.
      const sum = v.times.running + v.times.runnable + v.times.blocked + v.times.offline;
      expect(sum).toBe(v.total);
      expect(v.total).toBeLessThanOrEqual(r.until);
      // The reasons split each state's time exactly.
      for (const st of ['runnable', 'blocked', 'offline'] as const) {
        const parts = Object.entries(v.times.byReason).filter(([k]) => k.startsWith(st + ':')).reduce((a, [, n]) => a + n, 0);
        expect(parts, `${v.name} ${st}`).toBe(v.times[st]);
      }
    }
  }
}

describe('pvsim run --trace: Perfetto JSON', () => {
  let io: ScenarioResult;
  let credit: ScenarioResult;
  beforeAll(async () => {
    io = await runScenario(ioScenario(), { baseDir: dir, traceDetail: true });
    credit = await runScenario(creditScenario(), { baseDir: dir, traceDetail: true });
  }, 60_000);

  it('has a named track per pCPU and vCPU, nested slices, matched flows, numeric counters (disk, network, 2 vCPUs)', () => {
    expect(io.hv.traceBuffer.dropped).toBe(0);
    const cats = checkStructure(chrome(io), io);
    // Events from dom0's backends to the guests' handlers, and ring requests to responses.
    expect(cats.get('evtchn') ?? 0).toBeGreaterThan(10);
    expect(cats.get('ring') ?? 0).toBeGreaterThan(32); // alice's 32 disk requests and network ones
    expect(cats.get('counter:credit') ?? 0).toBeGreaterThan(0);
    expect(cats.get('counter:occupancy') ?? 0).toBeGreaterThan(0);
    const counters = new Set(counterTracks(chrome(io)).keys());
    const alice = io.domains.find((d) => d.name === 'alice')!.domid;
    const bob = io.domains.find((d) => d.name === 'bob')!.domid;
    expect(counters).toContain(`d${alice}v0 credit`);
    expect([...counters].some((c) => new RegExp(`^ring d${alice} p\\d+ blkif occupancy$`).test(c))).toBe(true);
    expect([...counters].some((c) => new RegExp(`^ring d${bob} p\\d+ netif tx occupancy$`).test(c))).toBe(true);
    // A blkif request's flow starts on alice's vCPU (her kick) and ends on dom0's backend track.
    const t = chrome(io);
    const threads = threadNames(t);
    const s = t.traceEvents.find((e) => e.ph === 's' && e.cat === 'ring' && /blkif/.test(e.name))!;
    const f = t.traceEvents.find((e) => e.ph === 'f' && e.id === s.id)!;
    expect(threads.get(`${s.pid}:${s.tid}`)).toBe(`d${alice}v0`);
    expect(threads.get(`${f.pid}:${f.tid}`)).toBe('d0 backends');
    // A guest-to-guest event: from the sender's event_channel_op to the receiver's run.
    const pong = io.domains.find((d) => d.name === 'pong')!.domid;
    const ping = io.domains.find((d) => d.name === 'ping')!.domid;
    const g2g = t.traceEvents.filter((e) => e.ph === 's' && e.cat === 'evtchn' && threads.get(`${e.pid}:${e.tid}`) === `d${ping}v0`);
    expect(g2g.length).toBeGreaterThanOrEqual(10);
    for (const e of g2g) {
      const end = t.traceEvents.find((x) => x.ph === 'f' && x.id === e.id)!;
      expect(threads.get(`${end.pid}:${end.tid}`)).toBe(`d${pong}v0`);
    }
    expect(io.domains.find((d) => d.name === 'ping')!.console).toMatch(/round_trips=10/);
    // Hypercalls nest in the running slices; the hog's second vCPU (never brought up) has its own track.
    expect(t.traceEvents.some((e) => e.cat === 'hypercall' && e.name === 'event_channel_op')).toBe(true);
  });

  it('shows runqueue length and credit under credit1', () => {
    const t = chrome(credit);
    checkStructure(t, credit);
    const counters = counterTracks(t);
    const runq = counters.get('pCPU 0 runq')!.map((s) => s.value);
    expect(Math.max(...runq)).toBeGreaterThanOrEqual(1); // three hogs, one pCPU
    const credits = [...counters].filter(([k]) => / credit$/.test(k)).flatMap(([, l]) => l.map((s) => s.value));
    expect(new Set(credits).size).toBeGreaterThan(1);
  });

  it('summarises as the run report counts, from the Perfetto JSON and from JSON lines alike', () => {
    for (const r of [io, credit]) {
      const fromLines = summarize(modelFromJsonLines(traceJsonLines(r.hv.traceBuffer, names(r), r.until)));
      checkSummary(fromLines, r);
      const fromChrome = summarize(modelFromChromeTrace(traceChromeJson(r.hv.traceBuffer, names(r), r.until)));
      // The Perfetto JSON carries times in µs: equal to the ns within float noise.
      expect(fromChrome.domains.map((d) => d.name)).toEqual(fromLines.domains.map((d) => d.name));
      for (const [i, d] of fromChrome.domains.entries()) {
        const l = fromLines.domains[i]!;
        for (const st of ['running', 'runnable', 'blocked', 'offline'] as const) expect(Math.abs(d.times[st] - l.times[st])).toBeLessThan(1);
        expect(d.hypercalls.map((c) => [c.nr, c.count])).toEqual(l.hypercalls.map((c) => [c.nr, c.count]));
        expect(d.exits).toEqual(l.exits);
        expect(d.wakeToRun.count).toBe(l.wakeToRun.count);
      }
    }
    // Blocked time is told apart by what woke the vCPU: alice waits on her disk and network (io) and sleeps (timer).
    const alice = summarize(buildTraceModel({ records: io.hv.traceBuffer.records(), names: new Map(io.domains.map((d) => [d.domid, d.name])), end: io.until })).domains.find((d) => d.name === 'alice')!;
    expect(alice.times.byReason['blocked:io']).toBeGreaterThan(0);
    expect(alice.times.byReason['blocked:timer']).toBeGreaterThan(0);
    // ... and the event-channel server waits on its peer's events (evtchn).
    const pong = summarize(buildTraceModel({ records: io.hv.traceBuffer.records(), names: new Map(io.domains.map((d) => [d.domid, d.name])), end: io.until })).domains.find((d) => d.name === 'pong')!;
    expect(pong.times.byReason['blocked:evtchn']).toBeGreaterThan(0);
  });

  it('changes no trace hash: side records are kept only with a trace and never hashed', async () => {
    const plain = await runScenario(creditScenario(), { baseDir: dir });
    expect(plain.traceHash).toBe(credit.traceHash);
    expect(plain.hv.traceBuffer.written).toBe(credit.hv.traceBuffer.written);
    expect(plain.hv.traceBuffer.sideWritten).toBe(0);
    expect(credit.hv.traceBuffer.sideWritten).toBeGreaterThan(0);
  });
});

describe('pvsim trace summary of examples/weights.json', () => {
  it('gives each hog the running time the report gives, in the 1:2:4 of its weight (2 s)', async () => {
    const { loadScenario } = await import('../sim/scenario/schema.ts');
    const r = await runScenario(loadScenario('examples/weights.json'), { baseDir: resolve('examples'), until: 2_000_000_000, traceDetail: true });
    const s = summarize(modelFromChromeTrace(traceChromeJson(r.hv.traceBuffer, names(r), r.until)));
    const running = new Map(s.domains.map((d) => [d.name, d.times.running]));
    for (const d of r.domains) expect(Math.abs(running.get(d.name)! - d.runstate[0])).toBeLessThan(1);
    const total = [...running.values()].reduce((a, b) => a + b, 0);
    // One pCPU shared by three hogs: it is always busy, and the shares follow the weights.
    expect(total).toBeGreaterThan(0.99 * r.until);
    expect(running.get('low')! / total).toBeCloseTo(1 / 7, 1);
    expect(running.get('mid')! / total).toBeCloseTo(2 / 7, 1);
    expect(running.get('high')! / total).toBeCloseTo(4 / 7, 1);
    // CPU hogs never block: their waiting is runnable time, preempted by the others.
    for (const d of s.domains) {
      expect(d.times.blocked).toBe(0);
      expect(d.times.byReason['runnable:preempted']).toBeGreaterThan(0);
    }
  });
});

describe('pvsim trace summary of HVM domains', () => {
  it('counts their exits as the report does, and their cost as the exit statistics do (hw and trap mode)', async () => {
    const native = resolve('guests/build/native.elf');
    const sc = validateScenario(
      {
        pcpus: 2,
        until: '30ms',
        domains: [
          { name: 'hw', type: 'hvm', hvm_mode: 'hw', image: native, cmdline: 'work=timer n=5 period_us=1000', memory: 16 },
          { name: 'trap', type: 'hvm', image: native, cmdline: 'work=timer n=5 period_us=1000', memory: 16 },
        ],
      },
      'hvm.json',
    );
    const r = await runScenario(sc, { baseDir: dir, traceDetail: true });
    const s = summarize(modelFromChromeTrace(traceChromeJson(r.hv.traceBuffer, names(r), r.until)));
    for (const d of r.domains) {
      const sd = s.domains.find((x) => x.domid === d.domid)!;
      expect(sd.exits.reduce((a, e) => a + e.count, 0), d.name).toBe(d.traps);
      expect(sd.exits.every((e) => e.kind === 'hvm_exit')).toBe(true);
      // Every exit's cost, as HvmStats charged it (less the injections at entry and the
      // hardware's page walks, which run in the guest's time, not in an exit).
      const charged = Object.entries(d.hvm!.exit_ns).filter(([k]) => k !== 'irq_inject' && k !== 'walk').reduce((a, [, n]) => a + n, 0);
      expect(Math.abs(sd.exits.reduce((a, e) => a + e.ns, 0) - charged), d.name).toBeLessThan(1);
      // A timer loop: blocked waiting for the timer line.
      expect(sd.times.byReason['blocked:timer'] ?? 0, d.name).toBeGreaterThan(0);
    }
  });
});

describe('pvsim trace summary', () => {
  const pvsim = (...args: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', ...args], { encoding: 'utf8', timeout: 60_000 });
  const scenario = join(dir, 'sc.json');
  writeFileSync(scenario, JSON.stringify({ pcpus: 1, until: '40ms', domains: [{ name: 'hog', image: work, cmdline: 'work=spin', memory: 4 }, { name: 'sleeper', image: work, cmdline: 'work=timer n=20 period_us=1000', memory: 4 }] }));

  it('prints per-domain run states, hypercalls and latency from either trace file, either home of dom0; --json agrees', () => {
    const json = join(dir, 't.json');
    const jsonl = join(dir, 't.jsonl');
    // dom0 in its own process for one, in-process for the other: the same run, the same hash, the same summary.
    const a = pvsim('run', scenario, '--trace', json);
    expect(a.status, a.stderr).toBe(0);
    const b = pvsim('run', scenario, '--in-process', '--trace', jsonl);
    expect(b.status, b.stderr).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const text = pvsim('trace', 'summary', json);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^trace: 0\.000-40\.000 ms of virtual time, 1 pCPU\(s\), 2 domain\(s\)/);
    expect(text.stdout).toMatch(/Domain d1 hog \(vCPU d1v0\)\n {2}running +\d+\.\d{3} ms +\d+\.\d{2} %/);
    expect(text.stdout).toMatch(/Domain d2 sleeper/);
    const sj = pvsim('trace', 'summary', jsonl, '--json');
    expect(sj.status, sj.stderr).toBe(0);
    const s = JSON.parse(sj.stdout) as TraceSummary;
    expect(s.domains.map((d) => d.name)).toEqual(['hog', 'sleeper']);
    const hog = s.domains[0]!.vcpus[0]!;
    expect(hog.times.running + hog.times.runnable + hog.times.blocked + hog.times.offline).toBe(hog.total);
    expect(pvsim('trace', 'summary', jsonl).stdout).toBe(text.stdout);
  });

  it('refuses a missing file or one that is not a pvsim trace, with exit 2 and the reason', () => {
    const missing = pvsim('trace', 'summary', join(dir, 'nope.json'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/nope\.json: ENOENT/);
    const junk = join(dir, 'junk.jsonl');
    writeFileSync(junk, '{"t":1}\n');
    const j = pvsim('trace', 'summary', junk);
    expect(j.status).toBe(2);
    expect(j.stderr).toMatch(/line 1: not a trace record/);
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ traceEvents: [] }));
    expect(pvsim('trace', 'summary', other).stderr).toMatch(/not a pvsim trace/);
    expect(readFileSync(junk, 'utf8')).toBe('{"t":1}\n'); // read, never written
  });
});

describe('trace model on any records', () => {
  it('never throws and keeps every vCPU\'s states adding up, whatever order and values the records have', async () => {
    const fc = await import('fast-check');
    const { TRC } = await import('../hypervisor/trace/trace.ts');
    const { toChromeTrace } = await import('../sim/trace/perfetto.ts');
    const events = Object.values(TRC);
    const small = fc.integer({ min: -2, max: 6 });
    const record = fc.record({
      time: fc.integer({ min: 0, max: 1_000_000 }),
      pcpu: fc.integer({ min: -1, max: 3 }),
      event: fc.constantFrom(...events),
      data: fc.tuple(small, small, small, fc.oneof(small, fc.constant(NaN), fc.integer()), fc.integer({ min: 0, max: 2 ** 32 - 1 })).map((d) => [...d]),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 200 }), fc.integer({ min: 0, max: 2_000_000 }), (records, end) => {
        const m = buildTraceModel({ records, names: new Map(), end });
        const t = toChromeTrace(m);
        JSON.stringify(t);
        const s = summarize(m);
        for (const d of s.domains) for (const v of d.vcpus) {
          const sum = v.times.running + v.times.runnable + v.times.blocked + v.times.offline;
          expect(sum).toBe(Math.max(0, v.total));
        }
        // Flows come in pairs.
        const ids = t.traceEvents.filter((e) => e.ph === 's').map((e) => e.id).sort();
        expect(t.traceEvents.filter((e) => e.ph === 'f').map((e) => e.id).sort()).toEqual(ids);
      }),
      { numRuns: 300 },
    );
  });

  it('reads any file as a trace or refuses it with TraceFormatError, nothing else', async () => {
    const fc = await import('fast-check');
    const { TraceFormatError } = await import('../sim/trace/model.ts');
    const { modelFromTraceFile } = await import('../sim/trace/summary.ts');
    const line = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ t: fc.oneof(fc.integer(), fc.double()), cpu: fc.integer({ min: -1, max: 4 }), event: fc.constantFrom('0x01008001', '0x00028001', '0x010080f0', '0x010080f1', 'zz'), data: fc.array(fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant(null), fc.string()), { maxLength: 6 }), label: fc.string() }).map((o) => JSON.stringify(o)),
    );
    const file = fc.oneof(fc.array(line, { maxLength: 20 }).map((l) => l.join('\n')), fc.json().map((j) => `{"traceEvents":[${j}],"metadata":{"pvsim":{"start":0,"end":5}}}`));
    fc.assert(
      fc.property(file, (text) => {
        try {
          summarize(modelFromTraceFile(text));
        } catch (e) {
          expect(e).toBeInstanceOf(TraceFormatError);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('a trace whose ring dropped records', () => {
  it('covers the window it kept, says how much was dropped, and marks the states before it', async () => {
    const { TraceBuffer, TRC } = await import('../hypervisor/trace/trace.ts');
    const { formatSummary } = await import('../sim/trace/summary.ts');
    const buf = new TraceBuffer(8);
    buf.enableDetail(8); // a ring of 8: keeps the last 8 records
    // d1v0 alternates running (0) and blocked (2) every 100 ns from 0 to 1,500 ns.
    for (let i = 1; i <= 15; i++) {
      buf.side(i * 100, 0, TRC.PVSIM_RUNSTATE, 1, 0, i % 2 ? 0 : 2, i % 2 ? 2 : 0);
      // d1v1 first shows up at 1,200 ns, going from runnable to running.
      if (i === 12) buf.side(1200, 1, TRC.PVSIM_RUNSTATE, 1, 1, 1, 0);
    }
    expect(buf.dropped).toBe(8);
    expect(buf.written).toBe(0); // side records only: nothing hashed
    const s = summarize(modelFromJsonLines(traceJsonLines(buf, new Map([[1, { name: 'x', vcpus: 2 }]]), 1600)));
    expect(s.dropped).toBe(8);
    // The window starts at the first record kept (900 ns).
    const [v0, v1] = s.domains[0]!.vcpus;
    expect(v0!.total).toBe(1600 - 900);
    expect(v0!.times.running + v0!.times.blocked).toBe(700);
    // Before its first record, d1v1 was in that record's old state: runnable, since the window's start.
    expect(v1!.total).toBe(1600 - 900);
    expect(v1!.times.byReason['runnable:before-window']).toBe(300);
    expect(v1!.times.running).toBe(400);
    expect(formatSummary(s)).toMatch(/8 earlier records dropped/);
  });
});

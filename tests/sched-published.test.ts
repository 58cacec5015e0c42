// The published shapes, reproduced (issue 15, item 8; docs/scheduling.md, "The published
// shapes"): credit1's BOOST and I/O latency beside CPU hogs (Ongaro, Cox and Rixner, VEE
// 2008), and the accuracy of weights and caps under credit1 against credit2 (after
// Cherkasova, Gupta and Vahdat, SIGMETRICS PER 2007). Virtual time: every figure is exact.

import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';

const ROOT = resolve(import.meta.dirname, '..');
const WORK = join(ROOT, 'guests/build/work.elf');
const hog = (name: string, weight = 256, cap = 0) => ({ name, image: WORK, cmdline: 'work=spin', memory: 2, weight, cap });
const run = (s: object) => runScenario(validateScenario(s, 'published.json'), { baseDir: '/' });

describe('BOOST and I/O latency beside CPU hogs (Ongaro, Cox and Rixner, VEE 2008)', () => {
  // examples/boost.json, shorter: one pCPU, three hogs, an I/O domain woken every 2 ms.
  const boost = (scheduler: string, cmdline: string) => ({
    pcpus: 1,
    scheduler,
    xen_cmdline: cmdline,
    until: '400ms',
    domains: [{ ...hog('hog'), count: 3 }, { name: 'io', image: WORK, cmdline: 'work=timer period_us=2000 forever', memory: 2 }],
  });

  it('credit1 runs a waking I/O domain at once with BOOST, and after the hogs\' time slices without it', async () => {
    const on = (await run(boost('credit', ''))).domains.find((d) => d.name === 'io')!.latency;
    const off = (await run(boost('credit', 'sched_credit_boost=0'))).domains.find((d) => d.name === 'io')!.latency;
    expect(on.wakeups).toBeGreaterThan(100);
    expect(on.p50Ns).toBeLessThan(10_000); // a few us: it preempts the running hog
    expect(on.p99Ns).toBeLessThan(10_000);
    // Without BOOST it is one UNDER vCPU among the hogs: it waits their 30 ms time slices out.
    expect(off.p50Ns).toBeGreaterThan(30e6);
    expect(off.p50Ns / on.p50Ns).toBeGreaterThan(1000);
  }, 30_000);

  it('credit2 has no BOOST: the ratelimit (1 ms) bounds the wait, and the credit1 switch changes nothing', async () => {
    const a = await run(boost('credit2', ''));
    const b = await run(boost('credit2', 'sched_credit_boost=0'));
    expect(b.traceHash).toBe(a.traceHash);
    const l = a.domains.find((d) => d.name === 'io')!.latency;
    expect(l.p99Ns).toBeGreaterThan(500_000);
    expect(l.p99Ns).toBeLessThan(1_100_000);
  }, 30_000);
});

describe('weight and cap accuracy, credit1 against credit2 (after Cherkasova, Gupta and Vahdat, 2007)', () => {
  const error = (shares: number[], ideal: number[]) => Math.max(...shares.map((s, i) => Math.abs(100 * s - 100 * ideal[i]!)));

  it('weights: credit2 gives the weighted shares within a point; credit1 within 2 on one pCPU and compresses them on two', async () => {
    const one = [hog('w128', 128), hog('w256', 256), hog('w512', 512)];
    const two = [...one, hog('w256b', 256)];
    const ideal1 = [1 / 7, 2 / 7, 4 / 7];
    const ideal2 = [2 / 9, 4 / 9, 8 / 9, 4 / 9];
    const err: Record<string, number[]> = {};
    for (const sched of ['credit', 'credit2']) {
      const a = await run({ pcpus: 1, scheduler: sched, until: '1500ms', domains: one });
      const b = await run({ pcpus: 2, scheduler: sched, until: '1500ms', domains: two });
      err[sched] = [error(a.domains.map((d) => d.cpuShare), ideal1), error(b.domains.map((d) => d.cpuShare), ideal2)];
    }
    expect(err.credit2![0]).toBeLessThan(1);
    expect(err.credit2![1]).toBeLessThan(1);
    expect(err.credit![0]).toBeLessThan(2.5);
    expect(err.credit![1]).toBeGreaterThan(5); // the heaviest hog gets far less than 8/9 of a pCPU
    expect(err.credit![0]).toBeGreaterThan(err.credit2![0]!);
  }, 60_000);

  it('caps: both hold them over the run; per 100 ms, credit2 within a point, credit1 swings by whole time slices', async () => {
    const doms = [hog('c10', 256, 10), hog('c20', 256, 20), hog('free', 256)];
    const spread: Record<string, number> = {};
    for (const sched of ['credit', 'credit2']) {
      const r = await run({ pcpus: 1, scheduler: sched, until: '1500ms', sample_interval: '100ms', domains: doms });
      for (const d of r.domains.filter((x) => x.cap > 0)) {
        expect(Math.abs(100 * d.cpuShare - d.cap), `${sched} ${d.name}`).toBeLessThan(1);
      }
      // The first sample holds the start (boot, the first accounting): left out.
      spread[sched] = Math.max(...r.domains.filter((x) => x.cap > 0).map((d) => Math.max(...d.shareOverTime.slice(1).map((s) => Math.abs(100 * s - d.cap)))));
    }
    expect(spread.credit2).toBeLessThanOrEqual(1);
    expect(spread.credit).toBeGreaterThanOrEqual(10);
  }, 60_000);
});

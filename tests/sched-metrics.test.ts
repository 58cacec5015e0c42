// The metrics every run reports (issue 15, item 5): CPU share and pCPU utilisation over
// time, wake-to-run latency, Jain's fairness, deadline misses; and that keeping them
// changes nothing about the run (the trace hash).

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';
import { reportJson, formatReport } from '../sim/scenario/report.ts';
import { jain } from '../sim/scenario/metrics.ts';
import { defaultSampleInterval, LatencyHistogram, latencyBucket, latencyBucketTop } from '../hypervisor/sched/metrics.ts';
import { writeTestGuests } from './helpers/test_guests.ts';

const guests = writeTestGuests();

function scenario(extra: object = {}) {
  return validateScenario(
    {
      pcpus: 2,
      until: '120ms',
      scheduler: 'credit',
      domains: [
        { name: 'hog', image: guests.spin, memory: 4, count: 3 },
        { name: 'io', image: guests.io1ms, memory: 4, count: 2, weight: 512 },
      ],
      ...extra,
    },
    'test.json',
  );
}

describe('run metrics', () => {
  it('do not change the run: the same trace hash and figures with any sampling interval', async () => {
    const a = await runScenario(scenario({ sample_interval: '1ms' }), { baseDir: '/' });
    const b = await runScenario(scenario({ sample_interval: '7ms' }), { baseDir: '/' });
    expect(a.traceHash).toBe(b.traceHash);
    expect(a.domains.map((d) => d.cpuNs)).toEqual(b.domains.map((d) => d.cpuNs));
    expect(a.metrics.samples).toBe(120);
    expect(b.metrics.samples).toBe(Math.ceil(120 / 7));
  });

  it('share over time adds up to the CPU time, and utilisation to the busy time', async () => {
    const r = await runScenario(scenario({ sample_interval: '10ms' }), { baseDir: '/' });
    for (const d of r.domains) {
      const ns = d.shareOverTime.reduce((a, s) => a + s * 10e6, 0);
      // Shares are rounded to 4 decimals per sample; the run's end may overshoot `until` by a slice.
      expect(Math.abs(ns - d.cpuNs)).toBeLessThan(0.2e6);
      expect(d.shareOverTime).toHaveLength(12);
    }
    const busy = r.metrics.pcpuUtilisation.flat().reduce((a, u) => a + u * 10e6, 0);
    const run = r.domains.reduce((a, d) => a + d.cpuNs, 0);
    expect(Math.abs(busy - run)).toBeLessThan(0.3e6);
    // Three hogs on two pCPUs keep both busy.
    for (const u of r.metrics.pcpuUtilisation) expect(Math.min(...u.slice(1))).toBeGreaterThan(0.95);
  });

  it('measures wake-to-run latency of the I/O domains and none for the hogs', async () => {
    const r = await runScenario(scenario(), { baseDir: '/' });
    const io = r.domains.filter((d) => d.group === 'io');
    const hogs = r.domains.filter((d) => d.group === 'hog');
    for (const d of io) {
      expect(d.latency.wakeups).toBeGreaterThan(50); // a timer every ms for 120 ms
      expect(d.latency.p50Ns).toBeLessThanOrEqual(d.latency.p99Ns);
      expect(d.latency.p99Ns).toBeLessThanOrEqual(d.latency.maxNs);
    }
    for (const d of hogs) expect(d.latency.wakeups).toBe(0);
    const g = r.metrics.latencyByGroup.find((x) => x.group === 'io')!;
    expect(g.wakeups).toBe(io.reduce((a, d) => a + d.latency.wakeups, 0));
    expect(g.histogram.reduce((a, b) => a + b.count, 0)).toBe(g.wakeups);
    expect(g.maxNs).toBe(Math.max(...io.map((d) => d.latency.maxNs)));
  });

  it("gives Jain's index per weight and per group, in the JSON and under the table", async () => {
    const r = await runScenario(scenario(), { baseDir: '/' });
    const hogFair = r.metrics.fairness.byGroup.find((f) => f.key === 'hog')!;
    expect(hogFair.domains).toBe(3);
    expect(hogFair.jain).toBeGreaterThan(0.95); // three equal hogs share two pCPUs evenly
    expect(r.metrics.fairness.byWeight.map((f) => f.key)).toEqual(['256', '512']);
    const json = JSON.parse(JSON.stringify(reportJson(r))) as { metrics: { fairness: unknown; pcpuUtilisation: number[][] }; domains: { latency: unknown; shareOverTime: number[] }[] };
    expect(json.metrics.pcpuUtilisation).toHaveLength(2);
    expect(json.domains[0]!.shareOverTime.length).toBeGreaterThan(0);
    const text = formatReport(r);
    expect(text).toMatch(/p50\(us\)\s+p99\(us\)\s+max\(us\)/);
    expect(text).toMatch(/^fairness \(Jain\) by weight: 256: /m);
    expect(text).toMatch(/^latency wake-to-run \(us\) by group: io: p50 /m);
    expect(text.split('\n').at(-1)).toMatch(/^trace-hash: /);
  });

  it('counts deadline misses under RTDS', async () => {
    const r = await runScenario(scenario({ scheduler: 'rtds', pcpus: 1 }), { baseDir: '/' });
    expect(r.metrics.deadlineMisses).toBe(r.domains.reduce((a, d) => a + d.deadlineMisses, 0));
    expect(formatReport(r)).toMatch(/deadline misses \d+/);
  });
});

describe('metric arithmetic', () => {
  it("Jain's index is 1 for equal shares and 1/n when one takes all", () => {
    expect(jain([0.3, 0.3, 0.3])).toBeCloseTo(1);
    expect(jain([1, 0, 0, 0])).toBeCloseTo(0.25);
    expect(jain([])).toBe(1);
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 4, noNaN: true }), { minLength: 1, maxLength: 30 }), (x) => {
      const j = jain(x);
      return j >= 1 / x.length - 1e-9 && j <= 1 + 1e-9;
    }));
  });

  it('latency buckets hold their value within 1/32 and quantiles never exceed the maximum', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (ns) => {
      const top = latencyBucketTop(latencyBucket(ns));
      return top >= ns && top - ns <= ns / 32 + 1 && latencyBucket(top) === latencyBucket(ns);
    }));
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1e9 }), { minLength: 1, maxLength: 200 }), (xs) => {
      const h = new LatencyHistogram();
      xs.forEach((x) => h.add(x));
      const sorted = [...xs].sort((a, b) => a - b);
      const exact50 = sorted[Math.ceil(0.5 * xs.length) - 1]!;
      const q = h.quantile(0.5);
      return h.quantile(1) === Math.max(...xs) && q >= exact50 && q <= Math.min(Math.max(...xs), exact50 * (1 + 1 / 32) + 1);
    }));
  });

  it('the default sampling interval gives at most 100 samples of 1, 2 or 5 x 10^k ns', () => {
    expect(defaultSampleInterval(2e9)).toBe(20e6);
    expect(defaultSampleInterval(200e6)).toBe(2e6);
    expect(defaultSampleInterval(1e6)).toBe(100e3);
    expect(defaultSampleInterval(3e9)).toBe(50e6);
  });
});

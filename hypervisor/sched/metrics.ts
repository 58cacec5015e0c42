// Scheduling metrics kept beside the run states (issue 15, item 5): each domain's running
// time and each pCPU's busy time in fixed intervals of virtual time, and each domain's
// scheduling latency from wake-up to run. Pure bookkeeping fed by the scheduler core at the
// moments it already handles (a vCPU leaving the running state, a blocked vCPU made
// runnable, a vCPU put on a pCPU): it schedules no event and records nothing in the trace,
// so keeping it changes neither the schedule nor the trace hash. Memory is bounded: one
// number per interval per domain and pCPU, and a log-linear histogram of at most a few
// hundred buckets per domain.

import type { Domain, Vcpu } from '../domain/domain.ts';

/** Sub-buckets per power of two in the latency histogram: values within 1/32 (about 3 %). */
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;

/** The histogram bucket of a latency in ns: exact below 2*SUB, then SUB buckets per octave. */
export function latencyBucket(ns: number): number {
  const x = Math.max(0, Math.floor(ns));
  if (x < 2 * SUB) return x;
  const e = Math.floor(Math.log2(x)); // >= SUB_BITS + 1
  const sub = Math.floor(x / 2 ** (e - SUB_BITS)) - SUB; // 0..SUB-1
  return (e - SUB_BITS) * SUB + SUB + sub;
}

/** The largest ns a bucket holds (what a percentile reports: an upper bound within 3 %). */
export function latencyBucketTop(b: number): number {
  if (b < 2 * SUB) return b;
  const e = Math.floor((b - SUB) / SUB) + SUB_BITS;
  const sub = (b - SUB) % SUB;
  return (SUB + sub + 1) * 2 ** (e - SUB_BITS) - 1;
}

/** Wake-to-run latencies of one domain (all its vCPUs). */
export class LatencyHistogram {
  count = 0;
  sumNs = 0;
  maxNs = 0;
  readonly buckets = new Map<number, number>();

  add(ns: number): void {
    this.count++;
    this.sumNs += ns;
    if (ns > this.maxNs) this.maxNs = ns;
    const b = latencyBucket(ns);
    this.buckets.set(b, (this.buckets.get(b) ?? 0) + 1);
  }

  merge(o: LatencyHistogram): void {
    this.count += o.count;
    this.sumNs += o.sumNs;
    this.maxNs = Math.max(this.maxNs, o.maxNs);
    for (const [b, n] of o.buckets) this.buckets.set(b, (this.buckets.get(b) ?? 0) + n);
  }

  /** The p-quantile (0 < p <= 1) as its bucket's upper bound, never above the exact maximum; 0 when empty. */
  quantile(p: number): number {
    if (this.count === 0) return 0;
    const want = Math.max(1, Math.ceil(p * this.count));
    let seen = 0;
    for (const b of [...this.buckets.keys()].sort((x, y) => x - y)) {
      seen += this.buckets.get(b)!;
      if (seen >= want) return Math.min(latencyBucketTop(b), this.maxNs);
    }
    return this.maxNs;
  }

  /** (upper bound ns, count) per non-empty bucket, ascending: the CDF's input. */
  histogram(): { ns: number; count: number }[] {
    return [...this.buckets.keys()].sort((x, y) => x - y).map((b) => ({ ns: Math.min(latencyBucketTop(b), this.maxNs), count: this.buckets.get(b)! }));
  }
}

/** Default sampling interval: 1, 2 or 5 x 10^k ns, the smallest giving at most 100 samples, at least 100 us. */
export function defaultSampleInterval(untilNs: number): number {
  const want = Math.max(100_000, untilNs / 100);
  for (let p = 1; ; p *= 10) for (const m of [1, 2, 5]) if (m * p >= want) return m * p;
}

/** Adds the span [from, to) to per-interval sums. */
function addSpan(sums: number[], interval: number, from: number, to: number): void {
  let t = from;
  while (t < to) {
    const k = Math.floor(t / interval);
    const end = Math.min(to, (k + 1) * interval);
    while (sums.length <= k) sums.push(0);
    sums[k]! += end - t;
    t = end;
  }
}

export class SchedMetrics {
  /** Width of a sample in virtual ns; set before the run starts (the runner does). */
  intervalNs = 10_000_000;
  /** Running ns per interval, per domain (summed over its vCPUs). */
  private readonly domainRun = new Map<Domain, number[]>();
  /** Busy ns per interval, per pCPU. */
  private readonly pcpuBusy: number[][] = [];
  private readonly latency = new Map<Domain, LatencyHistogram>();
  /** When a vCPU that was blocked became runnable, until it runs. */
  private readonly wokenAt = new Map<Vcpu, number>();

  /** `v` ran on pCPU `cpu` over [from, to). */
  ran(v: Vcpu, cpu: number, from: number, to: number): void {
    if (!(to > from)) return;
    let d = this.domainRun.get(v.domain);
    if (!d) this.domainRun.set(v.domain, (d = []));
    addSpan(d, this.intervalNs, from, to);
    addSpan((this.pcpuBusy[cpu] ??= []), this.intervalNs, from, to);
  }

  /** A blocked `v` became runnable at `t`. */
  woke(v: Vcpu, t: number): void {
    this.wokenAt.set(v, t);
  }

  /** `v` left the queue without running (paused, taken down): no latency to count. */
  forget(v: Vcpu): void {
    this.wokenAt.delete(v);
  }

  /** `v` starts running at `t`: a wake-up pending since `woke` ends here. */
  started(v: Vcpu, t: number): void {
    const w = this.wokenAt.get(v);
    if (w === undefined) return;
    this.wokenAt.delete(v);
    let h = this.latency.get(v.domain);
    if (!h) this.latency.set(v.domain, (h = new LatencyHistogram()));
    h.add(Math.max(0, t - w));
  }

  latencyOf(d: Domain): LatencyHistogram {
    return this.latency.get(d) ?? new LatencyHistogram();
  }

  /**
   * Per-interval sums up to `until` (the run's end), the spans still open (vCPUs running
   * now, since their run-state entry) added to copies: reading changes nothing.
   */
  series(until: number, running: readonly { v: Vcpu; cpu: number; since: number }[], nrPcpus: number): { domains: Map<Domain, number[]>; pcpus: number[][]; samples: number } {
    const samples = Math.max(1, Math.ceil(until / this.intervalNs));
    const fit = (a: number[] | undefined) => Array.from({ length: samples }, (_, k) => a?.[k] ?? 0);
    const domains = new Map<Domain, number[]>();
    for (const [d, a] of this.domainRun) domains.set(d, fit(a));
    const pcpus = Array.from({ length: nrPcpus }, (_, c) => fit(this.pcpuBusy[c]));
    for (const r of running) {
      const to = Math.min(until, Math.max(r.since, until));
      if (!(to > r.since)) continue;
      let d = domains.get(r.v.domain);
      if (!d) domains.set(r.v.domain, (d = fit(undefined)));
      const extra: number[] = [];
      addSpan(extra, this.intervalNs, r.since, to);
      extra.forEach((x, k) => {
        if (k < samples) {
          d[k]! += x;
          pcpus[r.cpu]![k]! += x;
        }
      });
    }
    return { domains, pcpus, samples };
  }
}

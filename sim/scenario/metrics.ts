// A run's scheduling metrics (issue 15, item 5), from the hypervisor's bookkeeping
// (hypervisor/sched/metrics.ts): each domain's CPU share over time and wake-to-run latency,
// each pCPU's utilisation over time, Jain's fairness index over domains of equal weight
// and over each domain group, RTDS deadline misses. docs/scenarios.md, "Metrics".

import type { Hypervisor } from '../../hypervisor/hypervisor.ts';
import type { Domain } from '../../hypervisor/domain/domain.ts';
import { LatencyHistogram } from '../../hypervisor/sched/metrics.ts';

/** Wake-to-run latency of a domain or group: wake-ups counted, quantiles in ns. */
export interface LatencySummary {
  wakeups: number;
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
  meanNs: number;
}

export interface DomainMetrics {
  /** Running time per sample as a share of one pCPU (0..vcpus), 4 decimals. */
  shareOverTime: number[];
  latency: LatencySummary;
}

export interface FairnessEntry {
  /** The weight (byWeight) or the group's name (byGroup). */
  key: string;
  weight: number;
  domains: number;
  /** Jain's index (sum x)^2 / (n sum x^2) of the domains' CPU shares: 1 = equal, 1/n = one took all. */
  jain: number;
  /** Mean, least and most CPU share of the domains (fractions of one pCPU). */
  meanShare: number;
  minShare: number;
  maxShare: number;
}

export interface GroupLatency extends LatencySummary {
  group: string;
  /** (upper bound ns, wake-ups) per histogram bucket: the latency CDF. */
  histogram: { ns: number; count: number }[];
}

export interface RunMetrics {
  sampleIntervalNs: number;
  samples: number;
  /** Busy share per sample, per pCPU (0..1, 4 decimals). */
  pcpuUtilisation: number[][];
  fairness: { byWeight: FairnessEntry[]; byGroup: FairnessEntry[] };
  latencyByGroup: GroupLatency[];
  /** RTDS: periods missed over all domains (0 under other schedulers). */
  deadlineMisses: number;
}

const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

export function summarise(h: LatencyHistogram): LatencySummary {
  return { wakeups: h.count, p50Ns: h.quantile(0.5), p99Ns: h.quantile(0.99), maxNs: h.maxNs, meanNs: h.count ? Math.round(h.sumNs / h.count) : 0 };
}

/** Jain's fairness index of x (1 for an empty or all-zero set: nobody got more than another). */
export function jain(x: readonly number[]): number {
  const s = x.reduce((a, b) => a + b, 0);
  const q = x.reduce((a, b) => a + b * b, 0);
  return q === 0 ? 1 : (s * s) / (x.length * q);
}

/** The run's sampled series: per domain (share, latency) and per pCPU (utilisation). */
export function sampledSeries(hv: Hypervisor, until: number): { perDomain: (d: Domain) => DomainMetrics; pcpuUtilisation: number[][]; samples: number; intervalNs: number } {
  const m = hv.sched.metrics;
  const running = hv.pcpus.flatMap((p) => (p.current && p.current.runstate === 'running' ? [{ v: p.current, cpu: p.id, since: p.current.runstateEntry }] : []));
  const { domains, pcpus, samples } = m.series(until, running, hv.pcpus.length);
  const width = (k: number) => Math.max(1, Math.min(m.intervalNs, until - k * m.intervalNs));
  const share = (a: number[]) => a.map((ns, k) => r4(ns / width(k)));
  return {
    perDomain: (d) => ({ shareOverTime: share(domains.get(d) ?? new Array<number>(samples).fill(0)), latency: summarise(m.latencyOf(d)) }),
    pcpuUtilisation: pcpus.map(share),
    samples,
    intervalNs: m.intervalNs,
  };
}

interface DomainFacts {
  name: string;
  group: string;
  weight: number;
  cpuShare: number;
  deadlineMisses: number;
}

function fairness(key: (d: DomainFacts) => string, domains: readonly DomainFacts[]): FairnessEntry[] {
  const by = new Map<string, DomainFacts[]>();
  for (const d of domains) {
    const k = key(d);
    const g = by.get(k);
    if (g) g.push(d);
    else by.set(k, [d]);
  }
  return [...by].map(([k, ds]) => {
    const x = ds.map((d) => d.cpuShare);
    return {
      key: k,
      weight: ds[0]!.weight,
      domains: ds.length,
      jain: r4(jain(x)),
      meanShare: r4(x.reduce((a, b) => a + b, 0) / x.length),
      minShare: r4(Math.min(...x)),
      maxShare: r4(Math.max(...x)),
    };
  });
}

/** The run-wide metrics, once every domain's report is made. */
export function runMetrics(hv: Hypervisor, series: ReturnType<typeof sampledSeries>, domains: readonly DomainFacts[]): RunMetrics {
  const byName = new Map([...hv.domains.values()].map((d) => [d.name, d]));
  const groups = new Map<string, LatencyHistogram>();
  for (const d of domains) {
    const dom = byName.get(d.name);
    if (!dom) continue;
    let h = groups.get(d.group);
    if (!h) groups.set(d.group, (h = new LatencyHistogram()));
    h.merge(hv.sched.metrics.latencyOf(dom));
  }
  return {
    sampleIntervalNs: series.intervalNs,
    samples: series.samples,
    pcpuUtilisation: series.pcpuUtilisation,
    fairness: {
      byWeight: fairness((d) => String(d.weight), domains).sort((a, b) => a.weight - b.weight),
      byGroup: fairness((d) => d.group, domains),
    },
    latencyByGroup: [...groups].map(([group, h]) => ({ group, ...summarise(h), histogram: h.histogram() })),
    deadlineMisses: domains.reduce((a, d) => a + d.deadlineMisses, 0),
  };
}

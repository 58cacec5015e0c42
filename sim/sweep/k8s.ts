// `pvsim sweep --emit k8s`: the sweep as a Kubernetes Indexed Job (batch/v1): one completion
// per run, each pod running `pvsim sweep ... --index $JOB_COMPLETION_INDEX --out DIR` in
// pvsim's container image and writing its run's result to a volume; `pvsim sweep --collect`
// merges the files. The scheduling, retries and parallelism are Kubernetes' (no home-made
// batch engine). docs/sweep.md, "On Kubernetes".

import { createHash } from 'node:crypto';
import type { SweepHeader } from './plan.ts';

export interface K8sOptions {
  /** pvsim's container image (it has pvsim on PATH and the scenario at `scenario` from workingDir). */
  image: string;
  /** The PersistentVolumeClaim the results go to. */
  claim: string;
  /** Pods at once. */
  parallelism: number;
  /** The Job's name; default from the scenario's name and the sweep's fingerprint. */
  jobName?: string;
  /** The container's working directory (where the scenario path and its images resolve). */
  workingDir?: string;
  /** Retries per run before the Job counts it failed. */
  backoffLimit?: number;
  /** `--cpu` of the sweep, passed on to every pod. */
  cpu?: string;
}

/** Where the volume is mounted in each pod. */
export const RESULTS_MOUNT = '/results';

/** A short, stable id of the sweep (its header). */
export function sweepFingerprint(h: SweepHeader): string {
  return createHash('sha256').update(JSON.stringify(h)).digest('hex').slice(0, 10);
}

/** A DNS-1123 label (what a Job name must be, for its pods' labels): lowercase alnum and '-', at most 63. */
export function jobNameFor(h: SweepHeader): string {
  const base = h.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 30) || 'scenario';
  return `pvsim-sweep-${base}-${sweepFingerprint(h)}`.replace(/-+/g, '-');
}

/** Single-quoted for sh: any string, literally. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=,+-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Seeds as --seeds takes them: `a..b` when consecutive (a Job of 1,000 seeds keeps a short command). */
export function seedsText(seeds: readonly number[]): string {
  const consecutive = seeds.length > 1 && seeds.every((s, i) => i === 0 || s === seeds[i - 1]! + 1);
  return consecutive ? `${seeds[0]}..${seeds.at(-1)}` : seeds.join(',');
}

/** The command line each pod runs: the sweep's own arguments, its index from the Job. */
export function podCommand(h: SweepHeader, varyArgs: readonly string[], cpu?: string): string {
  const args = ['pvsim', 'sweep', h.scenario, ...varyArgs.flatMap((v) => ['--vary', v]), '--seeds', seedsText(h.seeds), ...(cpu ? ['--cpu', cpu] : [])];
  return `exec ${args.map(shQuote).join(' ')} --index "$JOB_COMPLETION_INDEX" --out "$PVSIM_SWEEP_OUT"`;
}

export function k8sJobManifest(h: SweepHeader, varyArgs: readonly string[], o: K8sOptions): object {
  const name = o.jobName ?? jobNameFor(h);
  const labels = { 'app.kubernetes.io/name': 'pvsim', 'app.kubernetes.io/component': 'sweep', 'pvsim.sweep/fingerprint': sweepFingerprint(h) };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels },
    spec: {
      completionMode: 'Indexed',
      completions: h.runs,
      parallelism: Math.min(o.parallelism, h.runs),
      backoffLimit: o.backoffLimit ?? 3,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          containers: [
            {
              name: 'pvsim',
              image: o.image,
              ...(o.workingDir ? { workingDir: o.workingDir } : {}),
              command: ['sh', '-c', podCommand(h, varyArgs, o.cpu)],
              // The results of this Job, one file per index, in its own directory of the volume.
              env: [{ name: 'PVSIM_SWEEP_OUT', value: `${RESULTS_MOUNT}/${name}` }],
              // One run is one single-threaded simulation.
              resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '4Gi' } },
              volumeMounts: [{ name: 'results', mountPath: RESULTS_MOUNT }],
            },
          ],
          volumes: [{ name: 'results', persistentVolumeClaim: { claimName: o.claim } }],
        },
      },
    },
  };
}

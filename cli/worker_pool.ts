// A pool of worker processes for `pvsim compare` and `pvsim sweep`: each worker a fork of our
// own CLI (a hidden subcommand such as `pvsim compare-worker`) that runs one job at a time and
// answers over the IPC channel. At most `workers` at once; a job that outlives its wall-clock
// bound has its worker killed and is reported failed (a fresh worker takes the next job);
// every worker is killed when the pool ends, fails, or this process exits or is signalled.

import { fork, type ChildProcess } from 'node:child_process';
import { pvsimArgv } from './self.ts';

/** setTimeout's largest delay: a longer one (--timeout past 24.8 days) fires at once, killing every run. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What the parent sends a worker, and what it answers (`id`: the job's index). */
interface PoolRequest<J> {
  id: number;
  job: J;
}
interface PoolAnswer<R> {
  id: number;
  result: R;
}

export interface WorkerPoolOptions<J, R> {
  /** The hidden subcommand a worker runs, e.g. 'compare-worker'. */
  command: string;
  /** The command as the user typed it, for messages: 'pvsim compare'. */
  name: string;
  /** Worker processes at most. */
  workers: number;
  /** Wall-clock bound of one job (ms). */
  timeoutMs: number;
  /** The result of a job that did not finish: its worker was killed, died or never started. */
  failed: (job: J, why: string) => R;
  /** Why a job whose worker was killed at its time bound failed. */
  timedOut: (timeoutMs: number) => string;
  /** Called when a job starts and when it ends, with the jobs running. */
  onProgress?: (done: number, total: number, running: J[]) => void;
}

interface Worker {
  child: ChildProcess;
  busy: { id: number; timer: NodeJS.Timeout } | null;
  stderr: string;
}

/** The last lines a dead worker wrote on stderr, for its jobs' error. */
const stderrTail = (w: Worker) => (w.stderr ? `: ${w.stderr.trim().split('\n').slice(-3).join(' | ')}` : '');

/** Runs the jobs on the pool's workers; the results come back in the jobs' order. */
export async function runInWorkers<J, R>(jobs: J[], opts: WorkerPoolOptions<J, R>): Promise<R[]> {
  const results: (R | undefined)[] = new Array(jobs.length);
  const workers = new Set<Worker>();
  let next = 0;
  let done = 0;
  const killAll = () => {
    for (const w of workers) w.child.kill('SIGKILL');
  };
  process.on('exit', killAll);
  // Ctrl-C or a kill: the workers go first (a worker deep in a run would not notice the
  // closed channel until its run ends).
  const onSignal = (sig: NodeJS.Signals) => {
    killAll();
    process.stderr.write(`\n${opts.name}: ${sig}: workers stopped\n`);
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const progress = () => opts.onProgress?.(done, jobs.length, [...workers].filter((w) => w.busy).map((w) => jobs[w.busy!.id]!));
  try {
    await new Promise<void>((resolve) => {
      const finish = (w: Worker, id: number, result: R, more = true) => {
        if (results[id] === undefined) {
          results[id] = result;
          done++;
        }
        if (w.busy) clearTimeout(w.busy.timer);
        w.busy = null;
        progress();
        if (done === jobs.length) return resolve();
        if (more) give(w);
      };
      const give = (w: Worker) => {
        if (next >= jobs.length) {
          workers.delete(w);
          w.child.kill('SIGKILL');
          return;
        }
        const id = next++;
        // Killed: its exit handler reports the job and starts a fresh worker.
        const timer = setTimeout(() => w.child.kill('SIGKILL'), Math.min(opts.timeoutMs, MAX_TIMER_MS));
        w.busy = { id, timer };
        w.child.send({ id, job: jobs[id]! } satisfies PoolRequest<J>);
        progress();
      };
      const spawn = () => {
        const [main, ...args] = pvsimArgv([opts.command]);
        const child = fork(main!, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
        const w: Worker = { child, busy: null, stderr: '' };
        workers.add(w);
        // A send to a worker that just died: its exit handler reports the job.
        child.on('error', () => {});
        child.stderr!.on('data', (b: Buffer) => {
          w.stderr = (w.stderr + b.toString()).slice(-2048);
        });
        // The worker says when it is ready: its start-up (loading the simulator) is not
        // part of any job's time bound.
        child.on('message', (m: PoolAnswer<R> | { ready: true }) => {
          if ('ready' in m) give(w);
          else if (w.busy && m.id === w.busy.id) finish(w, m.id, m.result);
        });
        child.on('exit', (code, signal) => {
          const was = workers.delete(w);
          if (!w.busy) {
            // No worker left while jobs wait (workers that cannot even start): those jobs fail.
            if (workers.size === 0 && done < jobs.length) {
              const why = `worker exited before it was ready (${signal ?? `status ${code}`})${stderrTail(w)}`;
              while (next < jobs.length) {
                const id = next++;
                finish(w, id, opts.failed(jobs[id]!, why), false);
              }
            }
            return;
          }
          const { id, timer } = w.busy;
          clearTimeout(timer);
          w.busy = null;
          const why = signal === 'SIGKILL' ? opts.timedOut(opts.timeoutMs) : `worker exited (${signal ?? `status ${code}`})${stderrTail(w)}`;
          // A fresh worker takes the next job once it is ready (the dead one cannot take more).
          if (was && next < jobs.length) spawn();
          finish(w, id, opts.failed(jobs[id]!, why), false);
        });
      };
      if (jobs.length === 0) return resolve();
      for (let i = 0; i < Math.min(opts.workers, jobs.length); i++) spawn();
    });
  } finally {
    killAll();
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return results as R[];
}

export interface WorkerServeOptions<J, R> {
  /** The hidden subcommand this is, e.g. 'compare-worker'. */
  command: string;
  /** The command that starts it: 'pvsim compare'. */
  name: string;
  /** Runs one job; a rejection becomes `failed(job, 'worker: <message>')`. */
  run: (job: J) => Promise<R>;
  failed: (job: J, why: string) => R;
}

/** The worker's side (`pvsim <command>`): runs the jobs its parent sends, one at a time, until disconnected. */
export function serveWorker<J, R>(opts: WorkerServeOptions<J, R>): void {
  if (!process.send) {
    process.stderr.write(`pvsim ${opts.command}: run by \`${opts.name}\` only (needs an IPC channel)\n`);
    process.exitCode = 2;
    return;
  }
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
  process.on('message', (m: PoolRequest<J>) => {
    // Promise.resolve().then: a run that throws before its first await is a rejection too.
    void Promise.resolve()
      .then(() => opts.run(m.job))
      .catch((e: unknown) => opts.failed(m.job, `worker: ${(e as Error).message}`))
      .then((result) => process.send!({ id: m.id, result } satisfies PoolAnswer<R>));
  });
}

// Realtime pacing: the same simulation, run in steps so that virtual time does not run
// ahead of wall time (times `speed`). For interactive consoles and demos; results are no
// longer tied to the seed alone, since wall time decides how far each step goes.

import type { RunOptions, RunResult } from './loop.ts';
import { wireStats } from '../../protocol/wire_stats.ts';

/** What pacing drives: a machine's run step, its clock and the flag that stops it. */
export interface Paced {
  now(): number;
  run(opts: RunOptions): RunResult;
  /** Set to make a running runRealtime() return at its next step. */
  readonly stopRealtime: boolean;
}

export interface RealtimeOptions {
  until?: number;
  speed?: number;
  /** Virtual ns each step may run ahead of the wall clock. */
  stepNs?: number;
}

export async function runRealtime(m: Paced, opts: RealtimeOptions = {}): Promise<Exclude<RunResult, { kind: 'blocked' }>> {
  const until = opts.until ?? Infinity;
  const speed = opts.speed ?? 1;
  const step = opts.stepNs ?? 2_000_000;
  const wall0 = performance.now();
  const virt0 = m.now();
  for (;;) {
    const allowed = virt0 + (performance.now() - wall0) * 1e6 * speed;
    const target = Math.min(until, Math.max(allowed, m.now()) + step);
    const r = m.run({ until: target });
    if (wireStats) wireStats.loopTurns++;
    // A dom0 dispatch is waited out and then paced like any step: continuing at once would
    // let a guest that keeps dom0 busy run virtual time ahead of wall time.
    if (r.kind === 'blocked') await r.wait;
    else if (r.kind !== 'time' || target >= until) return r;
    const ahead = (m.now() - virt0) / (1e6 * speed) - (performance.now() - wall0);
    // Always give the event loop a turn, so that sockets are served even when the
    // simulation runs slower than wall time.
    await new Promise((res) => (ahead >= 1 ? setTimeout(res, ahead) : setImmediate(res)));
    if (m.stopRealtime) return { kind: 'time' };
  }
}

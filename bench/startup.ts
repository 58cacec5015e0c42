// Start-up times of the `pvsim` command, as a user meets them: `pvsim --help` (process start,
// loading the CLI), `pvsim up` until it has printed that it is ready (both daemons started
// and connected), and `node -e 0` as the same-run floor. Each is the best of `runs` wall-clock
// measurements. Run directly: `node --import tsx bench/startup.ts [runs]` (JSON on stdout).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from '../scripts/dist.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PVSIM = join(ROOT, 'bin/pvsim.js');
const UP_READY_TIMEOUT_MS = 30_000;

/** Best (lowest) of `runs` wall times of a process run to its exit, in ms. */
export function bestExitMs(argv: string[], runs: number, env: NodeJS.ProcessEnv = process.env): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000, env });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`node ${argv.join(' ')} failed (${r.signal ?? r.status}): ${r.stderr}`);
    best = Math.min(best, ms);
  }
  return best;
}

/** Wall ms from spawning `pvsim up` to its PVSIM_TOKEN_FILE= line (printed once both daemons are ready). */
export async function upReadyMs(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-startup-'));
  const t0 = performance.now();
  const proc = spawn(process.execPath, [PVSIM, 'up', '--pcpus', '1', '--memory', '256'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, TMPDIR: dir, XDG_RUNTIME_DIR: '' } });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const stderr: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('pvsim up was not ready in time')), UP_READY_TIMEOUT_MS);
      void exited.then(() => reject(new Error(`pvsim up exited before it was ready: ${stderr.join('\n')}`)));
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        if (!l.startsWith('PVSIM_TOKEN_FILE=')) return;
        clearTimeout(timer);
        resolve(performance.now() - t0);
      });
    });
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function startupBench(runs = 5, env: NodeJS.ProcessEnv = process.env): Promise<{ nodeMs: number; helpMs: number; upMs: number; build: 'dist' | 'sources' }> {
  // What bin/pvsim.js will run: the figures mean little without it.
  const build = env.PVSIM_FROM_SOURCE !== '1' && distIsFresh() ? 'dist' : 'sources';
  const nodeMs = bestExitMs(['-e', '0'], runs, env);
  const helpMs = bestExitMs([PVSIM, '--help'], runs, env);
  let upMs = Infinity;
  for (let i = 0; i < runs; i++) upMs = Math.min(upMs, await upReadyMs(env));
  return { nodeMs, helpMs, upMs, build };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await startupBench(Number(process.argv[2] ?? 5));
  process.stdout.write(JSON.stringify({ baseline_node_start_ms: Math.round(r.nodeMs), cli_help_ms: Math.round(r.helpMs), up_ready_ms: Math.round(r.upMs), cli_build: r.build }) + '\n');
}

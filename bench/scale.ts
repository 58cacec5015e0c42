// 10,000 domains as a user runs them: `pvsim run examples/scale-10000.json` (the
// hypervisor and dom0 as two processes), wall time from spawn to exit, and the largest sum
// of the two processes' resident memory seen while it ran (sampled every 250 ms from
// /proc), per domain. Slow (about a minute on a quiet 2-core machine): `npm run bench`
// runs it only when asked (`npm run bench -- run_10000` or PVSIM_BENCH_SCALE=1).
// Run directly: `node --import tsx bench/scale.ts` (JSON on stdout).

import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { distIsFresh } from '../scripts/dist.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PVSIM = join(ROOT, 'bin/pvsim.js');
const SCENARIO = join(ROOT, 'examples/scale-10000.json');
const TIMEOUT_MS = 15 * 60_000;

/** Resident KiB of the children of `pid` (the hypervisor and dom0 of a `pvsim run`). */
function childrenRssKib(pid: number): number {
  const r = spawnSync('ps', ['-o', 'rss=', '--ppid', String(pid)], { encoding: 'utf8' });
  if (r.status !== 0 && r.stdout.trim() === '') return 0;
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0)
    .reduce((a, b) => a + b, 0);
}

export interface ScaleResult {
  domains: number;
  seconds: number;
  peakRssMib: number;
  mibPerDomain: number;
  traceHash: string;
  build: string;
}

export async function scaleBench(log: (msg: string) => void = () => {}): Promise<ScaleResult> {
  const scenario = JSON.parse(readFileSync(SCENARIO, 'utf8')) as { domains: { count: number }[] };
  const domains = scenario.domains.reduce((n, d) => n + d.count, 0);
  const build = distIsFresh() ? 'dist' : 'tsx';
  if (build !== 'dist') log('scale: dist/ is not fresh, pvsim runs through tsx (slower): npm run build first');
  const t0 = performance.now();
  const proc = spawn(process.execPath, [PVSIM, 'run', '--no-progress', SCENARIO], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => {
    err += b.toString();
    if (err.length > 1 << 20) err = err.slice(-(1 << 19));
  });
  let peakKib = 0;
  const sampler = setInterval(() => {
    peakKib = Math.max(peakKib, childrenRssKib(proc.pid!));
  }, 250);
  const killer = setTimeout(() => proc.kill('SIGTERM'), TIMEOUT_MS);
  const code = await new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  clearTimeout(killer);
  const hash = /trace-hash: ([0-9a-f]+)/.exec(out)?.[1];
  if (code !== 0 || !hash) throw new Error(`pvsim run ${SCENARIO} failed (${code}): ${err.split('\n').filter((l) => !l.includes('serving d')).slice(-5).join('\n')}`);
  const peakRssMib = peakKib / 1024;
  return { domains, seconds, peakRssMib, mibPerDomain: peakRssMib / domains, traceHash: hash, build };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await scaleBench((m) => process.stderr.write(m + '\n'));
  process.stdout.write(JSON.stringify(r) + '\n');
}

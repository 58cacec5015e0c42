// One way for tests to start `pvsim up` as a real process: a private run directory (TMPDIR
// given, XDG_RUNTIME_DIR emptied, so a user's own pvsim is never touched), stderr kept, and
// ready once it has printed PVSIM_URL, XENSTORED_PATH and PVSIM_TOKEN_FILE. The caller
// kills what `children` collects in its afterAll/afterEach (upChildren() registers that).
// Also `pvsim xl` against it, and an HVM domain's xl.cfg.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll } from 'vitest';
import { parseEnv } from '../../cli/runtime.ts';

export const PVSIM = join(process.cwd(), 'bin/pvsim.js');

export interface RunningUp {
  proc: ChildProcess;
  /** What `pvsim up` printed (PVSIM_URL, XENSTORED_PATH, PVSIM_TOKEN_FILE, ...). */
  env: Record<string, string>;
  stderr: string[];
  exited: Promise<number | null>;
}

export interface UpOptions {
  /** The run directory's parent (TMPDIR). */
  tmpdir: string;
  /** Where the spawned process is recorded, for the caller to kill. */
  children: ChildProcess[];
  /** More environment (a process tag, say). */
  env?: Record<string, string>;
  readyMs?: number;
}

export function startUp(args: string[], o: UpOptions): Promise<RunningUp> {
  const proc = spawn(process.execPath, [PVSIM, 'up', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: o.tmpdir, XDG_RUNTIME_DIR: '', ...o.env } });
  o.children.push(proc);
  const stderr: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`pvsim up not ready: ${stderr.join('\n')}`)), o.readyMs ?? 30_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`pvsim up exited (${code}) before it was ready: ${stderr.join('\n')}`));
    });
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      Object.assign(env, parseEnv(l));
      if (env.PVSIM_URL && env.XENSTORED_PATH && env.PVSIM_TOKEN_FILE) {
        clearTimeout(timer);
        resolve({ proc, env, stderr, exited });
      }
    });
  });
}

/** A list for UpOptions.children whose processes still running are killed after the file's tests. */
export function upChildren(): ChildProcess[] {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  return children;
}

export interface XlResult {
  status: number | null;
  out: string;
  err: string;
}

/** `pvsim xl ARGS` against `u`, bounded by `timeoutMs` of wall time. */
export function xlWithin(timeoutMs: number): (u: RunningUp, ...args: string[]) => XlResult {
  return (u, ...args) => {
    const r = spawnSync(process.execPath, [PVSIM, 'xl', ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, ...u.env } });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };
}

/** `pvsim xl ARGS` against `u` (30 s at most). */
export const xl = xlWithin(30_000);

/** The native kernel (guests/build/native.elf) that HVM domains boot. */
export const NATIVE = join(process.cwd(), 'guests/build/native.elf');

/** Writes DIR/NAME.cfg: an HVM domain of the native kernel, 16 MiB, kept after poweroff, plus `extra` lines. */
export function hvmCfg(dir: string, name: string, extra: string): string {
  const f = join(dir, `${name}.cfg`);
  writeFileSync(f, `name = "${name}"\ntype = "hvm"\nkernel = "${NATIVE}"\nmemory = 16\non_poweroff = "preserve"\n${extra}`);
  return f;
}

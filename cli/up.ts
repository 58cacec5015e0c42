// `pvsim up`: starts the hypervisor and dom0 as child processes, prints PVSIM_URL and
// XENSTORED_PATH once both are ready, and stays in the foreground. Ctrl-C, SIGTERM or the
// death of either child stops everything: no orphan processes, no stale sockets.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { currentEnvFile, dom0Args, newRunFiles, parseEnv } from './runtime.ts';

const PVSIM = fileURLToPath(new URL('../bin/pvsim.js', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

export interface UpOptions {
  pcpus: number;
  scheduler: string;
  memory: number;
  speed?: number;
  /** dom0 captures every frame crossing its bridges to this pcap file. */
  pcap?: string;
}

export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a pvsim child and resolves once it has printed every KEY= line in `want`. */
export function start(name: string, args: string[], env: NodeJS.ProcessEnv, want: string[], onLine?: (line: string) => void): Promise<{ child: Child; vars: Record<string, string> }> {
  // stdin stays a pipe: the child exits when it closes, so a killed `pvsim up` leaves no orphans.
  const proc = spawn(process.execPath, [PVSIM, ...args], { env: { ...process.env, ...env, PVSIM_EXIT_WITH_STDIN: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  createInterface({ input: proc.stderr! }).on('line', (l) => process.stderr.write(`[${name}] ${l}\n`));
  const child: Child = { name, proc, exited };
  return new Promise((resolve, reject) => {
    const vars: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    let ready = false;
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (ready) {
        onLine?.(l);
        return;
      }
      Object.assign(vars, parseEnv(l));
      if (want.every((k) => vars[k])) {
        ready = true;
        clearTimeout(timer);
        resolve({ child, vars });
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (${signal ?? `status ${code}`})`));
    });
  });
}

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 3_000);
  await c.exited;
  clearTimeout(timer);
}

export async function upCommand(o: UpOptions): Promise<number> {
  const files = newRunFiles();
  const { dir: run, hvToken, clientToken, xsPath } = files;
  const children: Child[] = [];
  let stopping = false;
  const cleanup = async () => {
    stopping = true;
    for (const c of [...children].reverse()) await stopChild(c);
    if (existsSync(xsPath)) unlinkSync(xsPath);
    const cur = currentEnvFile();
    if (existsSync(cur) && readFileSync(cur, 'utf8').includes(run)) rmSync(cur, { force: true });
    rmSync(run, { recursive: true, force: true });
  };
  try {
    const hvArgs = ['hypervisor', '--token-file', hvToken, '--pcpus', String(o.pcpus), '--scheduler', o.scheduler, '--memory', String(o.memory)];
    if (o.speed) hvArgs.push('--speed', String(o.speed));
    const hv = await start('hypervisor', hvArgs, {}, ['PVSIM_HYPERVISOR_URL']);
    children.push(hv.child);
    const d0 = await start('dom0', dom0Args(hv.vars.PVSIM_HYPERVISOR_URL!, files, { pcap: o.pcap }), {}, ['PVSIM_URL', 'XENSTORED_PATH']);
    children.push(d0.child);
    const env = `PVSIM_URL=${d0.vars.PVSIM_URL}\nXENSTORED_PATH=${d0.vars.XENSTORED_PATH}\nPVSIM_TOKEN_FILE=${clientToken}\n`;
    writeFileSync(currentEnvFile(), env, { mode: 0o600 });
    process.stdout.write(env);
  } catch (e) {
    process.stderr.write(`pvsim up: ${(e as Error).message}\n`);
    await cleanup();
    return 1;
  }
  return await new Promise<number>((resolve) => {
    const finish = (status: number) => void cleanup().then(() => resolve(status));
    process.once('SIGINT', () => finish(0));
    process.once('SIGTERM', () => finish(0));
    for (const c of children) {
      void c.exited.then(({ code, signal }) => {
        if (stopping) return;
        process.stderr.write(`pvsim up: ${c.name} exited unexpectedly (${signal ?? `status ${code}`}); stopping\n`);
        finish(1);
      });
    }
  });
}

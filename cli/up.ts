// `pvsim up`: starts the hypervisor and dom0 as child processes, prints PVSIM_URL and
// XENSTORED_PATH once both are ready, and stays in the foreground. Ctrl-C, SIGTERM or the
// death of the hypervisor stops everything: no orphan processes, no stale sockets. If dom0
// dies, it is started again on the same URL and socket from its saved XenStore; the guests
// keep running and their frontends reconnect (a supervisor's job in a real dom0).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dom0Args, newRunFiles, parseEnv, publishRun, readToken, retireRun, type RunFiles } from './runtime.ts';
import { connect } from '../protocol/session.ts';
import type { Dashboard } from './web/dashboard.ts';
import { pvsimArgv } from './self.ts';

const READY_TIMEOUT_MS = 30_000;
/** dom0 restarts allowed within RESTART_WINDOW_MS before `pvsim up` gives up. */
const MAX_DOM0_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

export interface UpOptions {
  pcpus: number;
  scheduler: string;
  memory: number;
  speed?: number;
  /** dom0 captures every frame crossing its bridges to this pcap file. */
  pcap?: string;
  /** Serve the live dashboard on this port of 127.0.0.1 (true or 0: any free port). */
  web?: number | true;
  /** Milliseconds between the dashboard's samples. */
  webInterval?: number;
  /** --cpu: the hypervisor's engine for every domain. */
  cpu?: string;
}

export interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Launched {
  /** The child, spawned: the caller stops it whatever becomes of `ready`. */
  child: Child;
  /** The KEY= values the child printed, once it has printed every one wanted. */
  ready: Promise<Record<string, string>>;
}

/**
 * Spawns a pvsim child; `ready` resolves once it has printed every KEY= line in `want`
 * (an event on its stdout, no polling), and rejects if it exits first or takes longer than
 * READY_TIMEOUT_MS. `stdinLine`, once it resolves, is written to the child's stdin as one
 * line (how dom0 started with `--hypervisor -` learns the hypervisor's URL).
 */
export function launch(name: string, args: string[], env: NodeJS.ProcessEnv, want: string[], o: { onLine?: (line: string) => void; stdinLine?: Promise<string>; onStderr?: (line: string) => boolean } = {}): Launched {
  // stdin stays a pipe: the child exits when it closes, so a killed `pvsim up` leaves no orphans.
  const proc = spawn(process.execPath, pvsimArgv(args), { env: { ...process.env, ...env, PVSIM_EXIT_WITH_STDIN: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  // A child that exits before reading its stdin must not take us down with EPIPE.
  proc.stdin!.on('error', () => {});
  // onStderr may take a line (true): `pvsim run` draws the child's progress lines itself.
  createInterface({ input: proc.stderr! }).on('line', (l) => o.onStderr?.(l) || process.stderr.write(`[${name}] ${l}\n`));
  const child: Child = { name, proc, exited };
  o.stdinLine?.then(
    (line) => proc.stdin!.write(line + '\n'),
    // What it waited for will never come: its stdin closes, so it exits now (and `ready`
    // rejects) rather than at the timeout.
    () => proc.stdin!.end(),
  );
  const ready = new Promise<Record<string, string>>((resolve, reject) => {
    const vars: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`${name} was not ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    let isReady = false;
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (isReady) {
        o.onLine?.(l);
        return;
      }
      Object.assign(vars, parseEnv(l));
      if (want.every((k) => vars[k])) {
        isReady = true;
        clearTimeout(timer);
        resolve(vars);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready (${signal ?? `status ${code}`})`));
    });
  });
  return { child, ready };
}

/** Starts a pvsim child and resolves once it has printed every KEY= line in `want`. */
export async function start(name: string, args: string[], env: NodeJS.ProcessEnv, want: string[], onLine?: (line: string) => void): Promise<{ child: Child; vars: Record<string, string> }> {
  const l = launch(name, args, env, want, { onLine });
  return { child: l.child, vars: await l.ready };
}

/**
 * Starts the hypervisor and dom0 side by side: both processes load their code at the same
 * time, and dom0 (`--hypervisor -`) gets the hypervisor's URL on its stdin the moment the
 * hypervisor prints it. Both children are pushed to `children` as soon as they are spawned,
 * so the caller's cleanup stops them whatever happens. Resolves with what each printed.
 */
export async function startPair(
  hvArgs: string[],
  dom0Argv: (hypervisorUrl: string) => string[],
  dom0Want: string[],
  children: Child[],
  onHypervisorLine?: (line: string) => void,
  stderr: { hypervisor?: (line: string) => boolean; dom0?: (line: string) => boolean } = {},
): Promise<{ hv: Record<string, string>; dom0: Record<string, string> }> {
  const hv = launch('hypervisor', hvArgs, {}, ['PVSIM_HYPERVISOR_URL'], { onLine: onHypervisorLine, onStderr: stderr.hypervisor });
  children.push(hv.child);
  const d0 = launch('dom0', dom0Argv('-'), {}, dom0Want, { stdinLine: hv.ready.then((v) => v.PVSIM_HYPERVISOR_URL!), onStderr: stderr.dom0 });
  children.push(d0.child);
  // Both settle before either failure is reported: no rejection is left unhandled.
  const [h, d] = await Promise.allSettled([hv.ready, d0.ready]);
  if (h.status === 'rejected') throw h.reason;
  if (d.status === 'rejected') throw d.reason;
  return { hv: h.value, dom0: d.value };
}

export async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 3_000);
  await c.exited;
  clearTimeout(timer);
}

export async function upCommand(o: UpOptions): Promise<number> {
  let files: RunFiles;
  try {
    files = newRunFiles();
  } catch (e) {
    process.stderr.write(`pvsim up: ${(e as Error).message}\n`);
    return 1;
  }
  const { hvToken, xsPath } = files;
  const children: Child[] = [];
  let dashboard: Dashboard | null = null;
  let dom0Argv: string[] = [];
  let stopping = false;
  // Removing what this run published is synchronous and idempotent, and also runs on exit:
  // however the process ends (short of SIGKILL), no run directory stays behind.
  let retired = false;
  const retire = () => {
    if (retired) return;
    retired = true;
    try {
      if (existsSync(xsPath)) unlinkSync(xsPath);
    } catch {
      // removed with the directory below
    }
    retireRun(files);
  };
  process.once('exit', retire);
  const cleanup = async () => {
    stopping = true;
    await dashboard?.close().catch(() => {});
    for (const c of [...children].reverse()) await stopChild(c);
    retire();
  };
  // Listening for good (not once) and from the start: a signal while starting, or a second
  // Ctrl-C or SIGTERM while stopping, must not take the default action and leave the run
  // behind. The first stops everything; a later one hurries the children.
  let finish: ((status: number) => void) | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (!stopping) {
      process.stderr.write(`pvsim up: ${sig}: stopping\n`);
      if (finish) return finish(0);
      void cleanup(); // still starting: start() fails as the children go, and returns 1
      return;
    }
    process.stderr.write('pvsim up: already stopping; killing what is left\n');
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const hvArgs = ['hypervisor', '--token-file', hvToken, '--pcpus', String(o.pcpus), '--scheduler', o.scheduler, '--memory', String(o.memory)];
    if (o.speed) hvArgs.push('--speed', String(o.speed));
    if (o.cpu) hvArgs.push('--cpu', o.cpu);
    const mkDom0Argv = (url: string) => dom0Args(url, files, { pcap: o.pcap });
    const vars = await startPair(hvArgs, mkDom0Argv, ['PVSIM_URL', 'XENSTORED_PATH'], children);
    if (stopping) throw new Error('stopped by a signal while starting');
    // A restarted dom0 must be found where the first one was.
    dom0Argv = [...mkDom0Argv(vars.hv.PVSIM_HYPERVISOR_URL!), '--port', new URL(vars.dom0.PVSIM_URL!).port];
    if (o.web !== undefined) {
      const { startDashboard } = await import('./web/dashboard.ts');
      const token = readToken(files.clientToken);
      const url = vars.dom0.PVSIM_URL!;
      try {
        dashboard = await startDashboard({
          port: o.web === true ? 0 : o.web,
          token,
          intervalMs: o.webInterval,
          connect: async () => (await connect(url, 'client', token)).peer,
          log: (l) => process.stderr.write(`pvsim up: ${l}\n`),
        });
      } catch (e) {
        throw new Error(`--web: cannot serve the dashboard: ${(e as Error).message}`);
      }
      // The token goes after '#': browsers never send a fragment, so it stays out of requests and logs.
      process.stdout.write(`PVSIM_WEB_URL=${dashboard.url}#token=${token}\n`);
    }
    const env = publishRun(files, { url: vars.dom0.PVSIM_URL!, xenstoredPath: vars.dom0.XENSTORED_PATH! });
    process.stdout.write(env);
  } catch (e) {
    process.stderr.write(`pvsim up: ${(e as Error).message}\n`);
    await cleanup();
    return 1;
  }
  return await new Promise<number>((resolve) => {
    finish = (status: number) => {
      if (stopping) return;
      void cleanup().then(() => resolve(status));
    };
    const restarts: number[] = [];
    const watch = (c: Child) => {
      void c.exited.then(async ({ code, signal }) => {
        if (stopping) return;
        const how = signal ?? `status ${code}`;
        const now = Date.now();
        while (restarts.length && now - restarts[0]! > RESTART_WINDOW_MS) restarts.shift();
        if (c.name !== 'dom0' || restarts.length >= MAX_DOM0_RESTARTS) {
          process.stderr.write(`pvsim up: ${c.name} exited unexpectedly (${how}); stopping\n`);
          finish?.(1);
          return;
        }
        restarts.push(now);
        process.stderr.write(`pvsim up: dom0 exited unexpectedly (${how}); restarting it from its saved XenStore\n`);
        children.splice(children.indexOf(c), 1);
        try {
          const d0 = await start('dom0', dom0Argv, {}, ['PVSIM_URL', 'XENSTORED_PATH']);
          if (stopping) return void (await stopChild(d0.child));
          children.push(d0.child);
          process.stderr.write('pvsim up: dom0 is back\n');
          watch(d0.child);
        } catch (e) {
          process.stderr.write(`pvsim up: dom0 could not be restarted: ${(e as Error).message}; stopping\n`);
          finish?.(1);
        }
      });
    };
    for (const c of children) watch(c);
  });
}

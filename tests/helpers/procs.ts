// Finding the processes a test started, by PID, never by command line (`pgrep -f` also
// finds another run's daemons, or a user's, and misses ours when argv is spelled otherwise).
// A live daemon is a child of the `pvsim up` we spawned (ppid in /proc/<pid>/stat). An
// orphan has lost that link (re-parented to init), so leftovers are found by a marker in
// the environment the test gave the process it spawned, which every descendant inherits.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** A process as /proc shows it: `start` (clock ticks since boot) tells a reused PID apart. */
export interface Proc {
  pid: number;
  ppid: number;
  start: number;
  argv: string[];
}

function stat(pid: number): { state: string; ppid: number; start: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name, which may hold spaces and parentheses: state ppid ... starttime (field 22).
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { state: f[0]!, ppid: Number(f[1]), start: Number(f[19]) };
  } catch {
    return null; // gone
  }
}

function pidsNow(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

function proc(pid: number): Proc | null {
  const s = stat(pid);
  if (!s || s.state === 'Z') return null; // exited, not yet reaped: gone for our purposes
  try {
    return { pid, ppid: s.ppid, start: s.start, argv: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean) };
  } catch {
    return null;
  }
}

/** The live children of `ppid`: the daemons a `pvsim up` we spawned started. */
export function childrenOf(ppid: number): Proc[] {
  const out: Proc[] = [];
  for (const pid of pidsNow()) {
    const s = stat(pid);
    if (!s || s.ppid !== ppid) continue;
    const p = proc(pid);
    if (p) out.push(p);
  }
  return out;
}

/** The child of `ppid` running pvsim's `role` subcommand (`hypervisor`, `dom0`), if any. */
export function daemonOf(ppid: number, role: 'hypervisor' | 'dom0'): Proc | undefined {
  return childrenOf(ppid).find((c) => c.argv.includes(role));
}

/** Whether the process `p` names still runs (the same one: a reused PID is another process). */
export function isRunning(p: Pick<Proc, 'pid' | 'start'>): boolean {
  const s = stat(p.pid);
  return s !== null && s.state !== 'Z' && s.start === p.start;
}

let tags = 0;

/**
 * A marker for the environment of the processes a test spawns: `{ ...env, ...tag.env }`.
 * `tag.left()` lists the live processes that carry it (the spawned ones and everything
 * they started), so a daemon orphaned by its parent's death is still found.
 */
export function processTag(name: string): { env: Record<string, string>; left: () => Proc[] } {
  const value = `${name}-${process.pid}-${Date.now()}-${++tags}`;
  const needle = `\0PVSIM_TEST_TAG=${value}\0`; // a whole variable, not the tail of another
  return {
    env: { PVSIM_TEST_TAG: value },
    left: () => {
      const out: Proc[] = [];
      for (const pid of pidsNow()) {
        if (pid === process.pid) continue;
        let environ: string;
        try {
          environ = readFileSync(`/proc/${pid}/environ`, 'utf8'); // empty for a zombie
        } catch {
          continue; // gone, or not ours to read
        }
        if (!`\0${environ}`.includes(needle)) continue;
        const p = proc(pid);
        if (p) out.push(p);
      }
      return out;
    },
  };
}

/** Polls `cond` (cheaply, every `everyMs`) until it holds or `ms` pass; returns its last value. */
export async function waitFor<T>(cond: () => T | Promise<T>, ms: number, everyMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await cond();
  while (!v && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, everyMs));
    v = await cond();
  }
  return v;
}

/**
 * The ws:// URL of the TCP socket `pid` listens on (IPv4), as any local user finds it with
 * `ss -ltnp`: the process's socket inodes (/proc/<pid>/fd) matched against /proc/net/tcp.
 */
export function listeningUrl(pid: number): string | undefined {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  for (const line of readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address (hex ip:port), state 0A = LISTEN, inode in column 10.
    if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
    const [ip, port] = f[1]!.split(':');
    const host = [3, 2, 1, 0].map((i) => parseInt(ip!.slice(2 * i, 2 * i + 2), 16)).join('.');
    return `ws://${host}:${parseInt(port!, 16)}`;
  }
  return undefined;
}

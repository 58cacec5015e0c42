// Where a running pvsim keeps its credentials, and how clients find them. Each `pvsim up`
// (and `pvsim run`, `pvsim demo`) gets its own run directory, run-XXXXXX, inside the
// user's pvsim directory: random tokens as 0600 files, dom0's XenStore socket and state,
// and for `pvsim up` an `env` file with the dom0 URL, the client token file and the pid
// of the `pvsim up` that owns it. `current.env` is a copy of the newest live run's env
// file, for shells; `pvsim xl` looks at every run's env file and skips dead ones.
//
// The pvsim directory is $XDG_RUNTIME_DIR/pvsim if XDG_RUNTIME_DIR is set (a per-user
// directory that no one else can write to), else $TMPDIR/pvsim-<uid>. Because a shared
// TMPDIR lets anyone create that name first, the directory is used only if it is a real
// directory (not a symlink), owned by us, with mode 0700; otherwise pvsim refuses and says
// why. It never chmods or follows anything it finds there. See docs/security.md.

import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/** The run directory or a file in it is not safely ours: pvsim will not use it. */
export class RunDirError extends Error {
  override readonly name = 'RunDirError';
}

const uid = (): number => process.getuid?.() ?? userInfo().uid;

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RunDirError(`cannot examine ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

/** Why `st` (from lstat) is not a private directory of ours, or null if it is one. */
function notPrivateDir(st: Stats): string | null {
  if (st.isSymbolicLink()) return 'is a symbolic link';
  if (!st.isDirectory()) return 'is not a directory';
  if (st.uid !== uid()) return `is owned by uid ${st.uid}, not by you (uid ${uid()})`;
  if ((st.mode & 0o777) !== 0o700) return `has mode 0${(st.mode & 0o777).toString(8)}, not 0700`;
  return null;
}

function refuseDir(dir: string, why: string): never {
  throw new RunDirError(`the pvsim run directory ${dir} ${why}; pvsim uses only a directory of your own with mode 0700 and changes nothing it did not create: remove it (or fix it) yourself, or set XDG_RUNTIME_DIR to your own runtime directory`);
}

/**
 * Makes sure `dir` is a private directory of ours, creating it (0700) if absent. Checked
 * with lstat after creation too: someone may have put something there between our look
 * and our mkdir, and mkdir then fails with EEXIST and the second look sees theirs.
 */
export function ensurePrivateDir(dir: string): string {
  // The parent must not let others rename or replace our directory (a sticky /tmp is fine).
  const parent = dirname(dir);
  let p: Stats;
  try {
    p = statSync(parent);
  } catch (e) {
    throw new RunDirError(`cannot use ${parent} for pvsim's run directory: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!p.isDirectory()) throw new RunDirError(`${parent} (where pvsim's run directory goes) is not a directory`);
  if (p.uid !== uid() && p.uid !== 0) throw new RunDirError(`${parent} (where pvsim's run directory goes) is owned by uid ${p.uid}, neither you nor root`);
  if ((p.mode & 0o022) !== 0 && (p.mode & 0o1000) === 0 /* not sticky */) throw new RunDirError(`${parent} (where pvsim's run directory goes) is writable by others and not sticky (mode 0${(p.mode & 0o7777).toString(8)})`);
  if (!lstatOrNull(dir)) {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunDirError(`cannot create the pvsim run directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  const st = lstatOrNull(dir);
  if (!st) refuseDir(dir, 'vanished while it was being created');
  const why = notPrivateDir(st);
  if (why) refuseDir(dir, why);
  return dir;
}

/** The user's pvsim directory: $XDG_RUNTIME_DIR/pvsim if that is set (and absolute), else $TMPDIR/pvsim-<uid>. */
export function pvsimBaseDirPath(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'pvsim');
  return join(tmpdir(), `pvsim-${uid()}`);
}

export function pvsimBaseDir(env: NodeJS.ProcessEnv = process.env): string {
  return ensurePrivateDir(pvsimBaseDirPath(env));
}

export function makeRunDir(): string {
  return mkdtempSync(join(pvsimBaseDir(), 'run-'));
}

/** A fresh run directory with both tokens written and the xenstored socket's path. */
export interface RunFiles {
  dir: string;
  hvToken: string;
  clientToken: string;
  xsPath: string;
  /** dom0's saved XenStore (what a restarted dom0 starts from). */
  stateFile: string;
  /** `pvsim up`'s description of this run (URL, token file, pid). */
  envFile: string;
}

export function newRunFiles(): RunFiles {
  const dir = makeRunDir();
  const files = { dir, hvToken: join(dir, 'hypervisor.token'), clientToken: join(dir, 'client.token'), xsPath: join(dir, 'xenstored.sock'), stateFile: join(dir, 'xenstore.json'), envFile: join(dir, 'env') };
  newToken(files.hvToken);
  newToken(files.clientToken);
  return files;
}

/** The arguments that start `pvsim dom0` against a hypervisor at `url` (and capture to `pcap`). */
export function dom0Args(url: string, f: RunFiles, opts: { pcap?: string; persist?: boolean } = {}): string[] {
  const args = ['dom0', '--hypervisor', url, '--hypervisor-token-file', f.hvToken, '--client-token-file', f.clientToken, '--xenstored-path', f.xsPath];
  // XenStore saved for a dom0 restart (pvsim up restarts a dead dom0); a run that never
  // restarts dom0 skips it: at 10,000 domains it cost a file write per dispatch.
  if (opts.persist !== false) args.push('--state-file', f.stateFile);
  if (opts.pcap) args.push('--pcap', opts.pcap);
  return args;
}

/** Writes a fresh random token to `file` (0600; the file must not exist yet) and returns it. */
export function newToken(file: string): string {
  const token = randomBytes(32).toString('hex');
  writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return token;
}

/**
 * Reads a small file that carries a credential or says where one is: it must be a regular
 * file (a symlink is not followed), ours, and not writable by anyone else. Checked on the
 * open descriptor, so what is checked is what is read.
 */
export function readPrivateFile(file: string, maxBytes = 64 * 1024): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new RunDirError(`${file} is a symbolic link; pvsim reads credentials only from regular files of your own`);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new RunDirError(`${file} is not a regular file`);
    if (st.uid !== uid()) throw new RunDirError(`${file} is owned by uid ${st.uid}, not by you (uid ${uid()}); pvsim reads credentials only from files of your own`);
    if (st.mode & 0o022) throw new RunDirError(`${file} is writable by others (mode 0${(st.mode & 0o777).toString(8)})`);
    if (st.size > maxBytes) throw new RunDirError(`${file} is ${st.size} bytes, more than the ${maxBytes} such a file may have`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

export function readToken(file: string): string {
  return readPrivateFile(file, 4096).trim();
}

/** Parses KEY=VALUE lines. */
export function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

export class NotRunningError extends Error {
  override readonly name = 'NotRunningError';
}

/**
 * Whether `pid` is a live process of ours (and, where /proc tells, a pvsim one): pids are
 * reused, and a run whose pid now belongs to someone else must not be taken for live.
 */
export function pvsimAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0); // EPERM: someone else's process
  } catch {
    return false;
  }
  let owner: number;
  try {
    owner = statSync(`/proc/${pid}`).uid;
  } catch {
    return true; // no /proc: the signal test is all there is
  }
  try {
    return owner === uid() && readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('pvsim');
  } catch {
    return false; // gone meanwhile
  }
}

/** A `pvsim up` run as its env file describes it. */
export interface LiveRun {
  dir: string;
  env: Record<string, string>;
  pid: number;
  startedMs: number;
}

/** Every run under the pvsim directory whose `pvsim up` is alive, newest first. */
export function liveRuns(base = pvsimBaseDir()): LiveRun[] {
  const runs: LiveRun[] = [];
  for (const name of readdirSync(base)) {
    if (!name.startsWith('run-')) continue;
    const dir = join(base, name);
    let env: Record<string, string>;
    try {
      env = parseEnv(readPrivateFile(join(dir, 'env')));
    } catch {
      continue; // still starting (no env yet), or not something we wrote
    }
    const pid = Number(env.PVSIM_PID);
    if (!pvsimAlive(pid)) continue;
    runs.push({ dir, env, pid, startedMs: Number(env.PVSIM_STARTED_MS) || 0 });
  }
  return runs.sort((a, b) => b.startedMs - a.startedMs || b.dir.localeCompare(a.dir));
}

/** Writes `text` to `file` by rename, so a reader sees the old or the new file, never half of one. */
function replaceFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
}

/** Records a started `pvsim up` run: its own env file, and current.env pointing at the newest live run. */
export function publishRun(f: RunFiles, vars: { url: string; xenstoredPath: string }): string {
  const env = `PVSIM_URL=${vars.url}\nXENSTORED_PATH=${vars.xenstoredPath}\nPVSIM_TOKEN_FILE=${f.clientToken}\nPVSIM_PID=${process.pid}\nPVSIM_STARTED_MS=${Date.now()}\n`;
  replaceFile(f.envFile, env);
  refreshCurrentEnv();
  return env;
}

/** current.env: a copy of the newest live run's env file, or absent if none is alive. */
export function refreshCurrentEnv(): void {
  const base = pvsimBaseDir();
  const cur = join(base, 'current.env');
  // Two runs starting or stopping at once may each decide on a list the other has since
  // changed; whoever writes last checks again, so current.env ends naming the newest.
  for (let tries = 0; tries < 8; tries++) {
    const newest = liveRuns(base)[0];
    if (newest) replaceFile(cur, readPrivateFile(join(newest.dir, 'env')));
    else rmSync(cur, { force: true });
    if (liveRuns(base)[0]?.dir === newest?.dir) return;
  }
}

/**
 * Takes a stopping run out of view, synchronously (it may be called from an exit handler):
 * its env file first, so no one picks it, then current.env, then its directory.
 */
export function retireRun(f: RunFiles): void {
  rmSync(f.envFile, { force: true });
  try {
    refreshCurrentEnv();
  } catch {
    // the pvsim directory is no longer usable: our own directory still goes below
  }
  rmSync(f.dir, { recursive: true, force: true });
}

/**
 * The dom0 URL and client token for `pvsim xl`: from PVSIM_URL and PVSIM_TOKEN_FILE, else
 * from the newest live `pvsim up` run. With more than one live, `note` says which was taken.
 */
export function clientEndpoint(env: NodeJS.ProcessEnv = process.env): { url: string; token: string; note?: string } {
  let url = env.PVSIM_URL;
  let tokenFile = env.PVSIM_TOKEN_FILE;
  let note: string | undefined;
  if (!url || !tokenFile) {
    const runs = liveRuns(pvsimBaseDir(env));
    const run = runs[0];
    if (!run) throw new NotRunningError('no running pvsim found: start one with `pvsim up` (or set PVSIM_URL and PVSIM_TOKEN_FILE)');
    if (runs.length > 1) note = `${runs.length} pvsim runs are up; using the newest, ${run.env.PVSIM_URL} (pvsim up pid ${run.pid}); set PVSIM_URL and PVSIM_TOKEN_FILE to choose another`;
    // Empty counts as unset, as for XDG_RUNTIME_DIR.
    url ||= run.env.PVSIM_URL;
    tokenFile ||= run.env.PVSIM_TOKEN_FILE;
  }
  if (!url || !tokenFile) throw new NotRunningError('PVSIM_URL and PVSIM_TOKEN_FILE are not both known');
  try {
    return { url, token: readToken(tokenFile), ...(note ? { note } : {}) };
  } catch (e) {
    if (e instanceof RunDirError) throw new NotRunningError(`cannot use the client token: ${e.message}`);
    throw new NotRunningError(`cannot read the client token ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

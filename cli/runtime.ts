// Where a running pvsim keeps its credentials, and how clients find them. `pvsim up`
// writes random tokens into a private (0700) run directory as 0600 files and records the
// dom0 URL and client token file in `current.env`, so `pvsim xl` works without setup.

import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export function pvsimBaseDir(): string {
  const dir = join(tmpdir(), `pvsim-${userInfo().uid}`);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  return dir;
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
}

export function newRunFiles(): RunFiles {
  const dir = makeRunDir();
  const files = { dir, hvToken: join(dir, 'hypervisor.token'), clientToken: join(dir, 'client.token'), xsPath: join(dir, 'xenstored.sock'), stateFile: join(dir, 'xenstore.json') };
  newToken(files.hvToken);
  newToken(files.clientToken);
  return files;
}

/** The arguments that start `pvsim dom0` against a hypervisor at `url` (and capture to `pcap`). */
export function dom0Args(url: string, f: RunFiles, opts: { pcap?: string } = {}): string[] {
  const args = ['dom0', '--hypervisor', url, '--hypervisor-token-file', f.hvToken, '--client-token-file', f.clientToken, '--xenstored-path', f.xsPath, '--state-file', f.stateFile];
  if (opts.pcap) args.push('--pcap', opts.pcap);
  return args;
}

/** Writes a fresh random token to `file` (0600) and returns it. */
export function newToken(file: string): string {
  const token = randomBytes(32).toString('hex');
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

export function readToken(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

export function currentEnvFile(): string {
  return join(pvsimBaseDir(), 'current.env');
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

/** The dom0 URL and client token for `pvsim xl`: from the environment, else from `pvsim up`'s current.env. */
export function clientEndpoint(env: NodeJS.ProcessEnv = process.env): { url: string; token: string } {
  let url = env.PVSIM_URL;
  let tokenFile = env.PVSIM_TOKEN_FILE;
  if (!url || !tokenFile) {
    const f = currentEnvFile();
    if (!existsSync(f)) throw new NotRunningError('no running pvsim found: start one with `pvsim up` (or set PVSIM_URL and PVSIM_TOKEN_FILE)');
    const e = parseEnv(readFileSync(f, 'utf8'));
    url ??= e.PVSIM_URL;
    tokenFile ??= e.PVSIM_TOKEN_FILE;
  }
  if (!url || !tokenFile) throw new NotRunningError('PVSIM_URL and PVSIM_TOKEN_FILE are not both known');
  try {
    return { url, token: readToken(tokenFile) };
  } catch (e) {
    throw new NotRunningError(`cannot read the client token ${tokenFile}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

// The whole machine under attack at once (issue 9): one `pvsim up`, one guest doing real
// disk I/O, and around it a hostile peer, hostile configs, a hostile protocol client and a
// flood of console input. What must hold: every bad input is refused with a clear error,
// the good guest finishes with every block verified, both daemons are the processes we
// started and still answer, nothing bad is left in the domain list, and dom0's memory
// stays bounded. Every child is found by the PID we started and killed in afterAll.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Peer } from '../../protocol/session.ts';
import { readToken } from '../../cli/runtime.ts';
import type { DomainInfo } from '../../protocol/wire.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { childrenOf, listeningUrl } from '../helpers/procs.ts';
import { startUp } from '../helpers/pvsim_up.ts';
import { floodImage } from '../helpers/flood_guests.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-machine-'));
const env = { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '' };
const children: ChildProcess[] = [];
const peers: Peer[] = [];
afterAll(() => {
  for (const p of peers) p.close();
  for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

const up = async () => {
  const u = await startUp(['--pcpus', '2'], { tmpdir: dir, children });
  return { proc: u.proc, vars: u.env, stderr: u.stderr };
};


const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function xl(vars: Record<string, string>, ...args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [PVSIM, 'xl', ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, env: { ...env, ...vars } });
    children.push(p);
    let out = '';
    let err = '';
    p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    p.once('close', (status) => resolve({ status, out, err }));
  });
}

/** A WebSocket upgrade by hand, then one malformed frame header: what a stranger can send. */
function badFrame(url: string, header: Buffer): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s: Socket = tcpConnect(Number(u.port), u.hostname, () => {
      s.write(`GET / HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      s.once('data', () => s.write(header));
    });
    s.on('error', () => resolve());
    s.once('close', () => resolve());
    s.resume();
  });
}
const RESERVED_OPCODE = Buffer.from([0x83, 0x80, 1, 2, 3, 4]);
const LEN_2_32 = Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]);

function cfg(name: string, body: string): string {
  const f = join(dir, `${name}.cfg`);
  writeFileSync(f, `name = "${name}"\n${body}\n`);
  return f;
}
const WORK = join(process.cwd(), 'guests/build/work.elf');
const HELLO = join(process.cwd(), 'guests/build/hello.elf');

describe('the machine under attack from every side at once', { timeout: 90_000 }, () => {
  it('refuses every bad input clearly while a good guest finishes its I/O, with the same daemons alive and dom0 bounded', async () => {
    const u = await up();
    const daemons = childrenOf(u.proc.pid!);
    const dom0 = daemons.find((c) => c.argv.includes('dom0'))!;
    const hv = daemons.find((c) => c.argv.includes('hypervisor'))!;
    expect(dom0 && hv).toBeTruthy();
    // The hypervisor's port, as any local user finds it (ss -ltnp).
    const hvUrl = listeningUrl(hv.pid)!;
    expect(hvUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const rss0 = rss(dom0.pid);
    const { peer } = await connect(u.vars.PVSIM_URL!, 'client', readToken(u.vars.PVSIM_TOKEN_FILE!));
    peers.push(peer);

    const good = await xl(u.vars, 'create', cfg('good', `kernel = "${WORK}"\nmemory = 16\nextra = "work=blk n=64 qd=8 mode=rand"\non_poweroff = "preserve"\ndisk = [ 'file:${join(dir, 'good.img')},xvda,w' ]`));
    expect(good.err).toBe('');
    // A guest that never reads its console, to be flooded with input below.
    const deaf = await xl(u.vars, 'create', cfg('deaf', `kernel = "${WORK}"\nmemory = 8\nextra = "work=timer period_us=100000 forever"`));
    expect(deaf.err).toBe('');

    // Noisy neighbours: one writes its console as fast as it can, one sends 2 M events to
    // dom0 on its xenstore port. Each pays in its own time; the good guest still finishes.
    const noisy = await xl(u.vars, 'create', cfg('noisy', `kernel = "${WORK}"\nmemory = 16\nextra = "work=console n=20000 len=100"\non_poweroff = "preserve"`));
    expect(noisy.err).toBe('');
    const flooder = await peer.request('createDomain', { name: 'flooder', kernel: floodImage(1, 2_000_000), memoryMib: 4, onPoweroff: 'preserve' });
    expect(flooder.error ?? '').toBe('');

    const [frames, badCreates, hostileClient, flood] = await Promise.all([
      // A stranger's frames at both daemons, before any hello.
      Promise.all([hvUrl, u.vars.PVSIM_URL!].flatMap((url) => [badFrame(url, RESERVED_OPCODE), badFrame(url, LEN_2_32)])),
      // Configs a user may get wrong, or write to hurt.
      Promise.all([
        xl(u.vars, 'create', cfg('nodisk', `kernel = "${HELLO}"\nmemory = 8\ndisk = [ 'file:${dir},xvda,w' ]`)),
        xl(u.vars, 'create', cfg('zero', `kernel = "/dev/zero"\nmemory = 8`)),
        xl(u.vars, 'create', cfg('explode', `kernel = "${HELLO}"\nmemory = 8\non_reboot = "explode"`)),
        xl(u.vars, 'create', cfg('huge', `kernel = "${HELLO}"\nmemory = 100000`)),
        xl(u.vars, 'create', cfg('twice', `kernel = "${HELLO}"\nmemory = 8\ndisk = [ 'file:${dir}/./good.img,xvda,w' ]`)),
      ]),
      // A client with the token, skipping xl's checks.
      Promise.all([
        peer.request('createDomain', { name: '../../evil', kernel: new Uint8Array(readFileSync(HELLO)), memoryMib: 8 }),
        peer.request('createDomain', { name: 'heavy', kernel: new Uint8Array(readFileSync(HELLO)), memoryMib: 8, weight: 2 ** 32 - 1 }),
        peer.request('createDomain', { name: 'dots', kernel: new Uint8Array(readFileSync(HELLO)), memoryMib: 8, devices: [{ kind: 'vbd', devid: 51712, backend: { '..': 'x', params: join(dir, 'dots.img'), mode: 'w' }, frontend: {} }] }),
      ]),
      // 8 MiB of console input at a guest that never reads it.
      (async () => {
        const chunk = new Uint8Array(64 * 1024).fill(0x61);
        const rcs: number[] = [];
        const sends = Array.from({ length: 128 }, () => peer.request('consoleInput', { domain: { name: 'deaf' }, data: chunk }).then((r) => rcs.push(r.rc), () => undefined));
        // The queue is bounded: once it is full, waiting writers are not all answered, so
        // look at what came back by the time the good guest is done, not at every promise.
        void Promise.all(sends);
        return rcs;
      })(),
    ]);
    expect(frames).toHaveLength(4);

    const [nodisk, zero, explode, huge, twice] = badCreates;
    expect(nodisk.status).not.toBe(0);
    expect(nodisk.err).toMatch(/disk xvda .*cannot open .*EISDIR/);
    expect(zero.err).toMatch(/\/dev\/zero is a character device, not a regular file/);
    expect(explode.err).toMatch(/on_reboot/);
    expect(huge.status).not.toBe(0);
    expect(huge.err).toMatch(/memory/i);
    expect(twice.err).toMatch(/good\.img is in use by domain \d+ \(good\) read-write/);
    for (const r of hostileClient) {
      expect(r.rc).toBeLessThan(0);
      expect(r.error).toBeTruthy();
    }

    // The good guest's own report: every block written and read back.
    let dmesg = '';
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && !/work=blk .*writes=64 reads=64 errors=0/.test(dmesg); await new Promise((r) => setTimeout(r, 50))) {
      dmesg = (await peer.request('dmesg', {})).lines!.lines.join('\n');
    }
    expect(dmesg).toMatch(/work=blk .*writes=64 reads=64 errors=0/);
    // The noisy ones ran to their end (the console writer's 2 MB out, the flooder's 2 M
    // sends), in their own time, and powered off.
    for (const name of ['noisy', 'flooder']) {
      let d: DomainInfo | undefined;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && !(d && d.flags & XEN_DOMINF.shutdown); await new Promise((r) => setTimeout(r, 50))) {
        d = (await peer.request('listDomains', {})).domains!.domains.find((x) => x.name === name);
      }
      expect(d!.flags & XEN_DOMINF.shutdown, name).toBeTruthy();
    }
    // Nothing of the refused creates is left, and the console flood was held back, not queued.
    const names = (await peer.request('listDomains', {})).domains!.domains.map((d) => d.name).sort();
    expect(names).toEqual(['Domain-0', 'deaf', 'flooder', 'good', 'noisy']);
    expect(flood.filter((rc) => rc === 0).length).toBeLessThan(128);
    // The daemons we started are the ones still running, and they still answer.
    expect(isAlive(dom0.pid) && isAlive(hv.pid) && u.proc.exitCode === null).toBe(true);
    const daemonsNow = childrenOf(u.proc.pid!).filter((c) => c.argv.includes('dom0') || c.argv.includes('hypervisor'));
    expect(daemonsNow.map((c) => c.pid).sort()).toEqual([dom0.pid, hv.pid].sort());
    expect((await xl(u.vars, 'list')).out).toMatch(/good\s+\d+\s+16/);
    const grew = rss(dom0.pid) - rss0;
    console.log(`dom0 RSS grew ${(grew / 2 ** 20).toFixed(1)} MiB under attack`);
    expect(grew).toBeLessThan(96 * 2 ** 20);
    u.proc.kill('SIGTERM');
    await new Promise((r) => u.proc.once('exit', r));
  });
});

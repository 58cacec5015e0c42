// The hypervisor and dom0 as real processes over real sockets: pvsim up, pvsim xl,
// xenstore-utils against dom0's xenstored, authentication, malformed frames, and what
// happens when a process dies. Every child is killed in afterEach; nothing may hang.
// Processes are found by what we started (the children of our `pvsim up`, or a marker in
// the environment we gave it), never by command line: other test files run `pvsim up` at
// the same time, and the machine may be busy, so nothing here waits a fixed time either.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { connect } from '../protocol/session.ts';
import { encodeFrame, decodeFrame, PROTOCOL_VERSION } from '../protocol/wire.ts';
import { parseEnv, readToken } from '../cli/runtime.ts';
import { daemonOf, isRunning, processTag, waitFor, type Proc } from './helpers/procs.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const HAVE_XS = existsSync('/usr/bin/xenstore-ls');
if (!HAVE_XS && process.env.CI) throw new Error('CI needs xenstore-utils');

const dir = mkdtempSync(join(tmpdir(), 'pvsim-proc-'));
const cfg = join(dir, 'hello.cfg');
writeFileSync(cfg, `# hello\nname = "hello"\nkernel = "${join(process.cwd(), 'guests/build/hello.elf')}"\nmemory = 8\nextra = "console=hvc0"\non_poweroff = "preserve"\n`);

interface Up {
  proc: ChildProcess;
  env: Record<string, string>;
  stderr: string[];
  exited: Promise<number | null>;
  /** The live processes this `pvsim up` started (its daemons, and theirs), orphaned or not; not itself. */
  left: () => Proc[];
}

const running: { proc: ChildProcess; left: () => Proc[] }[] = [];
afterEach(() => {
  for (const { proc, left } of running.splice(0)) {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    // Its daemons too: they would exit on their own once `up` is gone, but not before the
    // next test starts its own.
    for (const p of left()) if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
  }
});

function up(...extra: string[]): Promise<Up> {
  // A private TMPDIR (and no XDG_RUNTIME_DIR, which pvsim prefers): the run directory and
  // current.env of a user's own pvsim stay untouched. The tag marks what this one started.
  const tag = processTag('up');
  const proc = spawn(process.execPath, [PVSIM, 'up', '--pcpus', '2', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ...tag.env } });
  running.push({ proc, left: tag.left });
  const stderr: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    const timer = setTimeout(() => reject(new Error(`pvsim up not ready: ${stderr.join('\n')}`)), 30_000);
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      Object.assign(env, parseEnv(l));
      if (env.PVSIM_URL && env.XENSTORED_PATH && env.PVSIM_TOKEN_FILE) {
        clearTimeout(timer);
        resolve({ proc, env, stderr, exited, left: () => tag.left().filter((p) => p.pid !== proc.pid) });
      }
    });
  });
}

function xl(u: Up, ...args: string[]) {
  const r = spawnSync(process.execPath, [PVSIM, 'xl', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...u.env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

function xs(u: Up, tool: string, ...args: string[]) {
  return spawnSync(tool, args, { encoding: 'utf8', timeout: 10_000, env: { ...process.env, XENSTORED_PATH: u.env.XENSTORED_PATH } });
}

/** The live processes `u` started, as pids (none once it has stopped cleanly). */
const pids = (u: { left: () => Proc[] }) => u.left().map((p) => p.pid);

/** The dom0 (or hypervisor) process of `u`: the child of the `pvsim up` we spawned. */
function daemon(u: Up, role: 'hypervisor' | 'dom0'): number {
  const d = daemonOf(u.proc.pid!, role);
  if (!d) throw new Error(`pvsim up ${u.proc.pid} has no ${role} child`);
  return d.pid;
}

/** Per-device I/O counts from dom0 (what xl top shows), over the protocol: no process per look. */
async function vbdWrites(u: Up, domid: number): Promise<number> {
  const { peer } = await connect(u.env.PVSIM_URL!, 'client', readToken(u.env.PVSIM_TOKEN_FILE!));
  try {
    return (await peer.request('deviceStats', {})).deviceStats?.domains.find((d) => d.domid === domid)?.vbdWrites ?? 0;
  } finally {
    peer.close();
  }
}


describe('pvsim up and pvsim xl', { timeout: 60_000 }, () => {
  it('creates, lists, shows the console of, and destroys a PV guest; xenstore reflects it', async () => {
    const u = await up();
    const c = xl(u, 'create', cfg);
    expect(c.err).toBe('');
    expect(c.out).toContain('Domain 1 (hello) created');
    const list = xl(u, 'list').out;
    expect(list).toMatch(/^Name\s+ID\s+Mem VCPUs\tState\tTime\(s\)/);
    expect(list).toMatch(/Domain-0\s+0/);
    expect(list).toMatch(/hello\s+1\s+8\s+1/);
    // The PV console ring (served by dom0) carries what the guest prints once its drivers
    // are up, including its name read back from dom0's xenstored over the store ring;
    // its early console_io output is in the hypervisor's log.
    const con = xl(u, 'console', 'hello');
    expect(con.out).toContain('my name is hello');
    expect(con.out).toContain('my domid is 1');
    expect(xl(u, 'dmesg').out).toContain('(d1) Hello from pvsim!');
    expect(xl(u, 'dmesg').out).toContain('cmdline="console=hvc0"');
    if (HAVE_XS) {
      expect(xs(u, 'xenstore-read', '/local/domain/1/name').stdout.trim()).toBe('hello');
      expect(xs(u, 'xenstore-read', '/local/domain/1/data/hello').stdout.trim()).toBe('done'); // written by the guest
      expect(xs(u, 'xenstore-ls', '/local/domain/1').stdout).toMatch(/memory = ""\n\s+target = "8192"/);
    }
    // pvsim's own XenStore client, over dom0's WebSocket.
    const pvxs = (...a: string[]) => spawnSync(process.execPath, [PVSIM, 'xenstore', ...a], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...u.env } });
    expect(pvxs('read', '/local/domain/1/name').stdout).toBe('hello\n');
    expect(pvxs('write', '/tool/test', 'a value').status).toBe(0);
    expect(pvxs('read', '/tool/test').stdout).toBe('a value\n');
    expect(pvxs('ls', '/local/domain/1/memory').stdout.split('\n')).toContain('target');
    const missing = pvxs('read', '/no/such/node');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('ENOENT');
    // `pvsim up` runs credit2, Xen's default: sched-credit2 sets and reads, sched-credit is refused.
    expect(xl(u, 'sched-credit2', '-d', 'hello', '-w', '512', '-c', '50').status).toBe(0);
    expect(xl(u, 'sched-credit2', '-d', 'hello').out).toMatch(/Cpupool Pool-0: ratelimit=1000us\n[^\n]*\nhello\s+1\s+512\s+50/);
    expect(xl(u, 'sched-credit2', '-s', '-r', '500').status).toBe(0);
    expect(xl(u, 'sched-credit2', '-s').out).toBe('Cpupool Pool-0: ratelimit=500us\n');
    const wrong = xl(u, 'sched-credit', '-d', 'hello', '-w', '512');
    expect(wrong.status).not.toBe(0);
    expect(xl(u, 'destroy', 'hello').status).toBe(0);
    expect(xl(u, 'list').out).not.toMatch(/hello/);
    if (HAVE_XS) expect(xs(u, 'xenstore-exists', '/local/domain/1').status).not.toBe(0);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
    expect(existsSync(u.env.XENSTORED_PATH!)).toBe(false);
    expect(pids(u)).toEqual([]);
  });

  it('carries console input from xl console to the guest through the console ring', async () => {
    const u = await up();
    const echo = join(dir, 'echo.cfg');
    writeFileSync(echo, `name = "echoer"\nkernel = "${join(process.cwd(), 'guests/build/hello.elf')}"\nmemory = 8\nextra = "echo"\non_poweroff = "preserve"\n`);
    expect(xl(u, 'create', echo).status).toBe(0);
    const r = spawnSync(process.execPath, [PVSIM, 'xl', 'console', 'echoer'], {
      encoding: 'utf8',
      timeout: 30_000,
      input: 'typed into xl console\n',
      env: { ...process.env, ...u.env },
    });
    expect(r.stdout).toContain('echo: typed into xl console');
  });

  it('honours on_poweroff (destroy, the default) and on_reboot (restart, the default)', async () => {
    const u = await up();
    const off = join(dir, 'off.cfg');
    writeFileSync(off, `name = "offer"\nkernel = "${join(process.cwd(), 'guests/build/hello.elf')}"\nmemory = 8\n`);
    const reb = join(dir, 'reb.cfg');
    writeFileSync(reb, `name = "rebooter"\nkernel = "${join(process.cwd(), 'guests/build/hello.elf')}"\nmemory = 8\nextra = "exit=reboot"\n`);
    expect(xl(u, 'create', off).status).toBe(0);
    expect(xl(u, 'create', reb).status).toBe(0);
    let list = '';
    await waitFor(() => {
      list = xl(u, 'list').out;
      const m = /rebooter\s+(\d+)/.exec(list);
      return !/offer/.test(list) && m && Number(m[1]) > 3;
    }, 30_000, 100);
    expect(list).not.toMatch(/offer/); // powered off, destroyed
    expect(Number(/rebooter\s+(\d+)/.exec(list)?.[1])).toBeGreaterThan(3); // rebooted, re-created with a new domid
    // It reboots in a loop: a destroy may fall between one incarnation and the next.
    let destroyed = 1;
    for (let i = 0; i < 20 && destroyed !== 0; i++) destroyed = xl(u, 'destroy', 'rebooter').status ?? 1;
    expect(destroyed).toBe(0);
  });

  it("announces disk= and vif= devices in XenStore with libxl's frontend and backend layout", async () => {
    const pcap = join(dir, 'up.pcap');
    const u = await up('--pcap', pcap);
    const devcfg = join(dir, 'dev.cfg');
    writeFileSync(
      devcfg,
      `name = "withdev"\nkernel = "${join(process.cwd(), 'guests/build/hello.elf')}"\nmemory = 8\non_poweroff = "preserve"\n` +
        `disk = [ 'file:${join(dir, 'disk.img')},xvda,w' ]\nvif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]\n`,
    );
    const c = xl(u, 'create', devcfg);
    expect(c.status).toBe(0);
    expect(c.err).not.toMatch(/warning/);
    if (HAVE_XS) {
      const be = xs(u, 'xenstore-ls', '/local/domain/0/backend').stdout;
      expect(be).toMatch(/vbd = ""\n\s+1 = ""\n\s+51712 = ""/);
      expect(be).toMatch(/frontend = "\/local\/domain\/1\/device\/vbd\/51712"/);
      expect(be).toMatch(/mode = "w"/);
      expect(be).toMatch(/mac = "00:16:3e:00:00:01"/);
      const fe = xs(u, 'xenstore-ls', '/local/domain/1/device').stdout;
      expect(fe).toMatch(/vif = ""\n\s+0 = ""/);
      expect(fe).toMatch(/backend = "\/local\/domain\/0\/backend\/vbd\/1\/51712"/);
      expect(fe).toMatch(/state = "1"/);
      // blkback offered the disk (InitWait, its size published); the guest has no blkfront yet.
      expect(xs(u, 'xenstore-read', '/local/domain/0/backend/vbd/1/51712/state').stdout.trim()).toBe('2');
      expect(xs(u, 'xenstore-read', '/local/domain/0/backend/vbd/1/51712/sectors').stdout.trim()).toBe(String((64 * 1024 * 1024) / 512));
      // netback offered the vif likewise (InitWait, its features published); no netfront in hello.
      expect(xs(u, 'xenstore-read', '/local/domain/0/backend/vif/1/0/state').stdout.trim()).toBe('2');
      expect(xs(u, 'xenstore-read', '/local/domain/0/backend/vif/1/0/feature-rx-copy').stdout.trim()).toBe('1');
    }
    expect(xl(u, 'destroy', 'withdev').status).toBe(0);
    if (HAVE_XS) expect(xs(u, 'xenstore-exists', '/local/domain/0/backend/vbd/1').status).not.toBe(0);
    // dom0 opened the capture (no netfront in hello: a header and no packets), and closes it on the way out.
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
    const cap = readFileSync(pcap);
    expect(cap.length).toBe(24);
    expect(cap.readUInt32LE(0)).toBe(0xa1b23c4d);
  });

  it('runs a guest blkfront against dom0 blkback: xl create with a disk, work=blk writes 64 KiB indirect requests then verifies, the bytes land in the image file', async () => {
    const u = await up();
    const img = join(dir, 'blk.img');
    const blkcfg = join(dir, 'blk.cfg');
    writeFileSync(
      blkcfg,
      `name = "blk"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nmemory = 16\non_poweroff = "preserve"\n` +
        `extra = "work=blk mode=seq bs=65536 qd=4 n=16"\ndisk = [ 'file:${img},xvda,w' ]\n`,
    );
    expect(xl(u, 'create', blkcfg).status).toBe(0);
    let log = '';
    await waitFor(() => /work=blk .*errors=|work failed|crash/.test((log = xl(u, 'dmesg').out)), 40_000, 100);
    const line = /work=blk mode=seq .*/.exec(log)?.[0] ?? log;
    expect(line).toMatch(/writes=16 reads=16 errors=0/); // 16 pages a request: indirect segments
    expect(log).toMatch(/persistent 1, max-indirect 256/); // both features negotiated
    // The guest's pattern (guests/work/blk.c), word by word, in the first 16 * 128 sectors of the file.
    const bytes = readFileSync(img);
    const pattern = (sector: number, w: number) => (Math.imul(sector, 0x9e3779b9) ^ Math.imul(w, 0x85ebca6b) ^ 0x424c4b21) >>> 0;
    let bad = 0;
    for (let sector = 0; sector < 16 * 128; sector++) for (let w = 0; w < 128; w++) if (bytes.readUInt32LE(sector * 512 + w * 4) !== pattern(sector, w)) bad++;
    expect(bad).toBe(0);
    if (HAVE_XS) expect(xs(u, 'xenstore-read', '/local/domain/0/backend/vbd/1/51712/state').stdout.trim()).toBe('4'); // Connected
    // xentop's view: one vbd, 16 reads and 16 writes (plus the flush) served by blkback.
    // xentop's columns: ... VCPUS NETS NETTX NETRX VBDS VBD_OO VBD_RD VBD_WR VBD_RSECT VBD_WSECT SSID.
    expect(xl(u, 'top', '-d', '0').out).toMatch(/\n\s+blk\s+-s----\s+\d+\s+[\d.]+\s+16384\s+[\d.]+\s+16384\s+[\d.]+\s+1\s+0\s+0\s+0\s+1\s+0\s+16\s+16\s+2048\s+2048\s+0\n/);
    expect(xl(u, 'destroy', 'blk').status).toBe(0);
    // Teardown: both directories go with the domain, and blkback let go of the device.
    if (HAVE_XS) {
      expect(xs(u, 'xenstore-exists', '/local/domain/0/backend/vbd/1').status).not.toBe(0);
      expect(xs(u, 'xenstore-exists', '/local/domain/1').status).not.toBe(0);
    }
    expect(xl(u, 'top', '-d', '0').out).not.toMatch(/blk/);
  });

  it('xl destroy by name has torn down that domain, and only it, when it returns: dom0 and the other domain keep their nodes', async () => {
    const u = await up();
    const mk = (name: string) => {
      const f = join(dir, `${name}.cfg`);
      writeFileSync(f, `name = "${name}"\nkernel = "${join(process.cwd(), 'guests/build/hello.elf')}"\nmemory = 8\non_poweroff = "preserve"\ndisk = [ 'file:${join(dir, `${name}.img`)},xvda,w' ]\n`);
      return f;
    };
    expect(xl(u, 'create', mk('first')).status).toBe(0);
    expect(xl(u, 'create', mk('second')).status).toBe(0);
    const { peer } = await connect(u.env.PVSIM_URL!, 'client', readToken(u.env.PVSIM_TOKEN_FILE!));
    try {
      const exists = async (path: string) => (await peer.request('xenstore', { op: 'read', path })).rc === 0;
      // By name, as xl sends it: the request's domid field reads as 0 on the wire.
      expect((await peer.request('destroyDomain', { name: 'first' })).rc).toBe(0);
      // Gone when the answer comes (not when the hypervisor's own notice gets to dom0).
      expect(await exists('/local/domain/1/name')).toBe(false);
      expect(await exists('/local/domain/0/backend/vbd/1/51712/state')).toBe(false);
      // Not dom0's own (domid 0): the control domain and the other guest's disk stay.
      expect(await exists('/local/domain/0/name')).toBe(true);
      expect(await exists('/local/domain/2/name')).toBe(true);
      expect(await exists('/local/domain/0/backend/vbd/2/51712/state')).toBe(true);
    } finally {
      peer.close();
    }
  });

  it('reports xl.cfg errors with file, line and key, and a missing domain clearly', async () => {
    const u = await up();
    const bad = join(dir, 'bad.cfg');
    writeFileSync(bad, 'name = "x"\nkernel = "k"\nmemory = "lots"\n');
    const r = xl(u, 'create', bad);
    expect(r.status).toBe(1);
    expect(r.err).toContain(`${bad}:3: memory`);
    const missing = xl(u, 'destroy', 'nope');
    expect(missing.status).toBe(1);
    expect(missing.err).toContain('no such domain: nope');
  });

  it('refuses clients without the token, or with the wrong role, and gives them nothing', async () => {
    const u = await up();
    await expect(connect(u.env.PVSIM_URL!, 'client', 'not-the-token')).rejects.toThrow(/authentication failed/);
    await expect(connect(u.env.PVSIM_URL!, 'dom0', 'x')).rejects.toThrow(/authentication failed/);
    const r = xl(u, 'list');
    expect(r.status).toBe(0); // the real client still works
  });

  it('closes a connection that sends a malformed frame, and keeps serving others', async () => {
    const u = await up();
    const ws = new WebSocket(u.env.PVSIM_URL!);
    await new Promise((res) => ws.once('open', res));
    const token = (await import('node:fs')).readFileSync(u.env.PVSIM_TOKEN_FILE!, 'utf8').trim();
    ws.send(encodeFrame({ hello: { version: PROTOCOL_VERSION, role: 'client', token } }));
    const welcome = await new Promise<Uint8Array>((res) => ws.once('message', (d) => res(new Uint8Array(d as Buffer))));
    expect(decodeFrame(welcome).welcome?.server).toBe('pvsim-dom0');
    const closed = new Promise<number>((res) => ws.once('close', (code) => res(code)));
    ws.send(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(await closed).toBe(1002);
    expect(xl(u, 'list').status).toBe(0);
  });

  it('restarts a dom0 killed with SIGKILL mid-I/O: the guest keeps running, blkfront reconnects and re-issues what was in flight, no data is lost', async () => {
    const u = await up();
    const img = join(dir, 'restart.img');
    const rcfg = join(dir, 'restart.cfg');
    // on_poweroff = destroy: the restarted toolstack must still know how it was created.
    writeFileSync(rcfg, `name = "survivor"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nmemory = 16\nextra = "work=blk mode=rand bs=4096 qd=8 n=2000"\ndisk = [ 'file:${img},xvda,w' ]\n`);
    expect(xl(u, 'create', rcfg).status).toBe(0);
    const dmesg = () => xl(u, 'dmesg').out;
    // Well into the write phase (a tenth of its writes served), whatever the machine's speed.
    expect(await waitFor(async () => (await vbdWrites(u, 1)) >= 200, 30_000)).toBe(true);
    process.kill(daemon(u, 'dom0'), 'SIGKILL');
    let log = '';
    await waitFor(() => /work=blk .*errors=|work failed|crash/.test((log = dmesg())), 60_000, 400);
    expect(u.stderr.join('\n')).toMatch(/dom0 exited unexpectedly \(SIGKILL\); restarting it/);
    expect(log).toMatch(/dom0 connected again/);
    expect(log).toMatch(/blkfront: reconnected to \/local\/domain\/0\/backend\/vbd\/1\/51712: \d+ request\(s\) issued again, 0 failed/);
    // Every block written before, during and after the restart reads back as written.
    expect(/work=blk mode=rand .*/.exec(log)?.[0]).toMatch(/writes=2000 reads=2000 errors=0/);
    const bytes = readFileSync(img);
    const pattern = (sector: number, w: number) => (Math.imul(sector, 0x9e3779b9) ^ Math.imul(w, 0x85ebca6b) ^ 0x424c4b21) >>> 0;
    let written = 0;
    for (let sector = 0; sector * 512 < bytes.length; sector += 8) {
      if (bytes.readUInt32LE(sector * 512) === 0 && bytes.readUInt32LE(sector * 512 + 4) === 0) continue;
      written++;
      for (let w = 0; w < 128 * 8; w++) expect(bytes.readUInt32LE(sector * 512 + w * 4)).toBe(pattern(sector + (w >> 7), w & 127));
    }
    expect(written).toBeGreaterThan(100);
    // The new dom0 acted on the guest's poweroff as the old one would have: destroyed it.
    await waitFor(() => !/survivor/.test(xl(u, 'list').out), 20_000, 100);
    expect(xl(u, 'list').out).not.toMatch(/survivor/);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
    expect(pids(u)).toEqual([]);
  }, 90_000);

  it('restarts a dom0 killed with SIGKILL mid-ping: both netfronts reconnect, the pings resume, both guests finish', async () => {
    const u = await up();
    // Two guests on xenbr0, each pinging the other every 100 ms (6 s of virtual time, which
    // pvsim up paces to wall time), then a short UDP stream and the done/ack handshake.
    const guests = [
      { name: 'neta', n: 1, ip: '10.0.0.1', peer: '10.0.0.2' },
      { name: 'netb', n: 2, ip: '10.0.0.2', peer: '10.0.0.1' },
    ];
    for (const g of guests) {
      const f = join(dir, `${g.name}.cfg`);
      writeFileSync(
        f,
        `name = "${g.name}"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nmemory = 16\n` +
          `extra = "work=net ip=${g.ip} peer=${g.peer} ping=60 interval_ms=100 udp=20 size=500 verbose"\n` +
          `vif = [ 'mac=00:16:3e:00:00:0${g.n},bridge=xenbr0' ]\n`,
      );
      expect(xl(u, 'create', f).status).toBe(0);
    }
    const dmesg = () => xl(u, 'dmesg').out ?? '';
    const of = (log: string, domid: number) => log.split('\n').filter((l) => l.startsWith(`(d${domid}) `)).join('\n');
    // Kill dom0 once both have had a few pings answered.
    let log = '';
    await waitFor(() => /\(d1\) net: ping seq 5 rtt/.test((log = dmesg())) && /\(d2\) net: ping seq 5 rtt/.test(log), 30_000, 100);
    expect(log).toMatch(/\(d2\) net: ping seq 5 rtt/);
    process.kill(daemon(u, 'dom0'), 'SIGKILL');
    const done = (l: string) => [1, 2].every((d) => new RegExp(`\\(d${d}\\) (work=net ip=|work=net: FAILED)`).test(l)) || /crash/.test(l);
    await waitFor(() => done((log = dmesg())), 40_000, 200);
    expect(u.stderr.join('\n')).toMatch(/dom0 exited unexpectedly \(SIGKILL\); restarting it/);
    expect(log).toMatch(/dom0 connected again/);
    const summary: string[] = [];
    for (const d of [1, 2]) {
      const l = of(log, d);
      const backend = `/local/domain/0/backend/vif/${d}/0`;
      expect(l).toMatch(new RegExp(`netfront: backend ${backend} lost the device \\(state Closed\\); reconnecting`));
      expect(l).toMatch(new RegExp(`netfront: reconnected to ${backend}: .* \\d+ tx packet\\(s\\) lost`));
      const r = /work=net ip=.*/.exec(l)?.[0] ?? l;
      expect(r).toMatch(/pings=60 replies=\d+ lost=\d+ /);
      const replies = Number(/replies=(\d+)/.exec(r)![1]);
      const lost = Number(/lost=(\d+)/.exec(r)![1]);
      expect(replies + lost).toBe(60);
      // Pings answered after the reconnect (the outage's are lost, the rest go on).
      const after = l.slice(l.indexOf('netfront: reconnected'));
      const resumed = [...after.matchAll(/net: ping seq \d+ rtt/g)].length;
      expect(resumed).toBeGreaterThan(0);
      expect(r).toMatch(/udp_tx=20 /);
      expect(l).not.toMatch(/did not finish/);
      summary.push(`d${d}: ${r} (${resumed} answered after the reconnect)`);
    }
    console.log(summary.join('\n'));
    console.log(log.split('\n').filter((l) => /netfront:|ping seq \d+: |dom0/.test(l)).join('\n'));
    // Both powered off and the restarted toolstack destroyed them (on_poweroff = destroy).
    await waitFor(() => !/neta|netb/.test(xl(u, 'list').out), 20_000, 100);
    expect(xl(u, 'list').out).not.toMatch(/neta|netb/);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
    expect(pids(u)).toEqual([]);
  }, 60_000);

  it('reports a hypervisor killed with SIGKILL, stops dom0, and leaves no orphans or sockets', async () => {
    const u = await up();
    const hv = daemon(u, 'hypervisor');
    expect(hv).toBeGreaterThan(0);
    process.kill(hv, 'SIGKILL');
    expect(await u.exited).toBe(1);
    expect(u.stderr.join('\n')).toMatch(/hypervisor exited unexpectedly \(SIGKILL\)/);
    expect(existsSync(u.env.XENSTORED_PATH!)).toBe(false);
    expect(pids(u)).toEqual([]);
  });

  it('leaves no orphans when pvsim up itself is killed with SIGKILL', async () => {
    const u = await up();
    expect(pids(u).length).toBe(2); // the hypervisor and dom0
    u.proc.kill('SIGKILL');
    await u.exited;
    // Orphaned, they see their stdin close and exit.
    await waitFor(() => pids(u).length === 0, 20_000, 50);
    expect(pids(u)).toEqual([]);
  });
});

describe('pvsim run across processes', () => {
  const scenario = join(dir, 'xs-scenario.json');
  writeFileSync(
    scenario,
    JSON.stringify({
      pcpus: 2,
      until: '40ms',
      domains: [
        { name: 'hello', image: join(process.cwd(), 'guests/build/hello.elf'), memory: 8 },
        { name: 'xs', image: join(process.cwd(), 'guests/build/work.elf'), cmdline: 'work=xenstore n=30', memory: 8 },
        { name: 'hog', image: join(process.cwd(), 'guests/build/work.elf'), cmdline: 'work=spin', memory: 4 },
      ],
    }),
  );
  // What the runs started is marked, so the test sees whether any outlived its run.
  const tag = processTag('run');
  const run = (...args: string[]) => spawnSync(process.execPath, [PVSIM, 'run', scenario, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ...tag.env } });
  const hash = (out: string) => /trace-hash: ([0-9a-f]{16})/.exec(out)?.[1];

  it('gives the same trace hash with dom0 in its own process as in the hypervisor process', () => {
    const split = run('--seed', '5', '--pcap', join(dir, 'split.pcap'));
    expect(split.status).toBe(0);
    expect(split.stdout).toMatch(/xs\s+1\s+256\s+0\s+shutdown\(poweroff\)/);
    const local = run('--seed', '5', '--in-process', '--pcap', join(dir, 'local.pcap'));
    expect(local.status).toBe(0);
    // --pcap reaches dom0 in either home (these domains have no vifs: headers only).
    expect(readFileSync(join(dir, 'split.pcap')).readUInt32LE(0)).toBe(0xa1b23c4d);
    expect(readFileSync(join(dir, 'split.pcap')).equals(readFileSync(join(dir, 'local.pcap')))).toBe(true);
    expect(run('--pcap', join(dir, 'no/such/dir/x.pcap')).stderr).toMatch(/--pcap: directory .* does not exist/);
    expect(hash(split.stdout)).toBeDefined();
    expect(hash(split.stdout)).toBe(hash(local.stdout));
    expect(hash(run('--seed', '5').stdout)).toBe(hash(split.stdout));
    expect(pids(tag)).toEqual([]);
  });

  it('runs split block and network devices deterministically: examples/net-pair.json gives one trace hash and one capture in both homes, and tshark reads it', () => {
    // The example, with its disk image in a private directory.
    const spec = JSON.parse(readFileSync('examples/net-pair.json', 'utf8'));
    spec.domains[0].image = spec.domains[1].image = join(process.cwd(), 'guests/build/work.elf');
    spec.domains[0].disk = [`file:${join(dir, 'np-alice.img')},xvda,w`];
    const np = join(dir, 'net-pair.json');
    writeFileSync(np, JSON.stringify(spec));
    const go = (...a: string[]) => spawnSync(process.execPath, [PVSIM, 'run', np, ...a], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ...tag.env } });
    const split = go('--pcap', join(dir, 'np-split.pcap'), '--console');
    const local = go('--in-process', '--pcap', join(dir, 'np-local.pcap'), '--console');
    expect(split.status).toBe(0);
    expect(local.status).toBe(0);
    expect(split.stdout).toMatch(/alice\s+1\s+256\s+0\s+shutdown\(poweroff\)/);
    expect(split.stdout).toMatch(/bob\s+1\s+256\s+0\s+shutdown\(poweroff\)/);
    expect(local.stderr).toMatch(/\[alice\] work=blk mode=seq bs=4096 qd=8 n=64 writes=64 reads=64 errors=0/);
    expect(local.stderr).toMatch(/\[bob\] work=net .*pings=10 replies=10 lost=0 .*udp_rx_bytes=51200 tx_errors=0/);
    // --console in either home: whole guest lines, each with its domain's name (a long result
    // line arrives in several console chunks and stays one line).
    for (const out of [split.stderr, local.stderr]) {
      expect(out).toMatch(/\[alice\] work=blk mode=seq .* check=0x[0-9a-f]{8}\n/);
      expect(out).toMatch(/\[bob\] work=net .*pings=10 replies=10 lost=0 .* check=0x[0-9a-f]{8}\n/);
    }
    expect(hash(split.stdout)).toBeDefined();
    expect(hash(split.stdout)).toBe(hash(local.stdout));
    const a = readFileSync(join(dir, 'np-split.pcap'));
    expect(a.equals(readFileSync(join(dir, 'np-local.pcap')))).toBe(true);
    expect(a.length).toBeGreaterThan(24 + 100 * 1024);
    if (existsSync('/usr/bin/tshark')) {
      const t = spawnSync('tshark', ['-r', join(dir, 'np-split.pcap'), '-T', 'fields', '-e', 'ip.src', '-e', 'icmp.type'], { encoding: 'utf8', timeout: 30_000 });
      expect(t.stdout.split('\n').filter((l) => l === '10.0.0.2\t8').length).toBe(10); // bob's echo requests
    }
    // A bad device spec is a clear scenario error, before anything starts.
    spec.domains[1].vif = ['mac=nonsense'];
    writeFileSync(np, JSON.stringify(spec));
    const bad = go();
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/net-pair\.json: domains\[1\]\.vif\[0\]: mac "nonsense" is not six colon-separated hex bytes/);
    expect(pids(tag)).toEqual([]);
   }, 90_000);
});

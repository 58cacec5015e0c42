// Hostile and faulty disks (issue 9, items 4-6): an image that cannot be opened fails its
// device as Linux's xenbus_dev_fatal does and fails the create (xl, scenario) with the
// file and the reason, leaving nothing behind and every other device served; host I/O
// errors answer BLKIF_RSP_ERROR for that request only, logged without flooding; images
// are closed when their domain goes; an image attached writable to one domain is refused
// to any other (by the file itself, whatever the spelling), as Xen's block script does.
// With dom0 in-process and with real processes (pvsim up, pvsim xl).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Dom0Daemons } from '../../dom0/daemons.ts';
import { XenstoreStateFile } from '../../dom0/xenstore/persist.ts';
import { LocalPlatform } from '../../sim/local_platform.ts';
import { startLocalDom0 } from '../../sim/local.ts';
import { addDevice, backendErrorPath, backendPath, vbdDevice } from '../../dom0/toolstack/devices.ts';
import { BlkbackRing } from '../../dom0/backends/blk/blkback.ts';
import { BlockStoreError, FileBlockStore, type BlockStore } from '../../dom0/backends/blk/store.ts';
import { RateLimitedLog } from '../../dom0/backends/ratelimit.ts';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { runScenario } from '../../sim/scenario/runner.ts';
import { validateScenario } from '../../sim/scenario/schema.ts';
import { FrontRing, SharedRing } from '../../protocol/ring.ts';
import { BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, readBlkifResponse, writeBlkifRequest, writeBlkifRequestDiscard } from '../../protocol/xen/blkif.ts';
import { GTF } from '../../protocol/xen/grant_table.ts';
import { XenbusState as S } from '../../protocol/xen/xenbus.ts';
import { evtchnAllocUnbound } from '../../hypervisor/evtchn/ops.ts';
import { readToken } from '../../cli/runtime.ts';
import { connect } from '../../protocol/session.ts';
import { MmGuest, SPARE_VA, machine, MiB } from '../mm_helpers.ts';
import { pvImage, SPIN } from '../helpers/pv_image.ts';
import { writeTestGuests } from '../helpers/test_guests.ts';
import { daemonOf } from '../helpers/procs.ts';
import { startUp } from '../helpers/pvsim_up.ts';
import { gateCopies, recordLateWrites } from '../helpers/observe_writes.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-disk-'));
const DOM0 = { domid: 0, privileged: true };
const dec = new TextDecoder();
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.splice(0).reverse()) c();
  rmSync(dir, { recursive: true, force: true });
});

function daemons() {
  const hv = machine();
  const log: string[] = [];
  const d = new Dom0Daemons(new LocalPlatform(hv), { log: (l) => log.push(l), netBackend: false });
  const read = (path: string) => {
    try {
      return dec.decode(d.xenstored.store.read(DOM0, path));
    } catch {
      return undefined;
    }
  };
  const name = (domid: number, n: string) => d.xenstored.fire(d.xenstored.store.write(DOM0, `/local/domain/${domid}/name`, new TextEncoder().encode(n)));
  const vbd = (domid: number, path: string, mode: string) => addDevice(d.xs, domid, { kind: 'vbd', devid: 51712, backend: { params: path, mode, size: String(MiB), dev: 'xvda' }, frontend: { 'virtual-device': '51712' } });
  const state = (domid: number) => Number(read(`${backendPath('vbd', domid, 51712)}/state`));
  return { hv, d, log, read, name, vbd, state };
}

/** chattr +i works here (root on a filesystem with attributes)? */
function immutableFile(): string | null {
  const f = join(dir, 'immutable.img');
  writeFileSync(f, new Uint8Array(4096));
  if (spawnSync('chattr', ['+i', f]).status !== 0) return null;
  cleanups.push(() => void spawnSync('chattr', ['-i', f]));
  return f;
}

describe('a disk that cannot be opened', () => {
  it('fails its device as xenbus_dev_fatal does (error node, Closed), and the devices after it are still served', async () => {
    const { d, log, read, vbd, state } = daemons();
    const bad: { path: string; mode: string; code: string }[] = [
      { path: join(dir, 'no-such-dir', 'x.img'), mode: 'w', code: 'ENOENT' },
      { path: dir, mode: 'w', code: 'EISDIR' },
      { path: dir, mode: 'r', code: 'EISDIR' }, // opens read-only without complaint: refused by type
      { path: '/etc/passwd/x', mode: 'w', code: 'ENOTDIR' },
      { path: '/dev/zero', mode: 'w', code: 'EINVAL' }, // a device, not an image file
    ];
    const imm = immutableFile();
    if (imm) bad.push({ path: imm, mode: 'w', code: 'EPERM' });
    bad.forEach((b, i) => vbd(1 + i, b.path, b.mode));
    vbd(20, join(dir, 'good.img'), 'w'); // scanned after every bad one
    await d.settle();
    for (const [i, b] of bad.entries()) {
      const domid = 1 + i;
      expect(state(domid)).toBe(S.Closed);
      const node = read(`${backendErrorPath('vbd', domid, 51712)}/error`);
      expect(node).toMatch(new RegExp(`^\\d+ cannot open ${b.path}: ${b.code} \\(`));
      expect(read(`${backendPath('vbd', domid, 51712)}/error`)).toBe(node);
      const f = d.deviceFailure(domid);
      expect(f?.message).toContain(`disk xvda (vbd 51712): cannot open ${b.path}: ${b.code}`);
      expect(log.some((l) => l.includes(`backend/vbd/${domid}/51712`) && l.includes(b.code))).toBe(true);
    }
    expect(state(20)).toBe(S.InitWait);
    expect(read(`${backendPath('vbd', 20, 51712)}/sectors`)).toBe('2048');
    expect(d.deviceFailure(20)).toBeNull();
    // Destroyed: the backend directories and the error nodes go, and nothing stays open.
    for (let i = 0; i < bad.length; i++) await d.domainDestroyed(1 + i);
    expect(read('/local/domain/0/error/backend/vbd/1')).toBeUndefined();
    expect(d.blkback!.openImages).toBe(1);
  });

  it('is failed once, not retried on every XenStore change', async () => {
    const { d, read, vbd } = daemons();
    const writes: string[] = [];
    const store = d.xenstored.store;
    const write = store.write.bind(store);
    store.write = (c, path, v) => {
      if (path.endsWith('/error')) writes.push(path);
      return write(c, path, v);
    };
    vbd(3, dir, 'w');
    await d.settle();
    for (let i = 0; i < 5; i++) {
      d.xenstored.fire(write(DOM0, `/local/domain/3/data/x${i}`, new Uint8Array(1)));
      await d.settle();
    }
    expect(read(`${backendPath('vbd', 3, 51712)}/state`)).toBe(String(S.Closed));
    expect(writes).toEqual([`${backendErrorPath('vbd', 3, 51712)}/error`, `${backendPath('vbd', 3, 51712)}/error`]);
  });

  it('fails a scenario run with the domain, the file and the reason, rather than running it stuck', async () => {
    const guests = writeTestGuests();
    const s = validateScenario(
      {
        until: '1ms',
        domains: [
          { name: 'fine', image: guests.spin, memory: 4, disk: [`file:${join(dir, 'fine.img')},xvda,w`] },
          { name: 'broken', image: guests.spin, memory: 4, disk: [`file:${join(dir, 'missing', 'b.img')},xvda,w`] },
        ],
      },
      'test.json',
    );
    await expect(runScenario(s, { baseDir: dir })).rejects.toThrow(
      new RegExp(`^domain broken: disk xvda \\(vbd 51712\\): cannot open ${join(dir, 'missing', 'b.img')}: ENOENT`),
    );
  });
});

describe('images are closed when their domain is destroyed', () => {
  it('leaves no file descriptor behind after create and destroy of 8 disk domains', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 128 * MiB });
    const dom0 = startLocalDom0(hv);
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    const domains = [];
    for (let i = 0; i < 8; i++) {
      const devices = [vbdDevice({ devid: 51712, path: join(dir, `fd${i}.img`), access: 'w', vdev: 'xvda' })];
      domains.push(hv.createPvDomain(pvImage(SPIN), { name: `fd${i}`, memoryBytes: 4 * MiB, devices }).domain);
    }
    await hv.runAsync({ until: hv.now() + 1000 }); // dom0 sets them up: their images open
    expect(dom0.blkback!.openImages).toBe(8);
    expect(fds()).toBeGreaterThanOrEqual(before + 8);
    for (const d of domains) {
      hv.destroyDomain(d);
      await dom0.domainDestroyed(d.domid);
    }
    expect(dom0.blkback!.openImages).toBe(0);
    expect(fds()).toBe(before);
    dom0.close();
  });
});

/** A FileBlockStore whose host operations fail with `fault` while it is set (EIO, ENOSPC...). */
class FaultyStore implements BlockStore {
  fault: string | null = null;
  constructor(private readonly inner: FileBlockStore) {}
  get path() { return this.inner.path; }
  get readonly() { return this.inner.readonly; }
  get sectors() { return this.inner.sectors; }
  get identity() { return this.inner.identity; }
  private check(what: string) {
    if (this.fault) throw new BlockStoreError(`${what} of ${this.path}: ${this.fault} (injected)`, this.fault);
  }
  read(sector: number, bytes: number) { this.check('read'); return this.inner.read(sector, bytes); }
  write(sector: number, data: Uint8Array) { this.check('write'); this.inner.write(sector, data); }
  discard(sector: number, count: number) { this.check('discard'); this.inner.discard(sector, count); }
  flush() { this.check('fsync'); this.inner.flush(); }
  close() { this.inner.close(); }
}

/** The guest's side of a blkif ring: its page granted to dom0 as gref 8 (gref 9 a data page), initialised. */
function frontRing(hv: ReturnType<typeof machine>, g: MmGuest) {
  g.shareGrantTable(g.layout.virtBase + 3 * MiB);
  const ringMfn = g.mfnOfVa(SPARE_VA);
  g.grant(8, 0, ringMfn, GTF.permit_access);
  g.grant(9, 0, g.mfnOfVa(SPARE_VA + 4096), GTF.permit_access);
  const ringBytes = hv.frames.frameStorage(ringMfn);
  const sring = new SharedRing(ringBytes, BLKIF_RING_ENTRY_SIZE);
  sring.init();
  return { ringMfn, ringBytes, sring, front: new FrontRing(sring) };
}

/** A frontend played through a guest's memory against one BlkbackRing (dom0 in-process). */
async function ringWith(disk: BlockStore, log?: (l: string) => void) {
  const hv = machine();
  const platform = new LocalPlatform(hv);
  const g = MmGuest.create(hv, { name: 'front' });
  const { ringBytes, front } = frontRing(hv, g);
  const map = await platform.mapGrant(g.domid, 8, false);
  const port = await platform.bindInterdomain(g.domid, evtchnAllocUnbound(hv, g.domain, g.domid, 0));
  const ring = new BlkbackRing(platform, g.domid, map.page!, port, disk, false, { devid: 51712, log });
  const dv = new DataView(ringBytes.buffer, ringBytes.byteOffset, ringBytes.byteLength);
  let id = 1n;
  const submit = (operation: number, sector: number) => {
    const off = front.nextRequest();
    if (operation === BLKIF_OP.DISCARD) writeBlkifRequestDiscard(dv, off, { operation, flag: 0, handle: 0, id: id++, sector_number: BigInt(sector), nr_sectors: 8n });
    else writeBlkifRequest(dv, off, { operation, nr_segments: operation === BLKIF_OP.FLUSH_DISKCACHE ? 0 : 1, handle: 0, id: id++, sector_number: BigInt(sector), seg: operation === BLKIF_OP.FLUSH_DISKCACHE ? [] : [{ gref: 9, first_sect: 0, last_sect: 7 }] });
    front.produced();
    front.pushRequestsAndCheckNotify();
  };
  const responses = () => {
    const out: number[] = [];
    while (front.unconsumedResponses() > 0) {
      out.push(readBlkifResponse(dv, front.nextResponse()).status);
      front.consumed();
    }
    return out;
  };
  return { ring, submit, responses };
}

describe('host I/O errors', () => {
  it('answer BLKIF_RSP_ERROR for that request only, logged with domain, device, sector and error; the ring is served on', async () => {
    const disk = new FaultyStore(new FileBlockStore(join(dir, 'faulty.img'), false, MiB));
    const log: string[] = [];
    const { ring, submit, responses } = await ringWith(disk, (l) => log.push(l));
    for (const fault of ['EIO', 'ENOSPC']) {
      disk.fault = fault;
      submit(BLKIF_OP.WRITE, 16);
      submit(BLKIF_OP.READ, 24);
      submit(BLKIF_OP.FLUSH_DISKCACHE, 0);
      submit(BLKIF_OP.DISCARD, 32);
      await ring.service();
      expect(responses()).toEqual([BLKIF_RSP.ERROR, BLKIF_RSP.ERROR, BLKIF_RSP.ERROR, BLKIF_RSP.ERROR]);
      disk.fault = null;
      submit(BLKIF_OP.WRITE, 16);
      submit(BLKIF_OP.READ, 16);
      await ring.service();
      expect(responses()).toEqual([BLKIF_RSP.OKAY, BLKIF_RSP.OKAY]);
    }
    expect(ring.stats.hostErrors).toBe(8);
    expect(log[0]).toMatch(/^blkback: d\d+ vbd 51712: write at sector 16 failed: write of .*faulty\.img: EIO/);
    expect(log.some((l) => /read at sector 24 failed: .*ENOSPC/.test(l))).toBe(true);
    expect(ring.halted).toBe(false);
  });

  it('cannot flood the log: a burst, then a count of what was suppressed', async () => {
    const disk = new FaultyStore(new FileBlockStore(join(dir, 'flood.img'), false, MiB));
    disk.fault = 'EIO';
    const lines: string[] = [];
    let now = 0;
    const limited = new RateLimitedLog((l) => lines.push(l), 10, 5_000, () => now);
    const { ring, submit, responses } = await ringWith(disk, (l) => limited.log(l));
    let answered = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 30; i++) submit(BLKIF_OP.WRITE, i * 8);
      await ring.service();
      answered += responses().filter((s) => s === BLKIF_RSP.ERROR).length;
    }
    expect(answered).toBe(300);
    expect(lines).toHaveLength(10);
    now = 5_000; // the next window
    limited.log('next');
    expect(lines.slice(10)).toEqual(['290 similar messages suppressed', 'next']);
  });

  const tmpfs = join(dir, 'tmpfs');
  mkdirSync(tmpfs);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', tmpfs]).status === 0;
  // Lazily (-l): a descriptor a failed test left open does not keep the mount behind.
  if (mounted) cleanups.push(() => void spawnSync('umount', ['-l', tmpfs]));

  it.skipIf(!mounted)('a full filesystem (a 64 KiB tmpfs): ENOSPC answers the write with an error, and writes succeed once there is room', async () => {
    const disk = new FileBlockStore(join(tmpfs, 'disk.img'), false, MiB); // sparse: no blocks yet
    cleanups.push(() => disk.close());
    const filler = join(tmpfs, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (;;) writeSync(fd, new Uint8Array(4096));
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    const log: string[] = [];
    const { ring, submit, responses } = await ringWith(disk, (l) => log.push(l));
    submit(BLKIF_OP.WRITE, 64);
    submit(BLKIF_OP.READ, 0); // a hole: reads need no room
    await ring.service();
    expect(responses()).toEqual([BLKIF_RSP.ERROR, BLKIF_RSP.OKAY]);
    expect(log).toEqual([expect.stringMatching(/write at sector 64 failed: write of .*disk\.img: ENOSPC \(no space left on device\)/)]);
    rmSync(filler);
    submit(BLKIF_OP.WRITE, 64);
    await ring.service();
    expect(responses()).toEqual([BLKIF_RSP.OKAY]);
  });
});

describe('one writable image, two domains', () => {
  it('is refused to the second (EBUSY, naming the first) by the file itself, whatever the spelling; read-only sharing and w! are allowed', async () => {
    const { d, read, name, vbd, state } = daemons();
    const img = join(dir, 'shared.img');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    symlinkSync(img, join(dir, 'link.img'));
    name(1, 'first');
    vbd(1, img, 'w');
    await d.settle();
    expect(state(1)).toBe(S.InitWait);
    // Other spellings of the same file: a symlink, a path through .., a relative-looking one.
    for (const [domid, path, mode] of [
      [2, join(dir, 'link.img'), 'w'],
      [3, `${dir}/sub/../shared.img`, 'w'],
      [4, img, 'r'], // read-only while another domain writes it: refused too, as Xen's block script
    ] as const) {
      vbd(domid, path, mode);
      await d.settle();
      expect(state(domid)).toBe(S.Closed);
      expect(read(`${backendErrorPath('vbd', domid, 51712)}/error`)).toMatch(new RegExp(`^16 ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use (by domain 1 \\(first\\) read-write|read-write by domain 1 \\(first\\))`));
      expect(d.deviceFailure(domid)).toMatchObject({ errno: 16 });
    }
    // The same domain may have it twice (Xen's same_vm); w! shares it on purpose.
    addDevice(d.xs, 1, { kind: 'vbd', devid: 51728, backend: { params: img, mode: 'w' }, frontend: {} });
    vbd(5, img, 'w!');
    await d.settle();
    expect(Number(read(`${backendPath('vbd', 1, 51728)}/state`))).toBe(S.InitWait);
    expect(state(5)).toBe(S.InitWait);
    // Read-only images are shared freely.
    const ro = join(dir, 'ro.img');
    writeFileSync(ro, new Uint8Array(8192));
    vbd(6, ro, 'r');
    vbd(7, ro, 'r');
    await d.settle();
    expect([state(6), state(7)]).toEqual([S.InitWait, S.InitWait]);
    // Once the writers are gone the image is free again.
    for (const domid of [1, 2, 3, 4, 5]) await d.domainDestroyed(domid);
    vbd(8, join(dir, 'link.img'), 'w');
    await d.settle();
    expect(state(8)).toBe(S.InitWait);
  });

  it('fails a scenario whose two domains share a writable image, naming both', async () => {
    const guests = writeTestGuests();
    const img = join(dir, 'scen-shared.img');
    const s = validateScenario(
      {
        until: '1ms',
        domains: [
          { name: 'one', image: guests.spin, memory: 4, disk: [`file:${img},xvda,w`] },
          { name: 'two', image: guests.spin, memory: 4, disk: [`file:${dir}/./scen-shared.img,xvda,w`] },
        ],
      },
      'test.json',
    );
    await expect(runScenario(s, { baseDir: dir })).rejects.toThrow(/^domain two: disk xvda \(vbd 51712\): .*scen-shared\.img is in use by domain 1 \(one\) read-write/);
  });
});

describe('with real processes: pvsim up, pvsim xl create', { timeout: 60_000 }, () => {
  const PVSIM = join(process.cwd(), 'bin/pvsim.js');
  const running: ChildProcess[] = [];
  afterAll(() => {
    for (const p of running.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  const up = () => startUp(['--pcpus', '1'], { tmpdir: dir, children: running });

  it('fails xl create of a domain whose disk cannot be opened, leaving nothing; a later domain gets its disk; a writable image in use is refused', async () => {
    const u = await up();
    // xl for the creates (its exit status and message are what is tested); the protocol
    // for the rest, which is quicker than a process per look.
    const { peer } = await connect(u.env.PVSIM_URL!, 'client', readToken(u.env.PVSIM_TOKEN_FILE!));
    cleanups.push(() => peer.close());
    const names = async () => (await peer.request('listDomains', {})).domains!.domains.map((x) => x.name);
    const xl = (...args: string[]) =>
      new Promise<{ status: number | null; out: string; err: string }>((resolve) => {
        const p = spawn(process.execPath, [PVSIM, 'xl', ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, env: { ...process.env, ...u.env } });
        running.push(p);
        let out = '';
        let err = '';
        p.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        p.stderr!.on('data', (b: Buffer) => (err += b.toString()));
        p.once('close', (status) => resolve({ status, out, err }));
      });
    const cfg = (name: string, kernel: string, extra: string, disk: string) => {
      const f = join(dir, `${name}.cfg`);
      writeFileSync(f, `name = "${name}"\nkernel = "${join(process.cwd(), 'guests/build', kernel)}"\nmemory = 16\nextra = "${extra}"\non_poweroff = "preserve"\ndisk = [ '${disk}' ]\n`);
      return f;
    };
    // A FIFO read-only: opening it would block dom0 until a writer came; it is refused unopened.
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const [bad, blocked] = await Promise.all([
      xl('create', cfg('bad', 'hello.elf', 'console=hvc0', `file:${dir},xvda,w`)),
      xl('create', cfg('fifo', 'hello.elf', 'console=hvc0', `file:${fifo},xvda,r`)),
    ]);
    expect(bad.status).not.toBe(0);
    expect(bad.err).toBe(`xl: create bad: disk xvda (vbd 51712): cannot open ${dir}: EISDIR (is a directory)\n`);
    expect(blocked.err).toBe(`xl: create fifo: disk xvda (vbd 51712): cannot open ${fifo}: EINVAL (not a regular file: a file: disk is an image file)\n`);
    const good = join(dir, 'proc-good.img');
    expect((await xl('create', cfg('good', 'work.elf', 'work=blk n=8', `file:${good},xvda,w`))).status).toBe(0);
    // The same image, spelled otherwise, for a second domain while the first still has it.
    const copy = cfg('copy', 'hello.elf', 'console=hvc0', `file:${dir}/./proc-good.img,xvda,w`);
    const refused = await xl('create', copy);
    expect(refused.status).not.toBe(0);
    expect(refused.err).toMatch(/create copy: disk xvda \(vbd 51712\): .*proc-good\.img is in use by domain \d+ \(good\) read-write/);
    expect(await names()).toEqual(['Domain-0', 'good']); // the failed ones destroyed, not left paused
    // The domain created after the failures got its disk: the guest's own report, once it
    // has written and read it back.
    let dmesg = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && !/work=blk .*writes=8 reads=8 errors=0/.test(dmesg); await new Promise((r) => setTimeout(r, 50))) {
      dmesg = (await peer.request('dmesg', {})).lines!.lines.join('\n');
    }
    expect(dmesg).toMatch(/work=blk .*writes=8 reads=8 errors=0/);
    expect((await peer.request('destroyDomain', { name: 'good' })).rc).toBe(0);
    expect((await xl('create', copy)).status).toBe(0); // free once its domain is gone
    // dom0 logged why.
    expect(u.stderr.join('\n')).toMatch(/dom0: d\d+ bad: disk xvda \(vbd 51712\): cannot open .*EISDIR.*; destroying it/);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
  });
  it('restarts a domain with its disk (on_poweroff = "restart"): the new instance gets the same image back, closed by the old one first', async () => {
    const u = await up();
    const { peer } = await connect(u.env.PVSIM_URL!, 'client', readToken(u.env.PVSIM_TOKEN_FILE!));
    cleanups.push(() => peer.close());
    const f = join(dir, 'restarter.cfg');
    writeFileSync(f, `name = "restarter"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nmemory = 16\nextra = "work=blk n=4"\non_poweroff = "restart"\ndisk = [ 'file:${join(dir, 'restart.img')},xvda,w' ]\n`);
    const c = spawnSync(process.execPath, [PVSIM, 'xl', 'create', f], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...u.env } });
    expect(c.stderr).toBe('');
    // Each instance writes and verifies its disk, then powers off and is restarted: two
    // reports mean the restarted instance found its disk (without it, it waits forever).
    const done = /work=blk .*writes=4 reads=4 errors=0/g;
    let dmesg = '';
    for (const deadline = Date.now() + 40_000; Date.now() < deadline && (dmesg.match(done) ?? []).length < 2; await new Promise((r) => setTimeout(r, 50))) {
      dmesg = (await peer.request('dmesg', {})).lines!.lines.join('\n');
    }
    expect((dmesg.match(done) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(u.stderr.join('\n')).not.toMatch(/restart of restarter failed/);
    // It powers off and restarts over and over: between one instance and the next it has
    // no domain (ESRCH), so destroy until none is left.
    // A restart in flight (dom0 destroyed the old instance, the new one is not created yet)
    // also has no domain: go by dom0's own log of each restart it began and ended, not by a
    // single empty listing.
    const alive = async () => (await peer.request('listDomains', {})).domains!.domains.some((x) => x.name === 'restarter');
    const seen = (re: RegExp) => (u.stderr.join('\n').match(re) ?? []).length;
    const restarting = () =>
      seen(/restarter shut down \(reason \d+\): restart/g) >
      seen(/restarted restarter as d\d+/g) + seen(/restarter was destroyed meanwhile/g) + seen(/restart of restarter failed/g);
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && ((await alive()) || restarting()); await new Promise((r) => setTimeout(r, 20))) {
      await peer.request('destroyDomain', { name: 'restarter' });
    }
    expect(restarting()).toBe(false);
    expect(await alive()).toBe(false);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
  });

  it('keeps a writable image its domain had connected when dom0 is killed (-9) and restarted: a create before the frontend is back is refused', async () => {
    const u = await up();
    const token = readToken(u.env.PVSIM_TOKEN_FILE!);
    const img = join(dir, 'kill9.img');
    const cfg = (name: string) => {
      const f = join(dir, `${name}.cfg`);
      writeFileSync(f, `name = "${name}"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nmemory = 16\nextra = "work=blk n=100000"\ndisk = [ 'file:${img},xvda,w' ]\n`);
      return f;
    };
    const xlCreate = (name: string) => spawnSync(process.execPath, [PVSIM, 'xl', 'create', cfg(name)], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...u.env } });
    expect(xlCreate('holder').status).toBe(0);
    const first = (await connect(u.env.PVSIM_URL!, 'client', token)).peer;
    const dmesg = async () => (await first.request('dmesg', {})).lines!.lines.join('\n');
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && !/blk: vbd/.test(await dmesg()); ) await new Promise((r) => setTimeout(r, 25));
    expect((await first.request('pauseDomain', { name: 'holder' })).rc).toBe(0); // its frontend cannot reconnect for now
    first.close();
    // dom0 is the child of the `pvsim up` we started that runs `pvsim dom0`.
    const dom0 = daemonOf(u.proc.pid!, 'dom0')?.pid ?? 0;
    expect(dom0).toBeGreaterThan(0);
    process.kill(dom0, 'SIGKILL');
    // The new dom0 answers (it scanned its saved XenStore first); a busy machine starts it slowly.
    let peer: Awaited<ReturnType<typeof connect>>['peer'] | null = null;
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && !peer; ) {
      await new Promise((r) => setTimeout(r, 25));
      if (/restarting it from its saved XenStore/.test(u.stderr.join('\n'))) peer = await connect(u.env.PVSIM_URL!, 'client', token).then((c) => c.peer, () => null);
    }
    expect(peer).not.toBeNull();
    cleanups.push(() => peer!.close());
    const taker = xlCreate('taker');
    expect(taker.status).not.toBe(0);
    expect(taker.stderr).toMatch(/create taker: disk xvda \(vbd 51712\): .*kill9\.img is in use by domain \d+ \(holder\) read-write/);
    expect((await peer!.request('listDomains', {})).domains!.domains.map((x) => x.name)).toEqual(['Domain-0', 'holder']);
    expect((await peer!.request('destroyDomain', { name: 'holder' })).rc).toBe(0);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
  });
});

describe('a frontend whose connection fails', () => {
  it('leaves no ring mapping behind when its event channel cannot be bound', async () => {
    const hv = machine();
    const d = new Dom0Daemons(new LocalPlatform(hv), { netBackend: false });
    const g = MmGuest.create(hv, { name: 'front' });
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    g.grant(8, 0, g.mfnOfVa(SPARE_VA), GTF.permit_access);
    addDevice(d.xs, g.domid, { kind: 'vbd', devid: 51712, backend: { params: join(dir, 'bind.img'), mode: 'w', size: String(MiB) }, frontend: {} });
    await d.settle();
    const fe = `/local/domain/${g.domid}/device/vbd/51712`;
    const put = (k: string, v: string) => d.xenstored.fire(d.xenstored.store.write(DOM0, `${fe}/${k}`, new TextEncoder().encode(v)));
    put('ring-ref', '8');
    put('event-channel', '60'); // no such unbound port
    put('state', String(S.Initialised));
    await d.settle();
    expect(Number(dec.decode(d.xenstored.store.read(DOM0, `${backendPath('vbd', g.domid, 51712)}/state`)))).toBe(S.Closed);
    expect(dec.decode(d.xenstored.store.read(DOM0, `${backendErrorPath('vbd', g.domid, 51712)}/error`))).toMatch(/bind_interdomain/);
    expect(g.grantFlags(8)).toBe(GTF.permit_access); // mapped for a moment, let go again
  });
});

// Attacks on the fixes above (adversarial review of items 4-6).
describe('attacks on the disk fixes', () => {
  it('a restarted dom0 claims the images its predecessor had connected: a create before the frontend reconnects cannot take a writable one', async () => {
    const state = join(dir, 'restart-claim.xs');
    const img = join(dir, 'restart-claim.img');
    writeFileSync(img, new Uint8Array(MiB));
    // The XenStore a dom0 leaves when it dies serving domain 1's disk, Connected (written
    // here without a backend acting on it: only what the next dom0 finds matters).
    const first = new Dom0Daemons(new LocalPlatform(machine()), { netBackend: false, blockBackend: false, stateFile: state });
    addDevice(first.xs, 1, { kind: 'vbd', devid: 51712, backend: { params: img, mode: 'w' }, frontend: {} });
    const put = (path: string, v: string) => first.xenstored.fire(first.xenstored.store.write(DOM0, path, new TextEncoder().encode(v)));
    put(`${backendPath('vbd', 1, 51712)}/state`, String(S.Connected));
    put(`/local/domain/1/device/vbd/51712/state`, String(S.Connected));
    first.close();
    const log: string[] = [];
    const next = new Dom0Daemons(new LocalPlatform(machine()), { netBackend: false, stateFile: state, log: (l) => log.push(l) });
    await next.settle();
    expect(next.blkback!.openImages).toBe(1); // claimed before domain 1's frontend is back
    addDevice(next.xs, 2, { kind: 'vbd', devid: 51712, backend: { params: img, mode: 'w' }, frontend: {} });
    await next.settle();
    expect(next.deviceFailure(2)).toMatchObject({ errno: 16, message: expect.stringContaining('in use by domain 1') });
    // Domain 1's frontend reconnects and gets its disk back.
    next.xenstored.fire(next.xenstored.store.write({ domid: 1, privileged: false }, '/local/domain/1/device/vbd/51712/state', new TextEncoder().encode(String(S.Initialising))));
    await next.settle();
    expect(Number(dec.decode(next.xenstored.store.read(DOM0, `${backendPath('vbd', 1, 51712)}/state`)))).toBe(S.InitWait);
    next.close();
  });

  it('a size an image cannot have is refused before a file is made; a file made for a disk that then fails is removed', async () => {
    const { d, read, state } = daemons();
    const sizes = ['-1', '1000', '0', 'abc', '1e30', '1.5', '0x10', String(2 ** 52)];
    for (const [i, size] of sizes.entries()) {
      const p = join(dir, `size${i}.img`);
      addDevice(d.xs, 40 + i, { kind: 'vbd', devid: 51712, backend: { params: p, mode: 'w', size }, frontend: {} });
      await d.settle();
      if (state(40 + i) === S.InitWait) {
        // 4 PiB sparse: a filesystem may allow it (the client's choice, as with xl's own files).
        expect(size).toBe(String(2 ** 52));
        expect(existsSync(p)).toBe(true);
      } else {
        expect(state(40 + i)).toBe(S.Closed);
        if (size !== String(2 ** 52)) expect(read(`${backendErrorPath('vbd', 40 + i, 51712)}/error`)).toMatch(/^22 cannot create .*: size .* is not a positive whole number of 512-byte sectors$/);
        expect(existsSync(p)).toBe(false); // nothing left behind to break the next create
      }
      await d.domainDestroyed(40 + i);
    }
    expect(d.blkback!.openImages).toBe(0);
  });

  it('a guest value in an error (ring-ref with a newline) is quoted: it cannot forge a line of dom0 log', async () => {
    const { d, log } = daemons();
    addDevice(d.xs, 5, { kind: 'vbd', devid: 51712, backend: { params: join(dir, 'forge.img'), mode: 'w', size: String(MiB) }, frontend: {} });
    await d.settle();
    const guest = { domid: 5, privileged: false };
    const fe = '/local/domain/5/device/vbd/51712';
    d.xenstored.fire(d.xenstored.store.write(guest, `${fe}/ring-ref`, new TextEncoder().encode('x\ndom0: d1 admin: destroying it')));
    d.xenstored.fire(d.xenstored.store.write(guest, `${fe}/state`, new TextEncoder().encode(String(S.Initialised))));
    await d.settle();
    const line = log.find((l) => l.includes('bad ring-ref'));
    expect(line).toBe(`xenbus: ${backendPath('vbd', 5, 51712)}: bad ring-ref "x\\ndom0: d1 admin: destroying it"`);
    expect(log.every((l) => !l.includes('\n'))).toBe(true);
  });

  it("a full or failing filesystem under dom0's XenStore state file is logged, not the end of dom0; it saves again once it can", async () => {
    // Its own small tmpfs (root only; elsewhere a failing directory is not reproducible:
    // the journal's descriptor outlives a removed directory).
    const sub = join(dir, 'state-fs');
    mkdirSync(sub);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', sub]).status !== 0) return;
    cleanups.push(() => void spawnSync('umount', ['-l', sub]));
    const file = join(sub, 'xs.state');
    const log: string[] = [];
    const d = new Dom0Daemons(new LocalPlatform(machine()), { netBackend: false, blockBackend: false, stateFile: file, log: (l) => log.push(l) });
    d.saveState();
    // Fill the filesystem, so the next journal record or snapshot cannot be written.
    const filler = join(sub, 'filler');
    const fd = openSync(filler, 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(16 * 1024));
    } catch {
      // ENOSPC: full
    }
    closeSync(fd);
    const put = (k: string, v: string) => d.xenstored.fire(d.xenstored.store.write(DOM0, `/local/domain/0/${k}`, new TextEncoder().encode(v)));
    put('data-x', 'x'.repeat(2000)); // more than the slack in the journal's last page, with its encoding
    put('data-x2', 'x'.repeat(2000));
    put('data-x3', 'x'.repeat(2000));
    await new Promise((r) => setImmediate(r)); // the deferred save runs (it used to throw from its timer)
    d.saveState(); // and the synchronous one a dispatch makes
    expect(log.filter((l) => l.startsWith(`xenstored: cannot save ${file}: ENOSPC`)).length).toBeGreaterThan(0);
    rmSync(filler); // room again: the next change saves everything, the failed batch included
    put('data-y', '2');
    await new Promise((r) => setImmediate(r));
    const saved = XenstoreStateFile.read(file)!;
    expect(saved.nodes.has('/local/domain/0/data-x')).toBe(true);
    expect(saved.nodes.has('/local/domain/0/data-y')).toBe(true);
    d.close();
  });

  it('a domain destroyed while its request is being served: the request finishes on the mapped ring, nothing is written to it after the unmap', async () => {
    const hv = machine();
    const platform = new LocalPlatform(hv);
    // A grant copy that waits for the test: the request is in flight while the destroy runs.
    const { entered: copying, release } = gateCopies(platform, 'copyToGrant');
    // Every mapping records a write made to it after its unmap.
    const late = recordLateWrites(platform);
    const d = new Dom0Daemons(platform, { netBackend: false });
    const g = MmGuest.create(hv, { name: 'inflight' });
    const { ringBytes, front } = frontRing(hv, g);
    addDevice(d.xs, g.domid, { kind: 'vbd', devid: 51712, backend: { params: join(dir, 'inflight.img'), mode: 'w', size: String(MiB) }, frontend: {} });
    await d.settle();
    const guest = { domid: g.domid, privileged: false };
    const fe = `/local/domain/${g.domid}/device/vbd/51712`;
    const put = (k: string, v: string) => d.xenstored.fire(d.xenstored.store.write(guest, `${fe}/${k}`, new TextEncoder().encode(v)));
    put('ring-ref', '8');
    put('event-channel', String(evtchnAllocUnbound(hv, g.domain, g.domid, 0)));
    put('state', String(S.Initialised));
    await d.settle();
    const dv = new DataView(ringBytes.buffer, ringBytes.byteOffset, ringBytes.byteLength);
    writeBlkifRequest(dv, front.nextRequest(), { operation: BLKIF_OP.READ, nr_segments: 1, handle: 0, id: 7n, sector_number: 0n, seg: [{ gref: 9, first_sect: 0, last_sect: 7 }] });
    front.produced();
    front.pushRequestsAndCheckNotify();
    const serving = d.blkback!.attached.values().next().value!.ring.service();
    await copying; // the READ waits in its grant copy
    const destroyed = d.domainDestroyed(g.domid);
    release();
    await Promise.all([serving, destroyed]);
    expect(late).toEqual([]);
    expect(readBlkifResponse(dv, front.nextResponse())).toMatchObject({ id: 7n, status: BLKIF_RSP.OKAY }); // answered, before the unmap
    expect(d.blkback!.openImages).toBe(0);
    expect(g.grantFlags(8)).toBe(GTF.permit_access);
  });

  it("a guest's XenStore writes cost dom0 one pass over the devices per batch, not one per write (200 domains' disks)", async () => {
    const { d } = daemons();
    for (let i = 1; i <= 200; i++) addDevice(d.xs, i, { kind: 'vbd', devid: 51712, backend: { params: join(dir, `many${i}.img`), mode: 'w', size: String(MiB) }, frontend: {} });
    await d.settle();
    const store = d.xenstored.store;
    const directory = store.directory.bind(store);
    let passes = 0;
    store.directory = (c, path) => {
      if (path === '/local/domain/0/backend/vbd') passes++;
      return directory(c, path);
    };
    const guest = { domid: 1, privileged: false };
    for (let i = 0; i < 2000; i++) d.xenstored.fire(store.write(guest, `/local/domain/1/device/vbd/51712/x${i % 10}`, new TextEncoder().encode('y')));
    await d.settle();
    expect(passes).toBeLessThanOrEqual(3); // it was 5,402 (2.3 s of dom0's time for 2,000 writes)
    for (let i = 1; i <= 200; i++) await d.domainDestroyed(i);
    expect(d.blkback!.openImages).toBe(0);
  });

  it('a frontend flipping Initialised/Closing/Initialising 40 times reopens nothing, and once Closed keeps nothing mapped', async () => {
    const hv = machine();
    const d = new Dom0Daemons(new LocalPlatform(hv), { netBackend: false });
    const g = MmGuest.create(hv, { name: 'flip' });
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    g.grant(8, 0, g.mfnOfVa(SPARE_VA), GTF.permit_access);
    new SharedRing(hv.frames.frameStorage(g.mfnOfVa(SPARE_VA)), BLKIF_RING_ENTRY_SIZE).init();
    addDevice(d.xs, g.domid, { kind: 'vbd', devid: 51712, backend: { params: join(dir, 'flip.img'), mode: 'w', size: String(MiB) }, frontend: {} });
    await d.settle();
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    const guest = { domid: g.domid, privileged: false };
    const fe = `/local/domain/${g.domid}/device/vbd/51712`;
    const put = (k: string, v: string) => d.xenstored.fire(d.xenstored.store.write(guest, `${fe}/${k}`, new TextEncoder().encode(v)));
    const be = () => Number(dec.decode(d.xenstored.store.read(DOM0, `${backendPath('vbd', g.domid, 51712)}/state`)));
    for (let i = 0; i < 40; i++) {
      put('ring-ref', '8');
      put('event-channel', String(evtchnAllocUnbound(hv, g.domain, g.domid, 0)));
      put('state', String(S.Initialised));
      // Not always a settle in between: the backend sees whichever state is there then (a
      // Closing it never saw leaves it Connected, as Linux's blkback).
      if (i % 2 === 0) await d.settle();
      put('state', String(S.Closing));
      if (i % 3 === 0) await d.settle();
      put('state', String(S.Initialising));
      await d.settle();
      expect([S.InitWait, S.Connected]).toContain(be());
      expect(d.blkback!.openImages).toBe(1);
    }
    put('state', String(S.Closing));
    await d.settle();
    expect(be()).toBe(S.Closed);
    expect(d.blkback!.openImages).toBe(1);
    expect(d.blkback!.attached.size).toBe(0);
    expect(fds()).toBe(before);
    expect(g.grantFlags(8)).toBe(GTF.permit_access); // not left mapped
    await d.domainDestroyed(g.domid);
    expect(d.blkback!.openImages).toBe(0);
  });
});

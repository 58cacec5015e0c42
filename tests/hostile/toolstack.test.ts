// Hostile input to the toolstack (issue 9, items 7, 8 and 12): kernels that are not
// regular files or are too large, overlapping ELF segments, create requests a client
// sends straight over the protocol (not through xl's parser), a create that fails after
// its domain was made, and Domain-0 as `xl list` shows it.

import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUp } from '../helpers/pvsim_up.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Peer } from '../../protocol/session.ts';
import type { CreateDomain, Device } from '../../protocol/wire.ts';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { startDom0, type Dom0Handle } from '../../dom0/dom0.ts';
import { KernelFileError, MAX_KERNEL_BYTES, readKernelFile } from '../../xenguest/kernel_file.ts';
import { ElfError, parseElf } from '../../xenguest/elf.ts';
import { runBare } from '../../hypervisor/bare/machine.ts';
import { vbdDevice, vifDevice } from '../../dom0/toolstack/devices.ts';
import { formatList } from '../../dom0/toolstack/format.ts';

import { validateScenario } from '../../sim/scenario/schema.ts';
import { runScenario } from '../../sim/scenario/runner.ts';
import { pvImage, SPIN, PV_BASE } from '../helpers/pv_image.ts';
import { writeElf, u32Bytes } from '../helpers/elf_writer.ts';
import { XEN_ELFNOTE } from '../../xenguest/elf.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-ts-'));
const MiB = 1024 * 1024;

function refusal(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a refusal');
}

// --- item 7: kernel files and ELF sanity ---------------------------------------------------

describe('kernel files', () => {
  it('refuses /dev/zero at once, naming it, without reading it', () => {
    const t0 = performance.now();
    const e = refusal(() => readKernelFile('/dev/zero'));
    expect(e).toBeInstanceOf(KernelFileError);
    expect(e.message).toBe('/dev/zero is a character device, not a regular file');
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('refuses a directory and a FIFO with no writer (without blocking in open)', () => {
    expect(refusal(() => readKernelFile(dir)).message).toBe(`${dir} is a directory, not a regular file`);
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(refusal(() => readKernelFile(fifo)).message).toBe(`${fifo} is a FIFO, not a regular file`);
    expect(refusal(() => readKernelFile(join(dir, 'nope'))).message).toMatch(/^cannot read .*nope: ENOENT$/);
  });

  it('reads a kernel of exactly 16 MiB and refuses one byte more, naming the file', () => {
    const f = join(dir, 'big.elf');
    writeFileSync(f, '');
    truncateSync(f, MAX_KERNEL_BYTES); // sparse: no 16 MiB written to disk
    expect(readKernelFile(f).length).toBe(MAX_KERNEL_BYTES);
    truncateSync(f, MAX_KERNEL_BYTES + 1);
    expect(refusal(() => readKernelFile(f)).message).toBe(`${f} is larger than 16 MiB, the largest kernel pvsim loads`);
    rmSync(f);
  });

  it('a scenario whose image is /dev/zero is refused at once, naming it', async () => {
    const scenario = validateScenario({ domains: [{ name: 'z', image: '/dev/zero' }] }, 'zero.json');
    await expect(runScenario(scenario, { baseDir: '/' })).rejects.toThrow('image /dev/zero: /dev/zero is a character device, not a regular file');
  });

  it('does not leave the file open after a refusal', () => {
    const before = readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 20; i++) refusal(() => readKernelFile('/dev/zero'));
    expect(readdirSync('/proc/self/fd').length).toBe(before);
  });
});

describe('ELF sanity', () => {
  const code = u32Bytes(0x00000013, 0x0000006f);
  it('refuses PT_LOAD segments that overlap in physical memory', () => {
    const img = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: code, memsz: 0x2000 }, { vaddr: 0x80001000, data: code }] });
    const e = refusal(() => parseElf(img));
    expect(e).toBeInstanceOf(ElfError);
    expect(e.message).toBe('segments 0 and 1 (PT_LOAD) overlap in physical memory: [0x80000000, 0x80002000) and [0x80001000, 0x80001008)');
    // run-bare goes through the same parser.
    expect(() => runBare(img)).toThrowError(/overlap in physical memory/);
  });

  it('refuses PT_LOAD segments that overlap only in virtual memory', () => {
    const img = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, paddr: 0x80000000, data: code }, { vaddr: 0x80000004, paddr: 0x80100000, data: code }] });
    expect(() => parseElf(img)).toThrowError('segments 0 and 1 (PT_LOAD) overlap in virtual memory');
  });

  it('accepts segments that touch but do not overlap, and empty ones anywhere', () => {
    const img = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: code }, { vaddr: 0x80000008, data: code }, { vaddr: 0x80000000, data: new Uint8Array(0), memsz: 0 }] });
    expect(parseElf(img).segments).toHaveLength(3);
  });
});

// --- item 8 and 12: the toolstack over the protocol, in-process ----------------------------

interface Machine {
  server: HypervisorServer;
  hvClose: () => Promise<void>;
  dom0: Dom0Handle;
  client: Peer;
  stateFile: string;
}

async function startMachine(name: string): Promise<Machine> {
  const token = 'hv-token-' + name;
  const server = new HypervisorServer({ token, pcpus: 1, machineMemoryBytes: 256 * MiB });
  const h = await server.start();
  const stateFile = join(dir, `${name}.xs.json`);
  const dom0 = await startDom0({ hypervisorUrl: h.url, hypervisorToken: token, clientToken: 'client-' + name, xenstoredPath: join(dir, `${name}.sock`), stateFile });
  const { peer: client } = await connect(dom0.url, 'client', 'client-' + name);
  return { server, hvClose: h.close, dom0, client, stateFile };
}

async function stopMachine(m: Machine | undefined): Promise<void> {
  if (!m) return;
  m.client.close();
  await m.dom0.close();
  await m.hvClose();
}

const disk = join(dir, 'disk.img');
writeFileSync(disk, new Uint8Array(64 * 1024));
const KERNEL = pvImage(SPIN);
const goodDevices = (): Device[] => [
  vbdDevice({ devid: 51712, path: disk, access: 'w', vdev: 'xvda' }),
  vifDevice({ devid: 0, mac: '00:16:3e:00:00:01', bridge: 'xenbr0' }),
];
const base = (over: Partial<CreateDomain> = {}): CreateDomain => ({ name: 'guest', kernel: KERNEL, memoryMib: 8, ...over });

async function xsList(p: Peer, path: string): Promise<string[]> {
  const r = await p.request('xenstore', { op: 'directory', path });
  if (r.rc !== 0) return [];
  return r.xenstore?.list ?? [];
}

/** What a create may leave behind: domains, XenStore nodes, machine frames, configs, open files. */
async function snapshot(m: Machine) {
  const doms = (await m.client.request('listDomains', {})).domains?.domains ?? [];
  const info = (await m.client.request('info', {})).info!;
  const backends: string[] = [];
  for (const kind of await xsList(m.client, '/local/domain/0/backend')) for (const id of await xsList(m.client, `/local/domain/0/backend/${kind}`)) backends.push(`${kind}/${id}`);
  const fds = readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === disk;
    } catch {
      return false;
    }
  });
  return {
    diskFds: fds.length,
    domains: doms.map((d) => d.name),
    localDomain: await xsList(m.client, '/local/domain'),
    vm: await xsList(m.client, '/vm'),
    backends,
    freePages: info.freePages,
    configs: readdirSync(`${m.stateFile}.domains`).filter((f) => f.startsWith('domain-')),
  };
}

/** Waits (bounded) for dom0 to finish acting on a destroy; returns the last snapshot. */
async function settled(m: Machine, want: Awaited<ReturnType<typeof snapshot>>) {
  let s = await snapshot(m);
  for (let i = 0; i < 100 && JSON.stringify(s) !== JSON.stringify(want); i++) {
    await new Promise((r) => setImmediate(r));
    s = await snapshot(m);
  }
  return s;
}

const ONES = 2 ** 32 - 1;
const withDevice = (patch: (d: Device[]) => void): Partial<CreateDomain> => {
  const devices = goodDevices();
  patch(devices);
  return { devices };
};

const HOSTILE: [string, Partial<CreateDomain>, RegExp][] = [
  ['weight 2^32-1', { weight: ONES }, /^weight: 4294967295 is out of range \(1-65535\)$/],
  ['cap 2^32-1', { cap: ONES }, /^cap: 4294967295 is out of range \(0-100, 100 x vcpus/],
  ['cap above 100 x vcpus', { cap: 201, vcpus: 2 }, /^cap: 201 is out of range \(0-200/],
  ['maxmem 2^32-1', { maxmemMib: ONES }, /^maxmem: 4294967295 MiB is out of range \(1-256 MiB, the machine's memory\)$/],
  ['maxmem below memory', { memoryMib: 16, maxmemMib: 8 }, /^maxmem: 8 MiB is below memory = 16 MiB$/],
  ['memory 0', { memoryMib: 0 }, /^memory: 0 MiB is out of range/],
  ['memory beyond the machine', { memoryMib: 300 }, /^memory: 300 MiB is out of range \(1-256 MiB, the machine's memory\)$/],
  ['1000 vcpus', { vcpus: 1000 }, /^vcpus: 1000 is out of range \(1-32\)$/],
  ['name ../../evil', { name: '../../evil' }, /^name: "..\/..\/evil" is not a domain name: use 1-64 of A-Z a-z 0-9 _ \. -$/],
  ['name of 5000 characters', { name: 'a'.repeat(5000) }, /^name: "a{80}\.\.\." is not a domain name/],
  ['an empty name', { name: '' }, /^name: a domain needs a name$/],
  ['an all-digit name', { name: '007' }, /^name: "007" is all digits/],
  ['the name ..', { name: '..' }, /^name: "\.\." is not a domain name: it is only dots$/],
  ['no kernel', { kernel: new Uint8Array(0) }, /^kernel: the request carries no kernel image$/],
  ['a kernel over 16 MiB', { kernel: new Uint8Array(MAX_KERNEL_BYTES + 1) }, /^kernel: 16777217 bytes is larger than 16 MiB/],
  ['a 2000-byte command line', { cmdline: 'x'.repeat(2000) }, /^cmdline: the command line is 2000 bytes; start_info holds at most 1023$/],
  ['on_reboot = explode', { onReboot: 'explode' }, /^on_reboot: unknown action "explode"; expected one of destroy, restart/],
  ['an unknown device kind', withDevice((d) => (d[0]!.kind = 'pci')), /^device 0: unknown device kind "pci" \(known: vbd, vif, or a user backend's type: device type pci is reserved for Xen's own backends\)$/],
  ['a device key ..', withDevice((d) => (d[0]!.backend['..'] = 'x')), /^device 0: backend key "\.\." is not a XenStore name/],
  ['a device key with /', withDevice((d) => (d[1]!.frontend['../../../../vm/x'] = 'x')), /^device 1: frontend key ".*" is not a XenStore name/],
  ['a device key the toolstack writes', withDevice((d) => (d[0]!.backend.frontend = '/local/domain/7/device/vbd/51712')), /^device 0: backend key "frontend" is written by the toolstack itself$/],
  ['a bad MAC', withDevice((d) => (d[1]!.backend.mac = d[1]!.frontend.mac = 'zz:zz')), /^device 1: mac "zz:zz" is not six colon-separated/],
  ['a multicast MAC', withDevice((d) => (d[1]!.backend.mac = d[1]!.frontend.mac = '01:00:5e:00:00:01')), /^device 1: mac 01:00:5e:00:00:01 is a multicast address/],
  ['backend and frontend MACs that differ', withDevice((d) => (d[1]!.frontend.mac = '00:16:3e:00:00:02')), /^device 1: backend mac .* and frontend mac .* differ$/],
  ['a bridge ../x', withDevice((d) => (d[1]!.backend.bridge = '../x')), /^device 1: bridge "\.\.\/x" is not an interface name/],
  ['a relative disk path', withDevice((d) => (d[0]!.backend.params = 'disk.img')), /^device 0: params "disk.img" is not an absolute path$/],
  ['a disk mode other than r or w', withDevice((d) => (d[0]!.backend.mode = 'rw!')), /^device 0: backend key mode must be "r" or "w"/],
  ['the same device twice', withDevice((d) => d.push(goodDevices()[0]!)), /^device 2: vbd 51712 is already device 0$/],
  ['65 devices', { devices: Array.from({ length: 65 }, (_, i) => vifDevice({ devid: i, mac: `00:16:3e:00:01:${i.toString(16).padStart(2, '0')}` })) }, /^65 devices; a domain may have at most 64$/],
];

describe('create requests from any client', { timeout: 30_000 }, () => {
  let m: Machine | undefined;
  beforeAll(async () => {
    m = await startMachine('table');
  });
  afterAll(() => stopMachine(m));

  it('a well-formed request with a disk and a vif creates a domain (the base of every hostile case)', async () => {
    const before = await snapshot(m!);
    const r = await m!.client.request('createDomain', base({ name: 'fine', devices: goodDevices(), paused: true }));
    expect(r.rc, r.error).toBe(0);
    expect((await snapshot(m!)).backends).toEqual(['vbd/1', 'vif/1']);
    expect((await m!.client.request('destroyDomain', { domid: r.domain!.domid })).rc).toBe(0);
    const after = await settled(m!, before);
    expect(withoutFds(after)).toEqual(withoutFds(before));
  });

  it('every hostile request gets a clear error and changes nothing', async () => {
    const before = await snapshot(m!);
    expect(before.domains).toEqual(['Domain-0']);
    for (const [what, patch, message] of HOSTILE) {
      const r = await m!.client.request('createDomain', base(patch));
      expect(r.rc, what).toBe(-22);
      expect(r.error, what).toMatch(message);
    }
    expect(await snapshot(m!)).toEqual(before);
    expect(m!.client.closed).toBe(false);
  });

  it('Domain-0 is listed with its vCPU, running (r-----), from the hypervisor\'s getdomaininfo', async () => {
    const d0 = (await m!.client.request('listDomains', {})).domains!.domains.find((d) => d.domid === 0)!;
    expect(d0.onlineVcpus).toBe(1);
    expect(d0.maxVcpuId).toBe(0);
    const row = formatList([{ name: d0.name, domid: 0, memMiB: 0, vcpus: d0.onlineVcpus, flags: d0.flags, cpuTimeNs: d0.cpuTimeNs }]).split('\n')[1]!;
    expect(row).toMatch(/^Domain-0\s+0\s+0\s+1\s+r-----\s+0\.0$/);
  });
});

/** Open descriptors of the disk image are compared on their own. */
const withoutFds = <T extends { diskFds: number }>(s: T): Omit<T, 'diskFds'> => {
  const { diskFds: _fds, ...rest } = s;
  return rest;
};

describe('a create that fails after its domain was made', { timeout: 30_000 }, () => {
  let m: Machine | undefined;
  let diskFdsAfterRollback = -1;
  beforeAll(async () => {
    m = await startMachine('rollback');
  });
  afterAll(() => stopMachine(m));

  it('is rolled back: no domain, no XenStore nodes, no frames, no config, no open image', async () => {
    const before = await snapshot(m!);
    // dom0 cannot record the domain's config (its directory became a file): the last step
    // before the guest would run fails, after the domain, its XenStore nodes and devices exist.
    const configs = `${m!.stateFile}.domains`;
    rmSync(configs, { recursive: true });
    writeFileSync(configs, 'not a directory');
    const r = await m!.client.request('createDomain', base({ name: 'doomed', devices: goodDevices() }));
    expect(r.rc).toBe(-5);
    expect(r.error).toMatch(/ENOTDIR.*\(domain 1 destroyed; nothing was kept\)$/);
    rmSync(configs);
    mkdirSync(configs);
    const after = await settled(m!, before);
    expect(withoutFds(after)).toEqual(withoutFds(before));
    diskFdsAfterRollback = after.diskFds - before.diskFds;
    // The same request works once dom0 can write again, and reuses nothing stale.
    const ok = await m!.client.request('createDomain', base({ name: 'doomed', devices: goodDevices(), paused: true }));
    expect(ok.rc).toBe(0);
    expect(ok.domain!.domid).toBe(2);
  });

  // blkback opens an image when its device appears (before InitWait) and closes it only when
  // dom0 stops: issue 9 item 5, fixed on another branch. Once that fix is merged this
  // "fails" (passes): make it a plain `it`.
  it('leaves no descriptor of the disk image open', () => {
    expect(diskFdsAfterRollback).toBe(0);
  });
});

describe('a kernel of 16 MiB travels in one request', { timeout: 30_000 }, () => {
  let m: Machine | undefined;
  afterAll(() => stopMachine(m));
  it('is built (the frame limit leaves room for it and for the mfn list)', async () => {
    m = await startMachine('big');
    const enc = new TextEncoder();
    // A PV image of 16 MiB less its headers: one big segment of code plus data.
    const head = 4096;
    const data = new Uint8Array(MAX_KERNEL_BYTES - head);
    data.set(SPIN, 0);
    const kernel = writeElf({
      entry: PV_BASE,
      segments: [{ vaddr: PV_BASE, data }],
      notes: [
        { name: 'Xen', type: XEN_ELFNOTE.GUEST_OS, desc: enc.encode('test\0') },
        { name: 'Xen', type: XEN_ELFNOTE.VIRT_BASE, desc: u32Bytes(PV_BASE) },
      ],
    });
    expect(kernel.length).toBeLessThanOrEqual(MAX_KERNEL_BYTES);
    const r = await m.client.request('createDomain', base({ name: 'big', kernel, memoryMib: 64, paused: true }));
    expect(r.rc, r.error).toBe(0);
  });
});

// --- with real processes -------------------------------------------------------------------

describe('pvsim up: hostile creates and xl list', { timeout: 60_000 }, () => {
  const running: ChildProcess[] = [];
  afterAll(() => {
    for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  const up = async () => (await startUp(['--pcpus', '1', '--memory', '256'], { tmpdir: dir, children: running })).env;
  const xl = (env: Record<string, string>, ...args: string[]) => {
    const r = spawnSync(process.execPath, [PVSIM, 'xl', ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: dir, ...env } });
    return { status: r.status, out: r.stdout, err: r.stderr };
  };

  it('refuses a raw client\'s hostile create and kernel=/dev/zero clearly; xl list shows Domain-0 with 1 vCPU, r-----, and nothing new', async () => {
    const env = await up();
    const token = spawnSync('cat', [env.PVSIM_TOKEN_FILE!], { encoding: 'utf8' }).stdout.trim();
    const { peer } = await connect(env.PVSIM_URL!, 'client', token);
    try {
      const r = await peer.request('createDomain', base({ name: '../../evil', onReboot: 'explode' }));
      expect(r.rc).toBe(-22);
      expect(r.error).toMatch(/^name: "..\/..\/evil" is not a domain name/);
      const keyed = await peer.request('createDomain', base({ name: 'keyed', ...withDevice((d) => (d[0]!.backend['..'] = 'x')) }));
      expect(keyed.error).toMatch(/^device 0: backend key "\.\." is not a XenStore name/);
      expect(await xsList(peer, '/local/domain')).toEqual(['0']);
      expect(await xsList(peer, '/local/domain/0/backend')).toEqual([]);
    } finally {
      peer.close();
    }
    const cfg = join(dir, 'zero.cfg');
    writeFileSync(cfg, 'name = "zero"\nkernel = "/dev/zero"\nmemory = 8\n');
    const t0 = performance.now();
    const c = xl(env, 'create', cfg);
    expect(c.status).toBe(1);
    expect(c.err).toBe(`xl: ${cfg}: kernel: /dev/zero is a character device, not a regular file\n`);
    expect(performance.now() - t0).toBeLessThan(15_000);
    const list = xl(env, 'list');
    expect(list.status).toBe(0);
    expect(list.out.split('\n').filter(Boolean)).toHaveLength(2); // the header and Domain-0
    expect(list.out).toMatch(/^Domain-0\s+0\s+\d+\s+1\s+r-----\s+\d+\.\d$/m);
  });

  it('pvsim run-bare /dev/zero fails at once, naming the file', () => {
    const r = spawnSync(process.execPath, [PVSIM, 'run-bare', '/dev/zero'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(4);
    expect(r.stderr).toBe('pvsim run-bare: /dev/zero is a character device, not a regular file\n');
  });
});

afterAll(() => {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

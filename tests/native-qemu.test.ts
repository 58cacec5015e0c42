// The native kernel (guests/build/native.elf) boots unchanged on QEMU's riscv32 `virt`
// machine under our SBI firmware (guests/build/sbi.elf) and prints, for every workload it
// has, the same check= checksum as the PV kernel (guests/build/work.elf) under pvsim for
// the same parameters. Also pins the boot contract an HVM board must honour (entry and
// load address, no Xen notes) and the failure path (SRST with a failure reason).
// One test puts the five side by side for every workload and parameter set: QEMU, and under
// pvsim the PV kernel, the native kernel in an HVM domain in trap mode with each shadow
// policy, and in hw mode (the H extension).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { parseElf } from '../xenguest/elf.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { addDevice, vbdDevice } from '../dom0/toolstack/devices.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = join(ROOT, 'guests/build/native.elf');
const SBI = join(ROOT, 'guests/build/sbi.elf');
const WORK = readFileSync(join(ROOT, 'guests/build/work.elf'));
const QEMU = 'qemu-system-riscv32';
const QEMU_TIMEOUT_MS = 20_000;

/** Small parameters: every QEMU boot takes well under a second. */
const CASES = [
  'work=cpu n=10',
  'work=spin n=1000',
  'work=syscall n=100',
  'work=syscall n=50 as=private',
  'work=ctxsw n=50',
  'work=ctxsw n=20 as=kernel',
  'work=user-hello',
  'work=user-hello as=private',
  'work=pt n=100 batch=8',
  'work=pt n=30 batch=3 frames=5',
  'work=pgfault n=10',
  'work=pgfault n=3 pages=5',
  'work=timer n=5 period_us=1000',
  'work=timer n=3 period_us=500 wait=poll',
  // The workloads of `pvsim compare` (docs/compare.md, "Workloads").
  'work=irq n=1000',
  'work=timerlat n=10',
  'work=timerlat n=5 delay_us=50',
  'work=fork n=10',
  'work=fork n=4 pages=8',
  'work=shell n=12',
  'work=tlbwalk size=1M steps=5000',
  'work=tlbwalk size=4M steps=5000 mega',
];

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The workload's result line (the one starting with `work=<name> `). */
function resultLine(output: string, cmdline: string): string | undefined {
  const name = cmdline.split(' ')[0]!;
  return output.split('\n').find((l) => l.startsWith(`${name} `));
}

/** The result line's check= (every workload's cross-mode checksum); where the line also has
 * the older result=, the two must agree. */
function checksum(line: string | undefined): string | undefined {
  const check = line?.match(/ check=(0x[0-9a-f]{8})(?: |$)/)?.[1];
  const result = line?.match(/ result=(0x[0-9a-f]{8})(?: |$)/)?.[1];
  if (result !== undefined && result !== check) return `result=${result} but check=${check}`;
  return check;
}

function runPv(cmdline: string): { output: string; reason: string | null } {
  const hv = new Hypervisor({ machineMemoryBytes: 64 * 1024 * 1024 });
  let output = '';
  hv.onConsole = (_d, b) => {
    output += new TextDecoder().decode(b);
  };
  const d = hv.createPvDomain(WORK, { name: 'pv', memoryBytes: 16 * 1024 * 1024, cmdline }).domain;
  hv.unpause(d);
  hv.run({ until: 5_000_000_000 });
  return { output, reason: d.shutdownReason };
}

type PvsimRun = 'pv' | 'trap-wp' | 'trap-lazy' | 'hw';
const PVSIM_RUNS: readonly PvsimRun[] = ['pv', 'trap-wp', 'trap-lazy', 'hw'];
const NATIVE_IMAGE = readFileSync(NATIVE);

/** One workload in one kind of pvsim domain (in-process, the path `xl create` ends in). */
function runPvsim(kind: PvsimRun, cmdline: string): { output: string; reason: string | null } {
  if (kind === 'pv') return runPv(cmdline);
  const hv = new Hypervisor({ machineMemoryBytes: 64 * 1024 * 1024 });
  let output = '';
  hv.onConsole = (_d, b) => {
    output += new TextDecoder().decode(b);
  };
  const hvm = kind === 'hw' ? { mode: 'hw' as const, shadowSync: 'wp' as const } : { mode: 'trap' as const, shadowSync: kind === 'trap-wp' ? ('wp' as const) : ('lazy' as const) };
  const d = hv.createHvmDomain(NATIVE_IMAGE, { name: kind, memoryBytes: 16 * 1024 * 1024, cmdline, hvm });
  hv.unpause(d);
  hv.run({ until: 5_000_000_000 });
  return { output, reason: d.shutdownReason };
}

function runQemu(cmdline: string, extra: string[] = []) {
  const r = spawnSync(QEMU, ['-machine', 'virt', '-nographic', '-bios', SBI, '-kernel', NATIVE, '-append', cmdline, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: QEMU_TIMEOUT_MS,
  });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('native.elf boot contract', () => {
  it('is linked and loaded at 0x80400000, entered at its start, with no Xen notes', () => {
    const elf = parseElf(readFileSync(NATIVE));
    expect(elf.entry).toBe(0x80400000);
    const loads = elf.segments.filter((s) => s.memsz > 0);
    expect(Math.min(...loads.map((s) => s.paddr))).toBe(0x80400000);
    for (const s of loads) expect(s.paddr).toBe(s.vaddr);
    expect(elf.notes.filter((n) => n.name === 'Xen')).toEqual([]);
  });

  it('the firmware sits below the kernel at the start of RAM', () => {
    const elf = parseElf(readFileSync(SBI));
    expect(elf.entry).toBe(0x80000000);
    for (const s of elf.segments) expect(s.paddr + s.memsz).toBeLessThanOrEqual(0x80400000);
  });
});

describe('native.elf and work.elf: one check= everywhere', () => {
  it('every workload prints the same check= on QEMU, PV, trap (wp, lazy) and hw, and powers off', { timeout: 240_000 }, () => {
    const qemu = onPath(QEMU);
    for (const cmdline of CASES) {
      const got: Record<string, string | undefined> = {};
      const lines: Record<string, string | undefined> = {};
      for (const kind of PVSIM_RUNS) {
        const r = runPvsim(kind, cmdline);
        const line = resultLine(r.output, cmdline);
        expect(r.reason, `${cmdline} (${kind}): ${r.output.slice(-400)}`).toBe('poweroff');
        got[kind] = checksum(line);
        lines[kind] = line;
        expect(got[kind], `${cmdline} (${kind}): ${line}`).toMatch(/^0x[0-9a-f]{8}$/);
      }
      if (qemu) {
        const q = runQemu(cmdline);
        expect(q.status, `${cmdline} on QEMU: ${q.output}`).toBe(0);
        lines.qemu = resultLine(q.output, cmdline);
        got.qemu = checksum(lines.qemu);
      }
      expect(Object.keys(got).length, cmdline).toBe(qemu ? 5 : 4);
      const want = got.pv;
      expect(got, cmdline).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, want])));
      if (cmdline.includes(' mega')) {
        // Xen PV gives guests no superpages (nor does pvsim's PV MMU): the PV kernel walks
        // 4 KiB pages and says so; the native kernel gets its megapages everywhere.
        for (const [kind, line] of Object.entries(lines)) expect(line, kind).toMatch(kind === 'pv' ? / pages=4k / : / pages=4m /);
      }
    }
  });
});

describe.skipIf(!onPath(QEMU))('native.elf on qemu-system-riscv32 -machine virt', () => {
  it('finds its board in the device tree and uses SBI DBCN', () => {
    const q = runQemu('work=spin n=1', ['-m', '64M']);
    expect(q.status, q.output).toBe(0);
    expect(q.output).toMatch(/^native: hart 0, SBI 2\.0 \(impl 0x70767369\), console SBI DBCN/m);
    expect(q.output).toMatch(/^native: memory 0x80000000\+0x4000000, 1 cpu\(s\), timebase 10000000 Hz$/m);
    expect(q.output).toMatch(/uart 0x10000000 .*clint 0x02000000, plic 0x0c000000 .*8 virtio-mmio slot\(s\) from 0x10001000$/m);
  });

  it('a failing workload shuts down with a failure reason (QEMU exit status 1)', () => {
    for (const cmdline of ['work=pt batch=0', 'work=grant', 'nothing=here', 'work=pgfault n=2 pages=4 overrun=1', 'work=blk dev=scsi', 'work=fork pages=9', 'work=tlbwalk size=6M mega', 'work=tlbwalk size=9M', 'work=timerlat n=0']) {
      const q = runQemu(cmdline);
      expect(q.status, `${cmdline}: ${q.output}`).toBe(1);
      expect(q.output).toMatch(/^work(=\S+)?: (FAILED|no work=)/m);
    }
  });
});

// Guest drivers for emulated devices (docs/fullvirt.md): virtio-blk and virtio-net on QEMU's
// virt machine. QEMU 7.2's virtio-mmio defaults to the legacy interface (version 1); the
// driver follows the virtio 1.2 spec's transport (version 2), hence force-legacy=false.
const VIRTIO_V2 = ['-global', 'virtio-mmio.force-legacy=false'];
const MiB = 1024 * 1024;
const DISK_BYTES = 4 * MiB;
const tmp = mkdtempSync(join(tmpdir(), 'pvsim-native-dev-'));
let disks = 0;

function newDisk(): string {
  const path = join(tmp, `disk${disks++}.img`);
  writeFileSync(path, Buffer.alloc(DISK_BYTES));
  return path;
}

/** work=blk in a PV domain against dom0's blkback (in-process), on a fresh disk file. */
async function runPvBlk(args: string): Promise<{ log: string; reason: string | null; path: string }> {
  const hv = new Hypervisor({ machineMemoryBytes: 128 * MiB });
  const daemons = startLocalDom0(hv);
  const path = newDisk();
  const d = hv.createPvDomain(WORK, { name: 'blk', memoryBytes: 16 * MiB, cmdline: `work=blk ${args}` }).domain;
  addDevice(daemons.xs, d.domid, vbdDevice({ devid: 51712, path, access: 'w', vdev: 'xvda' }));
  hv.unpause(d);
  await hv.runAsync();
  return { log: hv.dmesg().filter((l) => l.startsWith('(d1)')).join('\n'), reason: d.shutdownReason, path };
}

function runQemuBlk(args: string, path: string, extra: string[] = VIRTIO_V2) {
  return runQemu(`work=blk ${args}`, [...extra, '-drive', `file=${path},format=raw,if=none,id=d0`, '-device', 'virtio-blk-device,drive=d0,serial=pvsim-d0']);
}

/** Runs a QEMU asynchronously (two must run at once for a socket pair). */
function qemuAsync(cmdline: string, extra: string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const p = spawn(QEMU, ['-machine', 'virt', '-nographic', '-bios', SBI, '-kernel', NATIVE, '-append', cmdline, ...VIRTIO_V2, ...extra], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (b: Buffer) => (output += b.toString()));
    p.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), QEMU_TIMEOUT_MS);
    p.on('close', (status) => {
      clearTimeout(t);
      resolve({ status, output });
    });
  });
}

describe('native.elf drivers on pvsim HVM boards without devices yet', () => {
  it('work=blk and work=net probe the empty virtio slots (device ID 0), say there is no device and power off', () => {
    for (const kind of ['trap-wp', 'hw'] as const) {
      const r = runPvsim(kind, 'work=blk,net');
      expect(r.reason, `${kind}: ${r.output}`).toBe('poweroff');
      expect(r.output).toMatch(/^work=blk: no disk \(virtio-blk or ata\) device$/m);
      expect(r.output).toMatch(/^work=net: no virtio-net device$/m);
    }
  });
});

describe.skipIf(!onPath(QEMU))('native.elf drivers for emulated devices on QEMU virt', () => {
  it('work=blk over virtio-blk writes, flushes, reads back and verifies: the same result= and the same disk bytes as PV blkfront', { timeout: 60_000 }, async () => {
    for (const args of ['mode=rand bs=8192 qd=4 n=64 region=2048', 'mode=seq bs=65536 qd=32 n=40 region=2048 persistent=0', 'mode=seq bs=512 qd=1 n=16 region=64', 'mode=rand bs=4096 qd=32 n=64 region=2048', 'mode=rand bs=4096 qd=1 n=16 region=2048']) {
      const path = newDisk();
      const q = runQemuBlk(args, path);
      expect(q.status, `${args}: ${q.output}`).toBe(0);
      expect(q.output).toMatch(/^blk: virtio-blk at 0x1000[1-8]000, irq [1-8], 8192 sectors, queue \d+, max-inflight \d+, features 0x\w+ \(indirect 1, event-idx 1, flush 1\), id "pvsim-d0"$/m);
      const ql = resultLine(q.output, 'work=blk');
      const n = /n=(\d+)/.exec(args)![1];
      expect(ql).toMatch(new RegExp(`writes=${n} reads=${n} errors=0 `));
      // Per-request latencies: every request is in the histogram (guests/work/latency.c).
      expect(ql).toMatch(new RegExp(` lat_samples=${2 * Number(n)} lat_p50_ns=\\d+ lat_p99_ns=\\d+ lat_max_ns=\\d+ lat_hist_ns=\\d+:\\d+(,\\d+:\\d+)* checksum=`));
      const hist = (/ lat_hist_ns=(\S+)/.exec(ql ?? '')?.[1] ?? '').split(',').map((b) => Number(b.split(':')[1] ?? 'NaN'));
      expect(hist.reduce((a, b) => a + b, 0)).toBe(2 * Number(n));
      const pv = await runPvBlk(args);
      expect(pv.reason, pv.log).toBe('poweroff');
      const pl = resultLine(pv.log.replace(/^\(d1\) /gm, ''), 'work=blk');
      expect(checksum(ql), `${args}: QEMU ${ql}, PV ${pl}`).toBe(checksum(pl));
      expect(checksum(ql)).toBeDefined();
      expect(readFileSync(path).equals(readFileSync(pv.path)), `${args}: disk contents`).toBe(true);
    }
  });

  it('work=blk without a disk says so and powers off; dev=legacy without an ata-generic node too; a legacy virtio-mmio device is refused', () => {
    const none = runQemu('work=blk');
    expect(none.status, none.output).toBe(0);
    expect(none.output).toMatch(/^work=blk: no disk \(virtio-blk or ata\) device$/m);
    const ata = runQemu('work=blk dev=legacy');
    expect(ata.status, ata.output).toBe(0);
    expect(ata.output).toMatch(/^work=blk: no ata device$/m);
    const legacy = runQemuBlk('n=4', newDisk(), []);
    expect(legacy.status, legacy.output).toBe(1);
    expect(legacy.output).toMatch(/virtio: slot 0x\w+: device 2 has MMIO version 1, not 2; skipped/);
  });

  it('work=net over virtio-net: QEMU user networking answers ARP and ping at 10.0.2.2 and takes the UDP stream', () => {
    const q = runQemu('work=net ip=10.0.2.15 peer=10.0.2.2 ping=3 udp=5 size=100 wait_ms=200', [...VIRTIO_V2, '-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0']);
    expect(q.status, q.output).toBe(0);
    expect(q.output).toMatch(/^net: virtio-net at 0x\w+, irq \d, mac 52:54:00:12:34:56, .*; ip 10\.0\.2\.15, peer 10\.0\.2\.2$/m);
    expect(resultLine(q.output, 'work=net')).toMatch(/ pings=3 replies=3 lost=0 .* udp_tx=5 udp_tx_bytes=500 .* tx_errors=0 /);
  });

  it('work=net between two QEMUs on a socket pair: both ping and stream UDP to each other and finish', { timeout: 60_000 }, async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const args = (me: number, peer: number) => `work=net ip=10.0.0.${me} peer=10.0.0.${peer} ping=5 udp=50 wait_ms=5000`;
    const a = qemuAsync(args(1, 2), ['-netdev', `socket,id=n0,listen=127.0.0.1:${port}`, '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:00:00:01']);
    // The listener must be up before the other connects; ARP retries cover a late peer.
    await new Promise((r) => setTimeout(r, 500));
    const b = qemuAsync(args(2, 1), ['-netdev', `socket,id=n0,connect=127.0.0.1:${port}`, '-device', 'virtio-net-device,netdev=n0,mac=52:54:00:00:00:02']);
    for (const r of await Promise.all([a, b])) {
      expect(r.status, r.output).toBe(0);
      expect(resultLine(r.output, 'work=net')).toMatch(/ pings=5 replies=5 lost=0 .* udp_tx=50 udp_tx_bytes=51200 udp_rx=50 udp_rx_bytes=51200 tx_errors=0 /);
      expect(r.output).not.toMatch(/did not finish/);
    }
  });
});

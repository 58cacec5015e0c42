// The device model in `npm run bench` (issue 13 item 8): block and network I/O of an HVM
// domain through dom0's emulated devices (virtio-blk, virtio-net, the legacy ATA disk),
// beside the PV split drivers measured the same way in the same run. dom0 in-process; HVM
// domains run native.elf in hw mode (the H extension), PV domains work.elf.
//   blk_iops_4k_qd32_virtio (and _virtual): work=blk mode=rand bs=4096 qd=32 n=2000 over
//     virtio-blk; wall = requests per wall second of the whole run, virtual = per second of
//     the guest's own ns= (its I/O phase);
//   blk_iops_4k_qd1_legacy (and _virtual): the same at qd 1 over the ATA disk (n=25: every
//     register access is an exit, about 2,075 per 4 KiB request);
//   net_ping_rtt_per_s_virtio (and _virtual): 2,000 echo round trips between two HVM
//     domains' virtio-net devices on xenbr0; virtual over the span of the echo requests in
//     the bridge's capture (as net_ping_rtt_per_s for two PV domains);
//   exits_per_blk_request_{pv,virtio,legacy}, ns_per_blk_request_{pv,virtio,legacy}: virtual;
//     work=blk mode=rand bs=4096 qd=1 run twice (n = N and n = 3N), the difference divided
//     by the 4N requests it adds (boot and set-up cancel out). Exits are the guest's entries
//     into the hypervisor: an HVM domain's world switches, a PV domain's hypercalls and traps
//     (a PV guest has no VM exits; those are its transitions).
// Run directly: `npx tsx bench/devicemodel.ts` (JSON on stdout).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { addDevice, vbdDevice, vifDevice } from '../dom0/toolstack/devices.ts';
import { framesFromA, runNetPair } from './net_pair.ts';

const MiB = 1024 * 1024;
const WORK = 'guests/build/work.elf';
const NATIVE = 'guests/build/native.elf';

export type BlkPath = 'pv' | 'virtio' | 'legacy';
export const BLK_PATHS: readonly BlkPath[] = ['pv', 'virtio', 'legacy'];

/** One work=blk run on `path`: the guest's line, its virtual ns, its entries into the hypervisor, wall seconds. */
export async function blkRun(path: BlkPath, cmdline: string): Promise<{ ops: number; ns: number; exits: number; wallSeconds: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-dm-'));
  try {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
    // An HVM guest's console reaches dom0's console backend; a PV guest's also the hypervisor's.
    let out = '';
    const daemons = startLocalDom0(hv, { onConsole: (_d, b) => (out += Buffer.from(b).toString('latin1')) });
    const disk = join(dir, 'disk.img');
    let d: Domain;
    if (path === 'pv') {
      d = hv.createPvDomain(readFileSync(WORK), { name: 'pv', memoryBytes: 16 * MiB, cmdline }).domain;
      addDevice(daemons.xs, d.domid, vbdDevice({ devid: 51712, path: disk, access: 'w', vdev: 'xvda' }));
    } else {
      const emulation = path === 'legacy' ? 'ata' : 'virtio';
      d = hv.createHvmDomain(readFileSync(NATIVE), {
        name: path,
        memoryBytes: 16 * MiB,
        cmdline: `${cmdline} dev=${path}`,
        vcpus: 1,
        devices: [vbdDevice({ devid: 51712, path: disk, access: 'w', vdev: 'xvda', emulation })],
        hvm: { mode: 'hw', shadowSync: 'wp', ata: path === 'legacy' },
      });
    }
    hv.unpause(d);
    const t0 = performance.now();
    await hv.runAsync();
    const wallSeconds = (performance.now() - t0) / 1000;
    daemons.close();
    const line = [...out.split('\n'), ...hv.dmesg()].find((l) => l.includes('work=blk mode='));
    const m = line && /writes=(\d+) reads=(\d+) errors=0 ns=(\d+)/.exec(line);
    if (d.shutdownReason !== 'poweroff' || !m) throw new Error(`${path} ${cmdline}: work=blk failed: ${out.slice(-300)} ${hv.dmesg().slice(-3).join(' | ')}`);
    let exits = 0;
    if (path === 'pv') {
      for (const v of d.vcpus) {
        exits += v.stats.hypercalls;
        for (const [cause, n] of v.stats.traps) if (cause !== 9) exits += n; // 9: the hypercalls themselves
      }
    } else exits = (d.hvm as HvmBoard).stats.exits;
    return { ops: Number(m[1]) + Number(m[2]), ns: Number(m[3]), exits, wallSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Two HVM domains (hw mode) pinging over their virtio-net devices on xenbr0, dom0 in-process, the bridge captured. */
export async function virtioPing(pings: number): Promise<{ perSecond: number; perSecondVirtual: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-dm-net-'));
  try {
    const pcap = join(dir, 'net.pcap');
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB, pcpus: 2 });
    const daemons = startLocalDom0(hv, { pcap });
    const image = readFileSync(NATIVE);
    const mk = (name: string, ip: string, peer: string, mac: string, extra: string) =>
      hv.createHvmDomain(image, { name, memoryBytes: 16 * MiB, cmdline: `work=net ip=${ip} peer=${peer} ${extra}`, vcpus: 1, devices: [vifDevice({ devid: 0, mac, emulation: 'virtio' })], hvm: { mode: 'hw', shadowSync: 'wp' } });
    const { a, b, seconds } = await runNetPair(hv, daemons, mk, `ping=${pings} udp=0`);
    if (a.shutdownReason !== 'poweroff' || b.shutdownReason !== 'poweroff') throw new Error(`virtio ping failed: ${hv.dmesg().slice(-6).join(' | ')}`);
    // Echo requests from a (10.0.0.1) in the capture.
    const frames = framesFromA(readFileSync(pcap), 'ping');
    if (frames.length < 2) throw new Error('no echo requests captured');
    const virtualSeconds = (frames[frames.length - 1]!.timeNs - frames[0]!.timeNs) / 1e9;
    return { perSecond: frames.length / seconds, perSecondVirtual: frames.length / virtualSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every key of this file. */
export const DEVICEMODEL_KEYS = [
  'blk_iops_4k_qd32_virtio', 'blk_iops_4k_qd32_virtio_virtual', 'blk_iops_4k_qd1_legacy', 'blk_iops_4k_qd1_legacy_virtual',
  'net_ping_rtt_per_s_virtio', 'net_ping_rtt_per_s_virtio_virtual',
  ...BLK_PATHS.flatMap((p) => [`exits_per_blk_request_${p}`, `ns_per_blk_request_${p}`]),
];

export async function devicemodelBench(log: (m: string) => void = () => {}, want: (key: string) => boolean = () => true): Promise<Record<string, number>> {
  const r: Record<string, number> = {};
  const iops = async (key: string, path: BlkPath, qd: number, n: number) => {
    if (!want(key)) return;
    log(`devicemodel: ${key}: work=blk bs=4096 qd=${qd} n=${n} over ${path}...`);
    const x = await blkRun(path, `work=blk mode=rand bs=4096 qd=${qd} n=${n} region=${(64 * MiB) / 512}`);
    r[key] = Math.round(x.ops / x.wallSeconds);
    r[`${key}_virtual`] = Math.round(x.ops / (x.ns / 1e9));
  };
  await iops('blk_iops_4k_qd32_virtio', 'virtio', 32, 2000);
  await iops('blk_iops_4k_qd1_legacy', 'legacy', 1, 25);
  if (want('net_ping_rtt_per_s_virtio')) {
    log('devicemodel: net_ping_rtt_per_s_virtio: 2,000 pings between two virtio-net HVM domains...');
    const p = await virtioPing(2000);
    r.net_ping_rtt_per_s_virtio = Math.round(p.perSecond);
    r.net_ping_rtt_per_s_virtio_virtual = Math.round(p.perSecondVirtual);
  }
  for (const path of BLK_PATHS) {
    if (!want(`exits_per_blk_request_${path}`) && !want(`ns_per_blk_request_${path}`)) continue;
    // The legacy disk pays ~2,075 exits a request: fewer requests say as much.
    const n = path === 'legacy' ? 4 : 20;
    log(`devicemodel: per-request cost over ${path}: work=blk qd=1 n=${n} and n=${3 * n}...`);
    const small = await blkRun(path, `work=blk mode=rand bs=4096 qd=1 n=${n}`);
    const large = await blkRun(path, `work=blk mode=rand bs=4096 qd=1 n=${3 * n}`);
    const requests = large.ops - small.ops; // 4n: 2n more writes and 2n more reads
    r[`exits_per_blk_request_${path}`] = Number(((large.exits - small.exits) / requests).toFixed(2));
    r[`ns_per_blk_request_${path}`] = Math.round((large.ns - small.ns) / requests);
  }
  return r;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(JSON.stringify(await devicemodelBench((m) => process.stderr.write(m + '\n')), null, 2) + '\n');
}

// HVM domains' emulated devices with dom0 as its own process (`pvsim up`): every register
// access crosses the socket as an IOREQ hot frame. The native kernel reads, writes, flushes
// and verifies a virtio-blk disk and the legacy ATA disk. Then dom0 is killed with SIGKILL:
// what the guests' FLUSH (virtio) and FLUSH CACHE (ATA) acknowledged is in the image files,
// the restarted dom0 makes the device model again for every HVM domain, the vCPU waiting on
// an ioreq the dead dom0 took is answered by the new one, and a guest mid-I/O on virtio sees
// DEVICE_NEEDS_RESET (its driver fails the request with EIO) instead of hanging.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startUp, hvmCfg, upChildren, type RunningUp, xlWithin } from './helpers/pvsim_up.ts';
import { daemonOf, processTag, waitFor } from './helpers/procs.ts';
import { connect } from '../protocol/session.ts';
import { readToken } from '../cli/runtime.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-hvmdev-proc-'));
const children = upChildren();
const tag = processTag('hvmdev-proc');
afterAll(() => {
  for (const p of tag.left()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

const cfg = (name: string, extra: string) => hvmCfg(dir, name, extra);

const xl = xlWithin(60_000);

/** MMIO exits of an HVM domain so far (over the protocol: no process per look). */
async function mmioExits(u: RunningUp, name: string): Promise<number> {
  const { peer } = await connect(u.env.PVSIM_URL!, 'client', readToken(u.env.PVSIM_TOKEN_FILE!));
  try {
    const r = await peer.request('hvmStats', { name });
    return r.hvmStats?.domains[0]?.exits.find((e) => e.reason === 'mmio')?.count ?? 0;
  } finally {
    peer.close();
  }
}

/** work=blk's pattern (guests/work/blk.c): word w of sector s. */
const pattern = (sector: number, w: number) => (Math.imul(sector, 0x9e3779b9) ^ Math.imul(w, 0x85ebca6b) ^ 0x424c4b21) >>> 0;
/** Sectors of `img` holding data: each must be work=blk's pattern, word for word. */
function writtenSectors(img: string): number {
  const bytes = readFileSync(img);
  let written = 0;
  for (let s = 0; s * 512 < bytes.length; s++) {
    let zero = true;
    for (let w = 0; w < 128 && zero; w++) zero = bytes.readUInt32LE(s * 512 + w * 4) === 0;
    if (zero) continue;
    written++;
    for (let w = 0; w < 128; w++) expect(bytes.readUInt32LE(s * 512 + w * 4), `sector ${s} word ${w}`).toBe(pattern(s, w));
  }
  return written;
}

describe('emulated devices with dom0 as its own process', () => {
  it('serves virtio-blk and the legacy disk over the ioreq wire; after kill -9 of dom0 flushed data is on disk and the device model is made again', async () => {
    const u = await startUp(['--pcpus', '2', '--speed', '20'], { tmpdir: dir, children, env: tag.env });
    const vioImg = join(dir, 'vio.img');
    const ataImg = join(dir, 'ata.img');
    const longImg = join(dir, 'long.img');
    const a = xl(u, 'create', cfg('vio', `hvm_mode = "hw"\ncmdline = "work=blk mode=rand bs=4096 qd=4 n=24"\ndisk = [ '${vioImg},raw,xvda,w' ]\n`));
    expect(a.err).toBe('');
    const b = xl(u, 'create', cfg('ata', `cmdline = "work=blk mode=seq bs=512 qd=1 n=6 dev=legacy"\ndisk = [ '${ataImg},raw,hda,w,devtype=legacy' ]\n`));
    expect(b.err).toBe('');
    // xl console follows each until it shuts down: both verified what they wrote after a flush.
    expect(xl(u, 'console', 'vio').out).toMatch(/work=blk mode=rand bs=4096 qd=4 n=24 writes=24 reads=24 errors=0/);
    expect(xl(u, 'console', 'ata').out).toMatch(/work=blk mode=seq bs=512 qd=1 n=6 writes=6 reads=6 errors=0/);
    expect(await mmioExits(u, 'ata')).toBeGreaterThan(6 * 2 * 256);

    // A third guest is mid-I/O on virtio when dom0 dies.
    expect(xl(u, 'create', cfg('long', `hvm_mode = "hw"\ncmdline = "work=blk mode=rand bs=4096 qd=1 n=400"\non_crash = "preserve"\ndisk = [ '${longImg},raw,xvda,w' ]\n`)).err).toBe('');
    expect(await waitFor(async () => (await mmioExits(u, 'long')) >= 120, 30_000, 50)).toBe(true);
    const dom0 = daemonOf(u.proc.pid!, 'dom0');
    expect(dom0).toBeDefined();
    process.kill(dom0!.pid, 'SIGKILL');

    // What FLUSH and FLUSH CACHE acknowledged is in the files, whatever the dead dom0 held.
    expect(writtenSectors(vioImg)).toBeGreaterThan(24);
    expect(writtenSectors(ataImg)).toBe(6);

    expect(await waitFor(() => /dom0 exited unexpectedly \(SIGKILL\); restarting it/.test(u.stderr.join('\n')), 30_000, 50)).toBe(true);
    // The restarted dom0 makes each HVM domain's device model again.
    const remade = await waitFor(() => ['vio', 'ata', 'long'].every((n) => new RegExp(`d\\d+ ${n}: device model made again`).test(u.stderr.join('\n'))), 30_000, 50);
    expect(remade, u.stderr.join('\n')).toBe(true);
    const log = u.stderr.join('\n');
    expect(log).toMatch(/d\d+ ata: device model made again \(0 virtio device\(s\) report DEVICE_NEEDS_RESET, the ATA disk is as after a power-on reset\)/);
    expect(log).toMatch(/d\d+ long: device model made again \(1 virtio device\(s\) report DEVICE_NEEDS_RESET\)/);
    // The guest mid-I/O: its driver sees DEVICE_NEEDS_RESET and fails each request with EIO
    // (no hang). The native kernel's driver never resets the device (as Linux's does not)
    // and never reuses a slot the device may still own, so once its 128 slots are spent
    // work=blk gives up: the domain crashes (on_crash = "preserve" keeps it listed).
    expect(await waitFor(() => /long\s+\d+\s+16\s+1\s+\S*c\S*/.test(xl(u, 'list').out), 60_000, 200)).toBe(true);
    const con = xl(u, 'console', 'long').out;
    expect(con).toMatch(/blk: (write|read) #\d+ \(sector \d+\) = -5 \(EIO\)/);
    expect(con).toMatch(/blk_submit\(\w+, sector \d+, 8 sectors\) = -\d+ \(EBUSY\)/);
    // Blocks written before dom0 died are on disk as written.
    expect(writtenSectors(longImg)).toBeGreaterThan(0);
    // The machine and the other domains are fine: xl still lists all three.
    expect(xl(u, 'list').out).toMatch(/vio[\s\S]*ata[\s\S]*long/);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
  }, 120_000);
});

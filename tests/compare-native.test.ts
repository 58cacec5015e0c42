// The native cell on the real native board (sim/native/machine.ts): the unmodified kernel
// on sbi.elf with no hypervisor. What the comparison makes of it: the result line and its
// checksum (the same as PV's), counters windowed over the measured section like a domain's,
// a disk on each native I/O path, two boards on one bridge for net, and slowdowns against it.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCell, parseLatencyHistogram, type CellJob } from '../sim/compare/run_cell.ts';
import { assembleReport, parseCompareArgs } from '../sim/compare/report.ts';

const ROOT = process.cwd();
const IMAGES = { work: join(ROOT, 'guests/build/work.elf'), native: join(ROOT, 'guests/build/native.elf'), sbi: join(ROOT, 'guests/build/sbi.elf') };
const dir = mkdtempSync(join(tmpdir(), 'pvsim-compare-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const job = (j: Pick<CellJob, 'workload' | 'mode'> & Partial<CellJob>): CellJob => ({ io: null, shadow: null, vary: {}, seed: 1, images: IMAGES, tmpDir: mkdtempSync(join(dir, `c${n++}-`)), maxVirtualNs: 20e9, ...j });

describe('pvsim compare: the native cell', () => {
  it('runs native.elf on the board: the checksum PV prints, counters of the measured section only', async () => {
    const nat = await runCell(job({ workload: 'syscall:n=200', mode: 'native' }));
    const pv = await runCell(job({ workload: 'syscall:n=200', mode: 'pv' }));
    expect(nat).toMatchObject({ ok: true, checksum: pv.checksum, result: { syscalls: '200' } });
    expect(nat.note).toBeUndefined();
    // Windowed as a domain's: the user task's instructions are PV's, boot is not in them.
    expect(nat.instructions.guestUser).toBe(pv.instructions.guestUser);
    expect(nat.instructions.guestUser + nat.instructions.guestKernel).toBeLessThan(Number(nat.result.instructions) * 3);
    expect(nat.instructions.dom0).toBe(0);
    expect(nat.exitsPerOp!).toBeLessThan(0.1); // a system call never enters the firmware
  });

  it('blk on virtio and legacy, net on two boards over one bridge: the checksums of PV, measured latency distributions', async () => {
    const v = await runCell(job({ workload: 'blk:n=4', mode: 'native', io: 'virtio' }));
    const l = await runCell(job({ workload: 'blk:n=4', mode: 'native', io: 'legacy' }));
    const pv = await runCell(job({ workload: 'blk:n=4', mode: 'pv', io: 'pv' }));
    for (const c of [v, l]) {
      expect(c).toMatchObject({ ok: true, checksum: pv.checksum });
      expect(c.ioStats!.requests).toBe(8);
      expect(c.ioStats!.latencyHistogram.reduce((a, b) => a + b.count, 0)).toBe(8);
      expect(c.ioStats!.latencyP50Ns).toBeGreaterThan(0);
      expect(c.ioStats!.latencyP99Ns).toBeGreaterThanOrEqual(c.ioStats!.latencyP50Ns);
    }
    expect(l.ioStats!.latencyP50Ns).toBeGreaterThan(v.ioStats!.latencyP50Ns); // PIO moves every word through the CPU
    const net = await runCell(job({ workload: 'net:ping=3,udp=4', mode: 'native', io: 'virtio' }));
    const netPv = await runCell(job({ workload: 'net:ping=3,udp=4', mode: 'pv', io: 'pv' }));
    expect(net).toMatchObject({ ok: true, checksum: netPv.checksum, result: { replies: '3', lost: '0', udp_rx: '4' } });
    expect(net.ioStats!.latencyHistogram.reduce((a, b) => a + b.count, 0)).toBe(3);
    const legacyNet = await runCell(job({ workload: 'net', mode: 'native', io: 'legacy' }));
    expect(legacyNet.error).toMatch(/native net has no legacy NIC/);
  }, 30_000);

  it('slowdowns are against it', async () => {
    const req = parseCompareArgs({ workloads: ['syscall:n=200'], modes: 'native,pv' });
    const nat = await runCell(job({ workload: 'syscall:n=200', mode: 'native' }));
    const pv = await runCell(job({ workload: 'syscall:n=200', mode: 'pv' }));
    const r = assembleReport(req, [nat, pv]);
    expect(r.cells[0]!.slowdown).toBe(1);
    expect(r.cells[1]!.slowdown).toBeCloseTo(pv.virtualNs / nat.virtualNs, 3);
  });

  it('reads the guest latency histogram, refusing a malformed one', () => {
    expect(parseLatencyHistogram('10240:3,8192:1')).toEqual([{ ns: 8192, count: 1 }, { ns: 10240, count: 3 }]);
    expect(parseLatencyHistogram('-')).toEqual([]);
    expect(parseLatencyHistogram('12:x')).toEqual([]);
    expect(parseLatencyHistogram(undefined)).toEqual([]);
    expect(parseLatencyHistogram(Array.from({ length: 200 }, (_, i) => `${i + 8}:1`).join(','))).toEqual([]);
  });
});

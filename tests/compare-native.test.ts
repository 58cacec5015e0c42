// The native cell through the native board's interface (runNative of sim/native/machine.ts),
// with a stand-in board: what the comparison asks of it (kernel, firmware, command line,
// disks, costs, bounds) and what it makes of the answer (result line, checksum, whole-run
// counters, slowdown, the PV-close-to-native orderings).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { NativeRunOptions, NativeRunResult } from '../sim/compare/native.ts';

const calls: NativeRunOptions[] = [];
vi.mock('../sim/compare/native.ts', () => ({
  loadRunNative: async () => async (o: NativeRunOptions): Promise<NativeRunResult> => {
    calls.push(o);
    const work = /work=(\S+)/.exec(o.cmdline)![1];
    const line = work === 'syscall' ? 'work=syscall n=200 as=kernel syscalls=200 instructions=52400 ns=52000 ns_per_call=260 instructions_per_call=262 result=0xfeedf00d' : 'work=blk: FAILED: no disk';
    return {
      exit: 0,
      console: ['native: SBI v2.0', line],
      virtualNs: 60_000,
      perf: {
        instr: { user: 40_000, kernel: 12_400 }, hypervisorNs: 0, dom0Ns: 0, exits: {}, illegalInsn: {}, hypercalls: {},
        mmu: { pageWalks: 10, walkRefs: 20, tlbMisses: 10, walkNs: 200, shadowFills: 0, shadowFlushes: {}, wpFaults: 0, mmuUpdateCalls: 0, mmuUpdatePtes: 0 },
        io: { notifications: 0, interrupts: 0, grantOps: 0, bytesCopied: 0, mmioAccesses: 0 },
      },
    };
  },
}));

const { runCell } = await import('../sim/compare/run_cell.ts');
const { assembleReport, parseCompareArgs } = await import('../sim/compare/report.ts');

const ROOT = process.cwd();
const IMAGES = { work: join(ROOT, 'guests/build/work.elf'), native: join(ROOT, 'guests/build/native.elf'), sbi: join(ROOT, 'guests/build/sbi.elf') };
const dir = mkdtempSync(join(tmpdir(), 'pvsim-compare-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pvsim compare: the native cell', () => {
  it('runs native.elf on sbi.elf with the workload command line, and reads its result line and counters', async () => {
    const c = await runCell({ workload: 'syscall:n=200', mode: 'native', io: null, shadow: null, vary: { hvmExitNs: 500 }, seed: 1, images: IMAGES, tmpDir: dir, maxVirtualNs: 1e9 });
    expect(calls[0]!.cmdline).toBe('work=syscall n=200');
    expect(calls[0]!.costs).toMatchObject({ hvmExitNs: 500, instructionNs: 1 });
    expect(calls[0]!.maxVirtualNs).toBe(1e9);
    expect(calls[0]!.kernel.length).toBeGreaterThan(1000);
    expect(calls[0]!.firmware!.length).toBeGreaterThan(100);
    expect(c).toMatchObject({ ok: true, checksum: '0xfeedf00d', virtualNs: 52_000, instructions: { guestUser: 40_000, guestKernel: 12_400, hypervisor: 0, dom0: 0 } });
    expect(c.mmu.refsPerWalk).toBe(2);
    expect(c.note).toMatch(/whole run/);
  });

  it('gives blk its disk and device, and a failing native run is a failed cell', async () => {
    const c = await runCell({ workload: 'blk:n=4', mode: 'native', io: 'legacy', shadow: null, vary: {}, seed: 1, images: IMAGES, tmpDir: dir, maxVirtualNs: 1e9 });
    const o = calls.at(-1)!;
    expect(o.cmdline).toBe('work=blk mode=seq bs=4096 qd=1 n=4 dev=legacy');
    expect(o.disks).toEqual([{ path: join(dir, 'disk.img'), devtype: 'legacy' }]);
    expect(c).toMatchObject({ ok: false, error: 'work=blk: FAILED: no disk' });
    const net = await runCell({ workload: 'net', mode: 'native', io: 'virtio', shadow: null, vary: {}, seed: 1, images: IMAGES, tmpDir: dir, maxVirtualNs: 1e9 });
    expect(net.error).toMatch(/native net: not available/);
  });

  it('slowdowns are against it, and the PV-close-to-native orderings are decided', async () => {
    const req = parseCompareArgs({ workloads: ['syscall:n=200'], modes: 'native,pv' });
    const nat = await runCell({ workload: 'syscall:n=200', mode: 'native', io: null, shadow: null, vary: {}, seed: 1, images: IMAGES, tmpDir: dir, maxVirtualNs: 1e9 });
    const pv = await runCell({ workload: 'syscall:n=200', mode: 'pv', io: null, shadow: null, vary: {}, seed: 1, images: IMAGES, tmpDir: dir, maxVirtualNs: 20e9 });
    const r = assembleReport(req, [nat, pv]);
    expect(r.cells[0]!.slowdown).toBe(1);
    expect(r.cells[1]!.slowdown).toBeCloseTo(pv.virtualNs / 52_000, 3);
    const o = r.orderings.find((x) => x.claim.includes('(syscall) close to native'))!;
    expect(o.checked).toBe(true);
    expect(o.detail).toMatch(/syscall: pv [\d.]+ µs, native 52\.0 µs: slowdown/);
  });
});

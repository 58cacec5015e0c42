// The native kernel (guests/build/native.elf) boots unchanged on QEMU's riscv32 `virt`
// machine under our SBI firmware (guests/build/sbi.elf) and prints, for every workload it
// has, the same result= checksum as the PV kernel (guests/build/work.elf) under pvsim for
// the same parameters. Also pins the boot contract an HVM board must honour (entry and
// load address, no Xen notes) and the failure path (SRST with a failure reason).
// One test puts the five side by side for every workload and parameter set: QEMU, and under
// pvsim the PV kernel, the native kernel in an HVM domain in trap mode with each shadow
// policy, and in hw mode (the H extension).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { parseElf } from '../xenguest/elf.ts';

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
];

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The workload's result line (the one starting with `work=<name> `). */
function resultLine(output: string, cmdline: string): string | undefined {
  const name = cmdline.split(' ')[0]!;
  return output.split('\n').find((l) => l.startsWith(`${name} `));
}

function checksum(line: string | undefined): string | undefined {
  return line?.match(/ result=(0x[0-9a-f]{8})(?: |$)/)?.[1];
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

describe('native.elf and work.elf: one result= everywhere', () => {
  it('every workload prints the same result= on QEMU, PV, trap (wp, lazy) and hw, and powers off', { timeout: 180_000 }, () => {
    const qemu = onPath(QEMU);
    for (const cmdline of CASES) {
      const got: Record<string, string | undefined> = {};
      for (const kind of PVSIM_RUNS) {
        const r = runPvsim(kind, cmdline);
        const line = resultLine(r.output, cmdline);
        expect(r.reason, `${cmdline} (${kind}): ${r.output.slice(-400)}`).toBe('poweroff');
        got[kind] = checksum(line);
        expect(got[kind], `${cmdline} (${kind}): ${line}`).toBeDefined();
      }
      if (qemu) {
        const q = runQemu(cmdline);
        expect(q.status, `${cmdline} on QEMU: ${q.output}`).toBe(0);
        got.qemu = checksum(resultLine(q.output, cmdline));
      }
      expect(Object.keys(got).length, cmdline).toBe(qemu ? 5 : 4);
      const want = got.pv;
      expect(got, cmdline).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, want])));
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
    for (const cmdline of ['work=pt batch=0', 'work=blk', 'nothing=here', 'work=pgfault n=2 pages=4 overrun=1']) {
      const q = runQemu(cmdline);
      expect(q.status, `${cmdline}: ${q.output}`).toBe(1);
      expect(q.output).toMatch(/^work(=\S+)?: (FAILED|no work=)/m);
    }
  });
});

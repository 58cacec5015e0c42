// Differential testing on real programs (issue 17, item 5a; docs/cpufuzz.md): every bare
// conformance program (tests/programs), the bench kernels, the HVM test programs
// (tests/hvm-programs, trap-and-emulate and hardware-assisted), PV guests (work.elf, hello.elf)
// and the native board run under the interpreter and under createEngine('jit'); the whole
// architectural state (hart scalars, registers, CSRs, counters, memory) after every slice,
// the instruction counts, console output and trace hash must be identical.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBare, type BareResult } from '../../hypervisor/bare/machine.ts';
import type { EngineKind } from '../../hypervisor/cpu/engines.ts';
import type { Hart } from '../../hypervisor/cpu/hart.ts';
import type { PhysMemory } from '../../hypervisor/cpu/memory.ts';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { runNative } from '../../sim/native/machine.ts';

const ROOT = process.cwd();
const PROGRAMS = join(ROOT, 'tests/programs/build');
const HVM_PROGRAMS = join(ROOT, 'tests/hvm-programs/build');
const ENGINES: readonly EngineKind[] = ['interp', 'jit'];

/** Hart fields that are host bookkeeping rather than state. */
const NOT_STATE = new Set(['resync', 'timeSource', 'mem', 'mmu']);

/** A digest of everything architectural about a hart (no memory). */
function hartState(h: Hart): string {
  h.notePriv();
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) if (!NOT_STATE.has(k) && (typeof v === 'number' || typeof v === 'boolean')) o[k] = v;
  o.x = Array.from(h.x);
  o.retiredByPriv = [...h.retiredByPriv];
  o.res = h.mmu.resValid ? h.mmu.resPa : -1;
  return JSON.stringify(o);
}

/** Hash of every populated frame (number and contents). */
function memoryHash(mem: PhysMemory): string {
  const hash = createHash('sha256');
  mem.words.forEach((w, pfn) => {
    if (!w) return;
    // All-zero frames are left out: whether a frame got storage is not architectural.
    let any = 0;
    for (let i = 0; i < w.length && any === 0; i++) any = w[i]!;
    if (any === 0) return;
    hash.update(String(pfn));
    hash.update(mem.frames[pfn]!);
  });
  return hash.digest('hex');
}

interface BareRun {
  result: BareResult;
  output: string;
  slices: string;
  final: string;
  memory: string;
}

function bare(elf: Uint8Array, cpu: EngineKind, opts: { hExt?: boolean; maxInstructions: number }): BareRun {
  const slices = createHash('sha256');
  let output = '';
  let last: { hart: Hart; mem: PhysMemory } | null = null;
  const result = runBare(elf, {
    cpu,
    hExt: opts.hExt ?? false,
    maxInstructions: opts.maxInstructions,
    // h_twostage reaches guest-physical addresses far up RAM; the others need little.
    ramBytes: opts.hExt ? 64 << 20 : 8 << 20,
    onOutput: (b) => (output += String.fromCharCode(b)),
    onSlice: (hart, mem) => {
      slices.update(hartState(hart));
      last = { hart, mem };
    },
  });
  const l = last as { hart: Hart; mem: PhysMemory } | null;
  return { result, output, slices: slices.digest('hex'), final: l ? hartState(l.hart) : '', memory: l ? memoryHash(l.mem) : '' };
}

const programs = readdirSync(PROGRAMS).filter((f) => f.endsWith('.elf')).sort();

describe('bare programs: identical under interp and jit', () => {
  it('finds the conformance programs', () => {
    expect(programs.length).toBeGreaterThanOrEqual(16);
  });

  it.each(programs)('%s', { timeout: 60_000 }, (file) => {
    const elf = readFileSync(join(PROGRAMS, file));
    const o = { hExt: file.startsWith('h_'), maxInstructions: file === 'hang.elf' ? 200_000 : 20_000_000 };
    const [a, b] = ENGINES.map((cpu) => bare(elf, cpu, o)) as [BareRun, BareRun];
    expect(b.result).toEqual(a.result);
    expect(b.output).toBe(a.output);
    expect(b.final).toBe(a.final);
    expect(b.slices).toBe(a.slices);
    expect(b.memory).toBe(a.memory);
    // Sanity: the program ran to its end (pass, or its deliberate failure / hang).
    const expected = file === 'fail.elf' ? 'fail' : file === 'hang.elf' ? 'timeout' : 'pass';
    expect(a.result.outcome.kind, a.output).toBe(expected);
  });

  it.each(['bench-compute.elf', 'bench-compute-sv32.elf'])('guests/build/%s (first 3M instructions)', { timeout: 60_000 }, (file) => {
    const elf = readFileSync(join(ROOT, 'guests/build', file));
    const [a, b] = ENGINES.map((cpu) => bare(elf, cpu, { maxInstructions: 3_000_000 })) as [BareRun, BareRun];
    expect(b.result).toEqual(a.result);
    expect(b.final).toBe(a.final);
    expect(b.slices).toBe(a.slices);
    expect(b.memory).toBe(a.memory);
  });
});

/** One run of a hypervisor with the given domains: trace hash, console, every vCPU's state, memory. */
function hvRun(cpu: EngineKind, build: (hv: Hypervisor) => void, until: number, maxInstructions = 2_000_000): { trace: string; console: string; harts: string[]; memory: string; instructions: number } {
  const hv = new Hypervisor({ machineMemoryBytes: 64 << 20, cpu, forceCpu: true });
  let console_ = '';
  hv.onConsole = (d, bytes) => (console_ += `${d.domid}:${new TextDecoder().decode(bytes)}`);
  build(hv);
  // Bounded: a prefix compares just as well as a whole run.
  hv.run({ until, maxInstructions });
  const harts = [...hv.domains.values()].flatMap((d) => d.vcpus.map((v) => hartState(v.hart)));
  return { trace: hv.traceBuffer.hash(), console: console_, harts, memory: memoryHash(hv.mem), instructions: hv.loop.totalInstructions };
}

const hvmPrograms = readdirSync(HVM_PROGRAMS).filter((f) => f.endsWith('.elf')).sort();

describe('HVM and PV guests: identical under interp and jit', () => {
  for (const mode of ['trap', 'hw'] as const) {
    it.each(hvmPrograms)(`tests/hvm-programs/%s (${mode})`, { timeout: 60_000 }, (file) => {
      const image = readFileSync(join(HVM_PROGRAMS, file));
      const [a, b] = ENGINES.map((cpu) =>
        hvRun(cpu, (hv) => {
          const d = hv.createHvmDomain(image, { name: 'h', memoryBytes: 8 << 20, cmdline: '', vcpus: 2, hvm: { mode, shadowSync: 'wp' } });
          hv.unpause(d);
          // isolation.elf exits on nearly every instruction (seconds for its whole run): a prefix.
        }, 2e8, file === 'isolation.elf' ? 60_000 : 2_000_000),
      );
      expect(b).toEqual(a);
      expect(a!.instructions).toBeGreaterThan(0);
    });
  }

  it.each([
    ['hello.elf', ''],
    ['work.elf', 'work=syscall n=300'],
    ['work.elf', 'work=pgfault n=2 pages=16'],
    ['work.elf', 'work=ctxsw n=200 as=private'],
    ['work.elf', 'work=timer n=5 period_us=100'],
    ['work.elf', 'work=cpu n=3'],
  ])('PV guests/build/%s %s', { timeout: 60_000 }, (file, cmdline) => {
    const image = readFileSync(join(ROOT, 'guests/build', file));
    const [a, b] = ENGINES.map((cpu) =>
      hvRun(cpu, (hv) => {
        const d = hv.createPvDomain(image, { name: 'pv', memoryBytes: 8 << 20, cmdline }).domain;
        hv.unpause(d);
      }, 5e8),
    );
    expect(b).toEqual(a);
    expect(a!.console).not.toMatch(/FAILED/);
  });

  it('native board: guests/build/native.elf under run-native', { timeout: 60_000 }, async () => {
    const kernel = readFileSync(join(ROOT, 'guests/build/native.elf'));
    const [a, b] = await Promise.all(ENGINES.map((cpu) => runNative({ kernel, cmdline: 'work=syscall n=200', memoryMiB: 16, cpu, maxVirtualNs: 5e8 })));
    expect(b).toEqual(a);
  });
});

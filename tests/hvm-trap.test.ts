// Trap-and-emulate HVM domains in one process: the CSR/SBI/device program
// (tests/hvm-programs/src/csr.S) under both shadow policies, SBI HSM with two vCPUs,
// misbehaving guests (crashed, the hypervisor and a PV domain beside them untouched), the
// unmodified kernel's workloads giving PV's result=, exit costs and counts, and a scenario
// with type = "hvm" run twice to the same trace hash with its console through dom0.

import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { u32Bytes, writeElf } from './helpers/elf_writer.ts';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { HvmBoard, Ioreq } from '../hypervisor/hvm/board.ts';
import { HVM_EXIT_REASONS } from '../hypervisor/hvm/stats.ts';
import { DEFAULT_COSTS } from '../hypervisor/time/cost_model.ts';
import type { ShadowSync } from '../xenguest/hvm_image.ts';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';
import { startLocalDom0 } from '../sim/local.ts';

const prog = (n: string) => readFileSync(join(process.cwd(), `tests/hvm-programs/build/${n}.elf`));
const WORK = readFileSync(join(process.cwd(), 'guests/build/work.elf'));

function machine() {
  const hv = new Hypervisor({ machineMemoryBytes: 256 << 20 });
  const out = new Map<number, string>();
  hv.onConsole = (d, b) => out.set(d.domid, (out.get(d.domid) ?? '') + new TextDecoder().decode(b));
  return { hv, out: (d: Domain) => out.get(d.domid) ?? '' };
}

function hvm(hv: Hypervisor, image: Uint8Array, o: { sync?: ShadowSync; vcpus?: number; cmdline?: string; mib?: number } = {}): Domain {
  const d = hv.createHvmDomain(image, { name: `h${hv.domains.size}`, memoryBytes: (o.mib ?? 8) << 20, cmdline: o.cmdline ?? '', vcpus: o.vcpus ?? 1, hvm: { mode: 'trap', shadowSync: o.sync ?? 'wp' } });
  hv.unpause(d);
  return d;
}

const board = (d: Domain) => d.hvm as HvmBoard;

describe('trap-and-emulate', { timeout: 30_000 }, () => {
  for (const sync of ['wp', 'lazy'] as const) {
    it(`emulates CSRs, sret/wfi/sfence, SBI, the UART/PLIC/CLINT and reflects traps as a hart does (shadow ${sync})`, () => {
      const { hv, out } = machine();
      const d = hvm(hv, prog('csr'), { sync });
      hv.run({ until: 1e9 });
      expect(out(d)).toContain('uart:U\n');
      expect(out(d)).toContain('dbcn\n');
      expect(out(d)).toContain('PASS\n');
      expect(out(d)).not.toContain('FAIL');
      expect([d.state, d.shutdownReason]).toEqual(['shutdown', 'poweroff']);
      const s = board(d).stats;
      for (const r of ['csr', 'priv', 'sbi', 'shadow_fill', 'mmio', 'irq_inject', 'reflect', 'insn_fetch'] as const) expect(s.count[r], r).toBeGreaterThan(0);
      if (sync === 'wp') expect(s.count.wp_fault).toBeGreaterThan(0);
      else expect(s.count.wp_fault).toBe(0);
    });
  }

  it('starts and stops a second vCPU through SBI HSM', () => {
    const { hv, out } = machine();
    const d = hvm(hv, prog('smp'), { vcpus: 2 });
    hv.run({ until: 1e9 });
    expect(out(d)).toBe('PASS\n');
    expect(d.shutdownReason).toBe('poweroff');
  });

  it('crashes a guest that faults without end (no trap vector; satp at a frame that is not RAM); a PV domain beside it finishes unharmed', () => {
    const { hv, out } = machine();
    const pv = hv.createPvDomain(WORK, { name: 'pv', memoryBytes: 16 << 20, cmdline: 'work=cpu n=10' }).domain;
    hv.unpause(pv);
    const free0 = hv.frames.nrFrames - hv.frames.allocated;
    const a = hvm(hv, prog('nostvec'));
    const b = hvm(hv, prog('wildsatp'), { sync: 'lazy' });
    hv.run({ until: 2e9 });
    expect(a.state).toBe('crashed');
    expect(a.crashMessage).toMatch(/exits in a row at pc 0x0 .* without progress/);
    expect(b.state).toBe('crashed');
    expect(b.crashMessage).toMatch(/without progress/);
    expect(out(pv)).toContain('result=0x67c46429');
    expect(pv.shutdownReason).toBe('poweroff');
    // Destroying them gives every frame back (RAM, rings, shadow tables).
    hv.destroyDomain(a);
    hv.destroyDomain(b);
    expect(hv.frames.nrFrames - hv.frames.allocated).toBe(free0);
  });

  it('charges each exit through the cost model and counts it by reason', () => {
    const { hv } = machine();
    const d = hvm(hv, prog('csr'));
    hv.run({ until: 1e9 });
    const s = board(d).stats;
    const per: Record<string, number> = {
      world_switch: DEFAULT_COSTS.hvmExitNs, csr: DEFAULT_COSTS.hvmCsrNs, priv: DEFAULT_COSTS.hvmPrivNs, sbi: DEFAULT_COSTS.hvmSbiNs,
      shadow_fill: DEFAULT_COSTS.hvmShadowFillNs, walk_ref: DEFAULT_COSTS.hvmWalkRefNs, wp_fault: DEFAULT_COSTS.hvmWpFaultNs, mmio: DEFAULT_COSTS.hvmMmioNs,
      insn_fetch: DEFAULT_COSTS.hvmInsnFetchNs, irq_inject: DEFAULT_COSTS.hvmInjectNs, reflect: DEFAULT_COSTS.hvmInjectNs, guest_pf: 0,
      virt_insn: DEFAULT_COSTS.hvmVirtInsnNs, htinst_decode: DEFAULT_COSTS.hvmHtinstDecodeNs, walk: DEFAULT_COSTS.walkMemRefNs,
    };
    for (const r of HVM_EXIT_REASONS) expect(s.ns[r], r).toBe(s.count[r] * per[r]!);
    expect(s.count.walk_ref).toBeGreaterThan(0);
    // Every exit is one host trap of the vCPU.
    const traps = [...d.vcpus[0]!.stats.traps.values()].reduce((a, b) => a + b, 0);
    expect(s.count.world_switch).toBe(traps);
  });
});

describe('a guest executing random instructions in virtual S-mode', { timeout: 60_000 }, () => {
  // stvec = a handler that skips the faulting instruction (sepc += 4; sret), then the words.
  const PRELUDE = [0x00000317, 0x01030313, 0x10531073, 0x0140006f, 0x141022f3, 0x00428293, 0x14129073, 0x10200073];
  const reg = fc.integer({ min: 0, max: 31 });
  const system = fc.tuple(fc.integer({ min: 0, max: 0xfff }), reg, fc.integer({ min: 1, max: 7 }), reg).map(([csr, rs1, f3, rd]) => ((csr << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | 0x73) >>> 0);
  const priv = fc.constantFrom(0x10200073, 0x10500073, 0x30200073, 0x12000073, 0x12050073, 0x00000073, 0x00100073);
  // Loads and stores through a register set to a random address first (lui + the access).
  const access = fc.tuple(fc.integer({ min: 0, max: 0xfffff }), fc.constantFrom(0x03, 0x23, 0x2f), fc.integer({ min: 0, max: 7 })).map(([hi, op, f3]) => [
    ((hi << 12) | (5 << 7) | 0x37) >>> 0, // lui t0, hi
    op === 0x23 ? ((6 << 20) | (5 << 15) | ((f3 & 3) << 12) | 0x23) >>> 0 : op === 0x2f ? ((0x08 << 27) | (6 << 20) | (5 << 15) | (2 << 12) | (7 << 7) | 0x2f) >>> 0 : ((5 << 15) | (f3 << 12) | (7 << 7) | 0x03) >>> 0,
  ]);
  const word = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }).map((w) => [w]), system.map((w) => [w]), priv.map((w) => [w]), access);

  it('gets traps or emulation, never a hypervisor error; the machine runs on', () => {
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 40 }), (words) => {
        const { hv } = machine();
        const code = u32Bytes(...PRELUDE, ...words.flat(), 0x0000006f);
        const d = hvm(hv, writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: code, memsz: 0x10000 }] }), { sync: words.length % 2 ? 'wp' : 'lazy' });
        const r = hv.run({ until: 2e6 });
        expect(r.kind).not.toBe('blocked');
        expect(hv.dmesg().filter((l) => l.includes('hypervisor error'))).toEqual([]);
        hv.destroyDomain(d);
      }),
      { numRuns: 60 },
    );
  });
});

// The unmodified kernel's workloads under both shadow policies (result= equal to PV's, and
// to QEMU's and hw mode's) are one test for all modes: tests/native-qemu.test.ts.

describe.each(['trap', 'hw'] as const)('MMIO served by an ioreq server (the device model\'s path), hvm_mode %s', { timeout: 30_000 }, (mode) => {
  it('sends address, size, direction and data; the vCPU waits until the answer and the load gets its value', () => {
    const { hv, out } = machine();
    const d = hv.createHvmDomain(prog('ioreq'), { name: 'io', memoryBytes: 8 << 20, hvm: { mode, shadowSync: 'wp' } });
    const seen: { req: Ioreq; at: number }[] = [];
    board(d).addIoreqServer(0x10001000, 0x1000, {
      send(req, complete) {
        seen.push({ req, at: hv.now() });
        // Answered 20 us later in virtual time, as a device model in dom0 would be.
        hv.events.schedule(hv.now() + 20_000, () => complete(req.dir === 'read' ? 0x1234abcd : 0));
      },
    }, true);
    hv.unpause(d);
    hv.run({ until: 1e9 });
    expect(out(d)).toBe('PASS\n');
    expect(seen.map((s) => s.req)).toEqual([
      { domid: d.domid, vcpu: 0, addr: 0x10001100, size: 4, dir: 'read', data: 0, count: 1 },
      { domid: d.domid, vcpu: 0, addr: 0x10001108, size: 1, dir: 'read', data: 0, count: 1 },
      { domid: d.domid, vcpu: 0, addr: 0x10001104, size: 4, dir: 'write', data: 0x55, count: 1 },
    ]);
    // Each access waited for its answer: the next one came at least 20 us later.
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(20_000);
    expect(seen[2]!.at - seen[1]!.at).toBeGreaterThanOrEqual(20_000);
    expect(board(d).stats.count.mmio).toBe(3);
  });

  it('a server that answers at once completes the access in place; one that never answers leaves only that vCPU waiting', () => {
    const { hv, out } = machine();
    const d = hv.createHvmDomain(prog('ioreq'), { name: 'io', memoryBytes: 8 << 20, hvm: { mode, shadowSync: 'lazy' } });
    board(d).addIoreqServer(0x10001000, 0x1000, { send: (req, complete) => complete(req.addr === 0x10001108 ? 0xffffffcd : 0x1234abcd) }, true);
    hv.unpause(d);
    hv.run({ until: 1e9 });
    expect(out(d)).toBe('PASS\n');
    const { hv: hv2 } = machine();
    const e = hv2.createHvmDomain(prog('ioreq'), { name: 'mute', memoryBytes: 8 << 20, hvm: { mode, shadowSync: 'wp' } });
    board(e).addIoreqServer(0x10001000, 0x1000, { send: () => {} }, true);
    hv2.unpause(e);
    expect(hv2.run({ until: 1e9 }).kind).not.toBe('blocked');
    expect(e.state).toBe('running');
    expect(e.vcpus[0]!.blocked).toBe(true);
    hv2.destroyDomain(e); // destroyable while it waits
  });
});

describe('the console of an HVM domain', { timeout: 30_000 }, () => {
  it('goes through the console ring dom0 serves, both ways: UART output to xl console, input to the UART (receive interrupt through the PLIC)', async () => {
    const { hv, out } = machine();
    const dom0 = startLocalDom0(hv, { onConsole: (d, b) => hv.onConsole?.(d, b) });
    const d = hv.createHvmDomain(prog('echo'), { name: 'echo', memoryBytes: 8 << 20, hvm: { mode: 'trap', shadowSync: 'wp' } });
    hv.unpause(d);
    await hv.runAsync({ until: 5e6 });
    const con = dom0.consoles.get(d.domid)!;
    expect(new TextDecoder().decode(con.read().bytes)).toBe('echo>');
    expect(d.vcpus[0]!.blocked).toBe(true); // waiting in wfi for input
    const typed = con.input(new TextEncoder().encode('hi there!q'));
    await hv.runAsync({ until: 50e6 });
    await typed;
    expect(new TextDecoder().decode(con.read().bytes)).toBe('echo>hi there!\nPASS\n');
    expect(out(d)).toBe('echo>hi there!\nPASS\n');
    expect(d.shutdownReason).toBe('poweroff');
    // Nothing went to the hypervisor log: the ring carried it.
    expect(hv.dmesg().some((l) => l.startsWith(`(d${d.domid})`))).toBe(false);
    dom0.close();
  });
});

describe('a scenario with type = "hvm"', { timeout: 60_000 }, () => {
  const spec = {
    name: 'hvm-mix',
    until: '30ms',
    domains: [
      { name: 'pv', image: join(process.cwd(), 'guests/build/work.elf'), cmdline: 'work=syscall n=50' },
      { name: 'hvm', type: 'hvm', image: join(process.cwd(), 'guests/build/native.elf'), cmdline: 'work=syscall n=50' },
      { name: 'lazy', type: 'hvm', shadow_sync: 'lazy', image: join(process.cwd(), 'guests/build/native.elf'), cmdline: 'work=pt n=20' },
    ],
  };

  it('runs deterministically (same trace hash twice), its console reaching the report through dom0, with exit counts per domain', async () => {
    const s = validateScenario(spec, 'hvm-mix.json');
    const a = await runScenario(s, { baseDir: process.cwd() });
    const b = await runScenario(s, { baseDir: process.cwd() });
    expect(a.traceHash).toBe(b.traceHash);
    const h = a.domains.find((d) => d.name === 'hvm')!;
    expect(h.console).toMatch(/work=syscall .*result=0x/);
    expect(h.hvm?.mode).toBe('trap');
    expect(h.hvm?.exits.world_switch).toBeGreaterThan(0);
    expect(a.domains.find((d) => d.name === 'lazy')!.hvm?.shadow_sync).toBe('lazy');
    expect(a.domains.find((d) => d.name === 'pv')!.hvm).toBeUndefined();
    expect(b.domains.map((d) => d.hvm?.exits)).toEqual(a.domains.map((d) => d.hvm?.exits));
  });

  it('refuses an unknown hvm_mode, an unknown shadow_sync, and hvm keys on a PV domain, naming the field', () => {
    const bad = (d: object) => () => validateScenario({ ...spec, domains: [{ name: 'x', image: spec.domains[0]!.image, ...d }] }, 'f.json');
    expect(bad({ type: 'hvm', hvm_mode: 'vtx' })).toThrow(/domains\[0\]\.hvm_mode: unknown hvm_mode "vtx"/);
    expect(bad({ type: 'hvm', hvm_mode: 'hw' })).not.toThrow();
    expect(bad({ type: 'hvm', shadow_sync: 'eager' })).toThrow(/domains\[0\]\.shadow_sync: unknown shadow_sync "eager"/);
    expect(bad({ shadow_sync: 'lazy' })).toThrow(/domains\[0\]\.shadow_sync: applies to type = "hvm" domains only/);
  });
});

// Hardware-assisted HVM domains (hvm_mode = "hw", hypervisor/hvm/hw_mode.ts): the guest at
// V=1 on the H extension over G-stage tables. The same guest programs and unmodified
// kernel workloads as trap mode give the same results; MMIO through both decode paths
// (htinst and the two-stage instruction fetch); misbehaving guests get a real hart's
// faults or are crashed, beside an unharmed PV domain, with every frame given back;
// exits and page-walk references are charged through the cost model; a scenario with a
// hw domain runs twice to the same trace hash.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { parseEnv } from '../cli/runtime.ts';
import { isRunning, processTag, waitFor, type Proc } from './helpers/procs.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';
import { HwMode, HW_HEDELEG, HW_HIDELEG } from '../hypervisor/hvm/hw_mode.ts';
import { GSTAGE_ROOT_FRAMES } from '../hypervisor/hvm/gstage_tables.ts';
import { HVM_EXIT_REASONS } from '../hypervisor/hvm/stats.ts';
import { CSR_HEDELEG, CSR_HGATP, CSR_HIDELEG } from '../hypervisor/cpu/csr.ts';
import { DEFAULT_COSTS } from '../hypervisor/time/cost_model.ts';
import type { HvmMode } from '../xenguest/hvm_image.ts';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';

const prog = (n: string) => readFileSync(join(process.cwd(), `tests/hvm-programs/build/${n}.elf`));
const NATIVE = readFileSync(join(process.cwd(), 'guests/build/native.elf'));
const WORK = readFileSync(join(process.cwd(), 'guests/build/work.elf'));

function machine() {
  const hv = new Hypervisor({ machineMemoryBytes: 256 << 20 });
  const out = new Map<number, string>();
  hv.onConsole = (d, b) => out.set(d.domid, (out.get(d.domid) ?? '') + new TextDecoder().decode(b));
  return { hv, out: (d: Domain) => out.get(d.domid) ?? '' };
}

function hvm(hv: Hypervisor, image: Uint8Array, o: { mode?: HvmMode; vcpus?: number; cmdline?: string; mib?: number; htinst?: boolean } = {}): Domain {
  const d = hv.createHvmDomain(image, { name: `h${hv.domains.size}`, memoryBytes: (o.mib ?? 8) << 20, cmdline: o.cmdline ?? '', vcpus: o.vcpus ?? 1, hvm: { mode: o.mode ?? 'hw', shadowSync: 'wp' } });
  if (o.htinst === false) for (const v of board(d).vcpus) (v.mode as HwMode).useHtinst = false;
  hv.unpause(d);
  return d;
}

const board = (d: Domain) => d.hvm as HvmBoard;

describe('hw mode: the H extension as KVM uses it', { timeout: 30_000 }, () => {
  it('gives only hw domains a hart with H: KVM delegation, hgatp Sv32x4 with the domain as VMID; trap and PV harts unchanged', () => {
    const { hv } = machine();
    const pv = hv.createPvDomain(WORK, { name: 'pv', memoryBytes: 16 << 20, cmdline: 'work=cpu n=1' }).domain;
    const t = hvm(hv, prog('csr'), { mode: 'trap' });
    const h = hvm(hv, prog('csr'));
    expect(pv.vcpus[0]!.hart.hExt).toBe(false);
    expect(t.vcpus[0]!.hart.hExt).toBe(false);
    const hart = h.vcpus[0]!.hart;
    expect(hart.hExt).toBe(true);
    expect(hart.virt).toBe(true);
    expect(hart.readCsr(CSR_HEDELEG)).toBe(HW_HEDELEG);
    expect(HW_HEDELEG).toBe(0b1011000100001101); // 0, 2, 3, 8, 12, 13, 15
    expect(hart.readCsr(CSR_HIDELEG)).toBe(HW_HIDELEG);
    const hgatp = hart.readCsr(CSR_HGATP);
    expect(hgatp >>> 31).toBe(1);
    expect((hgatp >>> 22) & 0x7f).toBe(h.domid);
    expect(hgatp & 3).toBe(0); // 16 KiB-aligned root
  });

  it('runs the CSR/SBI/device program, SBI HSM with two vCPUs, and the hw fault program as a real hart would', () => {
    for (const [name, vcpus] of [['csr', 1], ['smp', 2], ['hwfaults', 1]] as const) {
      const { hv, out } = machine();
      const d = hvm(hv, prog(name), { vcpus });
      hv.run({ until: 1e9 });
      expect(out(d), name).toContain('PASS\n');
      expect(out(d), name).not.toContain('FAIL');
      expect(d.shutdownReason, name).toBe('poweroff');
    }
  });

  it('emulates MMIO through both decode paths (htinst and the two-stage fetch) with the same result, charging each', () => {
    const runs = [true, false].map((htinst) => {
      const { hv, out } = machine();
      const d = hvm(hv, prog('hwfaults'), { htinst });
      hv.run({ until: 1e9 });
      return { text: out(d), s: board(d).stats };
    });
    expect(runs[0]!.text).toBe(runs[1]!.text);
    expect(runs[0]!.text).toContain('M\nPASS\n');
    expect(runs[0]!.s.count.htinst_decode).toBeGreaterThan(0);
    expect(runs[0]!.s.count.insn_fetch).toBe(0);
    expect(runs[1]!.s.count.insn_fetch).toBe(runs[0]!.s.count.htinst_decode);
    expect(runs[1]!.s.count.htinst_decode).toBe(0);
    expect(runs[1]!.s.count.mmio).toBe(runs[0]!.s.count.mmio);
  });

  it('crashes guests that fault without end (no trap vector; satp at a frame that is not RAM); a PV domain beside them finishes; every frame comes back', () => {
    const { hv, out } = machine();
    const pv = hv.createPvDomain(WORK, { name: 'pv', memoryBytes: 16 << 20, cmdline: 'work=cpu n=10' }).domain;
    hv.unpause(pv);
    const free0 = hv.frames.nrFrames - hv.frames.allocated;
    const a = hvm(hv, prog('nostvec'));
    const b = hvm(hv, prog('wildsatp'));
    const c = hvm(hv, NATIVE, { cmdline: 'work=cpu n=2', mib: 16 });
    hv.run({ until: 2e9 });
    expect(a.state).toBe('crashed');
    expect(a.crashMessage).toMatch(/exits in a row at pc 0x0 \(cause 20\) without progress/);
    expect(b.state).toBe('crashed');
    expect(b.crashMessage).toMatch(/without progress/);
    expect(out(pv)).toContain('result=0x');
    expect(pv.shutdownReason).toBe('poweroff');
    expect(c.shutdownReason).toBe('poweroff');
    for (const d of [a, b, c]) hv.destroyDomain(d);
    expect(hv.frames.nrFrames - hv.frames.allocated).toBe(free0);
  });

  it('builds bounded G-stage tables: megapages where the p2m is contiguous, 4 KiB leaves otherwise', () => {
    const { hv } = machine();
    const d = hvm(hv, NATIVE, { cmdline: 'work=cpu n=1', mib: 16 });
    const v = board(d).vcpus[0]!.mode as unknown as { gstage: { megapages: number; pages: number; frames: number } };
    const g = v.gstage;
    expect(g.megapages * 1024 + g.pages).toBe(d.nrPages);
    // + 1: the L0 table of the PVHVM magic pages (the xenstore and console rings).
    expect(g.frames).toBeLessThanOrEqual(GSTAGE_ROOT_FRAMES + Math.ceil(d.nrPages / 1024) + 1);
  });

  it('charges each exit and each walk reference through the cost model and counts it by reason', () => {
    const { hv } = machine();
    const d = hvm(hv, prog('csr'));
    hv.run({ until: 1e9 });
    const s = board(d).stats;
    const per: Record<string, number> = {
      world_switch: DEFAULT_COSTS.hvmHwExitNs, sbi: DEFAULT_COSTS.hvmSbiNs, guest_pf: DEFAULT_COSTS.hvmGuestPageFaultNs,
      mmio: DEFAULT_COSTS.hvmMmioNs, htinst_decode: DEFAULT_COSTS.hvmHtinstDecodeNs, insn_fetch: DEFAULT_COSTS.hvmHwInsnFetchNs,
      virt_insn: DEFAULT_COSTS.hvmVirtInsnNs, irq_inject: DEFAULT_COSTS.hvmHwInjectNs, reflect: DEFAULT_COSTS.hvmInjectNs,
      walk: DEFAULT_COSTS.walkMemRefNs, walk_ref: DEFAULT_COSTS.hvmWalkRefNs, csr: 0, priv: 0, shadow_fill: 0, wp_fault: 0,
    };
    for (const r of HVM_EXIT_REASONS) expect(s.ns[r], r).toBe(s.count[r] * per[r]!);
    for (const r of ['sbi', 'guest_pf', 'mmio', 'virt_insn', 'irq_inject', 'reflect', 'walk'] as const) expect(s.count[r], r).toBeGreaterThan(0);
    // Trap-mode reasons never occur in hw mode.
    for (const r of ['csr', 'priv', 'shadow_fill', 'wp_fault', 'walk_ref'] as const) expect(s.count[r], r).toBe(0);
    const traps = [...d.vcpus[0]!.stats.traps.values()].reduce((a, b) => a + b, 0);
    expect(s.count.world_switch).toBe(traps);
  });
});

describe('the unmodified kernel under hw mode', { timeout: 120_000 }, () => {
  const WORKLOADS = [
    'work=cpu n=10', 'work=spin n=1000', 'work=syscall n=100', 'work=syscall n=50 as=private', 'work=ctxsw n=50',
    'work=ctxsw n=20 as=kernel', 'work=user-hello', 'work=user-hello as=private', 'work=pt n=100 batch=8',
    'work=pt n=30 batch=3 frames=5', 'work=timer n=5 period_us=1000', 'work=timer n=3 period_us=500 wait=poll',
    'work=irq n=1000', 'work=timerlat n=10', 'work=fork n=10', 'work=shell n=12', 'work=tlbwalk size=1M steps=5000',
    'work=tlbwalk size=4M steps=5000 mega',
  ];
  const result = (text: string) => /^work=\S+ .*check=(0x[0-9a-f]+)/m.exec(text)?.[1];

  it('prints the check= PV and trap mode print, for every workload, with fewer exits than trap mode', () => {
    for (const w of WORKLOADS) {
      const got: Record<string, string | undefined> = {};
      const exits: Record<string, number> = {};
      {
        const { hv, out } = machine();
        const d = hv.createPvDomain(WORK, { name: 'pv', memoryBytes: 16 << 20, cmdline: w }).domain;
        hv.unpause(d);
        hv.run({ until: 20e9 });
        got.pv = result(out(d));
      }
      for (const mode of ['trap', 'hw'] as const) {
        const { hv, out } = machine();
        const d = hvm(hv, NATIVE, { mode, cmdline: w, mib: 16 });
        hv.run({ until: 20e9 });
        got[mode] = result(out(d));
        exits[mode] = board(d).stats.exits;
        expect(d.shutdownReason, `${w} (${mode}): ${out(d).slice(-300)}`).toBe('poweroff');
      }
      expect(got.pv, w).toMatch(/^0x/);
      expect({ trap: got.trap, hw: got.hw }, w).toEqual({ trap: got.pv, hw: got.pv });
      expect(exits.hw!, w).toBeLessThan(exits.trap!);
    }
  });
});

describe('a scenario with a hw domain', { timeout: 60_000 }, () => {
  const spec = {
    name: 'hvm-hw-mix',
    until: '30ms',
    domains: [
      { name: 'pv', image: join(process.cwd(), 'guests/build/work.elf'), cmdline: 'work=syscall n=50' },
      { name: 'hw', type: 'hvm', hvm_mode: 'hw', image: join(process.cwd(), 'guests/build/native.elf'), cmdline: 'work=syscall n=50' },
      { name: 'trap', type: 'hvm', image: join(process.cwd(), 'guests/build/native.elf'), cmdline: 'work=pt n=20' },
    ],
  };

  it('runs deterministically (same trace hash twice), with hw exit counts in the report', async () => {
    const s = validateScenario(spec, 'hvm-hw-mix.json');
    const a = await runScenario(s, { baseDir: process.cwd() });
    const b = await runScenario(s, { baseDir: process.cwd() });
    expect(a.traceHash).toBe(b.traceHash);
    const h = a.domains.find((d) => d.name === 'hw')!;
    expect(h.console).toMatch(/work=syscall .*result=0x/);
    expect(h.hvm?.mode).toBe('hw');
    expect(h.hvm?.exits.world_switch).toBeGreaterThan(0);
    expect(b.domains.map((d) => d.hvm?.exits)).toEqual(a.domains.map((d) => d.hvm?.exits));
  });
});

describe('pvsim xl create of a hw domain (real processes)', { timeout: 60_000 }, () => {
  const PVSIM = join(process.cwd(), 'bin/pvsim.js');
  const running: { proc: ChildProcess; left: () => Proc[] }[] = [];
  afterEach(() => {
    for (const { proc, left } of running.splice(0)) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      for (const p of left()) if (isRunning(p)) process.kill(p.pid, 'SIGKILL');
    }
  });

  it('creates, lists, shows the console of and destroys an HVM domain with hvm_mode = "hw"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-hvmhw-'));
    const tag = processTag('up');
    const proc = spawn(process.execPath, [PVSIM, 'up', '--pcpus', '2'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ...tag.env } });
    running.push({ proc, left: () => tag.left().filter((p) => p.pid !== proc.pid) });
    const env: Record<string, string> = {};
    createInterface({ input: proc.stdout! }).on('line', (l) => Object.assign(env, parseEnv(l)));
    await waitFor(() => env.PVSIM_URL && env.PVSIM_TOKEN_FILE && env.XENSTORED_PATH, 30_000, 50);
    const xl = (...args: string[]) => spawnSync(process.execPath, [PVSIM, 'xl', ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ...env } });
    const cfg = join(dir, 'hw.cfg');
    writeFileSync(cfg, `name = "hwdom"\ntype = "hvm"\nhvm_mode = "hw"\nkernel = "${join(process.cwd(), 'guests/build/native.elf')}"\nmemory = 16\ncmdline = "work=pt n=20"\non_poweroff = "preserve"\n`);
    expect(xl('create', cfg).status).toBe(0);
    await waitFor(() => /d1: shutdown, reason poweroff/.test(xl('dmesg').stdout), 30_000, 100);
    expect(xl('dmesg').stdout).toMatch(/built HVM domain "hwdom" \(hw/);
    expect(xl('list').stdout).toMatch(/\nhwdom\s+1\s+16\s+1\s/);
    const con = spawnSync(process.execPath, [PVSIM, 'xl', 'console', 'hwdom'], { encoding: 'utf8', timeout: 10_000, input: '', env: { ...process.env, ...env } });
    expect(con.stdout).toMatch(/work=pt .*result=0x[0-9a-f]+/);
    expect(xl('destroy', 'hwdom').status).toBe(0);
    expect(xl('list').stdout).not.toMatch(/hwdom/);
  });
});

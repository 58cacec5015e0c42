// pvsim compare, in-process: the options a user gives (and the errors for bad ones), the
// cells it plans, the cells it measures (deterministic, checksums equal across modes), and the
// orderings from the literature on the workloads that exist (issue 14 items 1, 3, 5, 6).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assembleReport, parseCompareArgs, planJobs, type CompareRequest } from '../sim/compare/report.ts';
import { runCell, type CellJob } from '../sim/compare/run_cell.ts';
import { computeOrderings, ORDERINGS } from '../sim/compare/orderings.ts';
import { formatCompareTable } from '../sim/compare/table.ts';
import { CompareInputError, parseWorkload, workloadCmdline, WORKLOADS } from '../sim/compare/workloads.ts';
import type { CompareCell, CompareReport } from '../sim/compare/types.ts';

const ROOT = process.cwd();
const IMAGES = { work: join(ROOT, 'guests/build/work.elf'), native: join(ROOT, 'guests/build/native.elf'), sbi: join(ROOT, 'guests/build/sbi.elf') };
let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pvsim-compare-test-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const job = (j: Partial<CellJob> & Pick<CellJob, 'workload' | 'mode'>): CellJob => ({
  io: null,
  shadow: j.mode === 'hvm-trap' ? 'wp' : null,
  vary: {},
  seed: 1,
  images: IMAGES,
  tmpDir: mkdtempSync(join(dir, `c${n++}-`)),
  maxVirtualNs: 20e9,
  ...j,
});

async function runAll(req: CompareRequest): Promise<CompareReport> {
  const cells: CompareCell[] = [];
  for (const p of planJobs(req)) cells.push(await runCell({ ...job(p), ...p }));
  return assembleReport(req, cells);
}

describe('pvsim compare: options', () => {
  const bad = (a: Parameters<typeof parseCompareArgs>[0]) => {
    try {
      parseCompareArgs(a);
    } catch (e) {
      expect(e).toBeInstanceOf(CompareInputError);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('refuses unknown workloads, modes, I/O paths, shadow policies and cost keys, naming the valid ones', () => {
    expect(bad({ workloads: ['nosuch'] })).toMatch(/unknown workload "nosuch"; known: cpu, syscall, pt/);
    expect(bad({ workloads: ['cpu'], modes: 'pv,kvm' })).toMatch(/unknown mode "kvm"; known: native, pv, hvm-trap, hvm-hw/);
    expect(bad({ workloads: ['blk'], io: 'scsi' })).toMatch(/unknown I\/O path "scsi"; known: pv, virtio, legacy, pvhvm/);
    expect(bad({ workloads: ['cpu'], shadow: 'eager' })).toMatch(/unknown shadow policy "eager"; known: wp, lazy/);
    expect(bad({ workloads: ['cpu'], vary: ['cost.nosuch=1,2'] })).toMatch(/unknown cost key "nosuch"; valid keys: instructionNs, hypercallNs, .*hvmExitNs/);
    expect(bad({ workloads: ['cpu'], vary: ['hvmExitNs=1'] })).toMatch(/expected cost\.KEY=V1,V2/);
    expect(bad({ workloads: ['cpu'], vary: ['cost.hvmExitNs=1,x'] })).toMatch(/"x" is not a non-negative number/);
    expect(bad({ workloads: ['cpu'], vary: ['cost.hvmExitNs=1', 'cost.hvmExitNs=2'] })).toMatch(/given twice/);
    expect(bad({ workloads: ['cpu'], vary: ['cost.instructionNs=1,0'] })).toMatch(/instructionNs: must be above 0/);
    expect(bad({ workloads: ['cpu', 'cpu'] })).toMatch(/given twice/);
    expect(bad({ workloads: ['cpu:n'] })).toMatch(/not key=value/);
    expect(bad({ workloads: ['tlbwalk:mega=1'] })).toMatch(/mega is a flag: give it without a value \(tlbwalk:mega\)/);
    expect(bad({ workloads: ['cpu:mega'] })).toMatch(/not key=value/);
    expect(bad({ workloads: ['net:ip=1.2.3.4'] })).toMatch(/ip= is set by pvsim compare itself/);
    expect(bad({ workloads: ['cpu'], seed: '-1' })).toMatch(/--seed/);
    expect(bad({ workloads: ['blk'], modes: 'pv', io: 'virtio' })).toMatch(/no run: none of the modes has any of the I\/O paths given/);
    expect(bad({ workloads: ['cpu'], vary: ['cost.hvmExitNs=' + Array.from({ length: 100 }, (_, i) => i).join(','), 'cost.hypercallNs=' + Array.from({ length: 100 }, (_, i) => i).join(',')] })).toMatch(/40000 runs asked for .* at most 4096/);
    expect(bad({ workloads: ['cpu:' + Array.from({ length: 120 }, (_, i) => `k${i}=1234`).join(',')] })).toMatch(/longer than 900 bytes/);
  });

  it('maps name[:k=v,...] to the work kernel command line, over the small defaults', () => {
    const w = parseWorkload('blk:mode=rand,qd=32');
    expect(w.label).toBe('blk:mode=rand,qd=32');
    expect(w.params).toEqual({ mode: 'rand', bs: '4096', qd: '32', n: '32' });
    for (const def of WORKLOADS) expect(parseWorkload(def.name).def).toBe(def);
  });

  it('plans one cell per workload × mode × applicable I/O path × shadow (hvm-trap only) × cost value', () => {
    const req = parseCompareArgs({ workloads: ['cpu', 'blk', 'net'], shadow: 'wp,lazy', vary: ['cost.hvmExitNs=300,600'] });
    const jobs = planJobs(req);
    const key = (j: (typeof jobs)[number]) => `${j.workload}/${j.mode}/${j.io ?? '-'}/${j.shadow ?? '-'}/${j.vary.hvmExitNs}`;
    const keys = jobs.map(key);
    expect(keys).toContain('cpu/hvm-trap/-/lazy/300');
    expect(keys).toContain('blk/native/legacy/-/600');
    expect(keys).toContain('blk/pv/pv/-/300');
    expect(keys).not.toContain('blk/pv/virtio/-/300'); // a PV domain has split drivers only
    expect(keys.filter((k) => k.startsWith('net/') && k.includes('/legacy/'))).toEqual([]); // no legacy NIC
    expect(keys.filter((k) => k.startsWith('cpu/') && k.endsWith('/300'))).toEqual(['cpu/native/-/-/300', 'cpu/pv/-/-/300', 'cpu/hvm-trap/-/wp/300', 'cpu/hvm-trap/-/lazy/300', 'cpu/hvm-hw/-/-/300']);
    // blk: native 2 + pv 1 + trap 3 paths × 2 shadows + hw 3 = 12; net: native 1 + pv 1 + trap 2×2 + hw 2 = 8; cpu 5.
    expect(jobs.length).toBe(2 * (5 + 12 + 8));
  });
});

describe('pvsim compare: cells', () => {
  it('the same job gives the same cell, byte for byte; checksums agree across modes; a missing workload says so', async () => {
    const a = await runCell(job({ workload: 'syscall:n=300', mode: 'hvm-trap' }));
    const b = await runCell(job({ workload: 'syscall:n=300', mode: 'hvm-trap' }));
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.ok).toBe(true);
    expect(a.result.syscalls).toBe('300');
    const pv = await runCell(job({ workload: 'syscall:n=300', mode: 'pv' }));
    const hw = await runCell(job({ workload: 'syscall:n=300', mode: 'hvm-hw' }));
    expect(pv.checksum).toMatch(/^0x[0-9a-f]{8}$/);
    expect(new Set([a.checksum, pv.checksum, hw.checksum]).size).toBe(1);
    // perf kvm stat's shape: shares add up to 1, min <= avg <= max.
    expect(a.exits.reduce((s, e) => s + e.share, 0)).toBeCloseTo(1, 3);
    expect(a.exits.reduce((s, e) => s + e.timeShare, 0)).toBeCloseTo(1, 3);
    for (const e of a.exits) expect(e.minNs <= e.avgNs && e.avgNs <= e.maxNs).toBe(true);
    expect(a.exitsPerOp!).toBeGreaterThan(5); // trap-and-emulate: the reflected ecall, the handler's CSRs, sret
    expect(hw.exitsPerOp!).toBeLessThan(0.1);
  });

  it('--vary: the varied value is recorded and moves what depends on it', async () => {
    const lo = await runCell(job({ workload: 'syscall:n=200', mode: 'hvm-trap', vary: { hvmExitNs: 300 } }));
    const hi = await runCell(job({ workload: 'syscall:n=200', mode: 'hvm-trap', vary: { hvmExitNs: 900 } }));
    const pv = await runCell(job({ workload: 'syscall:n=200', mode: 'pv', vary: { hvmExitNs: 900 } }));
    expect(hi.vary).toEqual({ hvmExitNs: 900 });
    expect(hi.virtualNs).toBeGreaterThan(lo.virtualNs * 1.5);
    expect(hi.checksum).toBe(lo.checksum);
    const pvLo = await runCell(job({ workload: 'syscall:n=200', mode: 'pv', vary: { hvmExitNs: 300 } }));
    expect(pv.virtualNs).toBe(pvLo.virtualNs); // PV has no HVM exits
  });
});

describe('pvsim compare: the orderings of the literature (issue 14 item 5)', () => {
  let report: CompareReport;
  beforeAll(async () => {
    // Every workload an ordering needs, every mode: small parameters, real runs.
    const req = parseCompareArgs({ workloads: ['syscall:n=300', 'pt:n=100', 'pgfault:n=2,pages=32', 'fork:n=4', 'irq:n=500', 'cpu:n=2', 'tlbwalk', 'tlbwalk:mega', 'blk:n=4'] });
    report = await runAll(req);
  }, 120_000);
  const find = (claim: RegExp) => {
    const o = report.orderings.find((x) => claim.test(x.claim));
    if (!o) throw new Error(`no ordering ${claim}`);
    return o;
  };

  it('every ordering is in the report, each with its source, and every one could be checked', () => {
    expect(report.orderings.length).toBe(ORDERINGS.length);
    for (const o of report.orderings) expect(o.source).toMatch(/SOSP 2003|ASPLOS 2006|ASPLOS 2008|OSR/);
    expect(report.orderings.filter((o) => !o.checked).map((o) => `${o.claim}: ${o.detail}`)).toEqual([]);
    expect(report.cells.filter((c) => !c.ok).map((c) => `${c.workload} ${c.mode} ${c.io}: ${c.error}`)).toEqual([]);
  });

  it('PV is close to native on compute and null system calls (Barham et al.)', () => {
    for (const re of [/compute \(cpu\) close to native/, /system calls \(syscall\) close to native/]) expect(find(re)).toMatchObject({ checked: true, holds: true });
  });

  it('trap-and-emulate is far slower than PV on PTE writes, page faults and fork (Barham et al.)', () => {
    for (const re of [/\(pt\)/, /\(pgfault\)/, /\(fork\)/]) expect(find(re)).toMatchObject({ checked: true, holds: true });
  });

  it('hardware-assisted virtualization beats trap-and-emulate on system calls and interrupt masking (Adams & Agesen)', () => {
    expect(find(/beats trap-and-emulate on system calls/)).toMatchObject({ checked: true, holds: true });
    expect(find(/interrupt masking/)).toMatchObject({ checked: true, holds: true });
  });

  it('two-stage translation loses to native and to shadow paging on the 4 KiB TLB-miss walk (Bhargava et al.)', () => {
    expect(find(/4 KiB pages \(tlbwalk\)/)).toMatchObject({ checked: true, holds: true });
    // The mega run really walked megapages where the mode allows them, and 4 KiB pages under PV.
    const mega = report.cells.filter((c) => c.workload === 'tlbwalk:mega');
    expect(Object.fromEntries(mega.map((c) => [`${c.mode}${c.shadow ? `/${c.shadow}` : ''}`, c.result.pages]))).toEqual({ native: '4m', pv: '4k', 'hvm-trap/wp': '4m', 'hvm-hw': '4m' });
  });

  // The walk cost model gives a megapage TLB reach (hypervisor/cpu/tlb_reach.ts), so megapages
  // in both stages take hw's nested-walk excess away.
  it('megapages take most of that loss away (Bhargava et al.)', () => {
    expect(find(/megapages take most/)).toMatchObject({ checked: true, holds: true });
  });

  it('megapages: checked, and reported as departing from the source on this walk cost model', () => {
    const o = find(/megapages take most/);
    expect(o.checked).toBe(true);
    expect(o.detail).toMatch(/hvm-hw slowdown: 4 KiB [\d.]+×, 4 MiB [\d.]+×/);
    if (!o.holds) expect(o.detail).toMatch(/departs from the source/);
  });

  it('PV and virtio need a few exits per block request; the legacy disk hundreds per sector', () => {
    expect(find(/small, batched number of exits/)).toMatchObject({ checked: true, holds: true });
    expect(find(/small, batched number of exits/).detail).toMatch(/pv pv: .*hvm-trap\/wp virtio: .*hvm-trap\/wp pvhvm: .*hvm-hw virtio: .*hvm-hw pvhvm: /);
    expect(find(/hundreds of exits per sector/)).toMatchObject({ checked: true, holds: true });
  });

  it('checksums agree across modes for every workload', () => {
    for (const w of report.workloads) {
      const sums = new Set(report.cells.filter((c) => c.workload === w).map((c) => c.checksum));
      expect([w, sums.size]).toEqual([w, 1]);
    }
  });

  it('PVHVM: the unmodified kernel on PV drivers gives the PV kernel\'s checksum', () => {
    const blk = report.cells.filter((c) => c.workload === 'blk:n=4');
    const pvhvm = blk.filter((c) => c.io === 'pvhvm');
    expect(pvhvm.map((c) => c.mode)).toEqual(['hvm-trap', 'hvm-hw']);
    for (const c of pvhvm) expect(c).toMatchObject({ ok: true, checksum: blk.find((x) => x.mode === 'pv')!.checksum });
  });

  it('the table shows every cell, the checksums and the orderings', () => {
    const t = formatCompareTable(report);
    expect(t).toMatch(/^workload\s+mode\s+io\s+shadow\s+virtual time\s+slowdown\s+exits\/op\s+top exit reasons$/m);
    expect(t).toMatch(/^pt:n=100\s+hvm-trap\s+-\s+wp\s+[\d.]+ ms\s+\S+\s+[\d.]+\s+wp_fault \d+%/m);
    expect(t).toMatch(/^blk:n=4\s+hvm-hw\s+legacy\s+-\s+[\d.]+ ms/m);
    expect(t).toMatch(/checksums: every workload printed the same checksum/);
    expect(t).toMatch(/^ {2}holds\s+trap-and-emulate is far slower than PV on PTE writes \(pt\)$/m);
  });
});

describe('pvsim compare: orderings decided on given figures', () => {
  const cell = (workload: string, mode: CompareCell['mode'], virtualNs: number, extra: Partial<CompareCell> = {}): CompareCell => ({
    workload, mode, io: null, shadow: mode === 'hvm-trap' ? 'wp' : null, vary: {}, ok: true, checksum: '0x1', result: {}, virtualNs, slowdown: null,
    instructions: { guestUser: 0, guestKernel: 0, hypervisor: 0, dom0: 0 }, timeNs: { guestUser: 0, guestKernel: 0, hypervisor: 0, dom0: 0, idle: 0 },
    exits: [], illegalInsn: [], hypercalls: [],
    mmu: { pageWalks: 0, refsPerWalk: 0, tlbMisses: 0, shadowFills: 0, shadowFlushes: {}, wpFaults: 0, mmuUpdateCalls: 0, ptesPerMmuUpdate: 0 },
    ...extra,
  });

  it('a result that departs from the source is reported as not holding, and says so', () => {
    const os = computeOrderings([cell('pt', 'pv', 1000), cell('pt', 'hvm-trap', 1500), cell('cpu', 'pv', 1000), cell('cpu', 'native', 990), cell('syscall', 'pv', 2000), cell('syscall', 'native', 1000)], [{}]);
    const pt = os.find((o) => o.claim.includes('(pt)'))!;
    expect(pt).toMatchObject({ checked: true, holds: false });
    expect(pt.detail).toMatch(/1\.50× \(needs ≥ 2\.00×\); departs from the source/);
    expect(os.find((o) => o.claim.includes('compute (cpu)'))).toMatchObject({ checked: true, holds: true });
    expect(os.find((o) => o.claim.includes('(syscall) close'))).toMatchObject({ checked: true, holds: false });
  });

  it('tlbwalk: hw loses on 4 KiB pages, megapages take most of the loss away, only if they were walked', () => {
    const cells = [
      cell('tlbwalk', 'hvm-hw', 3000, { slowdown: 3 }), cell('tlbwalk', 'hvm-trap', 2000), cell('tlbwalk', 'native', 1000),
      cell('tlbwalk:mega', 'hvm-hw', 1100, { slowdown: 1.1, result: { pages: '4m' } }), cell('tlbwalk:mega', 'native', 1000),
    ];
    const os = computeOrderings(cells, [{}]);
    expect(os.find((o) => o.claim.includes('4 KiB pages'))).toMatchObject({ checked: true, holds: true });
    expect(os.find((o) => o.claim.includes('megapages'))).toMatchObject({ checked: true, holds: true });
    cells[3]!.slowdown = 2.5; // excess 1.5 of 2: not "most"
    expect(computeOrderings(cells, [{}]).find((o) => o.claim.includes('megapages'))).toMatchObject({ checked: true, holds: false });
    cells[3]!.result = { pages: '4k' }; // the kernel could not map megapages
    expect(computeOrderings(cells, [{}]).find((o) => o.claim.includes('megapages'))!.detail).toMatch(/not checked: the kernel walked 4k pages/);
  });

  it('the labels: tlbwalk:mega is a flag, passed to the kernel bare', () => {
    const w = parseWorkload('tlbwalk:mega,steps=100');
    expect(w.label).toBe('tlbwalk:mega,steps=100');
    expect(workloadCmdline(w)).toBe('work=tlbwalk size=4M steps=100 mega');
  });

  it('slowdowns are taken against the native cell of the same workload, device and cost values', () => {
    const req = parseCompareArgs({ workloads: ['syscall'], modes: 'native,pv' });
    const r = assembleReport(req, [cell('syscall', 'native', 1000), cell('syscall', 'pv', 1100), cell('syscall', 'pv', 3000, { vary: { hvmExitNs: 1 } })]);
    expect(r.cells.map((c) => c.slowdown)).toEqual([1, 1.1, null]);
  });
});

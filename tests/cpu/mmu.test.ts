import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { PRIV_M, PRIV_S, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import * as a from './asm.ts';
import { A, D, Machine, PageTables, R, RAM_BASE, U, V, W, X } from './helpers.ts';

const CODE_VA = 0x00010000;
const CODE_PA = RAM_BASE + 0x1000;
const DATA_VA = 0x00400000; // second megapage region: own level-0 table
const DATA_PA = RAM_BASE + 0x8000;
const PT_AREA = RAM_BASE + 0x100000;

/** Paged machine: code mapped at CODE_VA (flags `codeFlags`), running in `priv` with hostTraps. */
function paged(priv: number, codeFlags = V | R | X | (priv === PRIV_U ? U : 0)): { m: Machine; pt: PageTables } {
  const m = new Machine();
  const pt = new PageTables(m.mem, PT_AREA);
  pt.map(CODE_VA, CODE_PA, codeFlags);
  m.hart.writeCsr(C.CSR_SATP, pt.satp);
  m.hart.priv = priv;
  m.hart.pc = CODE_VA;
  m.hart.hostTraps = true;
  return { m, pt };
}

/** Loads `prog` + ecall at CODE_PA and runs to the first M-mode trap. */
function go(m: Machine, prog: Array<number | number[]>): { cause: number; tval: number; pc: number } {
  m.load(CODE_PA, [...prog, a.ecall()]);
  expect(m.run()).toBe(ExitReason.HostTrap);
  return { cause: m.hart.trapCause, tval: m.hart.trapTval, pc: m.hart.pc };
}

const ECALL = (priv: number): number => 8 + priv;

describe('Sv32 translation', () => {
  it('4 KiB pages: loads, stores and fetches go through the tables; A and D are set by the walk', () => {
    const { m, pt } = paged(PRIV_U);
    pt.map(DATA_VA, DATA_PA, V | R | W | U);
    pt.map(DATA_VA + 0x1000, DATA_PA + 0x1000, V | R | W | U);
    m.mem.write32(DATA_PA + 8, 0xcafef00d);
    const r = go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 8, 1), a.sw(2, 12, 1)]);
    expect(r).toEqual({ cause: 8, tval: 0, pc: CODE_VA + 12 });
    expect(m.xu(2)).toBe(0xcafef00d);
    expect(m.mem.read32(DATA_PA + 12)).toBe(0xcafef00d);
    expect(pt.pte(CODE_VA) & (A | D)).toBe(A);
    expect(pt.pte(DATA_VA) & (A | D)).toBe(A | D);
    expect(pt.pte(DATA_VA + 0x1000) & (A | D)).toBe(0); // untouched page
  });

  it('a load sets A but not D', () => {
    const { m, pt } = paged(PRIV_U);
    pt.map(DATA_VA, DATA_PA, V | R | W | U);
    go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1)]);
    expect(pt.pte(DATA_VA) & (A | D)).toBe(A);
  });

  it('4 MiB megapages translate the low 22 bits', () => {
    const { m, pt } = paged(PRIV_S);
    pt.mapMega(0x40000000, RAM_BASE, V | R | W);
    m.mem.write32(RAM_BASE + 0x224b4, 0x1234);
    go(m, [a.lui(1, 0x40022), a.lw(2, 0x4b4, 1), a.addi(2, 2, 1), a.sw(2, -0x348, 1)]);
    expect(m.hart.x[2]).toBe(0x1235);
    expect(m.mem.read32(RAM_BASE + 0x21cb8)).toBe(0x1235);
    expect(pt.l1(0x40000000) & (A | D)).toBe(A | D);
  });

  it('MPRV makes M-mode loads and stores use MPP translation; fetch stays physical', () => {
    const m = new Machine();
    const pt = new PageTables(m.mem, PT_AREA);
    pt.map(DATA_VA, DATA_PA, V | R | W | U);
    m.mem.write32(DATA_PA, 77);
    m.hart.writeCsr(C.CSR_SATP, pt.satp);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MPRV); // MPP = U
    m.exec([a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1), a.sw(2, 4, 1)]);
    expect(m.hart.x[2]).toBe(77);
    expect(m.mem.read32(DATA_PA + 4)).toBe(77);
    // MPP = S: the U page is not accessible without SUM
    const m2 = new Machine();
    const pt2 = new PageTables(m2.mem, PT_AREA);
    pt2.map(DATA_VA, DATA_PA, V | R | W | U);
    m2.hart.writeCsr(C.CSR_SATP, pt2.satp);
    m2.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MPRV | (1 << 11));
    m2.hart.hostTraps = true;
    m2.load(RAM_BASE, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1)]);
    expect(m2.run()).toBe(ExitReason.HostTrap);
    expect([m2.hart.trapCause, m2.hart.trapTval]).toEqual([13, DATA_VA]);
  });

  it('a misaligned load across two pages translates both; a fault on the second reports its address', () => {
    const { m, pt } = paged(PRIV_U);
    pt.map(DATA_VA, DATA_PA + 0x3000, V | R | U); // discontiguous frames
    pt.map(DATA_VA + 0x1000, DATA_PA, V | R | U);
    m.mem.writeBytes(DATA_PA + 0x3ffe, new Uint8Array([0x11, 0x22]));
    m.mem.writeBytes(DATA_PA, new Uint8Array([0x33, 0x44]));
    expect(go(m, [a.li(1, DATA_VA + 0xffe), a.lw(2, 0, 1)]).cause).toBe(8);
    expect(m.xu(2)).toBe(0x44332211);
    const p2 = paged(PRIV_U);
    p2.pt.map(DATA_VA, DATA_PA, V | R | U);
    expect(go(p2.m, [a.li(1, DATA_VA + 0xffe), a.lw(2, 0, 1)])).toEqual({ cause: 13, tval: DATA_VA + 0x1000, pc: CODE_VA + 8 });
    // a misaligned store across pages where the second is read-only writes nothing
    const p3 = paged(PRIV_U);
    p3.pt.map(DATA_VA, DATA_PA, V | R | W | U);
    p3.pt.map(DATA_VA + 0x1000, DATA_PA + 0x1000, V | R | U);
    expect(go(p3.m, [a.li(1, DATA_VA + 0xffe), a.addi(2, 0, -1), a.sw(2, 0, 1)])).toEqual({ cause: 15, tval: DATA_VA + 0x1000, pc: CODE_VA + 12 });
    expect(p3.m.mem.read32(DATA_PA + 0xffc)).toBe(0);
  });
});

describe('Sv32 page faults', () => {
  type Case = [name: string, priv: number, flags: number, op: 'r' | 'w', expected: number | 'ok', mstatus?: number];
  const cases: Case[] = [
    ['invalid PTE, load', PRIV_U, R | W | U, 'r', 13],
    ['invalid PTE, store', PRIV_U, R | W | U, 'w', 15],
    ['W without R (reserved), load', PRIV_U, V | W | U, 'r', 13],
    ['W without R (reserved), store', PRIV_U, V | W | U, 'w', 15],
    ['W|X without R (reserved), load', PRIV_S, V | W | X, 'r', 13],
    ['store to read-only page', PRIV_U, V | R | U, 'w', 15],
    ['U-mode load of a supervisor page', PRIV_U, V | R | W, 'r', 13],
    ['U-mode store to a supervisor page', PRIV_U, V | R | W, 'w', 15],
    ['S-mode load of a user page without SUM', PRIV_S, V | R | W | U, 'r', 13],
    ['S-mode store to a user page without SUM', PRIV_S, V | R | W | U, 'w', 15],
    ['S-mode load of a user page with SUM', PRIV_S, V | R | W | U, 'r', 'ok', C.MSTATUS_SUM],
    ['S-mode store to a user page with SUM', PRIV_S, V | R | W | U, 'w', 'ok', C.MSTATUS_SUM],
    ['load of execute-only page without MXR', PRIV_U, V | X | U, 'r', 13],
    ['load of execute-only page with MXR', PRIV_U, V | X | U, 'r', 'ok', C.MSTATUS_MXR],
    ['store to execute-only page with MXR', PRIV_U, V | X | U, 'w', 15, C.MSTATUS_MXR],
    ['S-mode load of a supervisor page', PRIV_S, V | R, 'r', 'ok'],
  ];
  it.each(cases)('%s', (_name, priv, flags, op, expected, ms = 0) => {
    const { m, pt } = paged(priv);
    pt.map(DATA_VA, DATA_PA, flags);
    m.mem.write32(DATA_PA + 0x10, 0xabcd);
    m.hart.writeCsr(C.CSR_MSTATUS, ms);
    const insn = op === 'r' ? a.lw(2, 0x10, 1) : a.sw(1, 0x10, 1);
    const r = go(m, [a.lui(1, DATA_VA >>> 12), insn]);
    if (expected === 'ok') {
      expect(r.cause).toBe(ECALL(priv));
      if (op === 'r') expect(m.hart.x[2]).toBe(0xabcd);
      else expect(m.mem.read32(DATA_PA + 0x10)).toBe(DATA_VA);
    } else {
      expect(r).toEqual({ cause: expected, tval: DATA_VA + 0x10, pc: CODE_VA + 4 });
      expect(m.mem.read32(DATA_PA + 0x10)).toBe(0xabcd);
      expect(pt.pte(DATA_VA) & A).toBe(0); // faulting walks do not set A
    }
  });

  it('fetch faults: non-X page, U page from S (even with SUM), S page from U, invalid', () => {
    for (const [priv, flags, ms] of [
      [PRIV_U, V | R | U, 0], [PRIV_S, V | R | X | U, C.MSTATUS_SUM], [PRIV_U, V | R | X, 0], [PRIV_S, R | X, 0],
    ] as const) {
      const { m } = paged(priv, flags);
      m.hart.writeCsr(C.CSR_MSTATUS, ms);
      expect(go(m, [a.nop()])).toEqual({ cause: 12, tval: CODE_VA, pc: CODE_VA });
    }
  });

  it('a jump into an unmapped page faults at the target with tval = target', () => {
    const { m } = paged(PRIV_U);
    expect(go(m, [a.jal(0, 0x1000)])).toEqual({ cause: 12, tval: CODE_VA + 0x1000, pc: CODE_VA + 0x1000 });
  });

  it('W without R in a root entry is a page fault, not a pointer to a table', () => {
    const { m, pt } = paged(PRIV_S);
    pt.map(DATA_VA, DATA_PA, V | R | W | A | D);
    pt.setL1(DATA_VA, pt.l1(DATA_VA) | W);
    expect(go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1)])).toEqual({ cause: 13, tval: DATA_VA, pc: CODE_VA + 4 });
  });

  it('misaligned megapage is a page fault', () => {
    const { m, pt } = paged(PRIV_S);
    pt.mapMega(0x40000000, RAM_BASE + 0x1000, V | R | W);
    expect(go(m, [a.lui(1, 0x40000), a.lw(2, 0, 1)])).toEqual({ cause: 13, tval: 0x40000000, pc: CODE_VA + 4 });
  });

  it('a non-leaf PTE at level 0 is a page fault', () => {
    const { m, pt } = paged(PRIV_S);
    pt.setPte(DATA_VA, ((DATA_PA >>> 12) << 10) | V);
    // what a third level would find, were there one: a valid leaf
    m.mem.write32(DATA_PA, (((DATA_PA + 0x1000) >>> 12) << 10) | V | R | W | A | D);
    expect(go(m, [a.lui(1, DATA_VA >>> 12), a.sw(0, 0, 1)])).toEqual({ cause: 15, tval: DATA_VA, pc: CODE_VA + 4 });
  });

  it('page-table or leaf addresses without memory are access faults', () => {
    // root entry points to a table in unbacked memory
    const { m, pt } = paged(PRIV_S);
    pt.setL1(DATA_VA, ((0x00100000 >>> 12) << 10) | V);
    expect(go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1)])).toEqual({ cause: 5, tval: DATA_VA, pc: CODE_VA + 4 });
    // leaf points to unbacked memory (also above 4 GiB: 34-bit physical address)
    for (const [pa, insn, cause] of [
      [0x00200000, a.lw(2, 0, 1), 5], [0x00200000, a.sw(2, 0, 1), 7], [2 ** 33, a.lw(2, 0, 1), 5],
    ] as const) {
      const p = paged(PRIV_S);
      p.pt.map(DATA_VA, pa, V | R | W);
      expect(go(p.m, [a.lui(1, DATA_VA >>> 12), insn])).toEqual({ cause, tval: DATA_VA, pc: CODE_VA + 4 });
    }
    // fetch from a mapped but unbacked frame
    const f = paged(PRIV_S);
    f.pt.map(CODE_VA + 0x1000, 0x00300000, V | R | X);
    expect(go(f.m, [a.jal(0, 0x1000)])).toEqual({ cause: 1, tval: CODE_VA + 0x1000, pc: CODE_VA + 0x1000 });
  });

  it('page faults are delegated to S with medeleg', () => {
    const SH_VA = 0x00020000;
    const { m, pt } = paged(PRIV_U);
    pt.map(SH_VA, RAM_BASE + 0x800, V | R | X); // supervisor handler page
    m.load(RAM_BASE + 0x800, [a.csrr(5, C.CSR_STVAL), a.csrr(6, C.CSR_SCAUSE), a.csrr(7, C.CSR_SEPC), a.ecall()]);
    m.hart.writeCsr(C.CSR_MEDELEG, 1 << 13);
    m.hart.writeCsr(C.CSR_STVEC, SH_VA + 0x800);
    expect(go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 4, 1)])).toEqual({ cause: 9, tval: 0, pc: SH_VA + 0x800 + 12 });
    expect([m.xu(5), m.xu(6), m.xu(7)]).toEqual([DATA_VA + 4, 13, CODE_VA + 4]);
  });
});

describe('TLB maintenance', () => {
  it('sfence.vma makes a changed PTE visible (the TLB may serve the stale one before)', () => {
    const { m, pt } = paged(PRIV_S);
    pt.map(DATA_VA, DATA_PA, V | R | W | A | D);
    m.mem.write32(DATA_PA, 1);
    m.mem.write32(DATA_PA + 0x1000, 2);
    // The program rewrites the PTE itself (page tables mapped at PT_VA).
    const PT_VA = 0x00800000;
    pt.mapMega(PT_VA, (PT_AREA & ~0x3fffff) >>> 0, V | R | W | A | D);
    const pteVa = PT_VA + (pt.l0Addr(DATA_VA) & 0x3fffff);
    const newPte = (((DATA_PA + 0x1000) >>> 12) << 10) | V | R | W | A | D;
    const r = go(m, [
      a.lui(1, DATA_VA >>> 12),
      a.lw(2, 0, 1), // 1 (fills TLB)
      a.li(3, pteVa), a.li(4, newPte), a.sw(4, 0, 3),
      a.lw(5, 0, 1), // stale: still 1
      a.sfence_vma(1, 0),
      a.lw(6, 0, 1), // 2
    ]);
    expect(r.cause).toBe(9);
    expect([m.hart.x[2], m.hart.x[5], m.hart.x[6]]).toEqual([1, 1, 2]);
  });

  it('sfence.vma with rs1 = x0 flushes everything; satp writes flush too', () => {
    const { m, pt } = paged(PRIV_S);
    pt.map(DATA_VA, DATA_PA, V | R | W | A | D);
    m.mem.write32(DATA_PA, 1);
    m.mem.write32(DATA_PA + 0x1000, 2);
    m.load(CODE_PA, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1), a.sfence_vma(), a.lw(3, 0, 1), a.csrw(C.CSR_SATP, 10), a.lw(4, 0, 1), a.ecall()]);
    expect(m.run(2)).toBe(ExitReason.Budget);
    pt.map(DATA_VA, DATA_PA + 0x1000, V | R | W | A | D); // host edits PTE: no flush yet
    m.hart.x[10] = pt.satp;
    expect(m.run(2)).toBe(ExitReason.Budget); // sfence + lw
    expect(m.hart.x[3]).toBe(2);
    pt.map(DATA_VA, DATA_PA, V | R | W | A | D);
    expect(m.run()).toBe(ExitReason.HostTrap); // csrw satp + lw
    expect(m.hart.x[4]).toBe(1);
  });

  it('clearing SUM takes effect immediately for cached translations', () => {
    const { m, pt } = paged(PRIV_S);
    pt.map(DATA_VA, DATA_PA, V | R | W | U);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_SUM);
    const r = go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1), a.csrrci(0, C.CSR_SSTATUS, 0), a.li(5, C.MSTATUS_SUM), a.csrrc(0, C.CSR_SSTATUS, 5), a.lw(3, 0, 1)]);
    expect(r).toEqual({ cause: 13, tval: DATA_VA, pc: CODE_VA + 24 });
  });

  it('a privilege change uses that privilege\'s permissions (U cannot reuse S translations)', () => {
    const { m, pt } = paged(PRIV_S);
    pt.map(DATA_VA, DATA_PA, V | R | W);
    pt.map(CODE_VA + 0x1000, CODE_PA + 0x1000, V | R | X | U);
    m.load(CODE_PA + 0x1000, [a.lw(3, 0, 1), a.ecall()]);
    m.hart.writeCsr(C.CSR_SEPC, CODE_VA + 0x1000);
    const r = go(m, [a.lui(1, DATA_VA >>> 12), a.lw(2, 0, 1), a.sret()]);
    expect(r).toEqual({ cause: 13, tval: DATA_VA, pc: CODE_VA + 0x1000 });
  });

  it('a memory generation change drops cached translations (frame removed -> access fault)', () => {
    const m = new Machine();
    m.hart.hostTraps = true;
    const data = RAM_BASE + 0x3000;
    m.load(RAM_BASE, [a.li(1, data), a.lw(2, 0, 1), a.lw(3, 0, 1), a.ebreak()]);
    m.mem.write32(data, 5);
    expect(m.run(3)).toBe(ExitReason.Budget);
    m.mem.removeFrame(data >>> 12);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval]).toEqual([5, data]);
  });

  it('host translate(): walks with a given privilege, sets A/D, -1 on faults', () => {
    const { m, pt } = paged(PRIV_S);
    pt.map(DATA_VA, DATA_PA, V | R | W | U);
    pt.map(DATA_VA + 0x1000, DATA_PA + 0x1000, V | R);
    const h = m.hart;
    expect(h.translate(DATA_VA + 0x123, 'r', PRIV_U)).toBe(DATA_PA + 0x123);
    expect(pt.pte(DATA_VA) & (A | D)).toBe(A);
    expect(h.translate(DATA_VA + 0x123, 'w', PRIV_U)).toBe(DATA_PA + 0x123);
    expect(pt.pte(DATA_VA) & (A | D)).toBe(A | D);
    expect(h.translate(DATA_VA, 'r')).toBe(-1); // current priv S, no SUM
    expect(h.translate(DATA_VA, 'x', PRIV_U)).toBe(-1);
    expect(h.translate(DATA_VA + 0x1000, 'w', PRIV_S)).toBe(-1);
    expect(h.translate(DATA_VA + 0x1000, 'r', PRIV_S)).toBe(DATA_PA + 0x1000);
    expect(h.translate(0x7000000, 'r', PRIV_S)).toBe(-1);
    expect(h.translate(RAM_BASE + 4, 'r', PRIV_M)).toBe(RAM_BASE + 4); // M: bare
    expect(h.translate(0x1000, 'r', PRIV_M)).toBe(-1); // nothing there
    h.writeCsr(C.CSR_SATP, 0);
    expect(h.translate(RAM_BASE + 8, 'w', PRIV_U)).toBe(RAM_BASE + 8);
  });
});

// Debug triggers (Sdtrig 1.0, type 2 mcontrol): Trigger Module CSRs and their WARL
// fields, execute/load/store address and data matches, every match kind, chains, mode
// bits, the re-entrancy rule for M and S, and that nothing is watched (and the TLB fast
// paths are used) while no trigger is armed.

import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_M, PRIV_S, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import { TLB_MASK } from '../../hypervisor/cpu/mmu.ts';
import {
  CSR_TDATA1, CSR_TDATA2, CSR_TDATA3, CSR_TINFO, CSR_TSELECT, MCONTROL_CHAIN, MCONTROL_DISABLED, MCONTROL_EXECUTE,
  MCONTROL_HIT, MCONTROL_LOAD, MCONTROL_M, MCONTROL_S, MCONTROL_SELECT, MCONTROL_STORE, MCONTROL_TIMING, MCONTROL_U,
  TINFO_VALUE, Triggers, compare,
} from '../../hypervisor/cpu/trigger.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

const TYPE2 = 2 << 28;
const match = (m: number): number => m << 7;
const sizelo = (s: number): number => s << 16;
const DATA = RAM_BASE + 0x10000;

function trigHart(n = 4): Machine {
  const m = new Machine();
  m.hart = new Hart(m.mem, { triggers: n });
  m.hart.pc = RAM_BASE;
  return m;
}

function setTrigger(h: Hart, i: number, tdata1: number, tdata2: number): void {
  h.writeCsr(CSR_TSELECT, i);
  h.writeCsr(CSR_TDATA1, 0);
  h.writeCsr(CSR_TDATA2, tdata2);
  h.writeCsr(CSR_TDATA1, (TYPE2 | tdata1) >>> 0);
}

function tdata1Of(h: Hart, i: number): number {
  h.writeCsr(CSR_TSELECT, i);
  return h.readCsr(CSR_TDATA1);
}

describe('Trigger Module CSRs', () => {
  it('tselect is WARL 0..N-1; tdata1 resets to a disabled type-2 trigger; tinfo says type 2, version 1', () => {
    const h = trigHart(4).hart;
    expect(h.readCsr(CSR_TSELECT)).toBe(0);
    h.writeCsr(CSR_TSELECT, 3);
    expect(h.readCsr(CSR_TSELECT)).toBe(3);
    h.writeCsr(CSR_TSELECT, 4);
    expect(h.readCsr(CSR_TSELECT)).toBe(3);
    expect(h.readCsr(CSR_TDATA1)).toBe(MCONTROL_DISABLED);
    expect(MCONTROL_DISABLED).toBe(0x23e00000); // type 2, maskmax 31
    expect(h.readCsr(CSR_TINFO)).toBe(TINFO_VALUE);
    expect(TINFO_VALUE).toBe(0x01000004);
    h.writeCsr(CSR_TDATA3, 0xffffffff);
    expect(h.readCsr(CSR_TDATA3)).toBe(0);
  });

  it('tdata1 WARL: other types disable; dmode, action, timing read 0; reserved match becomes 0; last chain is 0', () => {
    const h = trigHart(2).hart;
    h.writeCsr(CSR_TDATA2, 0x1234);
    h.writeCsr(CSR_TDATA1, (TYPE2 | MCONTROL_U | MCONTROL_LOAD) >>> 0);
    h.writeCsr(CSR_TDATA1, 0);
    expect(h.readCsr(CSR_TDATA1)).toBe(MCONTROL_DISABLED);
    expect(h.readCsr(CSR_TDATA2)).toBe(0x1234);
    h.writeCsr(CSR_TDATA1, 0x6000_0044);
    expect(h.readCsr(CSR_TDATA1)).toBe(MCONTROL_DISABLED);
    h.writeCsr(CSR_TDATA1, 0xffffffff & ~(0xd << 28)); // type 2, everything else set
    const all = h.readCsr(CSR_TDATA1);
    expect(all & (1 << 27)).toBe(0); // dmode
    expect(all & (0xf << 12)).toBe(0); // action
    expect(all & MCONTROL_TIMING).toBe(0);
    expect((all >>> 21) & 63).toBe(31); // maskmax, read-only
    expect((all >>> 7) & 15).toBe(15 & 0); // match 15 is reserved -> 0
    expect(all & MCONTROL_HIT).not.toBe(0);
    h.writeCsr(CSR_TDATA1, (TYPE2 | MCONTROL_CHAIN | match(13)) >>> 0); // trigger 0 may chain
    expect(h.readCsr(CSR_TDATA1) & (MCONTROL_CHAIN | match(15))).toBe(MCONTROL_CHAIN | match(13));
    h.writeCsr(CSR_TSELECT, 1);
    h.writeCsr(CSR_TDATA1, (TYPE2 | MCONTROL_CHAIN) >>> 0); // the last one may not
    expect(h.readCsr(CSR_TDATA1) & MCONTROL_CHAIN).toBe(0);
  });

  it('only M-mode reaches them; a hart without triggers has none (illegal)', () => {
    const h = trigHart(1).hart;
    h.priv = PRIV_S;
    expect(h.csrAccessible(CSR_TSELECT, false)).toBe(false);
    h.priv = PRIV_M;
    expect(h.csrAccessible(CSR_TDATA1, true)).toBe(true);
    expect(h.csrAccessible(0x7a5, false)).toBe(false); // tcontrol: not implemented
    const plain = new Machine().hart;
    expect(plain.csrAccessible(CSR_TSELECT, false)).toBe(false);
    expect(() => plain.readCsr(CSR_TDATA1)).toThrow(RangeError);
  });
});

describe('compare values and match kinds', () => {
  it('equal, NAPOT, >=, <, the low/high-half masks and their negations', () => {
    const t = new Triggers(1);
    const ev = (m: number, cv: number, t2: number, data = true): boolean => {
      t.writeCsr(CSR_TDATA1, 0);
      t.writeCsr(CSR_TDATA2, t2);
      t.writeCsr(CSR_TDATA1, (TYPE2 | match(m) | MCONTROL_U | MCONTROL_LOAD | (data ? MCONTROL_SELECT : 0)) >>> 0);
      return t.matches(0, MCONTROL_LOAD, MCONTROL_U, 0, 4, cv);
    };
    expect(ev(0, 0x1234, 0x1234)).toBe(true);
    expect(ev(0, 0x1235, 0x1234)).toBe(false);
    expect(ev(8, 0x1235, 0x1234)).toBe(true);
    expect(ev(1, 0x8000_1ff8, 0x8000_1007)).toBe(false); // tdata2 ...0111: 16-byte range at 0x80001000
    expect(ev(1, 0x8000_100f, 0x8000_1007)).toBe(true);
    expect(ev(9, 0x8000_100f, 0x8000_1007)).toBe(false);
    expect(ev(2, 5, 5)).toBe(true);
    expect(ev(2, 4, 5)).toBe(false);
    expect(ev(3, 0xffffffff, 5)).toBe(false);
    expect(ev(3, 4, 5)).toBe(true);
    expect(ev(4, 0xabcd_12f4, 0xff00_1200)).toBe(true); // low half masked with 0xff00
    expect(ev(12, 0xabcd_12f4, 0xff00_1200)).toBe(false);
    expect(ev(5, 0x12f4_abcd, 0xff00_1200)).toBe(true); // high half
    expect(ev(13, 0x13f4_abcd, 0xff00_1200)).toBe(true);
    expect(compare(1, 0x12345678, 0x7fffffff)).toBe(true); // M = 0: everything
  });

  it('address matches look at every byte of the access; sizelo selects the access size', () => {
    const t = new Triggers(1);
    t.writeCsr(CSR_TDATA2, 0x1003);
    t.writeCsr(CSR_TDATA1, (TYPE2 | MCONTROL_U | MCONTROL_STORE) >>> 0);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0x1000, 4, 0)).toBe(true);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0x1000, 2, 0)).toBe(false);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0x1003, 1, 0)).toBe(true);
    t.writeCsr(CSR_TDATA1, (TYPE2 | MCONTROL_U | MCONTROL_STORE | sizelo(1)) >>> 0);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0x1000, 4, 0)).toBe(false);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0x1003, 1, 0)).toBe(true);
    // Data of a byte access: only its low 8 bits (and tdata2's) are compared.
    t.writeCsr(CSR_TDATA2, 0xffff_ff80);
    t.writeCsr(CSR_TDATA1, (TYPE2 | MCONTROL_U | MCONTROL_STORE | MCONTROL_SELECT) >>> 0);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0, 1, 0x80)).toBe(true);
    expect(t.matches(0, MCONTROL_STORE, MCONTROL_U, 0, 4, 0x80)).toBe(false);
  });
});

describe('triggers on a running hart', () => {
  it('execute address: breakpoint before the instruction, epc = tval = its address (U-mode)', () => {
    const m = trigHart();
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_EXECUTE, RAM_BASE + 8);
    const r = m.runAs(PRIV_U, [a.addi(5, 0, 1), a.addi(6, 0, 2), a.addi(7, 0, 3)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: RAM_BASE + 8, pc: RAM_BASE + 8 });
    expect([m.hart.x[5], m.hart.x[6], m.hart.x[7]]).toEqual([1, 2, 0]);
    expect(tdata1Of(m.hart, 0) & MCONTROL_HIT).not.toBe(0);
  });

  it('execute data: matches the instruction bits', () => {
    const m = trigHart();
    setTrigger(m.hart, 1, MCONTROL_S | MCONTROL_EXECUTE | MCONTROL_SELECT, a.addi(7, 0, 3));
    const r = m.runAs(PRIV_S, [a.addi(5, 0, 1), a.addi(6, 0, 2), a.addi(7, 0, 3)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: RAM_BASE + 8, pc: RAM_BASE + 8 });
  });

  it('mode bits: a U-only trigger does not fire in S', () => {
    const m = trigHart();
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_EXECUTE, RAM_BASE + 4);
    expect(m.runAs(PRIV_S, [a.nop(), a.nop()]).cause).toBe(C.CAUSE_SUPERVISOR_ECALL);
  });

  it('load address (NAPOT range) fires before the load: rd unchanged; store data fires before the store', () => {
    const m = trigHart();
    m.load(DATA, [0x11111111, 0x22222222]);
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_LOAD | match(1), DATA + 3); // 8 bytes at DATA
    let r = m.runAs(PRIV_U, [...a.li(1, DATA - 8), a.lw(2, 4, 1), a.lw(3, 8, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: DATA, pc: RAM_BASE + 12 });
    expect(m.hart.x[3]).toBe(0);
    m.hart = new Hart(m.mem, { triggers: 4 });
    setTrigger(m.hart, 2, MCONTROL_U | MCONTROL_STORE | MCONTROL_SELECT, 0xbeef);
    r = m.runAs(PRIV_U, [...a.li(1, DATA), ...a.li(2, 0xbeee), a.sw(2, 0, 1), a.addi(2, 2, 1), a.sw(2, 4, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: DATA + 4, pc: RAM_BASE + 24 });
    expect(m.mem.read32(DATA)).toBe(0xbeee);
    expect(m.mem.read32(DATA + 4)).toBe(0x22222222);
  });

  it('load data: fires on the value loaded, the destination keeps its old value', () => {
    const m = trigHart();
    m.load(DATA, [5, 7]);
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_LOAD | MCONTROL_SELECT | match(2), 6); // value >= 6
    const r = m.runAs(PRIV_U, [...a.li(1, DATA), ...a.li(3, 99), a.lw(2, 0, 1), a.lw(3, 4, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: DATA + 4, pc: RAM_BASE + 20 });
    expect([m.hart.x[2], m.hart.x[3]]).toEqual([5, 99]);
  });

  it('a chain fires only when all its triggers match: [lo, hi) address range from >= and <', () => {
    const m = trigHart();
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_STORE | MCONTROL_CHAIN | match(2), DATA + 0x10);
    setTrigger(m.hart, 1, MCONTROL_U | MCONTROL_STORE | match(3), DATA + 0x20);
    const r = m.runAs(PRIV_U, [...a.li(1, DATA), a.sw(0, 0xc, 1), a.sw(0, 0x20, 1), a.sw(0, 0x1c, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: DATA + 0x1c, pc: RAM_BASE + 16 });
    expect(tdata1Of(m.hart, 0) & MCONTROL_HIT).not.toBe(0);
    expect(tdata1Of(m.hart, 1) & MCONTROL_HIT).not.toBe(0);
  });

  it('LR is a load, SC and AMOs are stores (and loads)', () => {
    const m = trigHart();
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_LOAD, DATA);
    let r = m.runAs(PRIV_U, [...a.li(1, DATA), a.sw(0, 0, 1), a.lr_w(2, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: DATA, pc: RAM_BASE + 12 });
    m.hart = new Hart(m.mem, { triggers: 4 });
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_STORE, DATA);
    r = m.runAs(PRIV_U, [...a.li(1, DATA), a.lw(2, 0, 1), a.amoadd_w(2, 2, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: DATA, pc: RAM_BASE + 12 });
  });

  it('M-mode: no match while mstatus.MIE = 0 (re-entrancy), a match once MIE = 1', () => {
    const m = trigHart();
    setTrigger(m.hart, 0, MCONTROL_M | MCONTROL_EXECUTE, RAM_BASE + 4);
    let r = m.runAs(PRIV_M, [a.nop(), a.nop()]);
    expect(r.cause).toBe(C.CAUSE_MACHINE_ECALL);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE);
    r = m.runAs(PRIV_M, [a.nop(), a.nop()]);
    expect(r).toEqual({ cause: C.CAUSE_BREAKPOINT, tval: RAM_BASE + 4, pc: RAM_BASE + 4 });
  });

  it('S-mode with breakpoints delegated: no match while SIE = 0; taken in S when SIE = 1', () => {
    const m = trigHart();
    setTrigger(m.hart, 0, MCONTROL_S | MCONTROL_EXECUTE, RAM_BASE + 4);
    m.hart.writeCsr(C.CSR_MEDELEG, 1 << C.CAUSE_BREAKPOINT);
    let r = m.runAs(PRIV_S, [a.nop(), a.nop()]);
    expect(r.cause).toBe(C.CAUSE_SUPERVISOR_ECALL);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_SIE);
    m.hart.writeCsr(C.CSR_STVEC, RAM_BASE + 0x100);
    m.load(RAM_BASE + 0x100, [a.ecall()]);
    r = m.runAs(PRIV_S, [a.nop(), a.nop()]);
    expect(r.pc).toBe(RAM_BASE + 0x100); // the handler's ecall
    expect(m.hart.readCsr(C.CSR_SCAUSE)).toBe(C.CAUSE_BREAKPOINT);
    expect(m.hart.readCsr(C.CSR_SEPC)).toBe(RAM_BASE + 4);
    expect(m.hart.readCsr(C.CSR_STVAL)).toBe(RAM_BASE + 4);
  });

  it('the exec/load/store TLB tables fill only while no trigger of that kind is armed', () => {
    const m = trigHart();
    m.runAs(PRIV_U, [...a.li(1, DATA), a.lw(2, 0, 1), a.sw(2, 0, 1)]);
    const u = m.hart.mmu.sets[PRIV_U]!;
    const vpn = RAM_BASE >>> 12;
    const dvpn = DATA >>> 12;
    expect(u.xTag[vpn & TLB_MASK]).toBe(vpn | 0);
    expect(u.rTag[dvpn & TLB_MASK]).toBe(dvpn | 0);
    setTrigger(m.hart, 0, MCONTROL_U | MCONTROL_EXECUTE, 0); // armed, never matching here
    expect(u.xTag[vpn & TLB_MASK]).toBe(-1); // flushed by the tdata1 write
    const r = m.runAs(PRIV_U, [...a.li(1, DATA), a.lw(2, 0, 1), a.sw(2, 0, 1)]);
    expect(r.cause).toBe(C.CAUSE_USER_ECALL);
    expect(u.xTag[vpn & TLB_MASK]).toBe(-1);
    expect(u.rTag[dvpn & TLB_MASK]).toBe(dvpn | 0); // loads are not watched
    expect(m.run(0)).toBe(ExitReason.Budget);
  });
});

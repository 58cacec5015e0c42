// The H extension (privileged spec 20211203, chapter 8) on a Hart built with hExt: CSR
// masks and VS substitution, trap routing to VS/HS/M, guest-page faults with stval/htval/
// htinst/GVA, virtual-instruction cases, HLV/HLVX/HSV, VS interrupts through hvip, TLB
// separation, and the host interface the hypervisor's hw mode uses.

import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_M, PRIV_S, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

// CSR numbers
const SSTATUS = 0x100, SIE = 0x104, STVEC = 0x105, SSCRATCH = 0x140, SEPC = 0x141, SCAUSE = 0x142, STVAL = 0x143, SIP = 0x144, SATP = 0x180;
const SCOUNTEREN = 0x106;
const MSTATUS = 0x300, MISA = 0x301, MEDELEG = 0x302, MIDELEG = 0x303, MIE = 0x304, MTVEC = 0x305, MCOUNTEREN = 0x306, MSTATUSH = 0x310;
const MEPC = 0x341, MCAUSE = 0x342, MTVAL = 0x343, MIP = 0x344, MTINST = 0x34a, MTVAL2 = 0x34b;
const HSTATUS = 0x600, HEDELEG = 0x602, HIDELEG = 0x603, HIE = 0x604, HTIMEDELTA = 0x605, HCOUNTEREN = 0x606, HGEIE = 0x607;
const HENVCFG = 0x60a, HTIMEDELTAH = 0x615, HTVAL = 0x643, HIP = 0x644, HVIP = 0x645, HTINST = 0x64a, HGATP = 0x680, HGEIP = 0xe12;
const VSSTATUS = 0x200, VSIE = 0x204, VSTVEC = 0x205, VSSCRATCH = 0x240, VSEPC = 0x241, VSCAUSE = 0x242, VSTVAL = 0x243, VSIP = 0x244, VSATP = 0x280;
const TIME = 0xc01, CYCLE = 0xc00;

// PTE flags
const V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;

// H instructions (SYSTEM, funct3 = 4 for loads/stores)
const hlv = (f7: number, rs2sel: number) => (rd: number, rs1: number) => a.rType(0x73, 4, f7, rd, rs1, rs2sel);
const hlv_b = hlv(0x30, 0), hlv_bu = hlv(0x30, 1), hlv_h = hlv(0x32, 0), hlv_hu = hlv(0x32, 1), hlvx_hu = hlv(0x32, 3);
const hlv_w = hlv(0x34, 0), hlvx_wu = hlv(0x34, 3);
const hsv = (f7: number) => (rs2: number, rs1: number) => a.rType(0x73, 4, f7, 0, rs1, rs2);
const hsv_b = hsv(0x31), hsv_h = hsv(0x33), hsv_w = hsv(0x35);
const hfence_vvma = (rs1 = 0, rs2 = 0) => a.rType(0x73, 0, 0x11, 0, rs1, rs2);
const hfence_gvma = (rs1 = 0, rs2 = 0) => a.rType(0x73, 0, 0x31, 0, rs1, rs2);

// Layout (physical): guest code at CODE; trap vectors; G-stage root (16 KiB aligned) and
// tables; VS page tables; data pages.
const CODE = RAM_BASE + 0x1000;
const HS_VEC = RAM_BASE + 0x2000;
const VS_VEC = RAM_BASE + 0x3000;
const M_VEC = RAM_BASE + 0x4000;
const G_ROOT = RAM_BASE + 0x10000; // 16 KiB
const G_L0 = RAM_BASE + 0x14000;
const VS_ROOT = RAM_BASE + 0x20000;
const VS_L0 = RAM_BASE + 0x21000;
const DATA = RAM_BASE + 0x30000;
/** A guest-physical window above 4 GiB, mapped page by page through G_L0. */
const HIGH_GPA = 0x2_0000_0000;

const spin = a.jal(0, 0);

/**
 * A hart with H: G-stage maps GPA [RAM_BASE, +4 MiB) to the same SPAs (one megapage,
 * U|RWX), and HIGH_GPA + n pages through G_L0 (set with gmap). vsatp bare. Trap vectors
 * spin, so a run ends in the handler that took the trap.
 */
function vm(o: { pmpEntries?: number; triggers?: number } = {}) {
  const m = new Machine();
  const h = new Hart(m.mem, { hExt: true, pmpEntries: o.pmpEntries ?? 0, triggers: o.triggers ?? 0 });
  m.hart = h;
  m.load(HS_VEC, [spin]);
  m.load(VS_VEC, [spin]);
  m.load(M_VEC, [spin]);
  h.writeCsr(MTVEC, M_VEC);
  h.writeCsr(STVEC, HS_VEC);
  h.writeCsr(VSTVEC, VS_VEC);
  const gput = (gpaIndex: number, pte: number) => m.mem.write32(G_ROOT + gpaIndex * 4, pte >>> 0);
  gput(RAM_BASE / 0x400000, ((RAM_BASE / 4096) << 10) | V | R | W | X | U | A | D);
  gput(HIGH_GPA / 0x400000, ((G_L0 / 4096) << 10) | V);
  h.writeCsr(HGATP, (0x80000000 | (G_ROOT / 4096)) >>> 0);
  const gmap = (gpa: number, spa: number, flags: number) =>
    m.mem.write32(G_L0 + ((gpa / 4096) & 0x3ff) * 4, (((spa / 4096) << 10) | flags) >>> 0);
  /** VS page tables (at GPA = SPA, identity-mapped by the G-stage megapage). */
  const vsmap = (va: number, gpa: number, flags: number) => {
    m.mem.write32(VS_ROOT + (va >>> 22) * 4, (((VS_L0 / 4096) << 10) | V) >>> 0);
    m.mem.write32(VS_L0 + ((va >>> 12) & 0x3ff) * 4, ((Math.floor(gpa / 4096) << 10) | flags) >>> 0);
  };
  /** Turns the VS stage on, with RAM (code, vectors) mapped VA = GPA as a supervisor megapage. */
  const vsOn = () => {
    m.mem.write32(VS_ROOT + (RAM_BASE >>> 22) * 4, (((RAM_BASE / 4096) << 10) | V | R | W | X | A | D) >>> 0);
    h.writeCsr(VSATP, (0x80000000 | (VS_ROOT / 4096)) >>> 0);
  };
  /** Runs `prog` at CODE in VS (or VU) mode for `budget` instructions. */
  const runGuest = (prog: Array<number | number[]>, priv = PRIV_S, budget = 200) => {
    m.load(CODE, prog);
    h.priv = priv;
    h.virt = true;
    h.pc = CODE;
    return m.run(budget);
  };
  /** Runs `prog` at CODE with V=0 in `priv`. */
  const runHost = (prog: Array<number | number[]>, priv = PRIV_M, budget = 200) => {
    m.load(CODE, prog);
    h.priv = priv;
    h.virt = false;
    h.pc = CODE;
    return m.run(budget);
  };
  return { m, h, gmap, vsmap, vsOn, runGuest, runHost };
}

describe('H extension: presence', () => {
  it('misa.H reads 1 only with hExt; without it H CSRs and instructions are illegal', () => {
    const m = new Machine();
    expect(m.hart.readCsr(MISA) & (1 << 7)).toBe(0);
    expect(() => m.hart.readCsr(HSTATUS)).toThrow(RangeError);
    for (const insn of [a.csrr(1, HSTATUS), a.csrr(1, VSSTATUS), hlv_w(1, 2), hsv_w(1, 2), hfence_vvma(), hfence_gvma(), a.csrr(1, MTVAL2)]) {
      const r = m.runAs(PRIV_M, [insn]);
      expect({ insn, cause: r.cause, tval: r.tval }).toEqual({ insn, cause: 2, tval: insn });
      m.resetHart();
    }
    const { h } = vm();
    expect(h.readCsr(MISA) & (1 << 7)).toBe(1 << 7);
    expect(h.readCsr(MISA) >>> 0).toBe((0x40141101 | 0x80) >>> 0);
  });
});

describe('H extension: CSRs', () => {
  it('WARL masks: hstatus, hedeleg, hideleg, hvip, hgatp, mideleg, medeleg, mstatush, GEILEN=0, henvcfg', () => {
    const { h } = vm();
    const wr = (c: number, v = 0xffffffff) => {
      h.writeCsr(c, v);
      return h.readCsr(c) >>> 0;
    };
    expect(wr(HSTATUS)).toBe(0x007003c0); // GVA SPV SPVP HU VTVM VTW VTSR; VSBE, VGEIN read zero
    expect(wr(HEDELEG)).toBe(0xb1ff); // 9, 10, 11, 20-23 read-only zero
    expect(wr(HIDELEG)).toBe(0x444);
    expect(wr(HVIP)).toBe(0x444);
    expect(wr(HGATP)).toBe(0x9ffffffc); // MODE, VMID (VMIDLEN 7), PPN[1:0] zero
    expect(wr(MIDELEG, 0)).toBe(0x444); // VS-level bits read-only one
    expect(wr(MIDELEG)).toBe(0x666);
    expect(wr(MEDELEG)).toBe((0xb3ff | 0x400 | 0xf00000) >>> 0);
    expect(wr(MSTATUSH)).toBe(0xc0); // MPV, GVA
    expect(wr(HGEIE)).toBe(0);
    expect(h.readCsr(HGEIP)).toBe(0);
    expect(wr(HENVCFG)).toBe(0);
    expect(wr(VSSTATUS)).toBe((1 << 1) | (1 << 5) | (1 << 8) | (1 << 18) | (1 << 19));
    expect(wr(VSATP)).toBe(0x803fffff);
    expect(wr(HCOUNTEREN, 5)).toBe(5);
    expect(wr(MTVAL2, 0x1234)).toBe(0x1234);
    expect(wr(MTINST, 0x2000)).toBe(0x2000);
  });

  it('hip/hie/mip and vsip/vsie alias the VS-level bits; sip/sie never show them', () => {
    const { h } = vm();
    h.writeCsr(MIDELEG, 0x222);
    h.writeCsr(MIE, 0xffffffff);
    expect(h.readCsr(MIE)).toBe(0xeee);
    expect(h.readCsr(HIE)).toBe(0x444);
    expect(h.readCsr(SIE)).toBe(0x222); // mideleg S bits delegated
    h.writeCsr(HVIP, 0x444);
    expect(h.readCsr(MIP) & 0x444).toBe(0x444);
    expect(h.readCsr(HIP)).toBe(0x444);
    expect(h.readCsr(SIP) & 0x444).toBe(0);
    expect(h.readCsr(VSIP)).toBe(0); // hideleg = 0
    h.writeCsr(HIDELEG, 0x404); // VSEI and VSSI
    expect(h.readCsr(VSIP)).toBe(0x202);
    expect(h.readCsr(VSIE)).toBe(0x202);
    h.writeCsr(VSIP, 0); // clears VSSIP (the only writable bit)
    expect(h.readCsr(HVIP)).toBe(0x440);
    h.writeCsr(HIP, 4);
    expect(h.readCsr(HVIP)).toBe(0x444);
    h.writeCsr(MIP, 0); // mip.VSSIP is a writable alias too
    expect(h.readCsr(HVIP)).toBe(0x440);
    h.writeCsr(VSIE, 0);
    expect(h.readCsr(HIE)).toBe(0x040); // VSTIE untouched: not delegated in hideleg
  });

  it('at V=1 the S CSRs mean the VS CSRs; the HS copies are untouched', () => {
    const { h, runGuest } = vm();
    h.writeCsr(SSCRATCH, 0x1111);
    h.writeCsr(VSSCRATCH, 0x2222);
    h.writeCsr(SEPC, 0x3330);
    h.writeCsr(VSEPC, 0x4440);
    runGuest([
      a.csrr(1, SSCRATCH), a.csrr(2, SEPC), ...a.li(3, 0x5555), a.csrw(SSCRATCH, 3),
      ...a.li(4, 0x123), a.csrw(SATP, 4), a.csrr(5, SATP), a.csrrsi(0, SSTATUS, 2), a.csrr(6, SSTATUS), spin,
    ]);
    expect([h.x[1], h.x[2]]).toEqual([0x2222, 0x4440]);
    expect(h.readCsr(VSSCRATCH)).toBe(0x5555);
    expect(h.readCsr(SSCRATCH)).toBe(0x1111);
    expect(h.readCsr(VSATP) >>> 0).toBe(0x123);
    expect(h.readCsr(SATP)).toBe(0);
    expect(h.x[5]! >>> 0).toBe(0x123);
    expect(h.readCsr(VSSTATUS) & 2).toBe(2);
    expect(h.readCsr(MSTATUS) & 2).toBe(0);
    expect(h.x[6]! & 2).toBe(2);
  });

  it('time at V=1 adds htimedelta (64-bit, carrying into timeh)', () => {
    const { h, runGuest } = vm();
    h.timeSource = () => 0x1_fffffff0;
    h.writeCsr(MCOUNTEREN, 7);
    h.writeCsr(HCOUNTEREN, 7);
    h.writeCsr(HTIMEDELTA, 0x20);
    h.writeCsr(HTIMEDELTAH, 3);
    runGuest([a.csrr(1, TIME), a.csrr(2, 0xc81), spin]);
    expect([h.x[1]! >>> 0, h.x[2]]).toEqual([0x10, 5]);
    h.setVirt(false);
    expect(h.readCsr(TIME) >>> 0).toBe(0xfffffff0); // V=0 reads time itself
  });
});

describe('H extension: trap routing', () => {
  it('ecall from VU goes to VS when hedeleg also delegates it, else to HS, else to M', () => {
    // VS: delegated by medeleg and hedeleg.
    let e = vm();
    e.h.writeCsr(MEDELEG, 1 << 8);
    e.h.writeCsr(HEDELEG, 1 << 8);
    e.runGuest([a.nop(), a.ecall()], PRIV_U);
    expect({ pc: e.h.pc, virt: e.h.virt, priv: e.h.priv }).toEqual({ pc: VS_VEC, virt: true, priv: PRIV_S });
    expect([e.h.readCsr(VSCAUSE), e.h.readCsr(VSEPC), e.h.readCsr(VSSTATUS) & (1 << 8)]).toEqual([8, CODE + 4, 0]);
    expect(e.h.readCsr(SCAUSE)).toBe(0);
    // HS: medeleg only.
    e = vm();
    e.h.writeCsr(MEDELEG, 1 << 8);
    e.runGuest([a.ecall()], PRIV_U);
    expect({ pc: e.h.pc, virt: e.h.virt, priv: e.h.priv }).toEqual({ pc: HS_VEC, virt: false, priv: PRIV_S });
    expect([e.h.readCsr(SCAUSE), e.h.readCsr(SEPC), e.h.readCsr(STVAL), e.h.readCsr(HTVAL), e.h.readCsr(HTINST)]).toEqual([8, CODE, 0, 0, 0]);
    const hs = e.h.readCsr(HSTATUS);
    expect({ spv: (hs >>> 7) & 1, spvp: (hs >>> 8) & 1, gva: (hs >>> 6) & 1 }).toEqual({ spv: 1, spvp: 0, gva: 0 });
    expect(e.h.readCsr(SSTATUS) & (1 << 8)).toBe(0); // SPP = U (VU)
    // sret returns to VU (SPV=1, SPP=U).
    e.h.pc = HS_VEC;
    e.m.load(HS_VEC, [a.sret()]);
    e.h.writeCsr(SEPC, CODE + 4);
    e.m.load(CODE + 4, [spin]);
    e.m.run(3);
    expect({ pc: e.h.pc, virt: e.h.virt, priv: e.h.priv, spv: (e.h.readCsr(HSTATUS) >>> 7) & 1 }).toEqual({ pc: CODE + 4, virt: true, priv: PRIV_U, spv: 0 });
    // M: not delegated; ecall from VS is cause 10.
    e = vm();
    e.runGuest([a.ecall()], PRIV_S);
    expect({ pc: e.h.pc, virt: e.h.virt, priv: e.h.priv }).toEqual({ pc: M_VEC, virt: false, priv: PRIV_M });
    expect(e.h.readCsr(MCAUSE)).toBe(10);
    expect(e.h.readCsr(MSTATUSH) & 0xc0).toBe(0x80); // MPV=1, GVA=0
    expect((e.h.readCsr(MSTATUS) >>> 11) & 3).toBe(PRIV_S);
    // mret back to VS (MPV=1, MPP=S).
    e.m.load(M_VEC, [a.mret()]);
    e.h.writeCsr(MEPC, CODE + 4);
    e.m.load(CODE + 4, [spin]);
    e.h.pc = M_VEC;
    e.m.run(3);
    expect({ pc: e.h.pc, virt: e.h.virt, priv: e.h.priv, mpv: e.h.readCsr(MSTATUSH) & 0x80 }).toEqual({ pc: CODE + 4, virt: true, priv: PRIV_S, mpv: 0 });
  });

  it('a breakpoint at V=1 taken into HS sets hstatus.GVA (stval is a guest virtual address)', () => {
    const e = vm();
    e.h.writeCsr(MEDELEG, 1 << 3);
    e.runGuest([a.ebreak()]);
    expect([e.h.readCsr(SCAUSE), e.h.readCsr(STVAL), (e.h.readCsr(HSTATUS) >>> 6) & 3, (e.h.readCsr(HSTATUS) >>> 8) & 1]).toEqual([3, CODE, 3, 1]);
  });

  it('trap from HS (V=0) leaves hstatus.SPVP alone and clears SPV', () => {
    const e = vm();
    e.h.writeCsr(MEDELEG, 1 << 2);
    e.h.writeCsr(HSTATUS, (1 << 8) | (1 << 7));
    e.runHost([0xffffffff], PRIV_U);
    expect([e.h.readCsr(SCAUSE), (e.h.readCsr(HSTATUS) >>> 7) & 3, e.h.virt]).toEqual([2, 2, false]);
  });
});

describe('H extension: guest-page faults', () => {
  it('explicit load, store and fetch: causes 21, 23, 20 with stval, htval = GPA >> 2, htinst, GVA', () => {
    // Load: vsatp bare, so GVA = GPA; GPA in the high window is unmapped.
    let e = vm();
    e.h.writeCsr(MEDELEG, 0xf00000);
    const gpa = HIGH_GPA + 0x5000 + 0x24;
    // With bare vsatp a 32-bit VA cannot reach above 4 GiB: map VA -> high GPA in VS.
    e.vsmap(0x40005000, HIGH_GPA + 0x5000, V | R | W | X | A | D);
    e.vsOn();
    const lw = a.lw(7, 0x24, 1);
    e.runGuest([...a.li(1, 0x40005000), lw]);
    expect({ cause: e.h.readCsr(SCAUSE), stval: e.h.readCsr(STVAL), htval: e.h.readCsr(HTVAL), htinst: e.h.readCsr(HTINST) }).toEqual({
      cause: 21, stval: 0x40005024, htval: Math.floor(gpa / 4), htinst: (lw & 0x7fff) >>> 0,
    });
    expect((e.h.readCsr(HSTATUS) >>> 6) & 7).toBe(0b111); // GVA, SPV, SPVP (from VS)
    expect(e.h.pc).toBe(HS_VEC);
    // Store: sw's transformed form keeps rs2, funct3 and opcode only.
    e = vm();
    e.h.writeCsr(MEDELEG, 0xf00000);
    e.vsmap(0x40005000, HIGH_GPA + 0x5000, V | R | W | X | A | D);
    e.gmap(HIGH_GPA + 0x5000, DATA, V | R | U | A); // read-only at the G-stage
    e.vsOn();
    const sw = a.sw(7, 0x10, 1);
    e.runGuest([...a.li(1, 0x40005000), a.lw(2, 0x10, 1), sw]);
    expect({ cause: e.h.readCsr(SCAUSE), stval: e.h.readCsr(STVAL), htval: e.h.readCsr(HTVAL), htinst: e.h.readCsr(HTINST) }).toEqual({
      cause: 23, stval: 0x40005010, htval: Math.floor((HIGH_GPA + 0x5010) / 4), htinst: (sw & 0x01f0707f) >>> 0,
    });
    // Fetch: jump to a page whose G-stage leaf lacks U (G-stage accesses are user accesses).
    e = vm();
    e.h.writeCsr(MEDELEG, 0xf00000);
    e.vsmap(0x40006000, HIGH_GPA + 0x6000, V | R | X | A);
    e.gmap(HIGH_GPA + 0x6000, DATA, V | R | X | A);
    e.vsOn();
    e.runGuest([...a.li(1, 0x40006008), a.jalr(0, 1, 0)]);
    expect({ cause: e.h.readCsr(SCAUSE), stval: e.h.readCsr(STVAL), htval: e.h.readCsr(HTVAL), htinst: e.h.readCsr(HTINST) }).toEqual({
      cause: 20, stval: 0x40006008, htval: Math.floor((HIGH_GPA + 0x6008) / 4), htinst: 0,
    });
  });

  it('implicit VS page-table read and A/D write: htval is the PTE GPA, htinst the pseudoinstruction', () => {
    // The VS root table lives at an unmapped GPA: the first fetch faults reading it, with
    // the read pseudoinstruction 0x2000.
    let e = vm();
    e.h.writeCsr(MEDELEG, 0xf00000);
    e.h.writeCsr(VSATP, (0x80000000 | (HIGH_GPA + 0x7000) / 4096) >>> 0);
    e.runGuest([a.nop()]);
    expect({ cause: e.h.readCsr(SCAUSE), stval: e.h.readCsr(STVAL), htval: e.h.readCsr(HTVAL), htinst: e.h.readCsr(HTINST) }).toEqual({
      cause: 20, stval: CODE, htval: Math.floor((HIGH_GPA + 0x7000 + (CODE >>> 22) * 4) / 4), htinst: 0x2000,
    });
    // The VS leaf needs A set but its table is read-only at the G-stage: a store guest-page
    // fault? No: reported for the original access (a load), with the write pseudoinstruction.
    e = vm();
    e.h.writeCsr(MEDELEG, 0xf00000);
    e.gmap(HIGH_GPA + 0x8000, VS_ROOT, V | R | U | A); // VS root, read-only in G
    e.gmap(HIGH_GPA + 0x9000, VS_L0, V | R | U | A); // VS level 0, read-only in G
    e.m.mem.write32(VS_ROOT + 1 * 4, ((((HIGH_GPA + 0x9000) / 4096) << 10) | V) >>> 0);
    e.m.mem.write32(VS_ROOT + (RAM_BASE >>> 22) * 4, (((RAM_BASE / 4096) << 10) | V | R | W | X | A | D) >>> 0); // code
    e.m.mem.write32(VS_L0 + 2 * 4, (((DATA / 4096) << 10) | V | R | W) >>> 0); // A clear
    e.h.writeCsr(VSATP, (0x80000000 | (HIGH_GPA + 0x8000) / 4096) >>> 0);
    e.runGuest([...a.li(1, 0x00402000), a.lw(2, 0, 1)]);
    expect({ cause: e.h.readCsr(SCAUSE), stval: e.h.readCsr(STVAL), htval: e.h.readCsr(HTVAL), htinst: e.h.readCsr(HTINST) }).toEqual({
      cause: 21, stval: 0x00402000, htval: Math.floor((HIGH_GPA + 0x9000 + 2 * 4) / 4), htinst: 0x2020,
    });
    // Made writable in G, the walk sets A and the load completes.
    e.gmap(HIGH_GPA + 0x9000, VS_L0, V | R | W | U | A);
    e.m.mem.write32(DATA, 0xabcd);
    e.h.flushTlb();
    e.runGuest([...a.li(1, 0x00402000), a.lw(2, 0, 1), spin]);
    expect(e.h.x[2]).toBe(0xabcd);
    expect(e.m.mem.read32(VS_L0 + 8) & (A | D)).toBe(A);
    expect(e.m.mem.read32(G_L0 + 9 * 4) & D).toBe(D); // the G-stage leaf of the written table
  });

  it('a guest-page fault taken into M writes mtval2, mtinst and mstatush.GVA', () => {
    const e = vm();
    e.vsmap(0x40005000, HIGH_GPA + 0x5000, V | R | W | A | D);
    e.vsOn();
    const lb = a.lb(3, 1, 1);
    e.runGuest([...a.li(1, 0x40005000), lb]);
    expect({ pc: e.h.pc, cause: e.h.readCsr(MCAUSE), tval: e.h.readCsr(MTVAL), tval2: e.h.readCsr(MTVAL2), tinst: e.h.readCsr(MTINST), h: e.h.readCsr(MSTATUSH) }).toEqual({
      pc: M_VEC, cause: 21, tval: 0x40005001, tval2: Math.floor((HIGH_GPA + 0x5001) / 4), tinst: (lb & 0x7fff) >>> 0, h: 0xc0,
    });
  });

  it('a VS-stage page fault delegated to VS reaches vstvec with vstval; HS state untouched', () => {
    const e = vm();
    e.h.writeCsr(MEDELEG, 1 << 13);
    e.h.writeCsr(HEDELEG, 1 << 13);
    e.vsOn(); // empty VS root
    e.runGuest([...a.li(1, 0x12345678), a.lw(2, 0, 1)]);
    expect({ pc: e.h.pc, virt: e.h.virt, cause: e.h.readCsr(VSCAUSE), tval: e.h.readCsr(VSTVAL), scause: e.h.readCsr(SCAUSE) }).toEqual({
      pc: VS_VEC, virt: true, cause: 13, tval: 0x12345678, scause: 0,
    });
  });
});

describe('H extension: virtual-instruction and illegal-instruction cases', () => {
  const cases: Array<{ name: string; priv: number; setup?: (h: Hart) => void; insn: number; cause: number }> = [
    { name: 'VS reads hstatus', priv: PRIV_S, insn: a.csrr(1, HSTATUS), cause: 22 },
    { name: 'VS reads vsstatus by its own number', priv: PRIV_S, insn: a.csrr(1, VSSTATUS), cause: 22 },
    { name: 'VS writes hgeip (read-only)', priv: PRIV_S, insn: a.csrw(HGEIP, 1), cause: 2 },
    { name: 'VS reads mstatus', priv: PRIV_S, insn: a.csrr(1, MSTATUS), cause: 2 },
    { name: 'VU reads sstatus', priv: PRIV_U, insn: a.csrr(1, SSTATUS), cause: 22 },
    { name: 'VU reads hstatus', priv: PRIV_U, insn: a.csrr(1, HSTATUS), cause: 22 },
    { name: 'VS sret with VTSR', priv: PRIV_S, setup: (h) => h.writeCsr(HSTATUS, 1 << 22), insn: a.sret(), cause: 22 },
    { name: 'VS sret with mstatus.TSR (ignored at V=1)', priv: PRIV_S, setup: (h) => { h.writeCsr(MSTATUS, 1 << 22); h.writeCsr(VSEPC, CODE + 4); }, insn: a.sret(), cause: -1 },
    { name: 'VU sret', priv: PRIV_U, insn: a.sret(), cause: 22 },
    { name: 'VS mret', priv: PRIV_S, insn: a.mret(), cause: 2 },
    { name: 'VS wfi with VTW', priv: PRIV_S, setup: (h) => h.writeCsr(HSTATUS, 1 << 21), insn: a.wfi(), cause: 22 },
    { name: 'VS wfi with mstatus.TW', priv: PRIV_S, setup: (h) => h.writeCsr(MSTATUS, 1 << 21), insn: a.wfi(), cause: 2 },
    { name: 'VU wfi', priv: PRIV_U, insn: a.wfi(), cause: 22 },
    { name: 'VS sfence.vma with VTVM', priv: PRIV_S, setup: (h) => h.writeCsr(HSTATUS, 1 << 20), insn: a.sfence_vma(), cause: 22 },
    { name: 'VS satp with VTVM', priv: PRIV_S, setup: (h) => h.writeCsr(HSTATUS, 1 << 20), insn: a.csrr(1, SATP), cause: 22 },
    { name: 'VS satp with mstatus.TVM (ignored at V=1)', priv: PRIV_S, setup: (h) => h.writeCsr(MSTATUS, 1 << 20), insn: a.csrr(1, SATP), cause: -1 },
    { name: 'VU sfence.vma', priv: PRIV_U, insn: a.sfence_vma(), cause: 22 },
    { name: 'VS hlv.w', priv: PRIV_S, insn: hlv_w(1, 2), cause: 22 },
    { name: 'VS hsv.w', priv: PRIV_S, insn: hsv_w(1, 2), cause: 22 },
    { name: 'VS hfence.vvma', priv: PRIV_S, insn: hfence_vvma(), cause: 22 },
    { name: 'VU hfence.gvma', priv: PRIV_U, insn: hfence_gvma(), cause: 22 },
    { name: 'VS reserved HLV encoding (hlv.wu on RV32)', priv: PRIV_S, insn: hlv(0x34, 1)(1, 2), cause: 2 },
    { name: 'VS cycle: mcounteren 0', priv: PRIV_S, insn: a.csrr(1, CYCLE), cause: 2 },
    { name: 'VS cycle: mcounteren 1, hcounteren 0', priv: PRIV_S, setup: (h) => h.writeCsr(MCOUNTEREN, 1), insn: a.csrr(1, CYCLE), cause: 22 },
    { name: 'VS cycle: both 1', priv: PRIV_S, setup: (h) => { h.writeCsr(MCOUNTEREN, 1); h.writeCsr(HCOUNTEREN, 1); }, insn: a.csrr(1, CYCLE), cause: -1 },
    { name: 'VU cycle: scounteren 0', priv: PRIV_U, setup: (h) => { h.writeCsr(MCOUNTEREN, 1); h.writeCsr(HCOUNTEREN, 1); }, insn: a.csrr(1, CYCLE), cause: 22 },
    { name: 'VU cycleh: all 1', priv: PRIV_U, setup: (h) => { h.writeCsr(MCOUNTEREN, 1); h.writeCsr(HCOUNTEREN, 1); h.writeCsr(SCOUNTEREN, 1); }, insn: a.csrr(1, 0xc80), cause: -1 },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.cause < 0 ? 'allowed' : c.cause === 22 ? 'virtual instruction' : 'illegal instruction'}`, () => {
      const e = vm();
      e.h.hostTraps = true;
      c.setup?.(e.h);
      const r = e.runGuest([c.insn, spin], c.priv, 50);
      if (c.cause < 0) {
        expect(r).toBe(ExitReason.Budget);
      } else {
        expect(r).toBe(ExitReason.HostTrap);
        expect({ cause: e.h.trapCause, tval: e.h.trapTval, pc: e.h.pc, virt: e.h.trapVirt }).toEqual({ cause: c.cause, tval: c.insn, pc: CODE, virt: true });
      }
    });
  }

  const hsCases: Array<{ name: string; priv: number; setup?: (h: Hart) => void; insn: number; cause: number }> = [
    { name: 'HS reads hstatus', priv: PRIV_S, insn: a.csrr(1, HSTATUS), cause: -1 },
    { name: 'HS reads vsatp with TVM', priv: PRIV_S, setup: (h) => h.writeCsr(MSTATUS, 1 << 20), insn: a.csrr(1, VSATP), cause: -1 },
    { name: 'HS reads hgatp with TVM', priv: PRIV_S, setup: (h) => h.writeCsr(MSTATUS, 1 << 20), insn: a.csrr(1, HGATP), cause: 2 },
    { name: 'HS hfence.gvma with TVM', priv: PRIV_S, setup: (h) => h.writeCsr(MSTATUS, 1 << 20), insn: hfence_gvma(), cause: 2 },
    { name: 'HS hfence.vvma with TVM', priv: PRIV_S, setup: (h) => h.writeCsr(MSTATUS, 1 << 20), insn: hfence_vvma(), cause: -1 },
    { name: 'U reads hstatus', priv: PRIV_U, insn: a.csrr(1, HSTATUS), cause: 2 },
    { name: 'U hfence.vvma', priv: PRIV_U, insn: hfence_vvma(), cause: 2 },
    { name: 'U hlv.w with HU=0', priv: PRIV_U, insn: hlv_w(1, 2), cause: 2 },
    { name: 'U hlv.w with HU=1', priv: PRIV_U, setup: (h) => { h.writeCsr(HSTATUS, 1 << 9); h.x[2] = DATA; }, insn: hlv_w(1, 2), cause: -1 },
    { name: 'M reads mtinst', priv: PRIV_M, insn: a.csrr(1, MTINST), cause: -1 },
  ];
  for (const c of hsCases) {
    it(`${c.name} -> ${c.cause < 0 ? 'allowed' : 'illegal instruction'}`, () => {
      const e = vm();
      e.h.hostTraps = true;
      c.setup?.(e.h);
      const r = e.runHost([c.insn, spin], c.priv, 50);
      if (c.cause < 0) expect(r).toBe(ExitReason.Budget);
      else expect({ r, cause: e.h.trapCause, tval: e.h.trapTval }).toEqual({ r: ExitReason.HostTrap, cause: c.cause, tval: c.insn });
    });
  }
});

describe('H extension: HLV, HLVX, HSV', () => {
  it('load and store guest memory as VS or VU (hstatus.SPVP), sign/zero extending', () => {
    const e = vm();
    e.vsmap(0x10000000, DATA, V | R | W | U | A | D); // a user page
    e.vsmap(0x10001000, DATA + 0x1000, V | X | A); // execute-only, supervisor
    e.vsOn();
    e.m.mem.write32(DATA, 0x8081f0f1);
    e.m.mem.write32(DATA + 0x1000, 0x12345678);
    e.h.hostTraps = true;
    e.h.writeCsr(HSTATUS, 0); // SPVP = 0: as VU
    e.runHost([
      ...a.li(1, 0x10000000), hlv_b(2, 1), hlv_bu(3, 1), hlv_h(4, 1), hlv_hu(5, 1), hlv_w(6, 1),
      ...a.li(7, 0x11223344), hsv_b(7, 1), a.addi(8, 1, 2), hsv_h(7, 8), a.addi(9, 1, 4), hsv_w(7, 9), a.ebreak(),
    ]);
    expect(e.h.trapCause).toBe(3);
    expect([e.h.x[2], e.h.x[3], e.h.x[4], e.h.x[5], e.h.x[6]]).toEqual([-15, 0xf1, (0xf0f1 << 16) >> 16, 0xf0f1, 0x8081f0f1 | 0]);
    expect([e.m.mem.read32(DATA) >>> 0, e.m.mem.read32(DATA + 4)]).toEqual([0x3344f044, 0x11223344]);
    // HLVX reads the execute-only page (as VS); HLV faults on it (13) unless HS MXR.
    e.h.writeCsr(HSTATUS, 1 << 8);
    e.runHost([...a.li(1, 0x10001000), hlvx_wu(2, 1), hlvx_hu(3, 1), a.ebreak()]);
    expect([e.h.trapCause, e.h.x[2], e.h.x[3]]).toEqual([3, 0x12345678, 0x5678]);
    const bad = hlv_w(2, 1);
    e.runHost([...a.li(1, 0x10001004), bad]);
    expect({ cause: e.h.trapCause, tval: e.h.trapTval, gva: e.h.trapGva, virt: e.h.trapVirt, tinst: e.h.trapTinst }).toEqual({
      cause: 13, tval: 0x10001004, gva: true, virt: false, tinst: (bad & ~(31 << 15)) >>> 0,
    });
    e.h.writeCsr(MSTATUS, 1 << 19); // HS MXR: both stages
    e.runHost([...a.li(1, 0x10001000), hlv_w(2, 1), a.ebreak()]);
    expect([e.h.trapCause, e.h.x[2]]).toEqual([3, 0x12345678]);
    // As VS without vsstatus.SUM the user page faults; with SUM it loads.
    e.h.writeCsr(MSTATUS, 0);
    e.runHost([...a.li(1, 0x10000000), hlv_w(2, 1), a.ebreak()]);
    expect(e.h.trapCause).toBe(13);
    e.h.writeCsr(VSSTATUS, 1 << 18);
    e.runHost([...a.li(1, 0x10000000), hlv_w(2, 1), a.ebreak()]);
    expect(e.h.trapCause).toBe(3);
  });

  it('vsstatus.MXR opens X-only pages of the VS stage only; HS MXR opens the G stage too', () => {
    const e = vm();
    e.vsmap(0x10000000, HIGH_GPA + 0x3000, V | X | A); // VS: execute-only
    e.gmap(HIGH_GPA + 0x3000, DATA, V | X | U | A); // G: execute-only
    e.vsOn();
    e.h.hostTraps = true;
    e.h.writeCsr(HSTATUS, 1 << 8);
    const run = () => {
      e.runHost([...a.li(1, 0x10000000), hlv_w(2, 1), a.ebreak()]);
      return e.h.trapCause;
    };
    expect(run()).toBe(13);
    e.h.writeCsr(VSSTATUS, 1 << 19);
    expect(run()).toBe(21); // VS stage passes, G stage is still execute-only
    e.h.writeCsr(VSSTATUS, 0);
    e.h.writeCsr(MSTATUS, 1 << 19);
    expect(run()).toBe(3);
  });
});

describe('H extension: PMP over two-stage translation (privileged spec 3.7.1, 8.5)', () => {
  const PMPCFG0 = 0x3a0, PMPADDR0 = 0x3b0;
  const NAPOT = 3 << 3;
  const napot = (base: number, size: number) => ((base + size / 2 - 1) / 4) >>> 0;
  /** Entry 0: `cfg` over [base, base + size) (not locked: M is never checked); entry 1: all RWX. */
  const pmpVm = (base: number, size: number, cfg: number) => {
    const e = vm({ pmpEntries: 16 });
    e.h.writeCsr(PMPADDR0, napot(base, size));
    e.h.writeCsr(PMPADDR0 + 1, 0xffffffff);
    e.h.writeCsr(PMPCFG0, (cfg | NAPOT | ((NAPOT | 7) << 8)) >>> 0);
    return e;
  };
  const mTrap = (h: Hart) => ({ pc: h.pc, cause: h.readCsr(MCAUSE), tval: h.readCsr(MTVAL), tval2: h.readCsr(MTVAL2), mstatush: h.readCsr(MSTATUSH) });

  it('G-stage page-table reads are S-mode accesses: PMP denying the G root gives an instruction access fault, not a guest-page fault', () => {
    const e = pmpVm(G_ROOT, 0x4000, 0);
    e.runGuest([a.nop(), spin]);
    expect(mTrap(e.h)).toEqual({ pc: M_VEC, cause: 1, tval: CODE, tval2: 0, mstatush: 0xc0 });
    // Readable is enough for a walk whose leaf has A set.
    const ok = pmpVm(G_ROOT, 0x4000, 1);
    ok.runGuest([a.nop(), spin]);
    expect(ok.h.pc).toBe(CODE + 4);
  });

  it('VS-stage page-table reads at the SPA the G-stage gives are checked: a load access fault (5)', () => {
    const e = pmpVm(VS_L0, 0x1000, 0);
    e.vsmap(0x10000000, DATA, V | R | W | A | D);
    e.vsOn();
    e.runGuest([...a.li(1, 0x10000000), a.lw(2, 0, 1), spin]);
    expect(mTrap(e.h)).toEqual({ pc: M_VEC, cause: 5, tval: 0x10000000, tval2: 0, mstatush: 0xc0 });
  });

  it('A/D updates are implicit stores: a read-only PMP region over a VS or G table faults them (5), and only them', () => {
    // VS leaf without A in a PMP read-only table.
    let e = pmpVm(VS_L0, 0x1000, 1);
    e.vsmap(0x10000000, DATA, V | R | W);
    e.vsOn();
    e.runGuest([...a.li(1, 0x10000000), a.lw(2, 0, 1), spin]);
    expect(mTrap(e.h)).toEqual({ pc: M_VEC, cause: 5, tval: 0x10000000, tval2: 0, mstatush: 0xc0 });
    expect(e.m.mem.read32(VS_L0) & A).toBe(0);
    // G leaf without A (a 4 KiB page above 4 GiB) in a PMP read-only G table.
    e = pmpVm(G_L0, 0x1000, 1);
    e.gmap(HIGH_GPA + 0x3000, DATA, V | R | W | U);
    e.vsmap(0x10000000, HIGH_GPA + 0x3000, V | R | W | A | D);
    e.vsOn();
    e.runGuest([...a.li(1, 0x10000000), a.sw(0, 0, 1), spin]);
    expect(mTrap(e.h)).toEqual({ pc: M_VEC, cause: 7, tval: 0x10000000, tval2: 0, mstatush: 0xc0 });
    expect(e.m.mem.read32(G_L0 + 3 * 4) & (A | D)).toBe(0);
    // With the A and D bits already set nothing is written, and the access proceeds.
    e.gmap(HIGH_GPA + 0x3000, DATA, V | R | W | U | A | D);
    e.h.flushTlb();
    e.runGuest([...a.li(1, 0x10000000), ...a.li(2, 0x55), a.sw(2, 0, 1), spin]);
    expect(e.m.mem.read32(DATA)).toBe(0x55);
  });

  it('HLV/HSV from M are checked by PMP with the privilege they access as (SPVP: S or U), not M', () => {
    const e = pmpVm(DATA, 0x1000, 0);
    e.vsmap(0x10000000, DATA, V | R | W | U | A | D);
    e.vsOn();
    e.h.hostTraps = true;
    for (const spvp of [0, 1]) {
      e.h.writeCsr(HSTATUS, spvp << 8);
      e.h.writeCsr(VSSTATUS, 1 << 18); // SUM: VS may touch the user page
      const ld = hlv_w(2, 1);
      e.runHost([...a.li(1, 0x10000000), ld]);
      expect({ cause: e.h.trapCause, tval: e.h.trapTval, gva: e.h.trapGva }, `hlv.w spvp=${spvp}`).toEqual({ cause: 5, tval: 0x10000000, gva: true });
      e.runHost([...a.li(1, 0x10000000), hsv_w(0, 1)]);
      expect({ cause: e.h.trapCause, tval: e.h.trapTval, gva: e.h.trapGva }, `hsv.w spvp=${spvp}`).toEqual({ cause: 7, tval: 0x10000000, gva: true });
    }
    // M's own accesses to the same frame are not checked (entry 0 is not locked).
    e.runHost([...a.li(1, DATA), a.lw(2, 0, 1), a.ebreak()]);
    expect(e.h.trapCause).toBe(3);
  });
});

describe('H extension: debug triggers at V=1 (Sdtrig 1.0)', () => {
  const TSELECT = 0x7a0, TDATA1 = 0x7a1, TDATA2 = 0x7a2;
  // mcontrol (type 2): s = 1 << 4, u = 1 << 3, execute = 1 << 2, load = 1.
  const arm = (h: Hart, bits: number, addr: number) => {
    h.writeCsr(TSELECT, 0);
    h.writeCsr(TDATA2, addr);
    h.writeCsr(TDATA1, ((2 << 28) | bits) >>> 0);
  };

  it('a type-2 trigger with s and u set fires in HS and U but never in VS or VU (it has no vs/vu bits)', () => {
    for (const [virt, priv] of [[false, PRIV_S], [false, PRIV_U], [true, PRIV_S], [true, PRIV_U]] as const) {
      const e = vm({ triggers: 2 });
      e.h.writeCsr(MSTATUS, 1 << 1); // SIE (re-entrancy rule) though medeleg[3] = 0 anyway
      arm(e.h, (1 << 4) | (1 << 3) | (1 << 2) | 1, DATA);
      const prog = [...a.li(1, DATA), a.lw(2, 0, 1), spin];
      if (virt) e.runGuest(prog, priv);
      else e.runHost(prog, priv);
      const where = `${virt ? 'V' : ''}${priv === PRIV_S ? 'S' : 'U'}`;
      if (virt) expect(e.h.pc, where).not.toBe(M_VEC);
      else expect({ pc: e.h.pc, cause: e.h.readCsr(MCAUSE), tval: e.h.readCsr(MTVAL) }, where).toEqual({ pc: M_VEC, cause: 3, tval: DATA });
    }
  });
});

describe('H extension: interrupts', () => {
  it('hvip.VSTIP delegated by hideleg reaches VS as a supervisor timer interrupt (code 5)', () => {
    const e = vm();
    e.h.writeCsr(HIDELEG, 0x444);
    e.h.writeCsr(MIE, 0x444);
    e.h.writeCsr(VSSTATUS, 2); // SIE
    e.h.writeCsr(HVIP, 1 << 6);
    e.runGuest([spin], PRIV_S, 5);
    expect({ pc: e.h.pc, cause: e.h.readCsr(VSCAUSE) >>> 0, virt: e.h.virt }).toEqual({ pc: VS_VEC, cause: 0x80000005, virt: true });
    expect(e.h.readCsr(VSIP)).toBe(1 << 5);
  });

  it('VS-level interrupts wait for vsstatus.SIE in VS, never fire at V=0, and VSEI beats VSTI', () => {
    const e = vm();
    e.h.writeCsr(HIDELEG, 0x444);
    e.h.writeCsr(MIE, 0x444);
    e.h.writeCsr(HVIP, (1 << 6) | (1 << 10));
    e.h.writeCsr(VSTVEC, VS_VEC | 1); // vectored
    e.m.load(VS_VEC + 4 * 9, [spin]);
    e.runHost([spin], PRIV_S, 5);
    e.h.writeCsr(MSTATUS, 2); // HS SIE: still nothing, VS-level interrupts are for V=1
    e.runHost([spin], PRIV_S, 5);
    expect(e.h.pc).toBe(CODE);
    e.runGuest([spin], PRIV_S, 5); // VS with vsstatus.SIE=0
    expect(e.h.pc).toBe(CODE);
    e.runGuest([spin], PRIV_U, 5); // VU: always enabled
    expect({ pc: e.h.pc, cause: e.h.readCsr(VSCAUSE) >>> 0 }).toEqual({ pc: VS_VEC + 4 * 9, cause: 0x80000009 });
  });

  it('without hideleg a VS-level interrupt goes to HS with its own code, even from VS with SIE clear', () => {
    const e = vm();
    e.h.writeCsr(MIE, 1 << 2);
    e.h.writeCsr(HVIP, 1 << 2);
    e.runGuest([spin], PRIV_S, 5);
    expect({ pc: e.h.pc, cause: e.h.readCsr(SCAUSE) >>> 0, virt: e.h.virt, spv: (e.h.readCsr(HSTATUS) >>> 7) & 1 }).toEqual({
      pc: HS_VEC, cause: 0x80000002, virt: false, spv: 1,
    });
  });
});

describe('H extension: TLB', () => {
  it('V=1 translations are separate and flushed by vsatp writes, hfence.vvma and sfence.vma at V=1', () => {
    const e = vm();
    e.vsmap(0x10000000, DATA, V | R | W | A | D);
    e.vsOn();
    e.m.mem.write32(DATA, 1);
    e.m.mem.write32(DATA + 0x1000, 2);
    e.runGuest([...a.li(1, 0x10000000), a.lw(2, 0, 1), spin]);
    expect(e.h.x[2]).toBe(1);
    e.vsmap(0x10000000, DATA + 0x1000, V | R | W | A | D);
    e.runGuest([...a.li(1, 0x10000000), a.lw(2, 0, 1), spin]);
    expect(e.h.x[2]).toBe(1); // stale, as on hardware
    e.runGuest([a.sfence_vma(), ...a.li(1, 0x10000000), a.lw(2, 0, 1), spin]);
    expect(e.h.x[2]).toBe(2);
    e.vsmap(0x10000000, DATA, V | R | W | A | D);
    e.runHost([hfence_vvma(), spin], PRIV_S, 3);
    e.runGuest([...a.li(1, 0x10000000), a.lw(2, 0, 1), spin]);
    expect(e.h.x[2]).toBe(1);
    // An HS access to the same VA uses its own (bare) translation.
    e.runHost([...a.li(1, DATA + 0x1000), a.lw(2, 0, 1), spin], PRIV_S);
    expect(e.h.x[2]).toBe(2);
  });
});

describe('H extension: host interface', () => {
  it('with hostTraps, an HS-targeted trap from V=1 exits with state unchanged and the trap recorded', () => {
    const e = vm();
    e.h.hostTraps = true;
    e.h.writeCsr(MEDELEG, 0xf00000);
    e.vsmap(0x40005000, HIGH_GPA + 0x5000, V | R | W | A | D);
    e.vsOn();
    const sw = a.sw(7, 8, 1);
    const r = e.runGuest([...a.li(1, 0x40005000), sw]);
    expect(r).toBe(ExitReason.HostTrap);
    expect({
      pc: e.h.pc, priv: e.h.priv, virt: e.h.virt, cause: e.h.trapCause, tval: e.h.trapTval,
      tval2: e.h.trapTval2, tinst: e.h.trapTinst, gva: e.h.trapGva, tvirt: e.h.trapVirt, scause: e.h.readCsr(SCAUSE),
    }).toEqual({
      pc: CODE + 8, priv: PRIV_S, virt: true, cause: 23, tval: 0x40005008, tval2: Math.floor((HIGH_GPA + 0x5008) / 4),
      tinst: (sw & 0x01f0707f) >>> 0, gva: true, tvirt: true, scause: 0,
    });
    // The hypervisor maps the page and resumes; the store completes.
    e.gmap(HIGH_GPA + 0x5000, DATA, V | R | W | U | A | D);
    e.h.x[7] = 0x77;
    e.m.load(CODE + 12, [spin]);
    expect(e.m.run(10)).toBe(ExitReason.Budget);
    expect(e.m.mem.read32(DATA + 8)).toBe(0x77);
    // V=0 traps delegated to S still vector to stvec.
    e.h.writeCsr(MEDELEG, 1 << 2);
    expect(e.runHost([0xffffffff], PRIV_U, 5)).toBe(ExitReason.Budget);
    expect(e.h.pc).toBe(HS_VEC);
  });

  it('deliverToVs injects a trap into VS; setVirt switches worlds; translate walks both stages', () => {
    const e = vm();
    e.h.priv = PRIV_S;
    e.h.setVirt(true);
    e.h.pc = CODE + 0x40;
    e.h.writeCsr(VSSTATUS, 2);
    e.h.deliverToVs(0x80000000 | 6, 0); // a VS timer interrupt, as VS sees it: code 5
    expect({ pc: e.h.pc, cause: e.h.readCsr(VSCAUSE) >>> 0, epc: e.h.readCsr(VSEPC), st: e.h.readCsr(VSSTATUS) & 0x122 }).toEqual({
      pc: VS_VEC, cause: 0x80000005, epc: CODE + 0x40, st: 0x120,
    });
    e.h.deliverToVs(13, 0xdead0000);
    expect([e.h.readCsr(VSCAUSE), e.h.readCsr(VSTVAL) >>> 0]).toEqual([13, 0xdead0000]);
    e.h.setVirt(false);
    expect(() => e.h.deliverToVs(2, 0)).toThrow(RangeError);
    e.h.priv = PRIV_M;
    expect(() => e.h.setVirt(true)).toThrow(RangeError);
    e.vsmap(0x40005000, HIGH_GPA + 0x5000, V | R | X | A);
    e.gmap(HIGH_GPA + 0x5000, DATA, V | R | X | U | A);
    e.vsOn();
    expect(e.h.translate(0x40005123, 'x', PRIV_S, { virt: true })).toBe(DATA + 0x123);
    expect(e.h.translate(0x40005123, 'w', PRIV_S, { virt: true })).toBe(-1);
    expect(e.h.translate(0x40005123, 'r', PRIV_U, { virt: true })).toBe(-1); // VS page, VU access
    expect(e.h.translate(0x40006000, 'r', PRIV_S, { virt: true })).toBe(-1);
    expect(() => new Machine().hart.translate(0, 'r', PRIV_S, { virt: true })).toThrow(RangeError);
  });
});

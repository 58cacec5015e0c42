import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_M, PRIV_S, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import * as a from './asm.ts';
import { freshMemory, Machine, RAM_BASE } from './helpers.ts';

const ILLEGAL = 2;

describe('Zicsr instructions', () => {
  it('all six operations return the old value and update the CSR', () => {
    const m = new Machine();
    m.exec([
      a.li(1, 0xf0f0f0f0), a.li(2, 0x0000ffff),
      a.csrrw(3, C.CSR_MSCRATCH, 1), // old 0, new f0f0f0f0
      a.csrrs(4, C.CSR_MSCRATCH, 2), // old f0f0f0f0, new f0f0ffff
      a.csrrc(5, C.CSR_MSCRATCH, 1), // old f0f0ffff, new 00000f0f
      a.csrrwi(6, C.CSR_MSCRATCH, 0x15), // old 0f0f, new 0x15
      a.csrrsi(7, C.CSR_MSCRATCH, 0x0a), // old 0x15, new 0x1f
      a.csrrci(8, C.CSR_MSCRATCH, 0x03), // old 0x1f, new 0x1c
      a.csrr(9, C.CSR_MSCRATCH),
      a.csrrw(10, C.CSR_MSCRATCH, 10), // rd == rs1: old value to rd, rs1 read first
      a.csrr(11, C.CSR_MSCRATCH),
    ]);
    expect([3, 4, 5, 6, 7, 8, 9].map((r) => m.xu(r))).toEqual([0, 0xf0f0f0f0, 0xf0f0ffff, 0x0f0f, 0x15, 0x1f, 0x1c]);
    expect(m.xu(10)).toBe(0x1c);
    expect(m.xu(11)).toBe(0);
  });

  it('csrrs/csrrc with rs1 = x0 and csrrsi/csrrci with 0 read read-only CSRs without faulting', () => {
    const m = new Machine();
    const h = new Hart(m.mem, { hartId: 7 });
    m.load(RAM_BASE, [
      a.csrrs(1, C.CSR_MHARTID, 0), a.csrrc(2, C.CSR_MISA, 0), a.csrrsi(3, C.CSR_MVENDORID, 0),
      a.csrrci(4, C.CSR_MIMPID, 0), a.csrr(5, C.CSR_MARCHID), a.csrr(6, C.CSR_MCONFIGPTR), a.ebreak(),
    ]);
    h.pc = RAM_BASE;
    h.hostTraps = true;
    h.x[3] = 99;
    expect(m.cpu.run(h, 100)).toBe(ExitReason.HostTrap);
    expect(h.trapCause).toBe(3);
    expect([h.x[1], h.x[2]! >>> 0, h.x[3], h.x[4], h.x[5], h.x[6]]).toEqual([7, 0x40141101, 0, 0, 0, 0]);
  });

  it.each([
    ['csrrw to mhartid', a.csrrw(1, C.CSR_MHARTID, 0)],
    ['csrrw x0 to cycle', a.csrrw(0, C.CSR_CYCLE, 1)],
    ['csrrs with rs1!=0 to mvendorid', a.csrrs(1, C.CSR_MVENDORID, 2)],
    ['csrrsi with uimm!=0 to instret', a.csrrsi(1, C.CSR_INSTRET, 1)],
    ['csrrci with uimm!=0 to time', a.csrrci(1, C.CSR_TIME, 4)],
    ['unimplemented tselect', a.csrr(1, 0x7a0)],
    ['unimplemented fflags', a.csrr(1, 0x001)],
    ['unimplemented hstatus', a.csrr(1, 0x600)],
    ['unimplemented mtinst', a.csrr(1, 0x34a)],
  ])('%s is illegal', (_n, insn) => {
    const m = new Machine();
    m.hart.x[1] = 123;
    expect(m.runAs(PRIV_M, [insn])).toEqual({ cause: ILLEGAL, tval: insn, pc: RAM_BASE });
    expect(m.hart.x[1]).toBe(123);
  });

  it('M-mode CSRs are illegal from S and U; S-mode CSRs are illegal from U', () => {
    const shared = new Machine();
    for (const [priv, csr] of [
      [PRIV_S, C.CSR_MSTATUS], [PRIV_S, C.CSR_MSCRATCH], [PRIV_S, C.CSR_MHARTID],
      [PRIV_S, C.CSR_MCYCLE], [PRIV_U, C.CSR_SSTATUS], [PRIV_U, C.CSR_SATP], [PRIV_U, C.CSR_MSTATUS],
    ] as const) {
      shared.resetHart();
      const m = shared;
      const insn = a.csrr(1, csr);
      expect(m.runAs(priv, [insn])).toEqual({ cause: ILLEGAL, tval: insn, pc: RAM_BASE });
    }
    const m = new Machine();
    expect(m.runAs(PRIV_S, [a.csrrw(0, C.CSR_SSCRATCH, 0), a.csrr(1, C.CSR_SSTATUS)]).cause).toBe(9);
  });
});

describe('mip read-modify-write', () => {
  it('csrrs/csrrc on mip modify the software SEIP bit, not the external line', () => {
    const m = new Machine();
    m.hart.setInterruptPending(9, true);
    m.exec([a.csrr(1, C.CSR_MIP), a.csrrsi(2, C.CSR_MIP, 2), a.csrr(3, C.CSR_MIP)]);
    expect([m.xu(1), m.xu(2), m.xu(3)]).toEqual([0x200, 0x200, 0x202]);
    m.hart.setInterruptPending(9, false);
    expect(m.hart.readCsr(C.CSR_MIP)).toBe(0x2);
    // a software-set SEIP survives the line dropping
    const m2 = new Machine();
    m2.exec([a.csrrsi(0, C.CSR_MIP, 0), a.li(1, 0x200), a.csrrs(0, C.CSR_MIP, 1)]);
    m2.hart.setInterruptPending(9, true);
    m2.hart.setInterruptPending(9, false);
    expect(m2.hart.readCsr(C.CSR_MIP)).toBe(0x200);
  });
});

describe('CSR WARL behaviour (host view)', () => {
  const h = (): Hart => new Hart(freshMemory(0));

  it('mstatus keeps only implemented bits; MPP=2 is not stored', () => {
    const hart = h();
    hart.writeCsr(C.CSR_MSTATUS, 0xffffffff);
    expect(hart.readCsr(C.CSR_MSTATUS)).toBe(0x007e19aa);
    expect(hart.readCsr(C.CSR_SSTATUS)).toBe(0x000c0122);
    hart.writeCsr(C.CSR_MSTATUS, 2 << 11);
    expect((hart.readCsr(C.CSR_MSTATUS) >>> 11) & 3).toBe(3); // unchanged from before
    hart.writeCsr(C.CSR_MSTATUS, 1 << 11);
    expect((hart.readCsr(C.CSR_MSTATUS) >>> 11) & 3).toBe(1);
    expect(hart.readCsr(C.CSR_MSTATUSH)).toBe(0);
  });

  it('sstatus writes touch only S bits', () => {
    const hart = h();
    hart.writeCsr(C.CSR_SSTATUS, 0xffffffff);
    expect(hart.readCsr(C.CSR_MSTATUS)).toBe(0x000c0122);
    hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE | C.MSTATUS_TVM);
    hart.writeCsr(C.CSR_SSTATUS, 0);
    expect(hart.readCsr(C.CSR_MSTATUS)).toBe(C.MSTATUS_MIE | C.MSTATUS_TVM);
  });

  it('misa, delegation, enable and pending masks', () => {
    const hart = h();
    expect(hart.readCsr(C.CSR_MISA)).toBe(0x40141101);
    hart.writeCsr(C.CSR_MISA, 0);
    expect(hart.readCsr(C.CSR_MISA)).toBe(0x40141101);
    hart.writeCsr(C.CSR_MEDELEG, 0xffffffff);
    expect(hart.readCsr(C.CSR_MEDELEG)).toBe(0xb3ff); // no ecall-from-M (11), no reserved codes
    hart.writeCsr(C.CSR_MIDELEG, 0xffffffff);
    expect(hart.readCsr(C.CSR_MIDELEG)).toBe(0x222);
    hart.writeCsr(C.CSR_MIE, 0xffffffff);
    expect(hart.readCsr(C.CSR_MIE)).toBe(0xaaa);
    expect(hart.readCsr(C.CSR_SIE)).toBe(0x222);
    hart.writeCsr(C.CSR_MIP, 0xffffffff);
    expect(hart.readCsr(C.CSR_MIP)).toBe(0x222); // MSIP/MTIP/MEIP not software-writable
    hart.setInterruptPending(7, true);
    hart.setInterruptPending(11, true);
    expect(hart.readCsr(C.CSR_MIP)).toBe(0xaa2);
    expect(hart.readCsr(C.CSR_SIP)).toBe(0x222);
    hart.writeCsr(C.CSR_SIP, 0); // only SSIP writable through sip
    expect(hart.readCsr(C.CSR_MIP)).toBe(0xaa0);
    hart.writeCsr(C.CSR_MIDELEG, 0);
    hart.writeCsr(C.CSR_SIE, 0xffffffff); // no delegated interrupts: sie bits read-only zero
    expect(hart.readCsr(C.CSR_SIE)).toBe(0);
    hart.writeCsr(C.CSR_SIP, 0xffffffff);
    expect(hart.readCsr(C.CSR_MIP)).toBe(0xaa0);
    expect(hart.readCsr(C.CSR_SIP)).toBe(0);
  });

  it('epc low bits, tvec modes, satp fields, counters-enable, scratch', () => {
    const hart = h();
    hart.writeCsr(C.CSR_MEPC, 0xffffffff);
    hart.writeCsr(C.CSR_SEPC, 0x12345677);
    expect([hart.readCsr(C.CSR_MEPC), hart.readCsr(C.CSR_SEPC)]).toEqual([0xfffffffc, 0x12345674]);
    hart.writeCsr(C.CSR_MTVEC, 0x80000101);
    expect(hart.readCsr(C.CSR_MTVEC)).toBe(0x80000101);
    hart.writeCsr(C.CSR_MTVEC, 0x80000102); // reserved mode -> direct
    expect(hart.readCsr(C.CSR_MTVEC) & 3).toBe(0);
    hart.writeCsr(C.CSR_STVEC, 0x80000203);
    expect(hart.readCsr(C.CSR_STVEC) & 3).toBe(0);
    hart.writeCsr(C.CSR_SATP, 0xffffffff);
    expect(hart.readCsr(C.CSR_SATP)).toBe(0x803fffff); // ASID is WARL zero
    hart.writeCsr(C.CSR_MCOUNTEREN, 0xffffffff);
    expect(hart.readCsr(C.CSR_MCOUNTEREN)).toBe(0xffffffff);
    hart.writeCsr(C.CSR_MCAUSE, 0x8000000b);
    expect(hart.readCsr(C.CSR_MCAUSE)).toBe(0x8000000b);
  });

  it('PMP, hpm, envcfg and counter-inhibit CSRs exist and read zero', () => {
    const hart = h();
    for (const csr of [0x3a0, 0x3a3, 0x3af, 0x3b0, 0x3bf, 0x3ef, 0xb03, 0xb1f, 0xb83, 0xc03, 0xc9f, 0x323, 0x33f,
      C.CSR_MENVCFG, C.CSR_MENVCFGH, C.CSR_SENVCFG, C.CSR_MCOUNTINHIBIT]) {
      hart.writeCsr(csr, 0xffffffff);
      expect(hart.readCsr(csr)).toBe(0);
    }
    expect(() => hart.readCsr(0x7a0)).toThrow(RangeError);
    expect(() => hart.writeCsr(0x5a8, 0)).toThrow(RangeError);
  });
});

describe('counters', () => {
  it('cycle/instret count retired instructions; minstret write wins over its own increment', () => {
    const m = new Machine();
    m.exec([
      a.nop(), a.nop(),
      a.csrr(1, C.CSR_INSTRET), // 2 instructions before it
      a.csrr(2, C.CSR_CYCLE),
      a.csrr(3, C.CSR_MINSTRETH),
      a.addi(4, 0, 100),
      a.csrw(C.CSR_MINSTRET, 4),
      a.csrr(5, C.CSR_MINSTRET), // reads exactly the written value
      a.csrr(6, C.CSR_MCYCLE), // cycle unaffected by the instret write: 8 before it
      a.li(7, 0x1000),
      a.csrw(C.CSR_MCYCLE, 7),
      a.csrr(8, C.CSR_CYCLE),
      a.csrw(C.CSR_MINSTRETH, 4),
      a.csrr(9, C.CSR_INSTRETH),
      a.csrr(10, C.CSR_INSTRET),
    ]);
    expect([1, 2, 3, 5, 6, 8, 9, 10].map((r) => m.hart.x[r])).toEqual([2, 3, 0, 100, 8, 0x1000, 100, 107]);
    expect(m.hart.instret).toBe(100 * 2 ** 32 + 108);
  });

  it('time reads timeSource(), low and high halves', () => {
    const m = new Machine();
    m.hart.timeSource = () => 0x1_2345_6789;
    m.exec([a.csrr(1, C.CSR_TIME), a.csrr(2, C.CSR_TIMEH)]);
    expect([m.xu(1), m.xu(2)]).toEqual([0x23456789, 1]);
  });

  it('default timeSource is instret', () => {
    const m = new Machine();
    m.exec([a.nop(), a.nop(), a.nop(), a.csrr(1, C.CSR_TIME)]);
    expect(m.hart.x[1]).toBe(3);
  });

  it('mcounteren gates S and U; scounteren additionally gates U', () => {
    for (const [csr, bit] of [[C.CSR_CYCLE, 0], [C.CSR_TIME, 1], [C.CSR_INSTRET, 2], [C.CSR_INSTRETH, 2], [0xc03, 3]] as const) {
      const insn = a.csrr(1, csr);
      for (const priv of [PRIV_S, PRIV_U]) {
        const m = new Machine();
        expect(m.runAs(priv, [insn]).cause).toBe(ILLEGAL);
        m.resetHart().writeCsr(C.CSR_MCOUNTEREN, 1 << bit);
        expect(m.runAs(priv, [insn]).cause).toBe(priv === PRIV_S ? 9 : ILLEGAL);
        m.resetHart().writeCsr(C.CSR_MCOUNTEREN, 1 << bit);
        m.hart.writeCsr(C.CSR_SCOUNTEREN, 1 << bit);
        expect(m.runAs(priv, [insn]).cause).toBe(8 + priv);
        m.resetHart().writeCsr(C.CSR_SCOUNTEREN, 1 << bit); // scounteren alone is not enough
        expect(m.runAs(priv, [insn]).cause).toBe(ILLEGAL);
      }
    }
  });
});

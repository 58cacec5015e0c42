import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { PRIV_M, PRIV_S, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

const CODE = RAM_BASE + 0x1000;
const MHANDLER = RAM_BASE + 0x400;
const SHANDLER = RAM_BASE + 0x800;

/**
 * A machine whose M and S trap handlers clear the interrupt enables (so nothing pending
 * keeps wfi from waiting) and then `wfi`: run() exits inside the handler, pc = handler + 8.
 */
function machine(): Machine {
  const m = new Machine();
  m.load(MHANDLER, [a.csrw(C.CSR_MIE, 0), a.wfi()]);
  m.load(SHANDLER, [a.csrw(C.CSR_SIE, 0), a.wfi()]);
  m.hart.writeCsr(C.CSR_MTVEC, MHANDLER);
  m.hart.writeCsr(C.CSR_STVEC, SHANDLER);
  return m;
}

function start(m: Machine, priv: number, prog: Array<number | number[]>): void {
  m.load(CODE, prog);
  m.hart.priv = priv;
  m.hart.pc = CODE;
}

const mstatus = (m: Machine): number => m.hart.readCsr(C.CSR_MSTATUS);
const mpp = (m: Machine): number => (mstatus(m) >>> 11) & 3;

describe('exceptions', () => {
  it.each([[PRIV_U, 8], [PRIV_S, 9], [PRIV_M, 11]])('ecall from priv %i traps to M with cause %i', (priv, cause) => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE);
    m.hart.writeCsr(C.CSR_MTVAL, 0x55);
    start(m, priv, [a.nop(), a.ecall()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect(m.hart.priv).toBe(PRIV_M);
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(cause);
    expect(m.hart.readCsr(C.CSR_MEPC)).toBe(CODE + 4);
    expect(m.hart.readCsr(C.CSR_MTVAL)).toBe(0);
    expect(mpp(m)).toBe(priv);
    expect(mstatus(m) & (C.MSTATUS_MIE | C.MSTATUS_MPIE)).toBe(C.MSTATUS_MPIE);
    expect(m.hart.pc).toBe(MHANDLER + 8);
    expect(m.hart.instret).toBe(3); // nop + csrw + wfi; the ecall does not retire
  });

  it('ebreak reports the breakpoint address in tval', () => {
    const m = machine();
    start(m, PRIV_M, [a.nop(), a.ebreak()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.readCsr(C.CSR_MCAUSE), m.hart.readCsr(C.CSR_MTVAL), m.hart.readCsr(C.CSR_MEPC)]).toEqual([3, CODE + 4, CODE + 4]);
  });

  it('medeleg sends U and S exceptions to S-mode with S-mode state updates', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MEDELEG, (1 << 8) | (1 << 2));
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_SIE | C.MSTATUS_MIE);
    start(m, PRIV_U, [a.ecall()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect(m.hart.priv).toBe(PRIV_S);
    expect([m.hart.readCsr(C.CSR_SCAUSE), m.hart.readCsr(C.CSR_SEPC), m.hart.readCsr(C.CSR_STVAL)]).toEqual([8, CODE, 0]);
    expect(mstatus(m) & (C.MSTATUS_SPP | C.MSTATUS_SPIE | C.MSTATUS_SIE | C.MSTATUS_MIE)).toBe(C.MSTATUS_SPIE | C.MSTATUS_MIE);
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(0); // M untouched
    expect(m.hart.pc).toBe(SHANDLER + 8);

    // illegal instruction from S, delegated: SPP = 1, stval = instruction bits
    const m2 = machine();
    m2.hart.writeCsr(C.CSR_MEDELEG, 1 << 2);
    start(m2, PRIV_S, [0xffffffff]);
    expect(m2.run()).toBe(ExitReason.Wfi);
    expect(m2.hart.priv).toBe(PRIV_S);
    expect([m2.hart.readCsr(C.CSR_SCAUSE), m2.hart.readCsr(C.CSR_STVAL)]).toEqual([2, 0xffffffff]);
    expect(mstatus(m2) & C.MSTATUS_SPP).toBe(C.MSTATUS_SPP);

    // ecall from S not delegated (bit 9 clear) goes to M even though bit 8 is set
    const m3 = machine();
    m3.hart.writeCsr(C.CSR_MEDELEG, 1 << 8);
    start(m3, PRIV_S, [a.ecall()]);
    expect(m3.run()).toBe(ExitReason.Wfi);
    expect([m3.hart.priv, m3.hart.readCsr(C.CSR_MCAUSE)]).toEqual([PRIV_M, 9]);
  });

  it('exceptions in M-mode are never delegated', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MEDELEG, 0xffffffff);
    start(m, PRIV_M, [0]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.priv, m.hart.readCsr(C.CSR_MCAUSE), m.hart.readCsr(C.CSR_SCAUSE)]).toEqual([PRIV_M, 2, 0]);
  });

  it('mret restores MPP/MIE, sets MPIE, MPP := U and clears MPRV when leaving M', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MPIE | (1 << 11) | C.MSTATUS_MPRV);
    m.hart.writeCsr(C.CSR_MEPC, CODE + 0x100);
    m.load(CODE + 0x100, [a.ecall()]);
    start(m, PRIV_M, [a.mret()]);
    expect(m.run(2)).toBe(ExitReason.Budget); // mret + ecall trap (counts toward budget)
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(9); // ecall from S
    expect(m.hart.readCsr(C.CSR_MEPC)).toBe(CODE + 0x100);
    expect(mstatus(m) & C.MSTATUS_MPRV).toBe(0);

    // mret to M keeps MPRV; MIE <- MPIE (0 here)
    const m2 = machine();
    m2.hart.writeCsr(C.CSR_MSTATUS, (3 << 11) | C.MSTATUS_MPRV | C.MSTATUS_MIE);
    m2.hart.writeCsr(C.CSR_MEPC, CODE + 8);
    start(m2, PRIV_M, [a.mret(), a.nop(), a.wfi()]);
    expect(m2.run()).toBe(ExitReason.Wfi);
    expect(m2.hart.pc).toBe(CODE + 12);
    expect(m2.hart.priv).toBe(PRIV_M);
    expect(mstatus(m2) & (C.MSTATUS_MPRV | C.MSTATUS_MIE | C.MSTATUS_MPIE | C.MSTATUS_MPP)).toBe(C.MSTATUS_MPRV | C.MSTATUS_MPIE);
  });

  it('sret restores SPP/SIE, sets SPIE, SPP := U and clears MPRV', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_SPIE | C.MSTATUS_SPP | C.MSTATUS_MPRV);
    m.hart.writeCsr(C.CSR_SEPC, CODE + 0x40);
    m.load(CODE + 0x40, [a.csrr(1, C.CSR_SSTATUS), a.ecall()]);
    start(m, PRIV_S, [a.sret()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(9); // still S after sret with SPP=1
    expect(m.xu(1) & (C.MSTATUS_SPIE | C.MSTATUS_SPP | C.MSTATUS_SIE)).toBe(C.MSTATUS_SPIE | C.MSTATUS_SIE);
    expect(m.hart.readCsr(C.CSR_MSTATUS) & C.MSTATUS_MPRV).toBe(0);

    const m2 = machine();
    m2.hart.writeCsr(C.CSR_SEPC, CODE + 0x40);
    m2.load(CODE + 0x40, [a.ecall()]);
    start(m2, PRIV_S, [a.sret()]);
    expect(m2.run()).toBe(ExitReason.Wfi);
    expect(m2.hart.readCsr(C.CSR_MCAUSE)).toBe(8); // SPP was 0 -> U
    expect(mstatus(m2) & C.MSTATUS_SIE).toBe(0);
  });

  it('xRET privilege rules: mret below M, sret in U, sret in S with TSR are illegal', () => {
    for (const [priv, insn, tsr] of [
      [PRIV_S, a.mret(), 0], [PRIV_U, a.mret(), 0], [PRIV_U, a.sret(), 0], [PRIV_S, a.sret(), 1],
    ] as const) {
      const m = machine();
      if (tsr) m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_TSR);
      start(m, priv, [insn]);
      expect(m.run()).toBe(ExitReason.Wfi);
      expect([m.hart.readCsr(C.CSR_MCAUSE), m.hart.readCsr(C.CSR_MTVAL), m.hart.readCsr(C.CSR_MEPC)]).toEqual([2, insn, CODE]);
    }
    // sret in M with TSR is fine
    const m = machine();
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_TSR | C.MSTATUS_SPP);
    m.hart.writeCsr(C.CSR_SEPC, CODE + 0x20);
    m.load(CODE + 0x20, [a.ecall()]);
    start(m, PRIV_M, [a.sret()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(9);
  });
});

describe('TVM and TW', () => {
  it('TVM makes satp access and sfence.vma illegal in S (not in M)', () => {
    const m = new Machine();
    for (const insn of [a.csrr(1, C.CSR_SATP), a.csrw(C.CSR_SATP, 0), a.sfence_vma(), a.sfence_vma(1, 0)]) {
      m.resetHart().writeCsr(C.CSR_MSTATUS, C.MSTATUS_TVM);
      expect(m.runAs(PRIV_S, [insn])).toEqual({ cause: 2, tval: insn, pc: RAM_BASE });
      m.resetHart();
      expect(m.runAs(PRIV_S, [insn]).cause).toBe(9);
      m.resetHart().writeCsr(C.CSR_MSTATUS, C.MSTATUS_TVM);
      expect(m.runAs(PRIV_M, [insn]).cause).toBe(11);
    }
    const u = new Machine();
    expect(u.runAs(PRIV_U, [a.sfence_vma()]).cause).toBe(2); // never from U
  });

  it('TW makes wfi illegal in S; wfi in U is always illegal; M ignores TW', () => {
    const s = new Machine();
    s.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_TW);
    expect(s.runAs(PRIV_S, [a.wfi()])).toEqual({ cause: 2, tval: a.wfi(), pc: RAM_BASE });
    const u = new Machine();
    expect(u.runAs(PRIV_U, [a.wfi()]).cause).toBe(2);
    const sOk = new Machine();
    sOk.load(RAM_BASE, [a.wfi()]);
    sOk.hart.priv = PRIV_S;
    expect(sOk.run()).toBe(ExitReason.Wfi);
    const mm = new Machine();
    mm.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_TW);
    mm.load(RAM_BASE, [a.wfi()]);
    expect(mm.run()).toBe(ExitReason.Wfi);
    expect(mm.hart.pc).toBe(RAM_BASE + 4);
  });
});

describe('WFI', () => {
  it('returns Wfi with pc past the wfi when nothing enabled is pending', () => {
    const m = new Machine();
    m.load(RAM_BASE, [a.nop(), a.wfi(), a.nop()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect(m.hart.pc).toBe(RAM_BASE + 8);
    expect(m.hart.instret).toBe(2);
  });

  it('continues when an interrupt is pending and enabled in mie, even with MIE clear', () => {
    const m = new Machine();
    m.hart.writeCsr(C.CSR_MIE, C.MIP_MTIP);
    m.hart.setInterruptPending(7, true);
    m.exec([a.wfi(), a.addi(1, 0, 5)]);
    expect(m.hart.x[1]).toBe(5);
    // pending but not enabled in mie: waits
    const m2 = new Machine();
    m2.hart.setInterruptPending(7, true);
    m2.load(RAM_BASE, [a.wfi()]);
    expect(m2.run()).toBe(ExitReason.Wfi);
  });
});

describe('interrupts', () => {
  it('vectored mtvec: interrupts go to base + 4*cause, exceptions to base', () => {
    const m = new Machine();
    const base = RAM_BASE + 0x2000;
    m.load(base + 4 * 7, [a.csrw(C.CSR_MIE, 0), a.wfi()]);
    m.load(base, [a.wfi()]);
    m.hart.writeCsr(C.CSR_MTVEC, base | 1);
    m.hart.writeCsr(C.CSR_MIE, C.MIP_MTIP);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE);
    m.load(RAM_BASE, [a.nop()]);
    m.hart.setInterruptPending(7, true);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect(m.hart.pc).toBe(base + 4 * 7 + 8);
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(0x80000007);
    expect(m.hart.readCsr(C.CSR_MEPC)).toBe(RAM_BASE);
    expect(m.hart.readCsr(C.CSR_MTVAL)).toBe(0);

    const m2 = new Machine();
    m2.load(base, [a.wfi()]);
    m2.hart.writeCsr(C.CSR_MTVEC, base | 1);
    m2.load(RAM_BASE, [a.ecall()]);
    expect(m2.run()).toBe(ExitReason.Wfi);
    expect(m2.hart.pc).toBe(base + 4);
  });

  it('priority: MEI > MSI > MTI > SEI > SSI > STI', () => {
    const order = [11, 3, 7, 9, 1, 5];
    for (let k = 0; k < order.length; k++) {
      const m = machine();
      m.hart.writeCsr(C.CSR_MIE, 0xaaa);
      m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE);
      for (const irq of order.slice(k)) m.hart.setInterruptPending(irq, true);
      start(m, PRIV_M, [a.nop()]);
      expect(m.run()).toBe(ExitReason.Wfi);
      expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe((0x80000000 | order[k]!) >>> 0);
    }
  });

  it('M-level interrupt is taken in S and U even with MIE=0; not in M with MIE=0', () => {
    for (const priv of [PRIV_S, PRIV_U]) {
      const m = machine();
      m.hart.writeCsr(C.CSR_MIE, C.MIP_MTIP);
      m.hart.setInterruptPending(7, true);
      start(m, priv, [a.nop()]);
      expect(m.run()).toBe(ExitReason.Wfi);
      expect([m.hart.readCsr(C.CSR_MCAUSE), m.hart.readCsr(C.CSR_MEPC), mpp(m)]).toEqual([0x80000007, CODE, priv]);
    }
    const m = machine();
    m.hart.writeCsr(C.CSR_MIE, C.MIP_MTIP);
    m.hart.setInterruptPending(7, true);
    start(m, PRIV_M, [a.nop(), a.nop()]);
    expect(m.run(2)).toBe(ExitReason.Budget);
    expect(m.hart.readCsr(C.CSR_MCAUSE)).toBe(0);
    expect(m.hart.pc).toBe(CODE + 8);
  });

  it('enabling MIE with csrs takes the pending interrupt right after that instruction', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MIE, C.MIP_MSIP);
    m.hart.setInterruptPending(3, true);
    start(m, PRIV_M, [a.nop(), a.csrrsi(0, C.CSR_MSTATUS, 8), a.nop()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.readCsr(C.CSR_MCAUSE), m.hart.readCsr(C.CSR_MEPC)]).toEqual([0x80000003, CODE + 8]);
  });

  it('setting a pending bit by writing mip takes the interrupt right after the write', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MIE, C.MIP_SSIP);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE);
    start(m, PRIV_M, [a.nop(), a.csrrsi(0, C.CSR_MIP, 2), a.nop(), a.nop()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.readCsr(C.CSR_MCAUSE), m.hart.readCsr(C.CSR_MEPC)]).toEqual([0x80000001, CODE + 8]);
  });

  it('delegated interrupts: taken in S only with SIE, always in U, never in M', () => {
    const setup = (priv: number, sie: boolean): Machine => {
      const m = machine();
      m.hart.writeCsr(C.CSR_MIDELEG, C.MIP_SSIP);
      m.hart.writeCsr(C.CSR_MIE, C.MIP_SSIP);
      m.hart.writeCsr(C.CSR_MSTATUS, (sie ? C.MSTATUS_SIE : 0) | C.MSTATUS_MIE);
      m.hart.writeCsr(C.CSR_MIP, C.MIP_SSIP);
      start(m, priv, [a.nop(), a.nop()]);
      return m;
    };
    let m = setup(PRIV_S, true);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.priv, m.hart.readCsr(C.CSR_SCAUSE), m.hart.readCsr(C.CSR_SEPC)]).toEqual([PRIV_S, 0x80000001, CODE]);
    expect(m.hart.pc).toBe(SHANDLER + 8);

    m = setup(PRIV_S, false);
    expect(m.run(2)).toBe(ExitReason.Budget);
    expect(m.hart.readCsr(C.CSR_SCAUSE)).toBe(0);

    m = setup(PRIV_U, false);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.priv, m.hart.readCsr(C.CSR_SCAUSE)]).toEqual([PRIV_S, 0x80000001]);
    expect(mstatus(m) & C.MSTATUS_SPP).toBe(0);

    m = setup(PRIV_M, true);
    expect(m.run(2)).toBe(ExitReason.Budget);
    expect([m.hart.readCsr(C.CSR_SCAUSE), m.hart.readCsr(C.CSR_MCAUSE)]).toEqual([0, 0]);
  });

  it('M-level interrupts win over delegated ones regardless of code priority', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_MIDELEG, C.MIP_SEIP);
    m.hart.writeCsr(C.CSR_MIE, C.MIP_SEIP | C.MIP_STIP);
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_SIE);
    m.hart.setInterruptPending(9, true);
    m.hart.setInterruptPending(5, true); // STI not delegated: goes to M
    start(m, PRIV_S, [a.nop()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.priv, m.hart.readCsr(C.CSR_MCAUSE)]).toEqual([PRIV_M, 0x80000005]);
  });

  it('SEIP injected with setInterruptPending is taken in S via mideleg (PV upcall)', () => {
    const m = machine();
    m.hart.hostTraps = true;
    m.hart.writeCsr(C.CSR_MIDELEG, C.MIP_SEIP);
    m.hart.writeCsr(C.CSR_MIE, C.MIP_SEIP);
    m.hart.writeCsr(C.CSR_STVEC, SHANDLER);
    start(m, PRIV_U, [a.nop(), a.nop(), a.nop()]);
    expect(m.run(2)).toBe(ExitReason.Budget);
    m.hart.setInterruptPending(9, true);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.priv, m.hart.readCsr(C.CSR_SCAUSE), m.hart.readCsr(C.CSR_SEPC)]).toEqual([PRIV_S, 0x80000009, CODE + 8]);
    expect(m.hart.readCsr(C.CSR_SIP)).toBe(C.MIP_SEIP);
    // S cannot clear the line through sip
    m.hart.writeCsr(C.CSR_SIP, 0);
    expect(m.hart.readCsr(C.CSR_SIP)).toBe(C.MIP_SEIP);
    m.hart.setInterruptPending(9, false);
    expect(m.hart.readCsr(C.CSR_SIP)).toBe(0);
  });

  it('an interrupt raised by a device during run() is taken after that instruction', () => {
    const m = machine();
    const hart = m.hart;
    m.mem.addMmio(0x10000000, 0x100, {
      read: () => 0,
      write: () => hart.setInterruptPending(11, true),
    });
    hart.writeCsr(C.CSR_MIE, C.MIP_MEIP);
    hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE);
    start(m, PRIV_M, [a.lui(1, 0x10000), a.sw(0, 0, 1), a.nop(), a.nop()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([hart.readCsr(C.CSR_MCAUSE), hart.readCsr(C.CSR_MEPC)]).toEqual([0x8000000b, CODE + 8]);
  });
});

describe('hostTraps', () => {
  const snapshot = (m: Machine): number[] =>
    [C.CSR_MSTATUS, C.CSR_MEPC, C.CSR_MCAUSE, C.CSR_MTVAL, C.CSR_SEPC, C.CSR_SCAUSE, C.CSR_STVAL, C.CSR_MIP, C.CSR_MIE]
      .map((c) => m.hart.readCsr(c));

  it('an M-targeted exception exits with pc at the instruction and no CSR changed', () => {
    const m = machine();
    m.hart.hostTraps = true;
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MIE | C.MSTATUS_SIE | (1 << 11));
    m.hart.writeCsr(C.CSR_MEPC, 0x1234);
    start(m, PRIV_S, [a.nop(), a.li(5, 0x7000), a.lw(6, 0, 5)]);
    const before = snapshot(m);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc, m.hart.priv]).toEqual([5, 0x7000, CODE + 12, PRIV_S]);
    expect(snapshot(m)).toEqual(before);
    expect(m.hart.instret).toBe(3);
  });

  it('an M-targeted interrupt exits with the interrupt cause and the next pc', () => {
    const m = machine();
    m.hart.hostTraps = true;
    m.hart.writeCsr(C.CSR_MIE, C.MIP_MTIP);
    start(m, PRIV_U, [a.nop(), a.nop()]);
    expect(m.run(1)).toBe(ExitReason.Budget);
    m.hart.setInterruptPending(7, true);
    const before = snapshot(m);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc, m.hart.priv]).toEqual([0x80000007, 0, CODE + 4, PRIV_U]);
    expect(snapshot(m)).toEqual(before);
    expect(m.hart.instret).toBe(1);
  });

  it('delegated traps are still taken in S', () => {
    const m = machine();
    m.hart.hostTraps = true;
    m.hart.writeCsr(C.CSR_MEDELEG, 1 << 8);
    start(m, PRIV_U, [a.ecall()]);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.priv, m.hart.readCsr(C.CSR_SCAUSE)]).toEqual([PRIV_S, 8]);
  });

  it('the host can emulate and resume, and reflect a trap with deliverToSupervisor', () => {
    const m = machine();
    m.hart.hostTraps = true;
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_SIE);
    start(m, PRIV_U, [a.addi(10, 0, 1), a.ecall(), a.addi(11, 0, 2), a.ecall()]);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(m.hart.trapCause).toBe(8);
    m.hart.x[10] = 99; // "hypercall result"
    m.hart.pc += 4;
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(m.hart.pc).toBe(CODE + 12);
    m.hart.deliverToSupervisor(m.hart.trapCause, 0x77);
    expect(m.hart.priv).toBe(PRIV_S);
    expect(m.hart.pc).toBe(SHANDLER);
    expect([m.hart.readCsr(C.CSR_SEPC), m.hart.readCsr(C.CSR_SCAUSE), m.hart.readCsr(C.CSR_STVAL)]).toEqual([CODE + 12, 8, 0x77]);
    expect(mstatus(m) & (C.MSTATUS_SPP | C.MSTATUS_SPIE | C.MSTATUS_SIE)).toBe(C.MSTATUS_SPIE);
    expect(m.run()).toBe(ExitReason.Wfi);
    expect([m.hart.x[10], m.hart.x[11]]).toEqual([99, 2]);
  });

  it('deliverToSupervisor of an interrupt honours vectored stvec', () => {
    const m = machine();
    m.hart.writeCsr(C.CSR_STVEC, SHANDLER | 1);
    m.hart.priv = PRIV_S;
    m.hart.pc = CODE;
    m.hart.deliverToSupervisor(0x80000009, 0);
    expect([m.hart.pc, m.hart.priv]).toEqual([SHANDLER + 36, PRIV_S]);
    expect(mstatus(m) & C.MSTATUS_SPP).toBe(C.MSTATUS_SPP);
  });
});

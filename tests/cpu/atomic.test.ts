import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart } from '../../hypervisor/cpu/hart.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

const D = RAM_BASE + 0x2000;

describe('LR/SC', () => {
  it('lr then sc to the same address succeeds (0) and stores', () => {
    const m = new Machine();
    m.mem.write32(D, 41);
    m.exec([a.li(1, D), a.lr_w(2, 1, 1, 0), a.addi(2, 2, 1), a.sc_w(3, 2, 1, 0, 1)]);
    expect(m.hart.x[3]).toBe(0);
    expect(m.mem.read32(D)).toBe(42);
  });

  it('sc without a reservation fails (1) and does not store', () => {
    const m = new Machine();
    m.mem.write32(D, 5);
    m.exec([a.li(1, D), a.addi(2, 0, 9), a.sc_w(3, 2, 1)]);
    expect(m.hart.x[3]).toBe(1);
    expect(m.mem.read32(D)).toBe(5);
  });

  it('sc clears the reservation: a second sc fails', () => {
    const m = new Machine();
    m.exec([a.li(1, D), a.lr_w(2, 1), a.sc_w(3, 0, 1), a.addi(4, 0, 7), a.sc_w(5, 4, 1)]);
    expect([m.hart.x[3], m.hart.x[5]]).toEqual([0, 1]);
    expect(m.mem.read32(D)).toBe(0);
  });

  it('sc to a different address than reserved fails, and also clears the reservation', () => {
    const m = new Machine();
    m.exec([
      a.li(1, D), a.addi(6, 1, 4), a.addi(2, 0, 3),
      a.lr_w(0, 1), a.sc_w(3, 2, 6), // other word: fail
      a.sc_w(4, 2, 1), // reservation gone: fail
    ]);
    expect([m.hart.x[3], m.hart.x[4]]).toEqual([1, 1]);
    expect([m.mem.read32(D), m.mem.read32(D + 4)]).toEqual([0, 0]);
  });

  it('a trap between lr and sc clears the reservation', () => {
    const m = new Machine();
    // M-mode handler at +0x100 that returns without mret: jump to mepc + 4
    m.load(RAM_BASE + 0x100, [a.csrr(10, 0x341), a.addi(10, 10, 4), a.jalr(0, 10, 0)]);
    m.execToWfi([
      a.li(9, RAM_BASE + 0x100), a.csrw(0x305, 9),
      a.li(1, D), a.lr_w(2, 1), a.ecall(), a.addi(2, 0, 1), a.sc_w(3, 2, 1),
    ]);
    expect(m.xu(10)).toBe(RAM_BASE + 4 * 7); // handler ran: mepc of the ecall + 4
    expect(m.hart.x[3]).toBe(1);
    expect(m.mem.read32(D)).toBe(0);
    // without the trap, the same sequence succeeds
    const m2 = new Machine();
    m2.execToWfi([a.li(1, D), a.lr_w(2, 1), a.addi(2, 0, 1), a.sc_w(3, 2, 1)]);
    expect(m2.hart.x[3]).toBe(0);
  });

  it('mret and sret clear the reservation', () => {
    for (const xret of [a.mret(), a.sret()]) {
      const m = new Machine();
      m.hart.writeCsr(0x300, (3 << 11) | (1 << 8)); // MPP = M (mret stays in M), SPP = S (sret to S)
      m.execToWfi([
        a.li(1, D), a.lr_w(2, 1),
        a.auipc(4, 0), a.addi(4, 4, 20), a.csrw(0x341, 4), a.csrw(0x141, 4), // xepc = index 8
        xret,
        a.addi(2, 0, 1), a.sc_w(3, 2, 1),
      ]);
      expect(m.hart.priv).toBe(xret === a.mret() ? 3 : 1);
      expect(m.hart.x[3]).toBe(1);
      expect(m.mem.read32(D)).toBe(0);
    }
  });

  it('the reservation survives the end of a run() slice on a single hart', () => {
    const m = new Machine();
    m.load(RAM_BASE, [a.li(1, D), a.lr_w(2, 1), a.addi(2, 0, 8), a.sc_w(3, 2, 1), a.ebreak()]);
    m.hart.hostTraps = true;
    expect(m.run(3)).toBe(ExitReason.Budget); // li (2) + lr
    expect(m.run(100)).toBe(ExitReason.HostTrap);
    expect(m.hart.x[3]).toBe(0);
    expect(m.mem.read32(D)).toBe(8);
  });

  it('another hart running on the same memory between lr and sc makes sc fail', () => {
    const m = new Machine();
    const other = new Hart(m.mem);
    other.pc = RAM_BASE + 0x800;
    m.load(RAM_BASE + 0x800, [a.nop()]);
    m.load(RAM_BASE, [a.li(1, D), a.lr_w(2, 1), a.addi(2, 0, 8), a.sc_w(3, 2, 1), a.ebreak()]);
    m.hart.hostTraps = true;
    expect(m.run(3)).toBe(ExitReason.Budget);
    m.cpu.run(other, 1);
    expect(m.run(100)).toBe(ExitReason.HostTrap);
    expect(m.hart.x[3]).toBe(1);
    expect(m.mem.read32(D)).toBe(0);
  });

  it('misaligned lr is a load-misaligned fault; misaligned sc a store-misaligned fault', () => {
    for (const [insn, cause] of [[a.lr_w(2, 1), 4], [a.sc_w(2, 0, 1), 6]] as const) {
      const m = new Machine();
      m.hart.hostTraps = true;
      m.load(RAM_BASE, [a.li(1, D + 2), insn]);
      expect(m.run()).toBe(ExitReason.HostTrap);
      expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc]).toEqual([cause, D + 2, RAM_BASE + 8]);
    }
  });

  it('atomics to unbacked memory are access faults (5 for lr, 7 for sc/amo)', () => {
    for (const [insn, cause] of [[a.lr_w(2, 1), 5], [a.sc_w(2, 0, 1), 7], [a.amoadd_w(2, 0, 1), 7]] as const) {
      const m = new Machine();
      m.hart.hostTraps = true;
      m.load(RAM_BASE, [a.li(1, 0x4000), insn]);
      expect(m.run()).toBe(ExitReason.HostTrap);
      expect([m.hart.trapCause, m.hart.trapTval]).toEqual([cause, 0x4000]);
    }
  });
});

describe('AMOs', () => {
  const cases: Array<[string, (rd: number, rs2: number, rs1: number) => number, number, number, number]> = [
    // name, encoder, memory before, rs2, memory after
    ['amoswap', a.amoswap_w, 0x11111111, 0x22222222, 0x22222222],
    ['amoadd', a.amoadd_w, 0xffffffff, 2, 1],
    ['amoxor', a.amoxor_w, 0xff00ff00, 0x0ff00ff0, 0xf0f0f0f0],
    ['amoand', a.amoand_w, 0xff00ff00, 0x0ff00ff0, 0x0f000f00],
    ['amoor', a.amoor_w, 0xff00ff00, 0x0ff00ff0, 0xfff0fff0],
    ['amomin', a.amomin_w, 0xfffffffe, 1, 0xfffffffe],
    ['amomin (neg rs2)', a.amomin_w, 5, -3, 0xfffffffd],
    ['amomax', a.amomax_w, 0xfffffffe, 1, 1],
    ['amomax (mem larger)', a.amomax_w, 0x7fffffff, 0x80000000, 0x7fffffff],
    ['amominu', a.amominu_w, 0xfffffffe, 1, 1],
    ['amominu (mem smaller)', a.amominu_w, 3, 0x80000000, 3],
    ['amomaxu', a.amomaxu_w, 0xfffffffe, 1, 0xfffffffe],
    ['amomaxu (rs2 larger)', a.amomaxu_w, 3, 0x80000000, 0x80000000],
  ];
  it.each(cases)('%s returns the old value and stores the result', (_n, enc, before, src, after) => {
    const m = new Machine();
    m.mem.write32(D, before >>> 0);
    m.exec([a.li(1, D), a.li(2, src), enc(3, 2, 1)]);
    expect(m.xu(3)).toBe(before >>> 0);
    expect(m.mem.read32(D)).toBe(after >>> 0);
  });

  it('amo with rd = rs2 uses the old rs2 as the operand', () => {
    const m = new Machine();
    m.mem.write32(D, 10);
    m.exec([a.li(1, D), a.addi(2, 0, 5), a.amoadd_w(2, 2, 1, 1, 1)]);
    expect(m.hart.x[2]).toBe(10);
    expect(m.mem.read32(D)).toBe(15);
  });

  it('amo into x0 still updates memory', () => {
    const m = new Machine();
    m.exec([a.li(1, D), a.addi(2, 0, 5), a.amoadd_w(0, 2, 1)]);
    expect(m.hart.x[0]).toBe(0);
    expect(m.mem.read32(D)).toBe(5);
  });

  it.each([a.amoswap_w, a.amoadd_w, a.amomaxu_w])('misaligned AMO raises store/AMO misaligned (6)', (enc) => {
    const m = new Machine();
    m.hart.hostTraps = true;
    m.mem.write32(D, 77);
    m.load(RAM_BASE, [a.li(1, D + 1), a.addi(2, 0, 1), enc(3, 2, 1)]);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval]).toEqual([6, D + 1]);
    expect(m.hart.x[3]).toBe(0);
    expect(m.mem.read32(D)).toBe(77);
  });
});

import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import * as a from './asm.ts';
import { Machine, RAM_BASE } from './helpers.ts';

describe('RV32I arithmetic and logic', () => {
  it('addi/add/sub wrap at 32 bits and x0 stays zero', () => {
    const m = new Machine();
    m.exec([
      a.li(1, 0x7fffffff),
      a.addi(2, 1, 1), // overflow to INT_MIN
      a.sub(3, 0, 2), // 0 - INT_MIN = INT_MIN
      a.addi(0, 0, 5), // write to x0 ignored
      a.add(0, 1, 1),
      a.lui(0, 0x12345),
      a.addi(4, 0, -1), // sign-extended immediate
      a.add(5, 4, 4),
    ]);
    expect(m.xu(2)).toBe(0x80000000);
    expect(m.xu(3)).toBe(0x80000000);
    expect(m.hart.x[0]).toBe(0);
    expect(m.hart.x[4]).toBe(-1);
    expect(m.hart.x[5]).toBe(-2);
  });

  it('logic ops with sign-extended immediates', () => {
    const m = new Machine();
    m.exec([
      a.li(1, 0xf0f0f0f0),
      a.xori(2, 1, -1), // not
      a.ori(3, 0, 0x7ff),
      a.andi(4, 1, 0x0ff),
      a.andi(5, 1, -16), // 0xfffffff0 mask
      a.li(6, 0x0ff00ff0),
      a.xor(7, 1, 6),
      a.or(8, 1, 6),
      a.and(9, 1, 6),
    ]);
    expect(m.xu(2)).toBe(0x0f0f0f0f);
    expect(m.xu(3)).toBe(0x7ff);
    expect(m.xu(4)).toBe(0xf0);
    expect(m.xu(5)).toBe(0xf0f0f0f0);
    expect(m.xu(7)).toBe(0xff00ff00);
    expect(m.xu(8)).toBe(0xfff0fff0);
    expect(m.xu(9)).toBe(0x00f000f0);
  });

  it('shifts: by 31, by 0 and register shift amounts masked to 5 bits', () => {
    const m = new Machine();
    m.exec([
      a.li(1, 0x80000001),
      a.slli(2, 1, 31),
      a.srli(3, 1, 31),
      a.srai(4, 1, 31),
      a.srai(5, 1, 0),
      a.addi(10, 0, 33), // shamt 33 -> 1
      a.sll(6, 1, 10),
      a.srl(7, 1, 10),
      a.sra(8, 1, 10),
      a.addi(11, 0, -1), // shamt 0xffffffff -> 31
      a.sra(9, 1, 11),
      a.srl(12, 1, 11),
    ]);
    expect(m.xu(2)).toBe(0x80000000);
    expect(m.xu(3)).toBe(1);
    expect(m.xu(4)).toBe(0xffffffff);
    expect(m.xu(5)).toBe(0x80000001);
    expect(m.xu(6)).toBe(0x00000002);
    expect(m.xu(7)).toBe(0x40000000);
    expect(m.xu(8)).toBe(0xc0000000);
    expect(m.xu(9)).toBe(0xffffffff);
    expect(m.xu(12)).toBe(1);
  });

  it('slt/sltu/slti/sltiu signedness', () => {
    const m = new Machine();
    m.exec([
      a.addi(1, 0, -1),
      a.addi(2, 0, 1),
      a.slt(3, 1, 2), // -1 < 1
      a.sltu(4, 1, 2), // 0xffffffff < 1 ? no
      a.slti(5, 1, 0), // -1 < 0
      a.sltiu(6, 2, -1), // 1 < 0xffffffff
      a.sltiu(7, 0, 1), // seqz idiom: 0 < 1
      a.sltiu(8, 2, 1),
      a.slt(9, 2, 1),
      a.sltu(10, 0, 1), // snez
    ]);
    expect([3, 4, 5, 6, 7, 8, 9, 10].map((r) => m.hart.x[r])).toEqual([1, 0, 1, 1, 1, 0, 0, 1]);
  });

  it('lui and auipc', () => {
    const m = new Machine();
    m.exec([a.lui(1, 0xfffff), a.auipc(2, 0), a.auipc(3, 0x80000), a.lui(4, 0x12345)]);
    expect(m.xu(1)).toBe(0xfffff000);
    expect(m.xu(2)).toBe(RAM_BASE + 4);
    expect(m.xu(3)).toBe((RAM_BASE + 8 + 0x80000000) >>> 0);
    expect(m.xu(4)).toBe(0x12345000);
  });
});

describe('control transfer', () => {
  it('jal links pc+4 and jumps forward and backward', () => {
    const m = new Machine();
    m.exec([
      a.jal(1, 12), // 0 -> 12
      a.addi(5, 0, 1), // 4 (skipped first time)
      a.jal(0, 12), // 8 -> 20
      a.addi(6, 0, 2), // 12
      a.jal(2, -12), // 16 -> 4
      a.addi(7, 0, 3), // 20
    ]);
    expect(m.xu(1)).toBe(RAM_BASE + 4);
    expect(m.xu(2)).toBe(RAM_BASE + 20);
    expect([m.hart.x[5], m.hart.x[6], m.hart.x[7]]).toEqual([1, 2, 3]);
  });

  it('jalr clears bit 0 of the target and links even when rd == rs1', () => {
    const m = new Machine();
    m.exec([
      a.li(1, RAM_BASE + 21), // odd: bit 0 ignored -> +20
      a.jalr(1, 1, 0), // 8: x1 = 12, jump to 20
      a.addi(5, 0, 1), // 12 skipped
      a.addi(5, 0, 2), // 16 skipped
      a.addi(6, 0, 3), // 20
    ]);
    expect(m.xu(1)).toBe(RAM_BASE + 12);
    expect(m.hart.x[5]).toBe(0);
    expect(m.hart.x[6]).toBe(3);
  });

  it('branches compare signed and unsigned', () => {
    const m = new Machine();
    // Each pair: branch over an "addi x10, x10, 1" (counts not-taken branches).
    const prog = [a.addi(1, 0, -1), a.addi(2, 0, 1)];
    const cases: Array<[number, boolean]> = [
      [a.beq(1, 1, 8), true], [a.beq(1, 2, 8), false],
      [a.bne(1, 2, 8), true], [a.bne(2, 2, 8), false],
      [a.blt(1, 2, 8), true], [a.blt(2, 1, 8), false], [a.blt(2, 2, 8), false],
      [a.bge(2, 1, 8), true], [a.bge(2, 2, 8), true], [a.bge(1, 2, 8), false],
      [a.bltu(2, 1, 8), true], [a.bltu(1, 2, 8), false],
      [a.bgeu(1, 2, 8), true], [a.bgeu(2, 1, 8), false], [a.bgeu(1, 1, 8), true],
    ];
    let notTaken = 0;
    cases.forEach(([br, taken], i) => {
      prog.push(br, a.addi(10 + (i % 2), 10 + (i % 2), 1));
      if (!taken) notTaken++;
    });
    m.exec(prog);
    expect(m.hart.x[10]! + m.hart.x[11]!).toBe(notTaken);
    // Backward branch loop: sum 1..10
    const m2 = new Machine();
    m2.exec([a.addi(1, 0, 10), a.addi(2, 0, 0), a.add(2, 2, 1), a.addi(1, 1, -1), a.bne(1, 0, -8)]);
    expect(m2.hart.x[2]).toBe(55);
  });

  it('taken branch/jump to a non-4-aligned target raises misaligned fetch on the branch', () => {
    for (const [insn, target] of [
      [a.jal(1, 6), RAM_BASE + 6],
      [a.beq(0, 0, 2), RAM_BASE + 2],
    ] as const) {
      const m = new Machine();
      m.hart.hostTraps = true;
      m.load(RAM_BASE, [insn]);
      expect(m.run()).toBe(ExitReason.HostTrap);
      expect(m.hart.trapCause).toBe(0);
      expect(m.hart.trapTval).toBe(target);
      expect(m.hart.pc).toBe(RAM_BASE);
      expect(m.hart.x[1]).toBe(0); // link not written
    }
    // jalr: bit 1 set after clearing bit 0
    const m = new Machine();
    m.hart.hostTraps = true;
    m.load(RAM_BASE, [a.li(1, RAM_BASE + 0x103), a.jalr(2, 1, 0)]);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc]).toEqual([0, RAM_BASE + 0x102, RAM_BASE + 8]);
    expect(m.hart.x[2]).toBe(0);
    // not-taken branch with misaligned target is fine
    const m3 = new Machine();
    m3.exec([a.bne(0, 0, 2), a.addi(1, 0, 7)]);
    expect(m3.hart.x[1]).toBe(7);
  });
});

describe('loads and stores', () => {
  it('sign and zero extension of lb/lh/lbu/lhu, lw, sb/sh/sw', () => {
    const m = new Machine();
    const d = RAM_BASE + 0x1000;
    m.mem.write32(d, 0x8081f2f3);
    m.exec([
      a.li(1, d),
      a.lb(2, 0, 1), a.lbu(3, 0, 1), a.lb(4, 3, 1), a.lbu(5, 3, 1),
      a.lh(6, 0, 1), a.lhu(7, 0, 1), a.lh(8, 2, 1), a.lhu(9, 2, 1), a.lw(10, 0, 1),
      a.lb(11, 1, 1), // 0xf2
      a.li(12, 0x12345678),
      a.sw(12, 8, 1), a.sh(12, 12, 1), a.sb(12, 16, 1),
      a.sb(12, 17, 1), a.sh(12, 18, 1),
      a.lw(13, 4, 1), // next word (0) - negative offsets below
      a.addi(14, 1, 16), a.lw(15, -8, 14),
    ]);
    expect(m.xu(2)).toBe(0xfffffff3);
    expect(m.xu(3)).toBe(0xf3);
    expect(m.xu(4)).toBe(0xffffff80);
    expect(m.xu(5)).toBe(0x80);
    expect(m.xu(6)).toBe(0xfffff2f3);
    expect(m.xu(7)).toBe(0xf2f3);
    expect(m.xu(8)).toBe(0xffff8081);
    expect(m.xu(9)).toBe(0x8081);
    expect(m.xu(10)).toBe(0x8081f2f3);
    expect(m.xu(11)).toBe(0xfffffff2);
    expect(m.mem.read32(d + 8)).toBe(0x12345678);
    expect(m.mem.read32(d + 12)).toBe(0x5678);
    expect(m.mem.read32(d + 16)).toBe(0x56787878);
    expect(m.xu(15)).toBe(0x12345678);
  });

  it('load into x0 is discarded', () => {
    const m = new Machine();
    m.mem.write32(RAM_BASE + 0x1000, 0xdeadbeef);
    m.exec([a.li(1, RAM_BASE + 0x1000), a.lw(0, 0, 1), a.add(2, 0, 0)]);
    expect(m.hart.x[0]).toBe(0);
    expect(m.hart.x[2]).toBe(0);
  });

  it('misaligned loads and stores succeed, including across a page boundary', () => {
    const m = new Machine();
    const d = RAM_BASE + 0x1ffd; // 3 bytes before a page end
    m.mem.writeBytes(d - 1, new Uint8Array([0x11, 0x22, 0x33, 0x44, 0x55, 0x66]));
    m.exec([
      a.li(1, d),
      a.lw(2, 0, 1), // 22 33 44 55 crosses into next page
      a.lh(3, 2, 1), // 44 55 crosses
      a.lhu(4, -1, 1), // 11 22 (aligned at d-1? d-1 = ...1ffc aligned; lhu fine)
      a.lh(5, 0, 1), // 22 33 misaligned within page
      a.li(6, 0xa1b2c3d4),
      a.sw(6, 1, 1), // ...1ffe..2001
      a.sh(6, 5, 1), // 0x2002 aligned
    ]);
    expect(m.xu(2)).toBe(0x55443322);
    expect(m.xu(3)).toBe(0x5544);
    expect(m.xu(4)).toBe(0x2211);
    expect(m.xu(5)).toBe(0x3322);
    expect([...m.mem.readBytes(d + 1, 6)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1, 0xd4, 0xc3]);
  });

  it('access to unbacked memory is an access fault with the address in tval', () => {
    for (const [insn, cause] of [[a.lw(2, 0, 1), 5], [a.sw(2, 0, 1), 7], [a.lb(2, 0, 1), 5]] as const) {
      const m = new Machine();
      m.hart.hostTraps = true;
      m.load(RAM_BASE, [a.li(1, 0x1000), insn]);
      expect(m.run()).toBe(ExitReason.HostTrap);
      expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc]).toEqual([cause, 0x1000, RAM_BASE + 8]);
    }
    // misaligned access whose second half is unbacked: tval is the address of that part
    const m = new Machine(0x1000);
    m.hart.hostTraps = true;
    m.load(RAM_BASE, [a.li(1, RAM_BASE + 0xffe), a.lw(2, 0, 1)]);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval]).toEqual([5, RAM_BASE + 0x1000]);
  });

  it('fetch from unbacked memory is an instruction access fault', () => {
    const m = new Machine();
    m.hart.hostTraps = true;
    m.load(RAM_BASE, [a.li(1, 0x2000), a.jalr(0, 1, 0)]);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc]).toEqual([1, 0x2000, 0x2000]);
  });
});

describe('illegal instructions and fences', () => {
  const illegal = [
    0x00000000, // all-zero word
    0xffffffff,
    a.slli(1, 1, 1) | (1 << 25), // shamt[5] set
    a.srli(1, 1, 1) | (1 << 26), // bad funct7
    a.rType(0x33, 0, 0x40, 1, 1, 1), // OP with unknown funct7
    a.rType(0x33, 1, 0x20, 1, 1, 1), // sll with funct7 0x20
    a.iType(0x03, 3, 1, 0, 0), // ld (RV64)
    a.iType(0x03, 6, 1, 0, 0), // lwu
    a.sType(3, 1, 0, 0), // sd
    a.bType(2, 0, 0, 8),
    a.iType(0x67, 1, 1, 0, 0), // jalr funct3 != 0
    a.iType(0x0f, 2, 0, 0, 0), // misc-mem funct3 2
    0x00000057, // vector opcode
    0x00200073, // SYSTEM funct3 0 unknown
    a.iType(0x73, 4, 1, 0, 0), // SYSTEM funct3 4
    a.rType(0x2f, 3, 0, 1, 1, 1), // amo funct3 3 (amoadd.d)
    a.rType(0x2f, 2, 0x02 << 2, 1, 1, 1), // lr.w with rs2 != 0
    a.rType(0x2f, 2, 0x05 << 2, 1, 1, 1), // unknown AMO funct5
    0x0000001b, // OP-IMM-32 (RV64)
  ];
  it.each(illegal.map((w) => [w >>> 0]))('0x%s raises illegal instruction with the bits in tval', (w) => {
    const m = new Machine();
    m.hart.hostTraps = true;
    m.load(RAM_BASE, [w]);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval, m.hart.pc]).toEqual([2, w, RAM_BASE]);
  });

  it('fence and fence.i are no-ops; self-modifying code takes effect after fence.i', () => {
    const m = new Machine();
    const target = RAM_BASE + 7 * 4;
    m.exec([
      a.fence(),
      a.li(1, a.addi(5, 0, 42)), // new instruction word
      a.li(2, target),
      a.sw(1, 0, 2),
      a.fence_i(),
      a.addi(5, 0, 1), // overwritten with addi x5, x0, 42
    ]);
    expect(m.hart.x[5]).toBe(42);
  });
});

describe('budget and counting', () => {
  it('runs exactly `budget` instructions and counts instret', () => {
    const m = new Machine();
    m.load(RAM_BASE, [a.addi(1, 1, 1), a.jal(0, -4)]);
    expect(m.run(1001)).toBe(ExitReason.Budget);
    expect(m.hart.x[1]).toBe(501);
    expect(m.hart.instret).toBe(1001);
    expect(m.hart.cycle).toBe(1001);
    expect(m.hart.pc).toBe(RAM_BASE + 4);
    expect(m.run(1)).toBe(ExitReason.Budget);
    expect(m.hart.pc).toBe(RAM_BASE);
    expect(m.run(0)).toBe(ExitReason.Budget);
    expect(m.hart.instret).toBe(1002);
  });
});

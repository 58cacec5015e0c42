import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { PRIV_S } from '../../hypervisor/cpu/hart.ts';
import type { MmioDevice } from '../../hypervisor/cpu/memory.ts';
import * as a from './asm.ts';
import { A, D, Machine, PageTables, R, RAM_BASE, V, W, X } from './helpers.ts';

const DEV = 0x10000000;

class RecordingDevice implements MmioDevice {
  log: string[] = [];
  constructor(private readonly value = 0) {}
  read(offset: number, size: 1 | 2 | 4): number {
    this.log.push(`r${size}@${offset}`);
    return this.value & (size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff);
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.log.push(`w${size}@${offset}=${value.toString(16)}`);
  }
}

describe('MMIO', () => {
  it('loads and stores go to the device with offset and size; results are extended', () => {
    const m = new Machine();
    const dev = new RecordingDevice(0xfedcba98);
    m.mem.addMmio(DEV, 0x100, dev);
    m.exec([
      a.lui(1, DEV >>> 12),
      a.lw(2, 0x10, 1), a.lb(3, 0x11, 1), a.lbu(4, 0x12, 1), a.lh(5, 0x14, 1), a.lhu(6, 0x16, 1),
      a.li(7, 0x89abcdef),
      a.sw(7, 0x20, 1), a.sh(7, 0x24, 1), a.sb(7, 0x27, 1),
      a.lw(8, 0x10, 1), a.lw(8, 0x10, 1), // not cached: each access reaches the device
    ]);
    expect(dev.log).toEqual(['r4@16', 'r1@17', 'r1@18', 'r2@20', 'r2@22', 'w4@32=89abcdef', 'w2@36=cdef', 'w1@39=ef', 'r4@16', 'r4@16']);
    expect([m.xu(2), m.xu(3), m.xu(4), m.xu(5), m.xu(6)]).toEqual([0xfedcba98, 0xffffff98, 0x98, 0xffffba98, 0xba98]);
  });

  it('misaligned MMIO accesses, accesses past the region and atomics are access faults', () => {
    for (const [insn, cause, off] of [
      [a.lw(2, 0x02, 1), 5, 2], [a.sh(2, 0x01, 1), 7, 1], [a.lw(2, 0xfe, 1), 5, 0xfe],
      [a.amoadd_w(2, 0, 1), 7, 0], [a.lr_w(2, 1), 5, 0],
    ] as const) {
      const m = new Machine();
      const dev = new RecordingDevice();
      m.mem.addMmio(DEV, 0x100, dev);
      m.hart.hostTraps = true;
      m.load(RAM_BASE, [a.lui(1, DEV >>> 12), insn]);
      expect(m.run()).toBe(ExitReason.HostTrap);
      expect([m.hart.trapCause, m.hart.trapTval]).toEqual([cause, DEV + off]);
      expect(dev.log).toEqual([]);
    }
  });

  it('MMIO through an Sv32 mapping; RAM in the same page as a region is not cached around it', () => {
    const m = new Machine();
    const dev = new RecordingDevice(7);
    m.mem.addMmio(RAM_BASE + 0x5700, 0x10, dev); // inside a RAM frame
    m.mem.write32(RAM_BASE + 0x5000, 0x11);
    const pt = new PageTables(m.mem, RAM_BASE + 0x100000);
    pt.map(0x10000, RAM_BASE + 0x1000, V | R | X | A);
    pt.map(0x20000, RAM_BASE + 0x5000, V | R | W | A | D);
    m.load(RAM_BASE + 0x1000, [a.lui(1, 0x20), a.lw(2, 0, 1), a.lw(3, 0x700, 1), a.sw(3, 0x704, 1), a.lw(4, 0, 1), a.ecall()]);
    m.hart.writeCsr(C.CSR_SATP, pt.satp);
    m.hart.priv = PRIV_S;
    m.hart.pc = 0x10000;
    m.hart.hostTraps = true;
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect([m.hart.trapCause, m.hart.trapTval]).toEqual([9, 0]);
    expect([m.hart.x[2], m.hart.x[3], m.hart.x[4]]).toEqual([0x11, 7, 0x11]);
    expect(dev.log).toEqual(['r4@0', 'w4@4=7']);
  });

  it('a device can request a stop: run() returns Stop after the access completes', () => {
    const m = new Machine();
    const hart = m.hart;
    m.mem.addMmio(DEV, 0x10, { read: () => 0, write: () => { hart.stopRequested = true; } });
    m.load(RAM_BASE, [a.lui(1, DEV >>> 12), a.addi(2, 0, 1), a.sw(2, 0, 1), a.addi(3, 0, 1)]);
    expect(m.run()).toBe(ExitReason.Stop);
    expect(hart.pc).toBe(RAM_BASE + 12);
    expect(hart.instret).toBe(3);
    expect(hart.stopRequested).toBe(false);
    expect(m.run(1)).toBe(ExitReason.Budget);
    expect(hart.x[3]).toBe(1);
  });

  it('a stop requested before run() returns Stop without executing', () => {
    const m = new Machine();
    m.load(RAM_BASE, [a.addi(1, 0, 1)]);
    m.hart.stopRequested = true;
    expect(m.run()).toBe(ExitReason.Stop);
    expect([m.hart.pc, m.hart.x[1], m.hart.stopRequested]).toEqual([RAM_BASE, 0, false]);
  });
});

describe('watched frames', () => {
  const WATCH = RAM_BASE + 0x6000;

  it('every store into a watched frame calls onStore after the store; loads do not', () => {
    const m = new Machine();
    const seen: Array<[number, number, number]> = [];
    m.mem.setWatched(WATCH >>> 12, true);
    m.mem.onStore = (pa, size) => {
      seen.push([pa, size, m.mem.read32((pa & ~3) >>> 0)]);
      return false;
    };
    m.exec([
      a.li(1, WATCH), a.addi(2, 0, 5),
      a.sw(2, 0, 1), a.sw(2, 0, 1), a.sh(2, 6, 1), a.sb(2, 9, 1), a.lw(3, 0, 1),
      a.sw(2, 0x7fe, 1), // misaligned, within the frame
      a.amoadd_w(4, 2, 1), a.lr_w(5, 1), a.sc_w(6, 2, 1),
      a.sw(2, -4, 1), // neighbouring frame: not watched
    ]);
    expect(seen).toEqual([
      [WATCH, 4, 5], [WATCH, 4, 5], [WATCH + 6, 2, 0x50000], [WATCH + 9, 1, 5 << 8],
      [WATCH + 0x7fe, 4, 0x50000], [WATCH, 4, 10], [WATCH, 4, 5],
    ]);
    expect(m.hart.x[6]).toBe(0);
  });

  it('onStore returning true stops the run after that instruction', () => {
    const m = new Machine();
    m.mem.setWatched(WATCH >>> 12, true);
    m.mem.onStore = (pa) => pa === WATCH + 8;
    m.load(RAM_BASE, [a.li(1, WATCH), a.sw(1, 4, 1), a.sw(1, 8, 1), a.addi(5, 0, 1)]);
    expect(m.run()).toBe(ExitReason.Stop);
    expect(m.hart.pc).toBe(RAM_BASE + 16);
    expect(m.hart.x[5]).toBe(0);
    expect(m.mem.read32(WATCH + 8)).toBe(WATCH);
  });

  it('watching a frame after it was cached as writable takes effect (generation bump)', () => {
    const m = new Machine();
    let count = 0;
    m.mem.onStore = () => { count++; return false; };
    m.load(RAM_BASE, [a.li(1, WATCH), a.sw(1, 0, 1), a.sw(1, 0, 1), a.ebreak()]);
    m.hart.hostTraps = true;
    expect(m.run(3)).toBe(ExitReason.Budget);
    m.mem.setWatched(WATCH >>> 12, true);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(count).toBe(1);
  });

  it('watching a frame costs no page walks: its write entry stays in the TLB, marked for the slow path', () => {
    // The same stores, watched or not, make the same walks (HVM guests are charged per walk
    // reference, and dom0 as a process watches all of an HVM guest's RAM).
    const walks = (watch: 'never' | 'before' | 'midway') => {
      const m = new Machine();
      const pt = new PageTables(m.mem, RAM_BASE + 0x100000);
      pt.map(0x10000, RAM_BASE + 0x1000, V | R | X | A);
      pt.map(0x20000, WATCH, V | R | W | A | D);
      let stores = 0;
      m.mem.onStore = () => { stores++; return false; };
      if (watch === 'before') m.mem.setWatched(WATCH >>> 12, true);
      m.load(RAM_BASE + 0x1000, [a.lui(1, 0x20), ...Array.from({ length: 8 }, (_, i) => a.sw(1, 4 * i, 1)), a.ebreak(), ...Array.from({ length: 8 }, (_, i) => a.sw(1, 4 * i, 1)), a.ecall()]);
      m.hart.writeCsr(C.CSR_SATP, pt.satp);
      m.hart.priv = PRIV_S;
      m.hart.pc = 0x10000;
      m.hart.hostTraps = true;
      expect(m.run()).toBe(ExitReason.HostTrap); // the ebreak
      if (watch === 'midway') m.mem.setWatched(WATCH >>> 12, true);
      m.hart.pc += 4;
      expect(m.run()).toBe(ExitReason.HostTrap); // the ecall
      return { refs: m.hart.mmu.walkRefs, stores };
    };
    const plain = walks('never');
    expect(plain.stores).toBe(0);
    expect(walks('before')).toEqual({ refs: plain.refs, stores: 16 });
    expect(walks('midway')).toEqual({ refs: plain.refs, stores: 8 });
  });

  it('an A-bit update during instruction fetch that asks to stop stops before the instruction', () => {
    const m = new Machine();
    const pt = new PageTables(m.mem, RAM_BASE + 0x100000);
    pt.map(0x10000, RAM_BASE + 0x1000, V | R | X); // A clear: the first fetch walk sets it
    m.mem.setWatched(pt.l0Addr(0x10000) >>> 12, true);
    m.mem.onStore = () => true;
    m.load(RAM_BASE + 0x1000, [a.addi(1, 0, 1), a.ecall()]);
    m.hart.writeCsr(C.CSR_SATP, pt.satp);
    m.hart.priv = PRIV_S;
    m.hart.pc = 0x10000;
    m.hart.hostTraps = true;
    expect(m.run()).toBe(ExitReason.Stop);
    expect([m.hart.pc, m.hart.x[1], m.hart.instret]).toEqual([0x10000, 0, 0]);
    expect(pt.pte(0x10000) & A).toBe(A);
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(m.hart.x[1]).toBe(1);
  });

  it('hardware A/D updates to a watched page-table frame are reported', () => {
    const m = new Machine();
    const ptArea = RAM_BASE + 0x100000;
    const pt = new PageTables(m.mem, ptArea);
    pt.map(0x10000, RAM_BASE + 0x1000, V | R | X | A);
    pt.map(0x20000, RAM_BASE + 0x5000, V | R | W);
    const l0 = pt.l0Addr(0x20000);
    const seen: number[] = [];
    m.mem.setWatched(l0 >>> 12, true);
    m.mem.onStore = (pa) => { seen.push(pa); return false; };
    m.load(RAM_BASE + 0x1000, [a.lui(1, 0x20), a.sw(0, 0, 1), a.ecall()]);
    m.hart.writeCsr(C.CSR_SATP, pt.satp);
    m.hart.priv = PRIV_S;
    m.hart.pc = 0x10000;
    m.hart.hostTraps = true;
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(m.hart.trapCause).toBe(9);
    expect(seen).toEqual([l0]);
    expect(pt.pte(0x20000) & (A | D)).toBe(A | D);
  });
});

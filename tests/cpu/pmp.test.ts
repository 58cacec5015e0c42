// PMP (privileged spec 20211203, 3.7): CSR WARL behaviour and locking, the verdict of
// every access against a reference evaluation written straight from the specification's
// wording (property test), and the checks as a running hart sees them: loads, stores,
// fetches, page-table walks, MPRV, the TLB (PMP writes flush, split frames are never
// cached) and harts without PMP.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as C from '../../hypervisor/cpu/csr.ts';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_M, PRIV_S, PRIV_U } from '../../hypervisor/cpu/hart.ts';
import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, type Access } from '../../hypervisor/cpu/mmu.ts';
import { PMP_ALLOW, PMP_DENY, PMP_MIXED, Pmp } from '../../hypervisor/cpu/pmp.ts';
import * as a from './asm.ts';
import { A, D, Machine, PageTables, R, RAM_BASE, V, W, X, freshMemory } from './helpers.ts';

const OFF = 0, TOR = 1 << 3, NA4 = 2 << 3, NAPOT = 3 << 3, L = 0x80;
const PR = 1, PW = 2, PX = 4;

/** pmpaddr value of a NAPOT region of `size` bytes (power of two >= 8) at `base`. */
function napot(base: number, size: number): number {
  return ((base + size / 2 - 1) / 4) >>> 0;
}

function pmpHart(entries = 16): Machine {
  const m = new Machine();
  m.hart = new Hart(m.mem, { pmpEntries: entries });
  m.hart.pc = RAM_BASE;
  return m;
}

/** Sets entry i (config byte and address) through the CSRs. */
function setEntry(h: Hart, i: number, cfg: number, addr: number): void {
  h.writeCsr(C.CSR_PMPADDR0 + i, addr);
  const n = C.CSR_PMPCFG0 + (i >> 2);
  const sh = 8 * (i & 3);
  const old = h.readCsr(n);
  h.writeCsr(n, ((old & ~(0xff << sh)) | (cfg << sh)) >>> 0);
}

// ---- Reference: the specification's words, byte by byte, in BigInt -------------------

interface Cfg { cfg: number[]; addr: number[]; entries: number }

function refMatchesByte(c: Cfg, i: number, byte: bigint): boolean {
  const mode = (c.cfg[i]! >> 3) & 3;
  const y = BigInt(c.addr[i]!);
  if (mode === 0) return false;
  if (mode === 1) {
    // TOR: pmpaddr[i-1] <= y < pmpaddr[i], with pmpaddr[-1] = 0 (addresses are bits 33:2).
    const lo = i === 0 ? 0n : BigInt(c.addr[i - 1]!) << 2n;
    return byte >= lo && byte < y << 2n;
  }
  const word = byte >> 2n;
  if (mode === 2) return word === y; // NA4
  // NAPOT: the trailing ones of pmpaddr plus the first zero above them are "don't care".
  const care = ~(y ^ (y + 1n));
  return (word & care) === (y & care);
}

function refAllowed(c: Cfg, pa: number, len: number, acc: Access, priv: number): boolean {
  for (let i = 0; i < c.entries; i++) {
    let any = false;
    let all = true;
    for (let k = 0; k < len; k++) {
      const hit = refMatchesByte(c, i, BigInt(pa) + BigInt(k));
      any ||= hit;
      all &&= hit;
    }
    if (!any) continue;
    if (!all) return false; // the matching entry must match every byte
    const cfg = c.cfg[i]!;
    if (priv === PRIV_M && (cfg & L) === 0) return true;
    const need = acc === ACCESS_READ ? PR : acc === ACCESS_WRITE ? PW : PX;
    return (cfg & need) !== 0;
  }
  return priv === PRIV_M || c.entries === 0;
}

function loadPmp(c: Cfg): Pmp {
  const p = new Pmp(c.entries);
  for (let i = 0; i < c.entries; i++) p.writeAddrCsr(i, c.addr[i]!);
  for (let n = 0; n < 4; n++) {
    let v = 0;
    for (let k = 0; k < 4; k++) v |= (c.cfg[n * 4 + k] ?? 0) << (8 * k);
    p.writeCfgCsr(n, v >>> 0);
  }
  return p;
}

describe('PMP CSRs', () => {
  it('pmpcfg0-3 hold 16 entries; reserved bits 6:5 read 0; pmpcfg4-15, pmpaddr16-63 read 0', () => {
    const h = pmpHart().hart;
    h.writeCsr(C.CSR_PMPCFG0, 0x1f0f6d07);
    expect(h.readCsr(C.CSR_PMPCFG0)).toBe(0x1f0f0d07);
    h.writeCsr(C.CSR_PMPCFG0 + 3, 0x1f1b1918);
    expect(h.readCsr(C.CSR_PMPCFG0 + 3)).toBe(0x1f1b1918);
    h.writeCsr(C.CSR_PMPCFG0 + 4, 0x0f0f0f0f);
    expect(h.readCsr(C.CSR_PMPCFG0 + 4)).toBe(0);
    h.writeCsr(C.CSR_PMPADDR0 + 15, 0xffffffff);
    expect(h.readCsr(C.CSR_PMPADDR0 + 15)).toBe(0xffffffff); // G = 0: every bit writable
    h.writeCsr(C.CSR_PMPADDR0 + 16, 0x1234);
    expect(h.readCsr(C.CSR_PMPADDR0 + 16)).toBe(0);
  });

  it('R=0 W=1 is reserved: that byte keeps its previous value, the others are written', () => {
    const h = pmpHart().hart;
    h.writeCsr(C.CSR_PMPCFG0, 0x0000_0b00 | 0x19);
    expect(h.readCsr(C.CSR_PMPCFG0)).toBe(0x00000b19);
    h.writeCsr(C.CSR_PMPCFG0, 0x0000_0a00 | 0x1a);
    expect(h.readCsr(C.CSR_PMPCFG0)).toBe(0x00000b19); // both bytes were W-only
    h.writeCsr(C.CSR_PMPCFG0, 0x0000_0e00 | 0x1b);
    expect(h.readCsr(C.CSR_PMPCFG0)).toBe(0x00000b1b); // 0x0e is W+X without R: kept 0x0b
  });

  it('a locked entry ignores writes to its pmpcfg byte and pmpaddr until reset', () => {
    const h = pmpHart().hart;
    setEntry(h, 2, NAPOT | PR | L, 0x1000);
    setEntry(h, 2, OFF, 0x2000);
    expect((h.readCsr(C.CSR_PMPCFG0) >>> 16) & 0xff).toBe(NAPOT | PR | L);
    expect(h.readCsr(C.CSR_PMPADDR0 + 2)).toBe(0x1000);
    setEntry(h, 1, PR | NA4, 0x44); // neighbours stay writable (entry 2 is not TOR)
    expect(h.readCsr(C.CSR_PMPADDR0 + 1)).toBe(0x44);
  });

  it('a locked TOR entry also locks the pmpaddr below it; a locked NAPOT one does not', () => {
    const h = pmpHart().hart;
    setEntry(h, 4, OFF, 0x100);
    setEntry(h, 5, TOR | PR | L, 0x200);
    h.writeCsr(C.CSR_PMPADDR0 + 4, 0x999);
    expect(h.readCsr(C.CSR_PMPADDR0 + 4)).toBe(0x100);
    setEntry(h, 7, NAPOT | PR | L, 0x3ff);
    h.writeCsr(C.CSR_PMPADDR0 + 6, 0x999);
    expect(h.readCsr(C.CSR_PMPADDR0 + 6)).toBe(0x999);
  });

  it('fewer entries: the others read 0 and ignore writes; without PMP everything is allowed', () => {
    const h = pmpHart(4).hart;
    h.writeCsr(C.CSR_PMPCFG0 + 1, 0x1f1f1f1f);
    expect(h.readCsr(C.CSR_PMPCFG0 + 1)).toBe(0);
    const none = new Pmp(0);
    expect(none.check(0x80000000, 4, ACCESS_WRITE, PRIV_U)).toBe(true);
    expect(() => new Pmp(17)).toThrow(RangeError);
  });
});

describe('PMP verdicts', () => {
  // Addresses cluster in a small window so that ranges overlap and accesses straddle edges.
  const WINDOW = 0x80000000;
  const arbAddrReg = fc.oneof(
    fc.integer({ min: 0, max: 0x400 }).map((o) => (WINDOW / 4 + o) >>> 0),
    fc.integer({ min: 0, max: 12 }).chain((t) =>
      fc.integer({ min: 0, max: 0x100 }).map((o) => ((WINDOW / 4 + (o << (t + 1))) | ((1 << t) - 1)) >>> 0)),
    fc.constantFrom(0, 0xffffffff, 0x7fffffff, 0x1fffffff),
    fc.integer({ min: 0, max: 0xffffffff }),
  );
  const arbCfg = fc.record({
    entries: fc.constantFrom(0, 1, 4, 16),
    cfg: fc.array(fc.integer({ min: 0, max: 0xff }), { minLength: 16, maxLength: 16 }),
    addr: fc.array(arbAddrReg, { minLength: 16, maxLength: 16 }),
  });
  const arbAccess = fc.record({
    pa: fc.oneof(fc.integer({ min: 0, max: 0x1100 }).map((o) => WINDOW + o - 0x40), fc.integer({ min: 0, max: 2 ** 34 - 4 })),
    len: fc.constantFrom(1, 2, 4),
    acc: fc.constantFrom<Access>(ACCESS_READ, ACCESS_WRITE, ACCESS_EXEC),
    priv: fc.constantFrom(PRIV_U, PRIV_S, PRIV_M),
  });

  it('check() equals the specification evaluated byte by byte (fast-check)', () => {
    fc.assert(
      fc.property(arbCfg, fc.array(arbAccess, { minLength: 1, maxLength: 8 }), (c0, accesses) => {
        const p = loadPmp(c0);
        // Compare against what the CSRs hold after WARL (R=0 W=1 bytes were not written).
        const c: Cfg = { entries: c0.entries, cfg: Array.from(p.cfg), addr: Array.from(p.addr) };
        for (const x of accesses) {
          expect(p.check(x.pa, x.len, x.acc, x.priv)).toBe(refAllowed(c, x.pa, x.len, x.acc, x.priv));
          // The same access moved onto each region's edges, where partial matches happen.
          for (let i = 0; i < c.entries; i++) {
            const { lo, hi } = p.range(i);
            for (const edge of [lo, hi]) {
              for (let d = -3; d <= 1; d++) {
                const pa = edge + d;
                if (pa < 0 || pa + x.len > 2 ** 34) continue;
                expect(p.check(pa, x.len, x.acc, x.priv)).toBe(refAllowed(c, pa, x.len, x.acc, x.priv));
              }
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('pageVerdict() is ALLOW/DENY only when every access in the frame agrees (fast-check)', () => {
    fc.assert(
      fc.property(arbCfg, fc.integer({ min: 0, max: 3 }), arbAccess, (c0, pageOff, x) => {
        const p = loadPmp(c0);
        const c: Cfg = { entries: c0.entries, cfg: Array.from(p.cfg), addr: Array.from(p.addr) };
        const pfn = WINDOW / 4096 + pageOff;
        const v = p.pageVerdict(pfn, x.acc, x.priv);
        if (v === PMP_MIXED) return;
        // Every aligned access of x.len bytes in the frame gets that verdict.
        for (let off = 0; off < 4096; off += x.len) {
          expect(refAllowed(c, pfn * 4096 + off, x.len, x.acc, x.priv)).toBe(v === PMP_ALLOW);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('examples: TOR from 0, NA4, NAPOT of the whole space, partial matches, no match', () => {
    const c: Cfg = { entries: 16, cfg: new Array<number>(16).fill(0), addr: new Array<number>(16).fill(0) };
    c.cfg[0] = TOR | PR; c.addr[0] = 0x80001000 / 4; // [0, 0x80001000) R
    c.cfg[1] = NA4 | PW | PR; c.addr[1] = 0x80001000 / 4; // [0x80001000, +4) RW
    c.cfg[2] = NAPOT | PX; c.addr[2] = 0xffffffff; // everything X
    const p = loadPmp(c);
    expect(p.check(0x80000ffc, 4, ACCESS_READ, PRIV_U)).toBe(true);
    expect(p.check(0x80000ffe, 4, ACCESS_READ, PRIV_U)).toBe(false); // straddles entries 0 and 1
    expect(p.check(0x80001000, 4, ACCESS_WRITE, PRIV_S)).toBe(true);
    expect(p.check(0x80001002, 4, ACCESS_WRITE, PRIV_S)).toBe(false); // partly in NA4
    expect(p.check(0x80001004, 4, ACCESS_EXEC, PRIV_U)).toBe(true);
    expect(p.check(0x3_ffff_fffc, 4, ACCESS_EXEC, PRIV_U)).toBe(true); // 34-bit top
    expect(p.check(0x80001004, 4, ACCESS_READ, PRIV_U)).toBe(false);
    expect(p.check(0x80001004, 4, ACCESS_READ, PRIV_M)).toBe(true); // not locked
    expect(p.pageVerdict(0x80001, ACCESS_WRITE, PRIV_U)).toBe(PMP_MIXED);
    expect(p.pageVerdict(0x80000, ACCESS_READ, PRIV_U)).toBe(PMP_ALLOW);
    expect(p.pageVerdict(0x80000, ACCESS_WRITE, PRIV_U)).toBe(PMP_DENY);
  });
});

describe('PMP on a running hart', () => {
  const DATA = RAM_BASE + 0x10000;

  /** Entry 0: code page RX, entry 15: everything else RW for S/U. */
  function setup(m: Machine): void {
    setEntry(m.hart, 0, NAPOT | PR | PX, napot(RAM_BASE, 0x1000));
    setEntry(m.hart, 15, NAPOT | PR | PW, 0xffffffff);
  }

  it('S/U: loads, stores and fetches need R, W, X (access faults 5, 7, 1 with tval)', () => {
    const m = pmpHart();
    setup(m);
    setEntry(m.hart, 1, NAPOT | PR, napot(DATA, 0x1000)); // read-only data page
    let r = m.runAs(PRIV_U, [...a.li(1, DATA), a.lw(2, 8, 1), a.sw(2, 12, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_STORE_ACCESS, tval: DATA + 12, pc: RAM_BASE + 12 });
    m.hart = new Hart(m.mem, { pmpEntries: 16 });
    setup(m);
    r = m.runAs(PRIV_S, [...a.li(1, DATA), a.jalr(0, 1, 0)]);
    expect(r).toEqual({ cause: C.CAUSE_FETCH_ACCESS, tval: DATA, pc: DATA });
    m.hart = new Hart(m.mem, { pmpEntries: 16 });
    setEntry(m.hart, 0, NAPOT | PR | PX, napot(RAM_BASE, 0x1000));
    r = m.runAs(PRIV_U, [...a.li(1, DATA), a.lw(2, 0, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_LOAD_ACCESS, tval: DATA, pc: RAM_BASE + 8 }); // no match: denied
  });

  it('M-mode ignores unlocked entries and obeys locked ones', () => {
    const m = pmpHart();
    setEntry(m.hart, 0, NAPOT | PR, napot(DATA, 0x1000));
    m.load(DATA, [0x1234]);
    let h = m.exec([...a.li(1, DATA), a.sw(0, 4, 1), a.lw(2, 0, 1)]);
    expect(h.x[2]).toBe(0x1234);
    m.hart = new Hart(m.mem, { pmpEntries: 16 });
    setEntry(m.hart, 0, NAPOT | PR | L, napot(DATA, 0x1000));
    setEntry(m.hart, 1, NAPOT | PR | PW | PX, 0xffffffff);
    const r = m.runAs(PRIV_M, [...a.li(1, DATA), a.lw(2, 0, 1), a.sw(2, 4, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_STORE_ACCESS, tval: DATA + 4, pc: RAM_BASE + 12 });
    h = m.hart;
    expect(h.x[2]).toBe(0x1234);
  });

  it('MPRV makes M-mode loads and stores use MPP for PMP', () => {
    const m = pmpHart();
    setup(m);
    setEntry(m.hart, 1, NAPOT | PR, napot(DATA, 0x1000));
    m.hart.writeCsr(C.CSR_MSTATUS, C.MSTATUS_MPRV); // MPP = U
    const r = m.runAs(PRIV_M, [...a.li(1, DATA), a.lw(2, 0, 1), a.sw(2, 0, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_STORE_ACCESS, tval: DATA, pc: RAM_BASE + 12 });
  });

  it('a PMP write takes effect on the next access (cached translations are dropped)', () => {
    const m = pmpHart();
    setup(m);
    // U stores to DATA (allowed by entry 15) and ecalls; the host makes DATA read-only
    // and resumes at the store, whose translation the TLB had cached.
    const prog = [...a.li(1, DATA), a.sw(0, 0, 1), a.ecall()];
    m.load(RAM_BASE, prog);
    m.hart.priv = PRIV_U;
    m.hart.hostTraps = true;
    m.hart.pc = RAM_BASE;
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(m.hart.trapCause).toBe(C.CAUSE_USER_ECALL);
    setEntry(m.hart, 1, NAPOT | PR, napot(DATA, 0x1000));
    m.hart.pc = RAM_BASE + 8; // the sw
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect(m.hart.trapCause).toBe(C.CAUSE_STORE_ACCESS);
  });

  it('a frame split by PMP is checked on every access and every fetch', () => {
    const m = pmpHart();
    // Code page: only its first 16 bytes are executable (NAPOT 16), data frame split in
    // halves: the first 2 KiB read-write, the rest read-only.
    setEntry(m.hart, 0, NAPOT | PR | PX, napot(RAM_BASE, 16));
    setEntry(m.hart, 1, NAPOT | PR | PW, napot(DATA, 0x800));
    setEntry(m.hart, 2, NAPOT | PR, napot(DATA, 0x1000));
    let r = m.runAs(PRIV_U, [...a.li(1, DATA), a.sw(0, 0x7fc, 1), a.addi(0, 0, 0)]);
    expect(r).toEqual({ cause: C.CAUSE_FETCH_ACCESS, tval: RAM_BASE + 16, pc: RAM_BASE + 16 });
    m.hart = new Hart(m.mem, { pmpEntries: 16 });
    setEntry(m.hart, 0, NAPOT | PR | PX, napot(RAM_BASE, 0x1000));
    setEntry(m.hart, 1, NAPOT | PR | PW, napot(DATA, 0x800));
    setEntry(m.hart, 2, NAPOT | PR, napot(DATA, 0x1000));
    const mid = DATA + 0x800;
    r = m.runAs(PRIV_U, [...a.li(1, mid), a.sw(0, -4, 1), a.sw(0, -8, 1), a.lw(2, 0, 1), a.sw(0, 0, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_STORE_ACCESS, tval: mid, pc: RAM_BASE + 20 });
    // A word straddling the two halves matches entry 1 only in part: the access fails.
    m.hart = new Hart(m.mem, { pmpEntries: 16 });
    setEntry(m.hart, 0, NAPOT | PR | PX, napot(RAM_BASE, 0x1000));
    setEntry(m.hart, 1, NAPOT | PR | PW, napot(DATA, 0x800));
    setEntry(m.hart, 2, NAPOT | PR | PW, napot(DATA, 0x1000));
    r = m.runAs(PRIV_U, [...a.li(1, mid), a.sw(0, -2, 1)]);
    expect(r).toEqual({ cause: C.CAUSE_STORE_ACCESS, tval: mid - 2, pc: RAM_BASE + 8 });
  });

  it("the page-table walk's reads are S-mode accesses: denied PTE reads raise the access's own access fault", () => {
    const m = pmpHart();
    const PT = RAM_BASE + 0x100000;
    const pt = new PageTables(m.mem, PT);
    pt.map(0x10000, RAM_BASE, V | R | X | A | D | 0x10);
    pt.map(0x20000, DATA, V | R | W | A | D | 0x10);
    m.hart.writeCsr(C.CSR_SATP, pt.satp);
    setEntry(m.hart, 0, NAPOT | PR | PX, napot(RAM_BASE, 0x1000));
    setEntry(m.hart, 1, NAPOT | PR | PW, napot(DATA, 0x1000));
    setEntry(m.hart, 2, NAPOT | PR, napot(PT, 0x1000)); // root readable, level-0 tables not
    m.load(RAM_BASE, [...a.li(1, 0x20000), a.lw(2, 0, 1), a.ecall()]);
    m.hart.priv = PRIV_U;
    m.hart.hostTraps = true;
    m.hart.pc = 0x10000;
    expect(m.run()).toBe(ExitReason.HostTrap);
    expect({ cause: m.hart.trapCause, tval: m.hart.trapTval }).toEqual({ cause: C.CAUSE_FETCH_ACCESS, tval: 0x10000 });
    setEntry(m.hart, 3, NAPOT | PR, napot(PT + 0x1000, 0x1000)); // the first level-0 table
    m.hart.pc = 0x10000;
    expect(m.run()).toBe(ExitReason.HostTrap);
    // 0x10000 and 0x20000 share the level-0 table: the load now works, the ecall ends it.
    expect(m.hart.trapCause).toBe(C.CAUSE_USER_ECALL);
  });

  it('harts without PMP (the hypervisor\'s) deny nothing and read the CSRs as zero', () => {
    const mem = freshMemory();
    const h = new Hart(mem);
    h.writeCsr(C.CSR_PMPCFG0, 0x1f);
    h.writeCsr(C.CSR_PMPADDR0, 0x1234);
    expect(h.readCsr(C.CSR_PMPCFG0)).toBe(0);
    expect(h.readCsr(C.CSR_PMPADDR0)).toBe(0);
    expect(h.translate(RAM_BASE, 'w', PRIV_U)).toBe(RAM_BASE);
    expect(h.translate(RAM_BASE, 'x', PRIV_S)).toBe(RAM_BASE);
    expect(h.mmu.pmp.entries).toBe(0);
  });
});

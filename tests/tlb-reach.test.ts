// Page walks and TLB reach in every mode (docs/fullvirt.md, "Page walks and TLB reach in
// every mode"): the modelled TLB's 4 MiB entries (hypervisor/cpu/tlb_reach.ts) make a
// megapage refill walk-free, 1-D and two-stage; PV domains pay for their walks as HVM
// guests do (PageWalkCharge); hw mode's G-stage maps HVM RAM with megapages when the
// builder got aligned 4 MiB extents. And the published shape on the TLB-miss-bound walk
// (Bhargava et al., ASPLOS 2008; Adams & Agesen, ASPLOS 2006): two-stage translation loses
// with small pages, large pages in both stages recover it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as C from '../hypervisor/cpu/csr.ts';
import { Hart, PRIV_S } from '../hypervisor/cpu/hart.ts';
import { TwoStageWalker } from '../hypervisor/cpu/gstage.ts';
import { ACCESS_READ, ACCESS_WRITE } from '../hypervisor/cpu/mmu.ts';
import { TlbReach } from '../hypervisor/cpu/tlb_reach.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';
import { DEFAULT_COSTS } from '../hypervisor/time/cost_model.ts';
import { PageWalkCharge } from '../hypervisor/time/page_walk.ts';
import type { HvmMode } from '../xenguest/hvm_image.ts';
import { A, D, freshMemory, PageTables, R, RAM_BASE, U, V, W, X } from './cpu/helpers.ts';

const NATIVE = readFileSync(join(process.cwd(), 'guests/build/native.elf'));
const WORK = readFileSync(join(process.cwd(), 'guests/build/work.elf'));

describe('the modelled TLB (tlb_reach.ts)', () => {
  it('holds 4 MiB entries per regime (round robin) and 4 KiB entries per set and table, loads and stores sharing; flushes by regime, page or all', () => {
    const t = new TlbReach(2);
    const mega = (set: number, va: number) => t.refill(set, 0, va, true);
    expect(mega(1, 0x00400000)).toBe(false);
    expect(mega(0, 0x007ff000)).toBe(true); // same 4 MiB, same regime (U and S share)
    expect(mega(5, 0x00400000)).toBe(false); // the other regime is another entry
    expect(mega(1, 0x00800000)).toBe(false); // evicts the oldest (V=0, 0x004...)
    expect(t.lastEvicted).toBe(0);
    expect(mega(1, 0x00400000)).toBe(false);
    expect(t.hits).toBe(1);
    t.flushRegime(0);
    expect(mega(1, 0x00400000)).toBe(false);
    expect(t.flushPage(0, 0x00412345)).toBe(true);
    expect(mega(1, 0x00400000)).toBe(false);
    t.flushAll();
    expect(mega(4, 0x00400000)).toBe(false);
    // 4 KiB: a load's entry serves a store (either privilege of the regime), not a fetch.
    expect(t.refill(1, 0, 0x00001000, false)).toBe(false);
    expect(t.refill(1, 0, 0x00001234, false)).toBe(true);
    expect(t.refill(0, 1, 0x00001000, false)).toBe(true);
    expect(t.refill(1, 2, 0x00001000, false)).toBe(false);
    expect(t.refill(5, 0, 0x00001000, false)).toBe(false); // V=1 is another regime
    expect(t.refill(1, 0, 0x00101000, false)).toBe(false); // same index, same table: replaces it
    expect(t.refill(1, 0, 0x00001000, false)).toBe(true); // the store's entry (set 0, write) still holds it
    expect(t.flushPage(0, 0x00001000)).toBe(false);
    expect(t.refill(1, 0, 0x00001000, false)).toBe(false);
    expect(t.misses).toBe(12);
    // No large-page entries: a megapage is held as 4 KiB entries.
    const none = new TlbReach(0);
    expect(none.refill(1, 0, 0x00400000, true)).toBe(false);
    expect(none.refill(1, 0, 0x00400000, true)).toBe(true);
    expect(none.refill(1, 0, 0x00401000, true)).toBe(false);
    expect(() => new TlbReach(-1)).toThrow(RangeError);
  });

  /** An S-mode hart over Sv32 tables: a megapage at 0x40000000 and 4 KiB pages at 0x00400000. */
  function sv32(entries?: number) {
    const mem = freshMemory(16 << 20);
    const hart = new Hart(mem, { tlbMegaEntries: entries });
    const pt = new PageTables(mem, RAM_BASE + 0x100000);
    pt.mapMega(0x40000000, RAM_BASE + 0x400000, V | R | W | A | D);
    for (let k = 0; k < 4; k++) pt.map(0x00400000 + k * 4096, RAM_BASE + 0x200000 + k * 4096, V | R | W | A | D);
    hart.writeCsr(C.CSR_SATP, pt.satp);
    hart.priv = PRIV_S;
    const mmu = hart.mmu;
    const refsOf = (va: number, acc: typeof ACCESS_READ | typeof ACCESS_WRITE = ACCESS_READ) => {
      const before = mmu.walkRefs;
      expect(mmu.xlate(va, acc)).toBeGreaterThanOrEqual(0);
      return mmu.walkRefs - before;
    };
    return { hart, refsOf };
  }

  it('1-D: a megapage refill the modelled TLB holds makes no walk reference, until sfence.vma or a satp write', () => {
    const { hart, refsOf } = sv32();
    expect(refsOf(0x40000000)).toBe(1); // the first miss walks (one reference: the root leaf)
    for (let k = 1; k < 64; k++) expect(refsOf(0x40000000 + k * 4096)).toBe(0); // 4 KiB software-TLB misses, one 4 MiB entry
    expect(hart.mmu.reach.hits).toBe(63);
    expect(hart.sfenceVma(false, 0)).toBe(0);
    expect(refsOf(0x40001000)).toBe(1);
    expect(refsOf(0x40002000)).toBe(0);
    hart.writeCsr(C.CSR_SATP, hart.satp);
    expect(refsOf(0x40003000)).toBe(1);
    expect(hart.sfenceVma(true, 0x40000000)).toBe(0); // one page: its 4 MiB entry goes
    expect(refsOf(0x40004000)).toBe(1);
  });

  it('1-D: 4 KiB pages walk on every software-TLB miss (2 references), with one entry for loads and stores', () => {
    const { hart, refsOf } = sv32();
    expect(refsOf(0x00400000)).toBe(2);
    expect(refsOf(0x00401000)).toBe(2);
    expect(refsOf(0x00400000, ACCESS_WRITE)).toBe(0); // the read's entry serves the store
    expect(refsOf(0x00402000, ACCESS_WRITE)).toBe(2);
    expect(refsOf(0x00402000)).toBe(0);
    expect([hart.mmu.reach.misses, hart.mmu.reach.pageHits]).toEqual([3, 2]); // the misses hardware would have had
  });

  it('1-D: with tlbMegaEntries = 0 a megapage gives no reach', () => {
    const { refsOf } = sv32(0);
    for (let k = 0; k < 8; k++) expect(refsOf(0x40000000 + k * 4096)).toBe(1);
  });

  it('two-stage: only a guest megapage (or bare vsatp) over a G-stage megapage is a 4 MiB translation', () => {
    const mem = freshMemory(16 << 20);
    const gRoot = RAM_BASE + 0x100000; // 16 KiB, 16 KiB-aligned
    const gL0 = RAM_BASE + 0x104000;
    const vsRoot = RAM_BASE + 0x110000;
    const vsL0 = RAM_BASE + 0x111000;
    mem.writeBytes(gRoot, new Uint8Array(0x20000));
    const leaf = V | R | W | X | U | A | D;
    const pte = (pa: number, flags: number) => ((Math.floor(pa / 4096) << 10) | flags) >>> 0;
    // G-stage: GPA 0x80000000-0x803fffff and 0x80400000-0x807fffff identity megapages.
    mem.write32(gRoot + 0x200 * 4, pte(RAM_BASE, leaf));
    mem.write32(gRoot + 0x201 * 4, pte(RAM_BASE + 0x400000, leaf));
    // VS stage: VA 0x00400000 a megapage at GPA 0x80400000; VA 0x00800000 a 4 KiB page.
    mem.write32(vsRoot + 1 * 4, pte(RAM_BASE + 0x400000, V | R | W | A | D));
    mem.write32(vsRoot + 2 * 4, pte(vsL0, V));
    mem.write32(vsL0, pte(RAM_BASE + 0x405000, V | R | W | A | D));
    const w = new TwoStageWalker(mem, () => {});
    const regs = { vsatp: (0x80000000 | (vsRoot >>> 12)) >>> 0, hgatp: (0x80000000 | (gRoot >>> 12)) >>> 0, vsstatus: 0, mstatus: 0 };
    const refs = (va: number) => {
      const before = w.refs;
      expect(w.translate(va, 0, 1, regs)).toBeGreaterThanOrEqual(0);
      return w.refs - before;
    };
    expect(refs(0x00400123)).toBe(3); // (1+1)(1+1)-1
    expect(w.mega).toBe(true);
    expect(refs(0x00800010)).toBe(5); // (2+1)(1+1)-1
    expect(w.mega).toBe(false);
    expect(w.translate(0x80400000, 0, 1, { ...regs, vsatp: 0 })).toBe(0x80400000);
    expect(w.mega).toBe(true);
    // The second G-stage region in 4 KiB leaves: the guest megapage is no 4 MiB translation.
    for (let k = 0; k < 1024; k++) mem.write32(gL0 + k * 4, pte(RAM_BASE + 0x400000 + k * 4096, leaf));
    mem.write32(gRoot + 0x201 * 4, pte(gL0, V));
    // (The VS tables stay in the first region, still a G-stage megapage: 2 references each.)
    expect(refs(0x00400123)).toBe(4); // root 1+1, data 2
    expect(w.mega).toBe(false);
    expect(refs(0x00800010)).toBe(6); // root 1+1, L0 1+1, data 2
    expect(w.mega).toBe(false);
  });

  it('charges the same references whatever the host flushed (the model stays a superset of the software TLB)', () => {
    // Random accesses, fences and satp writes, with host-only flushes (PhysMemory.generation's
    // flushCache) sprinkled in or left out: the references each access costs must agree.
    const op = fc.oneof(
      // 16 pages in 4 index slots (page p is (p >> 2) * 256 + (p & 3)), so entries collide;
      // `mega` 0-2: those 4 KiB pages, 3-5: the same offsets in one of three megapages.
      { weight: 8, arbitrary: fc.record({ k: fc.constant('access' as const), page: fc.integer({ min: 0, max: 15 }), kind: fc.integer({ min: 0, max: 2 }), mega: fc.integer({ min: 0, max: 5 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('sfence' as const), page: fc.integer({ min: -1, max: 15 }), mega: fc.integer({ min: 0, max: 5 }) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('satp' as const) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('host' as const) }) },
    );
    const mem = freshMemory();
    fc.assert(
      fc.property(fc.array(op, { minLength: 20, maxLength: 200, size: 'max' }), fc.integer({ min: 0, max: 3 }), (ops, entries) => {
        const run = (withHost: boolean): number[] => {
          const hart = new Hart(mem, { tlbMegaEntries: entries });
          const pt = new PageTables(mem, RAM_BASE + 0x100000);
          // 1024 4 KiB pages at 0x01000000, three megapages from 0x40000000.
          for (let k = 0; k < 1024; k++) pt.map(0x01000000 + k * 4096, RAM_BASE + 0x200000 + (k % 64) * 4096, V | R | W | X | A | D);
          for (let m = 0; m < 3; m++) pt.mapMega(0x40000000 + m * 0x400000, RAM_BASE, V | R | W | X | A | D);
          hart.writeCsr(C.CSR_SATP, pt.satp);
          hart.priv = PRIV_S;
          const mmu = hart.mmu;
          const out: number[] = [];
          const at = (page: number, mega: number) => {
            const off = ((page >> 2) * 256 + (page & 3)) * 4096;
            return mega >= 3 ? 0x40000000 + (mega - 3) * 0x400000 + off : 0x01000000 + off;
          };
          for (const o of ops) {
            if (o.k === 'access') {
              const va = at(o.page, o.mega);
              const before = mmu.walkRefs;
              mmu.xlate(va, o.kind as 0 | 1 | 2);
              out.push(mmu.walkRefs - before);
            } else if (o.k === 'sfence') {
              if (o.page < 0) hart.sfenceVma(false, 0);
              else hart.sfenceVma(true, at(o.page, o.mega));
            } else if (o.k === 'satp') hart.writeCsr(C.CSR_SATP, pt.satp);
            else if (withHost) mmu.flushCache();
          }
          return out;
        };
        expect(run(true)).toEqual(run(false));
      }),
      { numRuns: 100 },
    );
  });

  it('PageWalkCharge charges each reference once at walkMemRefNs', () => {
    const counters = { walkRefs: 3, walker: { refs: 4 } };
    const c = new PageWalkCharge(counters);
    const clock = { now: 100 };
    expect(c.charge(clock, { walkMemRefNs: 10 })).toBe(0); // what was there at construction is not its own
    counters.walkRefs += 2;
    counters.walker.refs += 5;
    expect(c.charge(clock, { walkMemRefNs: 10 })).toBe(7);
    expect(clock.now).toBe(170);
    expect(c.charge(clock, { walkMemRefNs: 10 })).toBe(0);
    expect(c.total).toBe(7);
  });
});

/** ns_per_step, pages= and check= of one tlbwalk run, and the domain. */
interface Walk { nsPerStep: number; pages: string; check: string; gstageMega: number; walkRefs: number }

/** Steps per run: enough for misses to dominate, few enough for a quick test. */
const STEPS = Number(process.env.TLBWALK_STEPS ?? 15000);

function tlbwalk(kind: 'pv' | HvmMode, mega: boolean, o: { noSuperpages?: boolean; costs?: Partial<typeof DEFAULT_COSTS> } = {}): Walk {
  const hv = new Hypervisor({ machineMemoryBytes: 64 << 20, costs: o.costs });
  if (o.noSuperpages) {
    // No free 4 MiB extent anywhere: the builder falls back to single frames.
    const frames = hv.frames;
    const alloc = frames.allocExtent.bind(frames);
    frames.allocExtent = (domid, order, ...rest) => (order >= 10 ? -1 : alloc(domid, order, ...rest));
  }
  let out = '';
  hv.onConsole = (_d, b) => (out += new TextDecoder().decode(b));
  const cmdline = `work=tlbwalk size=8M steps=${STEPS}${mega ? ' mega' : ''}`;
  const d =
    kind === 'pv'
      ? hv.createPvDomain(WORK, { name: 'w', memoryBytes: 32 << 20, cmdline }).domain
      : hv.createHvmDomain(NATIVE, { name: 'w', memoryBytes: 32 << 20, cmdline, vcpus: 1, hvm: { mode: kind, shadowSync: 'wp' } });
  hv.unpause(d);
  // Until the result line (the guest idles after it), in slices of virtual time.
  for (let t = 50e6; t <= 20e9 && !/^work=tlbwalk /m.test(out); t += 50e6) hv.run({ until: t });
  const m = /^work=tlbwalk .*? pages=(\S+) .*ns_per_step=(\d+).*check=(0x[0-9a-f]+)/m.exec(out);
  expect(m, out).not.toBeNull();
  const board = d.hvm as HvmBoard | null;
  return {
    pages: m![1]!,
    nsPerStep: Number(m![2]),
    check: m![3]!,
    gstageMega: board?.gstage?.megapages ?? 0,
    walkRefs: d.vcpus[0]!.walks.total,
  };
}

describe('tlbwalk: the published shape of page walks and TLB reach', { timeout: 60_000 }, () => {
  it('two-stage loses with 4 KiB pages and megapages in both stages recover it; PV pays its walks; the shadow splinters megapages', () => {
    const pv = tlbwalk('pv', false);
    const pvMega = tlbwalk('pv', true);
    const trap = tlbwalk('trap', false);
    const trapMega = tlbwalk('trap', true);
    const hw = tlbwalk('hw', false);
    const hwMega = tlbwalk('hw', true);
    const hw4kG = tlbwalk('hw', false, { noSuperpages: true });
    const hwMega4kG = tlbwalk('hw', true, { noSuperpages: true });
    const all = { pv, pvMega, trap, trapMega, hw, hwMega, hw4kG, hwMega4kG };
    for (const w of Object.values(all)) expect(w.check).toBe(pv.check);
    const ns = Object.fromEntries(Object.entries(all).map(([k, w]) => [k, w.nsPerStep]));
    // What was walked: PV has no megapages (Xen gives PV guests none); the others honour `mega`.
    expect([pv.pages, pvMega.pages, trapMega.pages, hwMega.pages]).toEqual(['4k', '4k', '4m', '4m']);
    // 32 MiB of RAM in 4 MiB extents: eight G-stage megapages; none without the extents.
    expect([hw.gstageMega, hw4kG.gstageMega]).toEqual([8, 0]);
    // PV pays for its walks now (about 2 references per miss).
    expect(pv.walkRefs).toBeGreaterThan(40_000);
    // Two-stage translation with 4 KiB guest pages loses to 1-D (PV stands in for native:
    // the same Sv32 walk), most with 4 KiB G-stage pages too.
    expect(ns.hw! / ns.pv!, JSON.stringify(ns)).toBeGreaterThan(1.4);
    expect(ns.hw4kG! / ns.hw!, JSON.stringify(ns)).toBeGreaterThan(1.2);
    // Megapages in both stages recover it: below PV's 4 KiB walk; a guest megapage over
    // 4 KiB G-stage pages does not.
    expect(ns.hwMega! / ns.pv!, JSON.stringify(ns)).toBeLessThan(0.7);
    expect(ns.hwMega4kG! / ns.hwMega!, JSON.stringify(ns)).toBeGreaterThan(2);
    // The shadow splinters guest megapages into 4 KiB entries: no gain in trap mode.
    expect(Math.abs(ns.trapMega! - ns.trap!) / ns.trap!, JSON.stringify(ns)).toBeLessThan(0.1);
  });

  it('maps whole 4 MiB runs of HVM RAM with G-stage megapages and the tail with 4 KiB leaves; a full machine falls back and still runs', () => {
    for (const full of [false, true]) {
      const hv = new Hypervisor({ machineMemoryBytes: 64 << 20 });
      if (full) {
        // Every free machine frame taken, all but one in 512 given back: no 4 MiB run is free.
        const frames = hv.frames;
        const taken: number[] = [];
        while (frames.nrFrames > frames.allocated) taken.push(frames.alloc(0x7ff0));
        for (const mfn of taken) if (mfn % 512 !== 0) frames.release(mfn);
      }
      let out = '';
      hv.onConsole = (_d, b) => (out += new TextDecoder().decode(b));
      const d = hv.createHvmDomain(NATIVE, { name: 'w', memoryBytes: 18 << 20, cmdline: 'work=tlbwalk size=4M steps=2000 mega', vcpus: 1, hvm: { mode: 'hw', shadowSync: 'wp' } });
      const g = (d.hvm as HvmBoard).gstage!;
      expect([g.megapages, g.pages], `full=${full}`).toEqual(full ? [0, 18 * 256] : [4, 512]);
      hv.unpause(d);
      for (let t = 50e6; t <= 20e9 && !/^work=tlbwalk /m.test(out); t += 50e6) hv.run({ until: t });
      expect(out).toMatch(/^work=tlbwalk .* pages=4m .*check=0x[0-9a-f]+/m);
    }
  });

  it('tlbMegaEntries = 0 takes the megapages\' reach away (the assumption is the cost model\'s)', () => {
    const hwMega = tlbwalk('hw', true);
    const none = tlbwalk('hw', true, { costs: { tlbMegaEntries: 0 } });
    expect(none.check).toBe(hwMega.check);
    expect(none.nsPerStep).toBeGreaterThan(hwMega.nsPerStep * 1.5);
  });
});

// Property: with the H extension, two-stage translation (VS-stage Sv32 through vsatp, each
// VS page-table access itself G-stage translated, then G-stage Sv32x4 through hgatp) equals
// the composition of reference walks written here from the privileged spec (20211203,
// 4.3.2 and 8.5), faults included: cause, stval, htval (GPA >> 2), htinst for guest-page
// faults, GVA, and the A/D bits both walks leave in memory.
//
// The hart is exercised through its instructions: HLV.W, HLVX.WU and HSV.W executed in
// M-mode (two-stage as VS or VU by hstatus.SPVP), and instruction fetch at V=1. Traps go to
// the host (hostTraps, nothing delegated), which reports trapCause/trapTval/trapTval2/
// trapTinst/trapGva.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_M } from '../../hypervisor/cpu/hart.ts';
import { createEngine } from '../../hypervisor/cpu/engines.ts';
import { ebreak, rType } from './asm.ts';
import { freshMemory, RAM_BASE } from './helpers.ts';
import { rng as mulberry32 } from '../../sim/rng.ts';

const RAM_BYTES = 8 << 20;
/** Page-table pool: random words, 32 frames in the first megapage of RAM. */
const POOL = RAM_BASE + 0x100000;
const POOL_FRAMES = 32;
const POOL_PPN = POOL / 4096;
/** Code lives in the second megapage, which no generated PTE maps. */
const CODE = RAM_BASE + 0x400000;
/** Guest-physical pages 0x280100.. lie above 4 GiB (34-bit GPAs). */
const HIGH_GPA_PPN = 0x280100;

const HLV_W = rType(0x73, 4, 0x34, 5, 6, 0); // hlv.w x5, (x6)
const HLVX_WU = rType(0x73, 4, 0x34, 5, 6, 3); // hlvx.wu x5, (x6)
const HSV_W = rType(0x73, 4, 0x35, 0, 6, 7); // hsv.w x7, (x6)

// ---------------------------------------------------------------------------------
// Reference model, from the spec text.

const V = 1, R = 2, W = 4, X = 8, U = 16, A = 64, D = 128;

/** RAM as the reference sees it: word-addressed copy of [RAM_BASE, RAM_BASE + RAM_BYTES). */
class RefMem {
  readonly words = new Int32Array(RAM_BYTES / 4);
  reads = new Set<number>();
  /** (address, old value) of every write since the last reset, to undo or to compare. */
  log: Array<[number, number]> = [];
  isRam(pa: number): boolean {
    return pa >= RAM_BASE && pa < RAM_BASE + RAM_BYTES;
  }
  read(pa: number): number {
    this.reads.add(pa);
    return this.words[(pa - RAM_BASE) / 4]!;
  }
  write(pa: number, v: number): void {
    this.log.push([pa, this.words[(pa - RAM_BASE) / 4]!]);
    this.words[(pa - RAM_BASE) / 4] = v;
  }
  undo(): void {
    for (let i = this.log.length - 1; i >= 0; i--) this.words[(this.log[i]![0] - RAM_BASE) / 4] = this.log[i]![1];
    this.log = [];
  }
}

type Perm = 'r' | 'w' | 'x';
type Fault = { kind: 'page' } | { kind: 'access' } | { kind: 'guest'; gpa: number; implicit: 0 | 'r' | 'w' };
type Walk = { ok: true; pa: number } | ({ ok: false } & Fault);

interface Regs {
  vsatp: number;
  hgatp: number;
  vsSum: boolean;
  vsMxr: boolean;
  hsMxr: boolean;
  /** VS (1) or VU (0). */
  vsPriv: number;
}

/** Leaf permission check; `mxr`: executable pages are readable. */
function allowed(pte: number, perm: Perm, mxr: boolean): boolean {
  if (perm === 'x') return (pte & X) !== 0;
  if (perm === 'w') return (pte & W) !== 0;
  return (pte & R) !== 0 || (mxr && (pte & X) !== 0);
}

/**
 * Sv32x4 G-stage walk of guest physical address `gpa` (34 bits) as a U-mode access:
 * hgatp.PPN roots a 16 KiB table indexed by GPA[33:22]; then Sv32's algorithm.
 */
function refGStage(m: RefMem, r: Regs, gpa: number, perm: Perm, implicit: 0 | 'r' | 'w'): Walk {
  if ((r.hgatp >>> 31) === 0) return { ok: true, pa: gpa };
  const gpf: Walk = { ok: false, kind: 'guest', gpa, implicit };
  let a = (r.hgatp & 0x3fffff & ~3) * 4096;
  const vpn = [Math.floor(gpa / 4096) % 1024, Math.floor(gpa / 0x400000)]; // vpn[1]: 12 bits
  for (let i = 1; ; i--) {
    const pteAddr = a + vpn[i]! * 4;
    if (!m.isRam(pteAddr)) return { ok: false, kind: 'access' };
    const pte = m.read(pteAddr);
    if ((pte & V) === 0 || ((pte & R) === 0 && (pte & W) !== 0)) return gpf;
    if ((pte & R) !== 0 || (pte & X) !== 0) {
      // Leaf. G-stage: always a user access (U must be set); only HS-level MXR applies.
      if (!allowed(pte, perm, r.hsMxr)) return gpf;
      if ((pte & U) === 0) return gpf;
      const ppn = pte >>> 10;
      if (i > 0 && (ppn & 0x3ff) !== 0) return gpf; // misaligned superpage
      const need = perm === 'w' ? A | D : A;
      if ((pte & need) !== need) m.write(pteAddr, pte | need);
      const pa = i === 1 ? (ppn >>> 10) * 0x400000 + (gpa % 0x400000) : ppn * 4096 + (gpa % 4096);
      return { ok: true, pa };
    }
    if (i === 0) return gpf;
    a = (pte >>> 10) * 4096;
  }
}

/**
 * VS-stage Sv32 walk of `va` through vsatp, every PTE address being a GPA translated by the
 * G-stage as an implicit read (A/D updates as implicit writes); then the G-stage walk of
 * the resulting GPA for the original permission.
 */
function refTwoStage(m: RefMem, r: Regs, va: number, perm: Perm): Walk {
  if ((r.vsatp >>> 31) === 0) return refGStage(m, r, va, perm, 0);
  let a = (r.vsatp & 0x3fffff) * 4096;
  const vpn = [(va >>> 12) & 0x3ff, va >>> 22];
  for (let i = 1; ; i--) {
    const pteGpa = a + vpn[i]! * 4;
    const t = refGStage(m, r, pteGpa, 'r', 'r');
    if (!t.ok) return t;
    if (!m.isRam(t.pa)) return { ok: false, kind: 'access' };
    const pte = m.read(t.pa);
    if ((pte & V) === 0 || ((pte & R) === 0 && (pte & W) !== 0)) return { ok: false, kind: 'page' };
    if ((pte & R) !== 0 || (pte & X) !== 0) {
      // vsstatus.MXR or HS mstatus.MXR make executable pages readable at this stage.
      if (!allowed(pte, perm, r.vsMxr || r.hsMxr)) return { ok: false, kind: 'page' };
      if (r.vsPriv === 0 && (pte & U) === 0) return { ok: false, kind: 'page' };
      if (r.vsPriv === 1 && (pte & U) !== 0 && (perm === 'x' || !r.vsSum)) return { ok: false, kind: 'page' };
      const ppn = pte >>> 10;
      if (i > 0 && (ppn & 0x3ff) !== 0) return { ok: false, kind: 'page' };
      const need = perm === 'w' ? A | D : A;
      if ((pte & need) !== need) {
        const tw = refGStage(m, r, pteGpa, 'w', 'w');
        if (!tw.ok) return tw;
        if (!m.isRam(tw.pa)) return { ok: false, kind: 'access' };
        m.write(tw.pa, pte | need);
      }
      const gpa = i === 1 ? (ppn >>> 10) * 0x400000 + (va & 0x3fffff) : ppn * 4096 + (va & 0xfff);
      return refGStage(m, r, gpa, perm, 0);
    }
    if (i === 0) return { ok: false, kind: 'page' };
    a = (pte >>> 10) * 4096;
  }
}

type Kind = 'load' | 'loadx' | 'store' | 'fetch';
const CAUSES: Record<Kind, { page: number; guest: number; access: number }> = {
  load: { page: 13, guest: 21, access: 5 },
  loadx: { page: 13, guest: 21, access: 5 },
  store: { page: 15, guest: 23, access: 7 },
  fetch: { page: 12, guest: 20, access: 1 },
};

// ---------------------------------------------------------------------------------
// Random page tables

function randomPte(rnd: () => number): number {
  const pick = rnd();
  let ppn: number;
  if (pick < 0.55) ppn = POOL_PPN + Math.floor(rnd() * POOL_FRAMES);
  else if (pick < 0.7) ppn = HIGH_GPA_PPN + Math.floor(rnd() * POOL_FRAMES);
  else if (pick < 0.8) ppn = RAM_BASE / 4096; // an aligned megapage over the pool
  else if (pick < 0.9) ppn = 0x80000 + Math.floor(rnd() * 0x400); // anywhere in the first megapage
  else {
    ppn = Math.floor(rnd() * 0x400000);
    if (ppn >= 0x80400 && ppn < 0x80800) ppn = 0x12345; // never the code megapage
  }
  const rwx = [0, 0, 0, 0, R, R | W, X, R | X, R | W | X, R | W | X, W][Math.floor(rnd() * 11)]!;
  let flags = rwx;
  if (rnd() < 0.92) flags |= V;
  if (rnd() < 0.65) flags |= U;
  if (rnd() < 0.5) flags |= A;
  if (rnd() < 0.4) flags |= D;
  return ((ppn << 10) | flags) | 0;
}

interface Query {
  kind: Kind;
  va: number;
  regs: Regs;
}

function randomQuery(rnd: () => number): Query {
  const kind = (['load', 'loadx', 'store', 'fetch'] as const)[Math.floor(rnd() * 4)]!;
  const vsBare = rnd() < 0.12;
  const hgBare = rnd() < 0.08;
  const vsRootPpn = rnd() < 0.8 ? POOL_PPN + Math.floor(rnd() * POOL_FRAMES) : HIGH_GPA_PPN + Math.floor(rnd() * POOL_FRAMES);
  // With bare vsatp the VA is the GPA: aim it at the pool or the high GPAs sometimes.
  let va = Math.floor(rnd() * 0x100000000);
  if (vsBare && rnd() < 0.7) va = (POOL + Math.floor(rnd() * POOL_FRAMES * 4096)) >>> 0;
  const skeleton = !vsBare && rnd() < 0.5; // through the VS skeleton (root in pool frame 8)
  if (skeleton) va = ((Math.floor(rnd() * 8) << 22) | (Math.floor(rnd() * 16) << 12) | Math.floor(rnd() * 4096)) >>> 0;
  va = (va & ~3) >>> 0;
  return {
    kind,
    va,
    regs: {
      vsatp: vsBare ? 0 : (0x80000000 | (skeleton ? POOL_PPN + 8 : vsRootPpn)) >>> 0,
      hgatp: hgBare ? 0 : (0x80000000 | (0x5a << 22) | POOL_PPN) >>> 0, // root: pool frames 0-3
      vsSum: rnd() < 0.5,
      vsMxr: rnd() < 0.3,
      hsMxr: rnd() < 0.35,
      vsPriv: rnd() < 0.5 ? 1 : 0,
    },
  };
}

// ---------------------------------------------------------------------------------

describe('two-stage translation equals the composition of the reference walks', () => {
  it('holds for random page tables, faults, A/D bits and all (HLV/HLVX/HSV and fetch)', () => {
    const cpu = createEngine();
    let faults = 0;
    let successes = 0;
    const seen = new Set<string>();
    const counts: Record<string, number> = {};
    const note = (k: string) => { counts[k] = (counts[k] ?? 0) + 1; };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0x7fffffff }), (seed) => {
        const rnd = mulberry32(seed);
        const mem = freshMemory(RAM_BYTES);
        const hart = new Hart(mem, { hExt: true });
        const ref = new RefMem();
        const put = (pa: number, pte: number) => {
          mem.write32(pa, pte >>> 0);
          ref.write(pa, pte | 0);
        };
        for (let f = 0; f < POOL_FRAMES; f++) {
          for (let i = 0; i < 1024; i++) put(POOL + f * 4096 + i * 4, randomPte(rnd));
        }
        // A G-stage skeleton, mostly sound, so that many walks get far: the root entries for
        // GPAs 0x8000_0000 (index 512) and 0x2_8000_0000 (index 2560) point at a level-0
        // table in pool frame 4 (or are a megapage over the first 4 MiB of RAM), whose
        // entries for the pool's pages map them to the pool, mostly with U, R, W and X.
        for (const idx of [512, 2560]) {
          if (rnd() < 0.15) continue;
          put(POOL + idx * 4, rnd() < 0.75 ? (((POOL_PPN + 4) << 10) | V) : ((RAM_BASE / 4096) << 10) | V | R | W | X | U);
        }
        for (let k = 0; k < POOL_FRAMES; k++) {
          if (rnd() < 0.2) continue;
          const perms = rnd() < 0.8 ? R | W | X : [R, R | W, X, R | X][Math.floor(rnd() * 4)]!;
          const flags = V | perms | (rnd() < 0.9 ? U : 0) | (rnd() < 0.5 ? A : 0) | (rnd() < 0.3 ? D : 0);
          // Pool pages 28-31 go to guest-physical pages with no RAM behind them (access
          // faults); pool page 12, a VS level-0 table below, is read-only (A/D updates of
          // its PTEs fault as implicit writes).
          const ppn = k >= 28 ? 0x12300 + k : POOL_PPN + k;
          put(POOL + 4 * 4096 + (0x100 + k) * 4, (ppn << 10) | (k === 12 ? V | R | U | A : flags));
        }
        // A VS-stage skeleton in GPA space (identity-mapped above when sound): root in pool
        // frame 8, whose first 8 entries point at level-0 tables in frames 9-12 (odd
        // entries: 12), whose
        // first 16 entries are leaves with random permissions over pool pages.
        for (let i = 0; i < 8; i++) {
          if (rnd() < 0.1) continue;
          put(POOL + 8 * 4096 + i * 4, ((POOL_PPN + ((i & 1) !== 0 ? 12 : 9 + ((i >> 1) % 3))) << 10) | V);
        }
        for (let t = 9; t < 13; t++) {
          for (let i = 0; i < 16; i++) {
            const perms = [R, R | W, X, X, R | X, R | W | X, R | W | X][Math.floor(rnd() * 7)]!;
            // Table 12 (read-only at the G-stage) has A clear: every use needs an A/D write.
            const ad = t === 12 ? 0 : (rnd() < 0.5 ? A : 0) | (rnd() < 0.3 ? D : 0);
            const flags = (rnd() < 0.9 ? V : 0) | perms | (rnd() < 0.5 ? U : 0) | ad;
            put(POOL + t * 4096 + i * 4, ((POOL_PPN + Math.floor(rnd() * POOL_FRAMES)) << 10) | flags);
          }
        }
        ref.log = [];
        const code = [HLV_W, ebreak(), HLVX_WU, ebreak(), HSV_W, ebreak()];
        code.forEach((w, i) => {
          mem.write32(CODE + 4 * i, w);
          ref.write(CODE + 4 * i, w | 0);
        });
        hart.hostTraps = true;
        for (let q = 0; q < 16; q++) {
          const { kind, va, regs } = randomQuery(rnd);
          hart.writeCsr(0x280, regs.vsatp); // vsatp
          hart.writeCsr(0x680, regs.hgatp); // hgatp
          hart.writeCsr(0x200, (regs.vsSum ? 1 << 18 : 0) | (regs.vsMxr ? 1 << 19 : 0)); // vsstatus
          hart.writeCsr(0x300, regs.hsMxr ? 1 << 19 : 0); // mstatus
          hart.writeCsr(0x600, regs.vsPriv ? 1 << 8 : 0); // hstatus.SPVP
          hart.flushTlb();
          ref.reads = new Set();
          ref.log = [];
          const perm: Perm = kind === 'store' ? 'w' : kind === 'load' ? 'r' : 'x';
          const want = refTwoStage(ref, regs, va, perm);
          const data = (rnd() * 0x100000000) | 0;
          let expectRamFault = false;
          if (want.ok) {
            expectRamFault = !(want.pa >= RAM_BASE && want.pa < RAM_BASE + RAM_BYTES);
            if (kind === 'fetch' && !expectRamFault) {
              if (ref.reads.has(want.pa)) {
                ref.undo(); // the target is one of its own PTEs: skip this one
                continue;
              }
              mem.write32(want.pa, ebreak());
              ref.write(want.pa, ebreak() | 0);
            }
          }
          let r: ExitReason;
          if (kind === 'fetch') {
            hart.priv = regs.vsPriv;
            hart.virt = true;
            hart.pc = va;
            r = cpu.run(hart, 1);
          } else {
            hart.priv = PRIV_M;
            hart.virt = false;
            hart.x[6] = va | 0;
            hart.x[7] = data;
            hart.x[5] = 0x5555;
            hart.pc = CODE + (kind === 'load' ? 0 : kind === 'loadx' ? 8 : 16);
            r = cpu.run(hart, 2);
          }
          expect(r).toBe(ExitReason.HostTrap);
          const got = { cause: hart.trapCause, tval: hart.trapTval, tval2: hart.trapTval2, tinst: hart.trapTinst, gva: hart.trapGva };
          const insn = kind === 'load' ? HLV_W : kind === 'loadx' ? HLVX_WU : kind === 'store' ? HSV_W : 0;
          const ctx = { seed, q, kind, va: va.toString(16), regs, want };
          if (!want.ok || expectRamFault) {
            faults++;
            const kindOf = want.ok ? 'access' : want.kind;
            seen.add(`${kind}:${kindOf}`);
            note(`${kind}:${kindOf}`);
            if (!want.ok && want.kind === 'guest') { seen.add(`implicit:${want.implicit}`); note(`implicit:${want.implicit}`); }
            const exp = {
              cause: CAUSES[kind][kindOf],
              tval: va,
              tval2: !want.ok && want.kind === 'guest' ? Math.floor(want.gpa / 4) >>> 0 : 0,
              tinst: !want.ok && want.kind === 'guest'
                ? want.implicit === 'r' ? 0x2000 : want.implicit === 'w' ? 0x2020 : (insn & ~(31 << 15)) >>> 0
                : got.tinst, // only guest-page faults' htinst is checked here
              gva: true,
            };
            expect({ ...got, ctx }).toEqual({ ...exp, ctx });
          } else {
            successes++;
            seen.add(`${kind}:ok`);
            note(`${kind}:ok`);
            if (kind === 'fetch') {
              expect({ cause: got.cause, tval: got.tval, pc: hart.pc, ctx }).toEqual({ cause: 3, tval: va, pc: va, ctx });
            } else {
              expect({ cause: got.cause, ctx }).toEqual({ cause: 3, ctx });
              if (kind === 'store') ref.write(want.pa, data);
              else expect({ x5: hart.x[5], ctx }).toEqual({ x5: ref.read(want.pa), ctx });
            }
          }
          // Memory (A/D bits, stores) must agree word for word: the pool (where all
          // page tables live) and every word the reference wrote.
          const check = (pa: number) => {
            const impl = mem.read32(pa);
            const mine = ref.words[(pa - RAM_BASE) / 4]! >>> 0;
            if (impl !== mine) expect({ pa: pa.toString(16), impl, ref: mine, ctx }).toBe('equal');
          };
          for (let f = 0; f < POOL_FRAMES; f++) {
            const words = mem.words[POOL_PPN + f]!;
            const base = (POOL - RAM_BASE) / 4 + f * 1024;
            for (let i = 0; i < 1024; i++) if (words[i] !== ref.words[base + i]) check(POOL + f * 4096 + i * 4);
          }
          for (const [pa] of ref.log) check(pa);
        }
        // Once per case, all of RAM.
        for (let f = 0; f < RAM_BYTES / 4096; f++) {
          const words = mem.words[RAM_BASE / 4096 + f]!;
          for (let i = 0; i < 1024; i++) {
            if (words[i] !== ref.words[f * 1024 + i]) expect({ pa: (RAM_BASE + f * 4096 + i * 4).toString(16), seed }).toBe('equal everywhere');
          }
        }
      }),
      { numRuns: 32 },
    );
    // The generator reaches both outcomes and every fault kind of every access type.
    expect(successes).toBeGreaterThan(20);
    expect(faults).toBeGreaterThan(20);
    // (Typical counts per 512 queries: ok 9-30 per kind, page and guest 30-80, access 4-14,
    // implicit-write guest-page faults 10-20; access faults are asserted summed over kinds.)
    for (const k of ['load', 'loadx', 'store', 'fetch']) {
      for (const f of ['ok', 'page', 'guest']) expect(seen, `${k}:${f}`).toContain(`${k}:${f}`);
    }
    const access = ['load', 'loadx', 'store', 'fetch'].reduce((n, k) => n + (counts[`${k}:access`] ?? 0), 0);
    expect(access).toBeGreaterThan(5);
    for (const i of ['0', 'r', 'w']) expect(seen).toContain(`implicit:${i}`);
  }, 60_000);
});

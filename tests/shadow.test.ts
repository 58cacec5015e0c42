// Shadow Sv32 page tables (hypervisor/hvm/shadow): what the real hart gets through a
// shadow root, against the guest's own tables, under both synchronisation policies.

import { describe, expect, it } from 'vitest';
import { PTE_A as A, PTE_D as D, PTE_R as R, PTE_U as U, PTE_V as V, PTE_W as W, PTE_X as X, pte } from '../protocol/sv32.ts';
import { Shadow } from '../hypervisor/hvm/shadow/index.ts';
import { MMIO_GFN, RAM_GFN, S, ShadowRig, U_MODE, gpaOf, satpOf } from './helpers/shadow_rig.ts';

const ROOT = 0; // guest frame indices
const L0A = 1;
const L0B = 2;
const DATA = 8;

/** A rig with root -> L0A at va 0x00400000 and DATA..DATA+3 mapped there with `flags`. */
function rig(flags = V | R | W | X): { r: ShadowRig; va: number } {
  const r = new ShadowRig();
  r.gw(gpaOf(ROOT) + 1 * 4, pte(RAM_GFN + L0A, V));
  for (let i = 0; i < 4; i++) r.gw(gpaOf(L0A) + i * 4, pte(RAM_GFN + DATA + i, flags));
  return { r, va: 0x00400000 };
}
const SATP = satpOf(RAM_GFN + ROOT);
const SUM: typeof S = { priv: 1, sum: true, mxr: false };
const MXR: typeof S = { priv: 1, sum: false, mxr: true };

describe('shadow paging: translation', () => {
  for (const policy of ['wp', 'lazy'] as const) {
    it(`${policy}: bare guest satp maps guest-physical RAM 1:1, MMIO comes back as 'mmio'`, () => {
      const r = new ShadowRig();
      const sh = r.shadow(policy);
      const satp = sh.activate(0, S);
      expect(r.access(sh, satp, gpaOf(3) + 0x10, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(3) + 0x10) });
      expect(r.access(sh, satp, gpaOf(3) + 0x10, 'x', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(3) + 0x10) });
      expect(r.access(sh, satp, MMIO_GFN * 4096 + 5, 'r', S)).toEqual({ kind: 'mmio', gpa: MMIO_GFN * 4096 + 5 });
      // Same root for any mode under bare satp.
      expect(sh.activate(0, U_MODE)).toBe(satp);
    });
  }

  it('4 KiB pages: a read sets A only and maps read-only; the first store sets D and upgrades', () => {
    const { r, va } = rig(V | R | W);
    const sh = r.shadow('lazy');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, va + 0x1004, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 1) + 4) });
    expect(r.gr(gpaOf(L0A) + 4) & (A | D)).toBe(A);
    expect(r.gr(gpaOf(L0A)) & (A | D)).toBe(0); // untouched neighbour
    expect(r.hostWalk(satp, va + 0x1004, 'w')).toBe(-1); // read-only until D
    expect(r.access(sh, satp, va + 0x1004, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 1) + 4) });
    expect(r.gr(gpaOf(L0A) + 4) & (A | D)).toBe(A | D);
    expect(r.access(sh, satp, va + 0x1004, 'x', S)).toEqual({ kind: 'guest', cause: 12 });
    expect(sh.stats.fills).toBe(2);
    expect(sh.stats.guestFaults).toBe(1);
    expect(sh.stats.walkMemRefs).toBe(6);
  });

  it('4 MiB superpages are splintered; a misaligned one is a page fault', () => {
    const r = new ShadowRig();
    r.gw(gpaOf(ROOT) + 0x100 * 4, pte(RAM_GFN, V | R | W | A | D)); // va 0x40000000 -> gpa 0x80000000
    r.gw(gpaOf(ROOT) + 0x101 * 4, pte(RAM_GFN + 1, V | R)); // misaligned
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, 0x40000000 + 5 * 4096 + 8, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(5) + 8) });
    // Beyond the domain's RAM inside the superpage: MMIO (or nothing), not a shadow entry.
    expect(r.access(sh, satp, 0x40000000 + 0x100000, 'r', S)).toEqual({ kind: 'mmio', gpa: (RAM_GFN + 0x100) * 4096 });
    expect(r.access(sh, satp, 0x40400000, 'r', S)).toEqual({ kind: 'guest', cause: 13 });
    // The superpage covers the guest root table: write-protected in the splinter.
    expect(r.access(sh, satp, 0x40000000 + 8, 'w', S)).toEqual({ kind: 'ptwrite', gpa: gpaOf(ROOT) + 8 });
    expect(r.access(sh, satp, 0x40000000 + 8, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(ROOT) + 8) });
  });

  it('U, SUM and MXR: each meaning has its own root, and switching back rebuilds nothing', () => {
    const { r, va } = rig(V | R | W | X | U | A | D);
    r.gw(gpaOf(L0A) + 2 * 4, pte(RAM_GFN + DATA + 2, V | X | A)); // execute-only S page
    const sh = r.shadow('wp');
    const sS = sh.activate(SATP, S);
    expect(r.access(sh, sS, va, 'r', S)).toEqual({ kind: 'guest', cause: 13 }); // U page, SUM off
    expect(r.access(sh, sS, va + 0x2000, 'r', S)).toEqual({ kind: 'guest', cause: 13 }); // X-only, MXR off
    expect(r.access(sh, sS, va + 0x2000, 'x', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 2)) });
    const sSum = sh.activate(SATP, SUM);
    expect(sSum).not.toBe(sS);
    expect(r.access(sh, sSum, va, 'w', SUM)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.access(sh, sSum, va, 'x', SUM)).toEqual({ kind: 'guest', cause: 12 }); // S never executes U pages
    const sMxr = sh.activate(SATP, MXR);
    expect(r.access(sh, sMxr, va + 0x2000, 'r', MXR)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 2)) });
    const sU = sh.activate(SATP, U_MODE);
    expect(r.access(sh, sU, va, 'x', U_MODE)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.access(sh, sU, va + 0x2000, 'x', U_MODE)).toEqual({ kind: 'guest', cause: 12 }); // S page from U
    expect(sh.activate(SATP, { priv: 0, sum: true, mxr: false })).toBe(sU); // SUM means nothing to U
    const built = sh.stats.rootsBuilt;
    const fills = sh.stats.fills;
    expect(sh.activate(SATP, S)).toBe(sS);
    expect(r.access(sh, sS, va + 0x2000, 'x', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 2)) });
    expect(sh.stats.rootsBuilt).toBe(built);
    expect(sh.stats.fills).toBe(fills); // still filled from before the switch
  });
});

describe('shadow paging: write protection (wp)', () => {
  it("stores to a live guest table come back as 'ptwrite'; ptWrite updates exactly the affected entries", () => {
    const { r, va } = rig(V | R | W | A | D);
    r.gw(gpaOf(L0A) + 8 * 4, pte(RAM_GFN + L0A, V | R | W | A | D)); // the L0 table maps itself at va+0x8000
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, va, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.access(sh, satp, va + 0x1000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 1)) });
    expect(sh.isPageTable(RAM_GFN + L0A)).toBe(true);
    expect(r.access(sh, satp, va + 0x8000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(L0A)) });
    expect(r.access(sh, satp, va + 0x8000, 'w', S)).toEqual({ kind: 'ptwrite', gpa: gpaOf(L0A) });
    expect(sh.stats.wpFaults).toBe(1);
    // The guest points va at another frame: no fence, the shadow follows at once.
    sh.ptWrite(gpaOf(L0A), 4, pte(RAM_GFN + 20, V | R | A));
    expect(r.gr(gpaOf(L0A))).toBe(pte(RAM_GFN + 20, V | R | A));
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(20))); // prefilled: A was set
    expect(sh.stats.prefills).toBe(1);
    expect(r.access(sh, satp, va, 'w', S)).toEqual({ kind: 'guest', cause: 15 });
    // The neighbour's entry was not touched.
    expect(r.hostWalk(satp, va + 0x1000, 'r')).toBe(r.mpa(gpaOf(DATA + 1)));
    // A new PTE without A is not prefilled: the fault sets A, as the guest's hart would.
    sh.ptWrite(gpaOf(L0A) + 4, 2, (RAM_GFN + 21) << 10 | V | R); // low half: the flags
    sh.ptWrite(gpaOf(L0A) + 6, 2, (RAM_GFN + 21) >>> 6);
    expect(r.hostWalk(satp, va + 0x1000, 'r')).toBe(-1);
    expect(r.access(sh, satp, va + 0x1000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(21)) });
    expect(r.gr(gpaOf(L0A) + 4)).toBe(pte(RAM_GFN + 21, V | R | A));
  });

  it('a frame becoming a guest table loses its writable mappings; a frame that stops being one is released', () => {
    const { r, va } = rig(V | R | W | A | D);
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    // L0B is plain data, mapped writable at va+0x3000... (DATA+3): make DATA+3 the frame.
    expect(r.access(sh, satp, va + 0x3000, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 3)) });
    // The guest turns DATA+3 into an L0 table for va 0x00800000 (root entry 2).
    r.gw(gpaOf(DATA + 3), pte(RAM_GFN + 22, V | R | W));
    sh.ptWrite(gpaOf(ROOT) + 2 * 4, 4, pte(RAM_GFN + DATA + 3, V));
    expect(r.access(sh, satp, 0x00800000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(22)) });
    expect(sh.isPageTable(RAM_GFN + DATA + 3)).toBe(true);
    expect(sh.stats.wpDowngrades).toBe(1);
    expect(r.hostWalk(satp, va + 0x3000, 'w')).toBe(-1);
    expect(r.access(sh, satp, va + 0x3000, 'w', S)).toEqual({ kind: 'ptwrite', gpa: gpaOf(DATA + 3) });
    // Unhooked from the root: no longer a table, writable again on the next fault.
    sh.ptWrite(gpaOf(ROOT) + 2 * 4, 4, 0);
    expect(sh.isPageTable(RAM_GFN + DATA + 3)).toBe(false);
    expect(sh.stats.unshadows).toBe(1);
    expect(r.access(sh, satp, 0x00800000, 'r', S)).toEqual({ kind: 'guest', cause: 13 });
    expect(r.access(sh, satp, va + 0x3000, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 3)) });
  });

  it('A/D under wp: the guest clearing D makes the page read-only again until the next store', () => {
    const { r, va } = rig(V | R | W);
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, va, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.gr(gpaOf(L0A)) & (A | D)).toBe(A | D);
    sh.ptWrite(gpaOf(L0A), 4, r.gr(gpaOf(L0A)) & ~D);
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(DATA)));
    expect(r.hostWalk(satp, va, 'w')).toBe(-1);
    expect(r.access(sh, satp, va, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.gr(gpaOf(L0A)) & D).toBe(D);
    sh.ptWrite(gpaOf(L0A), 4, r.gr(gpaOf(L0A)) & ~A & ~D); // page aging: A cleared
    expect(r.hostWalk(satp, va, 'r')).toBe(-1);
    expect(r.access(sh, satp, va, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.gr(gpaOf(L0A)) & (A | D)).toBe(A);
  });

  it('a PTE prefilled by ptWrite that maps a live guest table is still read-only', () => {
    const { r, va } = rig(V | R | W | A | D);
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, va, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    sh.ptWrite(gpaOf(L0A), 4, pte(RAM_GFN + ROOT, V | R | W | A | D)); // va now maps the guest root
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(ROOT)));
    expect(r.hostWalk(satp, va, 'w')).toBe(-1);
    expect(r.access(sh, satp, va, 'w', S)).toEqual({ kind: 'ptwrite', gpa: gpaOf(ROOT) });
  });

  it('guest memory written by other means (DMA): noteGuestWrite brings the shadows in line', () => {
    const { r, va } = rig(V | R | W | A | D);
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, va, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    r.gw(gpaOf(L0A), pte(RAM_GFN + 25, V | R | A)); // a device wrote the guest's table
    sh.noteGuestWrite(gpaOf(L0A), 8);
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(25)));
    expect(r.hostWalk(satp, va, 'w')).toBe(-1);
    sh.noteGuestWrite(gpaOf(30), 4096); // not a table: nothing to do
    sh.noteGuestWrite(0, 2 ** 34); // all of guest-physical space: bounded by the tables shadowed
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(25)));
    sh.noteGuestWrite(NaN, 4);
    sh.flushAll();
    expect(r.hostWalk(satp, va, 'r')).toBe(-1);
    expect(sh.stats.framesInUse).toBe(1);
  });

  it('translate: the guest walk for emulation, with A/D', () => {
    const { r, va } = rig(V | R | W);
    const sh = r.shadow('wp');
    sh.activate(SATP, S);
    expect(sh.translate(va + 0x1010, 'w', S)).toMatchObject({ ok: true, gpa: gpaOf(DATA + 1) + 0x10, level: 0 });
    expect(r.gr(gpaOf(L0A) + 4) & (A | D)).toBe(A | D);
    expect(sh.translate(va + 0x1010, 'x', S)).toEqual({ ok: false, cause: 12 });
    expect(sh.translate(va, 'r', U_MODE)).toEqual({ ok: false, cause: 13 });
  });

  it('sfence does no work under wp', () => {
    const { r, va } = rig();
    const sh = r.shadow('wp');
    const satp = sh.activate(SATP, S);
    r.access(sh, satp, va, 'r', S);
    sh.sfence(null);
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(DATA)));
    expect(sh.stats.invalidations).toBe(0);
  });
});

describe('shadow paging: lazy', () => {
  it('nothing is write-protected; edits show after the fence, by page or all', () => {
    const { r, va } = rig(V | R | W | A | D);
    r.gw(gpaOf(L0A) + 8 * 4, pte(RAM_GFN + L0A, V | R | W | A | D));
    const sh = r.shadow('lazy');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, va, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(r.access(sh, satp, va + 0x1000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA + 1)) });
    expect(r.access(sh, satp, va + 0x8000, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(L0A)) });
    r.gw(gpaOf(L0A), pte(RAM_GFN + 20, V | R | W | A | D));
    r.gw(gpaOf(L0A) + 4, pte(RAM_GFN + 21, V | R | W | A | D));
    expect(r.hostWalk(satp, va, 'r')).toBe(r.mpa(gpaOf(DATA))); // stale until fenced, as a TLB may be
    sh.sfence(va);
    expect(r.access(sh, satp, va, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(20)) });
    expect(r.hostWalk(satp, va + 0x1000, 'r')).toBe(r.mpa(gpaOf(DATA + 1)));
    const frames = sh.stats.framesInUse;
    sh.sfence(null);
    expect(sh.stats.framesInUse).toBe(frames - 1); // the L0 shadow dropped, the root kept
    expect(r.access(sh, satp, va + 0x1000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(21)) });
    expect(sh.stats.invalidations).toBe(2);
    expect(sh.stats.wpFaults).toBe(0);
  });

  it('a va fence drops a whole splintered superpage, and a changed root entry', () => {
    const r = new ShadowRig();
    r.gw(gpaOf(ROOT) + 0x100 * 4, pte(RAM_GFN, V | R | W | A | D));
    const sh = r.shadow('lazy');
    const satp = sh.activate(SATP, S);
    expect(r.access(sh, satp, 0x40001000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(1)) });
    expect(r.access(sh, satp, 0x40002000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(2)) });
    expect(r.access(sh, satp, 0x40003000, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(3)) });
    // The guest cleans the superpage (D cleared) and fences one va in it: the whole 4 MiB goes.
    r.gw(gpaOf(ROOT) + 0x100 * 4, pte(RAM_GFN, V | R | W | A));
    sh.sfence(0x40001000);
    expect(r.hostWalk(satp, 0x40003000, 'w')).toBe(-1);
    expect(r.access(sh, satp, 0x40003000, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(3)) });
    expect(r.gr(gpaOf(ROOT) + 0x100 * 4) & D).toBe(D);
    r.gw(gpaOf(ROOT) + 0x100 * 4, pte(RAM_GFN, V | R | A)); // read-only now
    sh.sfence(0x40001000);
    expect(r.access(sh, satp, 0x40002000, 'w', S)).toEqual({ kind: 'guest', cause: 15 });
    r.gw(gpaOf(ROOT) + 0x100 * 4, pte(RAM_GFN + L0A, V)); // superpage -> table
    r.gw(gpaOf(L0A) + 2 * 4, pte(RAM_GFN + 9, V | R | A));
    sh.sfence(0x40002000);
    expect(r.access(sh, satp, 0x40002000, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(9)) });
    expect(r.access(sh, satp, 0x40001000, 'r', S)).toEqual({ kind: 'guest', cause: 13 });
  });
});

describe('shadow paging: hostile tables', () => {
  for (const policy of ['wp', 'lazy'] as const) {
    it(`${policy}: tables in MMIO, wild satp, leaves into MMIO`, () => {
      const { r, va } = rig(V | R | W | A | D);
      r.gw(gpaOf(L0A) + 5 * 4, pte(MMIO_GFN, V | R | W | A | D));
      r.gw(gpaOf(ROOT) + 3 * 4, pte(MMIO_GFN, V)); // L0 table in MMIO
      const sh = r.shadow(policy);
      let satp = sh.activate(SATP, S);
      expect(r.access(sh, satp, va + 0x5010, 'w', S)).toEqual({ kind: 'mmio', gpa: MMIO_GFN * 4096 + 0x10 });
      expect(r.gr(gpaOf(L0A) + 5 * 4) & (A | D)).toBe(A | D); // the walk succeeded before the device access
      expect(r.access(sh, satp, 0x00c00000, 'r', S)).toEqual({ kind: 'guest', cause: 5 });
      expect(r.access(sh, satp, 0x00c00000, 'w', S)).toEqual({ kind: 'guest', cause: 7 });
      expect(r.access(sh, satp, 0x00c00000, 'x', S)).toEqual({ kind: 'guest', cause: 1 });
      for (const wild of [satpOf(MMIO_GFN), satpOf(0x3fffff), 0xffffffff, satpOf(RAM_GFN + 4096)]) {
        satp = sh.activate(wild, S);
        expect(r.access(sh, satp, 0x12345678, 'r', S)).toEqual({ kind: 'guest', cause: 5 });
      }
      // Writes at wild places are ignored, not thrown.
      expect(() => sh.ptWrite(MMIO_GFN * 4096, 4, 1)).not.toThrow();
      expect(() => sh.noteGuestWrite(2 ** 33, 8)).not.toThrow();
    });

    it(`${policy}: a root that maps itself (page-table loop) walks as a hart walks it`, () => {
      const r = new ShadowRig();
      const root = gpaOf(ROOT);
      r.gw(root + 5 * 4, pte(RAM_GFN + ROOT, V)); // root[5] -> root: the root is its own L0 table
      r.gw(root + 7 * 4, pte(RAM_GFN + 12, V | R | W)); // a 4 MiB leaf at level 1, misaligned; a 4 KiB leaf at level 0
      r.gw(root + 6 * 4, pte(RAM_GFN + ROOT, V | R | W)); // maps the root itself at level 0 (misaligned at level 1)
      const sh = r.shadow(policy);
      const satp = sh.activate(SATP, S);
      expect(r.access(sh, satp, (5 << 22) | (7 << 12), 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(12)) });
      expect(r.access(sh, satp, (5 << 22) | (5 << 12), 'r', S)).toEqual({ kind: 'guest', cause: 13 }); // pointer at level 0
      expect(r.access(sh, satp, 7 << 22, 'r', S)).toEqual({ kind: 'guest', cause: 13 }); // misaligned superpage
      const w = r.access(sh, satp, (5 << 22) | (6 << 12) | 0x1c, 'w', S);
      if (policy === 'wp') {
        expect(w).toEqual({ kind: 'ptwrite', gpa: root + 0x1c });
        sh.ptWrite(root + 0x1c, 4, 0); // root[7] cleared: both meanings of it go
      } else {
        expect(w).toEqual({ kind: 'ok', mpa: r.mpa(root + 0x1c) });
        r.gw(root + 0x1c, 0);
        sh.sfence(null);
      }
      expect(r.access(sh, satp, (5 << 22) | (7 << 12), 'r', S)).toEqual({ kind: 'guest', cause: 13 });
    });
  }

  it('bounded frames: at the limit shadows are dropped and refilled, never more than maxFrames', () => {
    const r = new ShadowRig(32, 64);
    // 16 root entries, each pointing at L0A: 16 shadow L0 tables wanted.
    for (let i = 0; i < 16; i++) r.gw(gpaOf(ROOT) + i * 4, pte(RAM_GFN + L0A, V));
    r.gw(gpaOf(L0A), pte(RAM_GFN + DATA, V | R | W));
    for (const policy of ['wp', 'lazy'] as const) {
      const sh = r.shadow(policy, { maxFrames: 5, maxRoots: 2 });
      const satp = sh.activate(SATP, S);
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 16; i++) {
          expect(r.access(sh, satp, i << 22, 'w', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
          expect(sh.stats.framesInUse).toBeLessThanOrEqual(5);
        }
      }
      expect(sh.stats.reclaims).toBeGreaterThan(0);
      sh.destroy();
      expect(sh.stats.framesInUse).toBe(0);
      expect(r.allocated.size).toBe(0);
    }
  });

  it('an env out of frames: the shadow drops what it has and carries on', () => {
    const r = new ShadowRig(32, 3);
    for (let i = 0; i < 4; i++) r.gw(gpaOf(ROOT) + i * 4, pte(RAM_GFN + L0A, V));
    r.gw(gpaOf(L0A), pte(RAM_GFN + DATA, V | R));
    const sh = r.shadow('wp', { maxFrames: 100 });
    const satp = sh.activate(SATP, S);
    for (let i = 0; i < 4; i++) expect(r.access(sh, satp, i << 22, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(DATA)) });
    expect(sh.stats.reclaims).toBeGreaterThan(0);
  });

  it('vCPUs: each walks its own guest satp, and a root a vCPU has loaded is never freed', () => {
    const r = new ShadowRig();
    r.gw(gpaOf(ROOT), pte(RAM_GFN + L0A, V));
    r.gw(gpaOf(L0A), pte(RAM_GFN + 20, V | R | W));
    r.gw(gpaOf(L0B), pte(RAM_GFN + L0B + 1, V)); // a second guest root: L0B, its L0 in frame L0B+1
    r.gw(gpaOf(L0B + 1), pte(RAM_GFN + 21, V | R | W));
    for (let i = 1; i < 12; i++) {
      r.gw(gpaOf(ROOT) + i * 4, pte(RAM_GFN + L0A, V));
      r.gw(gpaOf(L0B) + i * 4, pte(RAM_GFN + L0B + 1, V));
    }
    const sh = r.shadow('wp', { maxFrames: 4, maxRoots: 2 });
    const s0 = sh.activate(SATP, S, 0);
    const s1 = sh.activate(satpOf(RAM_GFN + L0B), S, 1);
    for (let i = 0; i < 12; i++) {
      expect(r.access(sh, s0, i << 22, 'r', S), `vcpu0 ${i}`).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(20)) });
      // Another root in between (a third address space) must not evict either loaded root.
      sh.fault(0, 'r', U_MODE, 2);
      expect(r.access(sh, s1, i << 22, 'r', S, 1), `vcpu1 ${i}`).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(21)) });
      // The default vCPU (0) still has its own satp.
      expect(sh.fault(i << 22, 'r', S)).toEqual({ kind: 'fixed' });
    }
    expect(r.allocated.has(s0 & 0x3fffff) && r.allocated.has(s1 & 0x3fffff)).toBe(true);
    expect(sh.stats.reclaims).toBeGreaterThan(0);
    sh.deactivate(1);
    for (let k = 5; k < 9; k++) sh.activate(satpOf(RAM_GFN + k), S, 0); // maxRoots 2: unpinned roots go
    expect(sh.stats.roots).toBe(2);
    expect(r.hostWalk(s1, 0, 'r')).toBeLessThan(0); // s1's frame no longer holds vCPU 1's shadow
    sh.destroy();
    expect(r.allocated.size).toBe(0);
  });

  it('rejects bad options with a clear error', () => {
    const r = new ShadowRig();
    expect(() => new Shadow(r.env, 'wp', { maxFrames: 2 })).toThrow(/maxFrames/);
    expect(() => new Shadow(r.env, 'wp', { maxFrames: 10, maxRoots: 9 })).toThrow(/maxRoots \+ 2/);
    expect(() => new Shadow(r.env, 'eager' as 'wp')).toThrow(/policy/);
  });
});

describe('shadow paging: what each policy costs', () => {
  /** Two address spaces of 8 pages; `switches` context switches, each with sfence x0 (no ASIDs); then 64 PTE stores through the shadow. */
  function run(policy: 'wp' | 'lazy', switches: number): Shadow['stats'] {
    const r = new ShadowRig(32, 64);
    r.gw(gpaOf(ROOT) + 4, pte(RAM_GFN + L0B, V)); // va 0x00400000: the tables themselves, RW
    for (let k = 0; k < 8; k++) r.gw(gpaOf(L0B) + 4 * k, pte(RAM_GFN + k, V | R | W | A | D));
    for (const [root, l0, base] of [[ROOT, L0A, 8], [3, 4, 16]] as const) {
      if (root !== ROOT) r.gw(gpaOf(root) + 4, pte(RAM_GFN + L0B, V));
      r.gw(gpaOf(root), pte(RAM_GFN + l0, V));
      for (let i = 0; i < 8; i++) r.gw(gpaOf(l0) + 4 * i, pte(RAM_GFN + base + i, V | R | W | A | D));
    }
    const sh = r.shadow(policy);
    let satp = 0;
    for (let k = 0; k < switches; k++) {
      satp = sh.activate(satpOf(RAM_GFN + (k % 2 === 0 ? ROOT : 3)), S);
      sh.sfence(null);
      for (let i = 0; i < 8; i++) expect(r.access(sh, satp, i << 12, 'w', S).kind).toBe('ok');
    }
    for (let i = 0; i < 64; i++) {
      const got = r.access(sh, satp, 0x00400000 + L0A * 4096 + 4 * (i % 8), 'w', S);
      if (got.kind === 'ptwrite') sh.ptWrite(got.gpa, 4, pte(RAM_GFN + 8 + (i % 8), V | R | W | A | D));
      else expect(got.kind).toBe('ok');
    }
    return sh.stats;
  }

  it('wp: a trap per PTE store, nothing per fence or switch; lazy: free PTE stores, a refill after every full fence', () => {
    const wp = run('wp', 50);
    const lazy = run('lazy', 50);
    expect(wp.fills).toBe(16); // each address space's 8 pages, once (the tables' window only ever gives 'ptwrite')
    expect(lazy.fills).toBe(50 * 8 + 1); // every page after every fence, + the tables' window
    expect(wp.wpFaults).toBe(64);
    expect(wp.ptWrites).toBe(64);
    expect(lazy.wpFaults).toBe(0);
  });
});

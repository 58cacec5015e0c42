// Property: after any sequence of guest page-table edits, fences, satp/mode switches and
// accesses, what the real hart gets through the shadow (the real MMU's walk of the shadow
// root in U-mode, retried through fault() while it answers 'fixed') is what the guest's own
// walk maps: the same machine frame, the same guest fault, the same MMIO address; and the
// guest's leaf PTE gains exactly the A/D bits a hart would set. Under both policies, with
// ample and with tiny frame budgets.
//
// The reference walk below is written from the privileged spec (20211203, 4.3.2 "Virtual
// Address Translation Process"), step by step, independently of hypervisor/hvm/shadow.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Access, GuestMode, Shadow, ShadowPolicy } from '../hypervisor/hvm/shadow/index.ts';
import { MMIO_GFN, MODES, RAM_GFN, ShadowRig, gpaOf, satpOf } from './helpers/shadow_rig.ts';

const GUEST_FRAMES = 24;
const VPN1S = [0, 1, 0x200, 0x3ff];
const VPN0S = [0, 1, 2];
const SAMPLE_VAS = VPN1S.flatMap((v1) => VPN0S.map((v0) => ((v1 << 22) | (v0 << 12) | 0x24) >>> 0));
const ACCS: readonly Access[] = ['r', 'w', 'x'];
const EDIT_INDICES = [...new Set([...VPN1S, ...VPN0S])];

type RefResult = { ok: true; gpa: number; leaf: number | null } | { ok: false; cause: number };

/** Privileged spec 4.3.2 for Sv32, on guest-physical memory; no A/D side effects. */
function refWalk(r: ShadowRig, satp: number, va: number, acc: Access, mode: GuestMode): RefResult {
  const pageFault = acc === 'r' ? 13 : acc === 'w' ? 15 : 12;
  const accessFault = acc === 'r' ? 5 : acc === 'w' ? 7 : 1;
  if (satp >>> 31 === 0) return { ok: true, gpa: va, leaf: null }; // Bare: no translation or protection
  const vpn = [(va >>> 12) & 0x3ff, va >>> 22];
  // 1. a = satp.ppn * PAGESIZE, i = LEVELS - 1
  let a = (satp & 0x3fffff) * 4096;
  let i = 1;
  let pte = 0;
  let pteAddr = 0;
  for (;;) {
    // 2. pte = PTE at a + va.vpn[i] * PTESIZE; a PMA violation (not RAM) is an access fault
    pteAddr = a + vpn[i]! * 4;
    if (r.mfnOfGfn(Math.floor(pteAddr / 4096)) < 0) return { ok: false, cause: accessFault };
    pte = r.gr(pteAddr);
    const v = pte & 1, rd = (pte >>> 1) & 1, wr = (pte >>> 2) & 1, ex = (pte >>> 3) & 1;
    // 3. invalid, or W without R
    if (v === 0 || (rd === 0 && wr === 1)) return { ok: false, cause: pageFault };
    // 4. leaf, or descend
    if (rd === 1 || ex === 1) break;
    i = i - 1;
    if (i < 0) return { ok: false, cause: pageFault };
    a = Math.floor(pte / 1024) * 4096;
  }
  // 5. permissions for the access, privilege, SUM, MXR
  const rd = (pte >>> 1) & 1, wr = (pte >>> 2) & 1, ex = (pte >>> 3) & 1, us = (pte >>> 4) & 1;
  let allowed = acc === 'x' ? ex === 1 : acc === 'w' ? wr === 1 : rd === 1 || (mode.mxr && ex === 1);
  if (mode.priv === 0 && us === 0) allowed = false;
  if (mode.priv === 1 && us === 1 && (acc === 'x' || !mode.sum)) allowed = false;
  if (!allowed) return { ok: false, cause: pageFault };
  // 6. misaligned superpage
  const ppn0 = (pte >>> 10) & 0x3ff;
  const ppn1 = pte >>> 20;
  if (i > 0 && ppn0 !== 0) return { ok: false, cause: pageFault };
  // 7. (A/D: checked by the caller after the access.) 8. the physical address
  const gpa = i > 0 ? ppn1 * 0x400000 + vpn[0]! * 4096 + (va & 0xfff) : (ppn1 * 1024 + ppn0) * 4096 + (va & 0xfff);
  return { ok: true, gpa, leaf: pteAddr };
}

type Step =
  | { t: 'edit'; frame: number; index: number; value: number; fenceAll: boolean; pick: number }
  | { t: 'fence'; va: number | null }
  | { t: 'switch'; vcpu: number; root: number; mode: number };

const ROOT_CHOICES = [satpOf(RAM_GFN), satpOf(RAM_GFN + 1), 0, satpOf(MMIO_GFN), satpOf(0x3fffff), satpOf(RAM_GFN + 2)];

const ppnArb = fc.oneof(
  fc.integer({ min: 0, max: 3 }).map((k) => RAM_GFN + k), // the tables themselves: loops, write-protected targets
  fc.integer({ min: 0, max: GUEST_FRAMES - 1 }).map((k) => RAM_GFN + k), // 4 KiB targets and tables (loops included)
  fc.constant(RAM_GFN), // an aligned superpage over all of RAM
  fc.constantFrom(RAM_GFN + 0x400, MMIO_GFN, 0x3fffff, RAM_GFN + GUEST_FRAMES), // beyond RAM, MMIO, wild
);
const V = 0x01, R = 0x02, W = 0x04, X = 0x08, U = 0x10, A = 0x40, D = 0x80;
/** Mostly meaningful encodings (each with or without U, A, D), some pointers and holes, some noise. */
const flagsArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(V | R, V | R | W, V | X, V | R | X, V | R | W | X), fc.constantFrom(0, U), fc.constantFrom(0, A, A | D, A | D, D)).map(([b, u, ad]) => b | u | ad) },
  { weight: 2, arbitrary: fc.constantFrom(V, 0, V | W, V | W | X) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    t: fc.constant('edit' as const),
    frame: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: GUEST_FRAMES - 1 })),
    index: fc.constantFrom(...EDIT_INDICES),
    value: fc.tuple(ppnArb, flagsArb).map(([ppn, f]) => ((ppn << 10) | f) >>> 0),
    fenceAll: fc.integer({ min: 0, max: 4 }).map((k) => k === 0),
    pick: fc.nat(),
  }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('fence' as const), va: fc.option(fc.constantFrom(...SAMPLE_VAS), { nil: null }) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('switch' as const), vcpu: fc.integer({ min: 0, max: 1 }), root: fc.integer({ min: 0, max: ROOT_CHOICES.length - 1 }), mode: fc.integer({ min: 0, max: MODES.length - 1 }) }) },
);

const isPointer = (pte: number): boolean => (pte & (V | R | W | X)) === V;

/**
 * The fences the spec asks of a guest after a direct edit, and no more: a changed non-leaf
 * entry needs sfence.vma x0; a leaf needs one fence per translation it makes (one va is
 * enough for a superpage leaf). The edited word may be read at either level (loops).
 */
function lazyFence(sh: Shadow, step: Extract<Step, { t: 'edit' }>, old: number): void {
  const rootFrame = step.frame <= 2; // frames ROOT_CHOICES uses as roots
  if (step.fenceAll || (rootFrame && VPN1S.includes(step.index) && (isPointer(old) || isPointer(step.value)))) {
    sh.sfence(null);
    return;
  }
  if (rootFrame && VPN1S.includes(step.index)) {
    const inMegapage = SAMPLE_VAS.filter((va) => va >>> 22 === step.index);
    sh.sfence(inMegapage[step.pick % inMegapage.length]!);
  }
  for (const va of SAMPLE_VAS) if (((va >>> 12) & 0x3ff) === step.index) sh.sfence(va);
}

/** A starting point with pointers, superpages, loops and leaves of each kind, A/D clear. */
function initialTables(r: ShadowRig): void {
  const e = (frame: number, index: number, gfnIndex: number, flags: number): void => r.gw(gpaOf(frame) + index * 4, (((RAM_GFN + gfnIndex) << 10) | flags) >>> 0);
  e(0, 0, 2, V); e(0, 1, 3, V); e(0, 0x3ff, 2, V);
  r.gw(gpaOf(0) + 0x200 * 4, ((RAM_GFN << 10) | V | R | W | X) >>> 0);
  e(1, 0, 3, V); e(1, 0x200, 2, V);
  r.gw(gpaOf(1) + 4, ((RAM_GFN << 10) | V | R | X | U) >>> 0);
  e(2, 0, 10, V | R | W); e(2, 1, 11, V | R | W | X | U); e(2, 2, 0, V | R | W);
  e(3, 0, 12, V | R | W | U); e(3, 1, 2, V | R); e(3, 2, 13, V | X | U);
}

function check(policy: ShadowPolicy, maxFrames: number, steps: Step[]): void {
  const r = new ShadowRig(GUEST_FRAMES, 48);
  initialTables(r);
  const sh = r.shadow(policy, { maxFrames, maxRoots: maxFrames < 10 ? 2 : 16 });
  // Two vCPUs, each with its own guest satp and mode; checks run on the one last switched.
  const cpus = [0, 1].map((vcpu) => ({ vcpu, gsatp: ROOT_CHOICES[vcpu]!, mode: MODES[3]!, satp: 0 }));
  for (const c of cpus) c.satp = sh.activate(c.gsatp, c.mode, c.vcpu);
  const everLoaded = new Set(cpus.map((c) => c.satp & 0x3fffff));
  let cur = cpus[0]!;
  steps.forEach((step, n) => {
    if (step.t === 'edit') {
      const gpa = gpaOf(step.frame) + step.index * 4;
      if (policy === 'wp' && sh.isPageTable(RAM_GFN + step.frame)) {
        sh.ptWrite(gpa, 4, step.value); // a store to a write-protected table traps and is emulated
      } else {
        const old = r.gr(gpa);
        r.gw(gpa, step.value);
        if (policy === 'lazy') lazyFence(sh, step, old);
      }
    } else if (step.t === 'fence') {
      sh.sfence(step.va);
    } else {
      cur = cpus[step.vcpu]!;
      cur.gsatp = ROOT_CHOICES[step.root]!;
      cur.mode = MODES[step.mode]!;
      cur.satp = sh.activate(cur.gsatp, cur.mode, cur.vcpu);
      everLoaded.add(cur.satp & 0x3fffff);
    }
    const { gsatp, mode, satp, vcpu } = cur;
    for (const va of SAMPLE_VAS) {
      for (const acc of ACCS) {
        const ref = refWalk(r, gsatp, va, acc, mode);
        const leafBefore = ref.ok && ref.leaf !== null ? r.gr(ref.leaf) : 0;
        const got = r.access(sh, satp, va, acc, mode, vcpu);
        const where = `step ${n} ${JSON.stringify(step)}: va 0x${va.toString(16)} ${acc} satp 0x${gsatp.toString(16)} mode ${JSON.stringify(mode)}`;
        if (!ref.ok) {
          expect(got, where).toEqual({ kind: 'guest', cause: ref.cause });
          continue;
        }
        const gfn = Math.floor(ref.gpa / 4096);
        if (r.mfnOfGfn(gfn) < 0) {
          expect(got, where).toEqual({ kind: 'mmio', gpa: ref.gpa });
        } else if (got.kind === 'ptwrite') {
          expect(policy === 'wp' && acc === 'w' && sh.isPageTable(gfn), where).toBe(true);
          expect(got.gpa, where).toBe(ref.gpa);
        } else {
          expect(got, where).toEqual({ kind: 'ok', mpa: r.mpa(ref.gpa) });
          if (policy === 'wp' && acc === 'w') expect(sh.isPageTable(gfn), `${where}: writable mapping of a live guest table`).toBe(false);
        }
        if (ref.leaf !== null) {
          // Exactly the bits a hart sets: A, and D on a store.
          const need = acc === 'w' ? 0xc0 : 0x40;
          expect(r.gr(ref.leaf) >>> 0, `${where}: A/D`).toBe((leafBefore | need) >>> 0);
        }
      }
    }
    expect(sh.stats.framesInUse).toBeLessThanOrEqual(maxFrames);
    expect(r.allocated.size).toBe(sh.stats.framesInUse);
    // A frame ever loaded as a real satp stays the shadow's (a root, or a spare root) until
    // destroy(): even a hart left on a stale satp can only reach this domain's frames.
    for (const m of everLoaded) expect(r.allocated.has(m)).toBe(true);
  });
  sh.destroy();
  expect(r.allocated.size).toBe(0);
}

describe('shadow paging: the shadow maps exactly what the guest walk maps', () => {
  for (const policy of ['wp', 'lazy'] as const) {
    for (const maxFrames of [1024, 5]) {
      it(`${policy}, ${maxFrames} frames`, () => {
        fc.assert(fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), (steps) => check(policy, maxFrames, steps)), { numRuns: 100 });
      });
    }
  }
});

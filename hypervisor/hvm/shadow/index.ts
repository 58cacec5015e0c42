// Shadow Sv32 page tables for trap-and-emulate HVM guests (hvm_mode = "trap").
//
// The guest's S-mode runs in the real hart's U-mode, so the real satp points at tables
// built here ("shadows") that map guest-virtual addresses straight to machine frames, every
// leaf U=1. A shadow entry exists only where the guest's own walk (guest_walk.ts) allows
// the access; anything else faults on the real hart, and `fault()` either fills the shadow
// from the guest's tables ('fixed') or says what the guest gets instead.
//
// Interface (the trap-mode CPU emulation calls these; names fixed). `vcpu` (default 0)
// names the virtual hart: one Shadow serves all of a domain's vCPUs, each with its own
// guest satp and its own loaded root.
//   new Shadow(env, policy, { maxFrames?, maxRoots? })
//   activate(gsatp, mode, vcpu?) -> machine satp (on guest satp writes and on mode changes:
//                                               virtual priv, SUM, MXR). The root stays
//                                               pinned (never freed) until the vCPU
//                                               activates another or deactivate(vcpu).
//   fault(va, acc, mode, vcpu?) -> ShadowFault (on every real page fault, causes 12/13/15)
//   ptWrite(gpa, size, value)                  ('ptwrite' results: the emulated guest store)
//   sfence(va | null)                          (the guest's sfence.vma; ASID ignored: every
//                                               fence applies to all address spaces, which
//                                               the spec allows an implementation to do)
//   translate(va, acc, mode, vcpu?)            (a guest walk with A/D, for emulation)
//   noteGuestWrite(gpa, len)                   (guest memory written other than through
//                                               ptWrite, e.g. DMA: shadows brought in line)
//   isPageTable(gfn)                           (wp: is gfn write-protected as a live guest table)
//   deactivate(vcpu)                           (the vCPU went down: unpin its root)
//   flushAll()                                 (the p2m changed: drop every shadow)
//   stats, destroy()
// The real hart runs in U-mode with mstatus.SUM irrelevant and mstatus.MXR either 0 or the
// guest's MXR (shadow leaves carry R explicitly where the guest may read).
// ShadowEnv.flushHostTlb (optional) is called whenever a shadow entry is removed or loses
// a permission, with the guest va (or null: all), so the real harts' TLBs drop it, as
// Xen's shadow code flushes TLBs after removing write access. Without it the caller must
// flush every vCPU's TLB after each call that can change shadows (fault, ptWrite, sfence,
// activate, noteGuestWrite, flushAll). Filling ('fixed') only adds or widens entries.
//
// Structure. One shadow root (a machine frame) per guest root and per distinct meaning
// of the tables: virtual U (with MXR off/on), virtual S with SUM off/on (and MXR off/on),
// so a mode switch is an activate() returning another root, not a rebuild; bare guest satp
// has one root of its own (guest-virtual = guest-physical, RWX). Under each root entry
// hangs at most one shadow L0 table, owned by that entry and derived from either one guest
// L0 table or one guest 4 MiB superpage (splintered into 4 KiB entries, so a guest table
// inside a superpage can still be write-protected on its own). Shadow L0s are not shared
// between roots: simpler bookkeeping, at the cost of refills per root.
//
// A/D emulation. A shadow leaf is made only after A is set in the guest PTE (the fill
// sets it, as the guest's hart would on that access) and is writable only once D is set:
// the first store faults, sets D, and upgrades the entry. So the guest sees the A/D
// updates a hart that manages them would make. Shadow leaves carry A (and D when
// writable) themselves, so the real walk never writes them.
//
// Policies (Xen's shadow mode vs. a "lazy" out-of-sync style):
//  'wp'   every guest frame in use as a shadowed guest table (a root of a cached shadow
//         root, or the L0 table behind a shadow L0) is mapped read-only in every shadow; a
//         store to it comes back as 'ptwrite', ptWrite performs it and re-derives exactly
//         the shadow entries made from the written words (clears root entries' L0s,
//         recomputes leaf entries, filling them at once when the new PTE already has A).
//         sfence needs no work. A frame no shadow uses any more is released (counted in
//         `unshadows`) and is writable again on its next fault.
//  'lazy' nothing is write-protected; sfence(null) drops every shadow L0, sfence(va) drops
//         the va's leaf in every root (the whole L0 when it was a splintered superpage, or
//         when the guest's root entry changed since the L0 was made), and faults refill.
// Between an edit and the guest's fence a lazy shadow may still give the old translation,
// as a real hart's TLB may.
//
// Bounds. At most `maxFrames` shadow frames and `maxRoots` cached roots (more only while
// more vCPUs have distinct roots loaded): at the frame limit every shadow L0 is dropped
// and refilled on demand (`reclaims`); roots are evicted least recently activated, never
// one a vCPU has loaded, and an evicted root's frame becomes the next root (frames that
// were roots go back to the env only in destroy()), so no real satp ever names a frame
// that left the domain's shadows.
// Nothing a guest writes can make these calls throw or loop: walks are two reads at most.
// The only exception is the env failing to give even a handful of frames
// (ShadowOutOfMemory), which the caller turns into a domain crash.

import { SATP_MODE_SV32, SATP_PPN_MASK } from '../../cpu/csr.ts';
import type { PhysMemory } from '../../cpu/memory.ts';
import { PAGE_SIZE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X, pte as makePte } from '../../../protocol/sv32.ts';
import {
  type Access, type GuestMode, type WalkResult, frameWords, guestWalk, isLeaf, isPointer, leafPerms,
  PERM_R, PERM_W, PERM_X, readGuestWord,
} from './guest_walk.ts';

export type { Access, GuestMode, WalkResult } from './guest_walk.ts';
export { guestWalk, leafPerms } from './guest_walk.ts';

export type ShadowPolicy = 'wp' | 'lazy';

export class ShadowOutOfMemory extends Error {
  constructor(message = 'no machine frame left for a shadow page table') {
    super(message);
    this.name = 'ShadowOutOfMemory';
  }
}

export interface ShadowEnv {
  /** Machine memory. */
  readonly mem: PhysMemory;
  /** Machine frame of guest RAM frame gfn, or -1 (not RAM: MMIO or nothing). */
  gfnToMfn(gfn: number): number;
  /** A zeroed machine frame for a shadow table; throws ShadowOutOfMemory if none. */
  allocFrame(): number;
  freeFrame(mfn: number): void;
  /** Optional: the real hart must drop cached translations of va (null: all). */
  flushHostTlb?(va: number | null): void;
}

export type ShadowFault =
  | { kind: 'fixed' }
  | { kind: 'guest'; cause: number }
  | { kind: 'mmio'; gpa: number }
  | { kind: 'ptwrite'; gpa: number };

export interface ShadowStats {
  /** Faults that filled or upgraded a shadow entry ('fixed'). */
  fills: number;
  /** Stores to write-protected guest tables ('ptwrite' results). */
  wpFaults: number;
  /** ptWrite calls (emulated guest PTE stores). */
  ptWrites: number;
  /** Shadow entries and shadow L0 tables dropped because the guest's tables changed (ptWrite, noteGuestWrite) or were fenced (lazy sfence). */
  invalidations: number;
  /** Faults reflected to the guest ('guest' results). */
  guestFaults: number;
  /** Faults on non-RAM guest-physical memory ('mmio' results). */
  mmioFaults: number;
  /** Guest PTE reads made by walks and re-derivations. */
  walkMemRefs: number;
  /** A/D bits set in guest PTEs (each PTE store counts once). */
  adUpdates: number;
  /** Shadow frames held now. */
  framesInUse: number;
  /** Most shadow frames held at once. */
  framesPeak: number;
  /** Shadow roots built (first activation of a guest root in a mode, and rebuilds). */
  rootsBuilt: number;
  /** Shadow roots held now. */
  roots: number;
  /** Guest sfence.vma calls. */
  fences: number;
  /** Drops of every shadow at the frame limit. */
  reclaims: number;
  /** wp: guest frames that stopped being shadowed page tables (write protection removed). */
  unshadows: number;
  /** Writable shadow entries made read-only because their frame became a guest table. */
  wpDowngrades: number;
  /** Shadow leaf entries (re)made by ptWrite without a fault (the new PTE already had A). */
  prefills: number;
}

interface Root {
  readonly key: string;
  /** Guest frame of the guest root table; -1 for bare. */
  readonly gRoot: number;
  readonly mode: GuestMode;
  readonly mfn: number;
  readonly words: Int32Array;
  readonly l0: Array<ShadowL0 | undefined>;
  lastUse: number;
  /** vCPUs whose real hart has this root loaded. */
  pins: number;
  dead: boolean;
}

interface VcpuCtx {
  gsatp: number;
  root: Root | null;
}

interface ShadowL0 {
  readonly id: number;
  readonly root: Root;
  /** Index of the root entry pointing at it (va bits 31:22). */
  readonly index: number;
  readonly mfn: number;
  readonly words: Int32Array;
  /** Guest L0 table it is derived from; -1 for a splintered superpage or bare. */
  readonly gTable: number;
  /** The guest root entry it was derived from, A/D masked (0 for bare). */
  readonly gRootPte: number;
  /** Guest frame each entry maps (-1: empty). */
  readonly target: Int32Array;
  dead: boolean;
}

interface PtUses {
  readonly roots: Set<Root>;
  readonly l0s: Set<ShadowL0>;
}

const AD = PTE_A | PTE_D;
const FIXED: ShadowFault = Object.freeze({ kind: 'fixed' });
const MIN_FRAMES = 4;

function modeKey(gsatp: number, mode: GuestMode): string {
  if ((gsatp & SATP_MODE_SV32) === 0) return 'bare';
  const root = gsatp & SATP_PPN_MASK;
  // Only the bits that change what a page means: SUM is irrelevant to virtual U.
  return mode.priv === 0 ? `${root}:u${mode.mxr ? 'x' : ''}` : `${root}:s${mode.sum ? 's' : ''}${mode.mxr ? 'x' : ''}`;
}

/** True if `root` (activated for the vCPU's current satp) also serves `mode`. */
function sameMeaning(root: Root, mode: GuestMode): boolean {
  if (root.gRoot < 0) return true; // bare: one meaning
  const m = root.mode;
  return m.priv === mode.priv && m.mxr === mode.mxr && (mode.priv === 0 || m.sum === mode.sum);
}

function shadowLeaf(mfn: number, perms: number): number {
  let f = PTE_V | PTE_U | PTE_A;
  if ((perms & PERM_R) !== 0) f |= PTE_R;
  if ((perms & PERM_W) !== 0) f |= PTE_W | PTE_D;
  if ((perms & PERM_X) !== 0) f |= PTE_X;
  return makePte(mfn, f) | 0;
}

export class Shadow {
  readonly stats: ShadowStats = {
    fills: 0, wpFaults: 0, ptWrites: 0, invalidations: 0, guestFaults: 0, mmioFaults: 0, walkMemRefs: 0,
    adUpdates: 0, framesInUse: 0, framesPeak: 0, rootsBuilt: 0, roots: 0, fences: 0, reclaims: 0, unshadows: 0,
    wpDowngrades: 0, prefills: 0,
  };
  readonly policy: ShadowPolicy;
  private readonly env: ShadowEnv;
  private readonly maxFrames: number;
  private readonly maxRoots: number;
  private readonly roots = new Map<string, Root>();
  private readonly l0ById = new Map<number, ShadowL0>();
  /** Zeroed frames of evicted roots, for the next roots (see evictRoot). */
  private readonly spareRoots: { mfn: number; words: Int32Array }[] = [];
  /** Guest frames in use as shadowed guest tables. */
  private readonly pt = new Map<number, PtUses>();
  /** wp: writable shadow leaves by the guest frame they map (slot = l0.id * 1024 + index). */
  private readonly writable = new Map<number, Set<number>>();
  /** Per vCPU: the guest satp it runs and the root its real hart has loaded (pinned: never freed). */
  private readonly ctx = new Map<number, VcpuCtx>();
  private nextId = 1;
  private clock = 0;

  constructor(env: ShadowEnv, policy: ShadowPolicy, opts: { maxFrames?: number; maxRoots?: number } = {}) {
    if (policy !== 'wp' && policy !== 'lazy') throw new RangeError(`shadow policy '${String(policy)}': must be 'wp' or 'lazy'`);
    const maxFrames = opts.maxFrames ?? 1024;
    const maxRoots = opts.maxRoots ?? 16;
    if (!Number.isInteger(maxFrames) || maxFrames < MIN_FRAMES) throw new RangeError(`shadow maxFrames ${maxFrames}: must be an integer >= ${MIN_FRAMES}`);
    if (!Number.isInteger(maxRoots) || maxRoots < 2) throw new RangeError(`shadow maxRoots ${maxRoots}: must be an integer >= 2`);
    if (maxFrames < maxRoots + 2) throw new RangeError(`shadow maxFrames ${maxFrames}: must be at least maxRoots + 2 (${maxRoots + 2}): roots are kept at the frame limit`);
    this.env = env;
    this.policy = policy;
    this.maxFrames = maxFrames;
    this.maxRoots = maxRoots;
  }

  // ---------------------------------------------------------------------------------
  // The interface

  activate(gsatp: number, mode: GuestMode, vcpu = 0): number {
    const c = this.ctxOf(vcpu);
    c.gsatp = gsatp >>> 0;
    const root = this.rootFor(c.gsatp, mode);
    if (c.root !== root) {
      if (c.root !== null) c.root.pins--;
      root.pins++;
      c.root = root;
    }
    return (SATP_MODE_SV32 | root.mfn) >>> 0;
  }

  /** vCPU `vcpu` no longer runs on its root (it went down): the root may be evicted. */
  deactivate(vcpu: number): void {
    const c = this.ctx.get(vcpu);
    if (c === undefined) return;
    if (c.root !== null) c.root.pins--;
    this.ctx.delete(vcpu);
  }

  fault(va: number, acc: Access, mode: GuestMode, vcpu = 0): ShadowFault {
    va >>>= 0;
    const c = this.ctxOf(vcpu);
    const gsatp = c.gsatp;
    // Fast path: the fault is almost always in the root this vCPU has loaded.
    const root = c.root !== null && sameMeaning(c.root, mode) ? c.root : this.rootFor(gsatp, mode);
    const w = guestWalk(this.env, gsatp, va, acc, mode, true, this.stats);
    if (!w.ok) {
      this.stats.guestFaults++;
      return { kind: 'guest', cause: w.cause };
    }
    const gfn = Math.floor(w.gpa / PAGE_SIZE);
    const mfn = this.env.gfnToMfn(gfn);
    if (mfn < 0) {
      this.stats.mmioFaults++;
      return { kind: 'mmio', gpa: w.gpa };
    }
    let perms = w.level === -1 ? PERM_R | PERM_W | PERM_X : leafPerms(w.pte, mode);
    if (w.level !== -1 && (w.pte & PTE_D) === 0) perms &= ~PERM_W;
    const l0 = this.l0For(root, va, w.level === -1 ? 0 : w.rootPte, w.l0Gfn);
    if (this.isWp(gfn)) perms &= ~PERM_W; // after l0For: a table may map itself
    const i = (va >>> 12) & 0x3ff;
    const before = l0.words[i]!;
    this.setLeaf(l0, i, gfn, mfn, perms);
    // A lazy shadow may have held another frame here (edited, not yet fenced): drop what the real TLB cached.
    if (before !== 0 && before >>> 10 !== mfn) this.env.flushHostTlb?.(va);
    if (acc === 'w' && (perms & PERM_W) === 0) {
      this.stats.wpFaults++;
      return { kind: 'ptwrite', gpa: w.gpa };
    }
    this.stats.fills++;
    return FIXED;
  }

  ptWrite(gpa: number, size: 1 | 2 | 4, value: number): void {
    this.stats.ptWrites++;
    const mem = this.env.mem;
    const touched = new Set<number>(); // guest word addresses
    for (let k = 0; k < size; k++) {
      const a = gpa + k;
      const mfn = this.env.gfnToMfn(Math.floor(a / PAGE_SIZE));
      if (mfn < 0 || frameWords(mem, mfn) === null) continue; // not RAM: nothing to store
      mem.frames[mfn]![a & 0xfff] = value >>> (8 * k);
      mem.noteStore(mfn * PAGE_SIZE + (a & 0xfff), 1);
      touched.add(a - (a & 3));
    }
    for (const wa of touched) this.resyncWord(wa);
  }

  sfence(va: number | null): void {
    this.stats.fences++;
    if (this.policy === 'wp') return; // shadows follow every guest PTE store already
    if (va === null) {
      for (const root of this.roots.values()) this.clearRoot(root, true);
      this.env.flushHostTlb?.(null);
      return;
    }
    va >>>= 0;
    const i1 = va >>> 22;
    const i0 = (va >>> 12) & 0x3ff;
    let superpage = false;
    for (const root of this.roots.values()) {
      const l0 = root.l0[i1];
      if (l0 === undefined) continue;
      if (root.gRoot >= 0 && (l0.gTable < 0 || this.rootEntryChanged(l0))) {
        if (l0.gTable < 0) superpage = true;
        this.freeL0(l0);
        this.stats.invalidations++;
      } else if (l0.words[i0] !== 0) {
        this.clearLeaf(l0, i0);
        this.stats.invalidations++;
      }
    }
    if (!superpage) {
      this.env.flushHostTlb?.(va);
      return;
    }
    // The fence names a guest superpage: the harts may hold any of its 4 KiB pieces, and
    // all of them go, as a hart's 4 MiB entry would (a piece left is a stale translation).
    const base = (va & ~0x3fffff) >>> 0;
    for (let k = 0; k < 1024; k++) this.env.flushHostTlb?.(base + k * PAGE_SIZE);
  }

  translate(va: number, acc: Access, mode: GuestMode, vcpu = 0): WalkResult {
    return guestWalk(this.env, this.ctxOf(vcpu).gsatp, va >>> 0, acc, mode, true, this.stats);
  }

  noteGuestWrite(gpa: number, len: number): void {
    if (this.pt.size === 0 || !(len > 0) || !(gpa >= 0)) return;
    const end = gpa + len;
    const firstGfn = Math.floor(gpa / PAGE_SIZE);
    const lastGfn = Math.floor((end - 1) / PAGE_SIZE);
    // Work bounded by the tables shadowed, not by `len`: a huge range costs no more than a scan of them.
    const gfns = lastGfn - firstGfn < this.pt.size
      ? Array.from({ length: lastGfn - firstGfn + 1 }, (_, k) => firstGfn + k)
      : [...this.pt.keys()].filter((g) => g >= firstGfn && g <= lastGfn);
    for (const gfn of gfns) {
      if (!this.pt.has(gfn)) continue;
      const lo = Math.max(gpa, gfn * PAGE_SIZE);
      const hi = Math.min(end, (gfn + 1) * PAGE_SIZE);
      for (let a = lo - (lo % 4); a < hi; a += 4) this.resyncWord(a);
    }
  }

  /** wp: true while gfn is a shadowed guest table, so every store to it traps (always false under lazy). */
  isPageTable(gfn: number): boolean {
    return this.isWp(gfn);
  }

  flushAll(): void {
    for (const root of this.roots.values()) this.clearRoot(root, false);
    this.env.flushHostTlb?.(null);
  }

  destroy(): void {
    for (const c of this.ctx.values()) c.root = null;
    this.ctx.clear();
    for (const root of [...this.roots.values()]) {
      this.retireRoot(root);
      this.freeShadowFrame(root.mfn);
    }
    for (const f of this.spareRoots.splice(0)) this.freeShadowFrame(f.mfn);
    this.env.flushHostTlb?.(null);
  }

  // ---------------------------------------------------------------------------------
  // Roots and L0 tables

  private ctxOf(vcpu: number): VcpuCtx {
    let c = this.ctx.get(vcpu);
    if (c === undefined) {
      c = { gsatp: 0, root: null };
      this.ctx.set(vcpu, c);
    }
    return c;
  }

  private rootFor(gsatp: number, mode: GuestMode): Root {
    const key = modeKey(gsatp, mode);
    let root = this.roots.get(key);
    if (root === undefined) {
      while (this.roots.size >= this.maxRoots && this.evictRoot()) { /* evict down to the bound */ }
      const { mfn, words } = this.spareRoots.pop() ?? this.allocShadowFrame();
      const bare = (gsatp & SATP_MODE_SV32) === 0;
      root = {
        key, gRoot: bare ? -1 : gsatp & SATP_PPN_MASK, mode: { ...mode }, mfn, words,
        l0: new Array<ShadowL0 | undefined>(1024), lastUse: 0, pins: 0, dead: false,
      };
      this.roots.set(key, root);
      this.stats.rootsBuilt++;
      this.stats.roots = this.roots.size;
      if (root.gRoot >= 0 && this.env.gfnToMfn(root.gRoot) >= 0) this.useTable(root.gRoot).roots.add(root);
    }
    root.lastUse = ++this.clock;
    return root;
  }

  /**
   * Retires the least recently activated root no vCPU has loaded and keeps its frame,
   * zeroed, for the next root: a root frame is only ever reused as a root of this domain
   * (returned to the env only by destroy()), so even a real hart left on a stale satp by
   * its caller sees nothing but this domain's own frames.
   */
  private evictRoot(): boolean {
    let victim: Root | null = null;
    for (const r of this.roots.values()) {
      if (r.pins === 0 && (victim === null || r.lastUse < victim.lastUse)) victim = r;
    }
    if (victim === null) return false;
    this.retireRoot(victim);
    victim.words.fill(0);
    this.spareRoots.push({ mfn: victim.mfn, words: victim.words });
    return true;
  }

  /** The shadow L0 under `root` for va, made from the guest's current root entry. */
  private l0For(root: Root, va: number, gRootPte: number, gTable: number): ShadowL0 {
    const index = va >>> 22;
    const key = (gRootPte & ~AD) >>> 0;
    let l0 = root.l0[index];
    if (l0 !== undefined && (l0.gRootPte !== key || l0.gTable !== gTable)) {
      // Lazy: the guest changed its root entry and has not fenced it (or fenced only a
      // va); what the walk just read wins, as on a hart that does not cache non-leaves.
      this.freeL0(l0);
      this.stats.invalidations++;
      l0 = undefined;
    }
    if (l0 !== undefined) return l0;
    const { mfn, words } = this.allocShadowFrame();
    l0 = {
      id: this.nextId++, root, index, mfn, words, gTable, gRootPte: key,
      target: new Int32Array(1024).fill(-1), dead: false,
    };
    root.l0[index] = l0;
    root.words[index] = makePte(mfn, PTE_V) | 0;
    this.l0ById.set(l0.id, l0);
    if (gTable >= 0) this.useTable(gTable).l0s.add(l0);
    return l0;
  }

  private rootEntryChanged(l0: ShadowL0): boolean {
    const root = l0.root;
    const mfn = this.env.gfnToMfn(root.gRoot);
    if (mfn < 0) return true;
    this.stats.walkMemRefs++;
    const v = readGuestWord(this.env, root.gRoot * PAGE_SIZE + l0.index * 4);
    return v === null || ((v & ~AD) >>> 0) !== l0.gRootPte;
  }

  /** Drops every L0 under `root` (and with `keepFrame` false nothing else: the root stays). */
  private clearRoot(root: Root, countInvalidations: boolean): void {
    for (const l0 of root.l0) {
      if (l0 === undefined) continue;
      this.freeL0(l0);
      if (countInvalidations) this.stats.invalidations++;
    }
  }

  private retireRoot(root: Root): void {
    this.clearRoot(root, false);
    root.dead = true;
    this.roots.delete(root.key);
    this.stats.roots = this.roots.size;
    if (root.gRoot >= 0) this.dropUse(root.gRoot, (u) => u.roots.delete(root));
  }

  private freeL0(l0: ShadowL0): void {
    if (l0.dead) return;
    if (this.policy === 'wp') {
      for (let i = 0; i < 1024; i++) if ((l0.words[i]! & PTE_W) !== 0) this.unlinkWritable(l0, i);
    }
    l0.dead = true;
    this.l0ById.delete(l0.id);
    const root = l0.root;
    if (root.l0[l0.index] === l0) {
      root.l0[l0.index] = undefined;
      root.words[l0.index] = 0;
    }
    if (l0.gTable >= 0) this.dropUse(l0.gTable, (u) => u.l0s.delete(l0));
    this.freeShadowFrame(l0.mfn);
  }

  // ---------------------------------------------------------------------------------
  // Leaves

  private setLeaf(l0: ShadowL0, i: number, gfn: number, mfn: number, perms: number): void {
    if (this.policy === 'wp' && (l0.words[i]! & PTE_W) !== 0) this.unlinkWritable(l0, i);
    if (perms === 0) {
      l0.words[i] = 0;
      l0.target[i] = -1;
      return;
    }
    l0.words[i] = shadowLeaf(mfn, perms);
    l0.target[i] = gfn;
    if (this.policy === 'wp' && (perms & PERM_W) !== 0) {
      let s = this.writable.get(gfn);
      if (s === undefined) this.writable.set(gfn, (s = new Set()));
      s.add(l0.id * 1024 + i);
    }
  }

  private clearLeaf(l0: ShadowL0, i: number): void {
    this.setLeaf(l0, i, -1, 0, 0);
  }

  private unlinkWritable(l0: ShadowL0, i: number): void {
    const gfn = l0.target[i]!;
    const s = this.writable.get(gfn);
    if (s === undefined) return;
    s.delete(l0.id * 1024 + i);
    if (s.size === 0) this.writable.delete(gfn);
  }

  private vaOf(l0: ShadowL0, i: number): number {
    return ((l0.index << 22) | (i << 12)) >>> 0;
  }

  // ---------------------------------------------------------------------------------
  // Guest tables: use tracking, write protection, re-derivation

  private isWp(gfn: number): boolean {
    return this.policy === 'wp' && this.pt.has(gfn);
  }

  private useTable(gfn: number): PtUses {
    let u = this.pt.get(gfn);
    if (u === undefined) {
      u = { roots: new Set(), l0s: new Set() };
      this.pt.set(gfn, u);
      if (this.policy === 'wp') this.writeProtect(gfn);
    }
    return u;
  }

  private dropUse(gfn: number, drop: (u: PtUses) => void): void {
    const u = this.pt.get(gfn);
    if (u === undefined) return;
    drop(u);
    if (u.roots.size === 0 && u.l0s.size === 0) {
      this.pt.delete(gfn);
      if (this.policy === 'wp') this.stats.unshadows++;
    }
  }

  /** wp: a frame just became a guest table: no shadow may map it writable any more. */
  private writeProtect(gfn: number): void {
    const slots = this.writable.get(gfn);
    if (slots === undefined) return;
    this.writable.delete(gfn);
    for (const slot of slots) {
      const l0 = this.l0ById.get(Math.floor(slot / 1024));
      if (l0 === undefined) continue;
      const i = slot % 1024;
      l0.words[i] = l0.words[i]! & ~(PTE_W | PTE_D);
      this.stats.wpDowngrades++;
      this.env.flushHostTlb?.(this.vaOf(l0, i));
    }
  }

  /** The guest word at `wa` (4-aligned guest-physical) changed: bring the shadows made from it in line. */
  private resyncWord(wa: number): void {
    const gfn = Math.floor(wa / PAGE_SIZE);
    const u = this.pt.get(gfn);
    if (u === undefined) return;
    const i = (wa & 0xfff) >>> 2;
    let g: number | null = null;
    for (const root of [...u.roots]) {
      const l0 = root.l0[i];
      if (l0 === undefined || root.dead) continue;
      if (g === null) {
        this.stats.walkMemRefs++;
        g = readGuestWord(this.env, wa) ?? 0;
      }
      // A pointer rewritten with the same table keeps its L0 (A/D mean nothing there); a
      // superpage leaf's splinter is remade on any write (A/D gate its entries).
      if (l0.gTable >= 0 && isPointer(g) && ((g & ~AD) >>> 0) === l0.gRootPte) continue;
      this.freeL0(l0);
      this.stats.invalidations++;
      this.env.flushHostTlb?.(null);
    }
    for (const l0 of [...u.l0s]) {
      if (l0.dead) continue;
      const before = l0.words[i]!;
      this.stats.walkMemRefs++;
      const g = readGuestWord(this.env, wa) ?? 0;
      this.rederive(l0, i, g);
      const after = l0.words[i]!;
      if (before !== 0 && before !== after) {
        this.stats.invalidations++;
        this.env.flushHostTlb?.(this.vaOf(l0, i));
      }
    }
  }

  /**
   * Leaf entry i of `l0` (made from a guest L0 table) from the guest PTE `g`: filled at
   * once when the guest's walk in the root's mode would allow some access without
   * changing A/D (A already set; writable only with D), cleared otherwise.
   */
  private rederive(l0: ShadowL0, i: number, g: number): void {
    if (!isLeaf(g) || (g & PTE_A) === 0) {
      this.clearLeaf(l0, i); // invalid, a pointer where a leaf must be, or not yet accessed
      return;
    }
    let perms = leafPerms(g, l0.root.mode);
    if ((g & PTE_D) === 0) perms &= ~PERM_W;
    const gfn = g >>> 10;
    const mfn = perms === 0 ? -1 : this.env.gfnToMfn(gfn);
    if (mfn < 0) {
      this.clearLeaf(l0, i);
      return;
    }
    if (this.isWp(gfn)) perms &= ~PERM_W;
    this.stats.prefills++;
    this.setLeaf(l0, i, gfn, mfn, perms);
  }

  // ---------------------------------------------------------------------------------
  // Frames

  /** A zeroed shadow frame; at the frame limit every shadow L0 is dropped first. */
  private allocShadowFrame(): { mfn: number; words: Int32Array } {
    if (this.stats.framesInUse >= this.maxFrames) this.reclaim();
    let mfn: number;
    try {
      mfn = this.env.allocFrame();
    } catch (e) {
      if (!(e instanceof ShadowOutOfMemory) || this.stats.framesInUse <= 2) throw e;
      this.reclaim();
      mfn = this.env.allocFrame();
    }
    const words = frameWords(this.env.mem, mfn);
    if (words === null) throw new ShadowOutOfMemory(`allocFrame gave frame ${mfn}, which machine memory does not hold`);
    words.fill(0); // the real walk must never see stale entries
    this.stats.framesInUse++;
    if (this.stats.framesInUse > this.stats.framesPeak) this.stats.framesPeak = this.stats.framesInUse;
    return { mfn, words };
  }

  private freeShadowFrame(mfn: number): void {
    this.stats.framesInUse--;
    this.env.freeFrame(mfn);
  }

  /** At the frame limit: every shadow L0 goes (roots stay, emptied: at most maxRoots + vCPUs of them). */
  private reclaim(): void {
    this.stats.reclaims++;
    for (const root of this.roots.values()) this.clearRoot(root, false);
    this.env.flushHostTlb?.(null);
  }
}

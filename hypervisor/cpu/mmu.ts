// Address translation for one hart: the Sv32 page-table walk, a software TLB, and the
// slow paths of loads, stores, atomics and instruction fetch.
//
// TLB layout. One `TlbSet` per translation context: U, S, M (index = privilege number) and,
// with the H extension, VU and VS (index 4 + privilege: two-stage translations, gstage.ts), each
// holding three direct-mapped tables (read, write, execute) keyed by virtual page number.
// An entry caches the frame's typed arrays so the interpreter's fast path is a tag compare
// and an array read. A set's entries are only valid for the translation context it was
// filled under; the hart flushes sets when that context changes:
//   * satp write, sfence.vma                  -> U and S sets (sfence with rs1 != x0: that page,
//                                               or all of them if a megapage was cached in pieces)
//   * mstatus.SUM / mstatus.MXR change         -> U and S sets
//   * PhysMemory.generation change             -> all sets
//   * vsatp/hgatp write, HFENCE.VVMA/GVMA, sfence.vma at V=1, vsstatus.SUM/MXR change,
//     mstatus.MXR change                       -> VU and VS sets
// Switching privilege (traps, xRET, MPRV) only switches which set is used.
// Never cached: pages overlapping an MMIO region (all tables) and write entries whose PTE
// has D clear (the walk sets D first). A watched frame's write entry (or one of a frame
// holding translated code, PhysMemory.code) is cached with W_SLOW
// in its tag: the interpreter's fast path misses it (so the store reaches the watcher) but
// xlate hits it without a walk. The TLB the guest pays for (walks are charged to HVM
// guests) is thus the same whether or not a frame is watched, e.g. whether dom0 mirrors
// the guest's RAM (dom0 in its own process) or shares it (in-process); a watch change only
// re-marks write entries (PhysMemory.watchGeneration, Mmu.rewatch).
//
// PMP (pmp.ts) is checked when an entry is filled: a frame is cached only if PMP allows
// every access of that kind and privilege inside it (Pmp.pageVerdict); a frame with mixed
// verdicts is never cached and each access is checked on the slow path. PMP CSR writes
// flush all sets. Sets are indexed by the effective privilege (MPRV included), which is
// also the privilege PMP checks, so MPRV/MPP changes need no flush.
// Debug triggers (trigger.ts): while a trigger watches a kind of access, no entry of that
// kind is filled (and tdata1 writes flush all sets), so every such access reaches the
// slow path, which evaluates the triggers; with none armed the fast paths are untouched.
//
// A/D bits: hardware-managed (Svadu-style). A walk that finds A clear, or D clear on a
// store/AMO, sets them in the PTE as part of the walk (atomic: one JS step) instead of
// raising a page fault. The update counts as a store for watched frames. The same holds for
// both stages of two-stage translation (gstage.ts).

import { pfnOf, type PhysMemory } from './memory.ts';
import {
  CAUSE_FETCH_ACCESS, CAUSE_FETCH_GUEST_PAGE_FAULT, CAUSE_FETCH_PAGE_FAULT, CAUSE_LOAD_GUEST_PAGE_FAULT,
  CAUSE_STORE_GUEST_PAGE_FAULT, TINST_PT_READ, TINST_PT_WRITE, CAUSE_LOAD_ACCESS, CAUSE_LOAD_PAGE_FAULT,
  CAUSE_MISALIGNED_LOAD, CAUSE_MISALIGNED_STORE, CAUSE_STORE_ACCESS, CAUSE_STORE_PAGE_FAULT,
  MSTATUS_MXR, MSTATUS_SUM, SATP_MODE_SV32, SATP_PPN_MASK,
} from './csr.ts';
import { GPF_PT_READ, GPF_PT_WRITE, TwoStageWalker, WALK_GUEST_PAGE_FAULT, type TwoStageRegs } from './gstage.ts';
import { PAGE_SIZE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X } from '../../protocol/sv32.ts';
import { PMP_ALLOW, PMP_DENY, Pmp } from './pmp.ts';
import { REACH_GUEST, REACH_HOST, TLB_MODEL_PAGES, TlbReach } from './tlb_reach.ts';
import {
  PHASE_ADDR, PHASE_ALL, PHASE_DATA, TRIG_EXEC, TRIG_LOAD, TRIG_STORE, Triggers, type TriggerKind, type TriggerPhase,
} from './trigger.ts';

export const ACCESS_READ = 0;
export const ACCESS_WRITE = 1;
export const ACCESS_EXEC = 2;
export type Access = typeof ACCESS_READ | typeof ACCESS_WRITE | typeof ACCESS_EXEC;

/** Walk results below zero. */
export const WALK_PAGE_FAULT = -1;
export const WALK_ACCESS_FAULT = -2;
export { WALK_GUEST_PAGE_FAULT };

export const TLB_BITS = 8;
/** In a write tag: the frame is watched, the store takes the slow path (a hit for xlate). */
export const W_SLOW = 1 << 30;
export const TLB_SIZE = 1 << TLB_BITS;
export const TLB_MASK = TLB_SIZE - 1;

// The modelled TLB's 4 KiB index is the software TLB's (keepModelSuperset relies on it).
if (TLB_MODEL_PAGES !== TLB_SIZE) throw new Error('tlb_reach.ts: TLB_MODEL_PAGES must equal TLB_SIZE');

const EMPTY_WORDS = new Int32Array(PAGE_SIZE >> 2);
const EMPTY_BYTES = new Uint8Array(PAGE_SIZE);

/** Page-fault and access-fault causes by access type. */
const PAGE_FAULT_CAUSE = [CAUSE_LOAD_PAGE_FAULT, CAUSE_STORE_PAGE_FAULT, CAUSE_FETCH_PAGE_FAULT];
const ACCESS_FAULT_CAUSE = [CAUSE_LOAD_ACCESS, CAUSE_STORE_ACCESS, CAUSE_FETCH_ACCESS];
/** Trigger kind watched by each TLB table (index = Access). */
const TRIG_KIND = [TRIG_LOAD, TRIG_STORE, TRIG_EXEC];
const CAUSE_BREAKPOINT = 3;
/** Privilege of the page-table walk's implicit accesses for PMP. */
const PRIV_S = 1;
const GUEST_PAGE_FAULT_CAUSE = [CAUSE_LOAD_GUEST_PAGE_FAULT, CAUSE_STORE_GUEST_PAGE_FAULT, CAUSE_FETCH_GUEST_PAGE_FAULT];

/** TLB set index of the first two-stage (V=1) context: 4 = VU, 5 = VS. */
export const SET_VIRT = 4;

/** Read/write/execute translation tables for one privilege level. Tags are VPNs, -1 = empty. */
export class TlbSet {
  readonly rTag = new Int32Array(TLB_SIZE).fill(-1);
  readonly rPfn = new Int32Array(TLB_SIZE);
  readonly rWords: Int32Array[] = new Array<Int32Array>(TLB_SIZE).fill(EMPTY_WORDS);
  readonly rBytes: Uint8Array[] = new Array<Uint8Array>(TLB_SIZE).fill(EMPTY_BYTES);
  readonly wTag = new Int32Array(TLB_SIZE).fill(-1);
  readonly wPfn = new Int32Array(TLB_SIZE);
  readonly wWords: Int32Array[] = new Array<Int32Array>(TLB_SIZE).fill(EMPTY_WORDS);
  readonly wBytes: Uint8Array[] = new Array<Uint8Array>(TLB_SIZE).fill(EMPTY_BYTES);
  readonly xTag = new Int32Array(TLB_SIZE).fill(-1);
  readonly xPfn = new Int32Array(TLB_SIZE);
  readonly xWords: Int32Array[] = new Array<Int32Array>(TLB_SIZE).fill(EMPTY_WORDS);

  flush(): void {
    if (this === EMPTY_TLB_SET) return;
    this.rTag.fill(-1);
    this.wTag.fill(-1);
    this.xTag.fill(-1);
  }

  flushPage(vpn: number): void {
    const i = vpn & TLB_MASK;
    if (this.rTag[i] === vpn) this.rTag[i] = -1;
    if ((this.wTag[i]! & ~W_SLOW) === vpn) this.wTag[i] = -1;
    if (this.xTag[i] === vpn) this.xTag[i] = -1;
  }
}

/** The set every context starts with: empty, never filled (Mmu.insert gives the context its own first). */
const EMPTY_TLB_SET = new TlbSet();

/**
 * What the MMU reads of its hart: the translation regime (privilege, satp, mstatus' SUM/MXR/
 * MPRV) and the flag a watcher sets to stop it. Declared here, not imported from hart.ts,
 * so the MMU sits below the hart that owns it.
 */
export interface MmuHart extends TwoStageRegs {
  readonly priv: number;
  /** The V bit (H extension): type-2 triggers never fire at V=1. */
  readonly virt: boolean;
  readonly satp: number;
  readonly mstatus: number;
  /** Decides whether triggers may fire in S-mode (breakpoint delegation). */
  readonly medeleg: number;
  /** The privilege data accesses use (MPRV). */
  dataPriv(): number;
  /** hstatus (SPVP selects VS or VU for HLV/HLVX/HSV). */
  readonly hstatus: number;
  /** TLB set of instruction fetch: the privilege, plus SET_VIRT when V=1. */
  fetchSet(): number;
  /** TLB set of explicit loads and stores (MPRV applies MPP and MPV). */
  dataSet(): number;
  stopRequested: boolean;
}

export class Mmu {
  readonly mem: PhysMemory;
  private readonly hart: MmuHart;
  /**
   * TLB sets indexed by privilege (0 = U, 1 = S, 3 = M; 2 is unused), then 4 = VU, 5 = VS.
   * Each starts as the shared EMPTY_TLB_SET (every lookup misses) and gets its own set on
   * its first fill: a PV vCPU uses two of the six, and 10,000 vCPUs would otherwise hold
   * 16 KiB per unused set. Lookups see the same hits and misses either way.
   */
  readonly sets: TlbSet[] = [EMPTY_TLB_SET, EMPTY_TLB_SET, EMPTY_TLB_SET, EMPTY_TLB_SET, EMPTY_TLB_SET, EMPTY_TLB_SET];
  /** The two-stage (V=1) walker (its `refs` counts the references of two-stage walks). */
  readonly walker: TwoStageWalker;
  /**
   * Memory references (PTE reads) made by Sv32 walks at V=0, for a host's cost accounting.
   * Counted on the TLB-miss path only; the fast path never touches it.
   */
  walkRefs = 0;
  /**
   * Software-TLB misses of translated accesses (the slow path of xlate, also taken by every
   * access to a page that is never cached: MMIO, watched frames) and the page walks among
   * them (Sv32 at V=0, two-stage at V=1), for a host's accounting. Never touched on a hit.
   */
  tlbMisses = 0;
  walks = 0;
  /**
   * The modelled TLB (tlb_reach.ts): a refill it holds makes no walk references. Flushed
   * with the sets on architectural events, not by flushCache.
   */
  readonly reach: TlbReach;
  /** Set by walk(): the last successful walk ended at a 4 MiB leaf. */
  private walkMega = false;
  /** `mem.generation` the sets were filled under. */
  gen: number;
  /** `mem.watchGeneration` the write entries were marked under. */
  wgen: number;
  /** Result of the last slow-path access: exception cause, or -1 if it completed. */
  exc = -1;
  /** Trap value for `exc` (the faulting virtual address). */
  tval = 0;
  /** Set when device or watcher code ran during an access; the engine re-syncs and clears it. */
  attention = false;
  /** LR reservation: valid flag and the reserved physical word address. */
  resValid = false;
  resPa = 0;
  /** Physical memory protection (0 entries: everything allowed). */
  readonly pmp: Pmp;
  /** Debug triggers, or null when the hart has none. */
  readonly trig: Triggers | null;
  /**
   * Set by fetchPage when the returned frame must not serve the next instruction too
   * (PMP verdict differs inside the frame, or an execute trigger is armed).
   */
  fetchOnce = false;
  /** Set by xlate when the translated frame was not cached because of PMP. */
  private pmpMixed = false;
  // Extra trap information for the fault in `exc` (H extension); the hart consumes and
  // clears them when it takes the trap.
  /** Faulting guest physical address of a guest-page fault, or -1. */
  excGpa = -1;
  /** 0, or the htinst pseudoinstruction of an implicit VS-stage page-table access. */
  excPseudo = 0;
  /** Faulting address minus the instruction's address (misaligned accesses split in two). */
  excOffset = 0;
  /** The load/store/AMO/HLV/HSV instruction that faulted (set by the engine), or 0. */
  excInst = 0;
  /** The fault was a guest virtual address accessed from V=0 (HLV, HLVX, HSV). */
  excGva = false;

  /** Tests: give every context its own set at once, as before lazy sets (the trace must not differ). */
  static eagerTlbSets = false;

  constructor(mem: PhysMemory, hart: MmuHart, opts?: { pmpEntries?: number; triggers?: number; tlbMegaEntries?: number }) {
    this.mem = mem;
    if (Mmu.eagerTlbSets) for (let k = 0; k < this.sets.length; k++) this.sets[k] = new TlbSet();
    this.hart = hart;
    this.gen = mem.generation;
    this.wgen = mem.watchGeneration;
    this.pmp = new Pmp(opts?.pmpEntries ?? 0);
    const n = opts?.triggers ?? 0;
    this.trig = n > 0 ? new Triggers(n) : null;
    // G-stage A/D updates: a watched frame's watcher hears of them; one holding translated
    // code only needs the engine to re-sync (cpu/jit).
    this.walker = new TwoStageWalker(mem, (pa) => {
      if (mem.watched[pfnOf(pa)]) this.notifyStore(pa, 4);
      else this.attention = true;
    }, this.pmp);
    this.reach = new TlbReach(opts?.tlbMegaEntries);
  }

  /** Drops VU and VS translations (vsatp/hgatp write, HFENCE.*, sfence.vma at V=1). */
  flushGuest(): void {
    this.sets[4]!.flush();
    this.sets[5]!.flush();
    this.reach.flushRegime(REACH_GUEST);
  }

  flushGuestPage(va: number): void {
    const vpn = va >>> 12;
    this.sets[4]!.flushPage(vpn);
    this.sets[5]!.flushPage(vpn);
    if (this.reach.flushPage(REACH_GUEST, va)) {
      this.sets[4]!.flush();
      this.sets[5]!.flush();
    }
  }

  flushAll(): void {
    this.flushCache();
    this.reach.flushAll();
  }

  /**
   * Drops every software-TLB entry but keeps the modelled TLB: the host's own reason
   * (PhysMemory.generation changed: a frame watched or freed somewhere), which a hardware
   * TLB never sees and which must not cost the guest walks.
   */
  flushCache(): void {
    for (const s of this.sets) s.flush();
    this.gen = this.mem.generation;
    this.wgen = this.mem.watchGeneration;
  }

  /** A frame's watched flag changed: write entries are re-marked (W_SLOW), none dropped. */
  rewatch(): void {
    const watched = this.mem.watched;
    const code = this.mem.code;
    for (const s of this.sets) {
      const tag = s.wTag;
      for (let i = 0; i < TLB_SIZE; i++) {
        const t = tag[i]!;
        if (t < 0) continue;
        const pfn = s.wPfn[i]!;
        tag[i] = watched[pfn] || code[pfn] ? (t | W_SLOW) : (t & ~W_SLOW);
      }
    }
    this.wgen = this.mem.watchGeneration;
  }

  /** Drops U and S translations (satp write, sfence.vma, SUM/MXR change). */
  flushVirtual(): void {
    this.sets[0]!.flush();
    this.sets[1]!.flush();
    this.reach.flushRegime(REACH_HOST);
  }

  flushVirtualPage(va: number): void {
    const vpn = va >>> 12;
    this.sets[0]!.flushPage(vpn);
    this.sets[1]!.flushPage(vpn);
    // A 4 MiB entry went: the software TLB may hold its other pages (tlb_reach.ts's invariant).
    if (this.reach.flushPage(REACH_HOST, va)) {
      this.sets[0]!.flush();
      this.sets[1]!.flush();
    }
  }

  /**
   * Sv32 walk (privileged spec 4.3.2) of `va` for an access of kind `acc` from privilege
   * `priv` (U or S). Returns the physical address (may be >= 2^32: Sv32 PPNs are 22 bits),
   * or WALK_PAGE_FAULT / WALK_ACCESS_FAULT. Sets A, and D on writes.
   */
  walk(va: number, acc: Access, priv: number, mstatus: number): number {
    const mem = this.mem;
    let table = (this.hart.satp & SATP_PPN_MASK) * PAGE_SIZE;
    let level = 1;
    let pte = 0;
    let pteAddr = 0;
    let words: Int32Array | null = null;
    for (;;) {
      const index = level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff;
      pteAddr = table + index * 4;
      this.walkRefs++;
      if (pteAddr >= mem.paLimit) return WALK_ACCESS_FAULT;
      words = mem.words[pfnOf(pteAddr)] ?? null;
      if (words === null || (mem.regions.length !== 0 && mem.findMmio(pteAddr))) return WALK_ACCESS_FAULT;
      // Implicit page-table reads are S-mode accesses for PMP.
      if (this.pmp.entries !== 0 && !this.pmp.check(pteAddr, 4, ACCESS_READ, PRIV_S)) return WALK_ACCESS_FAULT;
      pte = words[(pteAddr & 0xfff) >>> 2]!;
      if ((pte & PTE_V) === 0 || (pte & (PTE_R | PTE_W)) === PTE_W) return WALK_PAGE_FAULT;
      if ((pte & (PTE_R | PTE_X)) !== 0) break; // leaf
      if (--level < 0) return WALK_PAGE_FAULT;
      table = (pte >>> 10) * PAGE_SIZE;
    }
    // Leaf permission checks.
    if (acc === ACCESS_EXEC) {
      if ((pte & PTE_X) === 0) return WALK_PAGE_FAULT;
    } else if (acc === ACCESS_READ) {
      if ((pte & PTE_R) === 0 && ((mstatus & MSTATUS_MXR) === 0 || (pte & PTE_X) === 0)) return WALK_PAGE_FAULT;
    } else if ((pte & PTE_W) === 0) {
      return WALK_PAGE_FAULT;
    }
    if (priv === 0) {
      if ((pte & PTE_U) === 0) return WALK_PAGE_FAULT;
    } else if ((pte & PTE_U) !== 0) {
      // S-mode never executes user pages; it may load/store them only with SUM.
      if (acc === ACCESS_EXEC || (mstatus & MSTATUS_SUM) === 0) return WALK_PAGE_FAULT;
    }
    const ppn = pte >>> 10;
    if (level === 1 && (ppn & 0x3ff) !== 0) return WALK_PAGE_FAULT; // misaligned megapage
    const need = acc === ACCESS_WRITE ? PTE_A | PTE_D : PTE_A;
    if ((pte & need) !== need) {
      if (this.pmp.entries !== 0 && !this.pmp.check(pteAddr, 4, ACCESS_WRITE, PRIV_S)) return WALK_ACCESS_FAULT;
      if (mem.watched[pfnOf(pteAddr)] !== 0 && mem.beforeWatchedStore !== null) mem.beforeWatchedStore(pteAddr, 4);
      words[(pteAddr & 0xfff) >>> 2] = pte | need;
      if (mem.watched[pfnOf(pteAddr)]) this.notifyStore(pteAddr, 4);
      if (mem.code[pfnOf(pteAddr)]) this.attention = true;
    }
    this.walkMega = level === 1;
    return level === 1
      ? (ppn >>> 10) * 0x400000 + (va & 0x3fffff)
      : ppn * PAGE_SIZE + (va & 0xfff);
  }

  /**
   * Translates `va` (unsigned) for an access of kind `acc` in the hart's current context
   * (data accesses honour MPRV), using and filling the TLB. Returns the physical address,
   * or a WALK_* fault code (WALK_ACCESS_FAULT also when PMP denies the `len` bytes at va,
   * which must lie in one page).
   */
  xlate(va: number, acc: Access, len = 1): number {
    const hart = this.hart;
    const priv = acc === ACCESS_EXEC ? hart.fetchSet() : hart.dataSet();
    const set = this.sets[priv]!;
    const vpn = va >>> 12;
    const i = vpn & TLB_MASK;
    const tag = acc === ACCESS_READ ? set.rTag : acc === ACCESS_WRITE ? set.wTag : set.xTag;
    if (tag[i] === vpn || (acc === ACCESS_WRITE && tag[i] === (vpn | W_SLOW))) {
      const pfn = acc === ACCESS_READ ? set.rPfn[i]! : acc === ACCESS_WRITE ? set.wPfn[i]! : set.xPfn[i]!;
      return pfn * PAGE_SIZE + (va & 0xfff);
    }
    let pa: number;
    this.tlbMisses++;
    const refs = this.walkRefs;
    const refs2 = this.walker.refs;
    if (priv >= SET_VIRT) {
      this.walks++;
      pa = this.walker.translate(va, acc, priv - SET_VIRT, hart);
      if (pa < 0) return pa;
      // A refill the modelled TLB holds: hardware would not have walked (tlb_reach.ts).
      if (this.reach.refill(priv, acc, va, this.walker.mega, this.walker.vsMega)) this.walker.refs = refs2;
      this.keepModelSuperset(tag, i, vpn);
    } else if (priv === 3 || (hart.satp & SATP_MODE_SV32) === 0) {
      pa = va;
    } else {
      this.walks++;
      pa = this.walk(va, acc, priv, hart.mstatus);
      if (pa < 0) return pa;
      if (this.reach.refill(priv, acc, va, this.walkMega, this.walkMega)) this.walkRefs = refs;
      this.keepModelSuperset(tag, i, vpn);
    }
    this.pmpMixed = false;
    let cache = true;
    if (this.pmp.entries !== 0) {
      // Sets 4/5 are VU/VS: PMP sees their effective privilege, U or S.
      const pmpPriv = priv >= SET_VIRT ? priv - SET_VIRT : priv;
      const v = this.pmp.pageVerdict(Math.floor(pa / PAGE_SIZE), acc, pmpPriv);
      if (v === PMP_DENY) return WALK_ACCESS_FAULT;
      if (v !== PMP_ALLOW) {
        if (!this.pmp.check(pa, len, acc, pmpPriv)) return WALK_ACCESS_FAULT;
        this.pmpMixed = true;
        cache = false;
      }
    }
    if (pa < this.mem.paLimit) {
      const pfn = pfnOf(pa);
      // An allocated frame nobody has touched yet gets its storage now (lazy frames).
      if (this.mem.frames[pfn] === null && this.mem.populate !== null) this.mem.populate(pfn);
      if (cache) this.insert(priv, acc, vpn, pfn);
    }
    return pa;
  }

  /**
   * After a refill of the modelled TLB (tlb_reach.ts's invariant: it holds every software
   * entry): the software entry at index `i` of the refilled table (`tag`) may hold only the
   * refilled page (the software TLB does not cache every frame the model does), and a
   * replaced 4 MiB entry takes its regime's software entries with it.
   */
  private keepModelSuperset(tag: Int32Array, i: number, vpn: number): void {
    if (tag[i] !== vpn) tag[i] = -1;
    const evicted = this.reach.lastEvicted;
    if (evicted >= 0) {
      const f = evicted === REACH_GUEST ? SET_VIRT : 0;
      this.sets[f]!.flush();
      this.sets[f + 1]!.flush();
    }
  }

  /** Caches vpn -> pfn in `set` for `acc`, unless the frame must take the slow path. */
  private insert(priv: number, acc: Access, vpn: number, pfn: number): void {
    const mem = this.mem;
    const bytes = mem.frames[pfn];
    const words = mem.words[pfn];
    if (!bytes || !words) return;
    if (mem.regions.length !== 0 && this.pageHasMmio(pfn)) return;
    if (this.trig !== null && (this.trig.armed & TRIG_KIND[acc]!) !== 0) return;
    let set = this.sets[priv]!;
    if (set === EMPTY_TLB_SET) set = this.sets[priv] = new TlbSet();
    const i = vpn & TLB_MASK;
    if (acc === ACCESS_READ) {
      set.rTag[i] = vpn; set.rPfn[i] = pfn; set.rWords[i] = words; set.rBytes[i] = bytes;
    } else if (acc === ACCESS_WRITE) {
      // Watched frames and frames holding translated code (cpu/jit) are cached with W_SLOW:
      // stores take the slow path (the watcher; `attention` for code) but never walk again,
      // so the translations a guest uses and the walks it is charged do not depend on who
      // watches its memory or on the engine (the interpreter never marks code).
      set.wTag[i] = mem.watched[pfn] || mem.code[pfn] ? vpn | W_SLOW : vpn; set.wPfn[i] = pfn; set.wWords[i] = words; set.wBytes[i] = bytes;
    } else {
      set.xTag[i] = vpn; set.xPfn[i] = pfn; set.xWords[i] = words;
    }
  }

  private pageHasMmio(pfn: number): boolean {
    const lo = pfn * PAGE_SIZE;
    const hi = lo + PAGE_SIZE;
    for (const r of this.mem.regions) if (r.base < hi && lo < r.base + r.size) return true;
    return false;
  }

  /** True if [pa, pa+len) (within one page) is ordinary RAM: backed and not MMIO. */
  private isRam(pa: number, len: number): boolean {
    if (pa + len > this.mem.paLimit) return false;
    if (!this.mem.frames[pfnOf(pa)]) return false;
    if (this.mem.regions.length !== 0) {
      for (const r of this.mem.regions) if (r.base < pa + len && pa < r.base + r.size) return false;
    }
    return true;
  }

  private fault(cause: number, tval: number): void {
    this.exc = cause;
    this.tval = tval >>> 0;
  }

  private translateFault(code: number, acc: Access, va: number, offset = 0): void {
    if (code === WALK_GUEST_PAGE_FAULT) {
      const w = this.walker;
      this.fault(GUEST_PAGE_FAULT_CAUSE[acc]!, va);
      this.excGpa = w.gpa;
      this.excPseudo = w.implicit === GPF_PT_READ ? TINST_PT_READ : w.implicit === GPF_PT_WRITE ? TINST_PT_WRITE : 0;
    } else {
      this.fault(code === WALK_PAGE_FAULT ? PAGE_FAULT_CAUSE[acc]! : ACCESS_FAULT_CAUSE[acc]!, va);
    }
    this.excOffset = offset;
  }

  /** Forgets the extra trap information (the hart calls this when it takes a trap). */
  clearExcInfo(): void {
    this.excGpa = -1;
    this.excPseudo = 0;
    this.excOffset = 0;
    this.excInst = 0;
    this.excGva = false;
  }

  notifyStore(pa: number, size: number): void {
    this.attention = true;
    const cb = this.mem.onStore;
    if (cb !== null && cb(pa, size)) this.hart.stopRequested = true;
  }

  // ---------------------------------------------------------------------------------
  // Slow paths. Each sets `exc` (-1 on success) and may set `attention`.

  /** Instruction fetch: the frame holding `pc` (aligned), or null with `exc` set. */
  fetchPage(pc: number): Int32Array | null {
    this.exc = -1;
    const set = this.sets[this.hart.fetchSet()]!;
    const vpn = pc >>> 12;
    const i = vpn & TLB_MASK;
    this.fetchOnce = false;
    if (set.xTag[i] === vpn) return set.xWords[i]!;
    const watch = this.trig !== null && (this.trig.armed & TRIG_EXEC) !== 0;
    if (watch && this.triggerFires(TRIG_EXEC, pc, 4, 0, PHASE_ADDR)) return null;
    const pa = this.xlate(pc, ACCESS_EXEC, 4);
    if (pa < 0) {
      this.translateFault(pa, ACCESS_EXEC, pc);
      return null;
    }
    if (!this.isRam(pa, 4)) {
      this.fault(CAUSE_FETCH_ACCESS, pc);
      return null;
    }
    const words = this.mem.words[pfnOf(pa)]!;
    if (watch && this.triggerFires(TRIG_EXEC, pc, 4, words[(pa & 0xfff) >>> 2]!, PHASE_DATA)) return null;
    this.fetchOnce = watch || this.pmpMixed;
    return words;
  }

  /**
   * Evaluates the triggers for one event in the hart's current mode; when a chain fires,
   * records a breakpoint (cause 3, tval = va) in `exc`/`tval` and returns true.
   */
  private triggerFires(kind: TriggerKind, va: number, size: number, data: number, phase: TriggerPhase): boolean {
    const h = this.hart;
    if (!this.trig!.fires(kind, va, size, data, phase, h.priv, h.mstatus, h.medeleg, h.virt)) return false;
    this.fault(CAUSE_BREAKPOINT, va);
    return true;
  }

  /** Mask of the low `size` bytes (data compare values). */
  private static sizeMask(size: number): number {
    return size >= 4 ? 0xffffffff : (1 << (8 * size)) - 1;
  }

  /** Load of `size` bytes at `va`; returns the value zero-extended (size 4: as int32). */
  load(va: number, size: number): number {
    this.exc = -1;
    va >>>= 0;
    if (this.trig !== null && (this.trig.armed & TRIG_LOAD) !== 0) {
      if (this.triggerFires(TRIG_LOAD, va, size, 0, PHASE_ADDR)) return 0;
      const v = this.loadUnwatched(va, size);
      if (this.exc < 0 && this.triggerFires(TRIG_LOAD, va, size, (v & Mmu.sizeMask(size)) >>> 0, PHASE_DATA)) return 0;
      return v;
    }
    return this.loadUnwatched(va, size);
  }

  private loadUnwatched(va: number, size: number): number {
    if ((va & (size - 1)) !== 0) return this.loadMisaligned(va, size);
    const pa = this.xlate(va, ACCESS_READ, size);
    if (pa < 0) {
      this.translateFault(pa, ACCESS_READ, va);
      return 0;
    }
    if (pa >= this.mem.paLimit) {
      this.fault(CAUSE_LOAD_ACCESS, va);
      return 0;
    }
    const mem = this.mem;
    if (mem.regions.length !== 0) {
      const r = mem.findMmio(pa);
      if (r !== undefined) {
        if (pa + size > r.base + r.size) {
          this.fault(CAUSE_LOAD_ACCESS, va);
          return 0;
        }
        this.attention = true;
        const v = r.device.read(pa - r.base, size as 1 | 2 | 4);
        return size === 4 ? v | 0 : v & (size === 2 ? 0xffff : 0xff);
      }
    }
    const f = mem.frames[pfnOf(pa)];
    if (!f) {
      this.fault(CAUSE_LOAD_ACCESS, va);
      return 0;
    }
    const off = pa & 0xfff;
    if (size === 4) return mem.words[pfnOf(pa)]![off >>> 2]!;
    if (size === 2) return f[off]! | (f[off + 1]! << 8);
    return f[off]!;
  }

  private loadMisaligned(va: number, size: number): number {
    const firstLen = Math.min(size, PAGE_SIZE - (va & 0xfff));
    const pa0 = this.xlate(va, ACCESS_READ, firstLen);
    if (pa0 < 0) {
      this.translateFault(pa0, ACCESS_READ, va);
      return 0;
    }
    if (!this.isRam(pa0, firstLen)) {
      this.fault(CAUSE_LOAD_ACCESS, va);
      return 0;
    }
    let pa1 = 0;
    const va1 = (va + firstLen) >>> 0;
    if (firstLen < size) {
      pa1 = this.xlate(va1, ACCESS_READ, size - firstLen);
      if (pa1 < 0) {
        this.translateFault(pa1, ACCESS_READ, va1, firstLen);
        return 0;
      }
      if (!this.isRam(pa1, size - firstLen)) {
        this.fault(CAUSE_LOAD_ACCESS, va1);
        return 0;
      }
    }
    let v = 0;
    for (let k = 0; k < size; k++) {
      const pa = k < firstLen ? pa0 + k : pa1 + (k - firstLen);
      v |= this.mem.frames[pfnOf(pa)]![pa & 0xfff]! << (8 * k);
    }
    return v;
  }

  /** Store of the low `size` bytes of `value` at `va`. */
  store(va: number, size: number, value: number): void {
    this.exc = -1;
    va >>>= 0;
    if (this.trig !== null && (this.trig.armed & TRIG_STORE) !== 0 &&
      this.triggerFires(TRIG_STORE, va, size, (value & Mmu.sizeMask(size)) >>> 0, PHASE_ALL)) return;
    if ((va & (size - 1)) !== 0) {
      this.storeMisaligned(va, size, value);
      return;
    }
    const pa = this.xlate(va, ACCESS_WRITE, size);
    if (pa < 0) {
      this.translateFault(pa, ACCESS_WRITE, va);
      return;
    }
    if (pa >= this.mem.paLimit) {
      this.fault(CAUSE_STORE_ACCESS, va);
      return;
    }
    const mem = this.mem;
    if (mem.regions.length !== 0) {
      const r = mem.findMmio(pa);
      if (r !== undefined) {
        if (pa + size > r.base + r.size) {
          this.fault(CAUSE_STORE_ACCESS, va);
          return;
        }
        this.attention = true;
        const v = size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
        r.device.write(pa - r.base, size as 1 | 2 | 4, v);
        return;
      }
    }
    const pfn = pfnOf(pa);
    const f = mem.frames[pfn];
    if (!f) {
      this.fault(CAUSE_STORE_ACCESS, va);
      return;
    }
    const off = pa & 0xfff;
    if (mem.watched[pfn] !== 0 && mem.beforeWatchedStore !== null) mem.beforeWatchedStore(pa, size);
    if (size === 4) mem.words[pfn]![off >>> 2] = value;
    else if (size === 2) {
      f[off] = value;
      f[off + 1] = value >> 8;
    } else f[off] = value;
    if (mem.watched[pfn]) this.notifyStore(pa, size);
    if (mem.code[pfn]) this.attention = true; // translated code may be stale (cpu/jit)
  }

  private storeMisaligned(va: number, size: number, value: number): void {
    const firstLen = Math.min(size, PAGE_SIZE - (va & 0xfff));
    const pa0 = this.xlate(va, ACCESS_WRITE, firstLen);
    if (pa0 < 0) {
      this.translateFault(pa0, ACCESS_WRITE, va);
      return;
    }
    if (!this.isRam(pa0, firstLen)) {
      this.fault(CAUSE_STORE_ACCESS, va);
      return;
    }
    let pa1 = 0;
    const va1 = (va + firstLen) >>> 0;
    if (firstLen < size) {
      pa1 = this.xlate(va1, ACCESS_WRITE, size - firstLen);
      if (pa1 < 0) {
        this.translateFault(pa1, ACCESS_WRITE, va1, firstLen);
        return;
      }
      if (!this.isRam(pa1, size - firstLen)) {
        this.fault(CAUSE_STORE_ACCESS, va1);
        return;
      }
    }
    const mem = this.mem;
    if (mem.beforeWatchedStore !== null) {
      if (mem.watched[pfnOf(pa0)] !== 0) mem.beforeWatchedStore(pa0, firstLen);
      if (firstLen < size && mem.watched[pfnOf(pa1)] !== 0) mem.beforeWatchedStore(pa1, size - firstLen);
    }
    for (let k = 0; k < size; k++) {
      const pa = k < firstLen ? pa0 + k : pa1 + (k - firstLen);
      mem.frames[pfnOf(pa)]![pa & 0xfff] = value >>> (8 * k);
    }
    if (mem.watched[pfnOf(pa0)]) this.notifyStore(pa0, firstLen);
    if (firstLen < size && mem.watched[pfnOf(pa1)]) this.notifyStore(pa1, size - firstLen);
    if (mem.code[pfnOf(pa0)] || (firstLen < size && mem.code[pfnOf(pa1)])) this.attention = true;
  }

  // ---------------------------------------------------------------------------------
  // Hypervisor virtual-machine loads and stores (HLV, HLVX, HSV): two-stage translation as
  // VS (hstatus.SPVP=1) or VU, never cached. Misaligned addresses raise address-misaligned
  // exceptions (the spec allows it; the hypervisor reads aligned words). A fault reports a
  // guest virtual address (GVA=1) although V=0.

  /** HLV.* / HLVX.* (`hlvx`: execute permission instead of read). Value zero-extended. */
  hlvLoad(va: number, size: number, hlvx: boolean): number {
    this.exc = -1;
    va >>>= 0;
    if ((va & (size - 1)) !== 0) {
      this.fault(CAUSE_MISALIGNED_LOAD, va);
      this.excGva = true;
      return 0;
    }
    const h = this.hart;
    const spvp = (h.hstatus >>> 8) & 1;
    const pa = this.walker.translate(va, hlvx ? ACCESS_EXEC : ACCESS_READ, spvp, h);
    // PMP checks the access with the privilege it is made as (VS -> S, VU -> U), as a load.
    if (pa < 0 || (this.pmp.entries !== 0 && !this.pmp.check(pa, size, ACCESS_READ, spvp))) {
      this.translateFault(pa < 0 ? pa : WALK_ACCESS_FAULT, ACCESS_READ, va);
      this.excGva = true;
      return 0;
    }
    const mem = this.mem;
    const r = mem.regions.length !== 0 ? mem.findMmio(pa) : undefined;
    if (r !== undefined && pa + size <= r.base + r.size) {
      this.attention = true;
      return r.device.read(pa - r.base, size as 1 | 2 | 4);
    }
    const words = r === undefined ? this.ramWords(pa) : null;
    if (words === null) {
      this.fault(CAUSE_LOAD_ACCESS, va);
      this.excGva = true;
      return 0;
    }
    const f = mem.frames[pfnOf(pa)]!;
    const off = pa & 0xfff;
    if (size === 4) return words[off >>> 2]!;
    if (size === 2) return f[off]! | (f[off + 1]! << 8);
    return f[off]!;
  }

  /** HSV.*: stores the low `size` bytes of `value` at guest virtual `va`. */
  hsvStore(va: number, size: number, value: number): void {
    this.exc = -1;
    va >>>= 0;
    if ((va & (size - 1)) !== 0) {
      this.fault(CAUSE_MISALIGNED_STORE, va);
      this.excGva = true;
      return;
    }
    const h = this.hart;
    const spvp = (h.hstatus >>> 8) & 1;
    const pa = this.walker.translate(va, ACCESS_WRITE, spvp, h);
    if (pa < 0 || (this.pmp.entries !== 0 && !this.pmp.check(pa, size, ACCESS_WRITE, spvp))) {
      this.translateFault(pa < 0 ? pa : WALK_ACCESS_FAULT, ACCESS_WRITE, va);
      this.excGva = true;
      return;
    }
    const mem = this.mem;
    const r = mem.regions.length !== 0 ? mem.findMmio(pa) : undefined;
    if (r !== undefined && pa + size <= r.base + r.size) {
      this.attention = true;
      r.device.write(pa - r.base, size as 1 | 2 | 4, size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff));
      return;
    }
    const words = r === undefined ? this.ramWords(pa) : null;
    if (words === null) {
      this.fault(CAUSE_STORE_ACCESS, va);
      this.excGva = true;
      return;
    }
    const pfn = pfnOf(pa);
    const f = mem.frames[pfn]!;
    const off = pa & 0xfff;
    if (mem.watched[pfn] !== 0 && mem.beforeWatchedStore !== null) mem.beforeWatchedStore(pa, size);
    if (size === 4) words[off >>> 2] = value;
    else if (size === 2) {
      f[off] = value;
      f[off + 1] = value >> 8;
    } else f[off] = value;
    if (mem.watched[pfn]) this.notifyStore(pa, size);
    if (mem.code[pfn]) this.attention = true;
  }

  /** Words of the RAM frame holding `pa` (populating a lazy frame), or null. */
  private ramWords(pa: number): Int32Array | null {
    const mem = this.mem;
    if (pa >= mem.paLimit) return null;
    const pfn = pfnOf(pa);
    if (mem.frames[pfn] === null && mem.populate !== null) mem.populate(pfn);
    return mem.words[pfn] ?? null;
  }

  /**
   * Translates an aligned word for LR/SC/AMO and returns its physical address, or -1 with
   * `exc` set. Atomics need ordinary RAM (no MMIO): anything else is an access fault.
   */
  private atomicAddr(va: number, acc: Access): number {
    if ((va & 3) !== 0) {
      this.fault(acc === ACCESS_READ ? CAUSE_MISALIGNED_LOAD : CAUSE_MISALIGNED_STORE, va);
      return -1;
    }
    const pa = this.xlate(va, acc, 4);
    if (pa < 0) {
      this.translateFault(pa, acc, va);
      return -1;
    }
    if (!this.isRam(pa, 4)) {
      this.fault(ACCESS_FAULT_CAUSE[acc]!, va);
      return -1;
    }
    return pa;
  }

  /** LR.W: loads the word and reserves it. */
  loadReserved(va: number): number {
    this.exc = -1;
    va >>>= 0;
    const watch = this.trig !== null && (this.trig.armed & TRIG_LOAD) !== 0;
    if (watch && this.triggerFires(TRIG_LOAD, va, 4, 0, PHASE_ADDR)) return 0;
    const pa = this.atomicAddr(va, ACCESS_READ);
    if (pa < 0) return 0;
    const v = this.mem.words[pfnOf(pa)]![(pa & 0xfff) >>> 2]!;
    if (watch && this.triggerFires(TRIG_LOAD, va, 4, v >>> 0, PHASE_DATA)) return 0;
    this.resValid = true;
    this.resPa = pa;
    return v;
  }

  /**
   * SC.W: stores if the reservation is valid for this word. Returns 0 on success, 1 on
   * failure. Translation and alignment faults are raised even if it would fail; any SC
   * that does not fault clears the reservation.
   */
  storeConditional(va: number, value: number): number {
    this.exc = -1;
    va >>>= 0;
    if (this.trig !== null && (this.trig.armed & TRIG_STORE) !== 0 &&
      this.triggerFires(TRIG_STORE, va, 4, value >>> 0, PHASE_ALL)) return 1;
    const pa = this.atomicAddr(va, ACCESS_WRITE);
    if (pa < 0) return 1;
    const ok = this.resValid && this.resPa === pa;
    this.resValid = false;
    if (!ok) return 1;
    const pfn = pfnOf(pa);
    if (this.mem.watched[pfn] !== 0 && this.mem.beforeWatchedStore !== null) this.mem.beforeWatchedStore(pa, 4);
    this.mem.words[pfn]![(pa & 0xfff) >>> 2] = value;
    if (this.mem.watched[pfn]) this.notifyStore(pa, 4);
    if (this.mem.code[pfn]) this.attention = true;
    return 0;
  }

  /** AMO*.W: `funct5` selects the operation. Returns the old memory word. */
  amo(va: number, funct5: number, src: number): number {
    this.exc = -1;
    va >>>= 0;
    const trig = this.trig;
    const watch = trig !== null && (trig.armed & (TRIG_LOAD | TRIG_STORE)) !== 0;
    if (watch && (this.triggerFires(TRIG_LOAD, va, 4, 0, PHASE_ADDR) || this.triggerFires(TRIG_STORE, va, 4, 0, PHASE_ADDR))) return 0;
    const pa = this.atomicAddr(va, ACCESS_WRITE);
    if (pa < 0) return 0;
    const pfn = pfnOf(pa);
    const words = this.mem.words[pfn]!;
    const idx = (pa & 0xfff) >>> 2;
    const old = words[idx]!;
    let v: number;
    switch (funct5) {
      case 0x01: v = src; break; // amoswap
      case 0x00: v = (old + src) | 0; break; // amoadd
      case 0x04: v = old ^ src; break; // amoxor
      case 0x0c: v = old & src; break; // amoand
      case 0x08: v = old | src; break; // amoor
      case 0x10: v = old < src ? old : src; break; // amomin
      case 0x14: v = old > src ? old : src; break; // amomax
      case 0x18: v = (old >>> 0) < (src >>> 0) ? old : src; break; // amominu
      default: v = (old >>> 0) > (src >>> 0) ? old : src; break; // 0x1c amomaxu
    }
    if (watch && (this.triggerFires(TRIG_LOAD, va, 4, old >>> 0, PHASE_DATA) || this.triggerFires(TRIG_STORE, va, 4, v >>> 0, PHASE_DATA))) return 0;
    if (this.mem.watched[pfn] !== 0 && this.mem.beforeWatchedStore !== null) this.mem.beforeWatchedStore(pa, 4);
    words[idx] = v;
    if (this.mem.watched[pfn]) this.notifyStore(pa, 4);
    if (this.mem.code[pfn]) this.attention = true;
    return old;
  }
}

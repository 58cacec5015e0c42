// A machine for shadow-paging tests: machine memory, a guest-physical space (RAM at
// 0x80000000 on scattered machine frames, an MMIO gap at 0x10000000), a bounded pool of
// frames for shadow tables, and the real MMU's walk to run accesses through a shadow root
// as the real hart (in U-mode) would.

import { ACCESS_EXEC, ACCESS_READ, ACCESS_WRITE, Mmu, type MmuHart, WALK_ACCESS_FAULT } from '../../hypervisor/cpu/mmu.ts';
import { PhysMemory } from '../../hypervisor/cpu/memory.ts';
import { type Access, type GuestMode, Shadow, type ShadowEnv, type ShadowFault, ShadowOutOfMemory, type ShadowPolicy } from '../../hypervisor/hvm/shadow/index.ts';

export const RAM_GFN = 0x80000;
export const MMIO_GFN = 0x10000;
const GUEST_MFN_BASE = 0x100;
const POOL_BASE = 0x800;

export const MODES: readonly GuestMode[] = [
  { priv: 0, sum: false, mxr: false }, { priv: 0, sum: false, mxr: true }, { priv: 0, sum: true, mxr: false },
  { priv: 1, sum: false, mxr: false }, { priv: 1, sum: true, mxr: false }, { priv: 1, sum: false, mxr: true },
  { priv: 1, sum: true, mxr: true },
];
export const S: GuestMode = { priv: 1, sum: false, mxr: false };
export const U_MODE: GuestMode = { priv: 0, sum: false, mxr: false };

/** What the real hart gets for an access: a machine address, or the shadow's final answer. */
export type HostResult = { kind: 'ok'; mpa: number } | Exclude<ShadowFault, { kind: 'fixed' }> | { kind: 'stuck' } | { kind: 'hostaccess' };

export class ShadowRig {
  readonly mem = new PhysMemory(0x1000);
  /** Guest RAM frame k (gfn RAM_GFN + k) lives at machine frame mfnOf[k]. */
  readonly guestMfn: number[];
  readonly pool: number[] = [];
  readonly allocated = new Set<number>();
  readonly env: ShadowEnv;
  readonly hart: MmuHart & { satp: number } = { priv: 0, satp: 0, mstatus: 0, dataPriv: () => 0, stopRequested: false };
  readonly mmu: Mmu;
  hostFlushes = 0;

  constructor(readonly guestFrames = 32, poolFrames = 64) {
    // Scattered on purpose: guest-contiguous is not machine-contiguous.
    this.guestMfn = Array.from({ length: guestFrames }, (_, k) => GUEST_MFN_BASE + ((k * 7) % guestFrames) * 2);
    for (const m of this.guestMfn) this.mem.ensureFrame(m);
    for (let i = 0; i < poolFrames; i++) {
      this.pool.push(POOL_BASE + i);
      this.mem.ensureFrame(POOL_BASE + i);
    }
    this.mmu = new Mmu(this.mem, this.hart);
    this.env = {
      mem: this.mem,
      gfnToMfn: (gfn) => (gfn >= RAM_GFN && gfn < RAM_GFN + this.guestFrames ? this.guestMfn[gfn - RAM_GFN]! : -1),
      allocFrame: () => {
        const m = this.pool.pop();
        if (m === undefined) throw new ShadowOutOfMemory();
        this.allocated.add(m);
        // Dirty on purpose: the shadow must not rely on the caller zeroing.
        this.mem.words[m]!.fill(0);
        return m;
      },
      freeFrame: (m) => {
        if (!this.allocated.delete(m)) throw new Error(`freeFrame(${m}): not allocated`);
        this.mem.words[m]!.fill(-1); // a freed frame's old entries must never be walked again
        this.pool.push(m);
      },
      flushHostTlb: () => { this.hostFlushes++; },
    };
  }

  shadow(policy: ShadowPolicy, opts?: { maxFrames?: number; maxRoots?: number }): Shadow {
    return new Shadow(this.env, policy, opts);
  }

  mfnOfGfn(gfn: number): number {
    return this.env.gfnToMfn(gfn);
  }

  /** Guest-physical word write/read (the guest's own store, bypassing any shadow). */
  gw(gpa: number, value: number): void {
    this.mem.words[this.mfnOfGfn(Math.floor(gpa / 4096))]![(gpa & 0xfff) >>> 2] = value;
  }

  gr(gpa: number): number {
    return this.mem.words[this.mfnOfGfn(Math.floor(gpa / 4096))]![(gpa & 0xfff) >>> 2]! >>> 0;
  }

  /** One walk of the shadow by the real MMU in U-mode (no SUM, no MXR). */
  hostWalk(satp: number, va: number, acc: Access): number {
    this.hart.satp = satp;
    return this.mmu.walk(va >>> 0, acc === 'r' ? ACCESS_READ : acc === 'w' ? ACCESS_WRITE : ACCESS_EXEC, 0, 0);
  }

  /** The real hart's access, retried through fault() while it says 'fixed' (bounded). */
  access(sh: Shadow, satp: number, va: number, acc: Access, mode: GuestMode, vcpu = 0): HostResult {
    for (let k = 0; k < 4; k++) {
      const pa = this.hostWalk(satp, va, acc);
      if (pa >= 0) return { kind: 'ok', mpa: pa };
      if (pa === WALK_ACCESS_FAULT) return { kind: 'hostaccess' };
      const f = sh.fault(va, acc, mode, vcpu);
      if (f.kind !== 'fixed') return f;
    }
    return { kind: 'stuck' };
  }

  /** Machine address of guest-physical gpa (RAM only). */
  mpa(gpa: number): number {
    return this.mfnOfGfn(Math.floor(gpa / 4096)) * 4096 + (gpa & 0xfff);
  }
}

export function gpaOf(k: number): number {
  return (RAM_GFN + k) * 4096;
}

export function satpOf(rootGfn: number): number {
  return (0x80000000 | rootGfn) >>> 0;
}

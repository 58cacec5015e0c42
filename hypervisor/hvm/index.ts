// Making a domain HVM: its board, its vCPUs (each a hart, the shared HvmVcpu and the mode
// that runs it) and its guest paging, once its RAM has been written (builder.ts of domain/
// calls this). The mode is the one pluggable part: `trap` (trap_mode.ts) or `hw` (the H
// extension, hw_mode.ts, over the G-stage tables of gstage_tables.ts).

import { Hart } from '../cpu/hart.ts';
import { Vcpu, type Domain } from '../domain/domain.ts';
import { HVM_BOARD, type HvmBoot, type HvmMode, type ShadowSync } from '../../xenguest/hvm_image.ts';
import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { HvmBoard, type HvmDeps } from './board.ts';
import type { GuestPagingFactory, ShadowEnv } from './paging.ts';
import type { VirtMode } from './mode.ts';
import { TrapMode } from './trap_mode.ts';
import { HwMode } from './hw_mode.ts';
import { GStageTables } from './gstage_tables.ts';
import { Shadow, ShadowOutOfMemory } from './shadow/index.ts';
import { OutOfMemoryError } from '../mm/frame_table.ts';
import { HSM_STATE, HvmVcpu } from './vcpu.ts';
import { HVM_EXIT_REASONS } from './stats.ts';
import { setGuestTranslator } from '../mm/guest_access.ts';
import type { HvmDomainStats } from '../../protocol/wire.ts';

export { HvmBoard, type HvmDeps } from './board.ts';
export { HvmVcpu } from './vcpu.ts';
export { HVM_EXIT_REASONS, HvmStats, type HvmExitReason } from './stats.ts';

/** A mode the hypervisor cannot run yet. */
export class HvmModeUnavailable extends Error {
  override readonly name = 'HvmModeUnavailable';
}

/** Trap mode's guest paging: the shadow page tables of hvm/shadow/ (tests may pass a stand-in). */
export const shadowPaging: GuestPagingFactory = (env, policy) => new Shadow(env, policy, { maxFrames: SHADOW_MAX_FRAMES });

/** Shadow frames per domain (the shadow drops and refills everything at this bound). */
export const SHADOW_MAX_FRAMES = 1024;

export interface HvmArchOptions {
  mode: HvmMode;
  shadowSync: ShadowSync;
  boot: HvmBoot;
  /** Guest paging for trap mode (default: the shadow code). */
  paging?: GuestPagingFactory;
}

/**
 * The virtualization modes: how a vCPU of each `hvm_mode` is run (mode.ts). The one
 * pluggable part of an HVM vCPU; everything else (board, SBI, lines, costs) is shared.
 * Trap mode runs on the domain's shadow paging (board.paging).
 */
export type VirtModeFactory = (v: HvmVcpu, board: HvmBoard, gstage: GStageTables | null) => VirtMode;
export const VIRT_MODES: Record<HvmMode, VirtModeFactory | null> = {
  trap: (v, board) => new TrapMode(v, board, board.paging!),
  // The H extension: the guest at V=1 over the domain's G-stage tables (hw_mode.ts).
  hw: (v, board, gstage) => new HwMode(v, board, gstage!),
};

/** Refuses what this hypervisor cannot run (before anything is built). */
export function checkHvmMode(mode: HvmMode): void {
  if (!VIRT_MODES[mode]) throw new HvmModeUnavailable(`unknown hvm_mode "${String(mode)}"; expected trap or hw`);
}

/**
 * Turns `domain` (its RAM written) into an HVM domain: board, vCPUs, paging; vCPU 0 at the
 * entry in virtual S-mode with a0 = 0 and a1 = the device tree's address, the others
 * stopped (SBI HSM starts them).
 */
export function createHvmArch(domain: Domain, deps: HvmDeps, o: HvmArchOptions): HvmBoard {
  checkHvmMode(o.mode);
  const makeMode = VIRT_MODES[o.mode]!;
  const board = new HvmBoard(domain, deps, o.mode, o.shadowSync, o.boot.vcpus);
  const frames = deps.hv.frames;
  const env: ShadowEnv = {
    mem: deps.hv.mem,
    gfnToMfn: (gfn) => board.gfnToMfn(gfn),
    allocFrame: () => {
      let mfn: number;
      try {
        mfn = frames.alloc(domain.domid);
      } catch (e) {
        if (e instanceof OutOfMemoryError) throw new ShadowOutOfMemory(`no machine frame left for d${domain.domid}'s shadow page tables`);
        throw e;
      }
      frames.frameStorage(mfn).fill(0);
      return mfn;
    },
    freeFrame: (mfn) => frames.release(mfn),
    // A shadow entry removed or weakened: every hart of the domain drops what it cached.
    flushHostTlb: (va) => {
      for (const v of board.vcpus) {
        const h = v.vcpu.hart;
        if (va === null) h.flushTlb();
        else {
          h.mmu.flushVirtualPage(va >>> 0);
          h.resync = true;
        }
      }
    },
  };
  // Trap mode: the shadow; hw mode: the G-stage tables built from the p2m, shared by the vCPUs.
  if (o.mode === 'trap') board.paging = (o.paging ?? shadowPaging)(env, o.shadowSync);
  const gstage: GStageTables | null =
    o.mode !== 'hw'
      ? null
      : new GStageTables(
          {
            frameWords: (mfn) => frames.frameWords(mfn),
            allocExtent: (order) => {
              const mfn = frames.allocExtent(domain.domid, order);
              // An OutOfMemoryError, so a create that cannot fit is ENOMEM, as for its RAM.
              if (mfn < 0) throw new OutOfMemoryError(`out of machine memory for the G-stage tables of d${domain.domid}`);
              for (let i = 0; i < 2 ** order; i++) frames.frameStorage(mfn + i).fill(0);
              return mfn;
            },
            freeFrame: (mfn) => frames.release(mfn),
          },
          domain.p2m,
          domain.domid,
        );
  if (gstage) {
    // PVHVM frames already placed outside RAM (the xenstore and console rings).
    board.gstage = gstage;
    for (const [gfn, mfn] of board.xen.mappings) gstage.setSpecial(gfn, mfn);
  }
  for (let id = 0; id < o.boot.vcpus; id++) {
    // Only hw domains' harts have the H extension; PV and trap-mode harts are unchanged.
    const vcpu = new Vcpu(domain, id, new Hart(deps.hv.mem, { hartId: id, hExt: o.mode === 'hw', tlbMegaEntries: deps.costs.tlbMegaEntries }));
    const hv = new HvmVcpu(vcpu, board);
    hv.mode = makeMode(hv, board, gstage);
    vcpu.arch = hv;
    // Hypercall pointers are the guest's virtual addresses, through its own page tables.
    setGuestTranslator(vcpu.hart, (va, acc) => hv.mode.guestTranslate(va, acc));
    vcpu.online = id === 0;
    vcpu.initialised = id === 0;
    board.vcpus.push(hv);
    domain.vcpus.push(vcpu);
  }
  domain.hvm = board;
  domain.onEvent = (port) => board.onEvent(port);
  const v0 = board.vcpus[0]!;
  v0.hsm = HSM_STATE.started;
  try {
    v0.mode.reset(o.boot.entry, 0, o.boot.dtbAddr);
  } catch (e) {
    // Trap mode's first shadow root: a create that cannot fit is ENOMEM, as for its RAM.
    if (e instanceof ShadowOutOfMemory) throw new OutOfMemoryError(`out of machine memory for the shadow page tables of d${domain.domid}`);
    throw e;
  }
  return board;
}

/** Guest-physical address of RAM page `pfn` (the p2m's index), for builders. */
export function hvmPfnToGpa(pfn: number): number {
  return HVM_BOARD.ramBase + pfn * PAGE_SIZE;
}

/** A domain's HVM exits by reason, as the control query (hvmStats) reports them; null for a PV domain. */
export function hvmDomainStats(d: Domain): HvmDomainStats | null {
  if (!(d.hvm instanceof HvmBoard)) return null;
  const b = d.hvm;
  return {
    domid: d.domid,
    name: d.name,
    mode: b.mode,
    shadowSync: b.shadowSync,
    exits: HVM_EXIT_REASONS.map((reason) => ({ reason, count: b.stats.count[reason], ns: b.stats.ns[reason] })),
  };
}

// The G-stage (second-stage) page tables of a hardware-assisted HVM domain: Sv32x4 tables
// the hypervisor builds from the domain's p2m, which hgatp points at while its vCPUs run at
// V=1 (privileged spec 20211203, 8.5.1). What Xen calls the p2m table and KVM the stage-2
// (g-stage) page table.
//
//   * Root: 16 KiB (4096 PTEs, GPA bits 33:22), 16 KiB-aligned as hgatp requires: one
//     order-2 extent of machine frames.
//   * Guest RAM (HVM_BOARD.ramBase upwards, the p2m in order) is mapped with leaves
//     V|R|W|X|U|A|D (every G-stage access is a U-mode access, so U=1; A and D preset so the
//     walk never writes them). A 4 MiB-aligned run of 1024 guest frames whose machine
//     frames are contiguous and 4 MiB-aligned is one megapage (one reference less per
//     G-stage walk); anything else is 4 KiB leaves in an L0 table.
//   * Device ranges (UART, CLINT, PLIC, virtio slots) and everything else stay unmapped:
//     an access to them is a guest-page fault (20, 21, 23) that exits to the hypervisor.
//   * Bounded: at most 4 + ceil(RAM / 4 MiB) frames (the root and one L0 per 4 MiB of RAM),
//     allocated at build time and given back with the domain (destroy). The domain's p2m
//     does not change after the build (no ballooning for HVM domains yet), so the tables
//     are never edited afterwards.
//   * VMID: hgatp.VMID is the domain id modulo 2^7 (VMIDLEN 7 on RV32). Each vCPU has its
//     own hart and the hart's TLB is not shared, so VMIDs never alias in the simulator; the
//     field is written as real hardware would need it.

import { PAGE_SIZE, PTE_A, PTE_D, PTE_R, PTE_U, PTE_V, PTE_W, PTE_X } from '../../protocol/sv32.ts';
import { HGATP_MODE_SV32X4 } from '../cpu/csr.ts';
import { HVM_BOARD } from '../../xenguest/hvm_image.ts';

/** What the G-stage builder needs of the hypervisor for one domain. */
export interface GStageEnv {
  /** The little-endian words of an allocated frame (storage given on first use). */
  frameWords(mfn: number): Int32Array;
  /** 2^order contiguous, naturally aligned, zeroed machine frames; the first mfn. Throws when none are left. */
  allocExtent(order: number): number;
  freeFrame(mfn: number): void;
}

/** Frames per Sv32x4 root table (16 KiB). */
export const GSTAGE_ROOT_FRAMES = 4;
const MEGA_FRAMES = 1024;
const LEAF = PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D;
/** hgatp.VMID: bits 28:22, 7 bits on RV32. */
export const VMID_BITS = 7;

export class GStageTables {
  /** First mfn of the 16 KiB root. */
  readonly rootMfn: number;
  /** Every frame held (root frames first), for bounds and teardown. */
  private readonly held: number[] = [];
  /** Megapage and 4 KiB leaves written (for tests and the report). */
  megapages = 0;
  pages = 0;
  private destroyed = false;

  constructor(
    private readonly env: GStageEnv,
    /** The domain's p2m: guest frame (from ramBase) -> machine frame. */
    p2m: Uint32Array,
    readonly vmid: number,
  ) {
    this.rootMfn = env.allocExtent(2);
    for (let i = 0; i < GSTAGE_ROOT_FRAMES; i++) this.held.push(this.rootMfn + i);
    try {
      this.map(p2m);
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  /** The hgatp value: Sv32x4, this domain's VMID, the root's PPN. */
  get hgatp(): number {
    return (HGATP_MODE_SV32X4 | ((this.vmid & ((1 << VMID_BITS) - 1)) << 22) | this.rootMfn) >>> 0;
  }

  /** Frames held now. */
  get frames(): number {
    return this.held.length;
  }

  private writeRoot(index: number, pte: number): void {
    this.env.frameWords(this.rootMfn + (index >>> 10))[index & 1023] = pte | 0;
  }

  private map(p2m: Uint32Array): void {
    const baseGfn = HVM_BOARD.ramBase / PAGE_SIZE;
    for (let first = 0; first < p2m.length; first += MEGA_FRAMES) {
      const gfn = baseGfn + first;
      const rootIndex = Math.floor(gfn / MEGA_FRAMES); // GPA bits 33:22
      const n = Math.min(MEGA_FRAMES, p2m.length - first);
      const mfn0 = p2m[first]!;
      let contiguous = n === MEGA_FRAMES && gfn % MEGA_FRAMES === 0 && mfn0 % MEGA_FRAMES === 0;
      for (let k = 1; contiguous && k < n; k++) contiguous = p2m[first + k] === mfn0 + k;
      if (contiguous) {
        this.writeRoot(rootIndex, makePte(mfn0, LEAF));
        this.megapages++;
        continue;
      }
      const l0 = this.env.allocExtent(0);
      this.held.push(l0);
      const words = this.env.frameWords(l0);
      for (let k = 0; k < n; k++) {
        words[(gfn + k) % MEGA_FRAMES] = makePte(p2m[first + k]!, LEAF) | 0;
        this.pages++;
      }
      this.writeRoot(rootIndex, makePte(l0, PTE_V));
    }
  }

  /**
   * Maps guest frame `gfn` (outside RAM: PVHVM's shared_info, grant-table and ring frames)
   * to `mfn` with a 4 KiB leaf, or unmaps it (null). The caller flushes the harts' TLBs.
   */
  setSpecial(gfn: number, mfn: number | null): void {
    if (this.destroyed) return;
    const rootIndex = Math.floor(gfn / MEGA_FRAMES);
    const rootWords = this.env.frameWords(this.rootMfn + (rootIndex >>> 10));
    let root = rootWords[rootIndex & 1023]! >>> 0;
    if ((root & PTE_V) !== 0 && (root & (PTE_R | PTE_W | PTE_X)) !== 0) throw new RangeError(`G-stage: gfn 0x${gfn.toString(16)} lies in a RAM megapage`);
    if ((root & PTE_V) === 0) {
      if (mfn === null) return;
      const l0 = this.env.allocExtent(0);
      this.held.push(l0);
      root = makePte(l0, PTE_V) >>> 0;
      this.writeRoot(rootIndex, root);
    }
    const words = this.env.frameWords(root >>> 10);
    words[gfn % MEGA_FRAMES] = mfn === null ? 0 : makePte(mfn, LEAF) | 0;
  }

  /** Gives every frame back (idempotent: each vCPU's mode calls it). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const mfn of this.held) this.env.freeFrame(mfn);
    this.held.length = 0;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}

function makePte(ppn: number, flags: number): number {
  return ((ppn << 10) | flags) >>> 0;
}

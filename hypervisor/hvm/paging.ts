// What trap mode needs of shadow paging (hypervisor/hvm/shadow/, class Shadow): the
// interface it is written against, so the board can be built and tested before and apart
// from the shadow's own module. The product constructs the real Shadow (hvm/index.ts).

import type { PhysMemory } from '../cpu/memory.ts';

/** What the shadow code may ask of the hypervisor for one domain. */
export interface ShadowEnv {
  readonly mem: PhysMemory;
  /** Machine frame of guest frame `gfn`, or -1 when it is not RAM (MMIO or nothing). */
  gfnToMfn(gfn: number): number;
  /** A zeroed machine frame for a shadow table; throws when none is left. */
  allocFrame(): number;
  freeFrame(mfn: number): void;
  /** A shadow entry was removed or lost a permission: harts drop cached translations of va (null: all). */
  flushHostTlb?(va: number | null): void;
}

/** The guest's translation context: virtual privilege and the sstatus bits that change what a page means. */
export interface GuestMode {
  priv: 0 | 1;
  sum: boolean;
  mxr: boolean;
}

export type ShadowFault =
  | { kind: 'fixed' }
  | { kind: 'guest'; cause: number }
  | { kind: 'mmio'; gpa: number }
  | { kind: 'ptwrite'; gpa: number };

export type ShadowPolicy = 'wp' | 'lazy';

/** The calls trap mode makes (Shadow in hvm/shadow/ implements them). */
export interface GuestPaging {
  /** The machine satp for vCPU `vcpu` to run `gsatp` (the guest's satp, bare or Sv32) in `mode`. */
  activate(gsatp: number, mode: GuestMode, vcpu: number): number;
  /** vCPU `vcpu` stopped: its root is no longer in use. */
  deactivate?(vcpu: number): void;
  /** A page fault vCPU `vcpu`'s hart took at `va`: fixed, the guest's own, MMIO, or a write to a protected guest page table. */
  fault(va: number, acc: 'r' | 'w' | 'x', mode: GuestMode, vcpu: number): ShadowFault;
  /** A guest store of `size` bytes to a write-protected page-table page at `gpa`. */
  ptWrite(gpa: number, size: 1 | 2 | 4, value: number): void;
  /** The guest's sfence.vma (null = all addresses). */
  sfence(va: number | null): void;
  destroy(): void;
  /** Guest memory written other than by the guest's own stores (SBI console reads, device DMA): shadows brought in line. */
  noteGuestWrite?(gpa: number, len: number): void;
  /** The p2m changed (a frame placed or moved outside RAM, PVHVM's add_to_physmap): drop every shadow. */
  flushAll?(): void;
  /** Guest PTE reads the shadow's software walks made so far (charged per reference). */
  readonly stats?: { readonly walkMemRefs: number };
}

export type GuestPagingFactory = (env: ShadowEnv, policy: ShadowPolicy) => GuestPaging;

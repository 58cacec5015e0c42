// What trap mode needs of shadow paging (hypervisor/hvm/shadow/, class Shadow): the
// interface it is written against, so the board can be built and tested before and apart
// from the shadow's own module. The product constructs the real Shadow (hvm/index.ts).

import type { GuestMode, ShadowEnv, ShadowFault, ShadowPolicy } from './shadow/index.ts';

// The shadow's own types: what the hypervisor gives it, the guest's translation context, and
// what a fault comes to (defined once, in hvm/shadow/).
export type { GuestMode, ShadowEnv, ShadowFault, ShadowPolicy };

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

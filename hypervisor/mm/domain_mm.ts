// A domain's PV memory from birth to death: the builder's bootstrap page tables become
// validated, pinned tables like any the guest makes later, and destruction gives every frame
// back once nothing references it (Xen's domain_relinquish_resources / relinquish_memory).

import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { gnttabReleaseMappings } from '../gnttab/ops.ts';
import { FrameType, isPageTable, isWritableClass, type FrameTable } from './frame_table.ts';
import { dropBaseptr, pinTable, setBaseptr } from './mmuext.ts';
import { DomainMm } from './state.ts';
import { HYPERVISOR_L2_SLOT } from '../../protocol/xen/arch_riscv32.ts';
import {
  PTES_PER_TABLE,
  finishMm,
  forceDevalidate,
  mmContext,
  putPageAndType,
  type MmCtx,
} from './page_types.ts';
import { PTE_V, PTE_W } from '../../protocol/sv32.ts';
import { GNTMAP } from '../../protocol/xen/grant_table.ts';

/**
 * Called by the domain builder once the bootstrap page tables are written: records the M2P
 * for every pfn, pins the L2 (validating it and every L1 it points to, as a toolstack's
 * MMUEXT_PIN_L2_TABLE would) and makes it vCPU 0's base. Throws if the tables are invalid.
 */
export function mmInitDomain(frames: FrameTable, domain: Domain, l2Mfn: number): void {
  const ctx: MmCtx = {
    frames,
    mem: frames.mem,
    domain: (id) => (id === domain.domid ? domain : undefined),
    flush: new Set(),
    crash: () => {},
  };
  domain.mm = new DomainMm(domain.vcpus.length);
  domain.p2m.forEach((mfn, pfn) => frames.setM2p(mfn, pfn));
  let rc = pinTable(ctx, domain, l2Mfn, FrameType.L2PageTable);
  const boot = domain.vcpus[0];
  if (rc === 0 && boot) rc = setBaseptr(ctx, boot, l2Mfn);
  if (rc < 0) throw new Error(`d${domain.domid}: bootstrap page tables refused (errno ${-rc})`);
}

/**
 * Domain destruction: releases what it mapped of others' grants, drops vCPU base pointers
 * and pins (devalidating its page tables, which drops every reference they held), then the
 * allocation reference of each of its frames. A frame another domain still maps (a grant
 * mapping, a privileged foreign mapping) stays allocated until that reference goes.
 */
export function mmDestroyDomain(hv: HypervisorServices, domain: Domain): void {
  const ctx = mmContext(hv);
  const f = ctx.frames;
  gnttabReleaseMappings(ctx, domain);
  for (const v of domain.vcpus) dropBaseptr(ctx, v);
  const mine = f.framesOf(domain.domid);
  const stillMine = (mfn: number) => f.ownerOf(mfn) === domain.domid && f.refCount(mfn) > 0;
  for (const mfn of mine) {
    if (stillMine(mfn) && f.isPinned(mfn)) {
      f.setPinned(mfn, false);
      putPageAndType(ctx, mfn);
    }
  }
  // Anything still typed as a page table is referenced from nowhere that survives.
  for (const mfn of mine) if (stillMine(mfn) && isPageTable(f.typeOf(mfn))) forceDevalidate(ctx, mfn);
  for (const mfn of mine) {
    if (!stillMine(mfn)) continue;
    if (f.isXenheap(mfn) && f.typeCount(mfn) > 0) f.setTypeState(mfn, f.typeOf(mfn), f.typeCount(mfn) - 1);
    if (f.clearAllocated(mfn)) f.putPage(mfn);
  }
  finishMm(ctx);
}

/**
 * Recomputes every frame's expected references from the page tables, pins, vCPU bases and
 * grant device mappings of `domains` and compares them with the frame table. Returns the
 * discrepancies (empty = consistent), including any frame that is both a page table in use
 * and mapped writable. For tests and debugging.
 */
export function auditFrames(frames: FrameTable, domains: Iterable<Domain>): string[] {
  const want = new Map<number, { count: number; types: number }>();
  const at = (mfn: number) => {
    let e = want.get(mfn);
    if (!e) {
      e = { count: 0, types: 0 };
      want.set(mfn, e);
    }
    return e;
  };
  const problems: string[] = [];
  const doms = [...domains];
  const hex = (n: number) => `0x${n.toString(16)}`;
  for (const d of doms) {
    for (const mfn of frames.framesOf(d.domid)) {
      const e = at(mfn);
      if (frames.isAllocatedRef(mfn)) e.count++;
      if (frames.isXenheap(mfn)) e.types++;
      if (frames.isPinned(mfn)) {
        e.count++;
        e.types++;
      }
      const t = frames.typeOf(mfn);
      const words = frames.mem.words[mfn];
      if (!words || frames.typeCount(mfn) === 0 || !frames.isValidated(mfn)) continue;
      if (t === FrameType.L1PageTable) {
        for (let i = 0; i < PTES_PER_TABLE; i++) {
          const pte = words[i]! >>> 0;
          if (!(pte & PTE_V) || !frames.isValid(pte >>> 10)) continue;
          const target = at(pte >>> 10);
          target.count++;
          if (pte & PTE_W) {
            target.types++;
            if (!isWritableClass(frames.typeOf(pte >>> 10))) problems.push(`frame ${hex(pte >>> 10)} is a page table but L1 ${hex(mfn)}[${i}] maps it writable`);
          }
        }
      } else if (t === FrameType.L2PageTable) {
        for (let i = 0; i < HYPERVISOR_L2_SLOT; i++) {
          const pte = words[i]! >>> 0;
          if (!(pte & PTE_V) || pte >>> 10 === mfn) continue;
          const target = at(pte >>> 10);
          target.count++;
          target.types++;
          if (frames.typeOf(pte >>> 10) !== FrameType.L1PageTable) problems.push(`L2 ${hex(mfn)}[${i}] points to a frame that is not an L1`);
        }
        if (words[HYPERVISOR_L2_SLOT] !== 0) problems.push(`L2 ${hex(mfn)} has an entry in the hypervisor's slot`);
      }
    }
    for (const base of d.mm?.base ?? []) {
      if (base === 0) continue;
      at(base).count++;
      at(base).types++;
    }
    for (const map of d.gnttab?.maptrack ?? []) {
      if (!map || !(map.flags & GNTMAP.device_map)) continue;
      const act = map.rgt.active.get(map.ref);
      if (!act) {
        problems.push(`d${d.domid} maps grant ${map.ref} of d${map.dom}, which is not active`);
        continue;
      }
      at(act.mfn).count++;
      if (!(map.flags & GNTMAP.readonly)) at(act.mfn).types++;
    }
  }
  for (const [mfn, e] of want) {
    const count = frames.refCount(mfn);
    const types = frames.typeCount(mfn);
    if (count !== e.count) problems.push(`frame ${hex(mfn)}: ${count} references, expected ${e.count}`);
    if (types !== e.types) problems.push(`frame ${hex(mfn)}: ${types} type references (type ${frames.typeOf(mfn)}), expected ${e.types}`);
  }
  return problems;
}

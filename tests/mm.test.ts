// The PV MMU: mmu_update, update_va_mapping and mmuext_op, called as the trap handler calls
// them, with Xen's reference counting checked after every step (auditFrames recounts every
// reference from the page tables themselves).

import { describe, expect, it } from 'vitest';
import { FrameType } from '../hypervisor/mm/frame_table.ts';
import { PTE_GNTTAB } from '../hypervisor/mm/page_types.ts';
import { CSR_SATP } from '../hypervisor/cpu/csr.ts';
import { MMU, MMUEXT, UVMF } from '../protocol/xen/mm.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { HYPERVISOR } from '../protocol/xen/hypercall.ts';
import {
  ARG,
  DONE,
  E,
  MiB,
  MmGuest,
  RO,
  RW,
  SPARE_VA,
  UNMAPPED,
  expectConsistent,
  frameState,
  machine,
  pte,
  PTE_A,
  PTE_R,
  PTE_V,
  PTE_W,
  PTE_X,
} from './mm_helpers.ts';

const SECOND_4M = (g: MmGuest) => g.layout.virtBase + 4 * MiB; // no L1 there in an 8 MiB guest

function setup(opts: { privileged?: boolean } = {}) {
  const hv = machine();
  const g = MmGuest.create(hv, opts);
  return { hv, g, f: hv.frames };
}

/** Everything a refused request must leave as it was: the frame table and the page tables. */
function snapshot(g: MmGuest, extra: number[] = []) {
  const mfns = [...g.domain.p2m, g.domain.sharedInfoMfn, ...extra];
  const tables = [g.l2Mfn, g.l1MfnFor(g.layout.virtBase), ...extra].map((m) => [...(g.hv.mem.words[m] ?? [])].join(','));
  return { frames: frameState(g.hv, mfns), tables };
}

describe('bootstrap page tables', () => {
  it('are validated and pinned, with Xen\'s counts', () => {
    const { hv, g, f } = setup();
    const l2 = g.l2Mfn;
    const l1 = g.l1MfnFor(g.layout.virtBase);
    expect(f.typeOf(l2)).toBe(FrameType.L2PageTable);
    expect(f.isPinned(l2)).toBe(true);
    expect(f.isValidated(l2)).toBe(true);
    expect(f.typeCount(l2)).toBe(2); // the pin and vCPU 0's base
    expect(f.refCount(l2)).toBe(4); // allocation, pin, base, its read-only mapping
    expect(f.typeOf(l1)).toBe(FrameType.L1PageTable);
    expect(f.isPinned(l1)).toBe(false);
    expect(f.typeCount(l1)).toBe(1); // the L2 entry
    expect(f.refCount(l1)).toBe(3); // allocation, L2 entry, read-only mapping
    const data = g.mfnOfVa(ARG);
    expect(f.typeOf(data)).toBe(FrameType.Writable);
    expect([f.typeCount(data), f.refCount(data)]).toEqual([1, 2]);
    const unmapped = g.freeMfn(0);
    expect([f.typeCount(unmapped), f.refCount(unmapped)]).toEqual([0, 1]);
    expect(f.m2pOf(g.mfn(7))).toBe(7);
    expect(g.domain.mm!.base[0]).toBe(l2);
    expect(f.totPages(g.domid)).toBe(2048);
    expectConsistent(hv);
  });

  it('are all released when the domain is destroyed', () => {
    const { hv, g } = setup();
    expect(hv.frames.allocated).toBe(2048 + 1);
    hv.destroyDomain(g.domain);
    expect(hv.frames.allocated).toBe(0);
    expect(hv.mem.frameCount).toBe(0);
  });
});

describe('mmu_update: changes that are allowed', () => {
  it('remaps a VA to another of the domain\'s frames, moving the references', () => {
    const { hv, g, f } = setup();
    const old = g.mfnOfVa(SPARE_VA);
    const fresh = g.freeMfn(0);
    g.fillFrame(fresh, 0x11223344);
    expect(g.mmuUpdate([[g.ptePa(SPARE_VA), pte(fresh, RW)]])).toEqual({ rc: 0, done: 1 });
    expect(g.readPhys32(g.ptePa(SPARE_VA))).toBe(pte(fresh, RW));
    expect(g.u32(SPARE_VA)).toBe(0x11223344);
    expect([f.typeCount(fresh), f.refCount(fresh)]).toEqual([1, 2]);
    expect([f.typeCount(old), f.refCount(old)]).toEqual([0, 1]);
    expectConsistent(hv);
  });

  it('maps read-only without a type reference, and clears an entry', () => {
    const { hv, g, f } = setup();
    const fresh = g.freeMfn(0);
    expect(g.setPte(g.ptePa(SPARE_VA), pte(fresh, RO))).toBe(0);
    expect([f.typeCount(fresh), f.refCount(fresh)]).toEqual([0, 2]);
    expect(g.setPte(g.ptePa(SPARE_VA), 0)).toBe(0);
    expect([f.typeCount(fresh), f.refCount(fresh)]).toEqual([0, 1]);
    expectConsistent(hv);
  });

  it('builds a new L1, hooks it into the L2 and maps through it', () => {
    const { hv, g, f } = setup();
    const l1 = g.freeMfn(0);
    const data = g.freeMfn(1);
    g.fillFrame(data, 0x5a5a5a5a);
    const va = SECOND_4M(g);
    // The new table may hold entries before it becomes one: they are validated then.
    expect(g.setPte(l1 * 4096 + 3 * 4, pte(data, RW))).toBe(0); // an ordinary store into a free frame
    expect(g.setPte(g.l2ePa(va), pte(l1, PTE_V))).toBe(0);
    expect(f.typeOf(l1)).toBe(FrameType.L1PageTable);
    expect([f.typeCount(l1), f.refCount(l1), f.isValidated(l1)]).toEqual([1, 2, true]);
    expect([f.typeCount(data), f.refCount(data)]).toEqual([1, 2]);
    expect(g.u32(va + 3 * 4096)).toBe(0x5a5a5a5a);
    expect(g.setPte(l1 * 4096 + 4 * 4, pte(data, RO))).toBe(0);
    expect(g.u32(va + 4 * 4096)).toBe(0x5a5a5a5a);
    expectConsistent(hv);
    // Unhooking the L1 devalidates it and drops everything it held.
    expect(g.setPte(g.l2ePa(va), 0)).toBe(0);
    expect([f.typeCount(l1), f.refCount(l1), f.isValidated(l1)]).toEqual([0, 1, false]);
    expect([f.typeCount(data), f.refCount(data)]).toEqual([0, 1]);
    expectConsistent(hv);
  });

  it('MMU_PT_UPDATE_PRESERVE_AD keeps the A and D bits of the old entry', () => {
    const { g } = setup();
    const fresh = g.freeMfn(0);
    expect(g.setPte(g.ptePa(SPARE_VA), pte(fresh, RW))).toBe(0);
    expect(g.setPte(g.ptePa(SPARE_VA) + MMU.PT_UPDATE_PRESERVE_AD, pte(fresh, PTE_V | PTE_R | PTE_W))).toBe(0);
    expect(g.readPhys32(g.ptePa(SPARE_VA))).toBe(pte(fresh, RW));
    expect(g.setPte(g.ptePa(SPARE_VA), pte(fresh, PTE_V | PTE_R | PTE_W))).toBe(0);
    expect(g.readPhys32(g.ptePa(SPARE_VA))).toBe(pte(fresh, PTE_V | PTE_R | PTE_W));
  });

  it('changes only access/dirty/user/exec bits without new references (fast path)', () => {
    const { hv, g, f } = setup();
    const m = g.mfnOfVa(SPARE_VA);
    const before = [f.typeCount(m), f.refCount(m)];
    expect(g.setPte(g.ptePa(SPARE_VA), pte(m, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A))).toBe(0);
    expect([f.typeCount(m), f.refCount(m)]).toEqual(before);
    expectConsistent(hv);
  });

  it('MMU_MACHPHYS_UPDATE sets the M2P entry of an own frame', () => {
    const { g, f } = setup();
    const m = g.freeMfn(5);
    expect(g.mmuUpdate([[m * 4096 + MMU.MACHPHYS_UPDATE, 0x1234]])).toEqual({ rc: 0, done: 1 });
    expect(f.m2pOf(m)).toBe(0x1234);
  });

  it('accepts a NULL done pointer, and stops a batch at the first failure', () => {
    const { hv, g, f } = setup();
    const a = g.freeMfn(0);
    const b = g.freeMfn(1);
    expect(g.mmuUpdate([[g.ptePa(SPARE_VA), pte(a, RW)]], DOMID.SELF, { done: 0 }).rc).toBe(0);
    const r = g.mmuUpdate([
      [g.ptePa(SPARE_VA), pte(b, RW)],
      [g.ptePa(SPARE_VA + 4096), pte(g.l2Mfn, RW)], // refused
      [g.ptePa(SPARE_VA + 8192), pte(a, RW)], // never attempted
    ]);
    expect(r).toEqual({ rc: E('EBUSY'), done: 1 });
    expect(g.readPhys32(g.ptePa(SPARE_VA))).toBe(pte(b, RW));
    expect(g.readPhys32(g.ptePa(SPARE_VA + 8192)) >>> 10).toBe(g.mfnOfVa(SPARE_VA + 8192));
    expect(f.refCount(a)).toBe(1);
    expectConsistent(hv);
  });

  it('a privileged domain maps and edits another domain\'s frames with foreigndom', () => {
    const hv = machine();
    const dom0 = MmGuest.create(hv, { privileged: true, name: 'dom0' });
    const domU = MmGuest.create(hv, { name: 'domU' });
    const victim = domU.freeMfn(0);
    // Map domU's frame into dom0's address space.
    expect(dom0.setPte(dom0.ptePa(SPARE_VA), pte(victim, RW), domU.domid)).toBe(0);
    dom0.putU32(SPARE_VA, 0xfeedface);
    expect(hv.frames.refCount(victim)).toBe(2);
    // Edit domU's own page table (pt owner in the high half of foreigndom).
    const fd = ((domU.domid + 1) << 16) | domU.domid;
    expect(dom0.setPte(domU.ptePa(SPARE_VA), pte(victim, RO), fd)).toBe(0);
    expect(domU.u32(SPARE_VA)).toBe(0xfeedface);
    expect(dom0.mmuUpdate([[victim * 4096 + MMU.MACHPHYS_UPDATE, 99]], domU.domid).rc).toBe(0);
    expect(hv.frames.m2pOf(victim)).toBe(99);
    expectConsistent(hv);
  });
});

describe('mmu_update: refusals change nothing', () => {
  function refused(g: MmGuest, reqs: [number, number | [number, number]][], rc: number, foreigndom: number = DOMID.SELF, extra: number[] = []) {
    const before = snapshot(g, extra);
    expect(g.mmuUpdate(reqs, foreigndom)).toEqual({ rc, done: 0 });
    expect(snapshot(g, extra)).toEqual(before);
    expectConsistent(g.hv);
  }

  it('a foreign frame: -EBUSY', () => {
    const hv = machine();
    const a = MmGuest.create(hv, { name: 'a' });
    const b = MmGuest.create(hv, { name: 'b' });
    refused(a, [[a.ptePa(SPARE_VA), pte(b.freeMfn(0), RW)]], E('EBUSY'), DOMID.SELF, [b.freeMfn(0)]);
    refused(a, [[a.ptePa(SPARE_VA), pte(b.freeMfn(0), RO)]], E('EBUSY'), DOMID.SELF, [b.freeMfn(0)]);
    refused(a, [[a.ptePa(SPARE_VA), pte(b.domain.sharedInfoMfn, RW)]], E('EBUSY'));
  });

  it('a free frame (-EBUSY) or no RAM at all (-EPERM)', () => {
    const { hv, g } = setup();
    const free = hv.frames.firstMfn + hv.frames.nrFrames - 1;
    refused(g, [[g.ptePa(SPARE_VA), pte(free, RW)]], E('EBUSY'));
    refused(g, [[g.ptePa(SPARE_VA), pte(0x100, RW)]], E('EPERM'));
  });

  it('a page table mapped writable: its own L1 or L2 (-EBUSY)', () => {
    const { g } = setup();
    refused(g, [[g.ptePa(SPARE_VA), pte(g.l1MfnFor(g.layout.virtBase), RW)]], E('EBUSY'));
    refused(g, [[g.ptePa(SPARE_VA), pte(g.l2Mfn, RW)]], E('EBUSY'));
    // Upgrading the existing read-only mapping of the page tables to writable.
    refused(g, [[g.ptePa(g.layout.ptVa), pte(g.l2Mfn, RW)]], E('EBUSY'));
  });

  it('an L2 entry pointing at something that is not an L1 (-EINVAL)', () => {
    const { g } = setup();
    const va = SECOND_4M(g);
    refused(g, [[g.l2ePa(va), pte(g.mfnOfVa(ARG), PTE_V)]], E('EINVAL')); // mapped writable
    refused(g, [[g.l2ePa(va), pte(g.l2Mfn, PTE_V)]], E('EINVAL')); // an L2 (itself)
    refused(g, [[g.l2ePa(va), pte(g.domain.sharedInfoMfn, PTE_V)]], E('EINVAL'));
  });

  it('an L2 entry pointing at an L1 that fails validation: the L1 stays untyped', () => {
    const hv = machine();
    const g = MmGuest.create(hv);
    const other = MmGuest.create(hv, { name: 'other' });
    const l1 = g.freeMfn(0);
    expect(g.setPte(l1 * 4096, pte(other.freeMfn(0), RO))).toBe(0); // plain store: not a table yet
    refused(g, [[g.l2ePa(SECOND_4M(g)), pte(l1, PTE_V)]], E('EBUSY'), DOMID.SELF, [l1]);
    expect(hv.frames.typeOf(l1)).toBe(FrameType.Writable);
  });

  it('the hypervisor\'s L2 slot 1023 (-EPERM)', () => {
    const { g } = setup();
    refused(g, [[g.l2ePa(0xffc0_0000), pte(g.freeMfn(0), PTE_V)]], E('EPERM'));
    refused(g, [[g.l2ePa(0xffc0_0000), 0]], E('EPERM'));
  });

  it('4 MiB leaves and reserved bits in an L2 entry (-EINVAL)', () => {
    const { g } = setup();
    const va = SECOND_4M(g);
    refused(g, [[g.l2ePa(va), pte(g.freeMfn(0) & ~0x3ff, RW)]], E('EINVAL'));
    refused(g, [[g.l2ePa(va), pte(g.freeMfn(0), PTE_V | PTE_A)]], E('EINVAL'));
  });

  it('malformed L1 entries: W without R, a pointer at leaf level, the grant bit, a high word (-EINVAL)', () => {
    const { g } = setup();
    const m = g.freeMfn(0);
    refused(g, [[g.ptePa(SPARE_VA), pte(m, PTE_V | PTE_W)]], E('EINVAL'));
    refused(g, [[g.ptePa(SPARE_VA), pte(m, PTE_V)]], E('EINVAL'));
    refused(g, [[g.ptePa(SPARE_VA), pte(m, RW | PTE_GNTTAB)]], E('EINVAL'));
    refused(g, [[g.ptePa(SPARE_VA), [pte(m, RW), 1]]], E('EINVAL'));
  });

  it('a PTE address in a frame the domain does not own (-EINVAL), an unknown command (-ENOSYS)', () => {
    const hv = machine();
    const a = MmGuest.create(hv, { name: 'a' });
    const b = MmGuest.create(hv, { name: 'b' });
    refused(a, [[b.ptePa(SPARE_VA), 0]], E('EINVAL'));
    refused(a, [[0x1_0000_0000 + a.ptePa(SPARE_VA), 0]], E('EINVAL'));
    refused(a, [[a.ptePa(SPARE_VA) + 3, 0]], E('ENOSYS'));
    refused(a, [[b.freeMfn(0) * 4096 + MMU.MACHPHYS_UPDATE, 1]], E('EINVAL'));
  });

  it('foreigndom: itself or unknown (-ESRCH), another domain without privilege (-EPERM)', () => {
    const hv = machine();
    const a = MmGuest.create(hv, { name: 'a' });
    const b = MmGuest.create(hv, { name: 'b' });
    refused(a, [[a.ptePa(SPARE_VA), pte(a.freeMfn(0), RW)]], E('ESRCH'), a.domid);
    refused(a, [[a.ptePa(SPARE_VA), pte(a.freeMfn(0), RW)]], E('ESRCH'), 77);
    refused(a, [[a.ptePa(SPARE_VA), pte(b.freeMfn(0), RW)]], E('EPERM'), b.domid);
    refused(a, [[b.ptePa(SPARE_VA), 0]], E('EPERM'), ((b.domid + 1) << 16) | DOMID.SELF);
    refused(a, [[a.freeMfn(0) * 4096 + MMU.MACHPHYS_UPDATE, 1]], E('EPERM'), b.domid);
    expect(a.mmuUpdate([[0, 0]], (99 + 1) << 16).rc).toBe(E('ESRCH'));
  });

  it('an unreadable request array (-EFAULT)', () => {
    const { g } = setup();
    expect(g.mmuUpdate([], DOMID.SELF, { at: UNMAPPED, count: 2 })).toEqual({ rc: E('EFAULT'), done: 0 });
    expect(g.mmuUpdate([], DOMID.SELF, { at: 0xfff0_0000, count: 2 }).rc).toBe(E('EFAULT'));
  });
});

describe('TLB coherence', () => {
  it('a vCPU never keeps a translation its page tables dropped', () => {
    const { g } = setup();
    const hart = g.vcpu.hart;
    const before = g.mfnOfVa(SPARE_VA);
    // Warm the TLB through the CPU's own slow path.
    expect(hart.mmu.xlate(SPARE_VA, 1) >>> 12).toBe(before);
    expect(g.setPte(g.ptePa(SPARE_VA), 0)).toBe(0);
    expect(hart.mmu.xlate(SPARE_VA, 1)).toBeLessThan(0); // page fault, not the stale frame
  });
});

describe('update_va_mapping', () => {
  it('rewrites the L1 entry for a VA of the current address space, with any flush flags', () => {
    const { hv, g, f } = setup();
    const fresh = g.freeMfn(0);
    g.fillFrame(fresh, 0x77);
    for (const flags of [UVMF.NONE, UVMF.TLB_FLUSH, UVMF.INVLPG, UVMF.TLB_FLUSH | UVMF.ALL, UVMF.INVLPG | UVMF.ALL]) {
      expect(g.uvm(SPARE_VA, pte(fresh, RW), flags)).toBe(0);
      expect(g.u32(SPARE_VA)).toBe(0x77);
    }
    expect([f.typeCount(fresh), f.refCount(fresh)]).toEqual([1, 2]);
    g.putU32(ARG, 1);
    expect(g.uvm(SPARE_VA, pte(fresh, RO), UVMF.INVLPG | ARG)).toBe(0); // a vCPU bitmap pointer
    expect(g.uvm(SPARE_VA, pte(fresh, RO), UVMF.INVLPG | UNMAPPED)).toBe(E('EFAULT'));
    expectConsistent(hv);
  });

  it('refuses VAs without an L1, the hypervisor\'s range, high words and foreign frames', () => {
    const hv = machine();
    const g = MmGuest.create(hv);
    const other = MmGuest.create(hv, { name: 'other' });
    const before = snapshot(g);
    expect(g.uvm(SECOND_4M(g), pte(g.freeMfn(0), RW))).toBe(E('EINVAL'));
    expect(g.uvm(0xffc0_1000, 0)).toBe(E('EINVAL'));
    expect(g.uvm(SPARE_VA, pte(g.freeMfn(0), RW), 0, 1)).toBe(E('EINVAL'));
    expect(g.uvm(SPARE_VA, pte(other.freeMfn(0), RW))).toBe(E('EBUSY'));
    expect(g.uvm(SPARE_VA, pte(g.l2Mfn, RW))).toBe(E('EBUSY'));
    expect(snapshot(g)).toEqual(before);
    expect(g.call(HYPERVISOR.update_va_mapping_otherdomain, SPARE_VA, pte(other.freeMfn(0), RO), 0, 0, other.domid)).toBe(E('EPERM'));
    expect(g.call(HYPERVISOR.update_va_mapping_otherdomain, SPARE_VA, 0, 0, 0, 999)).toBe(E('ESRCH'));
  });

  it('update_va_mapping_otherdomain lets the control domain map another domain\'s frame', () => {
    const hv = machine();
    const dom0 = MmGuest.create(hv, { privileged: true });
    const domU = MmGuest.create(hv, { name: 'domU' });
    domU.fillFrame(domU.freeMfn(0), 0xabc);
    expect(dom0.call(HYPERVISOR.update_va_mapping_otherdomain, SPARE_VA, pte(domU.freeMfn(0), RO), 0, UVMF.INVLPG, domU.domid)).toBe(0);
    expect(dom0.u32(SPARE_VA)).toBe(0xabc);
    expectConsistent(hv);
  });
});

describe('mmuext_op', () => {
  it('pins and unpins L1 and L2 tables, one pin per frame', () => {
    const { hv, g, f } = setup();
    const l1 = g.freeMfn(0);
    expect(g.mmuext([[MMUEXT.PIN_L1_TABLE, l1]])).toEqual({ rc: 0, done: 1 });
    expect([f.typeOf(l1), f.typeCount(l1), f.refCount(l1), f.isPinned(l1)]).toEqual([FrameType.L1PageTable, 1, 2, true]);
    expect(g.mmuext([[MMUEXT.PIN_L1_TABLE, l1]])).toEqual({ rc: E('EINVAL'), done: 0 });
    expect([f.typeCount(l1), f.refCount(l1)]).toEqual([1, 2]);
    // A pinned L1 cannot be mapped writable, nor pinned as an L2.
    expect(g.setPte(g.ptePa(SPARE_VA), pte(l1, RW))).toBe(E('EBUSY'));
    expect(g.mmuext([[MMUEXT.PIN_L2_TABLE, l1]]).rc).toBe(E('EINVAL'));
    // Its entries can now only change through mmu_update, validated.
    expect(g.setPte(l1 * 4096, pte(g.freeMfn(1), RW))).toBe(0);
    expect(f.typeCount(g.freeMfn(1))).toBe(1);
    expect(g.mmuext([[MMUEXT.UNPIN_TABLE, l1]])).toEqual({ rc: 0, done: 1 });
    expect([f.typeCount(l1), f.refCount(l1), f.isPinned(l1), f.isValidated(l1)]).toEqual([0, 1, false, false]);
    expect(f.typeCount(g.freeMfn(1))).toBe(0);
    expect(g.mmuext([[MMUEXT.UNPIN_TABLE, l1]]).rc).toBe(E('EINVAL'));
    // Unpinned and unreferenced, it is an ordinary frame again.
    expect(g.setPte(g.ptePa(SPARE_VA), pte(l1, RW))).toBe(0);
    expectConsistent(hv);
  });

  it('refuses to pin a frame mapped writable, one that fails validation, or another domain\'s', () => {
    const hv = machine();
    const g = MmGuest.create(hv);
    const other = MmGuest.create(hv, { name: 'other' });
    const before = snapshot(g);
    expect(g.mmuext([[MMUEXT.PIN_L1_TABLE, g.mfnOfVa(ARG)]]).rc).toBe(E('EINVAL'));
    expect(g.mmuext([[MMUEXT.PIN_L1_TABLE, other.freeMfn(0)]]).rc).toBe(E('EINVAL'));
    expect(g.mmuext([[MMUEXT.UNPIN_TABLE, other.l2Mfn]]).rc).toBe(E('EINVAL'));
    expect(snapshot(g)).toEqual(before);
    // An L2 whose second entry points at an L1 that maps a foreign frame: all or nothing.
    const l2 = g.freeMfn(0);
    const goodL1 = g.freeMfn(1);
    const badL1 = g.freeMfn(2);
    expect(g.setPte(goodL1 * 4096, pte(g.freeMfn(3), RW))).toBe(0);
    expect(g.setPte(badL1 * 4096, pte(other.freeMfn(0), RO))).toBe(0);
    expect(g.setPte(l2 * 4096, pte(goodL1, PTE_V))).toBe(0);
    expect(g.setPte(l2 * 4096 + 4, pte(badL1, PTE_V))).toBe(0);
    const counts = () => [l2, goodL1, badL1, g.freeMfn(3)].map((m) => [hv.frames.typeCount(m), hv.frames.refCount(m), hv.frames.isPinned(m)]);
    const state = counts();
    expect(g.mmuext([[MMUEXT.PIN_L2_TABLE, l2]]).rc).toBe(E('EBUSY'));
    // The references taken for the good L1 are given back (it keeps its now unused L1 type, as in Xen).
    expect(counts()).toEqual(state);
    expect(hv.frames.isValidated(goodL1)).toBe(false);
    expectConsistent(hv);
  });

  it('validation clears the hypervisor slot of a new L2', () => {
    const { g } = setup();
    const l2 = g.freeMfn(0);
    expect(g.setPte(l2 * 4096 + 1023 * 4, 0xdeadbeef)).toBe(0);
    expect(g.mmuext([[MMUEXT.PIN_L2_TABLE, l2]]).rc).toBe(0);
    expect(g.readPhys32(l2 * 4096 + 1023 * 4)).toBe(0);
  });

  it('NEW_BASEPTR switches satp, moving the base reference between tables', () => {
    const { hv, g, f } = setup();
    const boot = g.l2Mfn;
    const l2 = g.freeMfn(0);
    // A second address space sharing the bootstrap L1, so the kernel stays mapped.
    expect(g.setPte(l2 * 4096 + (g.layout.virtBase >>> 22) * 4, pte(g.l1MfnFor(g.layout.virtBase), PTE_V))).toBe(0);
    expect(g.mmuext([[MMUEXT.NEW_BASEPTR, l2]])).toEqual({ rc: 0, done: 1 });
    expect(g.vcpu.hart.readCsr(CSR_SATP) & 0x3fffff).toBe(l2);
    expect(g.domain.mm!.base[0]).toBe(l2);
    expect([f.typeCount(l2), f.isPinned(l2)]).toEqual([1, false]);
    expect(f.typeCount(boot)).toBe(1); // still pinned
    expect(f.typeCount(g.l1MfnFor(g.layout.virtBase))).toBe(2); // referenced by both L2s
    expect(g.u32(ARG)).toBeDefined(); // hypercall arguments still reachable
    expectConsistent(hv);
    // Back: the new L2 loses its only type reference and is devalidated.
    expect(g.mmuext([[MMUEXT.NEW_BASEPTR, boot]]).rc).toBe(0);
    expect([f.typeCount(l2), f.isValidated(l2)]).toEqual([0, false]);
    expect(f.typeCount(g.l1MfnFor(g.layout.virtBase))).toBe(1);
    // Refusals: a writable-mapped frame, another domain's table, foreigndom.
    const other = MmGuest.create(hv, { name: 'other' });
    expect(g.mmuext([[MMUEXT.NEW_BASEPTR, g.mfnOfVa(ARG)]]).rc).toBe(E('EINVAL'));
    expect(g.mmuext([[MMUEXT.NEW_BASEPTR, other.l2Mfn]]).rc).toBe(E('EINVAL'));
    expect(g.vcpu.hart.readCsr(CSR_SATP) & 0x3fffff).toBe(boot);
    expectConsistent(hv);
  });

  it('an unpinned base stays valid while a vCPU uses it', () => {
    const { hv, g, f } = setup();
    expect(g.mmuext([[MMUEXT.UNPIN_TABLE, g.l2Mfn]]).rc).toBe(0);
    expect([f.typeCount(g.l2Mfn), f.isValidated(g.l2Mfn)]).toEqual([1, true]);
    expect(g.u32(ARG)).toBeDefined();
    expectConsistent(hv);
  });

  it('TLB flushes, ignored levels, x86-only and unknown commands', () => {
    const { g } = setup();
    g.putU32(ARG + 0x100, 1);
    expect(
      g.mmuext([
        [MMUEXT.TLB_FLUSH_LOCAL, 0],
        [MMUEXT.INVLPG_LOCAL, SPARE_VA],
        [MMUEXT.TLB_FLUSH_ALL, 0],
        [MMUEXT.INVLPG_ALL, SPARE_VA],
        [MMUEXT.TLB_FLUSH_MULTI, 0, ARG + 0x100],
        [MMUEXT.INVLPG_MULTI, SPARE_VA, ARG + 0x100],
        [MMUEXT.PIN_L3_TABLE, g.freeMfn(0)],
        [MMUEXT.PIN_L4_TABLE, g.freeMfn(0)],
      ]),
    ).toEqual({ rc: 0, done: 8 });
    expect(g.mmuext([[MMUEXT.TLB_FLUSH_MULTI, 0, UNMAPPED]]).rc).toBe(E('EINVAL'));
    expect(g.mmuext([[MMUEXT.SET_LDT, 0]]).rc).toBe(E('ENOSYS'));
    expect(g.mmuext([[MMUEXT.NEW_USER_BASEPTR, 0]]).rc).toBe(E('ENOSYS'));
    expect(g.mmuext([[MMUEXT.MARK_SUPER, 0]]).rc).toBe(E('EOPNOTSUPP'));
    expect(g.mmuext([[99, 0]]).rc).toBe(E('ENOSYS'));
    expect(g.mmuext([[MMUEXT.FLUSH_CACHE, 0]]).rc).toBe(E('EACCES'));
    expect(g.mmuext([[MMUEXT.TLB_FLUSH_LOCAL, 0], [MMUEXT.PIN_L1_TABLE, g.mfnOfVa(ARG)], [MMUEXT.TLB_FLUSH_LOCAL, 0]])).toEqual({ rc: E('EINVAL'), done: 1 });
  });

  it('foreigndom: -ESRCH for itself or nobody, -EPERM without privilege; the control domain pins for others', () => {
    const hv = machine();
    const dom0 = MmGuest.create(hv, { privileged: true });
    const a = MmGuest.create(hv, { name: 'a' });
    expect(a.mmuext([[MMUEXT.TLB_FLUSH_LOCAL, 0]], a.domid).rc).toBe(E('ESRCH'));
    expect(a.mmuext([[MMUEXT.TLB_FLUSH_LOCAL, 0]], 1234).rc).toBe(E('ESRCH'));
    expect(a.mmuext([[MMUEXT.PIN_L1_TABLE, dom0.freeMfn(0)]], dom0.domid).rc).toBe(E('EPERM'));
    expect(dom0.mmuext([[MMUEXT.PIN_L1_TABLE, a.freeMfn(0)]], a.domid).rc).toBe(0);
    expect(hv.frames.isPinned(a.freeMfn(0))).toBe(true);
    expect(dom0.mmuext([[MMUEXT.TLB_FLUSH_LOCAL, 0]], a.domid).rc).toBe(E('EPERM'));
    expect(dom0.mmuext([[MMUEXT.NEW_BASEPTR, a.l2Mfn]], a.domid).rc).toBe(E('EPERM'));
    expect(dom0.mmuext([[MMUEXT.UNPIN_TABLE, a.freeMfn(0)]], a.domid).rc).toBe(0);
    expectConsistent(hv);
  });

  it('CLEAR_PAGE and COPY_PAGE work on writable-typable frames only', () => {
    const { hv, g } = setup();
    const src = g.freeMfn(0);
    const dst = g.freeMfn(1);
    g.fillFrame(src, 0x01020304);
    expect(g.mmuext([[MMUEXT.COPY_PAGE, dst, src]]).rc).toBe(0);
    expect(hv.mem.read32(dst * 4096 + 400)).toBe(0x01020304);
    expect(g.mmuext([[MMUEXT.CLEAR_PAGE, dst]]).rc).toBe(0);
    expect(hv.mem.read32(dst * 4096 + 400)).toBe(0);
    expect(g.mmuext([[MMUEXT.CLEAR_PAGE, g.l2Mfn]]).rc).toBe(E('EINVAL'));
    expect(g.mmuext([[MMUEXT.COPY_PAGE, g.l1MfnFor(g.layout.virtBase), src]]).rc).toBe(E('EINVAL'));
    expectConsistent(hv);
  });

  it('an unreadable op array is -EFAULT', () => {
    const { g } = setup();
    g.putU32(DONE, 0xdead);
    expect(g.call(HYPERVISOR.mmuext_op, UNMAPPED, 1, DONE, DOMID.SELF)).toBe(E('EFAULT'));
    expect(g.u32(DONE)).toBe(0);
  });
});

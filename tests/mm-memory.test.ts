// memory_op: reservations within the domain's maximum, their round trips, Xen's
// "give back now, free when unreferenced" rule; and lazily populated frames.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { FrameType } from '../hypervisor/mm/frame_table.ts';
import { MMUEXT } from '../protocol/xen/mm.ts';
import { HYPERVISOR } from '../protocol/xen/hypercall.ts';
import { XENMEM } from '../protocol/xen/memory.ts';
import { ARG, DONE, E, MiB, MmGuest, RW, SPARE_VA, UNMAPPED, expectConsistent, machine, pte } from './mm_helpers.ts';

function setup() {
  const hv = machine();
  const g = MmGuest.create(hv);
  return { hv, g, f: hv.frames };
}

const domidArg = (g: MmGuest, domid: number) => {
  g.put(ARG, new Uint8Array([domid & 0xff, domid >> 8]));
  return ARG;
};

describe('current_reservation, maximum_reservation, maximum_ram_page', () => {
  it('report tot_pages and max_pages, for the domain itself or (privileged) another', () => {
    const hv = machine();
    const dom0 = MmGuest.create(hv, { privileged: true, memoryBytes: 4 * MiB });
    const g = MmGuest.create(hv);
    expect(g.call(HYPERVISOR.memory_op, XENMEM.current_reservation, domidArg(g, 0x7ff0))).toBe(2048);
    expect(g.call(HYPERVISOR.memory_op, XENMEM.maximum_reservation, domidArg(g, g.domid))).toBe(2048);
    expect(dom0.call(HYPERVISOR.memory_op, XENMEM.current_reservation, domidArg(dom0, g.domid))).toBe(2048);
    expect(g.call(HYPERVISOR.memory_op, XENMEM.current_reservation, domidArg(g, dom0.domid))).toBe(E('EPERM'));
    expect(g.call(HYPERVISOR.memory_op, XENMEM.current_reservation, domidArg(g, 77))).toBe(E('ESRCH'));
    expect(g.call(HYPERVISOR.memory_op, XENMEM.current_reservation, UNMAPPED)).toBe(E('EFAULT'));
    expect(g.call(HYPERVISOR.memory_op, XENMEM.maximum_ram_page, 0)).toBe(hv.frames.firstMfn + hv.frames.nrFrames);
    expect(g.call(HYPERVISOR.memory_op, 40, 0)).toBe(E('ENOSYS'));
  });
});

describe('increase / decrease_reservation, populate_physmap', () => {
  it('cannot grow past the maximum', () => {
    const { g } = setup();
    expect(g.memop(XENMEM.increase_reservation, [0, 0]).rc).toBe(0);
    expect(g.memop(XENMEM.populate_physmap, [3000]).rc).toBe(0);
  });

  it('grows within a raised maximum and shrinks back: a round trip', () => {
    const { hv, g, f } = setup();
    g.domain.maxPages = 2048 + 4;
    const inc = g.memop(XENMEM.increase_reservation, [0, 0, 0, 0, 0]);
    expect(inc.rc).toBe(4); // the fifth would exceed the maximum
    const mfns = inc.list.slice(0, 4);
    expect(inc.list[4]).toBe(0);
    for (const m of mfns) {
      expect(f.ownerOf(m)).toBe(g.domid);
      expect([f.typeOf(m), f.typeCount(m), f.refCount(m)]).toEqual([FrameType.Writable, 0, 1]);
    }
    expect(g.call(HYPERVISOR.memory_op, XENMEM.current_reservation, domidArg(g, 0x7ff0))).toBe(2052);
    const allocated = f.allocated;
    expect(g.memop(XENMEM.decrease_reservation, mfns).rc).toBe(4);
    expect(f.allocated).toBe(allocated - 4);
    expect(f.totPages(g.domid)).toBe(2048);
    expectConsistent(hv);
  });

  it('increase_reservation with a NULL list, and populate_physmap recording the M2P', () => {
    const { g, f } = setup();
    g.domain.maxPages = 2048 + 3;
    expect(g.memop(XENMEM.increase_reservation, null, { nr: 1 }).rc).toBe(1);
    const r = g.memop(XENMEM.populate_physmap, [5000, 5001]);
    expect(r.rc).toBe(2);
    expect(f.m2pOf(r.list[0]!)).toBe(5000);
    expect(f.m2pOf(r.list[1]!)).toBe(5001);
    expect(f.totPages(g.domid)).toBe(2051);
  });

  it('extents of order > 0 are contiguous and aligned; too large an order does nothing', () => {
    const { g, f } = setup();
    g.domain.maxPages = 4096;
    const r = g.memop(XENMEM.increase_reservation, [0, 0], { order: 3 });
    expect(r.rc).toBe(2);
    for (const m of r.list) {
      expect(m % 8).toBe(0);
      for (let j = 0; j < 8; j++) expect(f.ownerOf(m + j)).toBe(g.domid);
    }
    expect(g.memop(XENMEM.decrease_reservation, r.list, { order: 3 }).rc).toBe(2);
    expect(g.memop(XENMEM.increase_reservation, [0], { order: 10 }).rc).toBe(0);
    expect(g.memop(XENMEM.increase_reservation, [0], { memFlags: 8 }).rc).toBe(0); // address_bits < 12
  });

  it('giving back a frame that is still mapped: it stays, counted, until the mapping goes', () => {
    const { hv, g, f } = setup();
    const m = g.freeMfn(0);
    expect(g.setPte(g.ptePa(SPARE_VA), pte(m, RW))).toBe(0);
    g.putU32(SPARE_VA, 42);
    expect(g.memop(XENMEM.decrease_reservation, [m]).rc).toBe(1);
    expect(f.ownerOf(m)).toBe(g.domid);
    expect(f.refCount(m)).toBe(1);
    expect(f.isAllocatedRef(m)).toBe(false);
    expect(g.u32(SPARE_VA)).toBe(42);
    expect(f.totPages(g.domid)).toBe(2048);
    expectConsistent(hv);
    expect(g.setPte(g.ptePa(SPARE_VA), 0)).toBe(0);
    expect(f.typeOf(m)).toBe(FrameType.Free);
    expect(f.totPages(g.domid)).toBe(2047);
    expectConsistent(hv);
  });

  it('giving back a pinned page table unpins it first', () => {
    const { hv, g, f } = setup();
    const m = g.freeMfn(0);
    expect(g.mmuext([[MMUEXT.PIN_L1_TABLE, m]]).rc).toBe(0);
    expect(g.memop(XENMEM.decrease_reservation, [m]).rc).toBe(1);
    expect(f.typeOf(m)).toBe(FrameType.Free);
    expectConsistent(hv);
  });

  it('stops at a frame that is not the domain\'s, or is the hypervisor\'s shared page', () => {
    const hv = machine();
    const g = MmGuest.create(hv);
    const other = MmGuest.create(hv, { name: 'other' });
    expect(g.memop(XENMEM.decrease_reservation, [g.freeMfn(0), other.freeMfn(0), g.freeMfn(1)]).rc).toBe(1);
    expect(g.memop(XENMEM.decrease_reservation, [g.domain.sharedInfoMfn]).rc).toBe(0);
    expect(g.memop(XENMEM.decrease_reservation, [12]).rc).toBe(0);
    expect(hv.frames.ownerOf(other.freeMfn(0))).toBe(other.domid);
    expect(hv.frames.ownerOf(g.freeMfn(1))).toBe(g.domid);
    expectConsistent(hv);
  });

  it('bad arguments do nothing: unreadable struct or list, unknown or foreign domain', () => {
    const hv = machine();
    const g = MmGuest.create(hv);
    const other = MmGuest.create(hv, { name: 'other' });
    g.domain.maxPages = 4096;
    other.domain.maxPages = 4096;
    expect(g.call(HYPERVISOR.memory_op, XENMEM.increase_reservation, UNMAPPED)).toBe(0);
    expect(g.memop(XENMEM.increase_reservation, null, { nr: 2, listVa: UNMAPPED }).rc).toBe(0);
    expect(g.memop(XENMEM.populate_physmap, null, { nr: 2, listVa: UNMAPPED }).rc).toBe(0);
    expect(g.memop(XENMEM.increase_reservation, [0], { domid: 999 }).rc).toBe(0);
    expect(g.memop(XENMEM.increase_reservation, [0], { domid: other.domid }).rc).toBe(0);
    // The start extent in cmd's high bits: a resumed call.
    expect(g.memop(XENMEM.increase_reservation | (5 << 6), [0, 0], {}).rc).toBe(5);
  });

  it('the control domain adjusts another domain\'s reservation', () => {
    const hv = machine();
    const dom0 = MmGuest.create(hv, { privileged: true, memoryBytes: 4 * MiB });
    const g = MmGuest.create(hv);
    g.domain.maxPages = 2050;
    const r = dom0.memop(XENMEM.increase_reservation, [0, 0], { domid: g.domid });
    expect(r.rc).toBe(2);
    expect(r.list.every((m) => hv.frames.ownerOf(m) === g.domid)).toBe(true);
    expect(dom0.memop(XENMEM.decrease_reservation, r.list, { domid: g.domid }).rc).toBe(2);
    expectConsistent(hv);
  });
});

describe('lazily populated frames', () => {
  it('a built, never-run domain populates only the frames the builder wrote', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    hv.frames.lazy = true;
    const { domain } = hv.createPvDomain(readFileSync('guests/build/hello.elf'), { name: 'idle', memoryBytes: 4 * MiB });
    expect(hv.frames.allocated).toBe(1024 + 1);
    // Image, mfn list, start_info, page tables, shared_info; not the ~1000 untouched pages.
    expect(hv.mem.frameCount).toBeLessThan(40);
    const untouched = domain.p2m[900]!;
    expect(hv.mem.frames[untouched]).toBeNull();
    expect(hv.mem.isAllocated(untouched)).toBe(true);
    expect([...hv.mem.readBytes(untouched * 4096, 8)]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    // The CPU's hook gives it storage on first touch.
    const before = hv.mem.frameCount;
    expect(hv.mem.populate!(untouched)).not.toBeNull();
    expect(hv.mem.frameCount).toBe(before + 1);
    expect(hv.frames.populatedOnDemand).toBe(1);
    expect(hv.mem.populate!(hv.frames.firstMfn + hv.frames.nrFrames - 1)).toBeNull(); // not allocated
    hv.destroyDomain(domain);
    expect(hv.frames.allocated).toBe(0);
    expect(hv.mem.frameCount).toBe(0);
    expect(hv.mem.isAllocated(untouched)).toBe(false);
  });

  it('page tables get storage when they become tables; hypervisor writes populate', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    hv.frames.lazy = true;
    const g = MmGuest.create(hv);
    // Until Hart.translate accepts unpopulated frames, hypercall arguments must sit in touched pages.
    for (const va of [ARG, DONE]) hv.frames.frameStorage(g.mfnOfVa(va));
    const l1 = g.freeMfn(0);
    expect(hv.mem.frames[l1]).toBeNull();
    expect(g.mmuext([[MMUEXT.PIN_L1_TABLE, l1]]).rc).toBe(0);
    expect(hv.mem.frames[l1]).not.toBeNull();
    hv.mem.writeBytes(g.freeMfn(1) * 4096, new Uint8Array([1]));
    expect(hv.mem.frames[g.freeMfn(1)]![0]).toBe(1);
    expectConsistent(hv);
  });

  it('an idle 4 MiB hello domain holds a handful of frames instead of 1025', () => {
    const count = (lazy: boolean) => {
      const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
      hv.frames.lazy = lazy;
      const img = readFileSync('guests/build/hello.elf');
      for (let i = 0; i < 10; i++) hv.createPvDomain(img, { name: `idle${i}`, memoryBytes: 4 * MiB });
      return hv.mem.frameCount / 10;
    };
    expect(count(false)).toBe(1025);
    expect(count(true)).toBeLessThan(16);
  });
});

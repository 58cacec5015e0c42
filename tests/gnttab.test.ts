// Grant tables v1 between two (or three) domains: setup, map, unmap, copy, every status Xen
// returns, revocation, read-only grants, batches and domain destruction, with the frame
// reference counts audited after each scenario.

import { describe, expect, it } from 'vitest';
import { FrameType } from '../hypervisor/mm/frame_table.ts';
import { PTE_GNTTAB } from '../hypervisor/mm/page_types.ts';
import { DomainGnttab, gnttabCopyForDomain, gnttabMapForDomain, gnttabUnmapForDomain } from '../hypervisor/gnttab/index.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { GNTCOPY, GNTMAP, GNTST, GNTTABOP, GTF } from '../protocol/xen/grant_table.ts';
import { ARG, E, MiB, MmGuest, RW, SPARE_VA, UNMAPPED, expectConsistent, machine, pte, PTE_V } from './mm_helpers.ts';

/** 3 MiB guests: the bootstrap L1 has free slots from virt_base + 3 MiB. */
const GUEST = { memoryBytes: 3 * MiB };
const gtVa = (g: MmGuest) => g.layout.virtBase + 3 * MiB; // where a guest maps its own grant table
const hostVa = (g: MmGuest, i = 0) => g.layout.virtBase + 3 * MiB + (8 + i) * 4096; // free L1 slots for grant mappings
const HOST = GNTMAP.host_map;

function pair() {
  const hv = machine();
  const a = MmGuest.create(hv, { ...GUEST, name: 'granter' });
  const b = MmGuest.create(hv, { ...GUEST, name: 'mapper' });
  a.shareGrantTable(gtVa(a));
  const frame = a.mfnOfVa(SPARE_VA); // the page a shares
  a.putU32(SPARE_VA, 0xc0ffee);
  return { hv, a, b, frame };
}

describe('setup_table and query_size', () => {
  it('a table starts with one frame of 512 entries; setup_table hands out its frames', () => {
    const hv = machine();
    const a = MmGuest.create(hv, GUEST);
    expect(a.querySize()).toEqual({ rc: 0, status: GNTST.okay, nr: 1, max: 32 });
    const r = a.setupTable(4);
    expect([r.rc, r.status, r.frames.length]).toEqual([0, GNTST.okay, 4]);
    for (const m of r.frames) {
      expect(hv.frames.ownerOf(m)).toBe(a.domid);
      expect(hv.frames.typeOf(m)).toBe(FrameType.GrantTable);
      expect(hv.frames.isXenheap(m)).toBe(true);
    }
    expect(a.setupTable(2).frames).toEqual(r.frames.slice(0, 2)); // same frames again
    expect(a.querySize()).toMatchObject({ nr: 4, max: 32 });
    expect(hv.frames.totPages(a.domid)).toBe(768); // not counted against the reservation
    expectConsistent(hv);
  });

  it('statuses: too many frames, unknown domain, another domain without privilege, unwritable list', () => {
    const hv = machine();
    const a = MmGuest.create(hv, GUEST);
    const b = MmGuest.create(hv, GUEST);
    expect(a.setupTable(33).status).toBe(GNTST.general_error);
    expect(a.setupTable(1, 999).status).toBe(GNTST.bad_domain);
    expect(a.setupTable(1, b.domid).status).toBe(GNTST.permission_denied);
    expect(a.setupTable(1, DOMID.SELF, UNMAPPED).status).toBe(GNTST.bad_virt_addr);
    expect(a.setupTable(1, DOMID.SELF, 0xffc0_0000).rc).toBe(E('EFAULT'));
    expect(a.querySize(999).status).toBe(GNTST.bad_domain);
    expect(a.querySize(b.domid).status).toBe(GNTST.permission_denied);
    expect(a.gnttab(GNTTABOP.setup_table, new Uint8Array(16), 2).rc).toBe(E('EINVAL'));
    expect(a.gnttab(GNTTABOP.query_size, new Uint8Array(16), 0).rc).toBe(E('EINVAL'));
    expect(a.call(20, GNTTABOP.query_size, UNMAPPED, 1)).toBe(E('EFAULT'));
  });

  it('the control domain may set up another domain\'s table', () => {
    const hv = machine();
    const dom0 = MmGuest.create(hv, { ...GUEST, privileged: true });
    const a = MmGuest.create(hv, GUEST);
    const r = dom0.setupTable(2, a.domid);
    expect(r.status).toBe(GNTST.okay);
    expect(r.frames.every((m) => hv.frames.ownerOf(m) === a.domid)).toBe(true);
    expect(dom0.querySize(a.domid)).toMatchObject({ status: GNTST.okay, nr: 2 });
  });
});

describe('map_grant_ref / unmap_grant_ref', () => {
  it('maps a writable grant at host_addr, marks the entry, and unmaps it', () => {
    const { hv, a, b, frame } = pair();
    a.grant(5, b.domid, frame, GTF.permit_access);
    const before = [hv.frames.typeCount(frame), hv.frames.refCount(frame)];
    const m = b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 5, dom: a.domid });
    expect(m.status).toBe(GNTST.okay);
    expect(m.devBusAddr).toBe(frame * 4096);
    expect(a.grantFlags(5)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(b.readPhys32(b.ptePa(hostVa(b)))).toBe(pte(frame, RW | PTE_GNTTAB));
    expect(b.u32(hostVa(b))).toBe(0xc0ffee);
    b.putU32(hostVa(b), 0xbeef);
    expect(a.u32(SPARE_VA)).toBe(0xbeef);
    expect([hv.frames.typeCount(frame), hv.frames.refCount(frame)]).toEqual([before[0]! + 1, before[1]! + 1]);
    expectConsistent(hv);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.okay);
    expect(b.readPhys32(b.ptePa(hostVa(b)))).toBe(0);
    expect(a.grantFlags(5)).toBe(GTF.permit_access);
    expect([hv.frames.typeCount(frame), hv.frames.refCount(frame)]).toEqual(before);
    // The handle is gone.
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.bad_handle);
    expectConsistent(hv);
  });

  it('read-only mappings: GNTMAP_readonly on any grant, and GTF_readonly grants', () => {
    const { hv, a, b, frame } = pair();
    a.grant(1, b.domid, frame, GTF.permit_access | GTF.readonly);
    expect(b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 1, dom: a.domid }).status).toBe(GNTST.general_error);
    expect(a.grantFlags(1)).toBe(GTF.permit_access | GTF.readonly);
    const m = b.mapGrant({ hostAddr: hostVa(b), flags: HOST | GNTMAP.readonly, ref: 1, dom: a.domid });
    expect(m.status).toBe(GNTST.okay);
    expect(a.grantFlags(1)).toBe(GTF.permit_access | GTF.readonly | GTF.reading);
    expect(b.readPhys32(b.ptePa(hostVa(b))) & 0x3ff).toBe(PTE_V | 2 | 64 | 128 | PTE_GNTTAB); // V R A D, no W
    expect(b.u32(hostVa(b))).toBe(0xc0ffee);
    expect(b.call(18, 0, 4, hostVa(b))).toBe(0); // console_io reading it works
    expectConsistent(hv);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.okay);
    expect(a.grantFlags(1)).toBe(GTF.permit_access | GTF.readonly);
    expectConsistent(hv);
  });

  it('GTF_writing stays while a writable mapping remains; GTF_reading until the last one goes', () => {
    const { hv, a, b, frame } = pair();
    a.grant(2, b.domid, frame, GTF.permit_access);
    const ro = b.mapGrant({ hostAddr: hostVa(b, 0), flags: HOST | GNTMAP.readonly, ref: 2, dom: a.domid });
    expect(a.grantFlags(2)).toBe(GTF.permit_access | GTF.reading);
    const rw = b.mapGrant({ hostAddr: hostVa(b, 1), flags: HOST, ref: 2, dom: a.domid });
    expect(rw.handle).not.toBe(ro.handle);
    expect(a.grantFlags(2)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(b.unmapGrant({ hostAddr: hostVa(b, 1), handle: rw.handle })).toBe(GNTST.okay);
    expect(a.grantFlags(2)).toBe(GTF.permit_access | GTF.reading);
    expect(b.unmapGrant({ hostAddr: hostVa(b, 0), handle: ro.handle })).toBe(GNTST.okay);
    expect(a.grantFlags(2)).toBe(GTF.permit_access);
    expectConsistent(hv);
  });

  it('device mappings: dev_bus_addr, a reference of their own, unmapped by bus address', () => {
    const { hv, a, b, frame } = pair();
    a.grant(3, b.domid, frame, GTF.permit_access);
    const m = b.mapGrant({ flags: GNTMAP.device_map, ref: 3, dom: a.domid });
    expect(m).toMatchObject({ status: GNTST.okay, devBusAddr: frame * 4096 });
    expectConsistent(hv);
    expect(b.unmapGrant({ devBusAddr: 4096, handle: m.handle })).toBe(GNTST.general_error);
    expect(b.unmapGrant({ devBusAddr: frame * 4096, handle: m.handle })).toBe(GNTST.okay);
    expect(a.grantFlags(3)).toBe(GTF.permit_access);
    // Both at once: two references, released separately.
    const both = b.mapGrant({ hostAddr: hostVa(b), flags: HOST | GNTMAP.device_map, ref: 3, dom: a.domid });
    expectConsistent(hv);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: both.handle })).toBe(GNTST.okay);
    expect(a.grantFlags(3)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
    expect(b.unmapGrant({ devBusAddr: frame * 4096, handle: both.handle })).toBe(GNTST.okay);
    expect(a.grantFlags(3)).toBe(GTF.permit_access);
    expectConsistent(hv);
  });

  it('statuses for bad requests, each leaving the grant untouched', () => {
    const { hv, a, b, frame } = pair();
    a.grant(4, b.domid, frame, GTF.permit_access);
    a.grant(6, 99, frame, GTF.permit_access); // for somebody else
    a.grant(7, b.domid, frame, 0); // not granted
    a.grant(8, b.domid, b.mfnOfVa(SPARE_VA), GTF.permit_access); // a frame a does not own
    a.grant(9, b.domid, a.l2Mfn, GTF.permit_access); // a page table
    const cases: [object, number][] = [
      [{ hostAddr: hostVa(b), flags: 0, ref: 4, dom: a.domid }, GNTST.bad_gntref],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 512, dom: a.domid }, GNTST.bad_gntref],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 4, dom: 999 }, GNTST.bad_domain],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 4, dom: DOMID.SELF }, GNTST.bad_domain],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 6, dom: a.domid }, GNTST.general_error],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 7, dom: a.domid }, GNTST.general_error],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 100, dom: a.domid }, GNTST.general_error], // never granted
      [{ hostAddr: hostVa(b), flags: HOST, ref: 8, dom: a.domid }, GNTST.bad_page],
      [{ hostAddr: hostVa(b), flags: HOST, ref: 9, dom: a.domid }, GNTST.general_error],
      [{ hostAddr: b.layout.virtBase + 4 * MiB, flags: HOST, ref: 4, dom: a.domid }, GNTST.general_error], // no L1 there
      [{ hostAddr: 0x1_0000_0000, flags: HOST, ref: 4, dom: a.domid }, GNTST.general_error],
    ];
    for (const [op, status] of cases) {
      expect(b.mapGrant(op as never).status, JSON.stringify(op)).toBe(status);
      expectConsistent(hv);
    }
    expect(a.grantFlags(4)).toBe(GTF.permit_access);
    expect(a.grantFlags(9)).toBe(GTF.permit_access);
    expect(a.grantFlags(8)).toBe(GTF.permit_access);
    // Every failed map gave its handle back: the next one gets handle 0.
    expect(b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 4, dom: a.domid }).handle).toBe(0);
    expectConsistent(hv);
  });

  it('a grant pinned for one domain cannot be mapped by another', () => {
    const hv = machine();
    const a = MmGuest.create(hv, { ...GUEST, name: 'a' });
    const b = MmGuest.create(hv, { ...GUEST, name: 'b' });
    const c = MmGuest.create(hv, { ...GUEST, name: 'c' });
    a.shareGrantTable(gtVa(a));
    a.grant(0, b.domid, a.mfnOfVa(SPARE_VA), GTF.permit_access);
    expect(b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 0, dom: a.domid }).status).toBe(GNTST.okay);
    a.grant(0, c.domid, a.mfnOfVa(SPARE_VA), GTF.permit_access | GTF.reading | GTF.writing); // a misbehaves
    expect(c.mapGrant({ hostAddr: hostVa(c), flags: HOST, ref: 0, dom: a.domid }).status).toBe(GNTST.general_error);
  });

  it('runs out of handles with GNTST_no_device_space', () => {
    const { hv, a, b, frame } = pair();
    b.domain.gnttab = new DomainGnttab(b.domid, { maxHandles: 2 });
    a.grant(0, b.domid, frame, GTF.permit_access);
    const r = b.mapGrants([0, 1, 2].map((i) => ({ hostAddr: hostVa(b, i), flags: HOST | GNTMAP.readonly, ref: 0, dom: a.domid })));
    expect(r.rc).toBe(0);
    expect(r.results.map((x) => x.status)).toEqual([GNTST.okay, GNTST.okay, GNTST.no_device_space]);
    expectConsistent(hv);
  });

  it('unmap statuses: bad handles, a host_addr that is not where it was mapped', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const m = b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 0, dom: a.domid });
    expect(b.unmapGrant({ hostAddr: hostVa(b, 1), handle: m.handle })).toBe(GNTST.general_error);
    expect(b.unmapGrant({ hostAddr: b.layout.virtBase + 4 * MiB, handle: m.handle })).toBe(GNTST.general_error);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: 77 })).toBe(GNTST.bad_handle);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: 0xffffffff })).toBe(GNTST.bad_handle);
    expect(a.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.bad_handle); // not a's handle
    expect(b.u32(hostVa(b))).toBe(0xc0ffee); // still mapped
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.okay);
    expectConsistent(hv);
  });

  it('a revoked grant maps nothing more, while an existing mapping stays until unmapped', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const m = b.mapGrant({ hostAddr: hostVa(b, 0), flags: HOST | GNTMAP.readonly, ref: 0, dom: a.domid });
    // The granter should wait for GTF_reading to clear; revoking early leaves the mapping in place.
    a.setGrantFlags(0, 0);
    expect(b.u32(hostVa(b, 0))).toBe(0xc0ffee);
    const c = b.mapGrant({ hostAddr: hostVa(b, 1), flags: HOST | GNTMAP.readonly, ref: 0, dom: a.domid });
    expect(c.status).toBe(GNTST.okay); // still pinned for b: Xen checks the entry only when unpinned
    expect(b.unmapGrant({ hostAddr: hostVa(b, 0), handle: m.handle })).toBe(GNTST.okay);
    expect(b.unmapGrant({ hostAddr: hostVa(b, 1), handle: c.handle })).toBe(GNTST.okay);
    expect(b.mapGrant({ hostAddr: hostVa(b, 0), flags: HOST | GNTMAP.readonly, ref: 0, dom: a.domid }).status).toBe(GNTST.general_error);
    expectConsistent(hv);
  });

  it('a batch gives each op its own status; the hypercall fails only for the array', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const r = b.mapGrants([
      { hostAddr: hostVa(b, 0), flags: HOST, ref: 0, dom: a.domid },
      { hostAddr: hostVa(b, 1), flags: HOST, ref: 511, dom: a.domid },
      { hostAddr: hostVa(b, 2), flags: HOST, ref: 0, dom: 999 },
      { hostAddr: hostVa(b, 3), flags: HOST | GNTMAP.readonly, ref: 0, dom: a.domid },
    ]);
    expect(r.rc).toBe(0);
    expect(r.results.map((x) => x.status)).toEqual([GNTST.okay, GNTST.general_error, GNTST.bad_domain, GNTST.okay]);
    const u = b.unmapGrants([
      { hostAddr: hostVa(b, 0), handle: r.results[0]!.handle },
      { hostAddr: hostVa(b, 0), handle: 12345 },
      { hostAddr: hostVa(b, 3), handle: r.results[3]!.handle },
    ]);
    expect(u).toEqual({ rc: 0, statuses: [GNTST.okay, GNTST.bad_handle, GNTST.okay] });
    expect(a.grantFlags(0)).toBe(GTF.permit_access);
    expect(b.call(20, GNTTABOP.map_grant_ref, UNMAPPED, 1)).toBe(E('EFAULT'));
    expect(b.call(20, GNTTABOP.map_grant_ref, 0xffc0_0000, 1)).toBe(E('EFAULT'));
    expect(b.call(20, GNTTABOP.map_grant_ref, ARG, -1 >>> 0)).toBe(E('EINVAL'));
    expect(b.call(20, GNTTABOP.map_grant_ref | (1 << 12), ARG, 0)).toBe(E('EINVAL'));
    expect(b.call(20, 3, ARG, 1)).toBe(E('ENOSYS')); // dump_table
    expectConsistent(hv);
  });

  it('GNTMAP_contains_pte: host_addr is the machine address of the PTE', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const m = b.mapGrant({ hostAddr: b.ptePa(hostVa(b)), flags: HOST | GNTMAP.contains_pte, ref: 0, dom: a.domid });
    expect(m.status).toBe(GNTST.okay);
    expect(b.u32(hostVa(b))).toBe(0xc0ffee);
    expect(b.mapGrant({ hostAddr: b.ptePa(hostVa(b)) + 2, flags: HOST | GNTMAP.contains_pte | GNTMAP.readonly, ref: 0, dom: a.domid }).status).toBe(GNTST.general_error);
    expect(b.unmapGrant({ hostAddr: b.ptePa(hostVa(b)), handle: m.handle })).toBe(GNTST.okay);
    expectConsistent(hv);
  });

  it('plain mmu_update cannot map a granted frame, and overwriting a grant PTE crashes the mapper', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    expect(b.setPte(b.ptePa(hostVa(b, 1)), pte(frame, RW))).toBe(E('EBUSY'));
    b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 0, dom: a.domid });
    expect(b.setPte(b.ptePa(hostVa(b)), 0)).toBe(0);
    expect(b.domain.state).toBe('crashed');
    expect(b.domain.crashMessage).toMatch(/implicitly unmap a granted PTE/);
    hv.destroyDomain(b.domain);
    expect(a.grantFlags(0)).toBe(GTF.permit_access);
    expectConsistent(hv);
  });

  it('set_version accepts 1 only; get_version reports 1', () => {
    const { a, b } = pair();
    a.putU32(ARG, 1);
    expect(a.call(20, GNTTABOP.set_version, ARG, 1)).toBe(0);
    a.putU32(ARG, 2);
    expect(a.call(20, GNTTABOP.set_version, ARG, 1)).toBe(E('ENOSYS'));
    expect(a.u32(ARG)).toBe(1);
    a.putU32(ARG, 0x7ff0, 0);
    expect(a.call(20, GNTTABOP.get_version, ARG, 1)).toBe(0);
    expect(a.u32(ARG + 4)).toBe(1);
    a.putU32(ARG, b.domid, 0);
    expect(a.call(20, GNTTABOP.get_version, ARG, 1)).toBe(E('EPERM'));
  });
});

describe('GNTTABOP_copy', () => {
  const SRC = GNTCOPY.source_gref;
  const DST = GNTCOPY.dest_gref;

  it('copies out of a grant into an own frame, and into a grant from an own frame', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const mine = b.mfnOfVa(SPARE_VA);
    let r = b.copyGrants([{ src: [0, a.domid, 0], dst: [mine, DOMID.SELF, 8], len: 4, flags: SRC }]);
    expect(r).toEqual({ rc: 0, statuses: [GNTST.okay] });
    expect(b.u32(SPARE_VA + 8)).toBe(0xc0ffee);
    expect(a.grantFlags(0)).toBe(GTF.permit_access); // busy only during the copy
    b.putU32(SPARE_VA, 0x1234);
    r = b.copyGrants([{ src: [mine, DOMID.SELF, 0], dst: [0, a.domid, 16], len: 4, flags: DST }]);
    expect(r.statuses).toEqual([GNTST.okay]);
    expect(a.u32(SPARE_VA + 16)).toBe(0x1234);
    expectConsistent(hv);
  });

  it('statuses: bounds, frames by number of others, bad refs and domains, read-only grants as destination', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    a.grant(1, b.domid, frame, GTF.permit_access | GTF.readonly);
    const mine = b.mfnOfVa(SPARE_VA);
    const r = b.copyGrants([
      { src: [0, a.domid, 4000], dst: [mine, DOMID.SELF, 0], len: 200, flags: SRC },
      { src: [0, a.domid, 0], dst: [mine, DOMID.SELF, 4095], len: 2, flags: SRC },
      { src: [frame, a.domid, 0], dst: [mine, DOMID.SELF, 0], len: 4, flags: 0 },
      { src: [mine, DOMID.SELF, 0], dst: [frame, a.domid, 0], len: 4, flags: 0 },
      { src: [frame, DOMID.SELF, 0], dst: [mine, DOMID.SELF, 0], len: 4, flags: 0 },
      { src: [600, a.domid, 0], dst: [mine, DOMID.SELF, 0], len: 4, flags: SRC },
      { src: [0, 999, 0], dst: [mine, DOMID.SELF, 0], len: 4, flags: SRC },
      { src: [mine, DOMID.SELF, 0], dst: [1, a.domid, 0], len: 4, flags: DST },
      { src: [0, a.domid, 0], dst: [b.l2Mfn, DOMID.SELF, 0], len: 4, flags: SRC },
      { src: [0, a.domid, 0], dst: [mine, DOMID.SELF, 0], len: 0, flags: SRC },
    ]);
    expect(r.rc).toBe(0);
    expect(r.statuses).toEqual([
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.permission_denied,
      GNTST.permission_denied,
      GNTST.bad_page,
      GNTST.bad_gntref,
      GNTST.bad_domain,
      GNTST.general_error,
      GNTST.general_error,
      GNTST.okay,
    ]);
    expect(a.grantFlags(0)).toBe(GTF.permit_access);
    expect(a.grantFlags(1)).toBe(GTF.permit_access | GTF.readonly);
    expect(b.call(20, GNTTABOP.copy, UNMAPPED, 2)).toBe(E('EFAULT'));
    expectConsistent(hv);
  });

  it('copies while the grant is also mapped, keeping the flags of the mapping', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const m = b.mapGrant({ hostAddr: hostVa(b), flags: HOST | GNTMAP.readonly, ref: 0, dom: a.domid });
    expect(b.copyGrants([{ src: [b.mfnOfVa(SPARE_VA), DOMID.SELF, 0], dst: [0, a.domid, 0], len: 4, flags: GNTCOPY.dest_gref }]).statuses).toEqual([GNTST.okay]);
    expect(a.grantFlags(0)).toBe(GTF.permit_access | GTF.reading);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.okay);
    expectConsistent(hv);
  });
});

describe('domain destruction', () => {
  it('a dying mapper releases its mappings: the granter\'s flags and counts come back', () => {
    const { hv, a, b, frame } = pair();
    const before = [hv.frames.typeCount(frame), hv.frames.refCount(frame)];
    a.grant(0, b.domid, frame, GTF.permit_access);
    a.grant(1, b.domid, a.mfnOfVa(SPARE_VA + 4096), GTF.permit_access);
    b.mapGrant({ hostAddr: hostVa(b, 0), flags: HOST, ref: 0, dom: a.domid });
    b.mapGrant({ flags: GNTMAP.device_map | GNTMAP.readonly, ref: 1, dom: a.domid });
    hv.destroyDomain(b.domain);
    expect(a.grantFlags(0)).toBe(GTF.permit_access);
    expect(a.grantFlags(1)).toBe(GTF.permit_access);
    expect([hv.frames.typeCount(frame), hv.frames.refCount(frame)]).toEqual(before);
    expect(hv.frames.totPages(b.domid)).toBe(0);
    expectConsistent(hv);
  });

  it('a dying granter\'s frame stays allocated while mapped, and is freed by the last unmap', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access);
    const m = b.mapGrant({ hostAddr: hostVa(b), flags: HOST, ref: 0, dom: a.domid });
    const allocated = hv.frames.allocated;
    hv.destroyDomain(a.domain);
    expect(hv.frames.allocated).toBe(allocated - 768 - 1); // a's frames, shared_info and grant frame, but the mapped one
    expect(hv.frames.ownerOf(frame)).toBe(a.domid);
    expect(hv.frames.refCount(frame)).toBe(1); // b's mapping
    expect(b.u32(hostVa(b))).toBe(0xc0ffee);
    expect(b.mapGrant({ hostAddr: hostVa(b, 1), flags: HOST, ref: 0, dom: a.domid }).status).toBe(GNTST.bad_domain);
    expect(b.copyGrants([{ src: [0, a.domid, 0], dst: [b.mfnOfVa(SPARE_VA), DOMID.SELF, 0], len: 4, flags: GNTCOPY.source_gref }]).statuses).toEqual([GNTST.bad_domain]);
    expect(b.unmapGrant({ hostAddr: hostVa(b), handle: m.handle })).toBe(GNTST.okay);
    expect(hv.frames.allocated).toBe(allocated - 768 - 2);
    expect(hv.frames.ownerOf(frame)).not.toBe(a.domid);
    expectConsistent(hv);
  });
});

describe('hypervisor-side grant use (a domain without vCPUs, as the dom0 process acts for domain 0)', () => {
  it('device-maps, copies and unmaps a grant with no page tables involved', () => {
    const { hv, a, b, frame } = pair();
    a.grant(0, b.domid, frame, GTF.permit_access | GTF.readonly);
    const m = gnttabMapForDomain(hv, b.domain, a.domid, 0, true);
    expect(m).toMatchObject({ status: GNTST.okay, mfn: frame });
    expect(hv.mem.read32(m.mfn * 4096)).toBe(0xc0ffee);
    expect(a.grantFlags(0)).toBe(GTF.permit_access | GTF.readonly | GTF.reading);
    expect(gnttabMapForDomain(hv, b.domain, a.domid, 0, false).status).toBe(GNTST.general_error);
    expectConsistent(hv);
    const st = gnttabCopyForDomain(hv, b.domain, {
      source: { u: 0, domid: a.domid, offset: 0 },
      dest: { u: b.mfnOfVa(SPARE_VA), domid: DOMID.SELF, offset: 0 },
      len: 4,
      flags: GNTCOPY.source_gref,
      status: 0,
    });
    expect(st).toBe(GNTST.okay);
    expect(b.u32(SPARE_VA)).toBe(0xc0ffee);
    expect(gnttabUnmapForDomain(hv, b.domain, m.handle)).toBe(GNTST.okay);
    expect(gnttabUnmapForDomain(hv, b.domain, m.handle)).toBe(GNTST.bad_handle);
    expect(a.grantFlags(0)).toBe(GTF.permit_access | GTF.readonly);
    expectConsistent(hv);
  });
});

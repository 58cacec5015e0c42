// The control domain's service (hypervisor/control/service.ts) on its own, in both of its
// page modes: shared (dom0 in the hypervisor's process, the frame itself) and mirrored (dom0
// in its own process, a copy kept in step by page updates). The adapters over it
// (LocalPlatform, Dom0Bridge) are covered by dom0-grants, page-ordering and the backends.

import { describe, expect, it } from 'vitest';
import { ControlService, ControlServiceError } from '../hypervisor/control/service.ts';
import { LocalPlatform } from '../sim/local_platform.ts';
import { evtchnAllocUnbound, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { ECS } from '../hypervisor/evtchn/state.ts';
import { GNTST, GTF } from '../protocol/xen/grant_table.ts';
import { MmGuest, SPARE_VA, MiB, E, machine } from './mm_helpers.ts';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';

function setup(pages: 'shared' | 'mirrored') {
  const hv = machine();
  const served: number[] = [];
  const svc = new ControlService(hv, { pages, serve: (port) => void served.push(port) });
  const g = MmGuest.create(hv, { name: 'guest' });
  g.shareGrantTable(g.layout.virtBase + 3 * MiB);
  const frame = g.mfnOfVa(SPARE_VA);
  g.putU32(SPARE_VA, 0xc0ffee);
  return { hv, svc, served, g, frame };
}

function refusal(f: () => unknown): ControlServiceError {
  try {
    f();
  } catch (e) {
    if (e instanceof ControlServiceError) return e;
    throw e;
  }
  throw new Error('not refused');
}

const u32 = (b: Uint8Array, off = 0) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

describe('control service', () => {
  it('shared: a foreign mapping is the frame itself; a read-only grant is a private copy', () => {
    const { hv, svc, g, frame } = setup('shared');
    const page = svc.mapForeign(g.domid, frame);
    expect(page).toBe(hv.mem.ensureFrame(frame));
    g.grant(8, 0, frame, GTF.permit_access | GTF.readonly);
    const ro = svc.mapGrant(g.domid, 8, true);
    expect(ro.status).toBe(GNTST.okay);
    ro.page![0] = 0x55; // dom0's store stays in its copy
    expect(u32(g.get(SPARE_VA, 4))).toBe(0xc0ffee);
    expect(svc.takePageUpdates()).toEqual([]); // nothing is mirrored
    expect(svc.unmapGrant(ro.handle)).toBe(GNTST.okay);
  });

  it('mirrored: guest stores become page updates, dom0 updates reach the frame, refusals name the page', () => {
    const { hv, svc, g, frame } = setup('mirrored');
    const page = svc.mapForeign(g.domid, frame);
    expect(page).not.toBe(hv.mem.ensureFrame(frame));
    expect(u32(page)).toBe(0xc0ffee);
    g.putU32(SPARE_VA + 64, 0xabcd);
    const ups = svc.takePageUpdates();
    expect(ups).toHaveLength(1);
    expect(ups[0]!.mfn).toBe(frame);
    expect(ups[0]!.offset).toBe(64);
    expect(svc.takePageUpdates()).toEqual([]); // taken once
    svc.applyPageUpdates([{ mfn: frame, offset: 128, data: Uint8Array.of(9, 8, 7) }]);
    expect([...g.get(SPARE_VA + 128, 3)]).toEqual([9, 8, 7]);
    expect(refusal(() => svc.applyPageUpdates([{ mfn: frame, offset: 4094, data: Uint8Array.of(1, 2, 3) }])).rc).toBe(E('EINVAL'));
    svc.unmapForeign(frame);
    expect(refusal(() => svc.applyPageUpdates([{ mfn: frame, offset: 0, data: Uint8Array.of(1) }])).message).toMatch(/has not mapped/);
    // Reached only through a read-only grant: dom0's stores are refused.
    g.grant(8, 0, frame, GTF.permit_access | GTF.readonly);
    svc.mapGrant(g.domid, 8, true);
    expect(refusal(() => svc.applyPageUpdates([{ mfn: frame, offset: 0, data: Uint8Array.of(1) }])).message).toMatch(/read-only/);
    expect(u32(g.get(SPARE_VA, 4))).toBe(0xc0ffee);
  });

  for (const pages of ['shared', 'mirrored'] as const) {
    it(`${pages}: refuses a frame that is not the domain's, and a domain that does not exist`, () => {
      const { hv, svc, g } = setup(pages);
      const other = MmGuest.create(hv, { name: 'other' });
      expect(refusal(() => svc.mapForeign(g.domid, other.mfnOfVa(SPARE_VA))).rc).toBe(E('EPERM'));
      expect(refusal(() => svc.mapForeign(99, 1)).message).toMatch(/no domain 99/);
    });

    it(`${pages}: notifications of a dom0 port coalesce into one dispatch; release lets go of ports and grants`, async () => {
      const { hv, svc, served, g, frame } = setup(pages);
      const gport = evtchnAllocUnbound(hv, g.domain, g.domid, 0);
      const port = svc.bindInterdomain(g.domid, gport);
      expect(refusal(() => svc.bindInterdomain(g.domid, gport)).rc).toBeLessThan(0); // bound already
      for (let i = 0; i < 3; i++) evtchnSend(hv, g.domain, gport);
      await hv.runAsync({ until: hv.now() + 1_000_000 });
      expect(served).toEqual([port]);
      // Binding notifies the new port once (as Xen does), then three sends: one dispatch.
      expect(svc.dispatcher.stats).toMatchObject({ notifications: 4, dispatches: 1, coalesced: 3 });
      g.grant(8, 0, frame, GTF.permit_access);
      expect(svc.mapGrant(g.domid, 8, false).status).toBe(GNTST.okay);
      expect(g.grantFlags(8)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
      svc.release();
      expect(g.grantFlags(8)).toBe(GTF.permit_access);
      expect(svc.control.evtchn!.state[port]).toBe(ECS.FREE);
      expect(g.domain.evtchn!.state[gport]).toBe(ECS.UNBOUND); // a new dom0 may bind it again
    });
  }

  it('both adapters carry the one service', async () => {
    const hv: Hypervisor = machine();
    const local = new LocalPlatform(hv);
    expect(local.service).toBeInstanceOf(ControlService);
    expect(local.service.pages).toBe('shared');
    const g = MmGuest.create(hv, { name: 'guest' });
    const gport = evtchnAllocUnbound(hv, g.domain, g.domid, 0);
    const port = await local.bindInterdomain(g.domid, gport);
    let n = 0;
    local.onEvent(port, () => void n++);
    evtchnSend(hv, g.domain, gport);
    evtchnSend(hv, g.domain, gport);
    await hv.runAsync({ until: hv.now() + 1_000_000 });
    expect(n).toBe(1);
    expect(local.service.dispatcher.stats).toMatchObject({ notifications: 3, dispatches: 1, coalesced: 2 }); // the bind, two sends
  });
});

// dom0's grant operations (what blkback and netback will use), the same on both platforms:
// in-process, and across a real WebSocket to the hypervisor's server. A guest grants a
// page to domain 0; dom0 maps it, reads and writes it, copies in and out, and unmaps.

import { afterEach, describe, expect, it } from 'vitest';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect } from '../protocol/session.ts';
import { LocalPlatform } from '../sim/local_platform.ts';
import { RemotePlatform } from '../dom0/remote_platform.ts';
import type { Dom0Platform } from '../dom0/platform.ts';
import { GNTST, GTF } from '../protocol/xen/grant_table.ts';
import { MmGuest, SPARE_VA, MiB } from './mm_helpers.ts';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function withPlatform(kind: 'local' | 'remote'): Promise<{ hv: Hypervisor; platform: Dom0Platform; server: HypervisorServer }> {
  const server = new HypervisorServer({ token: 't0k3n', manual: true, machineMemoryBytes: 128 * MiB });
  if (kind === 'local') return { hv: server.hv, platform: new LocalPlatform(server.hv), server };
  const h = await server.start();
  const { peer } = await connect(h.url, 'dom0', 't0k3n');
  await server.waitForDom0();
  closers.push(() => peer.close(), h.close);
  return { hv: server.hv, platform: new RemotePlatform(peer), server };
}

function granter(hv: Hypervisor) {
  const g = MmGuest.create(hv, { name: 'granter' });
  g.shareGrantTable(g.layout.virtBase + 3 * MiB);
  const frame = g.mfnOfVa(SPARE_VA);
  g.putU32(SPARE_VA, 0xc0ffee);
  return { g, frame };
}

for (const kind of ['local', 'remote'] as const) {
  describe(`dom0 grant operations (${kind})`, () => {
    it('maps a granted page, sees its contents, writes through it, and unmaps', async () => {
      const { hv, platform } = await withPlatform(kind);
      const { g, frame } = granter(hv);
      g.grant(8, 0, frame, GTF.permit_access);
      const m = await platform.mapGrant(g.domid, 8, false);
      expect(m.status).toBe(GNTST.okay);
      expect(m.page!.mem.u32le(0)).toBe(0xc0ffee);
      expect(g.grantFlags(8)).toBe(GTF.permit_access | GTF.reading | GTF.writing);
      m.page!.mem.write(16, new Uint8Array([1, 2, 3, 4]));
      expect(await platform.unmapGrant(m.handle)).toBe(GNTST.okay); // carries the write
      expect([...g.get(SPARE_VA + 16, 4)]).toEqual([1, 2, 3, 4]);
      expect(g.grantFlags(8)).toBe(GTF.permit_access);
    });

    it('refuses what Xen refuses: a bad ref, a revoked grant, a writable map of a read-only grant', async () => {
      const { hv, platform } = await withPlatform(kind);
      const { g, frame } = granter(hv);
      expect((await platform.mapGrant(g.domid, 4096, false)).status).toBe(GNTST.bad_gntref);
      g.grant(9, 0, frame, 0); // never permitted
      expect((await platform.mapGrant(g.domid, 9, false)).status).not.toBe(GNTST.okay);
      g.grant(10, 0, frame, GTF.permit_access | GTF.readonly);
      expect((await platform.mapGrant(g.domid, 10, false)).status).not.toBe(GNTST.okay);
      const ro = await platform.mapGrant(g.domid, 10, true);
      expect(ro.status).toBe(GNTST.okay);
      expect(await platform.unmapGrant(ro.handle)).toBe(GNTST.okay);
      expect(await platform.unmapGrant(12345)).toBe(GNTST.bad_handle);
      expect((await platform.mapGrant(77, 8, false)).status).toBe(GNTST.bad_domain);
    });

    it('copies bytes into and out of a granted page, within the page only', async () => {
      const { hv, platform } = await withPlatform(kind);
      const { g, frame } = granter(hv);
      g.grant(8, 0, frame, GTF.permit_access);
      expect(await platform.copyToGrant(g.domid, 8, 100, new TextEncoder().encode('hello guest'))).toBe(GNTST.okay);
      expect(new TextDecoder().decode(g.get(SPARE_VA + 100, 11))).toBe('hello guest');
      const out = await platform.copyFromGrant(g.domid, 8, 0, 4);
      expect(out.status).toBe(GNTST.okay);
      expect(new DataView(out.data.buffer, out.data.byteOffset).getUint32(0, true)).toBe(0xc0ffee);
      expect(await platform.copyToGrant(g.domid, 8, 4090, new Uint8Array(10))).toBe(GNTST.bad_copy_arg);
      g.grant(11, 0, frame, GTF.permit_access | GTF.readonly);
      expect(await platform.copyToGrant(g.domid, 11, 0, new Uint8Array(4))).not.toBe(GNTST.okay);
      expect((await platform.copyFromGrant(g.domid, 11, 0, 4)).status).toBe(GNTST.okay);
    });

    it('copies it does not wait for: a status store lands only where a copy failed, after the response, and dom0 hears which', async () => {
      const { hv, platform, server } = await withPlatform(kind);
      const { g, frame } = granter(hv);
      g.grant(8, 0, frame, GTF.permit_access); // the "ring" dom0 maps
      g.grant(12, 0, frame, GTF.permit_access); // a buffer copied into
      g.grant(13, 0, frame, GTF.permit_access | GTF.readonly); // a buffer a copy into must fail
      const ring = await platform.mapGrant(g.domid, 8, false);
      const ok = platform.copyToGrantsLater!([{ domid: g.domid, ref: 12, offset: 1024, data: Uint8Array.from([5, 6, 7, 8]) }]);
      ring.page!.mem.write(0, Uint8Array.from([1, 1])); // a response written as if the copy succeeded
      ok.onFail(ring.page!.mem, 0, Uint8Array.from([0xff, 0xff]));
      const bad = platform.copyToGrantsLater!([{ domid: g.domid, ref: 13, offset: 1100, data: Uint8Array.from([9, 9]) }]);
      ring.page!.mem.write(2, Uint8Array.from([1, 1]));
      bad.onFail(ring.page!.mem, 2, Uint8Array.from([0xff, 0xff]));
      // In-process the outcome is known at once; across the socket it is the hypervisor's.
      expect([ok.failed, bad.failed]).toEqual(kind === 'local' ? [false, true] : [null, null]);
      const heard: boolean[] = [];
      ok.onSettled((f) => heard.push(f));
      bad.onSettled((f) => heard.push(f));
      expect(await platform.unmapGrant(ring.handle)).toBe(GNTST.okay); // goes after the queued copies and stores
      expect([...g.get(SPARE_VA + 1024, 4)]).toEqual([5, 6, 7, 8]);
      expect([...g.get(SPARE_VA + 1100, 2)]).toEqual([0, 0]);
      expect([...g.get(SPARE_VA, 4)]).toEqual([1, 1, 0xff, 0xff]);
      if (kind === 'remote') {
        // The next dispatch tells dom0 which copies failed (a port no daemon serves will do).
        expect(heard).toEqual([]);
        server.control!.dispatcher.notify(0xfffff);
        await hv.runAsync({ until: hv.now() + 1_000_000 }); // bounded: the granter may never idle
      }
      expect(heard).toEqual([false, true]);
    });
  });
}

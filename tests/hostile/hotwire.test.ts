// Hostile hot frames (protocol/hot_wire.ts) from a logged-in dom0, over a real socket: what a
// buggy or compromised dom0 can make the hypervisor do with DISPATCH_DONE and BATCH. dom0 is
// privileged, but it must not reach a frame it holds no mapping of (a domain destroyed under
// its mapping, a frame given to another domain since), nor crash the hypervisor.

import { afterEach, describe, expect, it } from 'vitest';
import type { HotFrame } from '../../protocol/hot_wire.ts';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { connect } from '../../protocol/session.ts';
import type { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { GTF } from '../../protocol/xen/grant_table.ts';
import { MAX_COPY_OUT_BYTES } from '../../protocol/hot_wire.ts';
import { MiB, MmGuest, SPARE_VA } from '../mm_helpers.ts';

type Batch = Extract<HotFrame, { kind: 'batch' }>;

/** A hypervisor serving dom0 on a real socket (in this process, to reach its guests). */
async function hypervisor(closers: (() => unknown)[], memMiB = 16) {
  const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: memMiB * MiB });
  const h = await server.start();
  closers.push(h.close);
  const { peer } = await connect(h.url, 'dom0', 't');
  closers.push(() => peer.close());
  return { hv: (server as unknown as { hv: Hypervisor }).hv, peer, url: h.url };
}

describe('hostile hot frames from dom0', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it('a foreign mapping keeps its frame: after the domain is destroyed, dom0 stores through it reach no other domain', async () => {
    const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: 16 * 1024 * 1024 });
    const h = await server.start();
    closers.push(h.close);
    const { peer } = await connect(h.url, 'dom0', 't');
    closers.push(() => peer.close());
    const a = await peer.request('domainCreateEmpty', { name: 'a', nrPages: 64, weight: 0, cap: 0, maxmemPages: 0 });
    expect(a.rc).toBe(0);
    const victimMfn = a.emptyDomain!.p2m![0]!;
    const m = await peer.request('mapForeign', { domid: a.emptyDomain!.domid, mfn: victimMfn });
    expect(m.rc).toBe(0);
    expect((await peer.request('destroyDomain', { domid: a.emptyDomain!.domid })).rc).toBe(0);
    // A new domain takes every free frame: before the fix, the one dom0 still maps among them.
    const free = (await peer.request('info', {})).info!.freePages;
    const b = await peer.request('domainCreateEmpty', { name: 'b', nrPages: free - 1, weight: 0, cap: 0, maxmemPages: 0 });
    expect(b.rc).toBe(0);
    const bDomid = b.emptyDomain!.domid;
    expect(b.emptyDomain!.p2m).not.toContain(victimMfn);
    // dom0's (stale) mapping: its store stays in the frame it mapped, which is no one's now.
    const marker = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);
    await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'write', mfn: victimMfn, offset: 0, data: marker }] });
    expect((await peer.request('mapForeign', { domid: bDomid, mfn: victimMfn })).rc).not.toBe(0);
    // Unmapping lets the frame go; then it is free for others.
    expect((await peer.request('unmapForeign', { domid: 0, mfn: victimMfn })).rc).toBe(0);
    expect((await peer.request('info', {})).info!.freePages).toBe(1);
  });

  it('a batch asking for more copied-out bytes than an answer may carry is refused before anything runs', async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    // A guest grants dom0 one page: each copy out of it answers 4 KiB.
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'granter' });
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    g.grant(1, 0, g.mfnOfVa(SPARE_VA), GTF.permit_access);
    const one = await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'copyFrom', domid: g.domid, ref: 1, offset: 0, len: 4096 }] });
    expect([one.rc, one.results[0]!.status, one.results[0]!.data.length]).toEqual([0, 0, 4096]);
    // 11 bytes on the wire ask for 4 KiB back: a 24 MiB frame of them would ask for 9 GiB.
    const n = MAX_COPY_OUT_BYTES / 4096 + 1;
    const ops = Array.from({ length: n }, () => ({ op: 'copyFrom' as const, domid: g.domid, ref: 1, offset: 0, len: 4096 }));
    const big = await peer.requestHot<Batch>({ kind: 'batch', ops });
    expect(big.rc).toBe(-7); // E2BIG
    expect(big.error).toMatch(/copies out/);
    expect(big.results).toEqual([]);
    // The connection goes on.
    expect((await peer.request('info', {})).rc).toBe(0);
  });
});

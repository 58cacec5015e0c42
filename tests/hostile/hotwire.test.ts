// Hostile hot frames (protocol/hot_wire.ts) from a logged-in dom0, over a real socket: what a
// buggy or compromised dom0 can make the hypervisor do with DISPATCH_DONE and BATCH. dom0 is
// privileged, but it must not reach a frame it holds no mapping of (a domain destroyed under
// its mapping, a frame given to another domain since), nor crash the hypervisor.

import { afterEach, describe, expect, it } from 'vitest';
import type { HotFrame } from '../../protocol/hot_wire.ts';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { connect } from '../../protocol/session.ts';

type Batch = Extract<HotFrame, { kind: 'batch' }>;

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
});

// dom0's domain builder against the hypervisor over a real socket: the empty domain it
// gets, the pages it writes, and what the hypervisor refuses.

import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect, type Peer } from '../protocol/session.ts';
import { buildDomain } from '../dom0/toolstack/builder.ts';
import { readStartInfo, START_INFO_MAGIC } from '../protocol/xen/start_info.ts';
import { copyFromGuest } from '../hypervisor/mm/guest_access.ts';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function setup() {
  const server = new HypervisorServer({ token: 'tok', manual: true, machineMemoryBytes: 256 * 1024 * 1024 });
  const h = await server.start();
  // A dom0 that acknowledges the set-up dispatches (its daemons are not under test here).
  const { peer } = await connect(h.url, 'dom0', 'tok', () => ({ rc: 0 }));
  await server.waitForDom0();
  closers.push(() => peer.close(), h.close);
  return { hv: server.hv, peer };
}

describe("dom0's domain builder", () => {
  it('builds a domain whose bootstrap region matches the in-process builder', async () => {
    const { hv, peer } = await setup();
    const kernel = readFileSync('guests/build/hello.elf');
    const r = await buildDomain(peer, { name: 'remote', kernel, cmdline: 'x=1', memoryMib: 8, paused: true });
    expect(r.rc).toBe(0);
    const d = hv.domain(r.domain!.domid)!;
    const local = hv.createPvDomain(kernel, { name: 'local', memoryBytes: 8 * 1024 * 1024, cmdline: 'x=1' });
    const si = (dom: typeof d) => readStartInfo(copyFromGuest(dom.vcpus[0]!.hart, dom.startInfoVa, 4096)!);
    const a = si(d);
    const b = si(local.domain);
    expect(a.magic).toBe(START_INFO_MAGIC);
    expect({ ...a, storeMfn: 0, consoleMfn: 0, sharedInfo: 0, storeEvtchn: 0, consoleEvtchn: 0 }).toEqual({ ...b, storeMfn: 0, consoleMfn: 0, sharedInfo: 0, storeEvtchn: 0, consoleEvtchn: 0 });
    expect(a.storeEvtchn).toBeGreaterThan(0); // allocated for dom0 before start_info was written
    // The same code at the same virtual addresses.
    const code = (dom: typeof d) => [...copyFromGuest(dom.vcpus[0]!.hart, 0xc0000000, 256)!];
    expect(code(d)).toEqual(code(local.domain));
    expect(d.vcpus[0]!.hart.pc).toBe(local.domain.vcpus[0]!.hart.pc);
    expect(d.state).toBe('paused');
  });

  it("refuses pages that are not the domain's and removes the half-built domain", async () => {
    const { hv, peer } = await setup();
    const victim = hv.createPvDomain(readFileSync('guests/build/hello.elf'), { name: 'victim', memoryBytes: 8 * 1024 * 1024 }).domain;
    const e = (await peer.request('domainCreateEmpty', { name: 'evil', nrPages: 2048 })).emptyDomain!;
    const r = await peer.request('domainBuild', {
      domid: e.domid,
      pages: [{ mfn: victim.p2m[0]!, offset: 0, data: new Uint8Array(4096).fill(0xee) }],
      entry: 0xc0000000, startInfoVa: 0, stackTop: 0, l2Mfn: e.p2m[0]!, vcpus: 1, virtBase: 0xc0000000, storeVa: 0, consoleVa: 0,
    });
    expect(r.rc).toBe(-1);
    expect(r.error).toMatch(/does not belong/);
    expect(hv.domain(e.domid)).toBeUndefined();
    expect(copyFromGuest(victim.vcpus[0]!.hart, 0xc0000000, 4)![0]).not.toBe(0xee);
    expect((await peer.request('domainBuild', { domid: 99, pages: [], entry: 0, startInfoVa: 0, stackTop: 0, l2Mfn: 0, vcpus: 1, virtBase: 0, storeVa: 0, consoleVa: 0 })).rc).toBe(-3);
  });

  it('answers a bad kernel with the reason, building nothing', async () => {
    const { hv, peer } = await setup();
    const r = await buildDomain(peer, { name: 'bad', kernel: new Uint8Array(100), memoryMib: 8 });
    expect(r.rc).toBe(-22);
    expect(r.error).toMatch(/not an ELF/);
    expect([...hv.domains.values()].filter((d) => d.domid !== 0)).toEqual([]);
  });
});

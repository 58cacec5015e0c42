// The hypervisor server's answers always encode: virtual time paced to the wall clock is
// fractional, and the protocol carries integers (a fractional CPU time once broke
// `pvsim demo`'s xl list with "bad frame").

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect } from '../protocol/session.ts';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('hypervisor server', () => {
  it('answers list, vcpu-list and info with integer times after fractional virtual time', async () => {
    const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: 64 * 1024 * 1024 });
    const h = await server.start();
    closers.push(h.close);
    const { peer } = await connect(h.url, 'dom0', 't');
    closers.push(() => peer.close());
    const hv = server.hv;
    const d = hv.createPvDomain(readFileSync('guests/build/work.elf'), { name: 'spin', memoryBytes: 4 * 1024 * 1024, cmdline: 'work=spin' }).domain;
    hv.unpause(d);
    hv.run({ until: 2_000_000 });
    // As realtime pacing leaves it (clocks advanced to fractional wall-derived targets).
    d.vcpus[0]!.runstateTime[0] += 0.375;
    expect(Number.isInteger(hv.runstateTimes(d.vcpus[0]!)[0]!)).toBe(false);
    for (const [op, arg] of [['listDomains', {}], ['vcpuList', { name: 'spin' }], ['info', {}]] as const) {
      const r = await peer.request(op, arg as never);
      expect(r.error ?? '').toBe('');
      expect(r.rc).toBe(0);
    }
  });
});

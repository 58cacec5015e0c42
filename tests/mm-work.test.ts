// The guest library's PV MMU and grant clients (guests/build/work.elf) against the
// hypervisor: page-table churn, private address spaces with NEW_BASEPTR, and grants between
// two domains, each ending with consistent reference counts and every frame given back.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { auditFrames } from '../hypervisor/mm/domain_mm.ts';

const WORK = readFileSync('guests/build/work.elf');

function boot(...cmdlines: string[]) {
  const hv = new Hypervisor({ machineMemoryBytes: 128 * 1024 * 1024 });
  const out = new Map<number, string>();
  hv.onConsole = (d, b) => out.set(d.domid, (out.get(d.domid) ?? '') + new TextDecoder().decode(b));
  const doms = cmdlines.map((cmdline, i) => hv.createPvDomain(WORK, { name: `w${i}`, memoryBytes: 16 * 1024 * 1024, cmdline }).domain);
  doms.forEach((d) => hv.unpause(d));
  hv.run({ until: 5_000_000_000 });
  return { hv, doms, out: (i: number) => out.get(doms[i]!.domid) ?? '' };
}

describe('work.elf over the PV MMU and grant tables', () => {
  for (const cmdline of ['work=pt n=100 batch=8', 'work=ctxsw n=50 as=private', 'work=syscall n=100 as=private', 'work=pgfault n=3 pages=16', 'work=grant role=loopback n=10 reply=map']) {
    it(cmdline, () => {
      const { hv, doms, out } = boot(cmdline);
      expect(out(0)).toMatch(new RegExp(`^${cmdline.split(' ')[0]} `, 'm'));
      expect(doms[0]!.shutdownReason).toBe('poweroff');
      expect(auditFrames(hv.frames, hv.domains.values())).toEqual([]);
      hv.destroyDomain(doms[0]!);
      expect(hv.frames.allocated).toBe(0);
    });
  }

  it('work=pgfault: every first touch is one fault the kernel maps; a fault outside the region fails', () => {
    const ok = boot('work=pgfault n=4 pages=8');
    const line = ok.out(0).split('\n').find((l) => l.startsWith('work=pgfault '));
    expect(line).toMatch(/^work=pgfault n=4 pages=8 faults=32 instructions=\d+ ns=\d+ ns_per_fault=[1-9]\d* result=(0x[0-9a-f]{8}) check=\1$/);
    expect(ok.doms[0]!.shutdownReason).toBe('poweroff');

    const bad = boot('work=pgfault n=2 pages=4 overrun=1');
    expect(bad.out(0)).toMatch(/^work=pgfault: FAILED: task 1: load page fault at 0x00804000, outside the region \[0x00800000, 0x00804000\)$/m);
    expect(bad.doms[0]!.shutdownReason).toBe('crash');
    expect(auditFrames(bad.hv.frames, bad.hv.domains.values())).toEqual([]);
    bad.hv.destroyDomain(bad.doms[0]!);
    expect(bad.hv.frames.allocated).toBe(0);
  });

  for (const reply of ['copy', 'map']) {
    it(`grants between two domains (reply=${reply})`, () => {
      const { hv, doms, out } = boot('work=grant role=granter peer=2 n=20', `work=grant role=mapper peer=1 gref=8 n=20 reply=${reply}`);
      expect(out(0)).toMatch(/^work=grant role=granter .* rounds=20 /m);
      expect(out(1)).toMatch(new RegExp(`^work=grant role=mapper .* reply=${reply} n=20 ops=20 `, 'm'));
      expect(doms.map((d) => d.shutdownReason)).toEqual(['poweroff', 'poweroff']);
      expect(auditFrames(hv.frames, hv.domains.values())).toEqual([]);
      doms.forEach((d) => hv.destroyDomain(d));
      expect(hv.frames.allocated).toBe(0);
    });
  }
});

// A guest may pass anything in a0..a7. Whatever it passes, the hypervisor answers with a
// number (a result or a negative errno), never throws, and leaves its frame accounting
// consistent; another domain is not disturbed.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { dispatchHypercall } from '../hypervisor/hypercall/index.ts';
import { auditFrames } from '../hypervisor/mm/domain_mm.ts';
import { pvImage, SPIN, PV_BASE } from './helpers/pv_image.ts';

const MiB = 1024 * 1024;

describe('hypercalls with arbitrary arguments', () => {
  it('never throw, always return an integer, and keep frame accounting consistent', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB, pcpus: 2 });
    const make = () => hv.createPvDomain(pvImage(SPIN, { bssBytes: 16 * 4096 }), { name: 'fuzzer', memoryBytes: 8 * MiB, vcpus: 2 }).domain;
    let guest = make();
    let victims = 0;
    const bystander = hv.createPvDomain(pvImage(SPIN), { name: 'bystander', memoryBytes: 4 * MiB }).domain;
    hv.unpause(guest);
    hv.unpause(bystander);

    // Pointers worth trying: mapped, unmapped, page tables, the top of memory, plain junk.
    const ptr = fc.oneof(
      fc.constantFrom(0, 0x1000, PV_BASE, PV_BASE + 0x1000, PV_BASE + 0x3ffffc, 0xfffffffc, 0xffc00000),
      fc.integer({ min: PV_BASE, max: PV_BASE + 8 * MiB }).map((x) => x & ~3),
      fc.nat().map((x) => x >>> 0),
    );
    const arg = fc.oneof(ptr, fc.integer({ min: 0, max: 64 }), fc.nat());
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 45 }), fc.array(arg, { minLength: 5, maxLength: 5 }), (nr, a) => {
        if (!guest.isAlive) {
          // It shut itself down (or crashed): a new one carries on the fuzzing.
          hv.destroyDomain(guest);
          guest = make();
          hv.unpause(guest);
          victims++;
        }
        const r = dispatchHypercall({ hv, vcpu: guest.vcpus[0]! }, nr, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!);
        expect(Number.isInteger(r)).toBe(true);
      }),
      { numRuns: 3000 },
    );
    expect(auditFrames(hv.frames, [...hv.domains.values()])).toEqual([]);
    expect(victims).toBeLessThan(3000);
    expect(bystander.state).toBe('running');
    hv.run({ until: 1_000_000 });
    expect(bystander.state).toBe('running');
  });
});

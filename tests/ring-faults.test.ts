// Faults on a device's shared ring and its notifications in a live run (issue 16 item 4,
// hypervisor/evtchn/ring_faults.ts and faults.ts): pvsim's blkfront and netfront against
// dom0's real backends, in virtual time.
//
//   publish-late   every order io/ring.h's wmb() allows (bodies one by one, then rsp_prod):
//                  correct frontends finish clean, whatever the seed and the delay;
//   publish-early  rsp_prod before the bodies (a missing wmb): both frontends stop, naming it;
//   revoke-grant   the backend answers an error for the request and carries on;
//   reorder-notify notifications delivered after later ones: harmless;
//   crash-backend  at each named point: dom0 restarts the backend, the frontend reconnects
//                  and re-issues what was not answered; the run ends clean;
//   several devices each with their own faults; counts and no-progress lines in the report.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blkResult, injected, liveFaultRig, netResult, VBD, WORK } from './helpers/live_faults.ts';
import type { ScenarioResult } from '../sim/scenario/runner.ts';
import { ScenarioError, validateScenario } from '../sim/scenario/schema.ts';
import { formatReport, reportJson } from '../sim/scenario/report.ts';
import { renderRunHtml } from '../sim/scenario/html.ts';

const rig = liveFaultRig('ring-faults');
const { dir, blk, run } = rig;
const { netPair } = rig;

describe('shared-ring faults in a live run', () => {
  it('publish-late: blkfront and netfront survive every order wmb allows (seeds, delays)', async () => {
    for (const [seed, by] of [[1, '20us'], [2, '150us'], [3, '1ms']] as const) {
      const { out, r } = await run(blk([{ device: VBD, kind: 'publish-late', when: { every: 1 }, by }], { seed }));
      expect(blkResult(out.get('blk')!), `seed ${seed} by ${by}`).toMatchObject({ errors: 0, dataOk: true });
      expect(injected(r, 'blk')[VBD]!['publish-late']).toBeGreaterThan(10);
    }
    const { out, r } = await run(netPair([{ device: 'vif/0', kind: 'publish-late', when: { every: 1 }, by: '100us' }]));
    expect(netResult(out.get('a')!)).toEqual([10, 10, 0, 0]);
    expect(injected(r, 'a')['vif/0']!['publish-late']).toBeGreaterThan(5);
  }, 60_000);

  it('blkfront and netfront survive random mixes of the allowed faults (publish-late, reorder, dup, spurious, delay)', async () => {
    const fc = await import('fast-check');
    const when = fc.oneof(fc.integer({ min: 1, max: 4 }).map((every) => ({ every })), fc.double({ min: 0.05, max: 0.9, noNaN: true }).map((prob) => ({ prob })));
    const us = fc.integer({ min: 1, max: 400 }).map((n) => `${n}us`);
    const fault = fc.oneof(
      fc.record({ kind: fc.constant('publish-late'), when, by: us }),
      fc.record({ kind: fc.constant('reorder-notify'), when, after: fc.integer({ min: 1, max: 3 }), by: us }),
      fc.record({ kind: fc.constant('dup-notify'), when }),
      fc.record({ kind: fc.constant('spurious'), when }),
      fc.record({ kind: fc.constant('delay-notify'), when, by: us }),
    ).map((f) => ({ device: VBD, ...f }));
    // RF_RUNS / RF_SEED search further by hand (40 mixes from seed 7 passed when this was written).
    const runs = { numRuns: Number(process.env.RF_RUNS ?? 4), seed: Number(process.env.RF_SEED ?? 4242) };
    await fc.assert(
      fc.asyncProperty(fc.array(fault, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 1000 }), async (faults, seed) => {
        const { out } = await run(blk(faults, { seed, until: '400ms' }));
        expect(blkResult(out.get('blk') ?? ''), JSON.stringify(faults)).toMatchObject({ errors: 0, dataOk: true });
      }),
      runs,
    );
    // netfront too, on both its rings.
    await fc.assert(
      fc.asyncProperty(fc.array(fault, { minLength: 1, maxLength: 3 }), async (faults) => {
        const { out } = await run(netPair(faults.map((f) => ({ ...f, device: 'vif/0' }))));
        expect(netResult(out.get('a') ?? ''), JSON.stringify(faults)).toEqual([10, 10, 0, 0]);
      }),
      { ...runs, numRuns: Math.ceil(runs.numRuns / 2) },
    );
  }, 90_000);

  it('publish-early (what a missing wmb breaks): both frontends stop and say so', async () => {
    const b = await run(blk([{ device: VBD, kind: 'publish-early', when: { every: 1 }, by: '100us' }]));
    expect(b.out.get('blk')).toMatch(/panic: blkfront: response for no request/);
    expect(blkResult(b.out.get('blk')!)).toBeNull();
    const nf = await run(netPair([{ device: 'vif/0', kind: 'publish-early', when: { every: 1 }, by: '100us' }]));
    expect(nf.out.get('a')).toMatch(/panic: netfront: tx response for no request/);
    expect(injected(nf.r, 'a')['vif/0']!['publish-early']).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('publish-early on the rx ring alone: netfront does not notice, the frames are lost (a finding, asserted as is)', async () => {
    // The stale slot is a posted rx request whose id sits where a response's does: netfront
    // takes it as an answer (status: the gref's high half) and the pings time out.
    const { out, r } = await run(netPair([{ device: 'vif/0', kind: 'publish-early', ring: 'rx', when: { every: 2 }, by: '300us' }], { until: '3s', pings: 3 }));
    const a = out.get('a')!;
    expect(a).not.toMatch(/panic/);
    expect(a).toMatch(/ping seq \d+: -110 \(ETIMEDOUT\)/);
    expect(injected(r, 'a')['vif/0']!['publish-early']).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('revoke-grant: each revoked request is answered with an error and the rest go on', async () => {
    // persistent=0: a grant per request (blkback keeps persistent grants mapped: Xen will not end a grant in use).
    const { out, r } = await run(blk([{ device: VBD, kind: 'revoke-grant', when: { every: 10 } }], { cmdline: 'work=blk mode=rand bs=4096 qd=16 n=64 persistent=0' }));
    const text = out.get('blk')!;
    const k = injected(r, 'blk')[VBD]!['revoke-grant']!;
    expect(k).toBeGreaterThan(5);
    // Each revoked request fails alone (BLKIF_RSP_ERROR: EIO) and later ones are served.
    // (Those still in flight when the workload stops on missing data print nothing.)
    const eio = text.match(/= -5 \(EIO\)/g)?.length ?? 0;
    expect(eio).toBeGreaterThanOrEqual(5);
    expect(eio).toBeLessThanOrEqual(k);
    expect(text).not.toMatch(/panic/);
    // work=blk then reads back what it wrote: a write that failed is caught as missing data.
    expect(text).toMatch(/work=blk: FAILED: read #\d+: sector \d+ word 0 is 0x[0-9a-f]+, expected|work=blk .*errors=/);
    // netback: the packet is answered NETIF_RSP_ERROR (the ping is lost), the ring goes on.
    const nf = await run(netPair([{ device: 'vif/0', kind: 'revoke-grant', when: { at: '2ms' } }], { until: '3s', pings: 3 }));
    const [pings, replies, lost, txErrors] = netResult(nf.out.get('a')!)!;
    expect({ pings, replies: replies! + lost!, txErrors }).toEqual({ pings: 3, replies: 3, txErrors: 1 });
    // The packet lost may be a's ping or its answer to b's: b finishes too.
    expect(netResult(nf.out.get('b')!)?.[0]).toBe(3);
    expect(injected(nf.r, 'a')['vif/0']!['revoke-grant']).toBe(1);
  }, 60_000);

  it('reorder-notify: notifications delivered after later ones are harmless', async () => {
    const { out, r } = await run(blk([{ device: VBD, kind: 'reorder-notify', when: { every: 2 }, after: 2, by: '300us' }]));
    expect(blkResult(out.get('blk')!)).toMatchObject({ errors: 0, dataOk: true });
    expect(injected(r, 'blk')[VBD]!['reorder-notify']).toBeGreaterThan(10);
  }, 60_000);

  it('crash-backend at each named point: dom0 restarts it, blkfront reconnects and finishes clean', async () => {
    for (const point of ['request-consumed', 'response-written', 'response-published']) {
      const { out, r } = await run(blk([{ device: VBD, kind: 'crash-backend', point, when: { every: 5 } }]));
      const text = out.get('blk')!;
      expect(blkResult(text), point).toMatchObject({ errors: 0, dataOk: true });
      const k = injected(r, 'blk')[VBD]!['crash-backend']!;
      expect(k).toBeGreaterThan(2);
      expect(text.match(/reconnected to/g)?.length).toBe(k);
    }
  }, 60_000);

  it('faults on two devices of one domain are told apart and counted each', async () => {
    const spec = {
      name: 'two-devices', pcpus: 2, seed: 8, until: '300ms',
      domains: [
        {
          name: 'a', image: WORK, cmdline: 'work=blk,net mode=rand bs=4096 qd=8 n=32 ip=10.0.0.1 peer=10.0.0.2 ping=10 udp=0', memory: 16,
          disk: [`file:${join(dir, 'two-devices.img')},xvda,w`], vif: ['mac=00:16:3e:00:00:01,bridge=xenbr0'],
          faults: [
            { device: VBD, kind: 'publish-late', when: { every: 2 }, by: '100us' },
            { device: 'vif/0', kind: 'reorder-notify', when: { every: 2 } },
            { device: 'vif/0', kind: 'dup-notify', when: { every: 4 } },
          ],
        },
        { name: 'b', image: WORK, cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=10 udp=0', memory: 16, vif: ['mac=00:16:3e:00:00:02,bridge=xenbr0'] },
      ],
    };
    const { out, r } = await run(spec);
    expect(blkResult(out.get('a')!)).toMatchObject({ errors: 0, dataOk: true });
    expect(netResult(out.get('a')!)).toEqual([10, 10, 0, 0]);
    const c = injected(r, 'a');
    expect(c[VBD]!['publish-late']).toBeGreaterThan(0);
    expect(c['vif/0']!['reorder-notify']).toBeGreaterThan(0);
    expect(c['vif/0']!['dup-notify']).toBeGreaterThan(0);
    const report = formatReport(r);
    expect(report).toMatch(/^faults d1 a: vbd\/51712 publish-late=\d+; vif\/0 reorder-notify=\d+ dup-notify=\d+$/m);
  }, 60_000);

  it('a lost notification: the run reports no progress on the ring (table and JSON)', async () => {
    const { out, r } = await run(blk([{ device: VBD, kind: 'lose-notify', when: { every: 3 } }], { until: '100ms' }));
    expect(blkResult(out.get('blk') ?? '')).toBeNull();
    const report = formatReport(r);
    expect(report).toMatch(/^faults d1 blk: vbd\/51712 lose-notify=1$/m);
    expect(report).toMatch(/^faults d1 blk: no progress on vbd\/51712 ring-ref: \d+ request\(s\) unanswered; /m);
    const json = reportJson(r);
    expect(json.domains[0]!.faults!.stuck).toHaveLength(1);
    const html = renderRunHtml(json, 'f.json');
    expect(html).toContain('Faults');
    expect(html).toContain('lose-notify');
    // A clean run has no such line, and a domain without faults no faults entry.
    const clean = await run(blk([{ device: VBD, kind: 'dup-notify', when: { every: 1 } }]));
    expect(formatReport(clean.r)).not.toMatch(/no progress/);
  }, 60_000);
});

describe('the new fault keys are checked', () => {
  const bad: [unknown, string][] = [
    [{ device: VBD, kind: 'publish-late', when: { every: 1 } }, "publish-late needs 'by'"],
    [{ device: VBD, kind: 'publish-early', when: { every: 1 }, by: '2s' }, "publish-early needs 'by'"],
    [{ device: VBD, kind: 'crash-backend', when: { every: 1 } }, "crash-backend needs 'point'"],
    [{ device: VBD, kind: 'crash-backend', point: 'response-eaten', when: { every: 1 } }, 'point'],
    [{ device: VBD, kind: 'lose-notify', point: 'request-consumed', when: { every: 1 } }, "'point' is for crash-backend"],
    [{ device: VBD, kind: 'revoke-grant', dir: 'to-backend', when: { every: 1 } }, "'dir' is for notification faults"],
    [{ device: VBD, kind: 'lose-notify', after: 2, when: { every: 1 } }, "'after' is for reorder-notify"],
    [{ device: VBD, kind: 'reorder-notify', after: 0, when: { every: 1 } }, 'after'],
    [{ device: VBD, kind: 'reorder-notify', by: '0ms', when: { every: 1 } }, "reorder-notify's 'by'"],
    [{ device: 'vif/0', kind: 'publish-late', by: '1ms', when: { every: 1 } }, 'no device vif/0 (vbd/51712)'],
    [{ device: VBD, kind: 'publish-late', ring: 'rx', by: '1ms', when: { every: 1 } }, "'ring' (tx or rx) is for"],
    [{ device: VBD, kind: 'publish-late', ring: 'req', by: '1ms', when: { every: 1 } }, 'ring'],
  ];
  for (const [f, msg] of bad) {
    it(`refuses ${JSON.stringify(f)}`, () => {
      expect(() => validateScenario(blk([f]), join(dir, 'f.json'))).toThrowError(ScenarioError);
      expect(() => validateScenario(blk([f]), join(dir, 'f.json'))).toThrowError(msg);
    });
  }
  it('takes faults on each of two devices', () => {
    const spec = blk([{ device: VBD, kind: 'lose-notify', when: { every: 1 } }, { device: 'vif/0', kind: 'revoke-grant', when: { prob: 0.1 } }]);
    (spec.domains[0] as Record<string, unknown>).vif = ['mac=00:16:3e:00:00:01,bridge=xenbr0'];
    expect(() => validateScenario(spec, join(dir, 'f.json'))).not.toThrow();
  });
});

describe('the XenStore sniffer takes any guest ring', () => {
  it('never throws, learns only configured devices, holds a bounded buffer', async () => {
    const fc = await import('fast-check');
    const { sniffStore } = await import('../hypervisor/evtchn/faults.ts');
    const { newFaultPlan } = await import('../hypervisor/evtchn/fault_plan.ts');
    const XS_WRITE = 11;
    /** An XS_WRITE message as a guest's xenstore library queues it. */
    const msg = (path: string, value: string) => {
      const body = new TextEncoder().encode(`${path}\0${value}`);
      const m = new Uint8Array(16 + body.length);
      const dv = new DataView(m.buffer);
      dv.setUint32(0, XS_WRITE, true);
      dv.setUint32(12, body.length, true);
      m.set(body, 16);
      return m;
    };
    fc.assert(
      fc.property(
        fc.array(fc.oneof(
          fc.uint8Array({ maxLength: 700 }),
          fc.tuple(fc.constantFrom('device/vbd/51712', 'device/vbd/7', '/local/domain/3/device/vif/0', 'device/vif/9'), fc.constantFrom('event-channel', 'ring-ref', 'tx-ring-ref'), fc.nat(99)).map(([p, k, v]) => msg(`${p}/${k}`, String(v))),
          fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((jump) => jump),
        ), { maxLength: 30 }),
        (steps) => {
          const page = new Uint8Array(4096);
          const dv = new DataView(page.buffer);
          const hv = { mem: { frames: [null, page] } } as never;
          const guest = { storeMfn: 1 } as never;
          const plan = newFaultPlan([], () => 0.5, () => {}, ['vbd/51712', 'vif/0']);
          let prod = 0;
          for (const s of steps) {
            if (typeof s === 'number') prod = s >>> 0; // a hostile req_prod anywhere
            else for (const b of s) page[prod++ % 1024] = b;
            prod >>>= 0;
            dv.setUint32(2052, prod, true);
            sniffStore(hv, plan, guest);
            expect(plan.xs.buf.length).toBeLessThanOrEqual(16 + 512 + 1024);
          }
          for (const d of [...plan.portDevice.values(), ...plan.ringRefs.keys()]) expect(['vbd/51712', 'vif/0']).toContain(d);
        },
      ),
      { numRuns: 300, seed: 16 },
    );
  });
});

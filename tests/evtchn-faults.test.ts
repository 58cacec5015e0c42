// Fault injection on a device's event channel in a live run (hypervisor/evtchn/faults.ts,
// the scenario key `faults`): pvsim's blkfront and netfront against dom0's real backends,
// in virtual time. What each fault kind does to them is asserted: duplicates and spurious
// events are harmless, a delay or a stall costs time, a lost notification hangs both
// frontends (they sleep on their event with no re-check timer): asserted, not hidden, and
// named by the run's report as "no progress" on the ring.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../sim/scenario/runner.ts';
import { ScenarioError, validateScenario } from '../sim/scenario/schema.ts';
import { formatReport } from '../sim/scenario/report.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-faults-'));
const WORK = resolve('guests/build/work.elf');
let n = 0;

function blkScenario(faults: unknown[], until = '300ms') {
  return {
    name: 'faults-blk', pcpus: 2, seed: 5, until,
    domains: [{ name: 'blk', image: WORK, cmdline: 'work=blk mode=rand bs=4096 qd=16 n=64', memory: 16, disk: [`file:${join(dir, `d${n++}.img`)},xvda,w`], faults }],
  };
}

/** Runs a scenario in-process; each domain's console and the trace hash. */
async function run(spec: unknown): Promise<{ out: Map<string, string>; hash: string; report: string }> {
  const out = new Map<string, string>();
  const r = await runScenario(validateScenario(spec, join(dir, 'f.json')), {
    baseDir: dir,
    onConsole: (d, b) => out.set(d.name, (out.get(d.name) ?? '') + new TextDecoder().decode(b)),
  });
  return { out, hash: r.traceHash, report: formatReport(r) };
}

/** work=blk's result line: errors and elapsed ns, or null when it never finished. */
function blkResult(text: string): { errors: number; ns: number } | null {
  const m = /work=blk .*errors=(\d+) ns=(\d+)/.exec(text);
  return m ? { errors: Number(m[1]), ns: Number(m[2]) } : null;
}

const VBD = 'vbd/51712';

describe('event-channel faults in a live run (blkfront against blkback)', () => {
  it('runs clean with each harmless fault; a delay and a stall cost about their time; a lost notification hangs blkfront', async () => {
    const clean = blkResult((await run(blkScenario([]))).out.get('blk')!);
    expect(clean).toMatchObject({ errors: 0 });
    const dup = blkResult((await run(blkScenario([{ device: VBD, kind: 'dup-notify', when: { every: 1 } }]))).out.get('blk')!);
    expect(dup).toMatchObject({ errors: 0 });
    const spur = blkResult((await run(blkScenario([{ device: VBD, kind: 'spurious', when: { prob: 0.5 } }, { device: VBD, kind: 'spurious', when: { at: '1ms' } }]))).out.get('blk')!);
    expect(spur).toMatchObject({ errors: 0 });
    const delay = blkResult((await run(blkScenario([{ device: VBD, kind: 'delay-notify', dir: 'to-frontend', when: { every: 1 }, by: '1ms' }]))).out.get('blk')!);
    expect(delay).toMatchObject({ errors: 0 });
    expect(delay!.ns).toBeGreaterThan(clean!.ns + 1_000_000);
    // The stall opens before the first request and holds the frontend's kicks for 20 ms.
    const stall = blkResult((await run(blkScenario([{ device: VBD, kind: 'stall', when: { at: '0ms' }, window: '20ms' }]))).out.get('blk')!);
    expect(stall).toMatchObject({ errors: 0 });
    // The window opens before the guest has booted: it costs the part left when the first kick is held.
    expect(stall!.ns).toBeGreaterThan(clean!.ns + 10_000_000);
    expect(stall!.ns).toBeLessThan(clean!.ns + 21_000_000);
    console.log(JSON.stringify({ clean, dup, spur, delay, stall }));
    // blkfront sleeps on its event with no timeout: one lost kick or answer and it never wakes.
    const lost = await run(blkScenario([{ device: VBD, kind: 'lose-notify', when: { every: 3 } }], '100ms'));
    expect(blkResult(lost.out.get('blk') ?? '')).toBeNull();
    // The run's report says so: the ring, what is outstanding, who sleeps past what.
    expect(lost.report).toMatch(/^faults d1 blk: no progress on vbd\/51712 ring-ref: \d+ request\(s\) unanswered; /m);
  }, 60_000);
});

describe('event-channel faults in a live run (netfront against netback)', () => {
  const pair = (faults: unknown[]) => ({
    name: 'faults-net', pcpus: 2, seed: 4, until: '400ms',
    domains: [
      { name: 'a', image: WORK, cmdline: 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=10 udp=0', memory: 16, vif: ['mac=00:16:3e:00:00:01,bridge=xenbr0'], faults },
      { name: 'b', image: WORK, cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=10 udp=0', memory: 16, vif: ['mac=00:16:3e:00:00:02,bridge=xenbr0'] },
    ],
  });
  const result = (text: string) => /work=net .*pings=(\d+) replies=(\d+) lost=(\d+)/.exec(text)?.slice(1).map(Number) ?? null;
  it('dup and spurious are harmless; a lost notification hangs netfront', async () => {
    const clean = result((await run(pair([]))).out.get('a') ?? '');
    const dup = result((await run(pair([{ device: 'vif/0', kind: 'dup-notify', when: { every: 1 } }, { device: 'vif/0', kind: 'spurious', when: { prob: 0.3 } }]))).out.get('a') ?? '');
    const lostRun = await run(pair([{ device: 'vif/0', kind: 'lose-notify', when: { every: 4 } }]));
    const lost = result(lostRun.out.get('a') ?? '');
    expect(lostRun.report).toMatch(/^faults d1 a: no progress on vif\/0 tx-ring-ref: /m);
    console.log(JSON.stringify({ clean, dup, lost }));
    expect(clean).toEqual([10, 10, 0]);
    expect(dup).toEqual([10, 10, 0]);
    // netfront, too, waits on its event without a re-check timer: it never prints its result.
    expect(lost).toBeNull();
  }, 60_000);
});

describe('the faults key is checked by the scenario validator', () => {
  const bad: [unknown, string][] = [
    [{ device: 'vbd/1', kind: 'lose-notify', when: { every: 1 } }, 'no device vbd/1 (vbd/51712)'],
    [{ device: 'xvda', kind: 'lose-notify', when: { every: 1 } }, "a device as 'vbd/51712' or 'vif/0'"],
    [{ device: VBD, kind: 'drop', when: { every: 1 } }, 'kind'],
    [{ device: VBD, kind: 'delay-notify', when: { every: 1 } }, "delay-notify needs 'by'"],
    [{ device: VBD, kind: 'stall', when: { every: 2 }, window: '1ms' }, 'stall needs when: { at:'],
    [{ device: VBD, kind: 'stall', when: { at: '1ms' } }, "stall needs 'window'"],
    [{ device: VBD, kind: 'lose-notify', when: { every: 0 } }, 'faults[0].when'],
    [{ device: VBD, kind: 'lose-notify', when: { prob: 2 } }, 'faults[0].when'],
    [{ device: VBD, kind: 'lose-notify', when: { every: 1 }, by: '1ms' }, "'by' is for delay-notify"],
  ];
  for (const [f, msg] of bad) {
    it(`refuses ${JSON.stringify(f)}`, () => {
      expect(() => validateScenario(blkScenario([f]), join(dir, 'f.json'))).toThrowError(ScenarioError);
      expect(() => validateScenario(blkScenario([f]), join(dir, 'f.json'))).toThrowError(msg);
    });
  }
});

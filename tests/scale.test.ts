// Running many domains: dom0 past 2-level's 1,024 ports (FIFO), the machine-memory check
// before a run starts, failed binds and dispatches failing the run by name, progress that
// only observes, and the memory savings (lazy TLB sets, one ELF parse per image) leaving
// every trace as it was.

import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { runScenario, runScenarioOn, scenarioMachine } from '../sim/scenario/runner.ts';
import { loadScenario, ScenarioError, validateScenario } from '../sim/scenario/schema.ts';
import { ECS, evtchnSetMaxPort } from '../hypervisor/evtchn/index.ts';
import { Mmu } from '../hypervisor/cpu/mmu.ts';
import { elfCache } from '../xenguest/elf.ts';
import { FrameType, LOW_LIMIT_MFN, LOW_RESERVE_FRAMES } from '../hypervisor/mm/frame_table.ts';

const WORK = resolve('guests/build/work.elf');

function idleScenario(count: number, extra: Record<string, unknown> = {}) {
  return validateScenario(
    {
      name: `idle-${count}`,
      pcpus: 2,
      seed: 3,
      until: '1ms',
      domains: [{ name: 'idle', count, image: WORK, cmdline: 'work=timer period_us=100000 forever', memory: 1 }],
      ...extra,
    },
    'scale.json',
  );
}

describe('dom0 serves more than 511 guests (FIFO event channels, 2^17 ports)', () => {
  it('530 domains each get their xenstore and console ports bound in dom0: more than 1,024 dom0 ports', async () => {
    const r = await runScenario(idleScenario(530), { baseDir: '.' });
    expect(r.domains).toHaveLength(530);
    expect(r.domains.every((d) => d.state === 'running')).toBe(true);
    const e = r.hv.domain(0)!.evtchn!;
    expect(e.fifo).not.toBeNull();
    let bound = 0;
    for (let p = 1; p < e.validPorts; p++) if (e.state[p] === ECS.INTERDOMAIN) bound++;
    expect(bound).toBeGreaterThanOrEqual(2 * 530);
    expect(e.validPorts).toBeGreaterThan(1024);
  }, 60_000);
});

describe('the scenario against machine memory, before anything starts', () => {
  it('names the memory asked for and the memory there is', () => {
    expect(() => idleScenario(10_000)).toThrow(ScenarioError);
    expect(() => idleScenario(10_000)).toThrow(/the 10000 domains need 10079 MiB of machine memory .* the machine has 8192 MiB available \(machineMemory 8192\): raise machineMemory \(at most 14336\)/);
    expect(() => idleScenario(10_000, { machineMemory: 10240 })).not.toThrow();
    // Exactly what a build takes: 1 MiB of pages plus shared_info and a grant frame.
    expect(() => idleScenario(63, { machineMemory: 64 })).not.toThrow();
    expect(() => idleScenario(64, { machineMemory: 64 })).toThrow(/need 65 MiB/);
  });

  it('examples/scale-10000.json fits its machine', () => {
    expect(() => loadScenario('examples/scale-10000.json')).not.toThrow();
  });
});

describe('frames below 4 GiB stay for shared_info pages', () => {
  it('guest frames go above 4 GiB once only the reserve is left below, and a low page is still there', () => {
    // 2 GiB below 4 GiB and 512 MiB above.
    const hv = new Hypervisor({ machineMemoryBytes: 2560 * 2 ** 20 });
    const f = hv.frames;
    const low = LOW_LIMIT_MFN - f.firstMfn;
    let above = 0;
    for (let i = 0; i < low; i++) if (f.alloc(1) >= LOW_LIMIT_MFN) above++;
    // Past the reserve, single frames came from above 4 GiB.
    expect(above).toBe(LOW_RESERVE_FRAMES);
    for (let i = 0; i < 100; i++) expect(f.allocExtent(2, 0, FrameType.SharedInfo, LOW_LIMIT_MFN)).toBeGreaterThan(0);
    // With the frames above gone, the reserve serves anyone.
    for (let i = 0; i < f.nrFrames - low - LOW_RESERVE_FRAMES; i++) expect(f.alloc(1)).toBeGreaterThanOrEqual(LOW_LIMIT_MFN);
    expect(f.alloc(1)).toBeLessThan(LOW_LIMIT_MFN);
  });
});

describe('a failed bind or dispatch fails the run, naming the domain', () => {
  it('dom0 out of ports: the run stops with the domain and the error', async () => {
    const s = idleScenario(8);
    const hv = new Hypervisor(scenarioMachine(s));
    const dom0 = startLocalDom0(hv, {});
    try {
      // Room for four guests' two ports each; the fifth cannot be served.
      evtchnSetMaxPort(hv.domain(0)!, 8);
      await expect(runScenarioOn(hv, s, { baseDir: '.' })).rejects.toThrow(/^domain idle-5: bind_interdomain\(d5, \d+\) failed: -28/);
    } finally {
      dom0.close();
    }
  });

  it('a dom0 dispatch that throws is counted and reported', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * 2 ** 20 });
    const seen: string[] = [];
    hv.loop.onDispatchFailed = (m) => seen.push(m);
    hv.dispatch(() => Promise.reject(new Error('backend exploded')), 0);
    await hv.loop.runAsync({ until: 1000 });
    expect(hv.loop.dispatchFailures).toBe(1);
    expect(seen).toEqual(['backend exploded']);
  });
});

describe('what only saves host memory or time changes no trace', () => {
  it('lazy TLB sets, the ELF cache and progress reporting leave capped-hog and net-pair as they were', async () => {
    for (const file of ['examples/capped-hog.json', 'examples/net-pair.json']) {
      const s = loadScenario(file);
      const run = async (progress: boolean) => {
        const hv = new Hypervisor(scenarioMachine(s));
        const dom0 = startLocalDom0(hv, {});
        let calls = 0;
        try {
          if (progress) {
            hv.loop.progressIntervalMs = 0;
            hv.loop.onProgress = () => calls++;
          }
          const r = await runScenarioOn(hv, { ...s, until: Math.min(s.until, 300_000_000) }, { baseDir: 'examples' });
          if (progress) expect(calls).toBeGreaterThan(0);
          return r.traceHash;
        } finally {
          dom0.close();
        }
      };
      const now = await run(false);
      Mmu.eagerTlbSets = true;
      elfCache.enabled = false;
      try {
        expect(await run(false), file).toBe(now);
      } finally {
        Mmu.eagerTlbSets = false;
        elfCache.enabled = true;
      }
      expect(await run(true), file).toBe(now);
    }
  }, 60_000);
});

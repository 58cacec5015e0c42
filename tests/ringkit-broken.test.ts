// The kit's deliberately broken backends (examples/echodev/broken/) are each caught by all
// three of the kit's tools — the ring conformance cases, the fault cases and the
// exploration of the module itself — and the exploration's shrunk replay command
// reproduces the failure. The example's correct backend passes all three.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { loadBackendNamespace } from '../dom0/driver/host.ts';
import type { RingProtocol } from '../dom0/driver/index.ts';
import { ringConformance, ringFaults } from '../sim/ringkit/harness.ts';
import { exhaustiveModule, randomWalksModule, replayModule, type ModuleSubject } from '../sim/ringkit/explore_module.ts';

const BUGS = ['no-final-check', 'no-recheck', 'double-fetch', 'publish-before-write', 'out-of-order', 'rsp-overflow'] as const;
const path = (name: string) => `examples/echodev/${name}.ts`;

async function subject(name: string): Promise<ModuleSubject> {
  const ns = await loadBackendNamespace(path(name));
  return { def: ns.backend, proto: ns.exports.protocol as RingProtocol };
}

/** What catches each bug, by case name (a part of it). */
const CAUGHT: Record<(typeof BUGS)[number], { conformance: string; fault: string; explore: RegExp }> = {
  'no-final-check': { conformance: 'is woken by a notification after it asked for one', fault: 'published just as the backend finishes', explore: /lost wake-up/ },
  'no-recheck': { conformance: 'answers a request published while it serves another', fault: 'published just as the backend finishes', explore: /lost wake-up/ },
  'double-fetch': { conformance: 'reads each request slot once', fault: 'rewritten in its slot right after', explore: /read request slot \d+ twice/ },
  'publish-before-write': { conformance: 'writes each response before publishing it', fault: 'read the moment rsp_prod is published', explore: /published response \d+ \(slot \d+\) before writing it/ },
  'out-of-order': { conformance: 'answers a full ring, every id once', fault: 'notifications duplicated', explore: /answered before \d+: this protocol answers in request order/ },
  'rsp-overflow': { conformance: 'answers one request, once', fault: 'responses read the moment rsp_prod is published', explore: /published rsp_prod \d+: more responses than requests/ },
};

describe('the broken backends the kit ships, each caught by the suites, the fault cases and the exploration', () => {
  it('the correct example backend passes all three', async () => {
    const s = await subject('echodev');
    expect((await ringConformance(s.def, s.proto)).filter((r) => !r.ok)).toEqual([]);
    expect((await ringFaults(s.def, s.proto)).filter((r) => !r.ok)).toEqual([]);
    expect((await randomWalksModule(s, 1, 60)).failure).toBeNull();
    const e = await exhaustiveModule(s, 14, {}, 600);
    expect(e.failure).toBeNull();
  }, 60_000);

  for (const bug of BUGS)
    it(`${bug}: caught by the conformance cases, the fault cases and the exploration (random and systematic), the shrunk schedule replays the failure`, async () => {
      const s = await subject(`broken/${bug}`);
      const want = CAUGHT[bug];
      const conf = (await ringConformance(s.def, s.proto)).filter((r) => !r.ok).map((r) => r.name);
      expect(conf.some((n) => n.includes(want.conformance))).toBe(true);
      const faults = (await ringFaults(s.def, s.proto)).filter((r) => !r.ok).map((r) => r.name);
      expect(faults.some((n) => n.includes(want.fault))).toBe(true);
      const walks = await randomWalksModule(s, 1, 300);
      expect(walks.failure?.error).toMatch(want.explore);
      const again = await replayModule(s, walks.failure!.shrunk);
      expect(again.ok).toBe(false);
      expect(again.error).toMatch(want.explore);
      expect(walks.failure!.shrunk.length).toBeLessThanOrEqual(walks.failure!.schedule.length);
      const all = await exhaustiveModule(s, 40, {}, 2000);
      expect(all.failure?.error).toMatch(want.explore);
      expect((await replayModule(s, all.failure!.shrunk)).ok).toBe(false);
    }, 60_000);

  it('pvsim ringtest explore --backend <module>: the table, the replay command, and the replay reproduces it', () => {
    const run = (...a: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', 'explore', ...a], { encoding: 'utf8', timeout: 60_000 });
    const r = run('--backend', path('broken/no-recheck'), '--walks', '200', '--depth', '40');
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAILED  random walks \(seed 1\) +lost wake-up/m);
    const cmd = /replay: pvsim ringtest explore (.*)$/m.exec(r.stdout)?.[1];
    expect(cmd).toMatch(/^--backend examples\/echodev\/broken\/no-recheck\.ts --requests 3 --batch 2 --replay [FBfb]+$/);
    const again = run(...cmd!.split(' '));
    expect(again.status).toBe(1);
    expect(again.stdout).toMatch(/^failed: lost wake-up/m);
    const faults = spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', 'faults', '--driver', path('broken/double-fetch')], { encoding: 'utf8', timeout: 60_000 });
    expect(faults.status).toBe(1);
    const fcase = /replay: pvsim ringtest faults --driver examples\/echodev\/broken\/double-fetch\.ts --case '([^']+)'/.exec(faults.stdout)?.[1];
    expect(fcase).toMatch(/rewritten in its slot/);
    const one = spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', 'faults', '--driver', path('broken/double-fetch'), '--case', fcase!], { encoding: 'utf8', timeout: 60_000 });
    expect(one.status).toBe(1);
    expect(one.stdout).toMatch(/^0 passed, 1 failed$/m);
    expect(run('--backend', 'examples/echodev/absent.ts').status).toBe(2);
  }, 60_000);
});

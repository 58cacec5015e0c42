// Interleaving exploration of a ring frontend and backend (sim/ringkit/explore.ts): the
// correct pair passes every schedule (the systematic search completes) and many random
// walks, from indices about to wrap 2^32; each shipped broken backend is caught by both
// searches with a shrunk schedule that fails again on replay; and the partial-order
// reduction completes a search the plain one does not finish in twice the runs.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BACKEND_BUGS, exhaustive, randomWalks, replay } from '../sim/ringkit/explore.ts';

describe('ring interleaving exploration', () => {
  it('finds no violation in any schedule of the correct pair (complete search), nor in random walks, across the 2^32 wrap', () => {
    const e = exhaustive(60, { requests: 2, batch: 1 });
    expect(e.failure).toBeNull();
    expect(e.complete).toBe(true);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom(0, 0xffff_fffd, 0x7fff_ffff), (seed, requests, batch, start) => {
        expect(randomWalks(seed, 30, { requests, batch, start }).failure).toBeNull();
      }),
      { numRuns: 40 },
    );
  });

  for (const bug of BACKEND_BUGS.filter((b) => b !== 'none')) {
    it(`catches the ${bug} backend with both searches, with a replayable shrunk schedule`, () => {
      const opts = { bug, requests: 2, batch: 1 };
      const e = exhaustive(60, opts);
      const r = randomWalks(7, 2000, opts);
      for (const f of [e.failure, r.failure]) {
        expect(f).not.toBeNull();
        const again = replay(f!.shrunk, opts);
        expect(again.ok).toBe(false);
        expect(again.error!.replace(/\d+/g, 'N')).toBe(f!.error!.replace(/\d+/g, 'N')); // indices may differ
        expect(f!.shrunk.length).toBeLessThanOrEqual(f!.schedule.length);
      }
      expect(e.failure!.error).toMatch(bug === 'publish-before-write' ? /before the backend wrote it/ : /lost wake-up: the backend sleeps with 1 request\(s\) pending/);
    });
  }

  it('reduces the search with sleep sets: the complete search takes fewer than half the runs the plain one cannot finish in', () => {
    const por = exhaustive(60, { requests: 2, batch: 1 });
    expect(por.complete).toBe(true);
    // Without the reduction, twice the runs do not finish the same search (measured: more
    // than 400,000 do not either).
    const plain = exhaustive(60, { requests: 2, batch: 1, reduction: false }, 2 * por.runs);
    expect(plain.failure).toBeNull();
    expect(plain.complete).toBe(false);
  });

  it('fault injection: the correct pair takes spurious events in stride; a lost notification is a lost wake-up, found with its schedule', () => {
    const spurious = exhaustive(60, { requests: 1, batch: 1, spurious: 1 });
    expect(spurious.complete).toBe(true);
    expect(spurious.failure).toBeNull();
    for (const seed of [1, 2, 3]) expect(randomWalks(seed, 500, { requests: 5, batch: 2, spurious: 3 }).failure).toBeNull();
    for (const n of [1, 2, 3]) {
      const e = exhaustive(60, { requests: 2, batch: 1, loseNotify: n });
      expect(e.failure?.error, `notification ${n} lost`).toMatch(/lost wake-up/);
      expect(replay(e.failure!.shrunk, { requests: 2, batch: 1, loseNotify: n }).ok).toBe(false);
    }
  });

  it('pvsim ringtest explore: a table, the replay command for a failure, JUnit XML, and exit status 1', async () => {
    const { spawnSync } = await import('node:child_process');
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const junit = join(mkdtempSync(join(tmpdir(), 'pvsim-ringtest-')), 'r.xml');
    const run = (...a: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', 'explore', ...a], { encoding: 'utf8', timeout: 60_000 });
    const bad = run('--backend', 'no-recheck', '--walks', '200', '--junit', junit);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/FAILED .*lost wake-up/);
    expect(bad.stdout).toMatch(/0 passed, 2 failed/);
    const cmd = /replay: pvsim (ringtest explore .* --replay [FBfb]*)/.exec(bad.stdout)![1]!.split(' ');
    const again = spawnSync(process.execPath, ['bin/pvsim.js', ...cmd], { encoding: 'utf8', timeout: 60_000 });
    expect(again.status).toBe(1);
    expect(again.stdout).toMatch(/failed: lost wake-up/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuite name="ringtest.explore" tests="2" failures="2">/);
    expect(xml).toMatch(/<failure message="lost wake-up/);
    const good = run('--walks', '200');
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/2 passed, 0 failed/);
    expect(run('--backend', 'nonsense').status).toBe(2);
  }, 60_000);
});

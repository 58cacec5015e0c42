// pvsim's ring conformance cases (sim/ringkit/harness.ts) against a user backend, without a
// guest: the example backend passes every case, across the 2^32 index wrap; backends with
// classic ring bugs are each caught by a named case; `pvsim ringtest backend` runs the
// catalogue on a module and writes the table and JUnit XML.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import echo, { protocol } from '../examples/echodev/echodev.ts';
import { ringConformance } from '../sim/ringkit/harness.ts';
import { answerTwice, doubleFetch, noFinalCheck, trustsRingRef } from './fixtures/ringkit/broken-ring.ts';

const failing = async (def: Parameters<typeof ringConformance>[0]) => (await ringConformance(def, protocol)).filter((c) => !c.ok).map((c) => c.name);

describe('ring conformance cases', () => {
  it('the example backend passes every case', async () => {
    const r = await ringConformance(echo, protocol);
    expect(r.length).toBeGreaterThanOrEqual(15);
    expect(r.filter((c) => !c.ok)).toEqual([]);
  });

  it('catches a backend that sleeps without the final check', async () => {
    expect(await failing(noFinalCheck)).toContain('is woken by a notification after it asked for one (req_event)');
  });

  it('catches a backend that answers a request twice', async () => {
    expect(await failing(answerTwice)).toEqual(expect.arrayContaining(['answers one request, once']));
  });

  it('catches a backend that reads a request slot twice (double fetch)', async () => {
    expect(await failing(doubleFetch)).toContain('reads each request slot once (no double fetch)');
  });

  it('catches a backend that takes ring-ref without checking it', async () => {
    expect(await failing(trustsRingRef)).toContain('refuses a ring-ref that is not a number');
  });

  it('pvsim ringtest backend: the table, JUnit XML, exit status', () => {
    const junit = join(mkdtempSync(join(tmpdir(), 'pvsim-conf-')), 'r.xml');
    const run = (path: string, ...a: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', 'backend', '--driver', path, ...a], { encoding: 'utf8', timeout: 60_000 });
    const good = run('examples/echodev/echodev.ts', '--junit', junit);
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/22 passed, 0 failed/);
    expect(readFileSync(junit, 'utf8')).toMatch(/<testsuite name="ringtest.backend" tests="22" failures="0">/);
    const bad = run('tests/fixtures/ringkit/broken-ring.ts', '--export', 'noFinalCheck');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/FAILED .*is woken by a notification/);
    expect(run('tests/fixtures/ringkit/absent.ts').status).toBe(2);
  }, 60_000);
});

// The protocol conformance suites (sim/ringkit/suites/) against pvsim's own backends:
// blkback, netback, the console backend and xenstored pass every case.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlkbackDriver } from '../dom0/backends/blk/driver.ts';
import { blkifConformance } from '../sim/ringkit/suites/blkif.ts';
import { consoleConformance, pvsimConsole } from '../sim/ringkit/suites/console.ts';
import { netifConformance, pvsimNetback } from '../sim/ringkit/suites/netif.ts';
import { pvsimXenstored, xenstoreConformance } from '../sim/ringkit/suites/xenstore.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-suites-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describe('protocol conformance suites against pvsim', () => {
  it('blkback passes the blkif suite', async () => {
    const r = await blkifConformance({ def: { type: 'vbd', make: (p, k) => new BlkbackDriver(p, k) }, backendKeys: () => ({ params: join(dir, `d${n++}.img`), mode: 'w', size: String(1024 * 1024) }) });
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBeGreaterThanOrEqual(15 + 20);
  }, 60_000);

  it('xenstored passes the XenStore ring suite', async () => {
    const r = await xenstoreConformance(await pvsimXenstored());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBeGreaterThanOrEqual(15);
  }, 30_000);

  it('the console backend passes the console ring suite', async () => {
    const r = await consoleConformance(await pvsimConsole());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBeGreaterThanOrEqual(15);
  }, 30_000);

  it('netback passes the netif suite', async () => {
    const r = await netifConformance(await pvsimNetback());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBeGreaterThanOrEqual(15);
  }, 30_000);
});

// The protocol conformance suites (sim/ringkit/suites/) against pvsim's own backends:
// blkback, netback, the console backend and xenstored pass every case.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlkbackDriver } from '../dom0/backends/blk/driver.ts';
import { blkReq, blkifConformance } from '../sim/ringkit/suites/blkif.ts';
import { consoleConformance, pvsimConsole } from '../sim/ringkit/suites/console.ts';
import { netifConformance, pvsimNetback } from '../sim/ringkit/suites/netif.ts';
import { BLKFRONT_CASES, PVSIM_BLKFRONT_INDIRECT, blkfrontConformance, blkifRequestProblems, pvsimBlkfront } from '../sim/ringkit/suites/blkfront.ts';
import { CONSFRONT_CASES, checkingView, consfrontConformance, pvsimConsfront, type ConsRun } from '../sim/ringkit/suites/consfront.ts';
import { ByteMemory } from '../protocol/guest_memory.ts';
import { XENCONS } from '../protocol/xen/console.ts';
import { CheckingNetback, NETFRONT_CASES, emptyNetRun, netfrontConformance, pvsimNetfront } from '../sim/ringkit/suites/netfront.ts';
import type { Dom0Platform, MappedPage } from '../dom0/platform.ts';
import { XSFRONT_CASES, pvsimXsfront, xsCheckingView, xsfrontConformance, type XsRun } from '../sim/ringkit/suites/xsfront.ts';
import { runProtocolSuite, SUITE_CASES } from '../sim/ringkit/suites/index.ts';
import { XENSTORE_CASES, pvsimXenstored, xenstoreConformance } from '../sim/ringkit/suites/xenstore.ts';

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

  it('has at least 15 cases of its own in each suite, 60 in all; the frontend directions at least 15 each', () => {
    const own = [SUITE_CASES.blkif, SUITE_CASES.netif, SUITE_CASES.console, SUITE_CASES.xenstore];
    expect(Math.min(...own)).toBeGreaterThanOrEqual(15);
    expect(own.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(60);
    const front = [BLKFRONT_CASES.length, NETFRONT_CASES.length, CONSFRONT_CASES.length, XSFRONT_CASES.length];
    expect(Math.min(...front)).toBeGreaterThanOrEqual(15);
  });
});

describe("protocol conformance suites against a user's naive backends (tests/fixtures/ringkit)", () => {
  it('catch a null-disk blkif backend that answers everything OKAY', async () => {
    const r = await runProtocolSuite('blkif', 'tests/fixtures/ringkit/naive-blk.ts');
    const failed = r.filter((x) => !x.ok).map((x) => x.name);
    expect(failed).toContain('blkif: last_sect 8 (past the page) is an error');
    expect(failed).toContain('blkif: WRITE_BARRIER answered as feature-barrier says');
    expect(failed).toContain('blkif: a data grant that is no grant is an error, the ring goes on');
    // The handshake and the ring-level cases it gets right still pass.
    expect(r.find((x) => x.name === 'ring: answers one request, once')?.ok).toBe(true);
  }, 30_000);

  it('catch a console backend that writes input without room, and a toy XenStore', async () => {
    const c = await runProtocolSuite('console', 'tests/fixtures/ringkit/naive-rings.ts');
    expect(c.filter((x) => !x.ok).map((x) => x.name)).toEqual(['console: input larger than the ring waits for the guest to read, then arrives in order']);
    const x = await runProtocolSuite('xenstore', 'tests/fixtures/ringkit/naive-rings.ts');
    expect(x.filter((r) => !r.ok).length).toBeGreaterThanOrEqual(10);
    expect(x.find((r) => r.name === 'xenstore: conflicting transactions: the second to end gets EAGAIN')?.ok).toBe(false);
  }, 30_000);

  it('fails a case whose subject never answers, in bounded time, and goes on', async () => {
    const { hangingXenstore } = await import('./fixtures/ringkit/naive-rings.ts');
    const { runConformance } = await import('../sim/ringkit/suites/common.ts');
    const { XsRingClient } = await import('../sim/ringkit/suites/xenstore.ts');
    const r = await runConformance(
      XENSTORE_CASES.slice(0, 2),
      async () => {
        const c = new XsRingClient(new Uint8Array(4096));
        c.server = hangingXenstore.attach();
        return { ctx: c, gaveUp: () => null, close: async () => null };
      },
      undefined,
      200,
    );
    expect(r.map((x) => [x.ok, x.detail])).toEqual([
      [false, 'the case did not finish within 200 ms'],
      [false, 'the case did not finish within 200 ms'],
    ]);
  });

  it('runs one case again by name (the replay of a failure)', async () => {
    const r = await runProtocolSuite('console', 'tests/fixtures/ringkit/naive-rings.ts', 'console: input larger than the ring waits for the guest to read, then arrives in order');
    expect(r.length).toBe(1);
    expect(r[0]!.ok).toBe(false);
  }, 30_000);

  it("pvsim's blkfront (work=blk) passes the blkif suite's frontend cases: valid requests, fail-stop on a hostile backend", async () => {
    const r = await blkfrontConformance(pvsimBlkfront());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBe(15);
    // 64 KiB blocks: INDIRECT requests when offered, within the offered segments, none without.
    for (const name of ['blkfront: without feature-max-indirect-segments, no INDIRECT and at most 11 segments', 'blkfront: feature-max-indirect-segments 8: no INDIRECT of more'])
      expect((await blkfrontConformance(pvsimBlkfront(PVSIM_BLKFRONT_INDIRECT), name))[0]).toMatchObject({ ok: true });
    expect(r.find((x) => x.name.includes('never made'))?.detail).toMatch(/fail-stop: panic: blkfront: response for no request/);
  }, 60_000);

  it("pvsim's netfront (work=net) passes the netif suite's frontend cases: valid keys and requests, rx refill, fail-stop or errors on a hostile backend", async () => {
    const r = await netfrontConformance(pvsimNetfront());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBe(NETFRONT_CASES.length);
    expect(r.length).toBeGreaterThanOrEqual(15);
    const detail = (part: string) => r.find((x) => x.name.includes(part))?.detail;
    expect(detail('tx rsp_prod past the requests')).toMatch(/fail-stop: panic: netfront: tx rsp_prod beyond the requests made/);
    expect(detail('a tx response for an id never requested')).toMatch(/fail-stop: panic: netfront: tx response for no request/);
    expect(detail('an rx response for a buffer never posted')).toMatch(/lost=[1-9]/);
    expect(detail('rewritten after the frontend consumed it')).toMatch(/[1-9]\d* consumed responses rewritten/);
  }, 120_000);

  it("pvsim's console driver (hello.elf echo) passes the console suite's frontend cases", async () => {
    const r = await consfrontConformance(pvsimConsfront());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBe(15);
  }, 60_000);

  it('the blkif frontend checker names each rule a request breaks', () => {
    const offered = { 'feature-max-indirect-segments': '8', info: '4' }; // read-only, no flush
    const good = blkReq({ op: 0, id: 1, seg: [{ gref: 8, first_sect: 0, last_sect: 7 }] });
    expect(blkifRequestProblems(good, offered, 10, 5)).toEqual([]);
    expect(blkifRequestProblems(good, offered, 100, 5)).toEqual(['req_prod 100 is more than a ring past rsp_prod 5']);
    expect(blkifRequestProblems(blkReq({ op: 1, id: 1, seg: [{ gref: 8, first_sect: 6, last_sect: 8 }] }), offered, 1, 0)).toEqual(['operation 1 to a disk offered read-only (info 4)', 'segment sectors 6..8']);
    expect(blkifRequestProblems(blkReq({ op: 3, id: 1, seg: [] }), offered, 1, 0)).toEqual(['FLUSH_DISKCACHE without feature-flush-cache']);
    expect(blkifRequestProblems(blkReq({ op: 0, id: 1, seg: [], nr: 12 }), offered, 1, 0)).toEqual(['12 segments in a direct request']);
    const ind = blkReq({ op: 6, id: 1, seg: [] });
    ind[1] = 0;
    new DataView(ind.buffer).setUint16(2, 9, true);
    expect(blkifRequestProblems(ind, offered, 1, 0)).toEqual(['INDIRECT of 9 segments, offered 8']);
  });

  it("pvsim's XenStore client (hello.elf) passes the XenStore suite's frontend cases", async () => {
    const r = await xsfrontConformance(pvsimXsfront());
    expect(r.filter((x) => !x.ok)).toEqual([]);
    expect(r.length).toBe(15);
    // The hostile server's messages reached the guest (an injection that never happened fails its case).
    expect(r.find((x) => x.name.includes('never registered'))?.detail).toBe('ignored; the guest went on');
  }, 60_000);

  it("the XenStore checker sees a request past the ring, an oversized message, the server's index written", () => {
    const page = new Uint8Array(4096);
    const raw = new ByteMemory(page);
    const run: XsRun = { out: '', reason: null, violations: [], looks: 0, messages: 0 };
    const view = xsCheckingView(raw, {}, run, () => {});
    const hdr = new DataView(page.buffer, 0, 16); // req[0..16): a header announcing 5000 bytes
    hdr.setUint32(0, 2, true);
    hdr.setUint32(12, 5000, true);
    raw.setU32le(2052, 16); // req_prod
    view.u32le(2052);
    raw.setU32le(2048, 3); // req_cons, by the guest
    view.u32le(2048);
    raw.setU32le(2052, 3000);
    view.u32le(2052);
    expect(run.violations).toEqual(['a message announcing 5000 bytes (past XENSTORE_PAYLOAD_MAX)', 'the guest moved req_cons from 0 to 3', 'req_prod 3000 is more than the ring past req_cons 0']);
  });

  it("the console checker sees a guest that writes the backend's index or overruns out", () => {
    const page = new Uint8Array(4096);
    const raw = new ByteMemory(page);
    const run: ConsRun = { out: '', reason: null, violations: [], looks: 0 };
    const view = checkingView(raw, {}, run, () => {});
    view.setU32le(XENCONS.out_cons, 5); // the backend
    raw.setU32le(XENCONS.out_cons, 9); // the guest, wrongly
    view.u32le(XENCONS.out_cons);
    raw.setU32le(XENCONS.out_prod, 9 + XENCONS.OUT_SIZE + 1);
    view.u32le(XENCONS.out_prod);
    expect(run.violations).toEqual(['the guest moved out_cons from 5 to 9', `out_prod ${9 + XENCONS.OUT_SIZE + 1} is more than OUT_SIZE past out_cons 5`]);
  });

  it('the netif frontend checker names each rule a request or a key breaks', () => {
    const run = emptyNetRun();
    const platform = { mapGrant: async () => ({ status: 0, handle: 0, page: null }) } as unknown as Dom0Platform;
    const chk = new CheckingNetback(platform, () => undefined, {}, run, () => 1);
    const noSg = { 'feature-rx-copy': '1' };
    const page = new Uint8Array(4096);
    const raw = new ByteMemory(page);
    const tx = chk.watchRing({ mem: raw } as unknown as MappedPage, true, noSg).mem;
    const req = (i: number, r: { flags: number; id: number; size: number; offset?: number }) => {
      const at = 64 + i * 12;
      raw.setU16le(at + 4, r.offset ?? 0);
      raw.setU16le(at + 6, r.flags);
      raw.setU16le(at + 8, r.id);
      raw.setU16le(at + 10, r.size);
    };
    req(0, { flags: 4, id: 1, size: 100 }); // more_data without feature-sg
    req(1, { flags: 0x40, id: 1, size: 200, offset: 4000 }); // unknown flag, id in flight, past the page, first smaller
    req(2, { flags: 0, id: 2, size: 10 }); // a runt
    raw.setU32le(0, 3);
    tx.u32le(0);
    expect(run.violations).toEqual([
      'tx more_data without feature-sg offered',
      'tx flags 0x40: bits netif.h does not define',
      'tx id 1 reused while its request is on the ring',
      'tx fragment offset 4000 + size 200 past the page',
      'tx first size 100 smaller than its fragments (200)',
      'a tx packet of 10 bytes, less than an Ethernet header',
    ]);
    run.violations.length = 0;
    raw.setU32le(0, 3 + 300);
    tx.u32le(0);
    expect(run.violations).toEqual(['tx req_prod 303 is more than a ring past rsp_prod 0']);
    run.violations.length = 0;
    chk.checkKeysFor({}, { 'tx-ring-ref': '8', 'rx-ring-ref': 'x', 'event-channel-tx': '3', 'multi-queue-num-queues': '2' });
    expect(run.violations).toEqual([
      'connected although the backend offered no feature-rx-copy',
      'request-rx-copy (missing): a copy-only backend (feature-rx-flip 0) cannot serve it',
      'multi-queue-num-queues 2 without multi-queue-max-queues offered',
      'split event channels without feature-split-event-channels',
      'rx-ring-ref x',
    ]);
  });

  it('fails a guest that never uses its disk, and says so', async () => {
    const hello = { image: readFileSync('guests/build/hello.elf'), cmdline: '' };
    const r = await blkfrontConformance(hello, 'blkfront: against a correct backend, every request valid and the run clean');
    expect(r[0]).toMatchObject({ ok: false, detail: 'no request seen' });
  }, 30_000);
});

describe('pvsim ringtest <protocol>', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', ...a], { encoding: 'utf8', timeout: 60_000 });

  it('prints the table, writes JUnit XML, exits 0 against pvsim and 1 with a replay command against a naive backend', () => {
    const junit = join(dir, 'xs.xml');
    const good = run('xenstore', '--junit', junit);
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    expect(good.stdout).toMatch(/^24 passed, 0 failed$/m);
    expect(readFileSync(junit, 'utf8')).toMatch(/<testsuite name="ringtest.xenstore" tests="24" failures="0">/);
    const bad = run('console', '--backend', 'tests/fixtures/ringkit/naive-rings.ts');
    expect(bad.status).toBe(1);
    const replay = /replay: pvsim ringtest (console --backend \S+ --case '([^']+)')/.exec(bad.stdout);
    expect(replay?.[2]).toBe('console: input larger than the ring waits for the guest to read, then arrives in order');
    const again = run('console', '--backend', 'tests/fixtures/ringkit/naive-rings.ts', '--case', replay![2]!);
    expect(again.status).toBe(1);
    expect(again.stdout).toMatch(/^0 passed, 1 failed$/m);
  }, 60_000);

  it('refuses what it cannot run with status 2 and a reason', () => {
    const absent = run('blkif', '--backend', 'tests/fixtures/ringkit/absent.ts');
    expect(absent.status).toBe(2);
    expect(absent.stderr).toMatch(/cannot load/);
    const fe = run('netif', '--frontend', 'guests/build/absent.elf');
    expect(fe.status).toBe(2);
    expect(fe.stderr).toMatch(/cannot read the frontend image/);
    expect(run('console', '--case', 'no such case').status).toBe(2);
  }, 60_000);
});

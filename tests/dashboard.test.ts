// `pvsim up --web`: the live dashboard in Debian's chromium (headless, playwright-core) against a
// real `pvsim up` with guests running. The page loads, its charts grow while guests run, a click
// on Pause pauses the domain (and `xl list` says so), the rings of dom0's backends and the
// domain's event channels and grants are shown; a screenshot is kept in test-artifacts/.
// And the door: no token, a foreign Origin, a forged Host or garbage get nothing and end nothing.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Browser } from 'playwright-core';
import { startUp, upChildren, xl, type RunningUp } from './helpers/pvsim_up.ts';
import { ARTIFACTS, startReportBrowser, type ReportBrowser } from './helpers/report_browser.ts';
import { chromiumFor } from './helpers/report_suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-dashboard-'));
const children = upChildren();
const chromium = chromiumFor('tests/dashboard.test.ts');
const WORK = join(process.cwd(), 'guests/build/work.elf');

let u: RunningUp;
let base: string;
let token: string;

/** Resolves once `pred` holds, checking at each event `poke` is given; bounded. */
async function until<T>(what: string, ms: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function openWs(url: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
    ws.once('error', () => resolve({ status: -1 }));
  });
}

function nextMessage(ws: WebSocket, pred: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no such message within 20 s')), 20_000);
    const on = (data: WebSocket.RawData) => {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      if (pred(m)) {
        clearTimeout(timer);
        ws.off('message', on);
        resolve(m);
      }
    };
    ws.on('message', on);
  });
}

describe('pvsim up --web', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    u = await startUp(['--web', '--web-interval', '300'], { tmpdir: dir, children });
    const web = u.env.PVSIM_WEB_URL!;
    expect(web).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]+$/);
    [base, token] = web.split('#token=') as [string, string];
    const img = join(dir, 'disk.img');
    writeFileSync(img, Buffer.alloc(1 << 20));
    writeFileSync(join(dir, 'hog.cfg'), `name = "hog"\nkernel = "${WORK}"\ncmdline = "work=spin"\nmemory = 4\n`);
    writeFileSync(join(dir, 'io.cfg'), `name = "io"\nkernel = "${WORK}"\ncmdline = "work=blk mode=rand bs=4096 qd=4 n=1000000"\nmemory = 4\ndisk = [ '${img},raw,xvda,w' ]\n`);
    expect(xl(u, 'create', join(dir, 'hog.cfg')).out).toContain('(hog) created');
    expect(xl(u, 'create', join(dir, 'io.cfg')).out).toContain('(io) created');
  }, 60_000);

  it('refuses a WebSocket without the token, from another origin or under another name', async () => {
    const port = new URL(base).port;
    const origin = `http://127.0.0.1:${port}`;
    expect((await openWs(`ws://127.0.0.1:${port}/ws`, { origin })).status).toBe(403);
    expect((await openWs(`ws://127.0.0.1:${port}/ws?token=${'0'.repeat(64)}`, { origin })).status).toBe(403);
    expect((await openWs(`ws://127.0.0.1:${port}/ws?token=${token}`, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await openWs(`ws://127.0.0.1:${port}/ws?token=${token}`, { origin: 'http://rebound.example:' + port, host: 'rebound.example:' + port })).status).toBe(421);
    const page = await fetch(base, { headers: { host: 'rebound.example' } }).catch(() => null);
    // fetch may not let a Host header through; when it does, the answer is 421.
    if (page) expect([200, 421]).toContain(page.status);
  });

  it('pushes samples to a client with the token, answers garbage with an error and survives an oversized message', async () => {
    const port = new URL(base).port;
    const origin = `http://127.0.0.1:${port}`;
    const { ws } = await openWs(`ws://127.0.0.1:${port}/ws?token=${token}`, { origin });
    expect(ws).toBeDefined();
    const s = await nextMessage(ws!, (m) => m.type === 'sample' && (m.domains as { name: string }[]).some((d) => d.name === 'io'));
    expect((s.rings as { device: string }[]).map((r) => r.device)).toContain('vbd/51712');
    expect((s.tables as { evtchns: unknown[] }[]).length).toBeGreaterThanOrEqual(2);
    ws!.send('{"op": "reboot the world"');
    const bad = await nextMessage(ws!, (m) => m.type === 'result');
    expect(bad.rc).toBe(-22);
    ws!.send(JSON.stringify({ id: 7, op: 'pause', domid: 0 }));
    expect((await nextMessage(ws!, (m) => m.type === 'result')).rc).toBe(-22);
    const closed = new Promise<number>((r) => ws!.once('close', (code) => r(code)));
    ws!.send('x'.repeat(64 * 1024));
    expect(await closed).toBe(1009);
    // The server is still there for the next client.
    const again = await openWs(`ws://127.0.0.1:${port}/ws?token=${token}`, { origin });
    expect(again.ws).toBeDefined();
    again.ws!.close();
  });

  describe.skipIf(!chromium)('in chromium', () => {
    let rb: ReportBrowser | undefined;
    let browser: Browser;
    beforeAll(async () => {
      rb = await startReportBrowser(chromium!);
      browser = rb.browser;
    }, 30_000);
    afterAll(async () => {
      await rb?.stop();
    }, 20_000);

    it('shows live charts, rings and tables, and pauses a domain with a click', async () => {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 1600 } });
      const errors: string[] = [];
      try {
        const page = await ctx.newPage();
        page.on('pageerror', (e) => errors.push(e.message));
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(m.text());
        });
        await page.goto(`${base}#token=${token}`);
        // Charts grow while the guests run: at least 4 points of the hog's CPU share, some above 0.
        const cpu = page.locator('#chart-cpu');
        await until('the CPU chart grows with the hog busy', 60_000, async () => {
          const points = Number(await cpu.getAttribute('data-points'));
          const last = JSON.parse((await cpu.getAttribute('data-last')) ?? '{}') as Record<string, number>;
          return points >= 4 && Object.entries(last).some(([k, v]) => k.startsWith('hog ') && v > 1) ? true : undefined;
        });
        // The io domain's disk ring, its indices moving under the running guest.
        const reqProd = async () => Number(await page.locator('#rings tbody tr', { hasText: 'vbd/51712' }).first().locator('td').nth(4).textContent());
        const first = await reqProd();
        await until('the vbd ring moves', 30_000, async () => ((await reqProd()) !== first ? true : undefined));
        // Event channels and grants of the io domain.
        const domid = async (name: string) => (await page.locator('#domains tbody tr', { has: page.locator('td:nth-child(2)', { hasText: new RegExp(`^${name}$`) }) }).getAttribute('data-domid')) ?? '';
        const io = await domid('io');
        await page.selectOption('#dom-select', io);
        await until('the io domain\'s tables', 20_000, async () => ((await page.locator('#evtchns tbody tr').count()) >= 2 && (await page.locator('#grants tbody tr').count()) >= 1 ? true : undefined));
        expect(await page.locator('#evtchns tbody').textContent()).toContain('interdomain');

        const hog = await domid('hog');
        await page.click(`#domains button[data-op="pause"][data-domid="${hog}"]`);
        const stateOf = async (id: string) => (await page.locator(`#domains tr[data-domid="${id}"]`).getAttribute('data-state')) ?? '';
        await until('the row shows the hog paused', 20_000, async () => ((await stateOf(hog)).includes('p') ? true : undefined));
        expect(xl(u, 'list').out).toMatch(/^hog\s+\d+\s+\d+\s+\d+\s+--p---/m);
        expect(await page.locator('#action').textContent()).toContain('pause domain');
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
        await page.click(`#domains button[data-op="unpause"][data-domid="${hog}"]`);
        await until('the row shows the hog running again', 20_000, async () => (!(await stateOf(hog)).includes('p') ? true : undefined));
        expect(xl(u, 'list').out).not.toMatch(/--p---/);
        expect(errors).toEqual([]);
      } finally {
        await ctx.close();
      }
    });
  });
});

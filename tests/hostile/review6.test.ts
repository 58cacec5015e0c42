// Hostile review of the live view and live-run faults (session 6): each case failed before its fix.

import { spawnSync } from 'node:child_process';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { connect, type Peer } from '../../protocol/session.ts';
import type { Response } from '../../protocol/wire.ts';
import { startDashboard, type Dashboard } from '../../cli/web/dashboard.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUp, upChildren } from '../helpers/pvsim_up.ts';
import { daemonOf } from '../helpers/procs.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A dom0 client session that answers every query with an empty machine. */
function fakePeer(): Peer {
  const answer: Record<string, Partial<Response>> = {
    listDomains: { domains: { domains: [] } },
    deviceStats: { deviceStats: { domains: [] } },
    info: {},
    vcpuList: { vcpus: { vcpus: [] } },
    domainTables: { domainTables: { domains: [] } },
    backendRings: { backendRings: { rings: [] } },
  };
  const p = {
    closed: false,
    request: (op: string) => Promise.resolve({ id: 0, rc: 0, ...answer[op] } as Response),
    close: () => {
      p.closed = true;
    },
  };
  return p as unknown as Peer;
}

describe('dashboard: a page that never reads', () => {
  it('is cut off once its unread answers pass the backlog, not queued without end', async () => {
    const d: Dashboard = await startDashboard({ port: 0, token: 't0ken', connect: () => Promise.resolve(fakePeer()), intervalMs: 60_000 });
    cleanups.push(() => d.close());
    const ws = new WebSocket(`ws://127.0.0.1:${d.port}/ws?token=t0ken`, { headers: { origin: `http://127.0.0.1:${d.port}` } });
    cleanups.push(() => ws.terminate());
    await new Promise<void>((res, rej) => {
      ws.once('open', () => res());
      ws.once('error', rej);
    });
    // Stop reading, then send garbage: each earns a ~150-byte error answer (about 45 MB in all).
    ws.pause();
    const SENT = 300_000;
    for (let i = 0; i < SENT; i++) ws.send('x');
    let answers = 0;
    ws.on('message', () => answers++);
    const closed = new Promise<void>((res) => ws.once('close', () => res()));
    ws.resume();
    await closed;
    expect(answers).toBeLessThan(SENT);
  }, 30_000);
});

describe('a client connecting to a server that never answers', () => {
  it('fails within the handshake timeout and leaves no socket open', async () => {
    // A TCP server that accepts and says nothing (a stopped dom0: the kernel accepts for it).
    const silent: Server = createTcpServer(() => {});
    const held: Socket[] = [];
    silent.on('connection', (s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => { for (const s of held) s.destroy(); silent.close(() => r()); }));
    // A WebSocket server that completes the upgrade and never answers hello.
    const mute = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => mute.once('listening', () => r()));
    cleanups.push(() => new Promise<void>((r) => mute.close(() => r())));
    const muteClosed = new Promise<void>((r) => mute.on('connection', (s) => s.once('close', () => r())));
    const t0 = Date.now();
    const [a, b] = await Promise.allSettled([
      connect(`ws://127.0.0.1:${(silent.address() as { port: number }).port}`, 'client', 'x'),
      connect(`ws://127.0.0.1:${(mute.address() as { port: number }).port}`, 'client', 'x'),
    ]);
    expect(a.status).toBe('rejected');
    expect(b.status).toBe('rejected');
    expect(String((b as PromiseRejectedResult).reason)).toMatch(/no answer to hello/);
    // The client closed its side of the mute server's connection (else it keeps a process alive).
    await muteClosed;
    expect(Date.now() - t0).toBeLessThan(9_000);
  }, 15_000);
});

describe('pvsim ringtest against a backend that never answers', () => {
  it('fails the case at its bound with the reason (was: status 13, nothing printed, as the event loop emptied)', () => {
    const r = spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', 'faults', '--driver', 'tests/fixtures/ringkit/never-settles.ts', '--case', 'fault: responses read the moment rsp_prod is published: each already in its slot'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAILED .*echo connect\(\) did not finish within 1000 ms/);
  }, 40_000);
});

describe('the XenStore sniffer after a long message', () => {
  it("still learns the device keys written after a write longer than it buffers (was: the long body read as headers)", async () => {
    const { sniffStore } = await import('../../hypervisor/evtchn/faults.ts');
    const { newFaultPlan } = await import('../../hypervisor/evtchn/fault_plan.ts');
    const msg = (path: string, value: string) => {
      const body = new TextEncoder().encode(`${path}\0${value}`);
      const m = new Uint8Array(16 + body.length);
      new DataView(m.buffer).setUint32(0, 11, true); // XS_WRITE
      new DataView(m.buffer).setUint32(12, body.length, true);
      m.set(body, 16);
      return m;
    };
    // A value xenstored takes (under 4096 bytes) with header-like bytes in it.
    const fill = String.fromCharCode(11, 0, 0, 0).repeat(200);
    for (const chunk of [1, 7, 300, 1024]) {
      const page = new Uint8Array(4096);
      const hv = { mem: { frames: [null, page] } } as never;
      const guest = { storeMfn: 1 } as never;
      const plan = newFaultPlan([], () => 0.5, () => {}, ['vbd/51712']);
      const stream = [...msg('data/blob', fill), ...msg('device/vbd/51712/ring-ref', '8'), ...msg('device/vbd/51712/event-channel', '5')];
      let prod = 0;
      // The guest queues the bytes `chunk` at a time, notifying after each.
      for (let i = 0; i < stream.length; i += chunk) {
        for (const b of stream.slice(i, i + chunk)) page[prod++ % 1024] = b;
        new DataView(page.buffer).setUint32(2052, prod, true);
        sniffStore(hv, plan, guest);
      }
      expect(plan.ringRefs.get('vbd/51712')?.get('ring-ref'), `chunk ${chunk}`).toBe(8);
      expect(plan.portDevice.get(5), `chunk ${chunk}`).toBe('vbd/51712');
    }
  });
});

describe('dashboard: slow and idle connections', () => {
  it('closes a socket that sends nothing, and one that sends a header line a while, within its bound', async () => {
    const d = await startDashboard({ port: 0, token: 't0ken', connect: () => Promise.resolve(fakePeer()), headersTimeoutMs: 1000 });
    cleanups.push(() => d.close());
    const { connect: tcp } = await import('node:net');
    // A live page's WebSocket is not an idle HTTP socket: it stays.
    const page = new WebSocket(`ws://127.0.0.1:${d.port}/ws?token=t0ken`, { headers: { origin: `http://127.0.0.1:${d.port}` }, handshakeTimeout: 5000 });
    cleanups.push(() => page.terminate());
    await new Promise<void>((res, rej) => {
      page.once('open', () => res());
      page.once('error', rej);
    });
    const t0 = Date.now();
    const idle = tcp(d.port, '127.0.0.1');
    const drip = tcp(d.port, '127.0.0.1');
    idle.on('error', () => {});
    drip.on('error', () => {});
    drip.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n`);
    const timer = setInterval(() => drip.write('X-Slow: 1\r\n'), 200);
    cleanups.push(() => {
      clearInterval(timer);
      idle.destroy();
      drip.destroy();
    });
    // Bounded here (not by the test's time-out) so a failure says which socket stayed.
    const closed = (s: typeof idle, what: string) =>
      new Promise<number>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${what} socket still open after 10 s`)), 10_000);
        s.once('close', () => (clearTimeout(t), res(Date.now() - t0)));
      });
    const [a, b] = await Promise.all([closed(idle, 'the idle'), closed(drip, 'the dripping')]);
    expect(a).toBeLessThan(5000);
    expect(b).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 1500)); // past the bound once more: the page stays
    expect(page.readyState).toBe(WebSocket.OPEN);
    // And a page is still served.
    expect((await fetch(`http://127.0.0.1:${d.port}/`, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
  }, 25_000);
});

describe('pvsim ringtest against a module whose protocol is wrong', () => {
  const run = (...a: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', 'ringtest', ...a], { encoding: 'utf8', timeout: 30_000 });
  it('says a slot size that cannot fit a ring page is wrong (was: an uncaught RangeError and its stack)', () => {
    for (const args of [['explore', '--walks', '2', '--depth', '3', '--backend'], ['faults', '--driver']]) {
      const r = run(...args, 'tests/fixtures/ringkit/protocol-zero-entry.ts');
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/protocol\.entryBytes is 0: a ring slot is 1-4032 bytes/);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
  }, 40_000);
  it("says the module's protocol threw during an exploration (was: an uncaught error and its stack)", () => {
    const r = run('explore', '--walks', '2', '--depth', '3', '--backend', 'tests/fixtures/ringkit/protocol-throws.ts');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/threw outside its backend's calls \(its protocol\?\): responseId is broken/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 40_000);
});

describe('durations in a scenario or on the command line', () => {
  it('refuses one too long to be a number (was: Infinity, an until that never comes)', async () => {
    const { parseDuration } = await import('../../sim/scenario/duration.ts');
    expect(() => parseDuration(`${'9'.repeat(400)}s`)).toThrow(/too long a duration/);
    expect(parseDuration('1.5ms')).toBe(1_500_000);
  });
});

describe('xl top on a terminal that says it has no columns', () => {
  it('draws a screen (was: wrap cut nothing and looped until out of memory)', async () => {
    const { drawScreen } = await import('../../cli/xl_top.ts');
    const { defaultView } = await import('../../dom0/toolstack/xentop.ts');
    const dom = { domid: 1, name: 'guest', flags: 0, totPages: 1, maxPages: 1, cpuTimeNs: 0, onlineVcpus: 1, maxVcpuId: 0, weight: 256, cap: 0 };
    const s = { domains: [dom], devices: [], nowNs: 1e9, totalKb: 1024, node: { xenVersion: '4', nrCpus: 1, cpuMhz: 1000, totalKb: 1024, freeKb: 1 }, wallMs: 0 };
    for (const cols of [0, -3, Number.NaN]) expect(drawScreen(s as never, undefined, defaultView(), null, cols, 24).length).toBeLessThan(100_000);
  });
});

describe('pvsim up --web when dom0 is killed', () => {
  const children = upChildren();
  it('says the machine is not answering, then samples again once dom0 is back; the open page does not hold up the exit', async () => {
    const u = await startUp(['--web', '--web-interval', '200'], { tmpdir: mkdtempSync(join(tmpdir(), 'pvsim-review6-')), children });
    const [base, token] = u.env.PVSIM_WEB_URL!.split('#token=') as [string, string];
    const port = new URL(base).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token}`, { headers: { origin: `http://127.0.0.1:${port}` } });
    const seen: string[] = [];
    let waiter: (() => void) | null = null;
    let want: RegExp = /^sample$/;
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string };
      seen.push(m.type);
      if (want.test(m.type)) waiter?.();
    });
    const next = (re: RegExp) => new Promise<void>((res, rej) => {
      want = re;
      const t = setTimeout(() => rej(new Error(`no ${re} within 20 s (seen ${seen.slice(-5).join(' ')})`)), 20_000);
      waiter = () => { clearTimeout(t); waiter = null; res(); };
    });
    await next(/^sample$/);
    const dom0 = daemonOf(u.proc.pid!, 'dom0');
    expect(dom0).toBeDefined();
    process.kill(dom0!.pid, 'SIGKILL');
    await next(/^status$/);
    await next(/^sample$/);
    expect(u.stderr.join('\n')).toMatch(/dom0 is back/);
    // The page stays open while `pvsim up` stops: it exits, at once.
    u.proc.kill('SIGTERM');
    const t0 = Date.now();
    expect(await u.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    ws.terminate();
  }, 60_000);
});

describe('dashboard: a flood of slow connections', () => {
  it('still serves the page: the oldest connection makes room (was: maxConnections refused the page)', async () => {
    const MAX_HTTP_CONNECTIONS = 64; // cli/web/dashboard.ts
    const d = await startDashboard({ port: 0, token: 't0ken', connect: () => Promise.resolve(fakePeer()) });
    cleanups.push(() => d.close());
    const { connect: tcp } = await import('node:net');
    const socks = await Promise.all(Array.from({ length: MAX_HTTP_CONNECTIONS }, () => new Promise<import('node:net').Socket>((res) => {
      const s = tcp(d.port, '127.0.0.1', () => res(s));
      s.on('error', () => {});
      s.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${d.port}\r\n`); // and never the end of the headers
    })));
    cleanups.push(() => socks.forEach((s) => s.destroy()));
    const r = await fetch(`http://127.0.0.1:${d.port}/`, { signal: AbortSignal.timeout(5000) });
    expect(r.status).toBe(200);
  }, 20_000);
});

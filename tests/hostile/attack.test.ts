// An adversarial review of issue 9's fixes (items 1, 3, 7, 8, 10, 12): the cases that broke
// when they were attacked, each with the fix it needed. In-process servers on loopback
// sockets (the code paths are the ones pvsim's processes run); every server is closed.

import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { startDom0 } from '../../dom0/dom0.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { connect, LOGIN_DEADLINE_MS, MAX_OUTSTANDING, MAX_PENDING, serve, type Peer } from '../../protocol/session.ts';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe('one connection carrying the requests of many callers (dom0 forwarding its clients to the hypervisor)', { timeout: 20_000 }, () => {
  it(`keeps at most ${MAX_OUTSTANDING} requests unanswered on the wire, so the peer never cuts it off`, async () => {
    // The hypervisor's side: answers only once released, as a busy one would.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let most = 0;
    let now = 0;
    const server = await serve({
      role: 'dom0',
      token: 't',
      name: 'hv',
      now: () => 0,
      onPeer: () => {},
      handler: async () => {
        most = Math.max(most, ++now);
        await gate;
        now--;
        return { rc: 0 };
      },
    });
    closers.push(server.close);
    const { peer } = await connect(server.url, 'dom0', 't');
    let lost = '';
    (peer as Peer).onClose = (why) => (lost = why);
    // Three clients of dom0, each within its own limit, 600 requests in all.
    const all = Array.from({ length: 600 }, () => peer.request('info', {}, 15_000));
    await new Promise((r) => setTimeout(r, 200));
    release();
    const rs = await Promise.all(all);
    expect(lost).toBe('');
    expect(rs.every((r) => r.rc === 0)).toBe(true);
    expect(most).toBe(MAX_OUTSTANDING);
    peer.close();
  });
});

describe('connections that never log in', { timeout: 20_000 }, () => {
  it(`cannot lock a real client out by holding ${MAX_PENDING} idle connections (no token needed)`, async () => {
    const server = await serve({ role: 'client', token: 't', name: 'dom0', now: () => 0, onPeer: () => {}, handler: () => ({ rc: 0 }) });
    closers.push(server.close);
    const port = Number(new URL(server.url).port);
    const idle: Socket[] = await Promise.all(
      Array.from({ length: MAX_PENDING }, () => new Promise<Socket>((res, rej) => {
        const s = tcpConnect(port, '127.0.0.1', () => res(s));
        s.on('error', rej);
      })),
    );
    const closedIdle = idle.map((s) => new Promise<number>((res) => s.once('close', () => res(Date.now()))));
    for (const s of idle) s.on('error', () => {});
    const t0 = Date.now();
    // Well inside the login deadline: the idle ones all still hold their places.
    for (let i = 0; i < 3; i++) {
      const { peer } = await connect(server.url, 'client', 't');
      expect((await peer.request('info', {})).rc).toBe(0);
      peer.close();
    }
    expect(Date.now() - t0).toBeLessThan(LOGIN_DEADLINE_MS);
    // Each login took the place of the oldest idle connection, no more.
    const gone = idle.filter((s) => s.destroyed || s.readyState === 'closed').length;
    expect(gone).toBeLessThanOrEqual(3);
    for (const s of idle) s.destroy();
    await Promise.all(closedIdle);
  });
});

describe('a client asking to destroy, pause or shut down Domain-0', { timeout: 30_000 }, () => {
  it('is refused (EINVAL) by domid and by name, and Domain-0 stays running', async () => {
    const token = 'hv-attack';
    const server = new HypervisorServer({ token, pcpus: 1, machineMemoryBytes: 64 * 1024 * 1024 });
    const h = await server.start();
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-attack-'));
    const dom0 = await startDom0({ hypervisorUrl: h.url, hypervisorToken: token, clientToken: 'c', xenstoredPath: join(dir, 'xs.sock'), stateFile: join(dir, 'xs.json') });
    closers.push(async () => {
      await dom0.close();
      await h.close();
    });
    const { peer } = await connect(dom0.url, 'client', 'c');
    const cases = [
      ['destroyDomain', { domid: 0 }],
      ['destroyDomain', { name: 'Domain-0' }],
      ['pauseDomain', { domid: 0 }],
      ['unpauseDomain', { domid: 0 }],
      ['shutdownDomain', { domain: { domid: 0 }, reason: 0 }],
    ] as const;
    for (const [op, arg] of cases) {
      const r = await peer.request(op, arg as never);
      expect(r.rc, op).toBe(-22);
      expect(r.error).toMatch(/domain 0 \(Domain-0\) is the control domain/);
    }
    expect(server.hv.domain(0)?.state).toBe('running');
    const d0 = (await peer.request('listDomains', {})).domains!.domains.find((d) => d.domid === 0)!;
    expect(d0.flags & XEN_DOMINF.running).toBeTruthy();
    peer.close();
  });
});

// The ring transport against a simulated guest: the guest is a Uint8Array page with the
// xenstore_domain_interface layout, written the way a frontend writes it (data, then the
// producer index, then a notification), and the daemon's RingTransport is the real one.
// Covers free-running indices across 2^32, messages straddling the ring's wrap and
// arriving over several kicks, backpressure, watch events, and hostile guests.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeXsMessage,
  ringDistance,
  XENSTORE_CONNECTED,
  XENSTORE_DOMAIN_INTERFACE as XDI,
  XENSTORE_ERROR_COMM,
  XENSTORE_ERROR_NONE,
  XENSTORE_ERROR_PROTO,
  XENSTORE_ERROR_RINGIDX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_RECONNECT,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_ERROR,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XS_TYPE,
  latin1ToBytes,
  bytesToLatin1,
} from '../protocol/xen/xs_wire.ts';
import { RingTransport, XsClient, Xenstored, type XenstoredOptions } from '../dom0/xenstore/index.ts';
import { FakeGuest } from './helpers/xs_fake_guest.ts';

const PAGE = 4096;

function setup(domid = 5, start?: { req: number; rsp: number }, opts: XenstoredOptions = {}) {
  const d = new Xenstored(opts);
  const dom0 = new XsClient(d);
  d.introduceDomain(domid, 0x1000, 3);
  d.store.mkdir({ domid: 0, privileged: true }, `/local/domain/${domid}`);
  d.store.setPerms({ domid: 0, privileged: true }, `/local/domain/${domid}`, [{ domid, mode: 'n' }]);
  const g = new FakeGuest(start).attach(d, domid);
  return { d, dom0, g };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('xenstore ring transport', () => {
  it('advertises its features and serves requests; relative paths land in the domain home', () => {
    const { d, g } = setup();
    expect(g.u32(XDI.server_features)).toBe(XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE_SERVER_FEATURE_ERROR);
    expect(g.write('device/vbd/768/state', '1')).toBe(`${XS_TYPE.WRITE}:OK`);
    expect(g.read('device/vbd/768/state')).toBe(`${XS_TYPE.READ}:1`);
    expect(bytesToLatin1(d.store.node('/local/domain/5/device/vbd/768/state')!.value)).toBe('1');
    expect(g.read('/local/domain/0')).toBe('ERROR:EACCES');
    expect(g.call(XS_TYPE.GET_DOMAIN_PATH, ['5'])).toBe(`${XS_TYPE.GET_DOMAIN_PATH}:/local/domain/5`);
    expect(g.call(XS_TYPE.INTRODUCE, ['6', '1', '1'])).toBe('ERROR:EACCES');
    expect(g.notifications).toBeGreaterThan(0);
    expect(g.u32(XDI.error)).toBe(XENSTORE_ERROR_NONE);
  });

  it('works wired as the lead wires it: XS_INTRODUCE -> onIntroduce maps the page and attaches the ring', async () => {
    const pages = new Map<number, FakeGuest>();
    let d!: Xenstored;
    d = new Xenstored({
      onIntroduce(domid, mfn) {
        if (mfn === 0) throw new Error('no such frame');
        const g = new FakeGuest();
        pages.set(domid, g.attach(d, domid));
      },
      onRelease(domid) {
        pages.get(domid)?.transport.detach();
        pages.delete(domid);
      },
    });
    const dom0 = new XsClient(d);
    const intro: string[] = [];
    await dom0.watch('@introduceDomain', 'i', (p) => intro.push(p));
    await dom0.introduce(8, 0x2000, 4);
    const g = pages.get(8)!;
    expect(g.call(XS_TYPE.MKDIR, ['/local/domain/8'])).toBe('ERROR:EACCES');
    await dom0.mkdir('/local/domain/8');
    await dom0.setPerms('/local/domain/8', ['n8']);
    expect(g.write('name', 'eight')).toBe(`${XS_TYPE.WRITE}:OK`);
    expect(await dom0.read('/local/domain/8/name')).toBe('eight');
    await tick();
    expect(intro).toEqual(['@introduceDomain', '@introduceDomain']);
    // A failing mapping is reported to the requester and the domain stays unknown.
    let failure = '';
    await dom0.introduce(9, 0, 4).catch((e: Error) => (failure = e.message));
    expect(failure).toBe('EIO');
    expect(d.isIntroduced(9)).toBe(false);
    await dom0.release(8);
    expect(pages.size).toBe(0);
  });

  it('handles free-running indices across 2^32 and messages straddling the wrap, over several kicks', () => {
    const start = { req: 0xffffffff - 700, rsp: 0xffffffff - 300 };
    const { g } = setup(5, start);
    for (let i = 0; i < 30; i++) {
      const value = `v${i}-`.repeat(1 + ((i * 97) % 380)); // up to ~1.9 KB (the entry quota): bigger than the ring
      expect(g.write(`big/${i}`, value)).toBe(`${XS_TYPE.WRITE}:OK`);
      expect(g.read(`big/${i}`)).toBe(`${XS_TYPE.READ}:${value}`);
    }
    // Both streams went past 2^32 and wrapped many times.
    expect(g.u32(XDI.req_prod)).toBeLessThan(start.req);
    expect(g.u32(XDI.rsp_prod)).toBeLessThan(start.rsp);
  });

  it('delivers a request written one byte per kick', () => {
    const { g } = setup();
    const frame = encodeXsMessage({ type: XS_TYPE.READ, reqId: 42, txId: 0, payload: latin1ToBytes('/local/domain/5\0') });
    for (const b of frame) {
      expect(g.produce(new Uint8Array([b]))).toBe(1);
      g.transport.kick();
    }
    g.consume();
    expect(g.replies.map((m) => m.reqId)).toEqual([42]);
  });

  it('stops consuming requests while replies wait for room, and resumes when the guest reads', () => {
    const { d, g } = setup();
    // 40 reads of a 3000-byte value dom0 wrote: ~120 KB of replies through a 1 KiB ring.
    d.store.write({ domid: 0, privileged: true }, '/local/domain/5/v', latin1ToBytes('x'.repeat(3000)));
    const frames = Array.from({ length: 40 }, (_, i) => encodeXsMessage({ type: XS_TYPE.READ, reqId: 1000 + i, txId: 0, payload: latin1ToBytes('v\0') }));
    const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let pos = 0;
    for (const f of frames) {
      stream.set(f, pos);
      pos += f.length;
    }
    g.produce(stream.subarray(0, 1024));
    g.transport.kick();
    // The guest reads nothing: the daemon consumed its input but holds the replies.
    expect(g.transport.conn.pendingOutputBytes).toBeLessThanOrEqual(3 * (XENSTORE_PAYLOAD_MAX + 16));
    let off = 1024;
    for (let guard = 0; guard < 2000 && g.replies.length < 40; guard++) {
      off += g.produce(stream.subarray(off));
      g.consume();
      g.transport.kick();
    }
    expect(g.replies.map((m) => m.reqId)).toEqual(frames.map((_, i) => 1000 + i));
    expect(g.replies.map((m) => `${m.type}:${m.payload.length}`)).toEqual(frames.map(() => `${XS_TYPE.READ}:3000`));
  });

  it('carries watch events to the guest and notifies it when dom0 changes the store', async () => {
    const { dom0, g } = setup();
    expect(g.call(XS_TYPE.WATCH, ['backend', 'be'])).toBe(`${XS_TYPE.WATCH}:OK`);
    g.consume();
    expect(g.events).toEqual([['backend', 'be']]);
    const before = g.notifications;
    await dom0.write('/local/domain/5/backend/vif/0', 'x');
    expect(g.notifications).toBeGreaterThan(before);
    g.consume();
    expect(g.events).toEqual([
      ['backend', 'be'],
      ['backend/vif/0', 'be'],
    ]);
  });

  it('stores every byte it writes through its memory view', () => {
    const { g } = setup(5, { req: 1000, rsp: 1010 });
    const before = g.page.slice();
    g.writes.length = 0;
    g.write('k', 'value');
    g.read('k');
    const covered = new Uint8Array(PAGE);
    for (const [o, l] of g.writes) covered.fill(1, o, o + l);
    // Bytes the guest itself wrote (req[] and the indices it owns) are not the daemon's.
    const guestOwned = (i: number) => i < XDI.rsp || (i >= XDI.req_prod && i < XDI.req_prod + 4) || (i >= XDI.rsp_cons && i < XDI.rsp_cons + 4);
    for (let i = 0; i < PAGE; i++) {
      if (g.page[i] !== before[i] && !guestOwned(i)) expect(covered[i], `byte ${i}`).toBe(1);
    }
  });

  it('a header announcing too long a payload stops the ring with XENSTORE_ERROR_PROTO; a reconnection recovers', () => {
    const { d, g } = setup();
    expect(g.call(XS_TYPE.WATCH, ['x', 't'])).toBe(`${XS_TYPE.WATCH}:OK`);
    const bad = new Uint8Array(16);
    new DataView(bad.buffer).setUint32(12, XENSTORE_PAYLOAD_MAX + 1, true);
    g.produce(bad);
    expect(() => g.transport.kick()).not.toThrow();
    expect(g.u32(XDI.error)).toBe(XENSTORE_ERROR_PROTO);
    expect(g.transport.error).toBe(XENSTORE_ERROR_PROTO);
    // Service stopped: requests are no longer read, the watch is gone.
    const cons = g.u32(XDI.req_cons);
    g.produce(encodeXsMessage({ type: XS_TYPE.READ, reqId: 9, txId: 0, payload: latin1ToBytes('x\0') }));
    g.transport.kick();
    expect(g.u32(XDI.req_cons)).toBe(cons);
    expect(d.connections.some((c) => c.domid === 5)).toBe(false);

    g.set(XDI.connection, XENSTORE_RECONNECT);
    g.transport.kick();
    expect(g.u32(XDI.connection)).toBe(XENSTORE_CONNECTED);
    expect(g.u32(XDI.error)).toBe(XENSTORE_ERROR_NONE);
    expect([XDI.req_cons, XDI.req_prod, XDI.rsp_cons, XDI.rsp_prod].map((o) => g.u32(o))).toEqual([0, 0, 0, 0]);
    expect(g.write('after', 'reconnect')).toBe(`${XS_TYPE.WRITE}:OK`);
    expect(d.connections.filter((c) => c.domid === 5)).toHaveLength(1);
    expect(d.connections.find((c) => c.domid === 5)!.watches).toEqual([]);
  });

  it('an impossible request or response index stops the ring with XENSTORE_ERROR_RINGIDX', () => {
    const a = setup();
    a.g.set(XDI.req_prod, a.g.u32(XDI.req_cons) + XENSTORE_RING_SIZE + 1);
    a.g.transport.kick();
    expect(a.g.u32(XDI.error)).toBe(XENSTORE_ERROR_RINGIDX);

    const b = setup();
    b.g.write('k', 'v');
    b.g.set(XDI.rsp_cons, b.g.u32(XDI.rsp_prod) + 5); // consumer ahead of producer
    b.g.produce(encodeXsMessage({ type: XS_TYPE.READ, reqId: 1, txId: 0, payload: latin1ToBytes('k\0') }));
    b.g.transport.kick();
    expect(b.g.u32(XDI.error)).toBe(XENSTORE_ERROR_RINGIDX);
  });

  it('a guest that never reads while events pile up is cut off with XENSTORE_ERROR_COMM', async () => {
    const { dom0, g } = setup(5, undefined, { maxOutputBytes: 8192 });
    g.call(XS_TYPE.WATCH, ['flood', 't']);
    for (let i = 0; i < 500 && g.u32(XDI.error) === XENSTORE_ERROR_NONE; i++) {
      await dom0.write('/local/domain/5/flood', String(i));
    }
    expect(g.u32(XDI.error)).toBe(XENSTORE_ERROR_COMM);
    await dom0.write('/local/domain/5/flood', 'after'); // no throw, nothing queued
    await tick();
  });

  it('release detaches the ring; re-introduction resets indices, watches and transactions', () => {
    const a = setup(5, { req: 77, rsp: 99 });
    a.g.call(XS_TYPE.WATCH, ['x', 't']);
    a.g.call(XS_TYPE.TRANSACTION_START, ['']);
    a.d.introduceDomain(5, 0x1000, 4);
    expect([XDI.req_cons, XDI.req_prod, XDI.rsp_cons, XDI.rsp_prod].map((o) => a.g.u32(o))).toEqual([0, 0, 0, 0]);
    const conn = a.d.domain(5)!.conn!;
    expect(conn.watches).toEqual([]);
    expect(conn.transactions.size).toBe(0);
    expect(a.d.store.openTransactions).toBe(0);
    expect(a.g.read('x')).toBe('ERROR:ENOENT');

    a.d.releaseDomain(5);
    const cons = a.g.u32(XDI.req_cons);
    a.g.produce(encodeXsMessage({ type: XS_TYPE.READ, reqId: 1, txId: 0, payload: latin1ToBytes('x\0') }));
    a.g.transport.kick();
    expect(a.g.u32(XDI.req_cons)).toBe(cons);
    expect(() => new FakeGuest().attach(a.d, 5)).toThrow(/not introduced/);
  });

  it('survives arbitrary guest behaviour: random bytes, indices and flags never throw or hang', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ kind: fc.constant('bytes' as const), data: fc.uint8Array({ maxLength: 1200 }) }),
            fc.record({ kind: fc.constant('frame' as const), type: fc.nat(25), path: fc.constantFrom('a', '/a', 'b/c', '@x', '', '/'), len: fc.option(fc.nat(0xffffffff)) }),
            fc.record({ kind: fc.constant('index' as const), field: fc.constantFrom(XDI.req_cons, XDI.req_prod, XDI.rsp_cons, XDI.rsp_prod, XDI.connection), value: fc.nat(0xffffffff) }),
            fc.record({ kind: fc.constant('read' as const) }),
          ),
          { maxLength: 25 },
        ),
        (steps) => {
          const { d, g } = setup();
          const tail = g.page.slice(XDI.SIZE);
          for (const s of steps) {
            if (s.kind === 'bytes') g.produce(s.data);
            else if (s.kind === 'frame') {
              const f = encodeXsMessage({ type: s.type, reqId: 1, txId: 0, payload: latin1ToBytes(`${s.path}\0v`) });
              if (s.len !== null) new DataView(f.buffer).setUint32(12, s.len, true);
              g.produce(f);
            } else if (s.kind === 'index') g.set(s.field, s.value);
            else {
              const prod = g.u32(XDI.rsp_prod);
              if (ringDistance(prod, g.u32(XDI.rsp_cons)) <= XENSTORE_RING_SIZE) g.set(XDI.rsp_cons, prod);
            }
            g.transport.kick();
          }
          // The daemon never wrote past the interface, and still serves other clients.
          expect(g.page.slice(XDI.SIZE)).toEqual(tail);
          expect(d.store.node('/tool/xenstored')).toBeDefined();
        },
      ),
      { numRuns: 200 },
    );
  });
});

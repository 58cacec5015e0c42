// XenStore semantics as Xen documents them (docs/misc/xenstore.txt) and cxenstored
// implements them: the tree, permissions and their inheritance, EACCES versus ENOENT,
// quotas, transactions, watches, DIRECTORY_PART and domain management. Clients here are
// in-process (XsClient) or raw connections that record every frame in order.

import { describe, expect, it } from 'vitest';
import {
  bytesToLatin1,
  latin1ToBytes,
  XENSTORE_PAYLOAD_MAX,
  XS_TYPE,
  XsFrameDecoder,
  xsJoinStrings,
  xsStrings,
  type XsMessage,
} from '../protocol/xen/xs_wire.ts';
import { DEFAULT_QUOTAS, directoryPart, XsClient, XsError, Xenstored, type XenstoredOptions } from '../dom0/xenstore/index.ts';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    if (e instanceof XsError) return e.code;
    throw e;
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function setup(opts: XenstoredOptions = {}) {
  const d = new Xenstored(opts);
  const dom0 = new XsClient(d);
  const guest = (domid: number) => new XsClient(d, { domid });
  return { d, dom0, guest };
}

/** A guest home as the toolstack makes it: /local/domain/<id> owned by the domain. */
async function home(dom0: XsClient, domid: number): Promise<string> {
  const p = `/local/domain/${domid}`;
  await dom0.mkdir(p);
  await dom0.setPerms(p, [`n${domid}`]);
  return p;
}

/** Records the events a client's watch receives. */
async function recordWatch(c: XsClient, path: string, token = 'tok'): Promise<string[]> {
  const seen: string[] = [];
  await c.watch(path, token, (p) => seen.push(p));
  await tick();
  return seen;
}

/** A raw connection: send messages, read back every frame in the order produced. */
function rawConn(d: Xenstored, domid = 0) {
  const out: XsMessage[] = [];
  const dec = new XsFrameDecoder();
  const conn = d.connect({
    domid,
    transport: {
      outputReady(c) {
        for (let f = c.takeOutput(); f; f = c.takeOutput()) out.push(...dec.push(f));
      },
      closed() {},
    },
  });
  let reqId = 100;
  return {
    out,
    conn,
    send(type: number, payload: Uint8Array | string[], txId = 0): number {
      const id = reqId++;
      conn.receive({ type, reqId: id, txId, payload: payload instanceof Uint8Array ? payload : xsJoinStrings(payload) });
      return id;
    },
    /** Type name and strings of each recorded frame, then clears the record. */
    take(): string[] {
      const r = out.map((m) => `${m.type === XS_TYPE.ERROR ? 'ERROR' : m.type === XS_TYPE.WATCH_EVENT ? 'EVENT' : m.type}:${xsStrings(m.payload).join('|')}`);
      out.length = 0;
      return r;
    },
  };
}

describe('xenstore tree', () => {
  it('starts with the nodes cxenstored creates, owned by dom0', async () => {
    const { dom0 } = setup();
    expect(await dom0.directory('/')).toEqual(['tool']);
    expect(await dom0.directory('/tool')).toEqual(['xenstored']);
    expect(await dom0.getPerms('/')).toEqual(['n0']);
  });

  it('WRITE creates missing parents with empty values; DIRECTORY lists children in creation order', async () => {
    const { dom0 } = setup();
    await dom0.write('/a/b/c', 'v');
    await dom0.write('/a/b/a', 'w');
    expect(await dom0.read('/a/b/c')).toBe('v');
    expect(await dom0.read('/a')).toBe('');
    expect(await dom0.directory('/a/b')).toEqual(['c', 'a']);
    expect(await dom0.directory('/')).toEqual(['tool', 'a']);
    await dom0.write('/a/b/c', 'v2');
    expect(await dom0.read('/a/b/c')).toBe('v2');
    expect(await dom0.directory('/a/b')).toEqual(['c', 'a']);
  });

  it('values are bytes: NULs and high bytes survive', async () => {
    const { dom0 } = setup();
    const v = new Uint8Array([0, 1, 0xff, 0, 0x80]);
    await dom0.write('/bin', v);
    expect([...(await dom0.readBytes('/bin'))]).toEqual([...v]);
  });

  it('MKDIR leaves an existing node alone and creates a missing one', async () => {
    const { dom0 } = setup();
    await dom0.write('/m', 'keep');
    await dom0.mkdir('/m');
    expect(await dom0.read('/m')).toBe('keep');
    await dom0.mkdir('/m/x/y');
    expect(await dom0.read('/m/x/y')).toBe('');
  });

  it('RM is recursive; a missing node is fine if its parent exists; / cannot go', async () => {
    const { d, dom0 } = setup();
    await dom0.write('/r/a/b', '1');
    await dom0.write('/r/a/c', '2');
    const before = d.store.size;
    await dom0.rm('/r/a');
    expect(await dom0.directory('/r')).toEqual([]);
    expect(d.store.size).toBe(before - 3);
    expect(await code(dom0.rm('/r/none'))).toBe('OK');
    expect(await code(dom0.rm('/r/none/deeper'))).toBe('ENOENT');
    expect(await code(dom0.rm('/'))).toBe('EINVAL');
  });

  it('rejects malformed paths with EINVAL', async () => {
    const { dom0 } = setup();
    for (const p of ['/a//b', '/a/', '/a b', '/a/ü', '', `/${'x'.repeat(3072)}`]) {
      expect(await code(dom0.write(p, 'v')), JSON.stringify(p)).toBe('EINVAL');
    }
    expect(await code(dom0.write(`/${'x'.repeat(3071)}`, 'v'))).toBe('OK');
    expect(await code(dom0.read(`${'x'.repeat(2049)}`))).toBe('EINVAL');
  });

  it('relative paths are relative to /local/domain/<domid>, for dom0 too', async () => {
    const { dom0, guest } = setup();
    await dom0.write('rel', 'zero');
    expect(await dom0.read('/local/domain/0/rel')).toBe('zero');
    await home(dom0, 3);
    const g = guest(3);
    await g.write('device/vif/0/state', '1');
    expect(await dom0.read('/local/domain/3/device/vif/0/state')).toBe('1');
    expect(await g.read('device/vif/0/state')).toBe('1');
  });

  it('replies over XENSTORE_PAYLOAD_MAX are E2BIG', async () => {
    const { dom0 } = setup();
    for (let i = 0; i < 300; i++) await dom0.mkdir(`/big/child-number-${String(i).padStart(4, '0')}`);
    expect(await code(dom0.directory('/big'))).toBe('E2BIG');
  });
});

describe('xenstore permissions', () => {
  it('formats and parses perms strings; the owner and dom0 have full access', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    expect(await dom0.getPerms(h)).toEqual(['n1']);
    const g1 = guest(1);
    await g1.write(`${h}/x`, 'mine');
    expect(await g1.read(`${h}/x`)).toBe('mine');
    expect(await dom0.read(`${h}/x`)).toBe('mine');
    expect(await code(dom0.setPerms(h, ['q1']))).toBe('EINVAL');
    expect(await code(dom0.setPerms(h, ['n70000']))).toBe('EINVAL');
  });

  it('children inherit the parent perms; an unprivileged creator becomes the owner', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    await dom0.setPerms(h, ['n1', 'r2']);
    await dom0.write(`${h}/by-dom0/leaf`, 'x');
    expect(await dom0.getPerms(`${h}/by-dom0`)).toEqual(['n1', 'r2']);
    expect(await dom0.getPerms(`${h}/by-dom0/leaf`)).toEqual(['n1', 'r2']);
    await dom0.setPerms(h, ['r0', 'b1']); // dom0 owns, dom1 may write, others read
    await guest(1).write(`${h}/by-dom1/leaf`, 'y');
    expect(await dom0.getPerms(`${h}/by-dom1`)).toEqual(['r1', 'b1']);
    expect(await dom0.getPerms(`${h}/by-dom1/leaf`)).toEqual(['r1', 'b1']);
  });

  it('per-domain entries override the default; reading what you may not read is EACCES', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    await dom0.write(`${h}/secret`, 's');
    await dom0.setPerms(`${h}/secret`, ['n1', 'r2']);
    await dom0.setPerms(h, ['n1', 'r2']);
    expect(await guest(2).read(`${h}/secret`)).toBe('s');
    expect(await code(guest(3).read(`${h}/secret`))).toBe('EACCES');
    expect(await code(guest(3).directory(h))).toBe('EACCES');
    expect(await code(guest(2).write(`${h}/secret`, 'x'))).toBe('EACCES');
    await dom0.setPerms(`${h}/secret`, ['r1']);
    expect(await guest(3).read(`${h}/secret`)).toBe('s');
    expect(await code(guest(3).write(`${h}/secret`, 'x'))).toBe('EACCES');
    await dom0.setPerms(`${h}/secret`, ['n1', 'w3']);
    expect(await code(guest(3).write(`${h}/secret`, 'x'))).toBe('OK');
    expect(await code(guest(3).read(`${h}/secret`))).toBe('EACCES');
  });

  it('a missing node is ENOENT only where the nearest ancestor is accessible, else EACCES', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    expect(await code(guest(1).read(`${h}/missing/deeper`))).toBe('ENOENT');
    expect(await code(guest(2).read(`${h}/missing/deeper`))).toBe('EACCES');
    expect(await code(guest(2).read('/nothing-here'))).toBe('EACCES'); // '/' is n0
    await dom0.setPerms(h, ['n1', 'r2']);
    expect(await code(guest(2).read(`${h}/missing`))).toBe('ENOENT');
    // Creating needs write access to the nearest existing ancestor.
    expect(await code(guest(2).write(`${h}/new`, 'x'))).toBe('EACCES');
    expect(await code(guest(2).mkdir('/local/domain/2'))).toBe('EACCES');
    expect(await code(guest(2).rm(`${h}/missing`))).toBe('EACCES');
  });

  it('SET_PERMS needs ownership; an unprivileged owner cannot give the node away', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    await dom0.setPerms(h, ['n1', 'b2']);
    expect(await code(guest(2).setPerms(h, ['n1', 'b2', 'r3']))).toBe('EACCES');
    expect(await code(guest(1).setPerms(h, ['n2']))).toBe('EPERM');
    expect(await code(guest(1).setPerms(h, ['r1', 'b2']))).toBe('OK');
    expect(await dom0.getPerms(h)).toEqual(['r1', 'b2']);
    expect(await code(guest(1).setPerms(h, ['n1', 'r2', 'r3', 'r4', 'r5', 'r6']))).toBe('ENOSPC');
    expect(await code(guest(1).setPerms(h, ['n1', 'r2', 'r3', 'r4', 'r5']))).toBe('OK');
    expect(await code(dom0.setPerms(h, ['n1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']))).toBe('OK');
  });

  it('SET_TARGET gives a domain the access of the domain it targets', async () => {
    const { d, dom0, guest } = setup();
    d.introduceDomain(4, 100, 5);
    d.introduceDomain(5, 101, 5);
    const h = await home(dom0, 4);
    await dom0.write(`${h}/x`, 'dm');
    await dom0.setPerms(`${h}/x`, ['n4']);
    const stub = guest(5);
    expect(await code(stub.read(`${h}/x`))).toBe('EACCES');
    await dom0.setTarget(5, 4);
    // A connection of domain 5 made after SET_TARGET acts for domain 4.
    const stub2 = guest(5);
    expect(await stub2.read(`${h}/x`)).toBe('dm');
    expect(await code(dom0.setTarget(5, 9))).toBe('ENOENT');
  });
});

describe('xenstore quotas', () => {
  it('defaults are cxenstored’s', () => {
    expect(DEFAULT_QUOTAS).toEqual({
      maxNodesPerDomain: 1000,
      maxEntrySize: 2048,
      maxWatchesPerConnection: 128,
      maxTransactionsPerConnection: 10,
      maxPermsPerNode: 5,
    });
  });

  it('nodes per domain: ENOSPC past the quota, nothing half-created; dom0 is exempt', async () => {
    const { d, dom0, guest } = setup({ quotas: { maxNodesPerDomain: 4 } });
    const h = await home(dom0, 1);
    const g = guest(1);
    expect(d.store.nodesOwnedBy(1)).toBe(1); // the home itself
    await g.write(`${h}/a/b`, 'x'); // 3 nodes
    expect(await code(g.write(`${h}/c/d`, 'x'))).toBe('ENOSPC'); // would be 5
    expect(await code(g.read(`${h}/c`))).toBe('ENOENT');
    expect(await code(g.write(`${h}/c`, 'x'))).toBe('OK'); // 4
    expect(await code(g.mkdir(`${h}/e`))).toBe('ENOSPC');
    await g.rm(`${h}/a`);
    expect(await code(g.mkdir(`${h}/e`))).toBe('OK');
    for (let i = 0; i < 10; i++) await dom0.mkdir(`/dom0-${i}`);
  });

  it('entry size: an unprivileged node record of 2048 bytes or more is ENOSPC', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    const g = guest(1);
    // Record: 24-byte header + 8 per permission entry + value.
    expect(await code(g.write(`${h}/v`, 'x'.repeat(2048 - 24 - 8 - 1)))).toBe('OK');
    expect(await code(g.write(`${h}/v`, 'x'.repeat(2048 - 24 - 8)))).toBe('ENOSPC');
    expect(await code(dom0.write(`${h}/v`, 'x'.repeat(4000)))).toBe('OK');
  });

  it('watches per connection: E2BIG past 128; transactions: ENOSPC past 10', async () => {
    const { dom0, guest } = setup();
    const h = await home(dom0, 1);
    const g = guest(1);
    for (let i = 0; i < 128; i++) await g.watch(h, `t${i}`, () => {});
    expect(await code(g.watch(h, 'one-more', () => {}))).toBe('E2BIG');
    for (let i = 0; i < 10; i++) await g.transactionStart();
    expect(await code(g.transactionStart())).toBe('ENOSPC');
    for (let i = 0; i < 20; i++) await dom0.transactionStart();
  });
});

describe('xenstore transactions', () => {
  it('see a snapshot; commit applies; abort discards', async () => {
    const { dom0 } = setup();
    await dom0.write('/t/a', '1');
    const tx = await dom0.transactionStart();
    expect(tx).toBeGreaterThan(0);
    await dom0.write('/t/b', 'in-tx', tx);
    expect(await code(dom0.read('/t/b'))).toBe('ENOENT');
    expect(await dom0.read('/t/b', tx)).toBe('in-tx');
    await dom0.write('/other', 'outside'); // unrelated to what tx touched: no conflict
    await dom0.transactionEnd(tx, true);
    expect(await dom0.read('/t/b')).toBe('in-tx');

    // Reads stay on the snapshot taken at the start, even of nodes first read later.
    const snap = await dom0.transactionStart();
    await dom0.write('/later', 'outside');
    expect(await code(dom0.read('/later', snap))).toBe('ENOENT');
    expect(await dom0.directory('/t', snap)).toEqual(['a', 'b']);
    await dom0.transactionEnd(snap, false);

    const tx2 = await dom0.transactionStart();
    await dom0.rm('/t', tx2);
    await dom0.transactionEnd(tx2, false);
    expect(await dom0.read('/t/a')).toBe('1');
  });

  it('EAGAIN when a node the transaction read or wrote changed since it started, and nothing is applied', async () => {
    const { dom0 } = setup();
    await dom0.write('/c/a', '1');
    const tx = await dom0.transactionStart();
    expect(await dom0.read('/c/a', tx)).toBe('1');
    await dom0.write('/c/written-by-tx', 'x', tx);
    await dom0.write('/c/a', '2');
    expect(await dom0.read('/c/a', tx)).toBe('1');
    expect(await code(dom0.transactionEnd(tx, true))).toBe('EAGAIN');
    expect(await code(dom0.read('/c/written-by-tx'))).toBe('ENOENT');
    expect(await code(dom0.transactionEnd(tx, true))).toBe('ENOENT'); // gone either way

    // A node changed after the start but before the transaction first looked at it.
    const tx2 = await dom0.transactionStart();
    await dom0.write('/c/a', '3');
    expect(await dom0.read('/c/a', tx2)).toBe('2');
    expect(await code(dom0.transactionEnd(tx2, true))).toBe('EAGAIN');

    // Two transactions adding children to the same directory: the second conflicts.
    const t1 = await dom0.transactionStart();
    const t2 = await dom0.transactionStart();
    await dom0.write('/c/x1', '1', t1);
    await dom0.write('/c/x2', '2', t2);
    expect(await code(dom0.transactionEnd(t1, true))).toBe('OK');
    expect(await code(dom0.transactionEnd(t2, true))).toBe('EAGAIN');
    expect(await dom0.directory('/c')).toEqual(['a', 'x1']);
  });

  it('retries cleanly with XsClient.transaction', async () => {
    const { dom0 } = setup();
    await dom0.write('/n', '0');
    let attempts = 0;
    await dom0.transaction(async (tx) => {
      attempts++;
      const v = Number(await dom0.read('/n', tx));
      if (attempts === 1) await dom0.write('/n', '10'); // a concurrent writer, once
      await dom0.write('/n', String(v + 1), tx);
    });
    expect(attempts).toBe(2);
    expect(await dom0.read('/n')).toBe('11');
  });

  it('protocol errors: unknown tx ENOENT, nested start EBUSY, bad end argument EINVAL', async () => {
    const { dom0 } = setup();
    expect(await code(dom0.read('/', 999))).toBe('ENOENT');
    const tx = await dom0.transactionStart();
    expect(await code(dom0.request(XS_TYPE.TRANSACTION_START, xsJoinStrings(['']), tx))).toBe('EBUSY');
    expect(await code(dom0.request(XS_TYPE.TRANSACTION_END, xsJoinStrings(['X']), tx))).toBe('EINVAL');
    expect(await code(dom0.request(XS_TYPE.TRANSACTION_END, xsJoinStrings(['T']), 0))).toBe('ENOENT');
    expect(await code(dom0.transactionEnd(tx, true))).toBe('OK');
  });

  it('watch events of a transaction fire at commit, not before, and never on abort', async () => {
    const { dom0, guest } = setup();
    const watcher = guest(0);
    const seen = await recordWatch(watcher, '/w');
    seen.length = 0;
    const tx = await dom0.transactionStart();
    await dom0.write('/w/a', '1', tx);
    await tick();
    expect(seen).toEqual([]);
    await dom0.transactionEnd(tx, true);
    await tick();
    expect(seen).toEqual(['/w/a']);
    const tx2 = await dom0.transactionStart();
    await dom0.write('/w/b', '1', tx2);
    await dom0.transactionEnd(tx2, false);
    await tick();
    expect(seen).toEqual(['/w/a']);
  });

  it('node quota is checked again at commit', async () => {
    const { dom0, guest } = setup({ quotas: { maxNodesPerDomain: 3 } });
    const h = await home(dom0, 1);
    const g = guest(1);
    const t1 = await g.transactionStart();
    await g.write(`${h}/a`, '1', t1);
    await g.write(`${h}/b`, '1'); // outside: 2 + 1 pending
    await g.write(`${h}/c`, '1');
    // t1 conflicts anyway (the home's child list changed) and would exceed the quota.
    expect(['EAGAIN', 'ENOSPC']).toContain(await code(g.transactionEnd(t1, true)));
  });
});

describe('xenstore watches', () => {
  it('fire once on registration with the watched path, then for changes at or below it', async () => {
    const s = setup();
    const watcher = new XsClient(s.d);
    const seen = await recordWatch(watcher, '/x');
    expect(seen).toEqual(['/x']);
    await s.dom0.write('/x', '1');
    await s.dom0.write('/x/y/z', '1');
    await s.dom0.write('/xy', 'sibling, not below /x');
    await s.dom0.mkdir('/x/y'); // exists: no change, no event
    await s.dom0.setPerms('/x/y', ['r0']);
    await tick();
    expect(seen).toEqual(['/x', '/x', '/x/y/z', '/x/y']);
  });

  it('rm fires for the removed node, and for watches on nodes below it with their own path', async () => {
    const s = setup();
    await s.dom0.write('/r/a/b/c', '1');
    const top = await recordWatch(new XsClient(s.d), '/r');
    const deep = await recordWatch(new XsClient(s.d), '/r/a/b');
    const deeper = await recordWatch(new XsClient(s.d), '/r/a/b/c');
    top.length = deep.length = deeper.length = 0;
    await s.dom0.rm('/r/a');
    await tick();
    expect(top).toEqual(['/r/a']);
    expect(deep).toEqual(['/r/a/b']);
    expect(deeper).toEqual(['/r/a/b/c']);
  });

  it('a watcher only hears of nodes it may read (or whose parent it may read)', async () => {
    const s = setup();
    const h = await home(s.dom0, 1);
    const spy = await recordWatch(s.guest(2), h);
    expect(spy).toEqual([h]); // the initial event is always sent
    await s.dom0.write(`${h}/private`, 'x');
    await tick();
    expect(spy).toEqual([h]);
    await s.dom0.setPerms(h, ['n1', 'r2']);
    await s.dom0.write(`${h}/private/leaf`, 'x'); // node n1 but parent... also n1 (inherited earlier)
    await s.dom0.write(`${h}/shared`, 'y'); // inherits n1,r2
    await tick();
    expect(spy).toEqual([h, h, `${h}/shared`]);
  });

  it('relative watches report relative paths', async () => {
    const s = setup();
    const h = await home(s.dom0, 7);
    const g = s.guest(7);
    const seen = await recordWatch(g, 'device');
    await s.dom0.write(`${h}/device/vbd/1`, 'x');
    await tick();
    expect(seen).toEqual(['device', 'device/vbd/1']);
  });

  it('EEXIST for a duplicate, ENOENT to unwatch an unknown watch; unwatch and reset stop events', async () => {
    const s = setup();
    const c = new XsClient(s.d);
    const seen = await recordWatch(c, '/u');
    expect(await code(c.watch('/u', 'tok', () => {}))).toBe('EEXIST');
    expect(await code(c.unwatch('/u', 'other'))).toBe('ENOENT');
    await c.unwatch('/u', 'tok');
    await s.dom0.write('/u', '1');
    await c.watch('/v', 'a', (p) => seen.push(p));
    await c.resetWatches();
    await s.dom0.write('/v', '1');
    await tick();
    expect(seen).toEqual(['/u', '/v']);
  });

  it('orders events before the reply of the request that caused them, and after a WATCH reply', async () => {
    const { d } = setup();
    const r = rawConn(d);
    r.send(XS_TYPE.WATCH, ['/o', 'T']);
    expect(r.take()).toEqual([`${XS_TYPE.WATCH}:OK`, 'EVENT:/o|T']);
    r.send(XS_TYPE.WRITE, xsJoinStrings(['/o/k']));
    expect(r.take()).toEqual(['EVENT:/o/k|T', `${XS_TYPE.WRITE}:OK`]);
    expect(r.out).toEqual([]);
  });

  it('@introduceDomain and @releaseDomain fire for dom0; for others only if the special perms allow', async () => {
    const calls: string[] = [];
    const s = setup({ onIntroduce: (d, m, p) => calls.push(`intro ${d} ${m} ${p}`), onRelease: (d) => calls.push(`release ${d}`) });
    const intro = await recordWatch(s.dom0, '@introduceDomain');
    const rel = await recordWatch(s.dom0, '@releaseDomain');
    const guestRel = await recordWatch(s.guest(9), '@releaseDomain');
    const root = await recordWatch(new XsClient(s.d), '/');
    await s.dom0.introduce(3, 0x1234, 7);
    await s.dom0.release(3);
    await tick();
    expect(calls).toEqual(['intro 3 4660 7', 'release 3']);
    expect(intro).toEqual(['@introduceDomain', '@introduceDomain']);
    expect(rel).toEqual(['@releaseDomain', '@releaseDomain']);
    expect(guestRel).toEqual(['@releaseDomain']);
    expect(root).toEqual(['/']);
    expect(await code(s.guest(9).setPerms('@releaseDomain', ['n0', 'r9']))).toBe('EACCES');
    await s.dom0.setPerms('@releaseDomain', ['n0', 'r9']);
    expect(await s.dom0.getPerms('@releaseDomain')).toEqual(['n0', 'r9']);
    await s.dom0.introduce(3, 1, 7);
    s.d.domainShutdown(3);
    s.d.domainShutdown(3); // reported once
    await tick();
    expect(guestRel).toEqual(['@releaseDomain', '@releaseDomain']);
  });
});

describe('xenstore DIRECTORY_PART', () => {
  it('returns the generation and the child list in parts that reassemble; the generation moves on change', async () => {
    const { dom0 } = setup();
    const names = Array.from({ length: 400 }, (_, i) => `child-${String(i).padStart(5, '0')}`);
    for (const n of names) await dom0.mkdir(`/dp/${n}`);
    const part = async (off: number) => {
      const s = xsStrings(await dom0.request(XS_TYPE.DIRECTORY_PART, xsJoinStrings(['/dp', String(off)])));
      return { gen: s[0], names: s.slice(1) };
    };
    const got: string[] = [];
    let off = 0;
    let gen: string | undefined;
    for (let i = 0; i < 20; i++) {
      const p = await part(off);
      gen ??= p.gen;
      expect(p.gen).toBe(gen);
      const done = p.names[p.names.length - 1] === '';
      const chunk = done ? p.names.slice(0, -1) : p.names;
      got.push(...chunk);
      off += chunk.reduce((n, c) => n + c.length + 1, 0);
      if (done) break;
    }
    expect(got).toEqual(names);
    expect(await part(1_000_000)).toEqual({ gen, names: [''] });
    await dom0.mkdir('/dp/one-more');
    expect((await part(0)).gen).not.toBe(gen);
    expect(await code(dom0.request(XS_TYPE.DIRECTORY_PART, xsJoinStrings(['/dp'])))).toBe('EINVAL');
  });

  it('never builds a reply over XENSTORE_PAYLOAD_MAX', () => {
    const children = Array.from({ length: 2000 }, (_, i) => `n${i}`);
    for (const off of [0, 1, 100, 4000, 9000]) expect(directoryPart(123456789, children, off).length).toBeLessThanOrEqual(XENSTORE_PAYLOAD_MAX);
  });
});

describe('xenstore domain management and dispatch', () => {
  it('GET_DOMAIN_PATH, INTRODUCE, IS_DOMAIN_INTRODUCED, RESUME, RELEASE', async () => {
    const { dom0 } = setup();
    expect(await dom0.getDomainPath(5)).toBe('/local/domain/5');
    expect(await dom0.isDomainIntroduced(5)).toBe(false);
    await dom0.introduce(5, 77, 3);
    expect(await dom0.isDomainIntroduced(5)).toBe(true);
    expect(await dom0.isDomainIntroduced(0x7ff0)).toBe(true); // DOMID_SELF
    expect(await code(dom0.resume(5))).toBe('OK');
    expect(await code(dom0.introduce(6, 1, 0))).toBe('EINVAL'); // port must be > 0
    await dom0.release(5);
    expect(await dom0.isDomainIntroduced(5)).toBe(false);
    expect(await code(dom0.release(5))).toBe('ENOENT');
    expect(await code(dom0.release(0))).toBe('EINVAL');
  });

  it('only dom0 may introduce, release, resume, set targets or ask who is introduced', async () => {
    const { dom0, guest } = setup();
    await dom0.introduce(2, 1, 1);
    const g = guest(2);
    expect(await code(g.introduce(3, 1, 1))).toBe('EACCES');
    expect(await code(g.release(2))).toBe('EACCES');
    expect(await code(g.resume(2))).toBe('EACCES');
    expect(await code(g.setTarget(2, 2))).toBe('EACCES');
    expect(await code(g.isDomainIntroduced(2))).toBe('EACCES');
    expect(await code(g.request(XS_TYPE.CONTROL, xsJoinStrings(['help'])))).toBe('EACCES');
    expect(await g.getDomainPath(2)).toBe('/local/domain/2');
  });

  it('unknown types are ENOSYS; malformed arguments EINVAL; the connection carries on', async () => {
    const { dom0 } = setup();
    for (const t of [XS_TYPE.WATCH_EVENT, XS_TYPE.ERROR, 20, 23, 0xffff, 0xffffffff]) {
      expect(await code(dom0.request(t, xsJoinStrings(['x']))), String(t)).toBe('ENOSYS');
    }
    expect(await code(dom0.request(XS_TYPE.READ, latin1ToBytes('/a\0/b\0')))).toBe('EINVAL');
    expect(await code(dom0.request(XS_TYPE.READ, latin1ToBytes('/no-nul')))).toBe('EINVAL');
    expect(await code(dom0.request(XS_TYPE.WRITE, latin1ToBytes('/no-nul')))).toBe('EINVAL');
    expect(await code(dom0.request(XS_TYPE.WATCH, xsJoinStrings(['/only-path'])))).toBe('EINVAL');
    expect(bytesToLatin1(await dom0.request(XS_TYPE.CONTROL, xsJoinStrings(['help'])))).toContain('help');
    expect(await dom0.read('/tool/xenstored')).toBe('');
  });

  it('a client that never reads is disconnected at the output limit instead of growing without bound', async () => {
    const d = new Xenstored({ maxOutputBytes: 4096 });
    const dom0 = new XsClient(d);
    let closedWith = '';
    const lazy = d.connect({ domid: 0, transport: { outputReady() {}, closed: (_c, why) => (closedWith = why) } });
    lazy.receive({ type: XS_TYPE.WATCH, reqId: 1, txId: 0, payload: xsJoinStrings(['/flood', 't']) });
    for (let i = 0; i < 200 && !lazy.closed; i++) await dom0.write('/flood', String(i));
    expect(lazy.closed).toBe(true);
    expect(closedWith).toMatch(/not reading/);
    expect(d.connections).not.toContain(lazy);
  });
});

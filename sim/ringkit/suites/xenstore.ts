// The XenStore ring conformance suite (xen/io/xs_wire.h, docs/misc/xenstore.txt and
// xenstore-ring.txt) for a XenStore server's end of a domain's ring: every xsd_sockmsg
// type a guest may send (and those it may not), req_id/tx_id echoed, watches,
// transactions and their conflicts, the path and payload limits, messages across the ring
// wrap and split over several notifications, and hostile indices and headers. The client
// is the guest's end, written here on the raw page; the server is anything with `attach`.

import {
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_CONNECTED,
  XENSTORE_DOMAIN_INTERFACE as XDI,
  XENSTORE_ERROR_NONE,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_RECONNECT,
  XENSTORE_RING_SIZE,
  XENSTORE_SERVER_FEATURE_RECONNECTION,
  XSD_SOCKMSG,
  XS_TYPE,
} from '../../../protocol/xen/xs_wire.ts';
import { expectThat, runConformance, turns, type ConformanceCase, type ConformanceResult } from './common.ts';

/** The guest the suite plays: its domid and home. */
export const XS_GUEST = 1;
const HOME = `/local/domain/${XS_GUEST}`;

/** A XenStore server for one guest ring. */
export interface XenstoreSubject {
  /** Serves the ring on `page` for domain XS_GUEST, whose home exists and is its own. */
  attach(page: Uint8Array, notify: () => void): { kick(): void | Promise<void>; close?(): void };
}

interface Msg {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}
// XenStore values are bytes: strings here are Latin-1, one char a byte.
const enc = { encode: (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0) & 0xff) };
const dec = { decode: (b: Uint8Array) => String.fromCharCode(...b) };
const z = (...parts: string[]) => enc.encode(parts.map((p) => `${p}\0`).join(''));

/** The guest's end of the ring, on the raw page. */
export class XsRingClient {
  readonly dv: DataView;
  notified = 0;
  private buf = new Uint8Array(0);
  private nextReq = 1;
  server!: { kick(): void | Promise<void>; close?(): void };
  constructor(readonly page: Uint8Array) {
    this.dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  }
  u32(off: number): number {
    return this.dv.getUint32(off, true);
  }
  set(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }
  /** Writes raw bytes into req[] (at most the free space), publishes and optionally kicks. */
  async raw(bytes: Uint8Array, kick = true): Promise<void> {
    // A message larger than the free space goes in pieces as the server consumes (replies
    // that arrive meanwhile are kept for drain()).
    for (let off = 0, stuck = 0; off < bytes.length; ) {
      const prod = this.u32(XDI.req_prod);
      const free = XENSTORE_RING_SIZE - ((prod - this.u32(XDI.req_cons)) >>> 0);
      const n = Math.min(free, bytes.length - off);
      expectThat(n > 0 || stuck++ < 3, `the server stopped consuming at byte ${off} of ${bytes.length}`);
      for (let i = 0; i < n; i++) this.page[XDI.req + ((prod + i) & (XENSTORE_RING_SIZE - 1))] = bytes[off + i]!;
      this.set(XDI.req_prod, prod + n);
      off += n;
      if (kick || off < bytes.length) await this.kick();
    }
  }
  async kick(): Promise<void> {
    await this.server.kick();
    await turns(2);
  }
  frame(type: number, payload: Uint8Array, txId = 0, reqId = this.nextReq++, len = payload.length): Uint8Array {
    const f = new Uint8Array(XSD_SOCKMSG.SIZE + payload.length);
    const dv = new DataView(f.buffer);
    dv.setUint32(XSD_SOCKMSG.type, type, true);
    dv.setUint32(XSD_SOCKMSG.req_id, reqId, true);
    dv.setUint32(XSD_SOCKMSG.tx_id, txId, true);
    dv.setUint32(XSD_SOCKMSG.len, len, true);
    f.set(payload, XSD_SOCKMSG.SIZE);
    return f;
  }
  /** Takes everything in rsp[] and returns the complete messages. */
  drain(): Msg[] {
    const cons = this.u32(XDI.rsp_cons);
    const prod = this.u32(XDI.rsp_prod);
    const n = (prod - cons) >>> 0;
    expectThat(n <= XENSTORE_RING_SIZE, `rsp_prod ${prod} is ${n} bytes past rsp_cons ${cons}: more than the ring`);
    const got = new Uint8Array(n);
    for (let i = 0; i < n; i++) got[i] = this.page[XDI.rsp + ((cons + i) & (XENSTORE_RING_SIZE - 1))]!;
    this.set(XDI.rsp_cons, prod);
    const all = new Uint8Array(this.buf.length + n);
    all.set(this.buf);
    all.set(got, this.buf.length);
    const out: Msg[] = [];
    let off = 0;
    while (all.length - off >= XSD_SOCKMSG.SIZE) {
      const dv = new DataView(all.buffer, off);
      const len = dv.getUint32(XSD_SOCKMSG.len, true);
      expectThat(len <= XENSTORE_PAYLOAD_MAX, `a reply announces ${len} bytes, past XENSTORE_PAYLOAD_MAX`);
      if (all.length - off < XSD_SOCKMSG.SIZE + len) break;
      out.push({ type: dv.getUint32(XSD_SOCKMSG.type, true), reqId: dv.getUint32(XSD_SOCKMSG.req_id, true), txId: dv.getUint32(XSD_SOCKMSG.tx_id, true), payload: all.slice(off + XSD_SOCKMSG.SIZE, off + XSD_SOCKMSG.SIZE + len) });
      off += XSD_SOCKMSG.SIZE + len;
    }
    this.buf = all.slice(off);
    return out;
  }
  /** Sends one request and returns its reply (watch events that came first are kept in `events`). */
  readonly events: Msg[] = [];
  /** Replies that came after the one asked for (none, from a server that answers in order). */
  readonly later: Msg[] = [];
  async ask(type: number, payload: Uint8Array, txId = 0): Promise<Msg & { text: string }> {
    const reqId = this.nextReq++;
    await this.raw(this.frame(type, payload, txId, reqId));
    for (let i = 0; i < 20; i++) {
      const got = this.drain();
      for (let j = 0; j < got.length; j++) {
        const m = got[j]!;
        if (m.type === XS_TYPE.WATCH_EVENT) this.events.push(m);
        else {
          expectThat(m.reqId === reqId, `reply req_id ${m.reqId}, sent ${reqId}`);
          // What came after the reply (a watch's first event) is kept for the case.
          for (const rest of got.slice(j + 1)) (rest.type === XS_TYPE.WATCH_EVENT ? this.events : this.later).push(rest);
          return { ...m, text: dec.decode(m.payload) };
        }
      }
      await this.kick();
    }
    throw new Error(`no reply to type ${type}`);
  }
  get error(): number {
    return this.u32(XDI.error);
  }
}

const isErr = (m: { type: number; text: string }, name?: string) => m.type === XS_TYPE.ERROR && (name === undefined || m.text === `${name}\0`);
const must = (m: { type: number; text: string }, type: number, what: string) => expectThat(m.type === type, `${what}: reply type ${m.type} ${JSON.stringify(m.text)}, want ${type}`);
const mustErr = (m: { type: number; text: string }, names: string[], what: string) =>
  expectThat(m.type === XS_TYPE.ERROR && names.some((n) => m.text === `${n}\0`), `${what}: reply type ${m.type} ${JSON.stringify(m.text)}, want an error ${names.join('/')}`);

export const XENSTORE_CASES: readonly ConformanceCase<XsRingClient>[] = [
  {
    name: 'xenstore: WRITE then READ returns the bytes, READ of a missing node is ENOENT',
    run: async (c) => {
      must(await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/data/a\0v\u00ffal`)), XS_TYPE.WRITE, 'WRITE');
      const r = await c.ask(XS_TYPE.READ, z(`${HOME}/data/a`));
      must(r, XS_TYPE.READ, 'READ');
      expectThat(r.text === 'v\u00ffal', `READ gave ${JSON.stringify(r.text)}`);
      mustErr(await c.ask(XS_TYPE.READ, z(`${HOME}/nothing`)), ['ENOENT'], 'READ of a missing node');
    },
  },
  {
    name: 'xenstore: a relative path is under the domain home',
    run: async (c) => {
      must(await c.ask(XS_TYPE.WRITE, enc.encode('rel/x\0y')), XS_TYPE.WRITE, 'WRITE rel/x');
      const r = await c.ask(XS_TYPE.READ, z(`${HOME}/rel/x`));
      expectThat(r.type === XS_TYPE.READ && r.text === 'y', `READ ${HOME}/rel/x gave ${JSON.stringify(r.text)}`);
    },
  },
  {
    name: 'xenstore: MKDIR, DIRECTORY, RM',
    run: async (c) => {
      must(await c.ask(XS_TYPE.MKDIR, z(`${HOME}/d/one`)), XS_TYPE.MKDIR, 'MKDIR');
      must(await c.ask(XS_TYPE.MKDIR, z(`${HOME}/d/two`)), XS_TYPE.MKDIR, 'MKDIR');
      const l = await c.ask(XS_TYPE.DIRECTORY, z(`${HOME}/d`));
      expectThat(l.type === XS_TYPE.DIRECTORY && l.text.split('\0').filter(Boolean).sort().join(',') === 'one,two', `DIRECTORY gave ${JSON.stringify(l.text)}`);
      must(await c.ask(XS_TYPE.RM, z(`${HOME}/d`)), XS_TYPE.RM, 'RM');
      mustErr(await c.ask(XS_TYPE.DIRECTORY, z(`${HOME}/d`)), ['ENOENT'], 'DIRECTORY after RM');
    },
  },
  {
    name: 'xenstore: DIRECTORY_PART gives a generation and the children',
    run: async (c) => {
      for (const k of ['p', 'q', 'r']) await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/dp/${k}\0`));
      const r = await c.ask(XS_TYPE.DIRECTORY_PART, z(`${HOME}/dp`, '0'));
      if (isErr(r, 'EINVAL') || isErr(r, 'ENOSYS')) return; // optional in xenstore.txt
      must(r, XS_TYPE.DIRECTORY_PART, 'DIRECTORY_PART');
      const parts = r.text.split('\0');
      expectThat(/^\d+$/.test(parts[0] ?? ''), `no generation first: ${JSON.stringify(r.text)}`);
      expectThat(parts.slice(1).filter(Boolean).sort().join(',') === 'p,q,r', `children ${JSON.stringify(parts.slice(1))}`);
    },
  },
  {
    name: 'xenstore: GET_DOMAIN_PATH; IS_DOMAIN_INTRODUCED is privileged (EACCES)',
    run: async (c) => {
      const p = await c.ask(XS_TYPE.GET_DOMAIN_PATH, z(String(XS_GUEST)));
      expectThat(p.type === XS_TYPE.GET_DOMAIN_PATH && p.text.replace(/\0$/, '') === HOME, `GET_DOMAIN_PATH gave ${JSON.stringify(p.text)}`);
      // Privileged since XSA-115: a guest asking is refused.
      mustErr(await c.ask(XS_TYPE.IS_DOMAIN_INTRODUCED, z(String(XS_GUEST))), ['EACCES', 'EPERM'], 'IS_DOMAIN_INTRODUCED from a guest');
    },
  },
  {
    name: 'xenstore: GET_PERMS and SET_PERMS on its own node; EACCES elsewhere',
    run: async (c) => {
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/perm\0x`));
      must(await c.ask(XS_TYPE.SET_PERMS, z(`${HOME}/perm`, `n${XS_GUEST}`, 'r0')), XS_TYPE.SET_PERMS, 'SET_PERMS');
      const g = await c.ask(XS_TYPE.GET_PERMS, z(`${HOME}/perm`));
      expectThat(g.type === XS_TYPE.GET_PERMS && g.text.split('\0').filter(Boolean).join(' ') === `n${XS_GUEST} r0`, `GET_PERMS gave ${JSON.stringify(g.text)}`);
      mustErr(await c.ask(XS_TYPE.WRITE, enc.encode('/local/domain/0/x\0evil')), ['EACCES'], "WRITE into dom0's home");
    },
  },
  {
    name: 'xenstore: WATCH fires at once and on a change, UNWATCH stops it',
    run: async (c) => {
      must(await c.ask(XS_TYPE.WATCH, z(`${HOME}/w`, 'tok')), XS_TYPE.WATCH, 'WATCH');
      await c.kick();
      c.drain().forEach((m) => m.type === XS_TYPE.WATCH_EVENT && c.events.push(m));
      expectThat(c.events.some((e) => dec.decode(e.payload) === `${HOME}/w\0tok\0`), 'no initial watch event');
      c.events.length = 0;
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/w/sub\0v`));
      await c.kick();
      c.drain().forEach((m) => m.type === XS_TYPE.WATCH_EVENT && c.events.push(m));
      expectThat(c.events.some((e) => dec.decode(e.payload) === `${HOME}/w/sub\0tok\0`), `no event for the write under the watch: ${JSON.stringify(c.events.map((e) => dec.decode(e.payload)))}`);
      must(await c.ask(XS_TYPE.UNWATCH, z(`${HOME}/w`, 'tok')), XS_TYPE.UNWATCH, 'UNWATCH');
      c.events.length = 0;
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/w/sub\0v2`));
      await c.kick();
      expectThat(c.events.length === 0 && c.drain().length === 0, 'an event after UNWATCH');
    },
  },
  {
    name: 'xenstore: RESET_WATCHES drops every watch',
    run: async (c) => {
      await c.ask(XS_TYPE.WATCH, z(`${HOME}/rw`, 't1'));
      must(await c.ask(XS_TYPE.RESET_WATCHES, z()), XS_TYPE.RESET_WATCHES, 'RESET_WATCHES');
      await c.kick();
      c.drain();
      c.events.length = 0;
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/rw\0v`));
      await c.kick();
      expectThat(c.events.length === 0 && c.drain().length === 0, 'an event after RESET_WATCHES');
    },
  },
  {
    name: 'xenstore: a WATCH twice with one token is EEXIST; UNWATCH of none is ENOENT',
    hostile: true,
    run: async (c) => {
      await c.ask(XS_TYPE.WATCH, z(`${HOME}/ww`, 't'));
      mustErr(await c.ask(XS_TYPE.WATCH, z(`${HOME}/ww`, 't')), ['EEXIST'], 'the same watch again');
      mustErr(await c.ask(XS_TYPE.UNWATCH, z(`${HOME}/none`, 'zz')), ['ENOENT'], 'UNWATCH of no watch');
    },
  },
  {
    name: 'xenstore: a transaction is invisible until TRANSACTION_END T; F discards it',
    run: async (c) => {
      const t = await c.ask(XS_TYPE.TRANSACTION_START, z(''));
      must(t, XS_TYPE.TRANSACTION_START, 'TRANSACTION_START');
      const tx = Number(t.text.replace(/\0$/, ''));
      expectThat(Number.isInteger(tx) && tx > 0, `transaction id ${JSON.stringify(t.text)}`);
      const w = await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/tx\0in`), tx);
      expectThat(w.txId === tx, `reply tx_id ${w.txId}, sent ${tx}`);
      mustErr(await c.ask(XS_TYPE.READ, z(`${HOME}/tx`)), ['ENOENT'], 'READ outside the transaction');
      must(await c.ask(XS_TYPE.TRANSACTION_END, z('T'), tx), XS_TYPE.TRANSACTION_END, 'TRANSACTION_END T');
      expectThat((await c.ask(XS_TYPE.READ, z(`${HOME}/tx`))).text === 'in', 'committed value not seen');
      const t2 = Number((await c.ask(XS_TYPE.TRANSACTION_START, z(''))).text.replace(/\0$/, ''));
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/tx\0gone`), t2);
      must(await c.ask(XS_TYPE.TRANSACTION_END, z('F'), t2), XS_TYPE.TRANSACTION_END, 'TRANSACTION_END F');
      expectThat((await c.ask(XS_TYPE.READ, z(`${HOME}/tx`))).text === 'in', 'an aborted transaction changed the store');
    },
  },
  {
    name: 'xenstore: conflicting transactions: the second to end gets EAGAIN',
    run: async (c) => {
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/cf\x000`));
      const a = Number((await c.ask(XS_TYPE.TRANSACTION_START, z(''))).text.replace(/\0$/, ''));
      const b = Number((await c.ask(XS_TYPE.TRANSACTION_START, z(''))).text.replace(/\0$/, ''));
      await c.ask(XS_TYPE.READ, z(`${HOME}/cf`), a);
      await c.ask(XS_TYPE.READ, z(`${HOME}/cf`), b);
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/cf\0a`), a);
      await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/cf\0b`), b);
      must(await c.ask(XS_TYPE.TRANSACTION_END, z('T'), a), XS_TYPE.TRANSACTION_END, 'first END');
      mustErr(await c.ask(XS_TYPE.TRANSACTION_END, z('T'), b), ['EAGAIN'], 'second END');
      expectThat((await c.ask(XS_TYPE.READ, z(`${HOME}/cf`))).text === 'a', 'the conflicting transaction was committed');
    },
  },
  {
    name: 'xenstore: a request naming an unknown transaction is ENOENT',
    hostile: true,
    run: async (c) => {
      mustErr(await c.ask(XS_TYPE.READ, z(`${HOME}`), 0x7777), ['ENOENT', 'EINVAL'], 'READ in transaction 0x7777');
      mustErr(await c.ask(XS_TYPE.TRANSACTION_END, z('T'), 0x7777), ['ENOENT', 'EINVAL'], 'END of transaction 0x7777');
    },
  },
  {
    name: 'xenstore: a guest may not INTRODUCE, RELEASE, SET_TARGET, RESUME another domain, nor CONTROL',
    hostile: true,
    run: async (c) => {
      mustErr(await c.ask(XS_TYPE.INTRODUCE, z('5', '1234', '3')), ['EACCES', 'EPERM'], 'INTRODUCE');
      mustErr(await c.ask(XS_TYPE.RELEASE, z('0')), ['EACCES', 'EPERM'], 'RELEASE');
      mustErr(await c.ask(XS_TYPE.SET_TARGET, z('5', String(XS_GUEST))), ['EACCES', 'EPERM'], 'SET_TARGET');
      mustErr(await c.ask(XS_TYPE.RESUME, z('5')), ['EACCES', 'EPERM'], 'RESUME');
      mustErr(await c.ask(XS_TYPE.CONTROL, z('log', 'on')), ['EACCES', 'EPERM'], 'CONTROL');
    },
  },
  {
    name: 'xenstore: unknown types, WATCH_EVENT and ERROR from a guest are EINVAL; the ring goes on',
    hostile: true,
    run: async (c) => {
      for (const t of [XS_TYPE.WATCH_EVENT, XS_TYPE.ERROR, 20, 23, 99, 0xffff]) {
        const r = await c.ask(t, z(HOME));
        expectThat(r.type === XS_TYPE.ERROR, `type ${t}: reply type ${r.type}, not XS_ERROR`);
      }
      must(await c.ask(XS_TYPE.READ, z(`${HOME}`)), XS_TYPE.READ, 'READ after them');
    },
  },
  {
    name: 'xenstore: a path longer than XENSTORE_ABS_PATH_MAX is EINVAL',
    hostile: true,
    run: async (c) => {
      const long = `${HOME}/${'a'.repeat(XENSTORE_ABS_PATH_MAX)}`;
      mustErr(await c.ask(XS_TYPE.WRITE, enc.encode(`${long}\0v`)), ['EINVAL', 'E2BIG', 'ENAMETOOLONG'], 'WRITE of a too-long path');
    },
  },
  {
    name: 'xenstore: a path without its NUL, or with bad characters, is EINVAL',
    hostile: true,
    run: async (c) => {
      mustErr(await c.ask(XS_TYPE.READ, enc.encode(`${HOME}`)), ['EINVAL'], 'READ of a path without NUL');
      mustErr(await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/a b*\0v`)), ['EINVAL'], 'WRITE of a path with a space');
    },
  },
  {
    name: 'xenstore: a message of XENSTORE_PAYLOAD_MAX bytes is answered (written or refused by quota), across several notifications',
    run: async (c) => {
      const path = `${HOME}/big\0`;
      const value = 'v'.repeat(XENSTORE_PAYLOAD_MAX - path.length);
      const r = await c.ask(XS_TYPE.WRITE, enc.encode(path + value));
      expectThat(r.type === XS_TYPE.WRITE || isErr(r, 'ENOSPC') || isErr(r, 'E2BIG'), `reply ${r.type} ${JSON.stringify(r.text)}`);
      if (r.type === XS_TYPE.WRITE) {
        const back = await c.ask(XS_TYPE.READ, z(`${HOME}/big`));
        expectThat(back.payload.length === value.length, `READ back ${back.payload.length} bytes of ${value.length}`);
      }
      must(await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/after\0ok`)), XS_TYPE.WRITE, 'WRITE after it');
    },
  },
  {
    name: 'xenstore: a header split from its payload is answered once complete',
    run: async (c) => {
      const f = c.frame(XS_TYPE.WRITE, enc.encode(`${HOME}/split\0yes`));
      await c.raw(f.subarray(0, 7));
      expectThat(c.drain().length === 0, 'a reply to half a header');
      await c.raw(f.subarray(7, 20));
      expectThat(c.drain().length === 0, 'a reply to half a message');
      await c.raw(f.subarray(20));
      const got = c.drain();
      expectThat(got.length === 1 && got[0]!.type === XS_TYPE.WRITE, `reply ${JSON.stringify(got.map((m) => m.type))}`);
    },
  },
  {
    name: 'xenstore: messages across the 2^32 index wrap',
    run: async (c) => {
      for (let i = 0; i < 40; i++) must(await c.ask(XS_TYPE.WRITE, enc.encode(`${HOME}/wrap\0${i}`)), XS_TYPE.WRITE, `WRITE ${i}`);
      expectThat((await c.ask(XS_TYPE.READ, z(`${HOME}/wrap`))).text === '39', 'wrong value after the wrap');
      expectThat(c.u32(XDI.req_prod) < 0x1000, `req_prod ${c.u32(XDI.req_prod)}: the bench did not cross 2^32`);
    },
  },
  {
    name: 'xenstore: a guest that does not read replies: rsp[] is never overrun, served when it reads',
    run: async (c) => {
      const f = c.frame(XS_TYPE.READ, z(`${HOME}`));
      for (let i = 0; i < 60; i++) {
        const free = XENSTORE_RING_SIZE - ((c.u32(XDI.req_prod) - c.u32(XDI.req_cons)) >>> 0);
        if (free < f.length) break;
        await c.raw(c.frame(XS_TYPE.WRITE, enc.encode(`${HOME}/nr${i}\0${'x'.repeat(40)}`)));
      }
      const n = (c.u32(XDI.rsp_prod) - c.u32(XDI.rsp_cons)) >>> 0;
      expectThat(n <= XENSTORE_RING_SIZE, `rsp[] holds ${n} bytes`);
      let replies = 0;
      for (let i = 0; i < 30; i++) {
        replies += c.drain().length;
        await c.kick();
      }
      expectThat(replies > 0, 'no replies once the guest read');
      must(await c.ask(XS_TYPE.READ, z(`${HOME}`)), XS_TYPE.READ, 'READ after');
    },
  },
  {
    name: 'xenstore: a header announcing more than XENSTORE_PAYLOAD_MAX stops the ring (XENSTORE_ERROR_PROTO)',
    hostile: true,
    run: async (c) => {
      await c.raw(c.frame(XS_TYPE.WRITE, new Uint8Array(0), 0, 9, XENSTORE_PAYLOAD_MAX + 1));
      await c.kick();
      const got = c.drain();
      expectThat(c.error !== XENSTORE_ERROR_NONE || got.some((m) => m.type === XS_TYPE.ERROR), 'a 4097-byte payload announced and nothing said');
    },
  },
  {
    name: 'xenstore: req_prod more than a ring past req_cons stops the ring (XENSTORE_ERROR_RINGIDX)',
    hostile: true,
    run: async (c) => {
      c.set(XDI.req_prod, c.u32(XDI.req_cons) + XENSTORE_RING_SIZE + 5);
      await c.kick();
      expectThat(c.error !== XENSTORE_ERROR_NONE, 'an impossible req_prod and no error set');
      expectThat(((c.u32(XDI.rsp_prod) - c.u32(XDI.rsp_cons)) >>> 0) <= XENSTORE_RING_SIZE, 'rsp[] overrun');
    },
  },
  {
    name: 'xenstore: XENSTORE_RECONNECT empties the ring and clears the error',
    hostile: true,
    run: async (c) => {
      if (!(c.u32(XDI.server_features) & XENSTORE_SERVER_FEATURE_RECONNECTION)) return; // not offered: nothing to test
      c.set(XDI.req_prod, c.u32(XDI.req_cons) + XENSTORE_RING_SIZE + 5);
      await c.kick();
      c.set(XDI.connection, XENSTORE_RECONNECT);
      await c.kick();
      expectThat(c.u32(XDI.connection) === XENSTORE_CONNECTED, `connection ${c.u32(XDI.connection)} after the reconnect`);
      expectThat(c.error === XENSTORE_ERROR_NONE, `error ${c.error} after the reconnect`);
      must(await c.ask(XS_TYPE.READ, z(HOME)), XS_TYPE.READ, 'READ after the reconnect');
    },
  },
  {
    name: 'xenstore: garbage req_id/tx_id bits are echoed, not interpreted',
    run: async (c) => {
      const f = c.frame(XS_TYPE.READ, z(HOME), 0, 0xdead_beef);
      await c.raw(f);
      const got = c.drain();
      expectThat(got.length === 1 && got[0]!.reqId === 0xdead_beef, `reply req_id ${got[0]?.reqId}`);
    },
  },
];

/** Runs the suite: each case on a fresh ring whose indices start 512 bytes short of 2^32. */
export async function xenstoreConformance(s: XenstoreSubject, only?: string): Promise<ConformanceResult[]> {
  return runConformance(
    XENSTORE_CASES,
    async () => {
      const page = new Uint8Array(4096);
      const c = new XsRingClient(page);
      const start = 0x1_0000_0000 - 512;
      for (const k of [XDI.req_cons, XDI.req_prod, XDI.rsp_cons, XDI.rsp_prod]) c.set(k, start);
      c.server = s.attach(page, () => void c.notified++);
      let gave: string | null = null;
      return {
        ctx: c,
        gaveUp: () => gave ?? (c.error !== XENSTORE_ERROR_NONE ? `ring error ${c.error}` : null),
        close: async () => {
          gave = null;
          c.server.close?.();
          return null;
        },
      };
    },
    only,
  );
}

/** pvsim's own xenstored as the subject: a fresh daemon, domain XS_GUEST introduced with its home. */
export async function pvsimXenstored(): Promise<XenstoreSubject> {
  const { Xenstored, attachRing, openXsHandle } = await import('../../../dom0/xenstore/index.ts');
  return {
    attach(page, notify) {
      const daemon = new Xenstored();
      daemon.introduceDomain(XS_GUEST, 0x1000, 3);
      const dom0 = openXsHandle(daemon);
      dom0.mkdir(HOME);
      dom0.setPerms(HOME, [`n${XS_GUEST}`]);
      const ring = attachRing(daemon, XS_GUEST, page, notify);
      return { kick: () => ring.kick(), close: () => ring.detach() };
    },
  };
}

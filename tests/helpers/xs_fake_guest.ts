// A guest's xenstore frontend played over a plain page (the xenstore_domain_interface
// layout), written the way a frontend writes it: data, then the producer index, then a
// notification. Used against the real RingTransport.

import { expect } from 'vitest';
import {
  encodeXsMessage,
  maskXenstoreIdx,
  ringDistance,
  XENSTORE_DOMAIN_INTERFACE as XDI,
  XENSTORE_RING_SIZE,
  XS_TYPE,
  XsFrameDecoder,
  xsJoinStrings,
  xsStrings,
  latin1ToBytes,
  bytesToLatin1,
  type XsMessage,
} from '../../protocol/xen/xs_wire.ts';
import { ByteMemory } from '../../protocol/guest_memory.ts';
import { attachRing, type RingTransport, type Xenstored } from '../../dom0/xenstore/index.ts';

const PAGE = 4096;

/** A guest's xenstore frontend over a plain page. */
export class FakeGuest {
  readonly page = new Uint8Array(PAGE);
  readonly dv = new DataView(this.page.buffer);
  readonly replies: XsMessage[] = [];
  readonly events: [string, string][] = [];
  notifications = 0;
  readonly writes: [number, number][] = [];
  transport!: RingTransport;
  private readonly decoder = new XsFrameDecoder();
  private reqId = 1;

  constructor(start = { req: 0, rsp: 0 }) {
    this.set(XDI.req_cons, start.req);
    this.set(XDI.req_prod, start.req);
    this.set(XDI.rsp_cons, start.rsp);
    this.set(XDI.rsp_prod, start.rsp);
  }

  attach(d: Xenstored, domid: number): this {
    this.transport = attachRing(d, domid, new ByteMemory(this.page, (o, l) => this.writes.push([o, l])), () => this.notifications++);
    return this;
  }

  u32(off: number): number {
    return this.dv.getUint32(off, true);
  }

  set(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }

  /** Writes as many of `bytes` as fit in req[]; returns how many. */
  produce(bytes: Uint8Array): number {
    const cons = this.u32(XDI.req_cons);
    let prod = this.u32(XDI.req_prod);
    const space = XENSTORE_RING_SIZE - ringDistance(prod, cons);
    const n = Math.min(space, bytes.length);
    for (let i = 0; i < n; i++) {
      this.page[XDI.req + maskXenstoreIdx(prod)] = bytes[i];
      prod = (prod + 1) >>> 0;
    }
    this.set(XDI.req_prod, prod);
    return n;
  }

  /** Reads what the daemon produced in rsp[]. */
  consume(): void {
    let cons = this.u32(XDI.rsp_cons);
    const prod = this.u32(XDI.rsp_prod);
    const n = ringDistance(prod, cons);
    expect(n).toBeLessThanOrEqual(XENSTORE_RING_SIZE);
    const bytes = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      bytes[i] = this.page[XDI.rsp + maskXenstoreIdx(cons)];
      cons = (cons + 1) >>> 0;
    }
    this.set(XDI.rsp_cons, cons);
    for (const m of this.decoder.push(bytes)) {
      if (m.type === XS_TYPE.WATCH_EVENT) {
        const [p, t] = xsStrings(m.payload);
        this.events.push([p, t]);
      } else {
        this.replies.push(m);
      }
    }
  }

  /** Sends a whole frame, kicking and reading replies whenever the ring is full. */
  sendFrame(frame: Uint8Array): void {
    let off = 0;
    for (let guard = 0; off < frame.length; guard++) {
      expect(guard).toBeLessThan(1000);
      off += this.produce(frame.subarray(off));
      this.transport.kick();
      this.consume();
    }
  }

  /** One request; returns its reply (as "TYPE:strings" or "ERROR:NAME"). */
  call(type: number, payload: Uint8Array | string[], txId = 0): string {
    const reqId = this.reqId++;
    const body = payload instanceof Uint8Array ? payload : xsJoinStrings(payload);
    this.sendFrame(encodeXsMessage({ type, reqId, txId, payload: body }));
    for (let guard = 0; guard < 100; guard++) {
      const i = this.replies.findIndex((m) => m.reqId === reqId);
      if (i >= 0) {
        const [m] = this.replies.splice(i, 1);
        const text = bytesToLatin1(m.payload).replace(/\0$/, '').split('\0').join('|');
        return `${m.type === XS_TYPE.ERROR ? 'ERROR' : m.type}:${text}`;
      }
      this.transport.kick();
      this.consume();
    }
    throw new Error(`no reply to request ${reqId}`);
  }

  write(path: string, value: string): string {
    return this.call(XS_TYPE.WRITE, new Uint8Array([...latin1ToBytes(`${path}\0`), ...latin1ToBytes(value)]));
  }

  read(path: string): string {
    return this.call(XS_TYPE.READ, [path]);
  }
}


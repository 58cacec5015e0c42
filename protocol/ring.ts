// Xen's shared I/O rings (xen/io/ring.h semantics), both ends, over a shared page. One
// definition for every ring pvsim serves (blkif, netif tx/rx); guests implement the same
// protocol in C (guests/include/pvsim/ring.h when the split drivers arrive).
//
//   page:  req_prod | req_event | rsp_prod | rsp_event | 48 bytes padding | entries...
//
// Indices are free-running unsigned 32-bit counters; slot = index & (size - 1). Each field
// has one writer: the frontend writes req_prod and rsp_event, the backend rsp_prod and
// req_event. The *_event fields say "notify me when the other side's producer passes this",
// which is how neither side misses a wake-up without notifying on every entry.

import { ByteMemory, type GuestMemory } from './guest_memory.ts';

/**
 * struct X_sring { RING_IDX req_prod, req_event, rsp_prod, rsp_event; union { ... } pvt
 * (4 bytes); uint8_t __pad[44]; union X_sring_entry ring[]; } — the layout every ring
 * shares (pinned to Xen's headers by tests/xen-abi-io.test.ts).
 */
export const SRING = { req_prod: 0, req_event: 4, rsp_prod: 8, rsp_event: 12, pvt: 16, pad: 20, ring: 64 } as const;
export const RING_HEADER_BYTES = SRING.ring;
const REQ_PROD = SRING.req_prod;
const REQ_EVENT = SRING.req_event;
const RSP_PROD = SRING.rsp_prod;
const RSP_EVENT = SRING.rsp_event;

/** Entries that fit a ring page: the largest power of two (ring.h's __CONST_RING_SIZE). */
export function ringSize(pageBytes: number, entryBytes: number): number {
  const n = Math.floor((pageBytes - RING_HEADER_BYTES) / entryBytes);
  return n < 1 ? 0 : 2 ** Math.floor(Math.log2(n));
}

const u32 = (x: number) => x >>> 0;

/**
 * The shared part: the four indices and the entry slots, on a page (a guest-memory view,
 * so a mirrored page records exactly the indices this end stores; plain bytes in tests).
 */
export class SharedRing {
  readonly size: number;
  readonly page: GuestMemory;

  constructor(
    page: GuestMemory | Uint8Array,
    readonly entryBytes: number,
  ) {
    this.page = page instanceof Uint8Array ? new ByteMemory(page) : page;
    this.size = ringSize(this.page.length, entryBytes);
    if (this.size === 0) throw new RangeError(`a ${entryBytes}-byte entry does not fit a ${this.page.length}-byte ring page`);
  }

  get reqProd(): number {
    return this.page.u32le(REQ_PROD);
  }
  set reqProd(v: number) {
    this.page.setU32le(REQ_PROD, v);
  }
  get reqEvent(): number {
    return this.page.u32le(REQ_EVENT);
  }
  set reqEvent(v: number) {
    this.page.setU32le(REQ_EVENT, v);
  }
  get rspProd(): number {
    return this.page.u32le(RSP_PROD);
  }
  set rspProd(v: number) {
    this.page.setU32le(RSP_PROD, v);
  }
  get rspEvent(): number {
    return this.page.u32le(RSP_EVENT);
  }
  set rspEvent(v: number) {
    this.page.setU32le(RSP_EVENT, v);
  }

  /** Byte offset in the page of the entry for index `idx`. */
  slot(idx: number): number {
    return RING_HEADER_BYTES + (u32(idx) & (this.size - 1)) * this.entryBytes;
  }

  /** SHARED_RING_INIT: both producers at `start` (0 in Xen), both events one past. */
  init(start = 0): void {
    this.reqProd = start;
    this.rspProd = start;
    this.reqEvent = start + 1;
    this.rspEvent = start + 1;
    this.page.fill(16, RING_HEADER_BYTES - 16, 0);
  }
}

/** ring.h's RING_PUSH_*_AND_CHECK_NOTIFY test: did the producer pass the other side's event? */
function needsNotify(oldProd: number, newProd: number, event: number): boolean {
  return u32(newProd - event) < u32(newProd - oldProd);
}

/** The frontend's end: produces requests, consumes responses. */
export class FrontRing {
  /** Requests produced but not yet published (req_prod_pvt). */
  reqProdPvt: number;
  /** Responses consumed (rsp_cons). */
  rspCons: number;

  constructor(readonly sring: SharedRing) {
    this.reqProdPvt = sring.reqProd;
    this.rspCons = sring.rspProd;
  }

  get size(): number {
    return this.sring.size;
  }

  /** RING_FREE_REQUESTS. */
  freeRequests(): number {
    return this.size - u32(this.reqProdPvt - this.rspCons);
  }

  full(): boolean {
    return this.freeRequests() === 0;
  }

  /** Offset of the next request slot; write it, then call `produced()`. */
  nextRequest(): number {
    if (this.full()) throw new RangeError('ring full: a request would overwrite one not yet answered');
    return this.sring.slot(this.reqProdPvt);
  }

  produced(): void {
    this.reqProdPvt = u32(this.reqProdPvt + 1);
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publish, and say whether the backend must be notified. */
  pushRequestsAndCheckNotify(): boolean {
    const old = this.sring.reqProd;
    const now = this.reqProdPvt;
    // Barrier (wmb): the request bodies are written before req_prod publishes them.
    this.sring.reqProd = now;
    // Barrier (mb): req_prod is visible before req_event is read.
    return needsNotify(old, now, this.sring.reqEvent);
  }

  /** Responses published and not yet consumed. */
  unconsumedResponses(): number {
    return u32(this.sring.rspProd - this.rspCons);
  }

  /** Offset of the next response to consume; read it, then call `consumed()`. */
  nextResponse(): number {
    return this.sring.slot(this.rspCons);
  }

  consumed(): void {
    this.rspCons = u32(this.rspCons + 1);
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: before sleeping, ask to be notified of the next
   * response, then look again (a response may have landed in between).
   */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses() > 0) return true;
    this.sring.rspEvent = this.rspCons + 1;
    // Barrier (mb): rsp_event is visible before rsp_prod is read again.
    return this.unconsumedResponses() > 0;
  }
}

/** The backend's end: consumes requests, produces responses. */
export class BackRing {
  /** Responses produced but not yet published (rsp_prod_pvt). */
  rspProdPvt: number;
  /** Requests consumed (req_cons). */
  reqCons: number;

  /**
   * BACK_RING_ATTACH at the last published response: every request after it is still to
   * be served, including those a frontend published before the backend attached (Linux's
   * netfront posts its rx buffers before Connected). On a fresh ring that is
   * BACK_RING_INIT: both indices 0. Attaching to a used ring this way assumes its previous
   * backend answered in request order (blkback and netback do), so the published responses
   * cover exactly the oldest requests.
   */
  constructor(readonly sring: SharedRing) {
    this.rspProdPvt = sring.rspProd;
    this.reqCons = sring.rspProd;
  }

  get size(): number {
    return this.sring.size;
  }

  /**
   * RING_UNCONSUMED_REQUESTS: published and not consumed, but never more than the slots
   * the backend has answered, so a frontend that pushes req_prod too far cannot make the
   * backend read slots whose responses it has not yet written.
   */
  unconsumedRequests(): number {
    const published = u32(this.sring.reqProd - this.reqCons);
    const room = this.size - u32(this.reqCons - this.rspProdPvt);
    return Math.min(published, room);
  }

  /**
   * RING_REQUEST_PROD_OVERFLOW: the frontend published more requests than the ring can
   * hold past the responses. Xen's backends stop serving such a ring.
   */
  requestProdOverflow(): boolean {
    return u32(this.sring.reqProd - this.rspProdPvt) > this.size;
  }

  /** RING_REQUEST_CONS_OVERFLOW: consuming at `cons` would pass the responses. */
  requestConsOverflow(cons = this.reqCons): boolean {
    return u32(cons - this.rspProdPvt) >= this.size;
  }

  nextRequest(): number {
    return this.sring.slot(this.reqCons);
  }

  /**
   * RING_COPY_REQUEST: the request `ahead` slots past req_cons, copied out of the shared
   * page into a private buffer. A backend reads each request slot through this once and
   * then works on the copy only: the frontend may rewrite a published slot at any time,
   * so two reads could see two requests (XSA-155's double fetch).
   */
  copyRequest(ahead = 0): Uint8Array {
    const off = this.sring.slot(this.reqCons + ahead);
    return this.sring.page.read(off, this.sring.entryBytes);
  }

  consumed(): void {
    this.reqCons = u32(this.reqCons + 1);
  }

  /** Offset of the next response slot; write it, then call `produced()`. */
  nextResponse(): number {
    return this.sring.slot(this.rspProdPvt);
  }

  produced(): void {
    this.rspProdPvt = u32(this.rspProdPvt + 1);
  }

  /** RING_PUSH_RESPONSES_AND_CHECK_NOTIFY. */
  pushResponsesAndCheckNotify(): boolean {
    const old = this.sring.rspProd;
    const now = this.rspProdPvt;
    // Barrier (wmb): the response bodies are written before rsp_prod publishes them.
    this.sring.rspProd = now;
    // Barrier (mb): rsp_prod is visible before rsp_event is read.
    return needsNotify(old, now, this.sring.rspEvent);
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: ask to be notified of the next request, then look again. */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    this.sring.reqEvent = this.reqCons + 1;
    // Barrier (mb): req_event is visible before req_prod is read again.
    return this.unconsumedRequests() > 0;
  }
}

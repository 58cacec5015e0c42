// Xen's shared I/O rings (xen/io/ring.h semantics), both ends, over a shared page. One
// definition for every ring pvsim serves (blkif, netif tx/rx) and the public ring library of
// the driver kit (`pvsim/ring`, docs/ringkit.md names each ring.h macro's counterpart); guests
// implement the same protocol in C (guests/include/pvsim/ring.h).
//
//   page:  req_prod | req_event | rsp_prod | rsp_event | pvt (4) | 44 bytes padding | entries...
//
// Indices are free-running unsigned 32-bit counters; slot = index & (size - 1). Each field
// has one writer: the frontend writes req_prod and rsp_event, the backend rsp_prod and
// req_event. The *_event fields say "notify me when the other side's producer passes this",
// which is how neither side misses a wake-up without notifying on every entry.
//
// Arithmetic is ring.h's: every count is a RING_IDX (u32) expression, so where ring.h's
// unsigned subtraction wraps, so does ours (tests/ring-abi.test.ts runs the same operation
// sequences through the macros compiled by the host gcc and compares every value).
//
// Guards: the "checked" steps (produced, consumed, nextRequest on the front, nextResponse on
// the back) refuse with a RingError what would break the protocol, each by a condition written
// with ring.h's own macros. The backend's guards look only at its private indices, so a
// hostile frontend can never make a backend's own step throw; the frontend's consumption
// guard looks at rsp_prod, so a hostile backend is refused there (RING_RESPONSE_PROD_OVERFLOW).

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

/** A RING_IDX: an unsigned 32-bit index; every value this module returns as an index is one. */
export type RingIdx = number;

const u32 = (x: number): RingIdx => x >>> 0;

/** ring.h's __RD32: `x` (a u32) rounded down to a power of two; 0 stays 0. */
export function rd32(x: number): number {
  const v = u32(x);
  return v === 0 ? 0 : 2 ** (31 - Math.clz32(v));
}

/**
 * Entries that fit a ring of `pageBytes` (ring.h's __CONST_RING_SIZE / __RING_SIZE): the
 * largest power of two of whole entries after the 64-byte header; 0 if none fits.
 */
export function ringSize(pageBytes: number, entryBytes: number): number {
  if (!(Number.isInteger(entryBytes) && entryBytes > 0)) throw new RangeError(`ring entry size ${entryBytes} is not a positive integer`);
  if (pageBytes < RING_HEADER_BYTES) return 0;
  return rd32(Math.floor((pageBytes - RING_HEADER_BYTES) / entryBytes));
}

/** Why a checked ring step was refused. */
export type RingErrorCode =
  /** front: producing a request would overwrite one not yet answered (RING_FULL). */
  | 'full'
  /** back: producing a response with no consumed request left to answer. */
  | 'no-request'
  /** back: consuming would pass the responses (RING_REQUEST_CONS_OVERFLOW). */
  | 'cons-overflow'
  /** front: no published response to consume. */
  | 'no-response'
  /** front: the backend published more responses than requests made (RING_RESPONSE_PROD_OVERFLOW and stricter). */
  | 'rsp-overflow';

/** A checked ring step that would break the protocol. Nothing was changed. */
export class RingError extends Error {
  override readonly name = 'RingError';
  constructor(
    readonly code: RingErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * What one read of the other side's producer index found: `prod` the snapshot a driver
 * consumes up to, `count` the entries it may take (0 when `overflow`), `overflow` when the
 * snapshot is impossible for a well-behaved peer (RING_REQUEST_PROD_OVERFLOW or
 * RING_RESPONSE_PROD_OVERFLOW): Xen's drivers stop serving such a ring.
 */
export interface RingSnapshot {
  readonly prod: RingIdx;
  readonly count: number;
  readonly overflow: boolean;
}

/** ring.h's notify test in RING_PUSH_*_AND_CHECK_NOTIFY: did the producer pass the other side's event? */
export function needsNotify(oldProd: RingIdx, newProd: RingIdx, event: RingIdx): boolean {
  return u32(newProd - event) < u32(newProd - oldProd);
}

/**
 * The shared part (struct X_sring): the four indices and the entry slots, on a page (a
 * guest-memory view, so a mirrored page records exactly the indices this end stores; plain
 * bytes in tests).
 */
export class SharedRing {
  /** RING_SIZE: entries in the ring (a power of two). */
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

  get reqProd(): RingIdx {
    return this.page.u32le(REQ_PROD);
  }
  set reqProd(v: RingIdx) {
    this.page.setU32le(REQ_PROD, u32(v));
  }
  get reqEvent(): RingIdx {
    return this.page.u32le(REQ_EVENT);
  }
  set reqEvent(v: RingIdx) {
    this.page.setU32le(REQ_EVENT, u32(v));
  }
  get rspProd(): RingIdx {
    return this.page.u32le(RSP_PROD);
  }
  set rspProd(v: RingIdx) {
    this.page.setU32le(RSP_PROD, u32(v));
  }
  get rspEvent(): RingIdx {
    return this.page.u32le(RSP_EVENT);
  }
  set rspEvent(v: RingIdx) {
    this.page.setU32le(RSP_EVENT, u32(v));
  }

  /** Byte offset in the page of the entry for index `idx` (RING_GET_REQUEST/RESPONSE's slot). */
  slot(idx: RingIdx): number {
    return RING_HEADER_BYTES + (u32(idx) & (this.size - 1)) * this.entryBytes;
  }

  /**
   * SHARED_RING_INIT: both producers at `start` (0 in Xen), both events one past, pvt and
   * padding zeroed. A non-zero `start` is pvsim's, for testing index wrap-around.
   */
  init(start: RingIdx = 0): void {
    this.reqProd = start;
    this.rspProd = start;
    this.reqEvent = start + 1;
    this.rspEvent = start + 1;
    this.page.fill(SRING.pvt, RING_HEADER_BYTES - SRING.pvt, 0);
  }
}

/** The frontend's end (struct X_front_ring): produces requests, consumes responses. */
export class FrontRing {
  /** Requests produced but not yet published (req_prod_pvt). */
  reqProdPvt: RingIdx;
  /** Responses consumed (rsp_cons). */
  rspCons: RingIdx;

  /**
   * FRONT_RING_ATTACH at `at`; without it, at the last published response (pvsim's
   * convenience for a frontend that takes over a ring where every request was answered).
   */
  constructor(
    readonly sring: SharedRing,
    at?: RingIdx,
  ) {
    this.reqProdPvt = u32(at ?? sring.reqProd);
    this.rspCons = u32(at ?? sring.rspProd);
  }

  /** FRONT_RING_INIT: attach at index 0 (the shared page is not touched). */
  static init(sring: SharedRing): FrontRing {
    return new FrontRing(sring, 0);
  }
  /** FRONT_RING_ATTACH: both private indices at `idx`. */
  static attach(sring: SharedRing, idx: RingIdx): FrontRing {
    return new FrontRing(sring, idx);
  }
  /** XEN_FRONT_RING_INIT: SHARED_RING_INIT, then FRONT_RING_INIT. */
  static xenInit(sring: SharedRing): FrontRing {
    sring.init(0);
    return new FrontRing(sring, 0);
  }

  /** RING_SIZE. */
  get size(): number {
    return this.sring.size;
  }

  /** RING_FREE_REQUESTS, with ring.h's unsigned wrap. */
  freeRequests(): number {
    return u32(this.size - u32(this.reqProdPvt - this.rspCons));
  }

  /** RING_FULL. */
  full(): boolean {
    return this.freeRequests() === 0;
  }

  /** The produce guard: RING_FULL, or more requests outstanding than the ring holds. */
  private checkProduce(): void {
    if (u32(this.reqProdPvt - this.rspCons) >= this.size) {
      throw new RingError('full', `ring full: ${u32(this.reqProdPvt - this.rspCons)} requests outstanding in a ${this.size}-slot ring`);
    }
  }

  /** Offset of the next request slot (RING_GET_REQUEST(req_prod_pvt)); write it, then call `produced()`. */
  nextRequest(): number {
    this.checkProduce();
    return this.sring.slot(this.reqProdPvt);
  }

  /** req_prod_pvt++, refused when full. */
  produced(): void {
    this.checkProduce();
    this.reqProdPvt = u32(this.reqProdPvt + 1);
  }

  /** RING_PUSH_REQUESTS: publish req_prod_pvt, no notification test. */
  pushRequests(): void {
    // Barrier (wmb): the request bodies are written before req_prod publishes them.
    this.sring.reqProd = this.reqProdPvt;
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

  /** XEN_RING_NR_UNCONSUMED_RESPONSES: published and not yet consumed (u32, as ring.h). */
  unconsumedResponses(): number {
    return u32(this.sring.rspProd - this.rspCons);
  }

  /** RING_HAS_UNCONSUMED_RESPONSES with XEN_RING_HAS_UNCONSUMED_IS_BOOL. */
  hasUnconsumedResponses(): boolean {
    return this.unconsumedResponses() !== 0;
  }

  /** RING_RESPONSE_PROD_OVERFLOW: can the backend have published this many responses? */
  responseProdOverflow(prod: RingIdx = this.sring.rspProd): boolean {
    return u32(u32(prod) - this.rspCons) > this.size;
  }

  /**
   * One read of rsp_prod (then rmb): the snapshot to consume up to. Overflow when ring.h's
   * RING_RESPONSE_PROD_OVERFLOW holds, or when it claims more responses than requests
   * outstanding (a response for a request never made).
   */
  snapshotResponses(): RingSnapshot {
    const prod = this.sring.rspProd;
    const count = u32(prod - this.rspCons);
    const overflow = this.responseProdOverflow(prod) || count > u32(this.reqProdPvt - this.rspCons);
    return { prod, count: overflow ? 0 : count, overflow };
  }

  /** Offset of the response at `idx` (RING_GET_RESPONSE). */
  getResponse(idx: RingIdx): number {
    return this.sring.slot(idx);
  }

  /** Offset of the next response to consume (RING_GET_RESPONSE(rsp_cons)); read it, then call `consumed()`. */
  nextResponse(): number {
    return this.sring.slot(this.rspCons);
  }

  /** RING_COPY_RESPONSE at rsp_cons + `ahead`: a private copy of the slot. */
  copyResponse(ahead = 0): Uint8Array {
    return this.copyResponseAt(this.rspCons + ahead);
  }
  /** RING_COPY_RESPONSE at index `idx`. */
  copyResponseAt(idx: RingIdx): Uint8Array {
    return this.sring.page.read(this.sring.slot(idx), this.sring.entryBytes);
  }

  /** rsp_cons++, refused when no response is published or the backend overflowed. */
  consumed(): void {
    const s = this.snapshotResponses();
    if (s.overflow) throw new RingError('rsp-overflow', `backend published rsp_prod ${s.prod}: more responses than the ${u32(this.reqProdPvt - this.rspCons)} requests outstanding`);
    if (s.count === 0) throw new RingError('no-response', `no published response at rsp_cons ${this.rspCons}`);
    this.rspCons = u32(this.rspCons + 1);
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES, returning ring.h's work_to_do: the unconsumed count.
   * Before sleeping, ask to be notified when rsp_prod reaches rsp_cons + `batch` (1 in
   * ring.h: the next response; more to batch wake-ups — the "customised FINAL_CHECK" ring.h
   * suggests), then look again: there is work when the count reaches `batch`.
   */
  finalCheckForResponsesCount(batch = 1): number {
    const n = this.unconsumedResponses();
    if (n >= batch) return n;
    this.sring.rspEvent = this.rspCons + batch;
    // Barrier (mb): rsp_event is visible before rsp_prod is read again.
    return this.unconsumedResponses();
  }

  /** RING_FINAL_CHECK_FOR_RESPONSES as a boolean (XEN_RING_HAS_UNCONSUMED_IS_BOOL). */
  finalCheckForResponses(batch = 1): boolean {
    return this.finalCheckForResponsesCount(batch) >= batch;
  }
}

/** The backend's end (struct X_back_ring): consumes requests, produces responses. */
export class BackRing {
  /** Responses produced but not yet published (rsp_prod_pvt). */
  rspProdPvt: RingIdx;
  /** Requests consumed (req_cons). */
  reqCons: RingIdx;

  /**
   * BACK_RING_ATTACH at `at`; without it, at the last published response: every request
   * after it is still to be served, including those a frontend published before the backend
   * attached (Linux's netfront posts its rx buffers before Connected). On a fresh ring that
   * is BACK_RING_INIT: both indices 0. Attaching to a used ring this way assumes its previous
   * backend answered in request order (blkback and netback do), so the published responses
   * cover exactly the oldest requests.
   */
  constructor(
    readonly sring: SharedRing,
    at?: RingIdx,
  ) {
    this.rspProdPvt = u32(at ?? sring.rspProd);
    this.reqCons = u32(at ?? sring.rspProd);
  }

  /** BACK_RING_INIT: attach at index 0. */
  static init(sring: SharedRing): BackRing {
    return new BackRing(sring, 0);
  }
  /** BACK_RING_ATTACH: both private indices at `idx`. */
  static attach(sring: SharedRing, idx: RingIdx): BackRing {
    return new BackRing(sring, idx);
  }

  /** RING_SIZE. */
  get size(): number {
    return this.sring.size;
  }

  /**
   * XEN_RING_NR_UNCONSUMED_REQUESTS: published and not consumed, but never more than the
   * slots the backend has answered, so a frontend that pushes req_prod too far cannot make
   * the backend read slots whose responses it has not yet written (u32, as ring.h).
   */
  unconsumedRequests(): number {
    const published = u32(this.sring.reqProd - this.reqCons);
    const room = u32(this.size - u32(this.reqCons - this.rspProdPvt));
    return Math.min(published, room);
  }

  /** RING_HAS_UNCONSUMED_REQUESTS with XEN_RING_HAS_UNCONSUMED_IS_BOOL. */
  hasUnconsumedRequests(): boolean {
    return this.unconsumedRequests() !== 0;
  }

  /**
   * RING_REQUEST_PROD_OVERFLOW: the frontend published more requests than the ring can
   * hold past the responses (at `prod`, by default the current req_prod). Xen's backends
   * stop serving such a ring.
   */
  requestProdOverflow(prod: RingIdx = this.sring.reqProd): boolean {
    return u32(u32(prod) - this.rspProdPvt) > this.size;
  }

  /** RING_REQUEST_CONS_OVERFLOW: consuming at `cons` would pass the responses. */
  requestConsOverflow(cons: RingIdx = this.reqCons): boolean {
    return u32(u32(cons) - this.rspProdPvt) >= this.size;
  }

  /**
   * One read of req_prod (then rmb): the snapshot to consume up to, checked with
   * RING_REQUEST_PROD_OVERFLOW; `count` is what may be consumed (bounded like
   * XEN_RING_NR_UNCONSUMED_REQUESTS).
   */
  snapshotRequests(): RingSnapshot {
    const prod = this.sring.reqProd;
    if (this.requestProdOverflow(prod)) return { prod, count: 0, overflow: true };
    const room = u32(this.size - u32(this.reqCons - this.rspProdPvt));
    return { prod, count: Math.min(u32(prod - this.reqCons), room), overflow: false };
  }

  /** Offset of the request at `idx` (RING_GET_REQUEST). */
  getRequest(idx: RingIdx): number {
    return this.sring.slot(idx);
  }

  /** Offset of the next request (RING_GET_REQUEST(req_cons)). Prefer `copyRequest()`. */
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
    return this.copyRequestAt(this.reqCons + ahead);
  }
  /** RING_COPY_REQUEST at index `idx`. */
  copyRequestAt(idx: RingIdx): Uint8Array {
    return this.sring.page.read(this.sring.slot(idx), this.sring.entryBytes);
  }

  /** req_cons++, refused by RING_REQUEST_CONS_OVERFLOW (private indices only). */
  consumed(): void {
    if (this.requestConsOverflow()) throw new RingError('cons-overflow', `req_cons ${this.reqCons} is a ring ahead of rsp_prod_pvt ${this.rspProdPvt}: answer before consuming more`);
    this.reqCons = u32(this.reqCons + 1);
  }

  private checkProduce(): void {
    if (this.rspProdPvt === this.reqCons) throw new RingError('no-request', `rsp_prod_pvt ${this.rspProdPvt} has reached req_cons: no consumed request to answer`);
  }

  /** Offset of the next response slot (RING_GET_RESPONSE(rsp_prod_pvt)); write it, then call `produced()`. */
  nextResponse(): number {
    this.checkProduce();
    return this.sring.slot(this.rspProdPvt);
  }

  /** rsp_prod_pvt++, refused with no consumed request left to answer. */
  produced(): void {
    this.checkProduce();
    this.rspProdPvt = u32(this.rspProdPvt + 1);
  }

  /** RING_PUSH_RESPONSES: publish rsp_prod_pvt, no notification test. */
  pushResponses(): void {
    // Barrier (wmb): the response bodies are written before rsp_prod publishes them.
    this.sring.rspProd = this.rspProdPvt;
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

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS, returning ring.h's work_to_do: the unconsumed count.
   * Asks to be notified when req_prod reaches req_cons + `batch` (1 in ring.h), then looks
   * again; there is work when the count reaches `batch`.
   */
  finalCheckForRequestsCount(batch = 1): number {
    const n = this.unconsumedRequests();
    if (n >= batch) return n;
    this.sring.reqEvent = this.reqCons + batch;
    // Barrier (mb): req_event is visible before req_prod is read again.
    return this.unconsumedRequests();
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS as a boolean (XEN_RING_HAS_UNCONSUMED_IS_BOOL). */
  finalCheckForRequests(batch = 1): boolean {
    return this.finalCheckForRequestsCount(batch) >= batch;
  }
}

// --- flexible byte rings (DEFINE_XEN_FLEX_RING, DEFINE_XEN_FLEX_RING_AND_INTF) -------------

/** struct name##_data_intf: the indexes page of a pair of flex rings (pvcalls, 9pfs). */
export const FLEX_DATA_INTF = { in_cons: 0, in_prod: 4, pad1: 8, out_cons: 64, out_prod: 68, pad2: 72, ring_order: 128, ref: 132 } as const;

/** XEN_PAGE_SHIFT: ring protocols use 4 KiB pages whatever the architecture. */
export const XEN_PAGE_SHIFT = 12;

/** XEN_FLEX_RING_SIZE(order): bytes in one of the two rings of a 2^order-page allocation. */
export function xenFlexRingSize(order: number): number {
  if (!(Number.isInteger(order) && order >= 0 && order <= 19)) throw new RangeError(`flex ring order ${order} is out of range`);
  return 2 ** (order + XEN_PAGE_SHIFT - 1);
}

/** name##_mask. */
export function flexMask(idx: RingIdx, ringBytes: number): RingIdx {
  return u32(idx) & u32(ringBytes - 1);
}

/** name##_queued: bytes between cons and prod (a full ring is `ringBytes`). */
export function flexQueued(prod: RingIdx, cons: RingIdx, ringBytes: number): number {
  if (u32(prod) === u32(cons)) return 0;
  const p = flexMask(prod, ringBytes);
  const c = flexMask(cons, ringBytes);
  if (p === c) return ringBytes;
  return p > c ? p - c : u32(ringBytes - (c - p));
}

/**
 * name##_read_packet: `size` bytes from `buf` at `maskedCons`, wrapping at `ringBytes`; returns
 * the bytes and the new masked cons. Like ring.h it checks no bounds beyond the buffer's own:
 * the caller compares `size` with flexQueued first.
 */
export function flexReadPacket(buf: Uint8Array, size: number, maskedProd: RingIdx, maskedCons: RingIdx, ringBytes: number): { data: Uint8Array; maskedCons: RingIdx } {
  const data = new Uint8Array(size);
  if (maskedCons < maskedProd || size <= ringBytes - maskedCons) {
    data.set(buf.subarray(maskedCons, maskedCons + size));
  } else {
    const first = ringBytes - maskedCons;
    data.set(buf.subarray(maskedCons, ringBytes));
    data.set(buf.subarray(0, size - first), first);
  }
  return { data, maskedCons: flexMask(maskedCons + size, ringBytes) };
}

/** name##_write_packet: `data` into `buf` at `maskedProd`, wrapping; returns the new masked prod. */
export function flexWritePacket(buf: Uint8Array, data: Uint8Array, maskedProd: RingIdx, maskedCons: RingIdx, ringBytes: number): RingIdx {
  const size = data.length;
  if (maskedProd < maskedCons || size <= ringBytes - maskedProd) {
    buf.set(data, maskedProd);
  } else {
    const first = ringBytes - maskedProd;
    buf.set(data.subarray(0, first), maskedProd);
    buf.set(data.subarray(first), 0);
  }
  return flexMask(maskedProd + size, ringBytes);
}

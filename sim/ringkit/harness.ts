// A test bench for a user backend (pvsim/driver) without a guest: a fake dom0 platform
// (grants are pages the test holds, event channels are counters) and a frontend written in
// TypeScript with the ring library. `ringConformance` runs a catalogue of ring-level cases,
// protocol-independent, against any backend: what a hostile or clumsy frontend can do, and
// what every ring backend must survive. The protocol's own shape (a valid request, the id
// a response carries) comes from the caller: `RingProtocol`.

import { ByteMemory } from '../../protocol/guest_memory.ts';
import { FrontRing, SharedRing } from '../../protocol/ring.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';
import { XenbusState } from '../../protocol/xen/xenbus.ts';
import type { Dom0Platform, GrantCopyOp, GrantCopyResult, MappedPage } from '../../dom0/platform.ts';
import type { BackendDriver, DeviceInstance } from '../../dom0/backends/xenbus.ts';
import { UserBackendDriver } from '../../dom0/driver/host.ts';
import { isBackend, type Backend, type RingProtocol } from '../../dom0/driver/index.ts';

/**
 * What the cases run against: a user backend (pvsim/driver), or any xenbus backend driver
 * built on the bench's platform (pvsim's own blkback, say).
 */
export type BackendUnderTest = Backend | { readonly type: string; make(platform: Dom0Platform, backendKey: (dev: DeviceInstance, key: string) => string | undefined): BackendDriver };

export type { RingProtocol } from '../../dom0/driver/index.ts';

const PAGE = 4096;
/** Where the bench's ring indices start. */
export const BENCH_START = 0xffff_fff0;
const FRONT_DOMID = 1;

/**
 * The ring page as the backend maps it: counts the reads of each request slot since the
 * frontend last wrote it, so a backend that reads a slot twice is seen (a double fetch).
 */
class CountingMemory extends ByteMemory {
  readonly reads = new Map<number, number>();
  /** Slots the backend wrote since the frontend last wrote them (responses in place). */
  readonly written = new Set<number>();
  /** Responses published (rsp_prod moved past them) before the backend wrote their slot. */
  readonly publishedUnwritten: string[] = [];
  constructor(
    bytes: Uint8Array,
    private readonly slotOf: (offset: number) => number | null,
    /** Slots in the ring (a power of two). */
    private readonly slots = 0,
  ) {
    super(bytes);
  }
  private slotWritten(offset: number, len: number): void {
    const first = this.slotOf(offset);
    const last = this.slotOf(offset + Math.max(0, len - 1));
    if (first === null || last === null) return;
    for (let s = first; s <= last; s++) this.written.add(s);
  }
  override write(offset: number, data: Uint8Array): void {
    super.write(offset, data);
    this.slotWritten(offset, data.length);
  }
  override fill(offset: number, len: number, value: number): void {
    super.fill(offset, len, value);
    this.slotWritten(offset, len);
  }
  override setU8(offset: number, v: number): void {
    super.setU8(offset, v);
    this.slotWritten(offset, 1);
  }
  override setU16le(offset: number, v: number): void {
    super.setU16le(offset, v);
    this.slotWritten(offset, 2);
  }
  override setU32le(offset: number, v: number): void {
    if (offset === 8 && this.slots > 0) {
      // rsp_prod: every response it publishes must already be in its slot (io/ring.h's
      // wmb before the producer index; a frontend on another CPU reads it at once).
      for (let i = super.u32le(8); i !== v >>> 0 && this.publishedUnwritten.length < 8; i = (i + 1) >>> 0)
        if (!this.written.has(i & (this.slots - 1))) this.publishedUnwritten.push(`response ${i} (slot ${i & (this.slots - 1)})`);
    }
    super.setU32le(offset, v);
    this.slotWritten(offset, 4);
  }
  private count(offset: number, len: number): void {
    const first = this.slotOf(offset);
    const last = this.slotOf(offset + Math.max(0, len - 1));
    for (const s of new Set([first, last])) if (s !== null) this.reads.set(s, (this.reads.get(s) ?? 0) + 1);
  }
  override read(offset: number, len: number): Uint8Array {
    this.count(offset, len);
    return super.read(offset, len);
  }
  override u8(offset: number): number {
    this.count(offset, 1);
    return super.u8(offset);
  }
  override u16le(offset: number): number {
    this.count(offset, 2);
    return super.u16le(offset);
  }
  override u32le(offset: number): number {
    this.count(offset, 4);
    return super.u32le(offset);
  }
}

/** One access of the backend to the ring page: `value` is what a store writes. */
export interface RingAccess {
  write: boolean;
  offset: number;
  len: number;
  value?: number;
}

/**
 * The ring page with a hook around every access of the backend's: `before` runs first (it
 * may act on the page, as a frontend on another CPU would at that moment, or throw), `after`
 * once the access is done. What the fault cases and the exploration of a module stand on.
 */
export class HookedMemory extends ByteMemory {
  constructor(
    bytes: Uint8Array,
    private readonly hooks: { before?: (a: RingAccess) => void; after?: (a: RingAccess) => void },
  ) {
    super(bytes);
  }
  private around<T>(a: RingAccess, f: () => T): T {
    this.hooks.before?.(a);
    const r = f();
    this.hooks.after?.(a);
    return r;
  }
  override read(offset: number, len: number): Uint8Array {
    return this.around({ write: false, offset, len }, () => super.read(offset, len));
  }
  override u8(offset: number): number {
    return this.around({ write: false, offset, len: 1 }, () => super.u8(offset));
  }
  override u16le(offset: number): number {
    return this.around({ write: false, offset, len: 2 }, () => super.u16le(offset));
  }
  override u32le(offset: number): number {
    return this.around({ write: false, offset, len: 4 }, () => super.u32le(offset));
  }
  override write(offset: number, data: Uint8Array): void {
    this.around({ write: true, offset, len: data.length }, () => super.write(offset, data));
  }
  override fill(offset: number, len: number, value: number): void {
    this.around({ write: true, offset, len, value }, () => super.fill(offset, len, value));
  }
  override setU8(offset: number, v: number): void {
    this.around({ write: true, offset, len: 1, value: v }, () => super.setU8(offset, v));
  }
  override setU16le(offset: number, v: number): void {
    this.around({ write: true, offset, len: 2, value: v }, () => super.setU16le(offset, v));
  }
  override setU32le(offset: number, v: number): void {
    this.around({ write: true, offset, len: 4, value: v >>> 0 }, () => super.setU32le(offset, v));
  }
}

/** The fake hypervisor side: grants by ref, ports, and what the backend did with them. */
export class FakePlatform implements Dom0Platform {
  /** When set, the ring page is mapped through this view instead (fault cases, exploration). */
  ringMemory: ((page: Uint8Array) => ByteMemory) | null = null;
  /** When set, runs at each notification the backend sends, before it is counted. */
  onNotify: (() => void) | null = null;
  readonly grants = new Map<number, { page: Uint8Array; readonly: boolean }>();
  /** The ring page's view, once mapped (read counts per slot). */
  ringView: CountingMemory | null = null;
  ringSlotOf: ((offset: number) => number | null) | null = null;
  ringSlots = 0;
  ringPage: Uint8Array | null = null;
  private nextRef = 8;
  private nextPort = 1;
  private nextHandle = 1;
  readonly maps = new Map<number, number>(); // handle -> ref
  readonly ports = new Map<number, { remote: number; handler: (() => void | Promise<void>) | null }>();
  /** Notifications the backend sent to the frontend. */
  notified = 0;
  /** While set, every grant copy waits (a slow hypervisor): what lets a case act mid-request. */
  holdCopies = false;
  readonly heldCopies: (() => void)[] = [];

  private async maybeHold(): Promise<void> {
    if (this.holdCopies) await new Promise<void>((resolve) => this.heldCopies.push(resolve));
  }
  /** Lets every held copy go on. */
  releaseCopies(): void {
    for (const r of this.heldCopies.splice(0)) r();
  }

  grant(page: Uint8Array, readonly = false): number {
    const ref = this.nextRef++;
    this.grants.set(ref, { page, readonly });
    return ref;
  }
  revoke(ref: number): void {
    this.grants.delete(ref);
  }
  /** The frontend's EVTCHNOP_send: runs the backend's handler on every port bound to `remote`. */
  async kick(remote: number): Promise<void> {
    for (const p of this.ports.values()) if (p.remote === remote && p.handler) await p.handler();
  }

  mapForeign(): Promise<MappedPage> {
    return Promise.reject(new Error('mapForeign: not in the bench'));
  }
  async bindInterdomain(domid: number, remotePort: number): Promise<number> {
    if (domid !== FRONT_DOMID || remotePort === 0 || remotePort > 1023) throw Object.assign(new Error(`bind_interdomain(${domid}, ${remotePort}): EINVAL`), { code: 'EINVAL' });
    const port = this.nextPort++;
    this.ports.set(port, { remote: remotePort, handler: null });
    return port;
  }
  onEvent(port: number, handler: () => void | Promise<void>): void {
    const p = this.ports.get(port);
    if (p) p.handler = handler;
  }
  notify(port: number): void {
    if (!this.ports.has(port)) return;
    this.onNotify?.();
    this.notified++;
  }
  closePort(port: number): void {
    this.ports.delete(port);
  }
  async mapGrant(domid: number, ref: number, readonly: boolean): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    const g = this.grants.get(ref);
    if (domid !== FRONT_DOMID || !g) return { status: GNTST.bad_gntref, handle: 0, page: null };
    if (g.readonly && !readonly) return { status: GNTST.permission_denied, handle: 0, page: null };
    const handle = this.nextHandle++;
    this.maps.set(handle, ref);
    let mem: ByteMemory = new ByteMemory(g.page);
    if (g.page === this.ringPage && this.ringMemory) mem = this.ringMemory(g.page);
    else if (g.page === this.ringPage && this.ringSlotOf) mem = this.ringView ??= new CountingMemory(g.page, this.ringSlotOf, this.ringSlots);
    return { status: GNTST.okay, handle, page: { mem, unmap: () => this.maps.delete(handle) } };
  }
  async unmapGrant(handle: number): Promise<number> {
    return this.maps.delete(handle) ? GNTST.okay : GNTST.bad_handle;
  }
  async copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): Promise<number> {
    await this.maybeHold();
    const g = this.grants.get(ref);
    if (domid !== FRONT_DOMID || !g) return GNTST.bad_gntref;
    if (g.readonly) return GNTST.permission_denied;
    if (offset < 0 || offset + data.length > PAGE) return GNTST.bad_copy_arg;
    g.page.set(data, offset);
    return GNTST.okay;
  }
  async copyFromGrant(domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    await this.maybeHold();
    const g = this.grants.get(ref);
    if (domid !== FRONT_DOMID || !g) return { status: GNTST.bad_gntref, data: new Uint8Array(0) };
    if (offset < 0 || len < 0 || offset + len > PAGE) return { status: GNTST.bad_copy_arg, data: new Uint8Array(0) };
    return { status: GNTST.okay, data: g.page.slice(offset, offset + len) };
  }
  async copyGrants(ops: readonly GrantCopyOp[]): Promise<GrantCopyResult[]> {
    const out: GrantCopyResult[] = [];
    for (const op of ops) out.push(op.to ? { status: await this.copyToGrant(op.domid, op.ref, op.offset, op.data), data: new Uint8Array(0) } : await this.copyFromGrant(op.domid, op.ref, op.offset, op.len));
    return out;
  }
  now(): number {
    return 0;
  }
}

/** One device of the backend under test, with a TypeScript frontend. */
export class Bench {
  readonly platform = new FakePlatform();
  readonly driver: BackendDriver;
  readonly ringPage = new Uint8Array(PAGE);
  readonly sring: SharedRing;
  readonly front: FrontRing;
  readonly evtchn = 7;
  readonly dev: DeviceInstance = { kind: '', domid: FRONT_DOMID, devid: 0, backend: '/local/domain/0/backend/x/1/0', frontend: '/local/domain/1/device/x/0', state: XenbusState.InitWait };
  failed: string | null = null;
  ringRef: number;
  keys: Record<string, string>;
  /** Ids sent and not yet answered, in order (a protocol with `inOrder` answers them so). */
  readonly outstanding: number[] = [];

  constructor(
    readonly def: BackendUnderTest,
    readonly proto: RingProtocol,
    bounds: { syncBoundMs?: number; asyncBoundMs?: number } = {},
  ) {
    this.dev.kind = def.type;
    const backendKey = (_d: DeviceInstance, k: string) => proto.backendKeys?.[k];
    this.driver = isBackend(def) ? new UserBackendDriver(def, this.platform, backendKey, { ...bounds, onFatal: (_d, m) => (this.failed = m) }) : def.make(this.platform, backendKey);
    this.sring = new SharedRing(this.ringPage, proto.entryBytes);
    // Indices a few requests short of 2^32: every backend is tried across the wrap.
    this.sring.init(BENCH_START);
    this.front = FrontRing.attach(this.sring, BENCH_START);
    this.ringRef = this.platform.grant(this.ringPage);
    this.platform.ringPage = this.ringPage;
    // Slot index of an offset in the entries (header reads do not count).
    this.platform.ringSlotOf = (off) => (off >= 64 ? Math.floor((off - 64) / proto.entryBytes) : null);
    this.platform.ringSlots = this.front.size;
    this.keys = { 'ring-ref': String(this.ringRef), 'event-channel': String(this.evtchn), ...proto.frontendKeys };
  }

  features(): Record<string, string> {
    return this.driver.features(this.dev);
  }
  async connect(): Promise<void> {
    await this.driver.connect(this.dev, (k) => this.keys[k]);
  }
  async disconnect(): Promise<void> {
    await this.driver.disconnect(this.dev);
  }
  /** Produces requests `ids` and pushes them; kicks the backend if the ring says so. */
  async send(ids: number[], opts: { kick?: boolean } = {}): Promise<void> {
    for (const id of ids) {
      const off = this.front.nextRequest();
      this.outstanding.push(id);
      this.ringPage.set(this.proto.request(id, (p, ro) => this.platform.grant(p, ro)), off);
      this.platform.ringView?.reads.delete(Math.floor((off - 64) / this.proto.entryBytes)); // a new request: its reads start again
      this.platform.ringView?.written.delete(Math.floor((off - 64) / this.proto.entryBytes)); // and its response is not written yet
      this.front.produced();
    }
    const notify = this.front.pushRequestsAndCheckNotify();
    if (opts.kick ?? notify) await this.platform.kick(this.evtchn);
  }
  /**
   * Produces raw request entries (a protocol suite's own requests, hostile ones included)
   * and pushes them; kicks the backend if the ring says so. Returns the slots' offsets.
   */
  async sendRaw(entries: readonly Uint8Array[], opts: { kick?: boolean } = {}): Promise<number[]> {
    const offs: number[] = [];
    for (const e of entries) {
      const off = this.front.nextRequest();
      this.ringPage.fill(0, off, off + this.proto.entryBytes);
      this.ringPage.set(e.subarray(0, this.proto.entryBytes), off);
      this.platform.ringView?.reads.delete(Math.floor((off - 64) / this.proto.entryBytes));
      this.platform.ringView?.written.delete(Math.floor((off - 64) / this.proto.entryBytes));
      this.front.produced();
      offs.push(off);
    }
    const notify = this.front.pushRequestsAndCheckNotify();
    if (opts.kick ?? notify) await this.platform.kick(this.evtchn);
    return offs;
  }
  /** Consumes every published response; copies of their slots. */
  takeRaw(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const snap = this.front.snapshotResponses();
    if (snap.overflow) throw new Error(`backend published rsp_prod ${snap.prod}: more responses than requests`);
    for (let i = 0; i < snap.count; i++) {
      out.push(this.front.copyResponse());
      this.front.consumed();
    }
    return out;
  }
  /** Consumes every published response; their ids. */
  take(): number[] {
    const out: number[] = [];
    const snap = this.front.snapshotResponses();
    if (snap.overflow) throw new Error(`backend published rsp_prod ${snap.prod}: more responses than requests`);
    for (let i = 0; i < snap.count; i++) {
      const id = this.proto.responseId(this.front.copyResponse());
      const at = this.outstanding.indexOf(id);
      if (this.proto.inOrder && at > 0) throw new Error(`answered ${id} before ${this.outstanding[0]}: this protocol answers in request order`);
      if (at >= 0) this.outstanding.splice(at, 1);
      out.push(id);
      this.front.consumed();
    }
    return out;
  }
  kick(): Promise<void> {
    return this.platform.kick(this.evtchn);
  }
  /** Waits (on the event loop, a bounded number of turns) until a grant copy is held. */
  async untilCopyHeld(): Promise<boolean> {
    for (let i = 0; i < 200 && this.platform.heldCopies.length === 0; i++) await new Promise((r) => setImmediate(r));
    return this.platform.heldCopies.length > 0;
  }
  /** Grants and ports the backend still holds. */
  held(): number {
    return this.platform.maps.size + this.platform.ports.size;
  }
}

export interface CaseResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** `setup` runs on the fresh bench before the backend connects (and maps its ring). */
type Case = { name: string; setup?: (b: Bench) => void; run: (b: Bench) => Promise<void> };

const expectThat = (cond: boolean, msg: string) => {
  if (!cond) throw new Error(msg);
};

/** The catalogue: each case gets a fresh bench (features, connect) and must leave nothing held after disconnect. */
export const RING_CASES: readonly Case[] = [
  {
    name: 'answers one request, once',
    run: async (b) => {
      await b.send([1]);
      expectThat(JSON.stringify(b.take()) === '[1]', 'expected one response, id 1');
    },
  },
  {
    name: 'answers a full ring, every id once',
    run: async (b) => {
      const ids = Array.from({ length: b.front.size }, (_, i) => i + 100);
      await b.send(ids);
      const got = b.take().sort((x, y) => x - y);
      expectThat(JSON.stringify(got) === JSON.stringify(ids), `answered ${got.length} of ${ids.length}`);
    },
  },
  {
    name: 'serves requests published before it connected',
    run: async () => {
      /* run by ringConformance itself (before connect) */
    },
  },
  {
    name: 'keeps answering across the 2^32 index wrap and slot reuse',
    run: async (b) => {
      for (let round = 0; round < 3 * b.front.size; round++) {
        await b.send([round]);
        expectThat(b.take().length === 1, `round ${round}: no answer`);
      }
    },
  },
  {
    name: 'reads each request slot once (no double fetch)',
    run: async (b) => {
      await b.send([1, 2, 3, 4]);
      b.take();
      const twice = [...(b.platform.ringView?.reads ?? new Map<number, number>()).entries()].filter(([, n]) => n > 1);
      expectThat(twice.length === 0, `slots read more than once: ${twice.map(([s, n]) => `slot ${s} ${n} times`).join(', ')}`);
    },
  },
  {
    name: 'writes each response before publishing it (rsp_prod moved last)',
    run: async (b) => {
      await b.send([1, 2, 3]);
      b.take();
      await b.send([4]);
      b.take();
      const bad = b.platform.ringView?.publishedUnwritten ?? [];
      expectThat(bad.length === 0, `rsp_prod published before the slot was written: ${bad.slice(0, 3).join(', ')}`);
    },
  },
  {
    name: 'answers a request published while it serves another (its final check looks at req_prod again)',
    setup: (b) => {
      // The frontend publishes request 2 right after the backend first read a request slot:
      // it notifies only if req_event asks, so only a backend that looks at req_prod again
      // after re-arming req_event (RING_FINAL_CHECK_FOR_REQUESTS) sees it.
      let fired = false;
      b.platform.ringMemory = (page) =>
        new HookedMemory(page, {
          after: (a) => {
            if (fired || a.write || a.offset < 64) return;
            fired = true;
            const off = b.front.nextRequest();
            b.outstanding.push(2);
            b.ringPage.set(b.proto.request(2, (p, ro) => b.platform.grant(p, ro)), off);
            b.front.produced();
            if (b.front.pushRequestsAndCheckNotify()) void b.kick();
          },
        });
    },
    run: async (b) => {
      await b.send([1]);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      const got = b.take().sort((x, y) => x - y);
      expectThat(JSON.stringify(got) === '[1,2]', `answered ${JSON.stringify(got)} of [1,2]: the request published while it served was left (a lost wake-up)`);
    },
  },
  {
    name: 'is woken by a notification after it asked for one (req_event)',
    run: async (b) => {
      await b.send([1]);
      b.take();
      expectThat(b.sring.reqEvent === ((b.front.reqProdPvt + 1) >>> 0), `req_event ${b.sring.reqEvent}: the backend did not re-arm it for the next request`);
      await b.send([2]);
      expectThat(b.take().length === 1, 'no answer after the second notification');
    },
  },
  {
    name: 'notifies only when the frontend asked (rsp_event)',
    run: async (b) => {
      b.sring.rspEvent = (b.front.rspCons + 1000) >>> 0; // "do not tell me yet"
      const before = b.platform.notified;
      await b.send([1]);
      expectThat(b.platform.notified === before, 'notified though rsp_event was far ahead');
      b.take();
    },
  },
  {
    name: 'does nothing on a spurious notification',
    run: async (b) => {
      for (let i = 0; i < 100; i++) await b.kick();
      expectThat(b.sring.rspProd === BENCH_START && b.take().length === 0, 'responses with no request');
    },
  },
  {
    name: 'survives a req_prod far past the ring (RING_REQUEST_PROD_OVERFLOW)',
    run: async (b) => {
      b.sring.reqProd = 0x7000_0000;
      await b.kick();
      expectThat(((b.sring.rspProd - b.front.rspCons) >>> 0) <= b.front.size, `rsp_prod ${b.sring.rspProd}: answered more than a ring`);
    },
  },
  {
    name: 'survives req_prod moving backwards',
    run: async (b) => {
      await b.send([1, 2]);
      b.take();
      b.sring.reqProd = (b.sring.reqProd - 5) >>> 0;
      await b.kick();
      expectThat(((b.sring.rspProd - b.front.rspCons) >>> 0) <= b.front.size, 'answered past the ring');
    },
  },
  {
    name: 'survives garbage requests (every byte 0xff)',
    run: async (b) => {
      for (let i = 0; i < 4; i++) {
        b.ringPage.fill(0xff, b.front.nextRequest(), b.proto.entryBytes);
        b.front.produced();
      }
      b.front.pushRequests();
      await b.kick();
    },
  },
  {
    name: 'survives a notification storm (1000 events with one request)',
    run: async (b) => {
      await b.send([5], { kick: false });
      await Promise.all(Array.from({ length: 1000 }, () => b.kick()));
      const got = b.take();
      expectThat(got.length === 1 && got[0] === 5, `answered ${JSON.stringify(got)}`);
    },
  },
  {
    name: 'survives its ring grant being revoked while connected',
    run: async (b) => {
      b.platform.revoke(b.ringRef);
      await b.send([1]);
    },
  },
  {
    name: 'crash mid-request (consumed, not answered): a new instance answers it, the old one cannot',
    run: async (b) => {
      b.platform.holdCopies = true;
      const ids = Array.from({ length: 8 }, (_, i) => i + 1);
      void b.send(ids).catch(() => {});
      if (!(await b.untilCopyHeld())) {
        b.platform.holdCopies = false;
        b.platform.releaseCopies();
        b.take();
        return; // this protocol's requests copy no grant: nothing is ever mid-request
      }
      // The backend "crashes" with a request taken and unanswered. A driver whose disconnect
      // lets the request in flight finish first (pvsim's blkback) is let finish.
      let stopped = false;
      const stopping = b.disconnect().then(() => (stopped = true));
      for (let i = 0; i < 50 && !stopped; i++) await new Promise((r) => setImmediate(r));
      if (!stopped) {
        b.platform.holdCopies = false;
        b.platform.releaseCopies();
      }
      await stopping;
      b.platform.holdCopies = false;
      await b.connect(); // a new instance on the same ring, from the last published response
      const after = b.ringPage.slice();
      b.platform.releaseCopies(); // the old instance's copy comes back late
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      // The released instance must not have touched the ring since (the host revokes its view).
      expectThat(
        after.every((x, i) => x === b.ringPage[i]),
        'the crashed instance wrote into the ring after it was released',
      );
      await b.kick();
      const got = b.take().sort((x, y) => x - y);
      expectThat(JSON.stringify(got) === JSON.stringify(ids), `after the restart: answered ${JSON.stringify(got)} for ${JSON.stringify(ids)}`);
    },
  },
  {
    name: 'a data grant revoked mid-request: answered (with an error), the ring goes on',
    run: async (b) => {
      b.platform.holdCopies = true;
      const before = new Set(b.platform.grants.keys());
      void b.send([1, 3]).catch(() => {});
      const held = await b.untilCopyHeld();
      for (const ref of b.platform.grants.keys()) if (!before.has(ref)) b.platform.revoke(ref); // the frontend ends its data grants
      b.platform.holdCopies = false;
      b.platform.releaseCopies();
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      await b.kick();
      const got = b.take().sort((x, y) => x - y);
      expectThat(!held || JSON.stringify(got) === '[1,3]', `answered ${JSON.stringify(got)} of [1,3]`);
      await b.send([2]);
      expectThat(JSON.stringify(b.take()) === '[2]', 'no answer after the revoked grant');
    },
  },
  {
    name: 'releases every grant and port at disconnect',
    run: async () => {
      /* checked after every case by ringConformance */
    },
  },
];

/** Cases on the connection itself: they fail it before any traffic. */
const CONNECT_CASES: readonly { name: string; keys: (b: Bench) => Record<string, string> }[] = [
  { name: 'refuses a ring-ref that is no grant', keys: () => ({ 'ring-ref': '999999', 'event-channel': '7' }) },
  { name: 'refuses a ring-ref that is not a number', keys: () => ({ 'ring-ref': '8; rm -rf /', 'event-channel': '7' }) },
  { name: 'refuses a missing event-channel', keys: (b) => ({ 'ring-ref': String(b.ringRef) }) },
  { name: 'refuses event-channel 0', keys: (b) => ({ 'ring-ref': String(b.ringRef), 'event-channel': '0' }) },
];

/**
 * Runs the catalogue against `def`: each case on a fresh bench; a case passes when its
 * checks hold, nothing escaped as an exception from dom0's side, and the device holds
 * nothing after disconnect. A backend's own refusal (it failed the device) passes the
 * hostile cases: failing is the right answer to a hostile frontend.
 */
export async function ringConformance(def: BackendUnderTest, proto: RingProtocol, bounds: { syncBoundMs?: number; asyncBoundMs?: number } = { syncBoundMs: 300, asyncBoundMs: 1000 }, only?: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  const hostile = /survives|spurious|storm|revoked/;
  for (const c of RING_CASES) {
    if (only !== undefined && c.name !== only) continue;
    const b = new Bench(def, proto, bounds);
    let detail = 'ok';
    let ok = true;
    try {
      c.setup?.(b);
      b.features();
      if (c.name.startsWith('serves requests published before')) {
        await b.send([41, 42], { kick: false });
        await b.connect();
        const got = b.take().sort();
        expectThat(JSON.stringify(got) === '[41,42]', `answered ${JSON.stringify(got)} of the 2 requests published before connect`);
      } else {
        await b.connect();
        await c.run(b);
      }
      if (b.failed && !hostile.test(c.name)) throw new Error(`the backend failed the device: ${b.failed}`);
    } catch (e) {
      if (!(hostile.test(c.name) && b.failed)) {
        ok = false;
        detail = (e as Error).message;
      }
    }
    try {
      await b.disconnect();
      if (b.held() !== 0) {
        ok = false;
        detail = `${b.held()} grant mappings or ports still held after disconnect`;
      }
    } catch (e) {
      ok = false;
      detail = `disconnect: ${(e as Error).message}`;
    }
    if (ok && b.failed && hostile.test(c.name)) detail = `failed the device: ${b.failed}`;
    results.push({ name: c.name, ok, detail });
  }
  for (const c of CONNECT_CASES) {
    if (only !== undefined && c.name !== only) continue;
    const b = new Bench(def, proto, bounds);
    b.keys = c.keys(b);
    let ok = false;
    let detail = 'connected to a frontend that gave no valid ring';
    try {
      await b.connect();
    } catch (e) {
      ok = b.held() === 0;
      detail = ok ? `refused: ${(e as Error).message}` : `refused, but still holds ${b.held()} grant mappings or ports`;
    }
    results.push({ name: c.name, ok, detail });
  }
  return results;
}

/**
 * Fault cases (issue 16, item 4, on the bench): the frontend acts on the shared page at a
 * point of the backend's own run — between two of its accesses, where io/ring.h's memory
 * ordering lets another CPU's update land — or the notifications are duplicated, lost and
 * spurious. What a correct backend survives and a classic ring bug does not.
 */
interface FaultCtx {
  b: Bench;
  /** Set before connect: hooks around the backend's every access to the ring page. */
  hooks: { before?: (a: RingAccess) => void; after?: (a: RingAccess) => void };
  /** Slots the backend wrote since the frontend last wrote them. */
  written: Set<number>;
  /** Sends `ids` (clearing their slots' written marks first). */
  send(ids: number[], opts?: { kick?: boolean }): Promise<void>;
}

const turnsOf = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

export const RING_FAULT_CASES: readonly { name: string; run: (c: FaultCtx) => Promise<void> }[] = [
  {
    name: 'fault: a request published just as the backend finishes its pass (after its rsp_prod): answered, no lost wake-up',
    run: async (c) => {
      const { b } = c;
      let armed = false;
      let fired = false;
      c.hooks.after = (a) => {
        if (a.write && a.offset === 8 && !fired) armed = true;
      };
      c.hooks.before = () => {
        if (!armed || fired) return;
        fired = true;
        // The frontend, on another CPU, publishes its next request now; it notifies only if
        // req_event says the backend asked for it.
        const off = b.front.nextRequest();
        c.written.delete((off - 64) / b.proto.entryBytes);
        b.outstanding.push(2);
        b.ringPage.set(b.proto.request(2, (p, ro) => b.platform.grant(p, ro)), off);
        b.front.produced();
        if (b.front.pushRequestsAndCheckNotify()) void b.kick();
      };
      await c.send([1]);
      await turnsOf(20);
      const got = b.take().sort((x, y) => x - y);
      expectThat(fired, 'the backend never published a response');
      expectThat(JSON.stringify(got) === '[1,2]', `answered ${JSON.stringify(got)} of [1,2]: the request published as it finished was left (a lost wake-up: the final check is missing or does not look at req_prod again)`);
    },
  },
  {
    name: 'fault: a request rewritten in its slot right after the backend first read it: the answer is the original',
    run: async (c) => {
      const { b } = c;
      const rewritten = new Set<number>();
      c.hooks.after = (a) => {
        if (a.write || a.offset < 64) return;
        const slot = Math.floor((a.offset - 64) / b.proto.entryBytes);
        if (rewritten.has(slot)) return;
        rewritten.add(slot);
        // The frontend rewrites the slot after the backend's read: a backend that reads it
        // again (a double fetch) answers what it did not check.
        b.ringPage.set(b.proto.request(7000 + slot, (p, ro) => b.platform.grant(p, ro)), 64 + slot * b.proto.entryBytes);
      };
      await c.send([1, 2, 3, 4]);
      await turnsOf(5);
      const got = b.take().sort((x, y) => x - y);
      expectThat(JSON.stringify(got) === '[1,2,3,4]', `answered ${JSON.stringify(got)} for [1,2,3,4]: the backend read a request slot again after it was rewritten (a double fetch)`);
    },
  },
  {
    name: 'fault: responses read the moment rsp_prod is published: each already in its slot',
    run: async (c) => {
      const { b } = c;
      const early: string[] = [];
      c.hooks.after = (a) => {
        if (a.write && a.offset >= 64) for (let s = Math.floor((a.offset - 64) / b.proto.entryBytes); s <= Math.floor((a.offset + a.len - 1 - 64) / b.proto.entryBytes); s++) c.written.add(s);
        if (!(a.write && a.offset === 8)) return;
        // A frontend on another CPU reads what rsp_prod now publishes, at once.
        for (let i = b.front.rspCons; i !== a.value; i = (i + 1) >>> 0) if (!c.written.has(i & (b.front.size - 1))) early.push(`response ${i}`);
      };
      await c.send([1, 2, 3]);
      await turnsOf(5);
      b.take();
      expectThat(early.length === 0, `read before it was written: ${early.slice(0, 3).join(', ')} (rsp_prod moved before the response was in its slot)`);
    },
  },
  {
    name: 'fault: notifications duplicated, spurious ones between: each id answered once, in order when the protocol says so',
    run: async (c) => {
      const { b } = c;
      for (let round = 0; round < 3; round++) {
        const ids = [1, 2, 3, 4].map((x) => x + round * 10);
        await c.send(ids, { kick: false });
        await Promise.all([b.kick(), b.kick(), b.kick()]);
        await turnsOf(5);
        const got = b.take();
        expectThat(JSON.stringify([...got].sort((x, y) => x - y)) === JSON.stringify(ids), `round ${round}: answered ${JSON.stringify(got)} for ${JSON.stringify(ids)}`);
      }
    },
  },
  {
    name: 'fault: a notification lost, then a spurious one: the requests are answered then',
    run: async (c) => {
      const { b } = c;
      await c.send([1, 2], { kick: false }); // the kick is lost
      await turnsOf(5);
      b.take(); // whatever was answered so far (nothing, unless the backend polls)
      await b.kick(); // a spurious event: the backend looks again
      await turnsOf(5);
      b.take();
      expectThat(b.outstanding.length === 0, `still unanswered after the next event: ${JSON.stringify(b.outstanding)}`);
    },
  },
];

/** Runs the fault cases against `def` (`pvsim ringtest faults --driver <module>`). */
export async function ringFaults(def: BackendUnderTest, proto: RingProtocol, bounds: { syncBoundMs?: number; asyncBoundMs?: number } = { syncBoundMs: 300, asyncBoundMs: 1000 }, only?: string): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const fc of RING_FAULT_CASES) {
    if (only !== undefined && fc.name !== only) continue;
    const b = new Bench(def, proto, bounds);
    const hooks: FaultCtx['hooks'] = {};
    const written = new Set<number>();
    b.platform.ringMemory = (page) => new HookedMemory(page, { before: (a) => hooks.before?.(a), after: (a) => hooks.after?.(a) });
    const ctx: FaultCtx = {
      b,
      hooks,
      written,
      send: async (ids, opts) => {
        for (let k = 0; k < ids.length; k++) written.delete((b.front.reqProdPvt + k) & (b.front.size - 1));
        await b.send(ids, opts);
      },
    };
    let ok = true;
    let detail = 'ok';
    try {
      b.features();
      await b.connect();
      await fc.run(ctx);
      if (b.failed) throw new Error(`the backend failed the device: ${b.failed}`);
    } catch (e) {
      ok = false;
      detail = (e as Error).message;
    }
    hooks.before = hooks.after = undefined;
    try {
      await b.disconnect();
    } catch (e) {
      ok = false;
      detail = `disconnect: ${(e as Error).message}`;
    }
    results.push({ name: fc.name, ok, detail });
  }
  return results;
}

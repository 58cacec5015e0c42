// The netif conformance suite (xen/io/netif.h) for a network backend: the handshake in
// every order, tx packets with each flag (csum_blank, data_validated, more_data,
// extra_info with GSO and bad extras), the slot limits, every consumed tx slot answered
// exactly once (NULL for an extra-info slot), rx buffers filled and answered with their
// length, and hostile requests (bad grants, offsets past the page, inconsistent sizes,
// garbage in padding, a request rewritten after it was read). The frontend is
// TypeScript on the ring library, both rings' indices across the 2^32 wrap; frames are
// seen and injected through the subject's tap (pvsim's netback: a port on its bridge).

import {
  NETIF_RSP,
  NETIF_RX_REQUEST,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETTXF,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_EXTRA_TYPE,
  XEN_NETIF_GSO_TYPE,
  XEN_NETIF_NR_SLOTS_MIN,
  readNetifRxResponse,
  readNetifTxResponse,
  writeNetifExtraInfo,
  writeNetifRxRequest,
  writeNetifTxRequest,
  type NetifExtraInfo,
} from '../../../protocol/xen/netif.ts';
import { FrontRing, SharedRing } from '../../../protocol/ring.ts';
import { XenbusState } from '../../../protocol/xen/xenbus.ts';
import type { BackendDriver, DeviceInstance } from '../../../dom0/backends/xenbus.ts';
import { UserBackendDriver } from '../../../dom0/driver/host.ts';
import { isBackend } from '../../../dom0/driver/index.ts';
import { BENCH_START, FakePlatform, type BackendUnderTest } from '../harness.ts';
import { expectThat, runConformance, turns, type ConformanceCase, type ConformanceResult } from './common.ts';
import { HANDSHAKE_CASES, openHandshake } from './xenbus.ts';

const PAGE = 4096;
const EVTCHN = 7;

/** Where the backend's frames are seen and injected (a bridge port, a tap). */
export interface NetifTap {
  /** Frames the backend sent on (from the guest's tx ring). */
  readonly sent: Uint8Array[];
  /** A frame for the guest (to its rx ring). */
  inject(frame: Uint8Array): Promise<void> | void;
}

export interface NetifSubject {
  def: BackendUnderTest;
  backendKeys: Record<string, string>;
  /** The tap of a connected backend; without it the cases that look at frames fail with that reason. */
  tap?(driver: BackendDriver): NetifTap;
}

/** The frontend's keys as netfront writes them (single queue, one event channel, rx copy). */
export function netfrontKeys(txRef: number, rxRef: number, evtchn = EVTCHN): Record<string, string> {
  return { 'tx-ring-ref': String(txRef), 'rx-ring-ref': String(rxRef), 'event-channel': String(evtchn), 'request-rx-copy': '1', 'feature-rx-notify': '1', 'feature-sg': '1' };
}

type TxSlot = { gref: number; offset: number; flags: number; id: number; size: number } | { extra: NetifExtraInfo };

export class NetBench {
  readonly platform = new FakePlatform();
  readonly driver: BackendDriver;
  readonly txPage = new Uint8Array(PAGE);
  readonly rxPage = new Uint8Array(PAGE);
  readonly tx: FrontRing;
  readonly rx: FrontRing;
  readonly txSring: SharedRing;
  readonly dev: DeviceInstance = { kind: 'vif', domid: 1, devid: 0, backend: '/local/domain/0/backend/vif/1/0', frontend: '/local/domain/1/device/vif/0', state: XenbusState.InitWait };
  failed: string | null = null;
  tap: NetifTap | null = null;
  features: Record<string, string> = {};
  constructor(readonly subject: NetifSubject) {
    const backendKey = (_d: DeviceInstance, k: string) => subject.backendKeys[k];
    this.driver = isBackend(subject.def)
      ? new UserBackendDriver(subject.def, this.platform, backendKey, { syncBoundMs: 300, asyncBoundMs: 1000, onFatal: (_d, m) => (this.failed = m) })
      : subject.def.make(this.platform, backendKey);
    this.dev.kind = this.driver.kind;
    this.txSring = new SharedRing(this.txPage, NETIF_TX_RING_ENTRY_SIZE);
    this.txSring.init(BENCH_START);
    this.tx = FrontRing.attach(this.txSring, BENCH_START);
    const rxs = new SharedRing(this.rxPage, NETIF_RX_RING_ENTRY_SIZE);
    rxs.init(BENCH_START);
    this.rx = FrontRing.attach(rxs, BENCH_START);
  }
  async connect(): Promise<void> {
    this.features = this.driver.features(this.dev);
    const keys = netfrontKeys(this.platform.grant(this.txPage), this.platform.grant(this.rxPage));
    await this.driver.connect(this.dev, (k) => keys[k]);
    this.tap = this.subject.tap?.(this.driver) ?? null;
  }
  needTap(): NetifTap {
    expectThat(this.tap !== null, 'the subject has no tap: frames cannot be seen or injected');
    return this.tap;
  }
  page(bytes?: Uint8Array, readonly = true): number {
    const p = new Uint8Array(PAGE);
    if (bytes) p.set(bytes);
    return this.platform.grant(p, readonly);
  }
  /** Publishes tx slots and notifies. Returns the slots' ring offsets. */
  async txSend(slots: readonly TxSlot[], kick = true): Promise<number[]> {
    const offs: number[] = [];
    for (const s of slots) {
      const off = this.tx.nextRequest();
      const dv = new DataView(this.txPage.buffer, off, NETIF_TX_RING_ENTRY_SIZE);
      this.txPage.fill(0, off, off + NETIF_TX_RING_ENTRY_SIZE);
      if ('extra' in s) writeNetifExtraInfo(dv, 0, s.extra);
      else writeNetifTxRequest(dv, 0, s);
      this.tx.produced();
      offs.push(off);
    }
    const notify = this.tx.pushRequestsAndCheckNotify();
    if (kick || notify) await this.platform.kick(EVTCHN);
    await turns(3);
    return offs;
  }
  txTake(): { id: number; status: number }[] {
    const out: { id: number; status: number }[] = [];
    const snap = this.tx.snapshotResponses();
    expectThat(!snap.overflow, `tx rsp_prod ${snap.prod}: more responses than requests`);
    for (let i = 0; i < snap.count; i++) {
      const r = this.tx.copyResponse();
      out.push(readNetifTxResponse(new DataView(r.buffer, r.byteOffset, r.byteLength), 0));
      this.tx.consumed();
    }
    return out;
  }
  /** Posts rx buffers (one granted page each); their pages by id. */
  async rxPost(ids: number[], opts: { gref?: number; readonly?: boolean; pad?: number } = {}): Promise<Map<number, Uint8Array>> {
    const pages = new Map<number, Uint8Array>();
    for (const id of ids) {
      const p = new Uint8Array(PAGE);
      pages.set(id, p);
      const off = this.rx.nextRequest();
      const dv = new DataView(this.rxPage.buffer, off, NETIF_RX_RING_ENTRY_SIZE);
      writeNetifRxRequest(dv, 0, { id, gref: opts.gref ?? this.platform.grant(p, opts.readonly ?? false) });
      if (opts.pad !== undefined) dv.setUint16(NETIF_RX_REQUEST.pad, opts.pad, true);
      this.rx.produced();
    }
    this.rx.pushRequests();
    await this.platform.kick(EVTCHN);
    await turns(3);
    return pages;
  }
  rxTake(): { id: number; offset: number; flags: number; status: number }[] {
    const out: { id: number; offset: number; flags: number; status: number }[] = [];
    const snap = this.rx.snapshotResponses();
    expectThat(!snap.overflow, `rx rsp_prod ${snap.prod}: more responses than buffers`);
    for (let i = 0; i < snap.count; i++) {
      const r = this.rx.copyResponse();
      out.push(readNetifRxResponse(new DataView(r.buffer, r.byteOffset, r.byteLength), 0));
      this.rx.consumed();
    }
    return out;
  }
  held(): number {
    return this.platform.maps.size + this.platform.ports.size;
  }
}

/** An Ethernet frame to everyone (so any bridge floods it), `len` bytes, payload a pattern. */
export function ethFrame(len: number, seed = 1): Uint8Array {
  const f = Uint8Array.from({ length: len }, (_, i) => (i * 13 + seed) & 0xff);
  // Broadcast, from a unicast Xen OUI source, a local experimental ethertype (no stack
  // parses it); a frame too short for the header gets what fits.
  const head = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x16, 0x3e, 0x00, 0x00, seed & 0xff, 0x88, 0xb5];
  f.set(head.slice(0, len));
  return f;
}

const same = (a: Uint8Array | undefined, b: Uint8Array) => !!a && a.length === b.length && a.every((x, i) => x === b[i]);
const statuses = (rs: { id: number; status: number }[]) => JSON.stringify(rs.map((r) => `${r.id}:${r.status}`));
const one = (g: number, f: Uint8Array, id: number, flags = 0): TxSlot => ({ gref: g, offset: 0, flags, id, size: f.length });
const isError = (s: number) => s === NETIF_RSP.ERROR || s === NETIF_RSP.DROPPED;

export const NETIF_CASES: readonly ConformanceCase<NetBench>[] = [
  {
    name: 'netif: tx one slot: answered OKAY, the frame sent as written',
    run: async (b) => {
      const f = ethFrame(60);
      const tap = b.needTap();
      await b.txSend([one(b.page(f), f, 1)]);
      const rs = b.txTake();
      expectThat(rs.length === 1 && rs[0]!.id === 1 && rs[0]!.status === NETIF_RSP.OKAY, `responses ${statuses(rs)}`);
      expectThat(same(tap.sent.at(-1), f), `frame sent: ${tap.sent.at(-1)?.length ?? 'none'} bytes of ${f.length}`);
    },
  },
  {
    name: 'netif: tx at an offset within the page',
    run: async (b) => {
      const f = ethFrame(200, 2);
      const p = new Uint8Array(PAGE);
      p.set(f, 3000);
      const tap = b.needTap();
      await b.txSend([{ gref: b.page(p), offset: 3000, flags: 0, id: 2, size: f.length }]);
      expectThat(b.txTake()[0]?.status === NETIF_RSP.OKAY, 'not OKAY');
      expectThat(same(tap.sent.at(-1), f), 'wrong bytes sent');
    },
  },
  {
    name: 'netif: tx more_data: fragments make one frame, each slot answered OKAY',
    run: async (b) => {
      const f = ethFrame(3000, 3);
      const tap = b.needTap();
      const parts = [f.subarray(0, 1000), f.subarray(1000, 2500), f.subarray(2500)];
      await b.txSend([
        { gref: b.page(parts[0]), offset: 0, flags: NETTXF.more_data, id: 10, size: f.length },
        { gref: b.page(parts[1]), offset: 0, flags: NETTXF.more_data, id: 11, size: parts[1]!.length },
        { gref: b.page(parts[2]), offset: 0, flags: 0, id: 12, size: parts[2]!.length },
      ]);
      const rs = b.txTake();
      expectThat(rs.length === 3 && rs.every((r) => r.status === NETIF_RSP.OKAY), `responses ${statuses(rs)}`);
      expectThat(JSON.stringify(rs.map((r) => r.id).sort()) === '[10,11,12]', `ids ${statuses(rs)}`);
      expectThat(same(tap.sent.at(-1), f), `frame ${tap.sent.at(-1)?.length ?? 'none'} bytes of ${f.length}`);
    },
  },
  {
    name: 'netif: tx csum_blank and data_validated: sent, answered OKAY',
    run: async (b) => {
      const tap = b.needTap();
      for (const [i, flag] of [NETTXF.csum_blank, NETTXF.data_validated, NETTXF.csum_blank | NETTXF.data_validated].entries()) {
        const f = ethFrame(80, 10 + i);
        await b.txSend([one(b.page(f), f, 20 + i, flag)]);
        const rs = b.txTake();
        expectThat(rs.length === 1 && rs[0]!.status === NETIF_RSP.OKAY, `flags ${flag}: ${statuses(rs)}`);
      }
      expectThat(tap.sent.length === 3, `${tap.sent.length} frames sent of 3`);
    },
  },
  {
    name: 'netif: tx extra_info (GSO): the extra slot answered NULL, the data slot once',
    run: async (b) => {
      const f = ethFrame(100, 4);
      await b.txSend([one(b.page(f), f, 30, NETTXF.extra_info), { extra: { type: XEN_NETIF_EXTRA_TYPE.GSO, flags: 0, gso: { size: 1448, type: XEN_NETIF_GSO_TYPE.TCPV4, features: 0 } } }]);
      const rs = b.txTake();
      expectThat(rs.length === 2, `${rs.length} responses for 2 slots`);
      expectThat(rs.some((r) => r.status === NETIF_RSP.NULL), `no NETIF_RSP_NULL for the extra slot: ${statuses(rs)}`);
      const data = rs.filter((r) => r.status !== NETIF_RSP.NULL);
      expectThat(data.length === 1 && data[0]!.id === 30, `data slot answers ${statuses(data)}`);
      if (b.features['feature-gso-tcpv4'] === '1') expectThat(data[0]!.status === NETIF_RSP.OKAY, `GSO offered but ${statuses(data)}`);
    },
  },
  {
    name: 'netif: tx a chain of extra_info slots (EXTRA_FLAG_MORE) then data',
    run: async (b) => {
      const f = ethFrame(64, 5);
      const mcast = { type: XEN_NETIF_EXTRA_TYPE.MCAST_ADD, flags: 0, mcast: { addr: Uint8Array.of(1, 0, 0x5e, 0, 0, 1) } } as const;
      await b.txSend([one(b.page(f), f, 40, NETTXF.extra_info), { extra: { type: XEN_NETIF_EXTRA_TYPE.GSO, flags: XEN_NETIF_EXTRA_FLAG_MORE, gso: { size: 1448, type: XEN_NETIF_GSO_TYPE.TCPV4, features: 0 } } }, { extra: mcast }]);
      const rs = b.txTake();
      expectThat(rs.length === 3, `${rs.length} responses for 3 slots: ${statuses(rs)}`);
      expectThat(rs.filter((r) => r.status === NETIF_RSP.NULL).length === 2, `extra slots not answered NULL: ${statuses(rs)}`);
    },
  },
  {
    name: 'netif: tx an extra_info of type NONE or past MAX is an error, every slot answered',
    hostile: true,
    run: async (b) => {
      const f = ethFrame(64, 6);
      await b.txSend([one(b.page(f), f, 50, NETTXF.extra_info), { extra: { type: 77, flags: 0, raw: new Uint8Array(6) } }]);
      const rs = b.txTake();
      expectThat(rs.length === 2, `${rs.length} responses for 2 slots`);
      expectThat(rs.some((r) => r.id === 50 && isError(r.status)), `the packet not refused: ${statuses(rs)}`);
      await b.txSend([one(b.page(f), f, 51)]);
      expectThat(b.txTake()[0]?.status === NETIF_RSP.OKAY, 'the ring did not go on');
    },
  },
  {
    name: `netif: tx a packet of XEN_NETIF_NR_SLOTS_MIN (${XEN_NETIF_NR_SLOTS_MIN}) slots is accepted`,
    run: async (b) => {
      const per = 100;
      const f = ethFrame(per * XEN_NETIF_NR_SLOTS_MIN, 7);
      const tap = b.needTap();
      const slots: TxSlot[] = [];
      for (let i = 0; i < XEN_NETIF_NR_SLOTS_MIN; i++) slots.push({ gref: b.page(f.subarray(i * per, (i + 1) * per)), offset: 0, flags: i < XEN_NETIF_NR_SLOTS_MIN - 1 ? NETTXF.more_data : 0, id: 100 + i, size: i === 0 ? f.length : per });
      await b.txSend(slots);
      const rs = b.txTake();
      expectThat(rs.length === XEN_NETIF_NR_SLOTS_MIN && rs.every((r) => r.status === NETIF_RSP.OKAY), `responses ${statuses(rs)}`);
      expectThat(same(tap.sent.at(-1), f), 'the frame was not sent whole');
    },
  },
  {
    name: 'netif: tx a more_data chain longer than the ring: refused or failed, never hung',
    hostile: true,
    run: async (b) => {
      const f = ethFrame(64, 8);
      const g = b.page(f);
      const slots: TxSlot[] = Array.from({ length: b.tx.size }, (_, i) => ({ gref: g, offset: 0, flags: NETTXF.more_data, id: i, size: 64 }));
      await b.txSend(slots);
      const rs = b.txTake();
      expectThat(rs.every((r) => r.status !== NETIF_RSP.OKAY), `a chain that never ends was answered OKAY: ${statuses(rs).slice(0, 80)}`);
    },
  },
  {
    name: 'netif: tx size smaller than an Ethernet header is an error',
    hostile: true,
    run: async (b) => {
      const f = ethFrame(10, 9);
      await b.txSend([one(b.page(f), f, 60)]);
      const rs = b.txTake();
      expectThat(rs.length === 1 && isError(rs[0]!.status), `responses ${statuses(rs)}`);
    },
  },
  {
    name: 'netif: tx offset + size past the page is an error',
    hostile: true,
    run: async (b) => {
      await b.txSend([{ gref: b.page(ethFrame(100)), offset: 4000, flags: 0, id: 61, size: 200 }]);
      const rs = b.txTake();
      expectThat(rs.length === 1 && isError(rs[0]!.status), `responses ${statuses(rs)}`);
    },
  },
  {
    name: "netif: tx a first slot's size smaller than its fragments is an error, every slot answered",
    hostile: true,
    run: async (b) => {
      const f = ethFrame(200, 11);
      await b.txSend([
        { gref: b.page(f), offset: 0, flags: NETTXF.more_data, id: 62, size: 100 },
        { gref: b.page(f), offset: 0, flags: 0, id: 63, size: 150 },
      ]);
      const rs = b.txTake();
      expectThat(rs.length === 2, `${rs.length} responses for 2 slots`);
      expectThat(rs.every((r) => isError(r.status)), `an inconsistent packet answered ${statuses(rs)}`);
    },
  },
  {
    name: 'netif: tx a bad data grant is an error; the ring goes on',
    hostile: true,
    run: async (b) => {
      await b.txSend([{ gref: 0x7fff_0000, offset: 0, flags: 0, id: 64, size: 60 }]);
      const rs = b.txTake();
      expectThat(rs.length === 1 && isError(rs[0]!.status), `responses ${statuses(rs)}`);
      const f = ethFrame(60);
      await b.txSend([one(b.page(f), f, 65)]);
      expectThat(b.txTake()[0]?.status === NETIF_RSP.OKAY, 'the ring did not go on');
    },
  },
  {
    name: 'netif: tx a request rewritten after it was read is carried out as read',
    hostile: true,
    run: async (b) => {
      const f = ethFrame(120, 12);
      b.platform.holdCopies = true;
      const sent = b.txSend([one(b.page(f), f, 66)]);
      const held = await new Promise<boolean>((res) => {
        let n = 0;
        const poll = () => (b.platform.heldCopies.length ? res(true) : n++ > 200 ? res(false) : setImmediate(poll));
        poll();
      });
      const off = b.txSring.slot((b.tx.reqProdPvt - 1) >>> 0);
      writeNetifTxRequest(new DataView(b.txPage.buffer, off, NETIF_TX_RING_ENTRY_SIZE), 0, { gref: 0x7fff_0000, offset: 4090, flags: NETTXF.more_data, id: 99, size: 0xffff });
      b.platform.holdCopies = false;
      b.platform.releaseCopies();
      await sent;
      await turns(10);
      await b.platform.kick(EVTCHN);
      const rs = b.txTake();
      expectThat(!held || (rs.length === 1 && rs[0]!.id === 66), `responses ${statuses(rs)}: want one for id 66`);
    },
  },
  {
    name: 'netif: rx a frame fills a posted buffer, answered with its id and length',
    run: async (b) => {
      const tap = b.needTap();
      const pages = await b.rxPost([7]);
      const f = ethFrame(90, 13);
      await tap.inject(f);
      await turns(5);
      const rs = b.rxTake();
      expectThat(rs.length === 1 && rs[0]!.id === 7 && rs[0]!.status === f.length, `rx responses ${JSON.stringify(rs)}`);
      const p = pages.get(7)!;
      expectThat(same(p.subarray(rs[0]!.offset, rs[0]!.offset + f.length), f), 'the frame is not in the buffer at the offset answered');
    },
  },
  {
    name: 'netif: rx a frame with no buffer posted waits (or is dropped), and no response comes without a request',
    run: async (b) => {
      const tap = b.needTap();
      const f = ethFrame(70, 14);
      await tap.inject(f);
      await turns(5);
      expectThat(b.rxTake().length === 0, 'an rx response with no buffer posted');
      await b.rxPost([8]);
      await turns(5);
      const rs = b.rxTake();
      expectThat(rs.length <= 1 && rs.every((r) => r.id === 8), `rx responses ${JSON.stringify(rs)}`);
    },
  },
  {
    name: 'netif: rx a buffer whose grant is bad or read-only is answered with an error; the next buffer works',
    hostile: true,
    run: async (b) => {
      const tap = b.needTap();
      await b.rxPost([1], { gref: 0x7fff_0000 });
      await b.rxPost([2], { readonly: true });
      await tap.inject(ethFrame(60, 15));
      await tap.inject(ethFrame(60, 16));
      await turns(5);
      const rs = b.rxTake();
      expectThat(rs.every((r) => r.status < 0 || r.status === 0), `a bad buffer was answered as filled: ${JSON.stringify(rs)}`);
      await b.rxPost([3]);
      await tap.inject(ethFrame(60, 17));
      await turns(5);
      const after = b.rxTake();
      expectThat(after.some((r) => r.id === 3 && r.status === 60), `a good buffer after them: ${JSON.stringify(after)}`);
    },
  },
  {
    name: 'netif: rx garbage in a request pad is ignored',
    run: async (b) => {
      const tap = b.needTap();
      await b.rxPost([9], { pad: 0xbeef });
      await tap.inject(ethFrame(64, 18));
      await turns(5);
      const rs = b.rxTake();
      expectThat(rs.length === 1 && rs[0]!.id === 9 && rs[0]!.status === 64, `rx responses ${JSON.stringify(rs)}`);
    },
  },
  {
    name: 'netif: rx req_prod far past the ring: no more responses than a ring',
    hostile: true,
    run: async (b) => {
      const tap = b.needTap();
      new DataView(b.rxPage.buffer).setUint32(0, 0x7000_0000, true); // rx req_prod
      await b.platform.kick(EVTCHN);
      for (let i = 0; i < 5; i++) await tap.inject(ethFrame(60, i));
      await turns(5);
      const dv = new DataView(b.rxPage.buffer);
      const answered = (dv.getUint32(8, true) - BENCH_START) >>> 0; // rx rsp_prod
      expectThat(answered <= b.rx.size, `rx rsp_prod moved ${answered}: past the ring`);
    },
  },
];

/** Every case of the netif suite: the handshake with netfront's keys, then netif's own. */
export async function netifConformance(s: NetifSubject, only?: string): Promise<ConformanceResult[]> {
  const out: ConformanceResult[] = [];
  out.push(
    ...(await runConformance(HANDSHAKE_CASES, () => openHandshake({ def: s.def, backendKeys: s.backendKeys, frontendKeys: (p) => netfrontKeys(p.grant(new Uint8Array(PAGE)), p.grant(new Uint8Array(PAGE))) }), only)),
  );
  out.push(
    ...(await runConformance(
      NETIF_CASES,
      async () => {
        const b = new NetBench(s);
        await b.connect();
        return {
          ctx: b,
          gaveUp: () => b.failed,
          close: async () => {
            await b.driver.disconnect(b.dev);
            return b.held() ? `${b.held()} grant mappings or ports still held after disconnect` : null;
          },
        };
      },
      only,
    )),
  );
  return out;
}

/** pvsim's netback as the subject; its tap is a port on the vif's bridge. */
export async function pvsimNetback(): Promise<NetifSubject> {
  const { NetbackDriver } = await import('../../../dom0/backends/net/driver.ts');
  return {
    def: { type: 'vif', make: (p, k) => new NetbackDriver(p, k) },
    backendKeys: { mac: '00:16:3e:00:00:01', bridge: 'xenbr0' },
    tap(driver) {
      const bridge = (driver as InstanceType<typeof NetbackDriver>).bridge('xenbr0');
      const sent: Uint8Array[] = [];
      const port = { name: 'ringtest0', deliver: (f: Uint8Array) => void sent.push(f.slice()) };
      bridge.attach(port);
      return { sent, inject: (f) => bridge.forward(port, f) };
    },
  };
}

// netback, the learning bridge and the pcap capture, in dom0's daemons on the in-process
// platform. Each guest's netfront is played in TypeScript through the guest's own memory:
// granted tx/rx ring pages and buffers, an unbound event channel, its XenStore connection.
// Notifications go through the real event channels and dom0 dispatches.

import { mkdtempSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Dom0Daemons } from '../dom0/daemons.ts';
import { RX_DRAIN_NS } from '../dom0/backends/net/netback.ts';
import { machineAndPlatform } from './helpers/platforms.ts';
import { XsClient } from '../dom0/xenstore/index.ts';
import { addDevice, backendPath, frontendPath, vifDevice } from '../dom0/toolstack/devices.ts';
import { parsePcap, LINKTYPE_ETHERNET, PCAP_MAGIC_NS } from '../dom0/backends/net/pcap.ts';
import { onesSum } from '../dom0/backends/net/csum.ts';
import { FrontRing, SharedRing } from '../protocol/ring.ts';
import {
  NETIF_RSP,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETRXF,
  NETTXF,
  XEN_NETIF_EXTRA_TYPE,
  readNetifRxResponse,
  readNetifTxResponse,
  writeNetifExtraInfo,
  XEN_NETIF_EXTRA_FLAG_MORE,
  writeNetifRxRequest,
  writeNetifTxRequest,
  type NetifExtraInfo,
  type NetifTxRequest,
} from '../protocol/xen/netif.ts';
import { GTF } from '../protocol/xen/grant_table.ts';
import { XenbusState as S } from '../protocol/xen/xenbus.ts';
import { evtchnAllocUnbound, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { clearPending2l as clearPending } from '../hypervisor/evtchn/two_level.ts';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import { MmGuest, MiB } from './mm_helpers.ts';
import { gateCopies, recordLateWrites } from './helpers/observe_writes.ts';

const MACS = ['00:16:3e:00:00:01', '00:16:3e:00:00:02', '00:16:3e:00:00:03'];
const BCAST = 'ff:ff:ff:ff:ff:ff';
const macBytes = (m: string) => Uint8Array.from(m.split(':').map((h) => parseInt(h, 16)));

/** An Ethernet frame of `len` bytes in all (ethertype 0x88b5, local experimental) with a recognisable payload. */
function ethFrame(dst: string, src: string, len: number, seed = 0): Uint8Array {
  const f = new Uint8Array(len);
  f.set(macBytes(dst), 0);
  f.set(macBytes(src), 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (let i = 14; i < len; i++) f[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return f;
}

const TX_PAGES = 20;
const RX_PAGES = 24;
const TX_RING_REF = 8;
const RX_RING_REF = 9;
const TX_REF0 = 100;
const RX_REF0 = 200;

interface Received {
  data: Uint8Array;
  flags: number[];
  statuses: number[];
}

/** A netfront played from the test: rings, buffers and grants in the guest's memory. */
class Front {
  readonly tx: FrontRing;
  readonly rx: FrontRing;
  readonly txDv: DataView;
  readonly rxDv: DataView;
  readonly port: number;
  readonly txPages: Uint8Array[] = [];
  readonly rxPages: Uint8Array[] = [];
  readonly fe: string;
  readonly be: string;
  private readonly freeRx: number[] = [];
  private nextId = 0;
  private readonly txRingMfn: number;
  private readonly rxRingMfn: number;

  constructor(
    readonly hv: Hypervisor,
    readonly g: MmGuest,
    readonly mac: string,
    readonly xs: XsClient,
  ) {
    this.fe = frontendPath('vif', g.domid, 0);
    this.be = backendPath('vif', g.domid, 0);
    const page = (i: number, ref: number) => {
      const mfn = g.freeMfn(i);
      g.grant(ref, 0, mfn, GTF.permit_access);
      return hv.frames.frameStorage(mfn);
    };
    this.txRingMfn = g.freeMfn(0);
    this.rxRingMfn = g.freeMfn(1);
    const txRing = page(0, TX_RING_REF);
    const rxRing = page(1, RX_RING_REF);
    for (let k = 0; k < TX_PAGES; k++) this.txPages.push(page(2 + k, TX_REF0 + k));
    for (let k = 0; k < RX_PAGES; k++) {
      this.rxPages.push(page(2 + TX_PAGES + k, RX_REF0 + k));
      this.freeRx.push(k);
    }
    const ts = new SharedRing(txRing, NETIF_TX_RING_ENTRY_SIZE);
    ts.init();
    const rs = new SharedRing(rxRing, NETIF_RX_RING_ENTRY_SIZE);
    rs.init();
    this.tx = new FrontRing(ts);
    this.rx = new FrontRing(rs);
    this.txDv = new DataView(txRing.buffer, txRing.byteOffset, txRing.byteLength);
    this.rxDv = new DataView(rxRing.buffer, rxRing.byteOffset, rxRing.byteLength);
    this.port = evtchnAllocUnbound(hv, g.domain, g.domid, 0);
  }

  /**
   * The test writes the ring pages directly; a guest's stores to a page dom0 has mapped are
   * tracked by the hypervisor (and sent to a dom0 in its own process), so tell it, as the
   * guest's own store instructions would.
   */
  private stored(ring: 'tx' | 'rx', off: number, len: number): void {
    this.hv.mem.onStore?.((ring === 'tx' ? this.txRingMfn : this.rxRingMfn) * 4096 + off, len);
  }

  /** A hostile frontend: writes the tx ring's req_prod as it likes (reported as a guest store). */
  setTxReqProd(v: number): void {
    this.tx.sring.reqProd = v;
    this.stored('tx', 0, 4);
  }

  /** Publishes the rings as Linux's netfront does (overrides: a value, or null to leave a key out), then Connected. */
  async connect(overrides: Record<string, string | null> = {}): Promise<void> {
    const keys: Record<string, string | null> = {
      'tx-ring-ref': String(TX_RING_REF),
      'rx-ring-ref': String(RX_RING_REF),
      'event-channel': String(this.port),
      'request-rx-copy': '1',
      'feature-rx-notify': '1',
      'feature-sg': '1',
      ...overrides,
    };
    for (const [k, v] of Object.entries(keys)) if (v !== null) await this.xs.write(`${this.fe}/${k}`, v);
    await this.xs.write(`${this.fe}/state`, String(S.Connected));
  }

  async backendState(): Promise<number> {
    return Number(await this.xs.read(`${this.be}/state`));
  }

  /** Queues a raw tx request (no push). */
  txReq(r: Omit<NetifTxRequest, 'id'> & { id?: number }): number {
    const id = r.id ?? this.nextId++ & 0xffff;
    const off = this.tx.nextRequest();
    writeNetifTxRequest(this.txDv, off, { ...r, id });
    this.stored('tx', off, NETIF_TX_RING_ENTRY_SIZE);
    this.tx.produced();
    return id;
  }

  /** Queues an extra-info slot (no push). */
  txExtra(e: NetifExtraInfo): void {
    const off = this.tx.nextRequest();
    for (let i = 0; i < NETIF_TX_RING_ENTRY_SIZE; i++) this.txDv.setUint8(off + i, 0);
    writeNetifExtraInfo(this.txDv, off, e);
    this.stored('tx', off, NETIF_TX_RING_ENTRY_SIZE);
    this.tx.produced();
  }

  /** Publishes queued tx requests; notifies dom0 when the ring says so. */
  pushTx(): boolean {
    const n = this.tx.pushRequestsAndCheckNotify();
    this.stored('tx', 0, 16);
    if (n) expect(evtchnSend(this.hv, this.g.domain, this.port)).toBe(0);
    return n;
  }

  /**
   * Queues a frame in fragments of the given own lengths (fragment j in tx page base + j,
   * at an offset that varies), Xen's way: the first slot's size is the whole length.
   */
  queueFrame(frame: Uint8Array, split: number[] = [frame.length], base = 0, firstFlags = 0): number[] {
    let pos = 0;
    const ids: number[] = [];
    split.forEach((len, j) => {
      const offset = (j * 97) % (4096 - len + 1);
      this.txPages[base + j]!.set(frame.subarray(pos, pos + len), offset);
      pos += len;
      ids.push(this.txReq({ gref: TX_REF0 + base + j, offset, flags: (j < split.length - 1 ? NETTXF.more_data : 0) | (j === 0 ? firstFlags : 0), size: j === 0 ? frame.length : len }));
    });
    expect(pos).toBe(frame.length);
    return ids;
  }

  send(frame: Uint8Array, split?: number[], base = 0, firstFlags = 0): number[] {
    const ids = this.queueFrame(frame, split, base, firstFlags);
    this.pushTx();
    return ids;
  }

  /** Posts `n` rx buffers; true if the ring asked for a notification (which was sent). */
  post(n: number): boolean {
    for (let i = 0; i < n; i++) {
      const k = this.freeRx.shift();
      if (k === undefined) throw new Error('out of rx buffers');
      const off = this.rx.nextRequest();
      writeNetifRxRequest(this.rxDv, off, { id: k, gref: RX_REF0 + k });
      this.stored('rx', off, NETIF_RX_RING_ENTRY_SIZE);
      this.rx.produced();
    }
    const notify = this.rx.pushRequestsAndCheckNotify();
    this.stored('rx', 0, 16);
    if (notify) expect(evtchnSend(this.hv, this.g.domain, this.port)).toBe(0);
    return notify;
  }

  txResponses(): { id: number; status: number }[] {
    const out = [];
    do {
      while (this.tx.unconsumedResponses() > 0) {
        out.push(readNetifTxResponse(this.txDv, this.tx.nextResponse()));
        this.tx.consumed();
      }
    } while (this.tx.finalCheckForResponses()); // as netfront: ask to be told of the next one
    this.stored('tx', 0, 16);
    return out;
  }

  /** Received packets, reassembled from their rx slots; the buffers go back to the free list. */
  received(): Received[] {
    const out: Received[] = [];
    let cur: { parts: Uint8Array[]; flags: number[]; statuses: number[] } | null = null;
    while (this.rx.unconsumedResponses() > 0 || (this.stored('rx', 0, 16), this.rx.finalCheckForResponses())) {
      const r = readNetifRxResponse(this.rxDv, this.rx.nextResponse());
      this.rx.consumed();
      this.freeRx.push(r.id);
      cur ??= { parts: [], flags: [], statuses: [] };
      cur.flags.push(r.flags);
      cur.statuses.push(r.status);
      if (r.status > 0) cur.parts.push(this.rxPages[r.id]!.slice(r.offset, r.offset + r.status));
      if (!(r.flags & NETRXF.more_data)) {
        const data = new Uint8Array(cur.parts.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of cur.parts) {
          data.set(p, o);
          o += p.length;
        }
        out.push({ data, flags: cur.flags, statuses: cur.statuses });
        cur = null;
      }
    }
    this.stored('rx', 0, 16);
    return out;
  }

  /** Whether dom0 notified this frontend since the last look (clears the pending bit). */
  notified(): boolean {
    const p = this.g.domain.evtchn!.shared.isPending(this.port);
    if (p) clearPending(this.g.domain, this.port);
    return p;
  }
}

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function testbed(n: number, opts: { pcap?: string; bridges?: string[]; connect?: boolean; overrides?: Record<string, string | null>[]; platform?: 'local' | 'remote' } = {}) {
  const { hv, platform } = await machineAndPlatform(opts.platform ?? 'local', closers);
  const daemons = new Dom0Daemons(platform, { blockBackend: false, pcap: opts.pcap });
  closers.push(() => daemons.close());
  const fronts: Front[] = [];
  for (let i = 0; i < n; i++) {
    const g = MmGuest.create(hv, { name: `net${i}` });
    hv.pause(g.domain); // the frontend is played from here; the guest's own code need not run
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    addDevice(daemons.xs, g.domid, vifDevice({ devid: 0, mac: MACS[i]!, bridge: opts.bridges?.[i] }));
    fronts.push(new Front(hv, g, MACS[i]!, new XsClient(daemons.xenstored, { domid: g.domid, privileged: false })));
  }
  await daemons.settle();
  if (opts.connect !== false) {
    for (const [i, f] of fronts.entries()) await f.connect(opts.overrides?.[i]);
    await daemons.settle();
  }
  /** Lets virtual time pass: dom0's dispatches (netback's service passes) run. */
  const run = () => hv.runAsync({ until: hv.now() + 1_000_000 });
  return { hv, daemons, netback: daemons.netback!, fronts, run, platform };
}

describe('netback: handshake', () => {
  it("publishes netif.h's features before InitWait, connects on the frontend's keys, and closes", async () => {
    const { daemons, fronts, netback } = await testbed(1, { connect: false });
    const f = fronts[0]!;
    expect(await f.backendState()).toBe(S.InitWait);
    const be = (k: string) => f.xs.read(`${f.be}/${k}`);
    const want: Record<string, string> = {
      'feature-sg': '1',
      'feature-rx-copy': '1',
      'feature-rx-flip': '0',
      'feature-gso-tcpv4': '0',
      'feature-gso-tcpv6': '0',
      'feature-split-event-channels': '0',
      'feature-multicast-control': '0',
      'feature-ctrl-ring': '0',
      mac: MACS[0]!,
      bridge: 'xenbr0',
      handle: '0',
      type: 'vif',
    };
    for (const [k, v] of Object.entries(want)) expect(await be(k), k).toBe(v);
    await expect(be('multi-queue-max-queues')).rejects.toThrow();
    expect(await f.xs.read(`${f.fe}/mac`)).toBe(MACS[0]);
    expect(await f.xs.read(`${f.fe}/handle`)).toBe('0');

    await f.connect();
    await daemons.settle();
    expect(await f.backendState()).toBe(S.Connected);
    expect(netback.vifs()).toMatchObject([{ name: `vif${f.g.domid}.0`, domid: f.g.domid, bridge: 'xenbr0', mac: MACS[0] }]);
    expect(netback.bridges.get('xenbr0')!.portCount).toBe(1);
    expect(f.g.grantFlags(TX_RING_REF) & (GTF.reading | GTF.writing)).not.toBe(0); // both rings mapped

    await f.xs.write(`${f.fe}/state`, String(S.Closing));
    await daemons.settle();
    expect(await f.backendState()).toBe(S.Closed);
    expect(netback.vifs()).toEqual([]);
    expect(netback.bridges.get('xenbr0')!.portCount).toBe(0);
    expect(f.g.grantFlags(TX_RING_REF)).toBe(GTF.permit_access);
    expect(f.g.grantFlags(RX_RING_REF)).toBe(GTF.permit_access);
  });

  it.each([
    [{ 'request-rx-copy': '0' }, /request-rx-copy.*flip/],
    [{ 'request-rx-copy': null }, /request-rx-copy/],
    [{ 'feature-rx-notify': null }, /feature-rx-notify/],
    [{ 'tx-ring-ref': 'x' }, /tx-ring-ref/],
    [{ 'rx-ring-ref': '4000' }, /rx-ring-ref 4000: grant status/],
    [{ 'event-channel': null, 'event-channel-tx': '5', 'event-channel-rx': '6' }, /split event channels/],
    [{ 'multi-queue-num-queues': '2' }, /multi-queue/],
  ])('refuses a frontend that asks for %j, with an error node', async (overrides, why) => {
    const { daemons, fronts, netback } = await testbed(1, { overrides: [overrides] });
    const f = fronts[0]!;
    expect(await f.backendState()).toBe(S.Closed);
    expect(await f.xs.read(`${f.be}/error`)).toMatch(why);
    expect(netback.vifs()).toEqual([]);
    // Nothing was left mapped.
    expect(f.g.grantFlags(TX_RING_REF)).toBe(GTF.permit_access);
    expect(f.g.grantFlags(RX_RING_REF)).toBe(GTF.permit_access);
    void daemons;
  });
});

describe('netback: tx and rx through the bridge', () => {
  it('carries a single-slot frame from one vif into the buffer the other posted, byte for byte, and notifies both', async () => {
    const { fronts, netback, run } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    b.post(4);
    await run();
    const frame = ethFrame(b.mac, a.mac, 600, 1);
    const [id] = a.send(frame);
    await run();
    expect(a.txResponses()).toEqual([{ id, status: NETIF_RSP.OKAY }]);
    expect(a.notified()).toBe(true);
    const got = b.received();
    expect(got.length).toBe(1);
    expect([...got[0]!.data]).toEqual([...frame]);
    expect(got[0]!.flags).toEqual([0]); // sent without NETTXF_data_validated: not vouched for
    expect(got[0]!.statuses).toEqual([600]);
    expect(b.notified()).toBe(true);
    expect(netback.statsFor(a.g.domid)).toMatchObject({ tx_packets: 1, tx_bytes: 600, tx_errors: 0, rx_packets: 0 });
    expect(netback.statsFor(b.g.domid)).toMatchObject({ rx_packets: 1, rx_bytes: 600, rx_dropped: 0, tx_packets: 0 });    // A sender that says its checksum was validated: the receiver is told so.
    a.send(ethFrame(b.mac, a.mac, 600, 9), undefined, 0, NETTXF.data_validated);
    await run();
    expect(b.received()[0]!.flags).toEqual([NETRXF.data_validated]);
  });

  it('reassembles multi-slot tx packets (more_data; first size = whole length) and spans rx slots for frames over a page', async () => {
    const { fronts, netback, run } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    b.post(8);
    const small = ethFrame(b.mac, a.mac, 1650, 2);
    const ids1 = a.queueFrame(small, [100, 1000, 50, 500]);
    a.pushTx();
    await run();
    const big = ethFrame(b.mac, a.mac, 9000, 3);
    const ids2 = a.send(big, [4000, 4096, 904], 0, NETTXF.data_validated);
    await run();
    expect(a.txResponses()).toEqual([...ids1, ...ids2].map((id) => ({ id, status: NETIF_RSP.OKAY })));
    const got = b.received();
    expect(got.map((r) => r.data.length)).toEqual([1650, 9000]);
    expect([...got[0]!.data]).toEqual([...small]);
    expect([...got[1]!.data]).toEqual([...big]);
    expect(got[1]!.statuses).toEqual([4096, 4096, 808]);
    expect(got[1]!.flags).toEqual([NETRXF.data_validated | NETRXF.more_data, NETRXF.more_data, 0]);
    expect(netback.statsFor(b.g.domid)).toMatchObject({ rx_packets: 2, rx_bytes: 10650 });
  });

  it('drops frames over a page for a frontend without feature-sg', async () => {
    const { fronts, netback, run } = await testbed(2, { overrides: [{}, { 'feature-sg': null }] });
    const [a, b] = fronts as [Front, Front];
    b.post(4);
    a.send(ethFrame(b.mac, a.mac, 5000), [4000, 1000]);
    a.send(ethFrame(b.mac, a.mac, 4096), [4096], 2);
    await run();
    expect(b.received().map((r) => r.data.length)).toEqual([4096]);
    expect(netback.statsFor(b.g.domid)).toMatchObject({ rx_packets: 1, rx_dropped: 1 });
    expect(netback.statsFor(a.g.domid)).toMatchObject({ tx_packets: 2, tx_errors: 0 });
  });

  it('floods a broadcast to every other port on the bridge, and not back to the sender or to another bridge', async () => {
    const { fronts, run, netback } = await testbed(3, { bridges: ['xenbr0', 'xenbr0', 'xenbr1'] });
    const [a, b, c] = fronts as [Front, Front, Front];
    for (const f of fronts) f.post(4);
    await run();
    const frame = ethFrame(BCAST, a.mac, 64, 4);
    a.send(frame);
    await run();
    expect(b.received().map((r) => [...r.data])).toEqual([[...frame]]);
    expect(a.received()).toEqual([]);
    expect(c.received()).toEqual([]); // on xenbr1
    expect(netback.bridges.get('xenbr0')!.stats).toMatchObject({ frames: 1, flooded: 1 });
    expect(netback.bridges.get('xenbr1')!.portCount).toBe(1);
  });

  it('floods to all three others on one bridge', async () => {
    const { fronts, run } = await testbed(3);
    const [a, b, c] = fronts as [Front, Front, Front];
    for (const f of fronts) f.post(4);
    await run();
    const frame = ethFrame('01:00:5e:00:00:fb', c.mac, 80, 5); // IPv4 multicast: I/G bit set
    c.send(frame);
    await run();
    for (const f of [a, b]) expect(f.received().map((r) => [...r.data])).toEqual([[...frame]]);
    expect(c.received()).toEqual([]);
  });

  it('learns: once a MAC has been seen, unicast to it reaches only its port; the entries go when the vif does', async () => {
    const { fronts, run, netback, daemons } = await testbed(3);
    const [a, b, c] = fronts as [Front, Front, Front];
    for (const f of fronts) f.post(8);
    await run();
    // A -> B: B unknown yet, flooded to B and C. A is learned.
    a.send(ethFrame(b.mac, a.mac, 100, 6));
    await run();
    expect(b.received().length).toBe(1);
    expect(c.received().length).toBe(1);
    // B -> A: A is known, so only A gets it. B is learned.
    b.send(ethFrame(a.mac, b.mac, 100, 7));
    await run();
    expect(a.received().length).toBe(1);
    expect(c.received().length).toBe(0);
    // A -> B again: only B now.
    a.send(ethFrame(b.mac, a.mac, 100, 8));
    await run();
    expect(b.received().length).toBe(1);
    expect(c.received().length).toBe(0);
    const br = netback.bridges.get('xenbr0')!;
    expect(br.table()).toEqual([
      [a.mac, `vif${a.g.domid}.0`],
      [b.mac, `vif${b.g.domid}.0`],
    ]);
    // A frame whose destination was learned on its own port goes nowhere.
    b.send(ethFrame(b.mac, a.mac, 100, 9)); // A's MAC now comes from B's port: it moves
    await run();
    expect(a.received().length).toBe(0);
    expect(c.received().length).toBe(0);
    expect(br.lookup(a.mac)?.name).toBe(`vif${b.g.domid}.0`);
    expect(br.stats.filtered).toBe(1);

    await b.xs.write(`${b.fe}/state`, String(S.Closing));
    await daemons.settle();
    expect(br.table()).toEqual([]); // both MACs were last seen on B's port
    expect(br.portCount).toBe(2);
    // Unknown again: flooded to the remaining port.
    a.send(ethFrame(b.mac, a.mac, 100, 10));
    await run();
    expect(c.received().length).toBe(1);
  });

  it('queues frames while no rx buffers are posted, sets rx req_event, and delivers when buffers come (the posting notifies)', async () => {
    const { fronts, run, netback } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    const frames = [0, 1, 2].map((i) => ethFrame(b.mac, a.mac, 200 + i, 20 + i));
    frames.forEach((f, i) => a.send(f, undefined, i)); // each in its own page: no response yet
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual([0, 0, 0]);
    expect(b.received()).toEqual([]);
    expect(b.notified()).toBe(false);
    const vifB = netback.attached.get(b.be)!.vif;
    expect(vifB.rxQueued).toBe(3);
    expect(b.rx.sring.reqEvent).toBe(1); // "tell me when one buffer is posted"
    expect(b.post(2)).toBe(true);
    await run();
    expect(b.notified()).toBe(true);
    expect(b.received().map((r) => [...r.data])).toEqual(frames.slice(0, 2).map((f) => [...f]));
    expect(vifB.rxQueued).toBe(1);
    expect(b.rx.sring.reqEvent).toBe(3);
    expect(b.post(1)).toBe(true);
    await run();
    expect(b.notified()).toBe(true);
    expect(b.received().map((r) => [...r.data])).toEqual([[...frames[2]!]]);
    expect(netback.statsFor(b.g.domid)).toMatchObject({ rx_packets: 3, rx_dropped: 0 });
  });

  it('drops frames that waited 10 s (virtual) for rx buffers, so a stalled frontend gets fresh traffic when it posts again', async () => {
    const { hv, fronts, run, netback } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    a.send(ethFrame(b.mac, a.mac, 80, 60)); // b has posted no buffers: queued
    await run();
    expect(netback.attached.get(b.be)!.vif.rxQueued).toBe(1);
    await hv.runAsync({ until: hv.now() + RX_DRAIN_NS });
    a.send(ethFrame(b.mac, a.mac, 80, 61), undefined, 1);
    await run();
    b.post(4);
    await run();
    expect(b.received().map((r) => [...r.data])).toEqual([[...ethFrame(b.mac, a.mac, 80, 61)]]); // the stale one went
    expect(netback.statsFor(b.g.domid).rx_dropped).toBe(1);
  });

    it('bounds the rx queue (256 frames) and counts what it drops', async () => {
    const { fronts, run, netback } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    for (let batch = 0; batch < 2; batch++) {
      for (let i = 0; i < 150; i++) a.queueFrame(ethFrame(b.mac, a.mac, 60, i));
      a.pushTx();
      await run();
      expect(a.txResponses().length).toBe(150);
    }
    expect(netback.statsFor(b.g.domid)).toMatchObject({ rx_packets: 0, rx_dropped: 300 - 256 });
    expect(netback.statsFor(a.g.domid)).toMatchObject({ tx_packets: 300 });
    b.post(20);
    await run();
    expect(b.received().length).toBe(20);
  });

  it('serves each request once when events arrive while a pass is under way', async () => {
    const { fronts, netback } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    b.post(4);
    a.queueFrame(ethFrame(b.mac, a.mac, 100));
    a.queueFrame(ethFrame(b.mac, a.mac, 100));
    a.tx.pushRequestsAndCheckNotify();
    const vif = netback.attached.get(a.be)!.vif;
    await Promise.all([vif.service(), vif.service(), vif.service()]);
    expect(a.txResponses().length).toBe(2);
    expect(b.received().length).toBe(2);
    expect(netback.statsFor(a.g.domid).tx_packets).toBe(2);
  });

  it('a domain destroyed while its packet is being served: the packet is answered on the mapped ring, nothing is written to it after the unmap', async () => {
    const { fronts, netback, daemons, platform } = await testbed(1, { connect: false });
    const f = fronts[0]!;
    // A grant copy that waits for the test: the request is in flight while the destroy runs.
    const { entered: copying, release } = gateCopies(platform, 'copyFromGrant');
    // Every mapping records a write made to it after its unmap.
    const late = recordLateWrites(platform);
    const closed = new Set<number>();
    const closePort = platform.closePort.bind(platform);
    platform.closePort = (port) => {
      closed.add(port);
      return closePort(port);
    };
    const notify = platform.notify.bind(platform);
    platform.notify = (port) => {
      if (closed.has(port)) late.push(`notify ${port}`);
      return notify(port);
    };
    await f.connect();
    await daemons.settle();
    const [id] = f.queueFrame(ethFrame(BCAST, f.mac, 100));
    f.tx.pushRequestsAndCheckNotify();
    const vif = netback.attached.get(f.be)!.vif;
    const serving = vif.service();
    await copying; // the packet waits in its grant copy
    const destroyed = daemons.domainDestroyed(f.g.domid);
    release();
    await Promise.all([serving, destroyed]);
    expect(late).toEqual([]);
    expect(vif.halted).toBe(false);
    expect(f.txResponses()).toEqual([{ id, status: NETIF_RSP.OKAY }]); // answered, before the unmap
    expect(netback.attached.size).toBe(0);
    expect(f.g.grantFlags(TX_RING_REF)).toBe(GTF.permit_access); // unmapped after
  });

  it('completes a partial checksum (NETTXF_csum_blank) before the frame enters the bridge', async () => {
    const { fronts, run } = await testbed(2);
    const [a, b] = fronts as [Front, Front];
    b.post(2);
    // Ethernet + IPv4 + UDP, 8 bytes of payload; the UDP checksum field holds the pseudo-header sum only.
    const f = new Uint8Array(14 + 20 + 8 + 8);
    f.set(macBytes(b.mac), 0);
    f.set(macBytes(a.mac), 6);
    f.set([0x08, 0x00], 12);
    f.set([0x45, 0, 0, 36, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], 14);
    f.set([0x04, 0xd2, 0x16, 0x2e, 0, 16, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8], 34);
    const pseudo = onesSum(Uint8Array.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 16]), 0, 12);
    f[40] = pseudo >> 8;
    f[41] = pseudo & 0xff;
    a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.csum_blank | NETTXF.data_validated, size: f.length });
    a.txPages[0]!.set(f, 0);
    a.pushTx();
    await run();
    const got = b.received()[0]!.data;
    // Verify as a receiver would: pseudo-header + segment (with the checksum) sums to 0xffff.
    const sum = onesSum(got, 34, 50, onesSum(Uint8Array.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 16]), 0, 12));
    expect(sum).toBe(0xffff);
    expect((got[40]! << 8) | got[41]!).not.toBe(pseudo);
  });
});

describe.each(['local', 'remote'] as const)('netback: hostile frontends (dom0 %s)', (kind) => {
  it('answers each bad tx packet with an error for every slot, and other vifs keep working', async () => {
    const { fronts, run, netback } = await testbed(3, { platform: kind });
    const [a, b, c] = fronts as [Front, Front, Front];
    b.post(16);
    await run();
    const good = ethFrame(b.mac, a.mac, 300, 30);
    a.txPages[0]!.set(good, 0);
    const expectStatus: number[] = [];
    const ids: number[] = [];
    const bad = (n: number) => {
      for (let i = 0; i < n; i++) expectStatus.push(NETIF_RSP.ERROR);
    };
    // 1. A gref never granted.
    ids.push(a.txReq({ gref: 4000, offset: 0, flags: 0, size: 100 }));
    bad(1);
    // 2. Offset + size past the page.
    ids.push(a.txReq({ gref: TX_REF0, offset: 4000, flags: 0, size: 200 }));
    bad(1);
    // 3. Inconsistent sizes: the later slot is bigger than the whole packet.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.more_data, size: 100 }));
    ids.push(a.txReq({ gref: TX_REF0 + 1, offset: 0, flags: 0, size: 200 }));
    bad(2);
    // 4. 19 slots: more than XEN_NETIF_NR_SLOTS_MIN.
    for (let i = 0; i < 19; i++) ids.push(a.txReq({ gref: TX_REF0 + (i % TX_PAGES), offset: 0, flags: i < 18 ? NETTXF.more_data : 0, size: i === 0 ? 19 * 20 : 20 }));
    bad(19);
    // 5. A 10-byte frame.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: 0, size: 10 }));
    bad(1);
    // 6. A later fragment that crosses its page.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.more_data, size: 300 }));
    ids.push(a.txReq({ gref: TX_REF0 + 1, offset: 4090, flags: 0, size: 100 }));
    bad(2);
    // 7. A GSO extra-info (not offered): error for the data slot, NULL for the extra slot.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.extra_info, size: 300 }));
    a.txExtra({ type: XEN_NETIF_EXTRA_TYPE.GSO, flags: 0, gso: { size: 1448, type: 1, features: 0 } });
    expectStatus.push(NETIF_RSP.ERROR, NETIF_RSP.NULL);
    // 8. An extra-info of an unknown type.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.extra_info, size: 300 }));
    a.txExtra({ type: 9, flags: 0, raw: new Uint8Array(6) });
    expectStatus.push(NETIF_RSP.ERROR, NETIF_RSP.NULL);
    // 9. Good: a multicast-add extra-info is accepted and ignored.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.extra_info, size: 300 }));
    a.txExtra({ type: XEN_NETIF_EXTRA_TYPE.MCAST_ADD, flags: 0, mcast: { addr: macBytes('01:00:5e:00:00:01') } });
    expectStatus.push(NETIF_RSP.OKAY, NETIF_RSP.NULL);
    // 10. Good, plain.
    ids.push(a.txReq({ gref: TX_REF0, offset: 0, flags: 0, size: 300 }));
    expectStatus.push(NETIF_RSP.OKAY);
    a.pushTx();
    // Meanwhile C sends to B.
    const fromC = ethFrame(b.mac, c.mac, 120, 31);
    c.send(fromC);
    await run();
    const rsp = a.txResponses();
    expect(rsp.map((r) => r.status)).toEqual(expectStatus);
    // Data slots answer with their own ids; extra-info slots answer NULL.
    expect(rsp.filter((r) => r.status !== NETIF_RSP.NULL).map((r) => r.id)).toEqual(ids);
    expect(b.received().map((r) => r.data.length).sort()).toEqual([120, 300, 300]);
    expect(netback.statsFor(a.g.domid)).toMatchObject({ tx_packets: 2, tx_errors: 8 });
    expect(netback.statsFor(c.g.domid)).toMatchObject({ tx_packets: 1, tx_errors: 0 });
    expect(netback.attached.get(a.be)!.vif.halted).toBe(false);
    // A still works afterwards.
    b.received();
    a.send(good);
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual([NETIF_RSP.OKAY]);
    expect(b.received().map((r) => [...r.data])).toEqual([[...good]]);
  });

  it('answers the slots of an overlong packet as they are published, then serves the next packet', async () => {
    const { fronts, run, netback } = await testbed(2, { platform: kind });
    const [a, b] = fronts as [Front, Front];
    b.post(4);
    // 20 slots of one packet, the first 19 published now: already too many.
    for (let i = 0; i < 19; i++) a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.more_data, size: i === 0 ? 400 : 20 });
    a.pushTx();
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual(new Array(19).fill(NETIF_RSP.ERROR));
    a.txReq({ gref: TX_REF0, offset: 0, flags: 0, size: 20 }); // its last slot
    a.send(ethFrame(b.mac, a.mac, 64, 40));
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual([NETIF_RSP.ERROR, NETIF_RSP.OKAY]);
    expect(b.received().length).toBe(1);
    expect(netback.statsFor(a.g.domid)).toMatchObject({ tx_packets: 1, tx_errors: 1 });
  });

  it('answers a bad packet whose extra-info chain is still being published: its extras NULL, its fragments ERROR, then the next packet', async () => {
    const { fronts, run, netback } = await testbed(2, { platform: kind });
    const [a, b] = fronts as [Front, Front];
    b.post(4);
    // GSO (not offered) with another extra to follow, and a fragment after the extras.
    a.txReq({ gref: TX_REF0, offset: 0, flags: NETTXF.extra_info | NETTXF.more_data, size: 120 });
    a.txExtra({ type: XEN_NETIF_EXTRA_TYPE.GSO, flags: XEN_NETIF_EXTRA_FLAG_MORE, gso: { size: 1448, type: 1, features: 0 } });
    a.pushTx();
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual([NETIF_RSP.ERROR, NETIF_RSP.NULL]);
    // The rest: an extra whose bytes would read as a tx request with more_data, then the fragment.
    a.txExtra({ type: XEN_NETIF_EXTRA_TYPE.MCAST_ADD, flags: 0, mcast: { addr: macBytes('01:00:5e:04:04:04') } });
    a.txReq({ gref: TX_REF0, offset: 0, flags: 0, size: 20 });
    a.send(ethFrame(b.mac, a.mac, 64, 41));
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual([NETIF_RSP.NULL, NETIF_RSP.ERROR, NETIF_RSP.OKAY]);
    expect(b.received().length).toBe(1);
    expect(netback.statsFor(a.g.domid)).toMatchObject({ tx_packets: 1, tx_errors: 1 });
  });

  it('waits for the rest of a packet whose last slot is not published yet', async () => {
    const { fronts, run } = await testbed(2, { platform: kind });
    const [a, b] = fronts as [Front, Front];
    b.post(4);
    const frame = ethFrame(b.mac, a.mac, 500, 41);
    a.queueFrame(frame, [300, 200]);
    // Publish only the first slot (a guest store, so dom0's mirror hears of it).
    a.setTxReqProd(a.tx.reqProdPvt - 1);
    evtchnSend(a.hv, a.g.domain, a.port);
    await run();
    expect(a.txResponses()).toEqual([]);
    expect(a.tx.sring.reqEvent).toBe(a.tx.sring.reqProd + 1); // asks to hear of the next slot
    expect(a.pushTx()).toBe(true);
    await run();
    expect(a.txResponses().map((r) => r.status)).toEqual([0, 0]);
    expect(b.received().map((r) => [...r.data])).toEqual([[...frame]]);
  });

  it('halts a vif whose frontend pushes req_prod past the ring; the others carry on', async () => {
    const { fronts, run, netback } = await testbed(3, { platform: kind });
    const [a, b, c] = fronts as [Front, Front, Front];
    for (const f of fronts) f.post(4);
    a.setTxReqProd(1_000_000);
    evtchnSend(a.hv, a.g.domain, a.port);
    await run();
    const vifA = netback.attached.get(a.be)!.vif;
    expect(vifA.halted).toBe(true);
    expect(vifA.lastError).toMatch(/tx req_prod 1000000 past the ring/);
    expect(a.tx.sring.rspProd).toBe(0);
    c.send(ethFrame(b.mac, c.mac, 90, 50));
    c.send(ethFrame(BCAST, c.mac, 90, 51));
    await run();
    expect(b.received().length).toBe(2);
    expect(a.received().length).toBe(0);
    expect(netback.statsFor(a.g.domid).rx_dropped).toBe(2); // B was not learned yet: both frames were flooded to A too
  });

  it('answers an rx buffer it cannot copy into with an error for that slot, and goes on', async () => {
    const { fronts, run, netback } = await testbed(2, { platform: kind });
    const [a, b] = fronts as [Front, Front];
    b.g.setGrantFlags(RX_REF0, GTF.permit_access | GTF.readonly); // the first buffer the frontend posts
    b.post(2);
    a.send(ethFrame(b.mac, a.mac, 70, 60));
    a.send(ethFrame(b.mac, a.mac, 71, 61));
    await run();
    const got = b.received();
    expect(got.map((r) => r.statuses)).toEqual([[NETIF_RSP.ERROR], [71]]);
    expect(netback.statsFor(b.g.domid)).toMatchObject({ rx_packets: 1, rx_errors: 1, rx_dropped: 1 });
  });

  it('property: any split of a frame into 1..18 tx slots arrives intact', async () => {
    const { fronts, run } = await testbed(2, { platform: kind });
    const [a, b] = fronts as [Front, Front];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 4096 }), { minLength: 1, maxLength: 18 }), fc.integer({ min: 0, max: 255 }), async (split, seed) => {
        const total = split.reduce((x, y) => x + y, 0);
        fc.pre(total >= 14 && split[0]! >= 14);
        const frame = ethFrame(b.mac, a.mac, total, seed);
        b.post(Math.ceil(total / 4096));
        const ids = a.send(frame, split);
        await run();
        expect(a.txResponses()).toEqual(ids.map((id) => ({ id, status: NETIF_RSP.OKAY })));
        const got = b.received();
        expect(got.length).toBe(1);
        expect(Buffer.from(got[0]!.data).equals(Buffer.from(frame))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });
});

describe('netback: pcap capture', () => {
  it('writes every frame crossing the bridge to a classic pcap file with virtual-time stamps; tshark agrees', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pvsim-pcap-')), 'net.pcap');
    const { fronts, run, hv, daemons } = await testbed(3, { pcap: file });
    const [a, b, c] = fronts as [Front, Front, Front];
    for (const f of fronts) f.post(8);
    await run();
    const sent = [ethFrame(BCAST, a.mac, 60, 70), ethFrame(a.mac, b.mac, 1500, 71), ethFrame(c.mac, a.mac, 9000, 72), ethFrame(b.mac, c.mac, 42, 73)];
    const from = [a, b, a, c];
    const times: number[] = [];
    for (const [i, f] of sent.entries()) {
      from[i]!.send(f, f.length > 4096 ? [4096, 4096, f.length - 8192] : undefined);
      const before = hv.now();
      await run();
      times.push(before);
    }
    // Readable while the run goes on (before close).
    expect(parsePcap(readFileSync(file)).packets.length).toBe(4);
    daemons.close();
    const raw = readFileSync(file);
    const dv = new DataView(raw.buffer, raw.byteOffset);
    expect(dv.getUint32(0, true)).toBe(PCAP_MAGIC_NS);
    expect([dv.getUint16(4, true), dv.getUint16(6, true)]).toEqual([2, 4]);
    const p = parsePcap(raw);
    expect(p).toMatchObject({ nanosecond: true, snaplen: 65535, linktype: LINKTYPE_ETHERNET });
    expect(p.packets.map((x) => Buffer.from(x.data).toString('hex'))).toEqual(sent.map((f) => Buffer.from(f).toString('hex')));
    expect(p.packets.map((x) => x.origLen)).toEqual(sent.map((f) => f.length));
    // Each stamp is the virtual time of the dispatch that carried the frame: after it was sent.
    p.packets.forEach((x, i) => {
      expect(x.timeNs).toBeGreaterThan(times[i]!);
      expect(x.timeNs).toBeLessThan(times[i]! + 1_000_000);
    });
    const tshark = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'eth.src', '-e', 'eth.dst'], { encoding: 'utf8', timeout: 20_000 });
    if (tshark.error || tshark.status !== 0) {
      console.warn(`tshark not usable here (${tshark.error?.message ?? tshark.stderr}); skipping its check`);
      return;
    }
    expect(tshark.stdout.trim().split('\n')).toEqual([`${a.mac}\t${BCAST}`, `${b.mac}\t${a.mac}`, `${a.mac}\t${c.mac}`, `${c.mac}\t${b.mac}`]);
  });
});

describe('netback with dom0 in its own process', () => {
  /** The same traffic on a testbed; returns what each frontend saw, the counters and the capture. */
  async function script(kind: 'local' | 'remote') {
    const file = join(mkdtempSync(join(tmpdir(), `pvsim-pcap-${kind}-`)), 'net.pcap');
    const { fronts, run, netback, daemons } = await testbed(3, { pcap: file, platform: kind });
    const [a, b, c] = fronts as [Front, Front, Front];
    a.post(8);
    b.post(1); // B is short of buffers: frames queue
    c.post(8);
    await run();
    a.send(ethFrame(BCAST, a.mac, 60, 80));
    await run();
    b.send(ethFrame(a.mac, b.mac, 1500, 81), [700, 800]);
    await run();
    a.send(ethFrame(c.mac, a.mac, 9000, 82), [4096, 4096, 808]);
    c.send(ethFrame(b.mac, c.mac, 300, 83), undefined, 5);
    c.send(ethFrame(b.mac, c.mac, 301, 84), undefined, 6);
    await run();
    const early = b.received().length;
    b.post(4);
    await run();
    const seen = fronts.map((f) => ({ tx: f.txResponses(), rx: f.received().map((r) => ({ hex: Buffer.from(r.data).toString('hex'), flags: r.flags, statuses: r.statuses })) }));
    const stats = fronts.map((f) => netback.statsFor(f.g.domid));
    daemons.close();
    return { early, seen, stats, pcap: readFileSync(file) };
  }

  it('moves the same frames, answers the same responses and captures a byte-identical pcap as in-process', async () => {
    const local = await script('local');
    const remote = await script('remote');
    expect(local.early).toBe(1);
    expect(local.seen[1]!.rx.length).toBe(2); // the two frames that waited for B's buffers
    expect(local.seen[2]!.rx.map((r) => r.statuses)).toEqual([[60], [4096, 4096, 808]]); // the broadcast, then the big one
    expect(parsePcap(local.pcap).packets.length).toBe(5);
    expect(remote.early).toBe(local.early);
    expect(remote.seen).toEqual(local.seen);
    expect(remote.stats).toEqual(local.stats);
    expect(remote.pcap.equals(local.pcap)).toBe(true);
  });
});

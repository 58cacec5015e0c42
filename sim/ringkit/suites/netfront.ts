// The netif suite's frontend direction: a guest's netfront (a PV kernel image on the
// in-process hypervisor) against a checking netback — pvsim's netback behind a proxy that
// reads the guest's keys at connect and every request it publishes on both rings, checks
// them against netif.h and the features offered, and can turn hostile through its view of
// the ring pages: withhold features, publish rsp_prod past the requests, answer ids never
// requested, bad statuses, garbage in unused bytes, rx responses with bad offsets or sizes,
// a response answered twice or rewritten after the guest consumed it.
//
// Traffic: the guest under test talks to a peer on the same bridge (pvsim's work.elf,
// `work=net`, the other address, streaming datagrams so the guest's rx ring is refilled).
// A case passes when no request broke a rule and the guest either finished (clean cases:
// powered off, no errors, nothing lost) or, facing a hostile backend, stopped itself with a
// diagnosis (fail-stop: a panic naming the fault) or carried on reporting errors — never a
// fault, never a silent success, never running on without end.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hypervisor } from '../../../hypervisor/hypervisor.ts';
import { LocalPlatform } from '../../local_platform.ts';
import { Dom0Daemons } from '../../../dom0/daemons.ts';
import { attachDom0Hooks } from '../../../hypervisor/domain/dom0_hooks.ts';
import { addDevice, vifDevice } from '../../../dom0/toolstack/devices.ts';
import { NetbackDriver } from '../../../dom0/backends/net/driver.ts';
import type { BackendDriver, DeviceInstance } from '../../../dom0/backends/xenbus.ts';
import type { Dom0Platform, MappedPage } from '../../../dom0/platform.ts';
import type { GuestMemory } from '../../../protocol/guest_memory.ts';
import { SRING } from '../../../protocol/ring.ts';
import {
  NETBACK_KEY,
  NETFRONT_KEY,
  NETIF_RSP,
  NETIF_RX_REQUEST,
  NETIF_RX_RESPONSE,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_REQUEST,
  NETIF_TX_RESPONSE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETRXF,
  NETTXF,
  NET_RX_RING_SIZE,
  NET_TX_RING_SIZE,
  XEN_NETIF_EXTRA_FLAG_MORE,
  XEN_NETIF_MAX_TX_SIZE,
  XEN_NETIF_NR_SLOTS_MIN,
} from '../../../protocol/xen/netif.ts';
import { expectThat, runConformance, type ConformanceCase, type ConformanceResult } from './common.ts';
import type { FrontendSubject } from './blkfront.ts';

const MiB = 1024 * 1024;
const PAGE = 4096;
const ETH_HLEN = 14;

/** What the backend does besides serving (n-th counts are 1-based). */
export interface NetbackBehaviour {
  /** Feature keys not offered. */
  withhold?: string[];
  /** Feature keys offered with these values instead. */
  offer?: Record<string, string>;
  /** At the n-th publication on the tx (rx) ring, rsp_prod goes 0x1000 past the responses. */
  txOverflowAt?: number;
  rxOverflowAt?: number;
  /** The n-th tx (rx) response carries an id never requested (posted). */
  txBogusIdAt?: number;
  rxBogusIdAt?: number;
  /** Every tx response's status becomes this. */
  txStatus?: number;
  /** The n-th rx response's status (its length, or an error) becomes this. */
  rxStatusAt?: { n: number; status: number };
  /** The n-th rx response's offset is moved so offset + length passes the page. */
  rxBadOffsetAt?: number;
  /** Unused bytes (a tx response's slot past its 4 bytes, both rings' header padding) are 0xff. */
  garbagePadding?: boolean;
  /** Every rx response carries flag bits netif.h does not define. */
  rxUnknownFlags?: boolean;
  /** The n-th tx response is published twice. */
  txDuplicateAt?: number;
  /** The tx responses of a publication are written in reverse order (netif matches by id). */
  txReorder?: boolean;
  /** A response whose id the guest has since reused (so it consumed it) is rewritten with garbage. */
  rewriteConsumed?: boolean;
  /** No backend serves vifs until this much virtual time has passed (ns): InitWait comes late. */
  lateNs?: number;
  /** At this virtual time (ns) the backend lets the device go as a restarted one does: Closed, and the frontend reconnects. */
  restartAtNs?: number;
}

export function emptyNetRun(): NetRun {
  return { log: '', reason: null, violations: [], keys: null, txRequests: 0, txMoreData: 0, rxRequests: 0, rxRefilled: 0, rxPostedAtConnect: 0, hostileActs: 0, connects: 0 };
}

export interface NetRun {
  log: string;
  reason: string | null;
  violations: string[];
  /** The frontend's keys when the backend connected, or null if it never did. */
  keys: Record<string, string> | null;
  txRequests: number;
  txMoreData: number;
  rxRequests: number;
  /** rx requests published after the first rx response (the refill). */
  rxRefilled: number;
  /** rx requests published before the backend connected. */
  rxPostedAtConnect: number;
  hostileActs: number;
  /** With a late backend: the frontend's state when the backend came. */
  stateWhenLate?: { ok: boolean; value?: string };
  /** Times the backend connected the guest under test. */
  connects: number;
}

const KNOWN_TXF = NETTXF.csum_blank | NETTXF.data_validated | NETTXF.more_data | NETTXF.extra_info;

/** Checks and acts on one ring page, tx or rx, as the backend looks at it and publishes. */
class RingWatch {
  published: number;
  visible: number;
  seen: number;
  responses = 0;
  publications = 0;
  /** Ids on the ring (a request published, its response not yet). */
  readonly inFlight = new Set<number>();
  /** The slot index of the last response published for an id. */
  readonly answeredAt = new Map<number, number>();
  // tx packet being checked: its slots so far, the first slot's size, the sizes after it.
  pkt: { slots: number; first: number; rest: number; firstOffset: number; extras: boolean } | null = null;
  constructor(
    readonly tx: boolean,
    mem: GuestMemory,
  ) {
    this.published = mem.u32le(SRING.rsp_prod);
    this.visible = this.published;
    this.seen = this.published;
  }
  get size(): number {
    return this.tx ? NET_TX_RING_SIZE : NET_RX_RING_SIZE;
  }
  slot(idx: number): number {
    return SRING.ring + (idx % this.size) * (this.tx ? NETIF_TX_RING_ENTRY_SIZE : NETIF_RX_RING_ENTRY_SIZE);
  }
}

/** pvsim's netback, checked and made hostile through its view of the guest under test's rings. */
export class CheckingNetback implements BackendDriver {
  readonly kind = 'vif';
  private readonly real: NetbackDriver;
  private offered: Record<string, string> = {};
  private maps = 0;
  private watches: RingWatch[] = [];
  constructor(
    platform: Dom0Platform,
    backendKey: (dev: DeviceInstance, key: string) => string | undefined,
    private readonly b: NetbackBehaviour,
    readonly run: NetRun,
    private readonly subject: () => number,
  ) {
    // The first two pages netback maps at the subject's connect are its tx and rx rings.
    const proxied: Dom0Platform = Object.create(platform) as Dom0Platform;
    proxied.mapGrant = async (domid: number, ref: number, readonly: boolean) => {
      const m = await platform.mapGrant(domid, ref, readonly);
      if (m.page && domid === this.subject() && this.maps < 2) return { ...m, page: this.wrap(m.page, this.maps++ === 0) };
      return m;
    };
    this.real = new NetbackDriver(proxied, backendKey);
  }
  features(dev: DeviceInstance): Record<string, string> {
    const f = { ...this.real.features(dev) };
    if (dev.domid !== this.subject()) return f;
    for (const k of this.b.withhold ?? []) delete f[k];
    Object.assign(f, this.b.offer ?? {});
    this.offered = f;
    return f;
  }
  async connect(dev: DeviceInstance, read: (k: string) => string | undefined): Promise<void> {
    if (dev.domid === this.subject()) {
      this.maps = 0;
      this.watches = [];
      this.run.connects++;
      this.checkKeys(read);
    }
    return this.real.connect(dev, read);
  }
  disconnect(dev: DeviceInstance): Promise<void> {
    return this.real.disconnect(dev);
  }
  close(): void {
    this.real.close();
  }

  private violation(v: string): void {
    if (this.run.violations.length < 20) this.run.violations.push(v);
  }
  private has(k: string): boolean {
    return this.offered[k] !== undefined && this.offered[k] !== '0';
  }

  /** netif.h's rules for what a frontend writes before Initialised, given what was offered. */
  private checkKeys(read: (k: string) => string | undefined): void {
    const keys: Record<string, string> = {};
    for (const k of Object.values(NETFRONT_KEY)) {
      const v = read(k);
      if (v !== undefined) keys[k] = v;
    }
    this.run.keys = keys;
    if (!this.has(NETBACK_KEY.feature_rx_copy)) this.violation('connected although the backend offered no feature-rx-copy');
    if (keys[NETFRONT_KEY.request_rx_copy] !== '1') this.violation(`request-rx-copy ${keys[NETFRONT_KEY.request_rx_copy] ?? '(missing)'}: a copy-only backend (feature-rx-flip 0) cannot serve it`);
    if (keys[NETFRONT_KEY.multi_queue_num_queues] !== undefined && !this.has(NETBACK_KEY.multi_queue_max_queues)) this.violation(`multi-queue-num-queues ${keys[NETFRONT_KEY.multi_queue_num_queues]} without multi-queue-max-queues offered`);
    if ((keys[NETFRONT_KEY.event_channel_tx] !== undefined || keys[NETFRONT_KEY.event_channel_rx] !== undefined) && !this.has(NETBACK_KEY.feature_split_event_channels)) this.violation('split event channels without feature-split-event-channels');
    if (keys[NETFRONT_KEY.event_channel] === undefined && keys[NETFRONT_KEY.event_channel_tx] === undefined) this.violation('no event-channel');
    if (keys[NETFRONT_KEY.ctrl_ring_ref] !== undefined && !this.has(NETBACK_KEY.feature_ctrl_ring)) this.violation('ctrl-ring-ref without feature-ctrl-ring');
    for (const k of [NETFRONT_KEY.tx_ring_ref, NETFRONT_KEY.rx_ring_ref]) if (!/^\d+$/.test(keys[k] ?? '')) this.violation(`${k} ${keys[k] ?? '(missing)'}`);
  }

  /** The frontend's requests in [w.seen, reqProd), checked once each as they are published. */
  private look(w: RingWatch, mem: GuestMemory, reqProd: number): void {
    if (((reqProd - w.published) >>> 0) > w.size) {
      this.violation(`${w.tx ? 'tx' : 'rx'} req_prod ${reqProd} is more than a ring past rsp_prod ${w.published}`);
      w.seen = reqProd;
      return;
    }
    for (let i = w.seen; i !== reqProd; i = (i + 1) >>> 0) {
      if (w.tx) this.checkTx(w, mem, i);
      else this.checkRx(w, mem, i);
    }
    w.seen = reqProd;
  }

  private newId(w: RingWatch, mem: GuestMemory, id: number): void {
    if (w.inFlight.has(id)) this.violation(`${w.tx ? 'tx' : 'rx'} id ${id} reused while its request is on the ring`);
    w.inFlight.add(id);
    // The guest reused the id: it consumed that id's last response, which a hostile backend may now rewrite.
    const at = w.answeredAt.get(id);
    w.answeredAt.delete(id);
    if (this.b.rewriteConsumed && at !== undefined && ((at + w.size - w.seen) >>> 0) >= w.size / 2 && ((at + w.size - w.seen) >>> 0) <= w.size) {
      const s = w.slot(at);
      if (w.tx) {
        mem.setU16le(s + NETIF_TX_RESPONSE.id, 0xfff3);
        mem.setU16le(s + NETIF_TX_RESPONSE.status, 0x1234);
      } else {
        mem.setU16le(s + NETIF_RX_RESPONSE.id, 0xfff3);
        mem.setU16le(s + NETIF_RX_RESPONSE.offset, 4000);
        mem.setU16le(s + NETIF_RX_RESPONSE.flags, NETRXF.more_data | NETRXF.extra_info);
        mem.setU16le(s + NETIF_RX_RESPONSE.status, 3000);
      }
      this.run.hostileActs++;
    }
  }

  private checkTx(w: RingWatch, mem: GuestMemory, i: number): void {
    const s = w.slot(i);
    if (w.pkt?.extras) {
      // a netif_extra_info slot: type, flags; the chain goes on while EXTRA_FLAG_MORE
      const flags = mem.u8(s + 1);
      if (!(flags & XEN_NETIF_EXTRA_FLAG_MORE)) w.pkt.extras = false;
      return;
    }
    const flags = mem.u16le(s + NETIF_TX_REQUEST.flags);
    const id = mem.u16le(s + NETIF_TX_REQUEST.id);
    const size = mem.u16le(s + NETIF_TX_REQUEST.size);
    const offset = mem.u16le(s + NETIF_TX_REQUEST.offset);
    this.run.txRequests++;
    if (flags & NETTXF.more_data) this.run.txMoreData++;
    if (flags & ~KNOWN_TXF) this.violation(`tx flags 0x${flags.toString(16)}: bits netif.h does not define`);
    if (flags & NETTXF.more_data && !this.has(NETBACK_KEY.feature_sg)) this.violation('tx more_data without feature-sg offered');
    if (flags & NETTXF.extra_info && !this.has(NETBACK_KEY.feature_gso_tcpv4) && !this.has(NETBACK_KEY.feature_gso_tcpv6)) this.violation('tx extra_info (GSO) without feature-gso-* offered');
    if (offset >= PAGE) this.violation(`tx offset ${offset} past the page`);
    this.newId(w, mem, id);
    if (!w.pkt) {
      w.pkt = { slots: 1, first: size, rest: 0, firstOffset: offset, extras: (flags & NETTXF.extra_info) !== 0 };
      if (size < ETH_HLEN) this.violation(`a tx packet of ${size} bytes, less than an Ethernet header`);
    } else {
      w.pkt.slots++;
      w.pkt.rest += size;
      if (offset + size > PAGE) this.violation(`tx fragment offset ${offset} + size ${size} past the page`);
      if (flags & NETTXF.extra_info) this.violation('tx extra_info on a fragment (only the first slot may carry it)');
    }
    if (flags & NETTXF.more_data) {
      if (w.pkt.slots === XEN_NETIF_NR_SLOTS_MIN) this.violation(`a tx packet of more than ${XEN_NETIF_NR_SLOTS_MIN} slots`);
      return;
    }
    const p = w.pkt;
    w.pkt = null;
    if (p.rest > p.first) this.violation(`tx first size ${p.first} smaller than its fragments (${p.rest})`);
    else if (p.firstOffset + (p.first - p.rest) > PAGE) this.violation(`tx first slot offset ${p.firstOffset} + ${p.first - p.rest} bytes past the page`);
    if (p.first > XEN_NETIF_MAX_TX_SIZE) this.violation(`a tx packet of ${p.first} bytes`);
  }

  private checkRx(w: RingWatch, mem: GuestMemory, i: number): void {
    const s = w.slot(i);
    this.run.rxRequests++;
    if (w.responses > 0) this.run.rxRefilled++;
    this.newId(w, mem, mem.u16le(s + NETIF_RX_REQUEST.id));
  }

  /** The backend publishes responses [w.published, v): acts out the behaviour, returns what the guest sees. */
  private publish(w: RingWatch, target: GuestMemory, v: number): number {
    const b = this.b;
    w.publications++;
    const first = w.published;
    for (let i = first; i !== v; i = (i + 1) >>> 0) {
      w.responses++;
      const s = w.slot(i);
      if (w.tx) {
        if (b.txStatus !== undefined) target.setU16le(s + NETIF_TX_RESPONSE.status, b.txStatus & 0xffff);
        if (b.garbagePadding) target.fill(s + NETIF_TX_RESPONSE.SIZE, NETIF_TX_RING_ENTRY_SIZE - NETIF_TX_RESPONSE.SIZE, 0xff);
        if (b.txBogusIdAt === w.responses) {
          target.setU16le(s + NETIF_TX_RESPONSE.id, 0xfff1);
          this.run.hostileActs++;
        }
      } else {
        if (b.rxUnknownFlags) target.setU16le(s + NETIF_RX_RESPONSE.flags, target.u16le(s + NETIF_RX_RESPONSE.flags) | 0xff00);
        if (b.rxBogusIdAt === w.responses) {
          target.setU16le(s + NETIF_RX_RESPONSE.id, 0xfff1);
          this.run.hostileActs++;
        }
        if (b.rxStatusAt?.n === w.responses) {
          target.setU16le(s + NETIF_RX_RESPONSE.status, b.rxStatusAt.status & 0xffff);
          this.run.hostileActs++;
        }
        if (b.rxBadOffsetAt === w.responses) {
          const len = (target.u16le(s + NETIF_RX_RESPONSE.status) << 16) >> 16;
          target.setU16le(s + NETIF_RX_RESPONSE.offset, PAGE - Math.max(1, Math.floor(Math.max(len, 2) / 2)));
          this.run.hostileActs++;
        }
      }
      const st = (target.u16le(s + (w.tx ? NETIF_TX_RESPONSE.status : NETIF_RX_RESPONSE.status)) << 16) >> 16;
      const id = target.u16le(s);
      if (!w.tx || st !== NETIF_RSP.NULL) {
        w.inFlight.delete(id);
        w.answeredAt.set(id, i);
      }
    }
    if (b.garbagePadding) target.fill(16, 48, 0xff); // the shared ring header's padding
    if (w.tx && b.txReorder) {
      // Answers the guest has not seen (one may be held back) published newest first; a
      // lone answer is held while other requests are outstanding, so the next has two.
      const span = (v - w.visible) >>> 0;
      const outstanding = (target.u32le(SRING.req_prod) - v) >>> 0;
      w.published = v;
      if (span === 1 && outstanding > 0) return w.visible;
      if (span > 1) {
        const rsps = Array.from({ length: span }, (_, k) => target.read(w.slot((w.visible + k) >>> 0), NETIF_TX_RING_ENTRY_SIZE));
        rsps.reverse().forEach((r, k) => target.write(w.slot((w.visible + k) >>> 0), r));
        this.run.hostileActs++;
      }
      w.visible = v;
      return v;
    }
    let pub = v;
    if (w.tx && b.txDuplicateAt !== undefined && w.responses >= b.txDuplicateAt && this.run.hostileActs === 0 && v !== first) {
      target.write(w.slot(v), target.read(w.slot((v - 1) >>> 0), NETIF_TX_RING_ENTRY_SIZE));
      pub = (v + 1) >>> 0;
      this.run.hostileActs++;
    }
    if ((w.tx ? b.txOverflowAt : b.rxOverflowAt) === w.publications) {
      pub = (pub + 0x1000) >>> 0;
      this.run.hostileActs++;
    }
    w.published = v;
    w.visible = pub;
    return pub;
  }

  /** The checks alone (tests): `offered` as features() would have offered them. */
  checkKeysFor(offered: Record<string, string>, keys: Record<string, string>): void {
    this.offered = offered;
    this.checkKeys((k) => keys[k]);
  }
  watchRing(page: MappedPage, tx: boolean, offered: Record<string, string>): MappedPage {
    this.offered = offered;
    return this.wrap(page, tx);
  }

  private wrap(page: MappedPage, tx: boolean): MappedPage {
    const mem = page.mem;
    const w = new RingWatch(tx, mem);
    this.watches.push(w);
    // rx buffers already posted when the backend maps the ring are checked at once.
    if (!tx) {
      const prod = mem.u32le(SRING.req_prod);
      this.run.rxPostedAtConnect = (prod - w.published) >>> 0;
      this.look(w, mem, prod);
    }
    const self = this;
    const view = new Proxy(mem, {
      get(target, prop, receiver) {
        if (prop === 'u32le')
          return (off: number) => {
            const v = target.u32le(off);
            if (off === SRING.req_prod) self.look(w, target, v);
            return v;
          };
        if (prop === 'setU32le')
          return (off: number, v: number) => (off === SRING.rsp_prod ? target.setU32le(off, self.publish(w, target, v >>> 0)) : target.setU32le(off, v));
        const x = Reflect.get(target, prop, receiver) as unknown;
        return typeof x === 'function' ? (x as (...a: unknown[]) => unknown).bind(target) : x;
      },
    }) as GuestMemory;
    return { ...page, mem: view };
  }
}

/** The peer the guest under test talks to: pvsim's work=net at the other address, streaming datagrams. */
export const NETFRONT_PEER_CMDLINE = 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=2 udp=48 size=200 wait_ms=400';

async function runFrontend(fe: FrontendSubject, b: NetbackBehaviour): Promise<NetRun> {
  const run = emptyNetRun();
  const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
  const consoles = new Map<number, string[]>();
  // dom0 without its own netback: the checking one is the only vif backend, registered at
  // once or, for a late InitWait, once the guests have been waiting.
  const platform = new LocalPlatform(hv);
  const daemons = new Dom0Daemons(platform, { netBackend: false, onConsole: (domid, bytes) => (consoles.get(domid) ?? consoles.set(domid, []).get(domid)!).push(new TextDecoder().decode(bytes)) });
  attachDom0Hooks(hv, (info) => daemons.domainCreated(info), (domid) => daemons.domainDestroyed(domid));
  const backendKey = (dev: DeviceInstance, key: string) => {
    const r = daemons.xs.read(`${dev.backend}/${key}`);
    return r.ok ? r.value : undefined;
  };
  await daemons.settle();
  let subject = -1;
  const checking = new CheckingNetback(platform, backendKey, b, run, () => subject);
  let xb = b.lateNs === undefined ? daemons.registerBackend(checking) : null; // both guests on its bridge
  const a = hv.createPvDomain(fe.image, { name: 'netfront', memoryBytes: 16 * MiB, cmdline: fe.cmdline }).domain;
  subject = a.domid;
  const peer = hv.createPvDomain(workElf(), { name: 'peer', memoryBytes: 16 * MiB, cmdline: NETFRONT_PEER_CMDLINE }).domain;
  addDevice(daemons.xs, a.domid, vifDevice({ devid: 0, mac: '00:16:3e:00:00:01', bridge: 'xenbr0' }));
  addDevice(daemons.xs, peer.domid, vifDevice({ devid: 0, mac: '00:16:3e:00:00:02', bridge: 'xenbr0' }));
  hv.unpause(a);
  hv.unpause(peer);
  if (b.lateNs !== undefined) {
    await hv.runAsync({ until: b.lateNs });
    run.stateWhenLate = daemons.xs.read(`/local/domain/${a.domid}/device/vif/0/state`);
    xb = daemons.registerBackend(checking);
    await daemons.settle(); // its first scan (InitWait for both devices) lands before the guests run on
  }
  if (b.restartAtNs !== undefined && xb) {
    await hv.runAsync({ until: b.restartAtNs });
    await xb.restartDevice(`/local/domain/0/backend/vif/${a.domid}/0`);
    await daemons.settle();
  }
  // 10 s of virtual time: a lost frame costs the guest a 1 s ping timeout or more.
  const r = await hv.runAsync({ until: fe.untilNs ?? 10_000_000_000 });
  run.log = hv.dmesg().filter((l) => l.startsWith(`(d${a.domid})`)).join('\n') + (consoles.get(a.domid) ?? []).join('');
  run.reason = a.shutdownReason ?? (r.kind === 'time' ? 'still running at the time bound' : 'blocked');
  checking.close();
  return run;
}

function workElf(): Uint8Array {
  return readFileSync(join(import.meta.dirname, '..', '..', '..', 'guests', 'build', 'work.elf'));
}

export interface NetfrontCtx {
  fe: FrontendSubject;
  go(b: NetbackBehaviour): Promise<NetRun>;
}

const tail = (r: NetRun) => r.log.trim().split('\n').slice(-2).join(' | ').slice(0, 200);
const noViolations = (r: NetRun) => expectThat(r.violations.length === 0, `the frontend broke netif: ${r.violations.slice(0, 3).join('; ')}`);
/** A run with errors to show: a count above 0 by an error word, a loss, or a diagnosis. */
const reportsErrors = (log: string) => /(errors?|lost|dropped)[=: ]+[1-9]|[1-9]\d* (rx |tx )?errors|broken|bad|error/i.test(log.replace(/tx_errors=0|lost=0|\b0 errors/g, ''));
const finished = (r: NetRun) => {
  expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}: ${tail(r)}`);
  expectThat(!/(tx_errors|lost)=[1-9]|[1-9]\d* errors/.test(r.log), `errors against a correct backend: ${tail(r)}`);
  expectThat(r.txRequests > 0 && r.rxRequests > 0, `no traffic (tx ${r.txRequests}, rx buffers ${r.rxRequests})`);
};
/** Facing a hostile backend: fail-stop with a diagnosis, or carry on with errors; never a fault or silent success. */
const survived = (r: NetRun, what: string, silentOk = false): string => {
  expectThat(r.hostileActs > 0, `${what}: the backend never got to act (too little traffic: give the guest more)`);
  expectThat(r.reason !== 'still running at the time bound', `${what}: the guest ran on without end: ${tail(r)}`);
  if (r.reason === 'crash') expectThat(/panic/.test(r.log) && !/fault|trap|illegal/i.test(r.log), `${what}: the guest crashed without a diagnosis: ${tail(r)}`);
  if (!silentOk && r.reason === 'poweroff') expectThat(reportsErrors(r.log), `${what}: the guest finished as if nothing was wrong: ${tail(r)}`);
  const last = r.log.trim().split('\n').filter((l) => /panic|work=net/.test(l)).at(-1)?.replace(/^\(d\d+\) /, '') ?? '';
  return r.reason === 'crash' ? `fail-stop: ${last}` : `the guest ended ${r.reason}: ${last.slice(0, 100)}`;
};

export const NETFRONT_CASES: readonly ConformanceCase<NetfrontCtx>[] = [
  {
    name: 'netfront: against a correct backend, every request valid and the run clean',
    run: async (c) => {
      const r = await c.go({});
      noViolations(r);
      finished(r);
    },
  },
  {
    name: 'netfront: the handshake: request-rx-copy 1, feature-rx-notify, one queue, one event channel, both ring refs',
    run: async (c) => {
      const r = await c.go({});
      noViolations(r);
      expectThat(r.keys !== null, 'the frontend never reached Initialised');
      expectThat(r.keys[NETFRONT_KEY.feature_rx_notify] === '1', `feature-rx-notify ${r.keys[NETFRONT_KEY.feature_rx_notify] ?? '(missing)'}: netback may then not queue for buffers`);
      return `keys: ${Object.keys(r.keys).join(' ')}`;
    },
  },
  {
    name: 'netfront: the backend reaches InitWait 50 ms after the frontend started: the frontend waits for it, then connects',
    run: async (c) => {
      const r = await c.go({ lateNs: 50_000_000 });
      noViolations(r);
      const st = r.stateWhenLate;
      // Not yet Initialised: a frontend writes its keys only after the backend's InitWait.
      expectThat(!st?.ok || Number(st.value) < 3, `the frontend was in state ${st?.value} before the backend existed`);
      finished(r);
      return `frontend state ${st?.ok ? st.value : '(none)'} while waiting`;
    },
  },
  {
    name: 'netfront: the backend lets the device go mid-run (Closed, as a restarted dom0): the frontend reconnects with new rings, then finishes',
    run: async (c) => {
      const r = await c.go({ restartAtNs: 20_000_000 });
      noViolations(r);
      expectThat(r.connects >= 2, `connected ${r.connects} time(s): the frontend did not reconnect`);
      expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}: ${tail(r)}`);
      return `${r.connects} connections; ${/\d+ reconnects/.exec(r.log)?.[0] ?? ''}`;
    },
  },
  {
    name: 'netfront: multi-queue and split event channels not offered: none asked for',
    run: async (c) => {
      const r = await c.go({ withhold: [NETBACK_KEY.multi_queue_max_queues, NETBACK_KEY.feature_split_event_channels] });
      noViolations(r);
      finished(r);
    },
  },
  {
    name: 'netfront: without feature-sg, every packet in one slot (no more_data)',
    run: async (c) => {
      const r = await c.go({ withhold: [NETBACK_KEY.feature_sg] });
      noViolations(r);
      expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}: ${tail(r)}`);
    },
  },
  {
    name: 'netfront: with feature-sg, multi-slot packets (more_data) well formed',
    run: async (c) => {
      const r = await c.go({});
      noViolations(r);
      expectThat(r.txMoreData > 0, 'no more_data seen: give the guest packets of several pieces');
      return `${r.txRequests} tx slots, ${r.txMoreData} with more_data`;
    },
  },
  {
    name: 'netfront: without feature-rx-copy, the frontend does not connect and says why',
    run: async (c) => {
      const r = await c.go({ withhold: [NETBACK_KEY.feature_rx_copy] });
      noViolations(r);
      expectThat(r.keys === null, 'the frontend connected');
      expectThat(r.reason !== 'still running at the time bound', `the guest ran on without end: ${tail(r)}`);
      expectThat(/rx-copy|rx copy/i.test(r.log), `no diagnosis: ${tail(r)}`);
    },
  },
  {
    name: 'netfront: rx buffers posted and refilled as they are used (ids unique while posted)',
    run: async (c) => {
      const r = await c.go({});
      noViolations(r);
      // netif.h does not say when: Linux posts at connect, pvsim's netfront once Connected.
      expectThat(r.rxRequests > 0, 'no rx buffer ever posted');
      expectThat(r.rxRefilled > 0, 'no rx buffer posted after the first rx response (no refill): give the guest more frames to receive');
      return `${r.rxPostedAtConnect} buffers posted when the backend mapped the ring, ${r.rxRequests} in all, ${r.rxRefilled} after the first response`;
    },
  },
  {
    name: 'netfront: garbage in unused bytes (tx response slots, ring header padding) is ignored',
    run: async (c) => {
      const r = await c.go({ garbagePadding: true });
      noViolations(r);
      finished(r);
    },
  },
  {
    name: 'netfront: rx flag bits netif.h does not define are ignored',
    run: async (c) => {
      const r = await c.go({ rxUnknownFlags: true });
      noViolations(r);
      finished(r);
    },
  },
  {
    name: 'netfront: tx answers out of order (matched by id): the run clean',
    run: async (c) => {
      const r = await c.go({ txReorder: true });
      noViolations(r);
      expectThat(r.hostileActs > 0, 'never two tx answers in one publication: give the guest multi-slot packets');
      finished(r);
    },
  },
  {
    name: 'netfront: a response rewritten after the frontend consumed it (its id reused) changes nothing',
    run: async (c) => {
      const r = await c.go({ rewriteConsumed: true });
      noViolations(r);
      expectThat(r.hostileActs > 0, 'no id reused: give the guest more traffic');
      finished(r);
      return `${r.hostileActs} consumed responses rewritten`;
    },
  },
  {
    name: 'netfront: tx rsp_prod past the requests (RING_RESPONSE_PROD_OVERFLOW): detected, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ txOverflowAt: 3 }), 'tx rsp_prod overflow'),
  },
  {
    name: 'netfront: rx rsp_prod past the buffers posted: detected, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ rxOverflowAt: 3 }), 'rx rsp_prod overflow'),
  },
  {
    name: 'netfront: a tx response for an id never requested: detected, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ txBogusIdAt: 4 }), 'bogus tx id'),
  },
  {
    name: 'netfront: an rx response for a buffer never posted: dropped, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ rxBogusIdAt: 4 }), 'bogus rx id'),
  },
  {
    name: 'netfront: a tx request answered twice: detected, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ txDuplicateAt: 4 }), 'duplicate tx answer'),
  },
  {
    name: 'netfront: every tx answer NETIF_RSP_ERROR: errors reported, no fault',
    hostile: true,
    run: async (c) => survived({ ...(await c.go({ txStatus: NETIF_RSP.ERROR })), hostileActs: 1 }, 'tx errors'),
  },
  {
    name: 'netfront: a tx status that is no status (0x1234): not taken as success',
    hostile: true,
    run: async (c) => survived({ ...(await c.go({ txStatus: 0x1234 })), hostileActs: 1 }, 'tx status 0x1234'),
  },
  {
    name: 'netfront: every tx answer NETIF_RSP_NULL (the status of an extra-info slot) for data slots: no fault, no hang',
    hostile: true,
    // Linux's netfront skips a NULL response as an extra-info slot's and so does pvsim's:
    // the buffer stays busy (a leak the backend causes), nothing is counted. Both carry on,
    // so finishing quietly is allowed here; the leak shows as tx "busy" in pvsim's report.
    run: async (c) => survived({ ...(await c.go({ txStatus: NETIF_RSP.NULL })), hostileActs: 1 }, 'tx NULL', true),
  },
  {
    name: 'netfront: an rx response with offset + length past the page: dropped, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ rxBadOffsetAt: 4 }), 'rx offset past the page'),
  },
  {
    name: 'netfront: an rx response longer than a page (status 5000): dropped, no fault',
    hostile: true,
    run: async (c) => survived(await c.go({ rxStatusAt: { n: 4, status: 5000 } }), 'rx length 5000'),
  },
  {
    name: 'netfront: an rx response NETIF_RSP_ERROR: the frame dropped, the run goes on',
    hostile: true,
    run: async (c) => survived(await c.go({ rxStatusAt: { n: 4, status: NETIF_RSP.ERROR } }), 'rx error'),
  },
];

/** Runs the frontend direction of the netif suite against `fe`. */
export async function netfrontConformance(fe: FrontendSubject, only?: string): Promise<ConformanceResult[]> {
  return await runConformance(NETFRONT_CASES, async () => ({ ctx: { fe, go: (b) => runFrontend(fe, b) }, gaveUp: () => null, close: async () => null }), only);
}

/** pvsim's own netfront: guests/build/work.elf (`work=net`) pinging and streaming to the peer. */
export function pvsimNetfront(cmdline = 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=4 udp=24 size=200 wait_ms=400'): FrontendSubject {
  return { image: workElf(), cmdline };
}

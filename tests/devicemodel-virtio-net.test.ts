// virtio-net on the same learning bridge as netback's vifs: an HVM guest's virtio-net port
// (played by a test driver over guest RAM) and a PV guest's vif (netback's real NetbackVif
// over rings and grants in a test platform) exchange frames both ways, and the bridge's
// pcap tap records both. Plus: two virtio-net ports, the header's fields, receive buffers
// too small, a bounded queue of frames waiting for buffers, and a GSO frame the device
// did not offer.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Bridge } from '../dom0/backends/net/bridge.ts';
import { NetbackVif } from '../dom0/backends/net/netback.ts';
import { PcapWriter, parsePcap } from '../dom0/backends/net/pcap.ts';
import type { Dom0Platform, MappedPage } from '../dom0/platform.ts';
import { DeviceModel } from '../dom0/devicemodel/ioreq.ts';
import { VIRTIO_MMIO, VirtioMmio } from '../dom0/devicemodel/virtio/mmio.ts';
import { RX_QUEUE_MAX, VIRTIO_NET_HDR_BYTES, VIRTIO_NET_RXQ, VIRTIO_NET_TXQ, VirtioNet } from '../dom0/devicemodel/virtio/net.ts';
import { ByteMemory } from '../protocol/guest_memory.ts';
import { FrontRing, SharedRing } from '../protocol/ring.ts';
import { GNTST } from '../protocol/xen/grant_table.ts';
import {
  NETIF_RSP,
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_RING_ENTRY_SIZE,
  readNetifRxResponse,
  readNetifTxResponse,
  writeNetifRxRequest,
  writeNetifTxRequest,
} from '../protocol/xen/netif.ts';
import { makeRam, VirtioGuest } from './helpers/virtio_guest.ts';

const BASE = 0x1000_1000;
const PV_MAC = '00:16:3e:00:00:01';
const HVM_MAC = '00:16:3e:00:00:02';
const HVM2_MAC = '00:16:3e:00:00:03';
const mac = (m: string) => Uint8Array.from(m.split(':').map((h) => parseInt(h, 16)));

function ethFrame(dst: string, src: string, len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  for (let i = 14; i < len; i++) f[i] = (i * 31 + seed) & 0xff;
  return f;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dm-vnet-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** An HVM guest's virtio-net: device, driver, and `rx` posted receive buffers of `bufLen`. */
async function hvmGuest(bridge: Bridge, m: string, rx = 4, bufLen = 1526 + VIRTIO_NET_HDR_BYTES) {
  const ram = makeRam();
  const net = new VirtioNet(`vif-emu-${m.slice(-2)}`, m, bridge);
  const levels: boolean[] = [];
  const dev = new VirtioMmio('virtio-net', net, ram, (l) => levels.push(l));
  const model = new DeviceModel();
  model.add(BASE, 0x1000, dev);
  const g = new VirtioGuest(model, ram, BASE);
  await g.init(2, 16);
  const rxBufs: number[] = [];
  for (let i = 0; i < rx; i++) rxBufs[g.addChain(VIRTIO_NET_RXQ, [{ in: bufLen }]).head] = 0;
  await g.notify(VIRTIO_NET_RXQ);
  return { ram, net, dev, g, levels };
}

/** Frames received by the driver (header checked), from the used ring of the receive queue. */
function received(g: VirtioGuest, bufAddr: Map<number, number>): Uint8Array[] {
  return g.takeUsed(VIRTIO_NET_RXQ).map((u) => {
    const at = bufAddr.get(u.id)!;
    const hdr = g.bytes(at, VIRTIO_NET_HDR_BYTES);
    expect(hdr[0]).toBe(0); // flags
    expect(hdr[1]).toBe(0); // GSO_NONE
    expect(hdr[10] | (hdr[11]! << 8)).toBe(1); // num_buffers
    return g.bytes(at + VIRTIO_NET_HDR_BYTES, u.len - VIRTIO_NET_HDR_BYTES);
  });
}

/** The receive buffers' addresses by descriptor head (the driver's own bookkeeping). */
function rxAddrs(g: VirtioGuest): Map<number, number> {
  const Q = g.queues.get(VIRTIO_NET_RXQ)!;
  const m = new Map<number, number>();
  for (let i = 0; i < Q.size; i++) m.set(i, g.u32(Q.desc + 16 * i));
  return m;
}

async function send(g: VirtioGuest, frame: Uint8Array, hdr = new Uint8Array(VIRTIO_NET_HDR_BYTES)): Promise<void> {
  g.addChain(VIRTIO_NET_TXQ, [{ out: hdr }, { out: frame }]);
  await g.notify(VIRTIO_NET_TXQ);
}

/** A PV guest's netfront over a test platform: grants are pages in a map, copies go through them. */
function pvGuest(bridge: Bridge) {
  const grants = new Map<number, Uint8Array>();
  let notifies = 0;
  const platform = {
    copyFromGrant: async (_d: number, ref: number, off: number, len: number) => {
      const p = grants.get(ref);
      return p && off + len <= 4096 ? { status: GNTST.okay, data: p.slice(off, off + len) } : { status: GNTST.bad_gntref, data: new Uint8Array(0) };
    },
    copyToGrant: async (_d: number, ref: number, off: number, data: Uint8Array) => {
      const p = grants.get(ref);
      if (!p || off + data.length > 4096) return GNTST.bad_gntref;
      p.set(data, off);
      return GNTST.okay;
    },
    notify: () => {
      notifies++;
    },
    now: () => 0,
  } as unknown as Dom0Platform;
  // A GNTTABOP_copy batch: its entries one by one, in order, as Xen carries them out.
  platform.copyGrants = async (ops) => {
    const out = [];
    for (const o of ops) out.push(o.to ? { status: await platform.copyToGrant(o.domid, o.ref, o.offset, o.data), data: new Uint8Array(0) } : await platform.copyFromGrant(o.domid, o.ref, o.offset, o.len));
    return out;
  };
  const txPage = new Uint8Array(4096);
  const rxPage = new Uint8Array(4096);
  const page = (b: Uint8Array): MappedPage => ({ mem: new ByteMemory(b), unmap: () => {} });
  const txs = new SharedRing(txPage, NETIF_TX_RING_ENTRY_SIZE);
  txs.init();
  const rxs = new SharedRing(rxPage, NETIF_RX_RING_ENTRY_SIZE);
  rxs.init();
  const tx = new FrontRing(txs);
  const rx = new FrontRing(rxs);
  const vif: NetbackVif = new NetbackVif(platform, 5, page(txPage), page(rxPage), 1, {
    name: 'vif5.0',
    sg: false,
    onFrame: (f, v) => bridge.forward(vif, f, v),
  });
  bridge.attach(vif);
  const txDv = new DataView(txPage.buffer);
  const rxDv = new DataView(rxPage.buffer);
  // Post rx buffers: grants 200.. .
  for (let i = 0; i < 4; i++) {
    grants.set(200 + i, new Uint8Array(4096));
    writeNetifRxRequest(rxDv, rx.nextRequest(), { id: i, gref: 200 + i });
    rx.produced();
  }
  rx.pushRequestsAndCheckNotify();
  return {
    vif,
    notifies: () => notifies,
    async send(frame: Uint8Array): Promise<number> {
      grants.set(100, frame.slice());
      writeNetifTxRequest(txDv, tx.nextRequest(), { gref: 100, offset: 0, flags: 0, id: 7, size: frame.length });
      tx.produced();
      tx.pushRequestsAndCheckNotify();
      await vif.service();
      const r = readNetifTxResponse(txDv, tx.nextResponse());
      tx.consumed();
      return r.status;
    },
    received(): Uint8Array[] {
      const out: Uint8Array[] = [];
      while (rx.unconsumedResponses() > 0) {
        const r = readNetifRxResponse(rxDv, rx.nextResponse());
        rx.consumed();
        expect(r.status).toBeGreaterThan(0);
        out.push(grants.get(200 + r.id)!.slice(r.offset, r.offset + r.status));
      }
      return out;
    },
  };
}

describe('virtio-net', () => {
  it('offers its MAC and link up in config', async () => {
    const bridge = new Bridge('xenbr0');
    const { g } = await hvmGuest(bridge, HVM_MAC);
    const m = [];
    for (let i = 0; i < 6; i++) m.push(await g.config(i, 1));
    expect(Uint8Array.from(m)).toEqual(mac(HVM_MAC));
    expect(await g.config(6, 2)).toBe(1);
    expect(await g.read32(VIRTIO_MMIO.DeviceID)).toBe(1);
  });

  it('exchanges frames with a PV vif on the same bridge, both recorded in the pcap', async () => {
    const bridge = new Bridge('xenbr0');
    const pcapPath = join(dir, 'xenbr0.pcap');
    const pcap = new PcapWriter(pcapPath, () => 0);
    bridge.tap = (f) => pcap.write(f);
    const hvm = await hvmGuest(bridge, HVM_MAC);
    const pv = pvGuest(bridge);
    // PV -> HVM (broadcast first, as ARP would be; then unicast).
    const bcast = ethFrame('ff:ff:ff:ff:ff:ff', PV_MAC, 60, 1);
    expect(await pv.send(bcast)).toBe(NETIF_RSP.OKAY);
    const uni = ethFrame(HVM_MAC, PV_MAC, 1200, 2);
    expect(await pv.send(uni)).toBe(NETIF_RSP.OKAY);
    const addrs = rxAddrs(hvm.g);
    expect(received(hvm.g, addrs)).toEqual([bcast, uni]);
    expect(hvm.levels.at(-1)).toBe(true);
    // HVM -> PV (the bridge learned the PV MAC: forwarded to the vif only).
    const back = ethFrame(PV_MAC, HVM_MAC, 1514, 3);
    await send(hvm.g, back);
    expect(hvm.g.takeUsed(VIRTIO_NET_TXQ)).toHaveLength(1);
    expect(pv.received()).toEqual([back]);
    expect(bridge.table()).toEqual([
      [PV_MAC, 'vif5.0'],
      [HVM_MAC, hvm.net.name],
    ]);
    expect(hvm.net.stats).toMatchObject({ tx_packets: 1, rx_packets: 2, tx_errors: 0, rx_dropped: 0 });
    pcap.close();
    const cap = parsePcap(readFileSync(pcapPath));
    expect(cap.packets.map((p) => Uint8Array.from(p.data))).toEqual([bcast, uni, back]);
  });

  it('forwards between two virtio-net ports and queues frames until buffers are posted (bounded)', async () => {
    const bridge = new Bridge('xenbr0');
    const a = await hvmGuest(bridge, HVM_MAC);
    const b = await hvmGuest(bridge, HVM2_MAC, 0);
    const f = ethFrame(HVM2_MAC, HVM_MAC, 100, 4);
    await send(a.g, f);
    expect(b.net.rxQueued).toBe(1);
    b.g.addChain(VIRTIO_NET_RXQ, [{ in: 1600 }]);
    await b.g.notify(VIRTIO_NET_RXQ);
    expect(received(b.g, rxAddrs(b.g))).toEqual([f]);
    for (let i = 0; i < RX_QUEUE_MAX + 5; i++) b.net.deliver(f);
    expect(b.net.rxQueued).toBe(RX_QUEUE_MAX);
    expect(b.net.stats.rx_dropped).toBe(5);
  });

  it('drops a frame too big for the receive buffer (used length 0) and a GSO or runt frame on transmit', async () => {
    const bridge = new Bridge('xenbr0');
    const a = await hvmGuest(bridge, HVM_MAC, 1, 100);
    const b = await hvmGuest(bridge, HVM2_MAC);
    await send(b.g, ethFrame(HVM_MAC, HVM2_MAC, 200, 5));
    expect(a.g.takeUsed(VIRTIO_NET_RXQ)).toEqual([{ id: 0, len: 0 }]);
    expect(a.net.stats.rx_errors).toBe(1);
    const gso = new Uint8Array(VIRTIO_NET_HDR_BYTES);
    gso[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4: not offered
    await send(a.g, ethFrame(HVM2_MAC, HVM_MAC, 200, 6), gso);
    await send(a.g, new Uint8Array(10));
    expect(a.g.takeUsed(VIRTIO_NET_TXQ).map((u) => u.len)).toEqual([0, 0]);
    expect(a.net.stats.tx_errors).toBe(2);
    expect(b.g.takeUsed(VIRTIO_NET_RXQ)).toEqual([]);
    expect(a.dev.stats.needsReset).toBe(0);
  });
});

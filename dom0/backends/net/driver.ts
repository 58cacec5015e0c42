// netback as a xenbus backend driver (kind `vif`): what it publishes before InitWait, how it
// connects a frontend's two rings and event channel and puts the vif on its bridge, and how
// it lets go. Keys as xen/io/netif.h documents them; one queue, one event channel, copy
// only (no page flipping), no GSO, no multicast control, no control ring.

import type { BackendDriver, DeviceInstance } from '../xenbus.ts';
import type { Dom0Platform } from '../../platform.ts';
import { NETBACK_KEY, NETFRONT_KEY } from '../../../protocol/xen/netif.ts';
import { Bridge } from './bridge.ts';
import { NetbackVif, emptyNetStats, type NetbackStats } from './netback.ts';
import { PcapWriter } from './pcap.ts';

export const DEFAULT_BRIDGE = 'xenbr0';

interface Attached {
  vif: NetbackVif;
  bridge: Bridge;
  devid: number;
  mac: string | undefined;
  handles: number[];
}

export interface NetbackOptions {
  /** Capture every frame crossing any bridge to this pcap file. */
  pcap?: string;
  /** Add to an existing capture instead of starting it over (a restarted dom0). */
  pcapAppend?: boolean;
  log?: (line: string) => void;
}

export class NetbackDriver implements BackendDriver {
  readonly kind = 'vif';
  readonly bridges = new Map<string, Bridge>();
  /** Connected vifs by backend path. */
  readonly attached = new Map<string, Attached>();
  /** Counters of vifs that have gone, per domain, so a domain's totals survive a reconnect. */
  private readonly retired = new Map<number, NetbackStats>();
  private pcap: PcapWriter | null = null;

  constructor(
    private readonly platform: Dom0Platform,
    /** Reads a key of the device's backend directory. */
    private readonly backendKey: (dev: DeviceInstance, key: string) => string | undefined,
    private readonly opts: NetbackOptions = {},
  ) {
    if (opts.pcap) {
      let last = 0;
      this.pcap = new PcapWriter(opts.pcap, () => {
        // Virtual time when the platform knows it; never going backwards.
        const t = typeof platform.now === 'function' ? platform.now() : last + 1;
        last = Math.max(last, t);
        return last;
      }, opts.pcapAppend ?? false);
    }
  }

  features(_dev: DeviceInstance): Record<string, string> {
    return {
      [NETBACK_KEY.feature_sg]: '1',
      [NETBACK_KEY.feature_rx_copy]: '1',
      [NETBACK_KEY.feature_rx_flip]: '0',
      [NETBACK_KEY.feature_gso_tcpv4]: '0',
      [NETBACK_KEY.feature_gso_tcpv6]: '0',
      [NETBACK_KEY.feature_split_event_channels]: '0',
      [NETBACK_KEY.feature_multicast_control]: '0',
      [NETBACK_KEY.feature_ctrl_ring]: '0',
    };
  }

  /** The bridge `name` (made on first use): vifs and the device model's virtio-net ports join it. */
  bridge(name: string): Bridge {
    let b = this.bridges.get(name);
    if (!b) {
      b = new Bridge(name, () => (typeof this.platform.now === 'function' ? this.platform.now() : 0));
      if (this.pcap) {
        const pcap = this.pcap;
        b.tap = (frame) => pcap.write(frame);
      }
      this.bridges.set(name, b);
    }
    return b;
  }

  async connect(dev: DeviceInstance, read: (key: string) => string | undefined): Promise<void> {
    const num = (key: string, min: number) => {
      const v = read(key);
      if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > 0xffffffff) throw new Error(`bad ${key} ${v === undefined ? '(missing)' : JSON.stringify(v)}`);
      return Number(v);
    };
    const q = read(NETFRONT_KEY.multi_queue_num_queues);
    if (q !== undefined && q !== '1') throw new Error(`multi-queue-num-queues ${q}: only one queue is supported (no multi-queue-max-queues offered)`);
    if (read(NETFRONT_KEY.event_channel) === undefined && read(NETFRONT_KEY.event_channel_tx) !== undefined)
      throw new Error('split event channels asked for, but feature-split-event-channels is 0: write event-channel');
    const txRef = num(NETFRONT_KEY.tx_ring_ref, 0);
    const rxRef = num(NETFRONT_KEY.rx_ring_ref, 0);
    const evtchn = num(NETFRONT_KEY.event_channel, 1);
    if (read(NETFRONT_KEY.request_rx_copy) !== '1') throw new Error('request-rx-copy is not 1: this backend copies into rx buffers and cannot flip pages (feature-rx-flip=0)');
    if (read(NETFRONT_KEY.feature_rx_notify) !== '1') throw new Error('feature-rx-notify is not 1: the frontend must set rx req_event so queued frames can wait for buffers');
    const sg = read(NETFRONT_KEY.feature_sg) === '1';

    const tx = await this.platform.mapGrant(dev.domid, txRef, false);
    if (!tx.page) throw new Error(`tx-ring-ref ${txRef}: grant status ${tx.status}`);
    const rx = await this.platform.mapGrant(dev.domid, rxRef, false);
    if (!rx.page) {
      await this.platform.unmapGrant(tx.handle);
      throw new Error(`rx-ring-ref ${rxRef}: grant status ${rx.status}`);
    }
    let port: number;
    try {
      port = await this.platform.bindInterdomain(dev.domid, evtchn);
    } catch (e) {
      await this.platform.unmapGrant(tx.handle);
      await this.platform.unmapGrant(rx.handle);
      throw e;
    }
    const bridge = this.bridge(this.backendKey(dev, 'bridge') || DEFAULT_BRIDGE);
    const vif: NetbackVif = new NetbackVif(this.platform, dev.domid, tx.page, rx.page, port, {
      name: `vif${dev.domid}.${dev.devid}`,
      sg,
      onFrame: (frame, validated) => bridge.forward(vif, frame, validated),
    });
    bridge.attach(vif);
    this.platform.onEvent(port, () => vif.service());
    this.attached.set(dev.backend, { vif, bridge, devid: dev.devid, mac: this.backendKey(dev, 'mac'), handles: [tx.handle, rx.handle] });
    this.opts.log?.(`netback: ${vif.name} connected to ${bridge.name}${sg ? ' (sg)' : ''}`);
    await vif.service(); // packets and buffers published before the connection
  }

  async disconnect(dev: DeviceInstance): Promise<void> {
    const a = this.attached.get(dev.backend);
    if (!a) return;
    this.attached.delete(dev.backend);
    a.bridge.detach(a.vif);
    await a.vif.close(); // the packet being served is answered on the mapped rings first
    const r = this.retired.get(dev.domid) ?? emptyNetStats();
    for (const k of Object.keys(r) as (keyof NetbackStats)[]) r[k] += a.vif.stats[k];
    this.retired.set(dev.domid, r);
    try {
      await this.platform.closePort(a.vif.port);
      for (const h of a.handles) await this.platform.unmapGrant(h);
    } catch {
      // the domain may already be gone
    }
  }

  /** Connected vifs: name, domain, device id, bridge, MAC and counters. */
  vifs(): { name: string; domid: number; devid: number; bridge: string; mac: string | undefined; stats: NetbackStats; halted: boolean; lastError: string }[] {
    return [...this.attached.values()].map((a) => ({ name: a.vif.name, domid: a.vif.domid, devid: a.devid, bridge: a.bridge.name, mac: a.mac, stats: { ...a.vif.stats }, halted: a.vif.halted, lastError: a.vif.lastError }));
  }

  /** A domain's network counters (guest's view: tx = sent), summed over its vifs, past and present. */
  statsFor(domid: number): NetbackStats {
    const s = { ...(this.retired.get(domid) ?? emptyNetStats()) };
    for (const a of this.attached.values()) if (a.vif.domid === domid) for (const k of Object.keys(s) as (keyof NetbackStats)[]) s[k] += a.vif.stats[k];
    return s;
  }

  /** dom0 stopping: the capture file is completed and closed. */
  close(): void {
    this.pcap?.close();
    this.pcap = null;
    for (const b of this.bridges.values()) b.tap = null;
  }
}

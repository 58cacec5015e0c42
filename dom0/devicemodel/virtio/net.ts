// virtio-net (virtio 1.2, 5.1): queue 0 receive, queue 1 transmit, no control queue. A port
// of the same learning bridge as netback's vifs (dom0/backends/net/bridge.ts), so HVM and
// PV guests on one bridge exchange frames and one pcap tap sees them all.
//
// Every buffer starts with the 12-byte virtio_net_hdr (with VIRTIO_F_VERSION_1: flags u8,
// gso_type u8, hdr_len u16, gso_size u16, csum_start u16, csum_offset u16, num_buffers u16).
// Offered: VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS (link always up); no checksum offload, no
// GSO, no mergeable rx buffers, so:
//   tx  header + one Ethernet frame (14..65535 bytes) in the chain's device-readable bytes;
//       a frame with gso_type != NONE, shorter than a header or longer than the limit is
//       dropped (tx_errors). Used length 0 (the device writes nothing).
//   rx  a frame is written with a header {flags 0, gso NONE, num_buffers 1} into one chain's
//       device-writable buffers; a chain too small for header and frame is returned with
//       used length 0 (rx_errors) and the frame dropped. Frames wait for buffers in a
//       queue of RX_QUEUE_MAX; beyond, they are dropped (rx_dropped).

import { ETH_HLEN, ETH_ALEN, type Bridge, type BridgePort } from '../../backends/net/bridge.ts';
import type { NetbackStats } from '../../backends/net/netback.ts';
import { bit, readConfigLe, type VirtioBackend, type VirtioMmio } from './mmio.ts';

export const VIRTIO_ID_NET = 1;
export const VIRTIO_NET_F = { MAC: 5, STATUS: 16 } as const;
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_HDR_BYTES = 12;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_RXQ = 0;
export const VIRTIO_NET_TXQ = 1;
/** Largest frame taken from or given to the guest (no GSO): 64 KiB of Ethernet. */
export const VIRTIO_NET_MAX_FRAME = 65535;
export const VIRTIO_NET_QUEUE_MAX = 256;
export const RX_QUEUE_MAX = 256;

/** Per-port counters, as netback keeps them for a vif (xentop's NETTX/NETRX columns). */
export type VirtioNetStats = NetbackStats;

/** "00:16:3e:.." to six bytes (throws on anything else: a toolstack bug). */
export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== ETH_ALEN || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`bad MAC ${mac}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export class VirtioNet implements VirtioBackend, BridgePort {
  readonly deviceId = VIRTIO_ID_NET;
  readonly numQueues = 2;
  readonly queueMax = VIRTIO_NET_QUEUE_MAX;
  /** mac[6], status u16 (max_virtqueue_pairs and mtu only with features not offered). */
  readonly configSize = 8;
  readonly deviceFeatures = bit(VIRTIO_NET_F.MAC) | bit(VIRTIO_NET_F.STATUS);
  readonly stats: VirtioNetStats = { tx_packets: 0, tx_bytes: 0, tx_errors: 0, rx_packets: 0, rx_bytes: 0, rx_dropped: 0, rx_errors: 0 };
  private readonly config = new Uint8Array(8);
  private readonly rxQueue: Uint8Array[] = [];
  private dev: VirtioMmio | null = null;

  constructor(
    /** The bridge port's name, e.g. `vif3.0-emu` as Xen names an emulated NIC's tap. */
    readonly name: string,
    readonly mac: string,
    private readonly bridge: Bridge,
  ) {
    this.config.set(parseMac(mac), 0);
    this.config[6] = VIRTIO_NET_S_LINK_UP;
    bridge.attach(this);
  }

  /** Leaves the bridge (the domain is gone). */
  detach(): void {
    this.bridge.detach(this);
    this.rxQueue.length = 0;
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    return readConfigLe(this.config, offset, size);
  }

  activate(dev: VirtioMmio): void {
    this.dev = dev;
  }

  reset(): void {
    // Frames queued for the guest stay queued for the driver that comes next.
  }

  /** Frames waiting for receive buffers. */
  get rxQueued(): number {
    return this.rxQueue.length;
  }

  /** A frame from the bridge for this guest. Never throws. */
  deliver(frame: Uint8Array): void {
    if (this.rxQueue.length >= RX_QUEUE_MAX || frame.length > VIRTIO_NET_MAX_FRAME) {
      this.stats.rx_dropped++;
      return;
    }
    this.rxQueue.push(frame);
    const dev = this.dev;
    // Called from the bridge, outside any ioreq: nothing may escape as a rejection.
    if (dev?.live) dev.guard(() => this.fillRx(dev)).catch((e: unknown) => dev.needsReset(`receive failed: ${(e as Error).message}`));
  }

  async notify(q: number): Promise<void> {
    const dev = this.dev;
    if (!dev) return;
    if (q === VIRTIO_NET_RXQ) return this.fillRx(dev);
    if (q === VIRTIO_NET_TXQ) return this.transmit(dev);
  }

  /** Moves queued frames into posted receive buffers. */
  private fillRx(dev: VirtioMmio): void {
    const vq = dev.queue(VIRTIO_NET_RXQ);
    if (!vq || !dev.live) return;
    let any = false;
    while (this.rxQueue.length > 0) {
      const chain = vq.pop();
      if (!chain) {
        vq.enableNotify();
        if (vq.pending() === 0) break;
        continue;
      }
      any = true;
      const frame = this.rxQueue.shift()!;
      if (chain.writeBytes < VIRTIO_NET_HDR_BYTES + frame.length) {
        this.stats.rx_errors++;
        this.stats.rx_dropped++;
        vq.push(chain.head, 0);
        continue;
      }
      const hdr = new Uint8Array(VIRTIO_NET_HDR_BYTES);
      hdr[10] = 1; // num_buffers: 1 (no mergeable buffers)
      vq.writeTo(chain.writable, 0, hdr);
      vq.writeTo(chain.writable, VIRTIO_NET_HDR_BYTES, frame);
      vq.push(chain.head, VIRTIO_NET_HDR_BYTES + frame.length);
      this.stats.rx_packets++;
      this.stats.rx_bytes += frame.length;
    }
    if (this.rxQueue.length === 0) vq.enableNotify();
    if (any) dev.signalUsed(VIRTIO_NET_RXQ);
  }

  /** Takes every frame the guest made available, then hands them to the bridge. */
  private async transmit(dev: VirtioMmio): Promise<void> {
    const vq = dev.queue(VIRTIO_NET_TXQ);
    if (!vq) return;
    const frames: Uint8Array[] = [];
    // All guest memory is read before the first await: a reset during forwarding cannot
    // make the device write to rings the driver has taken back.
    for (;;) {
      for (let chain = vq.pop(); chain; chain = vq.pop()) {
        const len = chain.readBytes - VIRTIO_NET_HDR_BYTES;
        const hdr = vq.readFrom(chain.readable, 0, Math.min(chain.readBytes, VIRTIO_NET_HDR_BYTES));
        if (len < ETH_HLEN || len > VIRTIO_NET_MAX_FRAME || hdr[1] !== VIRTIO_NET_HDR_GSO_NONE) {
          this.stats.tx_errors++;
        } else {
          frames.push(vq.readFrom(chain.readable, VIRTIO_NET_HDR_BYTES, len));
        }
        vq.push(chain.head, 0);
      }
      vq.enableNotify();
      if (vq.pending() === 0) break;
    }
    dev.signalUsed(VIRTIO_NET_TXQ);
    for (const f of frames) {
      this.stats.tx_packets++;
      this.stats.tx_bytes += f.length;
      await this.bridge.forward(this, f);
    }
  }
}

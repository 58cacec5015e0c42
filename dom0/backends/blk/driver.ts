// blkback as a xenbus backend driver: what it publishes before InitWait, and how it
// connects to a frontend (ring-ref, event-channel) and lets go of it. Keys as blkif.h
// documents them.

import type { BackendDriver, DeviceInstance } from '../xenbus.ts';
import type { Dom0Platform } from '../../platform.ts';
import { FileBlockStore } from './store.ts';
import { BlkbackRing, MAX_INDIRECT_SEGMENTS } from './blkback.ts';
import { VDISK } from '../../../protocol/xen/blkif.ts';

/** Size of an image that does not exist yet, when the configuration names none. */
export const DEFAULT_DISK_BYTES = 64 * 1024 * 1024;

interface Attached {
  ring: BlkbackRing;
  store: FileBlockStore;
  port: number;
  handle: number;
}

export class BlkbackDriver implements BackendDriver {
  readonly kind = 'vbd';
  private readonly stores = new Map<string, FileBlockStore>();
  readonly attached = new Map<string, Attached>();

  constructor(
    private readonly platform: Dom0Platform,
    /** Reads a key of the device's backend directory. */
    private readonly backendKey: (dev: DeviceInstance, key: string) => string | undefined,
  ) {}

  private store(dev: DeviceInstance): FileBlockStore {
    let s = this.stores.get(dev.backend);
    if (!s) {
      const path = this.backendKey(dev, 'params');
      if (!path) throw new Error('no params (image path) in the backend directory');
      const readonly = this.backendKey(dev, 'mode') !== 'w';
      const size = Number(this.backendKey(dev, 'size') ?? DEFAULT_DISK_BYTES);
      s = new FileBlockStore(path, readonly, size);
      this.stores.set(dev.backend, s);
    }
    return s;
  }

  features(dev: DeviceInstance): Record<string, string> {
    const s = this.store(dev);
    return {
      sectors: String(s.sectors),
      'sector-size': '512',
      'physical-sector-size': '512',
      info: String(s.readonly ? VDISK.READONLY : 0),
      'feature-flush-cache': '1',
      'feature-discard': s.readonly ? '0' : '1',
      'discard-granularity': '512',
      'discard-alignment': '0',
      'feature-max-indirect-segments': String(MAX_INDIRECT_SEGMENTS),
      'feature-persistent': '1',
    };
  }

  async connect(dev: DeviceInstance, read: (key: string) => string | undefined): Promise<void> {
    const ref = Number(read('ring-ref'));
    const evtchn = Number(read('event-channel'));
    const protocol = read('protocol');
    if (!Number.isInteger(ref) || ref < 0) throw new Error(`bad ring-ref ${read('ring-ref')}`);
    if (!Number.isInteger(evtchn) || evtchn <= 0) throw new Error(`bad event-channel ${read('event-channel')}`);
    // RV32's blkif layout is x86_64's (64-bit fields 8-aligned): that ABI, or none.
    if (protocol !== undefined && protocol !== 'x86_64-abi') throw new Error(`unsupported protocol ${protocol}`);
    const m = await this.platform.mapGrant(dev.domid, ref, false);
    if (!m.page) throw new Error(`ring-ref ${ref}: grant status ${m.status}`);
    const port = await this.platform.bindInterdomain(dev.domid, evtchn);
    const store = this.store(dev);
    // Persistent grants only when the frontend asks for them too (its own feature-persistent).
    const ring = new BlkbackRing(this.platform, dev.domid, m.page, port, store, read('feature-persistent') === '1');
    this.platform.onEvent(port, () => ring.service());
    this.attached.set(dev.backend, { ring, store, port, handle: m.handle });
    await ring.service(); // requests published before the connection
  }

  async disconnect(dev: DeviceInstance): Promise<void> {
    const a = this.attached.get(dev.backend);
    if (!a) return;
    this.attached.delete(dev.backend);
    a.store.flush();
    await a.ring.releasePersistent();
    await this.platform.closePort(a.port);
    await this.platform.unmapGrant(a.handle);
  }

  /** Closes every image (dom0 stopping). */
  close(): void {
    for (const s of this.stores.values()) s.close();
    this.stores.clear();
  }
}

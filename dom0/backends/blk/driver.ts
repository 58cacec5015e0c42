// blkback as a xenbus backend driver: what it publishes before InitWait, and how it
// connects to a frontend (ring-ref, event-channel) and lets go of it. Keys as blkif.h
// documents them.

import type { BackendDriver, DeviceInstance } from '../xenbus.ts';
import type { Dom0Platform } from '../../platform.ts';
import { BlockStoreError, FileBlockStore, type BlockStore } from './store.ts';
import { RateLimitedLog } from '../ratelimit.ts';
import { BlkbackRing, MAX_INDIRECT_SEGMENTS } from './blkback.ts';
import { BLKBACK_KEY, BLKFRONT_KEY, VDISK, XEN_IO_PROTO_ABI } from '../../../protocol/xen/blkif.ts';

/** Size of an image that does not exist yet, when the configuration names none. */
export const DEFAULT_DISK_BYTES = 64 * 1024 * 1024;

interface Attached {
  ring: BlkbackRing;
  store: BlockStore;
  port: number;
  handle: number;
  /** The xenbus device id (xentop -x's per-vbd lines). */
  devid: number;
}

/** An image open for a device, and how: what the sharing check compares. */
interface Opened {
  store: BlockStore;
  domid: number;
  /** The backend's `mode`: 'r', 'w', or 'w!' (writable, shared on purpose). */
  mode: 'r' | 'w' | 'w!';
}

export interface BlkbackOptions {
  /** dom0's log: host I/O errors (rate-limited), images that cannot be opened. */
  log?: (line: string) => void;
  /** Opens an image (tests put a fault-injecting store here). Default: FileBlockStore. */
  openStore?: (path: string, readonly: boolean, sizeBytes: number) => BlockStore;
  /** A domain's name, for messages about sharing (XenStore's /local/domain/<domid>/name). */
  domainName?: (domid: number) => string | undefined;
}

/** A value a guest wrote, for a message: quoted, escaped, at most 64 characters of it. */
function guestText(v: string | undefined): string {
  if (v === undefined) return '(none)';
  return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}...` : v);
}

export class BlkbackDriver implements BackendDriver {
  readonly kind = 'vbd';
  private readonly stores = new Map<string, Opened>();
  readonly attached = new Map<string, Attached>();
  /** One budget for every ring: many failing disks cannot flood the log either. */
  private readonly ioLog: RateLimitedLog | null;

  constructor(
    private readonly platform: Dom0Platform,
    /** Reads a key of the device's backend directory. */
    private readonly backendKey: (dev: DeviceInstance, key: string) => string | undefined,
    private readonly opts: BlkbackOptions = {},
  ) {
    this.ioLog = opts.log ? new RateLimitedLog(opts.log) : null;
  }

  /** Images open now (one per device of a live domain). */
  get openImages(): number {
    return this.stores.size;
  }

  private store(dev: DeviceInstance): BlockStore {
    const known = this.stores.get(dev.backend);
    if (known) return known.store;
    const path = this.backendKey(dev, BLKBACK_KEY.params);
    if (!path) throw new BlockStoreError('no params (image path) in the backend directory', 'EINVAL');
    const m = this.backendKey(dev, BLKBACK_KEY.mode);
    const mode = m === 'w' || m === 'w!' ? m : 'r';
    const size = Number(this.backendKey(dev, 'size') ?? DEFAULT_DISK_BYTES);
    const open = this.opts.openStore ?? ((p: string, ro: boolean, bytes: number) => new FileBlockStore(p, ro, bytes));
    const store = open(path, mode === 'r', size);
    const conflict = this.sharingConflict(store, dev.domid, mode);
    if (conflict) {
      store.close();
      throw new BlockStoreError(conflict, 'EBUSY');
    }
    this.stores.set(dev.backend, { store, domid: dev.domid, mode });
    return store;
  }

  /**
   * Xen's block hotplug script's sharing rule, by the file's identity (device and inode, so
   * two spellings of one file, or a link to it, are the same disk): an image attached
   * writable to one domain is attached to no other; one attached read-only may be attached
   * read-only elsewhere. Mode 'w!' skips the check (the script's '!': shared on purpose).
   */
  private sharingConflict(store: BlockStore, domid: number, mode: Opened['mode']): string | null {
    if (mode === 'w!') return null;
    for (const o of this.stores.values()) {
      if (o.domid === domid || o.store.identity !== store.identity) continue;
      if (mode === 'r' && o.mode !== 'w') continue;
      const name = this.opts.domainName?.(o.domid);
      const who = `domain ${o.domid}${name ? ` (${name})` : ''}`;
      return mode === 'w'
        ? `${store.path} is in use by ${who} ${o.mode === 'r' ? 'read-only' : 'read-write'}; an image attached writable cannot be attached to another domain`
        : `${store.path} is in use read-write by ${who}, and so cannot be attached read-only to another domain now`;
    }
    return null;
  }

  /** A device a previous dom0 served: its image is opened (claimed) again at once. */
  claim(dev: DeviceInstance): void {
    this.store(dev);
  }

  features(dev: DeviceInstance): Record<string, string> {
    const s = this.store(dev);
    return {
      [BLKBACK_KEY.sectors]: String(s.sectors),
      [BLKBACK_KEY.sector_size]: '512',
      [BLKBACK_KEY.physical_sector_size]: '512',
      [BLKBACK_KEY.info]: String(s.readonly ? VDISK.READONLY : 0),
      [BLKBACK_KEY.feature_flush_cache]: '1',
      [BLKBACK_KEY.feature_discard]: s.readonly ? '0' : '1',
      [BLKBACK_KEY.discard_granularity]: '512',
      [BLKBACK_KEY.discard_alignment]: '0',
      [BLKBACK_KEY.feature_max_indirect_segments]: String(MAX_INDIRECT_SEGMENTS),
      [BLKBACK_KEY.feature_persistent]: '1',
    };
  }

  async connect(dev: DeviceInstance, read: (key: string) => string | undefined): Promise<void> {
    const ref = Number(read(BLKFRONT_KEY.ring_ref));
    const evtchn = Number(read(BLKFRONT_KEY.event_channel));
    const protocol = read(BLKFRONT_KEY.protocol);
    // The guest wrote these: quoted (JSON) in the error node and dom0's log, so a value with
    // a newline cannot add a line of its own making to the log.
    if (!Number.isInteger(ref) || ref < 0) throw new Error(`bad ring-ref ${guestText(read(BLKFRONT_KEY.ring_ref))}`);
    if (!Number.isInteger(evtchn) || evtchn <= 0) throw new Error(`bad event-channel ${guestText(read(BLKFRONT_KEY.event_channel))}`);
    // RV32's blkif layout is x86_64's (64-bit fields 8-aligned): that ABI, or none.
    if (protocol !== undefined && protocol !== XEN_IO_PROTO_ABI.X86_64) throw new Error(`unsupported protocol ${guestText(protocol)}`);
    const store = this.store(dev); // before mapping anything, so a failure leaves nothing held
    const m = await this.platform.mapGrant(dev.domid, ref, false);
    if (!m.page) throw new Error(`ring-ref ${ref}: grant status ${m.status}`);
    let port: number;
    try {
      port = await this.platform.bindInterdomain(dev.domid, evtchn);
    } catch (e) {
      await this.platform.unmapGrant(m.handle); // the device fails holding nothing
      throw e;
    }
    // Persistent grants only when the frontend asks for them too (its own feature-persistent).
    const ring = new BlkbackRing(this.platform, dev.domid, m.page, port, store, read(BLKFRONT_KEY.feature_persistent) === '1', {
      devid: dev.devid,
      log: this.ioLog ? (l) => this.ioLog!.log(l) : undefined,
    });
    this.platform.onEvent(port, () => ring.service());
    this.attached.set(dev.backend, { ring, store, port, handle: m.handle, devid: dev.devid });
    await ring.service(); // requests published before the connection
  }

  async disconnect(dev: DeviceInstance): Promise<void> {
    const a = this.attached.get(dev.backend);
    if (!a) return;
    this.attached.delete(dev.backend);
    await a.ring.stop(); // a request being served finishes on the mapped ring first
    try {
      a.store.flush();
    } catch (e) {
      this.opts.log?.(`blkback: d${dev.domid} vbd ${dev.devid}: flush at disconnect failed: ${(e as Error).message}`);
    }
    await a.ring.releasePersistent();
    await this.platform.closePort(a.port);
    await this.platform.unmapGrant(a.handle);
  }

  /** The device's backend directory is gone (its domain was destroyed): its image is closed. */
  remove(dev: DeviceInstance): void {
    const o = this.stores.get(dev.backend);
    if (!o) return;
    this.stores.delete(dev.backend);
    o.store.close();
  }

  /** Closes every image (dom0 stopping). */
  close(): void {
    for (const o of this.stores.values()) o.store.close();
    this.stores.clear();
  }
}

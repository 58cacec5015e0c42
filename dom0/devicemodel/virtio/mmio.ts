// virtio over MMIO, version 2 (virtio 1.2, 4.2): the register block one virtio slot of the
// HVM board maps, served as ioreqs. The device type behind it (blk, net) is a VirtioBackend.
//
// Choices where the spec leaves the device room (each also in docs/fullvirt.md):
// - Control registers (0x000-0x0ff) answer only aligned 32-bit accesses (4.2.2.2: the driver
//   MUST use them); other widths read 0 and are ignored on write. Config space (0x100 on)
//   takes aligned 8/16/32-bit accesses.
// - Status: 0 resets. A write that clears a bit (other than to 0) is ignored; bits must come
//   in the handshake's order (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK) or the new bit is
//   not taken. FEATURES_OK sticks only when the driver's features are a subset of the
//   device's and include VIRTIO_F_VERSION_1 (6.1: a device may require it).
// - Queue registers are writable only while the selected queue is not ready; QueueReady = 1
//   is taken only after FEATURES_OK, with a power-of-two size <= QueueNumMax and all three
//   areas aligned and inside guest RAM (else it reads back 0).
// - A notify for a queue that does not exist or is not ready is ignored (counted). So are
//   notifies once DEVICE_NEEDS_RESET is set, until the driver resets the device.
// - A virtqueue that breaks the ring's rules (virtqueue.ts) sets DEVICE_NEEDS_RESET and,
//   with DRIVER_OK set, raises the configuration change interrupt (2.1.2).

import { GuestRamFault, type GuestRam, type IoreqDevice, type IrqLine } from '../ioreq.ts';
import { SplitVirtqueue, VirtqueueError } from './virtqueue.ts';

export const VIRTIO_MMIO_MAGIC = 0x74726976; // "virt"
export const VIRTIO_MMIO_VERSION = 2;
/** VendorID: "pvsm" little-endian (any value; Linux does not look at it). */
export const VIRTIO_VENDOR_PVSIM = 0x6d737670;

/** Register offsets (4.2.2). */
export const VIRTIO_MMIO = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceID: 0x008,
  VendorID: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptACK: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  SHMSel: 0x0ac,
  SHMLenLow: 0x0b0,
  SHMLenHigh: 0x0b4,
  SHMBaseLow: 0x0b8,
  SHMBaseHigh: 0x0bc,
  QueueReset: 0x0c0,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

/** Device status bits (2.1). */
export const VIRTIO_STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Transport feature bits (6). */
export const VIRTIO_F = {
  RING_INDIRECT_DESC: 28,
  RING_EVENT_IDX: 29,
  VERSION_1: 32,
} as const;

export const VIRTIO_MMIO_INT_VRING = 1;
export const VIRTIO_MMIO_INT_CONFIG = 2;

/** The register window one device occupies (the board's slot stride). */
export const VIRTIO_MMIO_WINDOW = 0x1000;

export const bit = (n: number): bigint => 1n << BigInt(n);

/** A little-endian read of `size` bytes of a device's config space (bytes past its end read 0). */
export function readConfigLe(config: Uint8Array, offset: number, size: 1 | 2 | 4): number {
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + (config[offset + i] ?? 0);
  return v;
}

/** A device type behind the transport. */
export interface VirtioBackend {
  readonly deviceId: number;
  /** Device-specific feature bits offered (the transport adds its own). */
  readonly deviceFeatures: bigint;
  readonly numQueues: number;
  /** QueueNumMax of every queue. */
  readonly queueMax: number;
  readonly configSize: number;
  /** Reads `size` bytes of config space at `offset` (inside configSize). */
  configRead(offset: number, size: 1 | 2 | 4): number;
  /** A driver's write to config space (most devices: read-only, ignored). */
  configWrite?(offset: number, size: 1 | 2 | 4, value: number): void;
  /** The driver set DRIVER_OK: `dev` gives queues and interrupts. */
  activate(dev: VirtioMmio): void;
  /** The driver notified queue `q` (ready, device live). May throw VirtqueueError. */
  notify(q: number): void | Promise<void>;
  /** The device was reset: forget every request in flight. */
  reset(): void;
}

interface QueueRegs {
  num: number;
  ready: boolean;
  desc: number;
  driver: number;
  device: number;
  vq: SplitVirtqueue | null;
}

export interface VirtioMmioStats {
  notifies: number;
  /** Notifies ignored: no such queue, not ready, device not live or needing reset. */
  ignoredNotifies: number;
  interrupts: number;
  /** Configuration change interrupts raised (config changed, or DEVICE_NEEDS_RESET). */
  configInterrupts: number;
  /** Register writes ignored as out of order or out of place. */
  ignoredWrites: number;
  needsReset: number;
}

const lo = (v: number) => v >>> 0;
const addr64 = (low: number, high: number) => (high >>> 0) * 2 ** 32 + (low >>> 0);

export class VirtioMmio implements IoreqDevice {
  readonly offered: bigint;
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private shmSel = 0;
  private readonly queues: QueueRegs[];
  /** Why the device last needed a reset (for logs and tests). */
  lastError = '';
  readonly stats: VirtioMmioStats = { notifies: 0, ignoredNotifies: 0, interrupts: 0, configInterrupts: 0, ignoredWrites: 0, needsReset: 0 };

  constructor(
    readonly name: string,
    readonly backend: VirtioBackend,
    readonly ram: GuestRam,
    private readonly irq: IrqLine,
  ) {
    this.offered = backend.deviceFeatures | bit(VIRTIO_F.VERSION_1) | bit(VIRTIO_F.RING_INDIRECT_DESC) | bit(VIRTIO_F.RING_EVENT_IDX);
    this.queues = Array.from({ length: backend.numQueues }, () => ({ num: 0, ready: false, desc: 0, driver: 0, device: 0, vq: null }));
  }

  /** Features both sides agreed (valid once FEATURES_OK is set). */
  get negotiated(): bigint {
    return this.driverFeatures;
  }

  has(feature: number): boolean {
    return (this.driverFeatures & bit(feature)) !== 0n;
  }

  get deviceStatus(): number {
    return this.status;
  }

  /** The device is live: DRIVER_OK set, no reset needed, not FAILED. */
  get live(): boolean {
    return (this.status & (VIRTIO_STATUS.DRIVER_OK | VIRTIO_STATUS.DEVICE_NEEDS_RESET | VIRTIO_STATUS.FAILED)) === VIRTIO_STATUS.DRIVER_OK;
  }

  /** Queue `q`'s ring, if ready. */
  queue(q: number): SplitVirtqueue | null {
    return this.queues[q]?.vq ?? null;
  }

  private reset(): void {
    this.status = 0;
    this.deviceFeaturesSel = 0;
    this.driverFeaturesSel = 0;
    this.driverFeatures = 0n;
    this.queueSel = 0;
    this.shmSel = 0;
    for (const q of this.queues) Object.assign(q, { num: 0, ready: false, desc: 0, driver: 0, device: 0, vq: null });
    this.backend.reset();
    this.setInterrupt(0);
  }

  private setInterrupt(status: number): void {
    if (status & ~this.interruptStatus & VIRTIO_MMIO_INT_CONFIG) this.stats.configInterrupts++;
    const was = this.interruptStatus !== 0;
    this.interruptStatus = status;
    const now = status !== 0;
    if (now && !was) this.stats.interrupts++;
    if (now !== was) this.irq(now);
  }

  /** A used-buffer notification for queue `q`, when the ring's suppression allows it. */
  signalUsed(q: number): void {
    const vq = this.queue(q);
    if (!vq) return;
    if (vq.shouldInterrupt()) this.setInterrupt(this.interruptStatus | VIRTIO_MMIO_INT_VRING);
  }

  /** The configuration changed (net link status): bump ConfigGeneration and tell the driver. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    if (this.status & VIRTIO_STATUS.DRIVER_OK) this.setInterrupt(this.interruptStatus | VIRTIO_MMIO_INT_CONFIG);
  }

  /** The driver broke the protocol: DEVICE_NEEDS_RESET, and the config change interrupt (2.1.2). */
  needsReset(why: string): void {
    this.lastError = why;
    if (this.status & VIRTIO_STATUS.DEVICE_NEEDS_RESET) return;
    this.stats.needsReset++;
    this.status |= VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    this.backend.reset();
    if (this.status & VIRTIO_STATUS.DRIVER_OK) this.setInterrupt(this.interruptStatus | VIRTIO_MMIO_INT_CONFIG);
  }

  /**
   * A device made again for a running guest (dom0, and with it the device model, restarted):
   * the status, features and queues the driver set are gone with the old one. The device
   * says so as one that can no longer operate must (2.1.2): DEVICE_NEEDS_RESET and the
   * configuration change interrupt; it serves nothing until the driver resets it.
   */
  stateLost(): void {
    this.lastError = 'the device model restarted: the device lost its state';
    this.stats.needsReset++;
    this.status = VIRTIO_STATUS.DEVICE_NEEDS_RESET;
    this.setInterrupt(this.interruptStatus | VIRTIO_MMIO_INT_CONFIG);
  }

  /** Runs backend work that may meet a broken ring; a VirtqueueError becomes needsReset. */
  async guard(work: () => void | Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      // Guest memory the driver pointed at that is not RAM is the driver's error too.
      if (e instanceof VirtqueueError || e instanceof GuestRamFault) this.needsReset(e.message);
      else throw e;
    }
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (offset >= VIRTIO_MMIO.Config) {
      const c = offset - VIRTIO_MMIO.Config;
      if (offset % size !== 0 || c + size > this.backend.configSize) return 0;
      return this.backend.configRead(c, size);
    }
    if (size !== 4 || offset % 4 !== 0) return 0;
    const q = this.queues[this.queueSel];
    switch (offset) {
      case VIRTIO_MMIO.MagicValue:
        return VIRTIO_MMIO_MAGIC;
      case VIRTIO_MMIO.Version:
        return VIRTIO_MMIO_VERSION;
      case VIRTIO_MMIO.DeviceID:
        return this.backend.deviceId;
      case VIRTIO_MMIO.VendorID:
        return VIRTIO_VENDOR_PVSIM;
      case VIRTIO_MMIO.DeviceFeatures:
        return this.deviceFeaturesSel > 1 ? 0 : Number((this.offered >> BigInt(32 * this.deviceFeaturesSel)) & 0xffffffffn);
      case VIRTIO_MMIO.QueueNumMax:
        return q ? this.backend.queueMax : 0;
      case VIRTIO_MMIO.QueueReady:
        return q?.ready ? 1 : 0;
      case VIRTIO_MMIO.InterruptStatus:
        return this.interruptStatus;
      case VIRTIO_MMIO.Status:
        return this.status;
      case VIRTIO_MMIO.SHMLenLow:
      case VIRTIO_MMIO.SHMLenHigh:
      case VIRTIO_MMIO.SHMBaseLow:
      case VIRTIO_MMIO.SHMBaseHigh:
        return 0xffffffff; // no shared memory regions: length and base read as -1 (4.2.2)
      case VIRTIO_MMIO.ConfigGeneration:
        return this.configGeneration;
      // Write-only registers and the queue's own values (readable in version 2).
      case VIRTIO_MMIO.QueueNum:
        return q?.num ?? 0;
      case VIRTIO_MMIO.QueueDescLow:
        return q ? lo(q.desc) : 0;
      case VIRTIO_MMIO.QueueDescHigh:
        return q ? Math.floor(q.desc / 2 ** 32) : 0;
      case VIRTIO_MMIO.QueueDriverLow:
        return q ? lo(q.driver) : 0;
      case VIRTIO_MMIO.QueueDriverHigh:
        return q ? Math.floor(q.driver / 2 ** 32) : 0;
      case VIRTIO_MMIO.QueueDeviceLow:
        return q ? lo(q.device) : 0;
      case VIRTIO_MMIO.QueueDeviceHigh:
        return q ? Math.floor(q.device / 2 ** 32) : 0;
      default:
        return 0;
    }
  }

  async write(offset: number, size: 1 | 2 | 4, value: number): Promise<void> {
    value >>>= 0;
    if (offset >= VIRTIO_MMIO.Config) {
      const c = offset - VIRTIO_MMIO.Config;
      if (offset % size !== 0 || c + size > this.backend.configSize || !this.backend.configWrite) {
        this.stats.ignoredWrites++;
        return;
      }
      this.backend.configWrite(c, size, value);
      return;
    }
    if (size !== 4 || offset % 4 !== 0) {
      this.stats.ignoredWrites++;
      return;
    }
    const q = this.queues[this.queueSel];
    const queueWritable = q !== undefined && !q.ready;
    switch (offset) {
      case VIRTIO_MMIO.DeviceFeaturesSel:
        this.deviceFeaturesSel = value;
        return;
      case VIRTIO_MMIO.DriverFeaturesSel:
        this.driverFeaturesSel = value;
        return;
      case VIRTIO_MMIO.DriverFeatures: {
        // Only between DRIVER and FEATURES_OK (3.1.1 steps 4-5); words beyond 1 are zero.
        const s = this.status;
        if (!(s & VIRTIO_STATUS.DRIVER) || s & VIRTIO_STATUS.FEATURES_OK || this.driverFeaturesSel > 1) {
          this.stats.ignoredWrites++;
          return;
        }
        const shift = BigInt(32 * this.driverFeaturesSel);
        this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | (BigInt(value) << shift);
        return;
      }
      case VIRTIO_MMIO.QueueSel:
        this.queueSel = value;
        return;
      case VIRTIO_MMIO.QueueNum:
        if (!queueWritable) return void this.stats.ignoredWrites++;
        q.num = value;
        return;
      case VIRTIO_MMIO.QueueDescLow:
      case VIRTIO_MMIO.QueueDescHigh:
      case VIRTIO_MMIO.QueueDriverLow:
      case VIRTIO_MMIO.QueueDriverHigh:
      case VIRTIO_MMIO.QueueDeviceLow:
      case VIRTIO_MMIO.QueueDeviceHigh: {
        if (!queueWritable) return void this.stats.ignoredWrites++;
        const key = offset < VIRTIO_MMIO.QueueDriverLow ? 'desc' : offset < VIRTIO_MMIO.QueueDeviceLow ? 'driver' : 'device';
        const high = (offset & 4) !== 0;
        const cur = q[key];
        q[key] = high ? addr64(lo(cur), value) : addr64(value, Math.floor(cur / 2 ** 32));
        return;
      }
      case VIRTIO_MMIO.QueueReady:
        if (q === undefined) return void this.stats.ignoredWrites++;
        if (value === 0) {
          q.ready = false;
          q.vq = null;
          return;
        }
        this.makeReady(q);
        return;
      case VIRTIO_MMIO.QueueNotify:
        await this.notify(value & 0xffff);
        return;
      case VIRTIO_MMIO.InterruptACK:
        this.setInterrupt(this.interruptStatus & ~value);
        return;
      case VIRTIO_MMIO.Status:
        this.writeStatus(value);
        return;
      case VIRTIO_MMIO.SHMSel:
        this.shmSel = value;
        return;
      default:
        this.stats.ignoredWrites++;
        return;
    }
  }

  private makeReady(q: QueueRegs): void {
    const n = q.num;
    if (!(this.status & VIRTIO_STATUS.FEATURES_OK) || n === 0 || n > this.backend.queueMax || (n & (n - 1)) !== 0) {
      this.stats.ignoredWrites++;
      return;
    }
    try {
      q.vq = new SplitVirtqueue(this.ram, {
        size: n,
        desc: q.desc,
        driver: q.driver,
        device: q.device,
        indirect: this.has(VIRTIO_F.RING_INDIRECT_DESC),
        eventIdx: this.has(VIRTIO_F.RING_EVENT_IDX),
      });
      q.ready = true;
    } catch (e) {
      if (!(e instanceof VirtqueueError)) throw e;
      this.lastError = e.message;
      this.stats.ignoredWrites++;
    }
  }

  private writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const S = VIRTIO_STATUS;
    const old = this.status;
    // The driver never clears a bit without resetting; DEVICE_NEEDS_RESET is the device's.
    if ((old & ~S.DEVICE_NEEDS_RESET & ~value) !== 0) {
      this.stats.ignoredWrites++;
      return;
    }
    let next = old | (value & ~S.DEVICE_NEEDS_RESET & 0xff);
    const added = next & ~old;
    const need = (b: number, before: number) => (added & b) !== 0 && (next & before) === 0;
    // The handshake's order (3.1.1): a bit whose predecessor is missing is not taken.
    if (need(S.DRIVER, S.ACKNOWLEDGE)) next &= ~S.DRIVER;
    if (need(S.FEATURES_OK, S.DRIVER)) next &= ~S.FEATURES_OK;
    if (need(S.DRIVER_OK, S.FEATURES_OK)) next &= ~S.DRIVER_OK;
    if ((next & ~old & S.FEATURES_OK) !== 0) {
      const ok = (this.driverFeatures & ~this.offered) === 0n && (this.driverFeatures & bit(VIRTIO_F.VERSION_1)) !== 0n;
      if (!ok) next &= ~S.FEATURES_OK;
    }
    if (next !== (old | value)) this.stats.ignoredWrites++;
    this.status = next;
    if ((next & ~old & S.DRIVER_OK) !== 0) this.backend.activate(this);
  }

  private async notify(qi: number): Promise<void> {
    this.stats.notifies++;
    const q = this.queues[qi];
    if (!this.live || q === undefined || !q.ready) {
      this.stats.ignoredNotifies++;
      return;
    }
    await this.guard(() => this.backend.notify(qi));
  }
}

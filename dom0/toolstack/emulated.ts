// An HVM domain's emulated devices, attached by the toolstack as libxl starts a device model
// (QEMU) for an HVM guest: the disks and vifs whose backend says `specification` = virtio or
// ata become virtio-blk, virtio-net and the legacy ATA disk of dom0/devicemodel/, over the
// domain's RAM mapped through dom0's foreign mappings, their ranges registered with the
// hypervisor as ioreq servers and their interrupt lines routed to the board's PLIC.
// This needs the platform's IoreqHost (in-process, or the ioreq wire to a remote hypervisor);
// a platform without one makes the domain's setup fail with EMULATION_NEEDS_IN_PROCESS.

import type { Device } from '../../protocol/wire.ts';
import type { Dom0Platform, MappedPage } from '../platform.ts';
import { BLKBACK_KEY } from '../../protocol/xen/blkif.ts';
import { DEFAULT_DISK_BYTES } from '../backends/blk/driver.ts';
import { FileBlockStore, type BlockStore } from '../backends/blk/store.ts';
import type { Bridge } from '../backends/net/bridge.ts';
import { createHvmDevices, type DeviceSpec as EmulatedSpec, type HvmDevices } from '../devicemodel/index.ts';
import { ForeignGuestRam, type Ioreq } from '../devicemodel/ioreq.ts';
import { deviceEmulation } from './validate.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';

export const EMULATION_NEEDS_IN_PROCESS = 'emulated devices need a dom0 platform with the ioreq path (this one has none)';

/** Setting up emulated devices failed: errno and reason, for DeviceSetupError. */
export class EmulationError extends Error {
  override readonly name = 'EmulationError';
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

/** The devices of `devs` the device model serves (the rest are PV). */
export function emulatedDevices(devs: readonly Device[]): Device[] {
  return devs.filter((d) => deviceEmulation(d) !== null);
}

export interface EmulatedDomain {
  readonly devices: HvmDevices;
  /** Ports leave their bridges, images close, RAM mappings go. Idempotent. */
  destroy(): void;
}

const PAGE = 4096;
/** Guest frames mapped per call (one round trip of 4 MiB across the socket). */
const MAP_CHUNK = 1024;

/**
 * Builds `domid`'s emulated devices in `devs` order (virtio ones take slots 0, 1, ...: disks
 * then vifs, as xl lists them) and plugs them into the hypervisor. `bridge(name)` gives
 * netback's bridge, so virtio-net ports and PV vifs share it (and its pcap).
 */
export async function attachEmulatedDevices(
  platform: Dom0Platform,
  domid: number,
  devs: readonly Device[],
  bridge: ((name: string) => Bridge) | null,
  log?: (line: string) => void,
  restarted = false,
): Promise<EmulatedDomain> {
  const host = platform.ioreq;
  if (!host) throw new EmulationError(XEN_ERRNO.EOPNOTSUPP, EMULATION_NEEDS_IN_PROCESS);
  const ram = await host.hvmRam(domid);
  if (!ram) throw new EmulationError(XEN_ERRNO.EINVAL, `d${domid} is not an HVM domain: only an HVM domain's devices are emulated`);
  const stores: BlockStore[] = [];
  const pages: MappedPage[] = [];
  let devices: HvmDevices | null = null;
  let done = false;
  const destroy = () => {
    if (done) return;
    done = true;
    devices?.destroy();
    host.release?.(domid);
    for (const s of stores) s.close();
    for (const p of pages) p.unmap();
  };
  try {
    const specs: EmulatedSpec[] = [];
    for (const dev of devs) {
      const e = deviceEmulation(dev);
      if (e === null) continue;
      const be = dev.backend;
      if (dev.kind === 'vbd') {
        const path = be[BLKBACK_KEY.params];
        if (!path) throw new EmulationError(XEN_ERRNO.EINVAL, `vbd ${dev.devid}: no params (image path)`);
        let store: BlockStore;
        try {
          store = new FileBlockStore(path, be[BLKBACK_KEY.mode] === 'r', Number(be.size ?? DEFAULT_DISK_BYTES));
        } catch (err) {
          throw new EmulationError(XEN_ERRNO.EIO, `disk ${be.dev ?? dev.devid} (vbd ${dev.devid}): ${(err as Error).message}`);
        }
        stores.push(store);
        // The serial the guest reads (virtio-blk GET_ID, ATA IDENTIFY): the vdev, as QEMU's drive id.
        const serial = be.dev ?? `vbd${dev.devid}`;
        specs.push(e === 'ata' ? { kind: 'ata', store, serial } : { kind: 'virtio-blk', store, serial });
      } else if (dev.kind === 'vif') {
        if (!bridge) throw new EmulationError(XEN_ERRNO.ENODEV, `vif ${dev.devid}: dom0 has no network backend (no bridges)`);
        const mac = be.mac;
        if (!mac) throw new EmulationError(XEN_ERRNO.EINVAL, `vif ${dev.devid}: no mac`);
        specs.push({ kind: 'virtio-net', mac, bridge: bridge(be.bridge || 'xenbr0'), name: `vif${domid}.${dev.devid}-emu` });
      }
    }
    // Every frame mapped up front (QEMU's mapcache, all of it): no request waits on a mapping.
    const views = [];
    const frames = ram.bytes / PAGE;
    for (let i = 0; i < frames; i += MAP_CHUNK) {
      for (const p of await host.mapGuestFrames(domid, ram.base / PAGE + i, Math.min(MAP_CHUNK, frames - i))) {
        pages.push(p);
        views.push(p.mem);
      }
    }
    const guestRam = new ForeignGuestRam(ram.base, ram.bytes, views);
    devices = createHvmDevices(guestRam, specs, (source, level) => host.setIrqLevel(domid, source, level), log, { restarted });
    const model = devices.model;
    // The DMA since the last request (a received frame's too) is reported with each answer.
    let dmaSeen = 0;
    const handle = async (req: Ioreq): Promise<number> => {
      const v = await model.handle(req);
      if (guestRam.dmaBytes !== dmaSeen) {
        host.noteDma?.(domid, guestRam.dmaBytes - dmaSeen);
        dmaSeen = guestRam.dmaBytes;
      }
      return v;
    };
    for (const r of model.ranges()) await host.addIoreqServer(domid, r.base, r.size, handle);
    return { devices, destroy };
  } catch (err) {
    destroy();
    throw err;
  }
}

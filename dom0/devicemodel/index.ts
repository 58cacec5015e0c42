// One HVM domain's emulated devices, assembled: what the ioreq transport creates per domain
// and where the board places them. Addresses and interrupt sources are the board's, from
// xenguest/hvm_image.ts's HVM_BOARD (the one place the layout is written down): virtio
// device k of the domain sits in virtio slot k (0x10001000 + k * 0x1000, PLIC source k + 1,
// as QEMU's virt); the legacy ATA disk, when configured, at HVM_BOARD.ata (0x10009000, 9).

import type { BlockStore } from '../backends/blk/store.ts';
import type { Bridge } from '../backends/net/bridge.ts';
import { AtaDisk, ATA_CMD_BLOCK_BYTES, ATA_CTL_BLOCK_BYTES, ATA_CTL_OFFSET, ATA_REG_SHIFT, ATA_WINDOW } from './ata.ts';
import { DeviceModel, type GuestRam } from './ioreq.ts';
import { VirtioBlk } from './virtio/blk.ts';
import { VirtioMmio, VIRTIO_MMIO_WINDOW } from './virtio/mmio.ts';
import { VirtioNet } from './virtio/net.ts';
import { HVM_BOARD } from '../../xenguest/hvm_image.ts';

export const VIRTIO_SLOT_BASE = HVM_BOARD.virtio.base;
export const VIRTIO_SLOT_STRIDE = HVM_BOARD.virtio.stride;
export const VIRTIO_SLOTS = HVM_BOARD.virtio.count;
export const VIRTIO_IRQ_BASE = HVM_BOARD.virtioIrqBase;
/** The legacy disk's window: after the eight virtio slots (free on QEMU's virt too). */
export const ATA_BASE = HVM_BOARD.ata.base;
/** Its PLIC source: 9, unused by QEMU's virt (virtio 1-8, UART 10, RTC 11). */
export const ATA_IRQ = HVM_BOARD.ata.irq;

// The devices' own register layouts must fit the board's windows.
if (VIRTIO_MMIO_WINDOW !== VIRTIO_SLOT_STRIDE || ATA_WINDOW !== HVM_BOARD.ata.window || ATA_CMD_BLOCK_BYTES !== HVM_BOARD.ata.cmdBytes || ATA_CTL_OFFSET !== HVM_BOARD.ata.ctlOffset || ATA_CTL_BLOCK_BYTES !== HVM_BOARD.ata.ctlBytes || ATA_REG_SHIFT !== HVM_BOARD.ata.regShift) {
  throw new Error('dom0/devicemodel: register layout disagrees with HVM_BOARD');
}

export type DeviceSpec =
  | { kind: 'virtio-blk'; store: BlockStore; serial?: string }
  | { kind: 'virtio-net'; mac: string; bridge: Bridge; name: string }
  | { kind: 'ata'; store: BlockStore; model?: string; serial?: string };

export interface DeviceNode {
  /** Device-tree node name, e.g. `virtio_mmio@10001000`. */
  node: string;
  compatible: string;
  /** [base, size] pairs. */
  reg: [number, number][];
  interrupts: number;
  /** Extra properties (the ATA disk's reg-shift and pio-mode). */
  props: Record<string, number>;
}

export interface HvmDevices {
  model: DeviceModel;
  virtio: VirtioMmio[];
  ata: AtaDisk | null;
  /** The nodes the board's device tree must carry for these devices. */
  nodes: DeviceNode[];
  /** Takes net ports off their bridges (the domain is gone). */
  destroy(): void;
}

/**
 * Builds the domain's devices in the order given (virtio ones take slots 0, 1, ...; at most
 * one ATA disk). `setIrq(source, level)` drives the board's PLIC source.
 */
export function createHvmDevices(ram: GuestRam, specs: readonly DeviceSpec[], setIrq: (source: number, level: boolean) => void, log?: (line: string) => void, opts: { restarted?: boolean } = {}): HvmDevices {
  const model = new DeviceModel(log);
  const virtio: VirtioMmio[] = [];
  const nets: VirtioNet[] = [];
  const nodes: DeviceNode[] = [];
  let ata: AtaDisk | null = null;
  for (const s of specs) {
    if (s.kind === 'ata') {
      if (ata) throw new RangeError('one legacy ATA disk per domain');
      ata = new AtaDisk(`ata@${ATA_BASE.toString(16)}`, s.store, (l) => setIrq(ATA_IRQ, l), { model: s.model, serial: s.serial });
      model.add(ATA_BASE, ATA_WINDOW, ata);
      nodes.push({
        node: `pata@${ATA_BASE.toString(16)}`,
        compatible: 'ata-generic',
        reg: [
          [ATA_BASE, ATA_CMD_BLOCK_BYTES],
          [ATA_BASE + ATA_CTL_OFFSET, ATA_CTL_BLOCK_BYTES],
        ],
        interrupts: ATA_IRQ,
        props: { 'reg-shift': ATA_REG_SHIFT, 'pio-mode': HVM_BOARD.ata.pioMode },
      });
      continue;
    }
    const k = virtio.length;
    if (k >= VIRTIO_SLOTS) throw new RangeError(`at most ${VIRTIO_SLOTS} virtio devices`);
    const base = VIRTIO_SLOT_BASE + k * VIRTIO_SLOT_STRIDE;
    const irq = VIRTIO_IRQ_BASE + k;
    const backend = s.kind === 'virtio-blk' ? new VirtioBlk(s.store, s.serial) : new VirtioNet(s.name, s.mac, s.bridge);
    if (backend instanceof VirtioNet) nets.push(backend);
    const dev = new VirtioMmio(`${s.kind}@${base.toString(16)}`, backend, ram, (l) => setIrq(irq, l));
    model.add(base, VIRTIO_SLOT_STRIDE, dev);
    virtio.push(dev);
    nodes.push({ node: `virtio_mmio@${base.toString(16)}`, compatible: 'virtio,mmio', reg: [[base, VIRTIO_SLOT_STRIDE]], interrupts: irq, props: {} });
  }
  // Made again for a running guest (a dom0 restart): each virtio device tells its driver it
  // lost its state. The ATA disk simply comes up as after a power-on reset (its signature).
  if (opts.restarted) for (const v of virtio) v.stateLost();
  return { model, virtio, ata, nodes, destroy: () => nets.forEach((n) => n.detach()) };
}

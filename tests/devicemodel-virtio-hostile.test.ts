// Hostile drivers against the virtqueue code of virtio-blk and virtio-net: looping and
// out-of-range chains, lying lengths, nested or malformed indirect tables, an available
// index that runs ahead, notifies of queues never set up. The device model never throws,
// answers with DEVICE_NEEDS_RESET (and the configuration change interrupt) or an error
// status, writes guest memory only where the driver gave it a device-writable buffer or
// the used ring, and works again after the driver resets it.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlockStore } from '../dom0/backends/blk/store.ts';
import { Bridge } from '../dom0/backends/net/bridge.ts';
import { DeviceModel } from '../dom0/devicemodel/ioreq.ts';
import { VIRTIO_BLK_S, VIRTIO_BLK_T, VirtioBlk } from '../dom0/devicemodel/virtio/blk.ts';
import { VIRTIO_MMIO, VIRTIO_MMIO_INT_CONFIG, VIRTIO_STATUS, VirtioMmio, type VirtioBackend } from '../dom0/devicemodel/virtio/mmio.ts';
import { VirtioNet } from '../dom0/devicemodel/virtio/net.ts';
import { areaBytes, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../dom0/devicemodel/virtio/virtqueue.ts';
import { makeRam, RAM_BASE, VirtioGuest } from './helpers/virtio_guest.ts';

const BASE = 0x1000_1000;
const RAM_BYTES = 128 * 1024;
const QSIZE = 8;
/** Fixed guest layout: rings, two indirect tables, a data area. */
const DESC = RAM_BASE + 0x1000;
const AVAIL = RAM_BASE + 0x2000;
const USED = RAM_BASE + 0x3000;
const IND = [RAM_BASE + 0x4000, RAM_BASE + 0x4400];
const DATA = RAM_BASE + 0x8000;
const DATA_BYTES = 0x10000;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dm-hostile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function device(kind: 'blk' | 'net') {
  const ram = makeRam(RAM_BYTES);
  let backend: VirtioBackend;
  if (kind === 'blk') {
    const path = join(dir, `d${n++}.img`);
    writeFileSync(path, new Uint8Array(64 * 512));
    backend = new VirtioBlk(new FileBlockStore(path, false), 'x');
  } else {
    backend = new VirtioNet('vif-emu', '00:16:3e:00:00:09', new Bridge('br'));
  }
  const dev = new VirtioMmio(`virtio-${kind}`, backend, ram, () => {});
  const model = new DeviceModel();
  model.add(BASE, 0x1000, dev);
  const g = new VirtioGuest(model, ram, BASE);
  return { ram, dev, model, g, backend };
}

async function bringUp(g: VirtioGuest, queues: number): Promise<void> {
  expect(await g.negotiate()).toBe(true);
  for (let q = 0; q < queues; q++) {
    // Queue q's rings at the fixed layout (queue 1 shifted by 0x800 inside each page).
    expect(await g.setupQueue(q, QSIZE, { desc: DESC + q * 0x800, avail: AVAIL + q * 0x800, used: USED + q * 0x800 })).toBe(true);
  }
  await g.driverOk();
}

const addrArb = fc.oneof(
  fc.integer({ min: 0, max: DATA_BYTES - 1 }).map((o) => DATA + o),
  fc.constantFrom(...IND),
  fc.constantFrom(0, RAM_BASE - 16, RAM_BASE + RAM_BYTES - 8, RAM_BASE + RAM_BYTES, 0xffff_fff0, 2 ** 40, 2 ** 63, DESC, USED),
);
const lenArb = fc.oneof(fc.constantFrom(0, 1, 12, 16, 17, 32, 64, 512, 1024, 4096, 0xffff_ffff), fc.integer({ min: 0, max: 0x20000 }));
const descArb = fc.record({ addr: addrArb, len: lenArb, flags: fc.integer({ min: 0, max: 7 }), next: fc.integer({ min: 0, max: 15 }) });
const opArb = fc.oneof(
  fc.record({ kind: fc.constant('notify' as const), q: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('avail' as const), idx: fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 0xffff })) }),
  fc.record({ kind: fc.constant('reg' as const), off: fc.constantFrom(0x30, 0x38, 0x44, 0x50, 0x64, 0x70, 0x80, 0x90, 0xa0, 0x100), v: fc.integer({ min: 0, max: 0xffff_ffff }) }),
);
const scenarioArb = fc.record({
  table: fc.array(descArb, { minLength: QSIZE, maxLength: QSIZE }),
  indirect: fc.array(fc.array(descArb, { maxLength: 6 }), { minLength: 2, maxLength: 2 }),
  ring: fc.array(fc.integer({ min: 0, max: 15 }), { minLength: QSIZE, maxLength: QSIZE }),
  usedEvent: fc.integer({ min: 0, max: 0xffff }),
  fill: fc.integer({ min: 0, max: 255 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 8 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Ranges the device may write: used rings, and buffers marked WRITE in any table the driver wrote. */
function writableRanges(s: Scenario, queues: number): [number, number][] {
  const r: [number, number][] = [];
  for (let q = 0; q < queues; q++) r.push([USED + q * 0x800, areaBytes(QSIZE).device]);
  for (const d of [...s.table, ...s.indirect.flat()]) if (d.flags & VIRTQ_DESC_F_WRITE && !(d.flags & VIRTQ_DESC_F_INDIRECT)) r.push([d.addr, d.len]);
  return r;
}

async function runScenario(kind: 'blk' | 'net', s: Scenario): Promise<void> {
  const { ram, dev, model, g, backend } = device(kind);
  const queues = kind === 'blk' ? 1 : 2;
  await bringUp(g, queues);
  // Garbage everywhere the buffers may point, then the hostile tables.
  ram.bytes.fill(s.fill, DATA - RAM_BASE, DATA - RAM_BASE + DATA_BYTES);
  for (let q = 0; q < queues; q++) {
    s.table.forEach((d, i) => g.writeDesc(DESC + q * 0x800, i, d.addr, d.len, d.flags, d.next));
    s.ring.forEach((h, i) => g.setU16(AVAIL + q * 0x800 + 4 + 2 * i, h));
    g.setU16(AVAIL + q * 0x800 + 4 + 2 * QSIZE, s.usedEvent);
  }
  s.indirect.forEach((t, k) => t.forEach((d, i) => g.writeDesc(IND[k]!, i, d.addr, d.len, d.flags, d.next)));
  if (backend instanceof VirtioNet) for (let i = 0; i < 3; i++) backend.deliver(new Uint8Array(60 + i * 500).fill(i));
  ram.trace = true;
  const allowed = writableRanges(s, queues);
  for (const op of s.ops) {
    if (op.kind === 'notify') await g.notify(op.q);
    else if (op.kind === 'avail') for (let q = 0; q < queues; q++) g.setU16(AVAIL + q * 0x800 + 2, op.idx);
    else await g.write32(op.off, op.v);
  }
  expect(model.stats.failed).toBe(0);
  for (const a of ram.accesses.filter((x) => x.write)) {
    const inside = allowed.some(([b, l]) => a.gpa >= b && a.gpa + a.len <= b + l);
    expect(inside, `write at 0x${a.gpa.toString(16)} +${a.len}`).toBe(true);
  }
  // Every DEVICE_NEEDS_RESET while live raised the configuration change interrupt (the
  // driver may have acknowledged it since, so count rather than look).
  expect(dev.stats.configInterrupts).toBe(dev.stats.needsReset);
  // Whatever happened, a reset and a clean bring-up give a working device.
  ram.trace = false;
  await g.write32(VIRTIO_MMIO.Status, 0);
  expect(await g.read32(VIRTIO_MMIO.Status)).toBe(0);
  ram.bytes.fill(0, DESC - RAM_BASE, USED - RAM_BASE + 0x1000);
  await bringUp(g, queues);
  if (kind === 'blk') {
    g.queues.get(0)!.nextDesc = 0;
    const h = new Uint8Array(16);
    h[0] = VIRTIO_BLK_T.FLUSH;
    const { addrs } = g.addChain(0, [{ out: h }, { in: 1 }]);
    await g.notify(0);
    expect(g.takeUsed(0)).toHaveLength(1);
    expect(g.bytes(addrs[1]!, 1)[0]).toBe(VIRTIO_BLK_S.OK);
  }
  expect(dev.live).toBe(true);
}

describe('virtqueues against hostile drivers', () => {
  it('virtio-blk: random descriptor tables, indirect tables, ring indexes and register writes', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, (s) => runScenario('blk', s)), { numRuns: 150 });
  });

  it('virtio-net: the same against both queues, with frames waiting for receive buffers', async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, (s) => runScenario('net', s)), { numRuns: 150 });
  });

  it('a looping chain sets DEVICE_NEEDS_RESET and raises the configuration change interrupt', async () => {
    const { g, dev } = device('blk');
    await bringUp(g, 1);
    g.writeDesc(DESC, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
    g.writeDesc(DESC, 1, DATA + 16, 16, VIRTQ_DESC_F_NEXT, 0);
    g.publish(0, 0);
    await g.notify(0);
    expect((await g.read32(VIRTIO_MMIO.Status)) & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBeTruthy();
    expect(await g.read32(VIRTIO_MMIO.InterruptStatus)).toBe(VIRTIO_MMIO_INT_CONFIG);
    expect(dev.lastError).toMatch(/longer than its queue size/);
    expect(g.takeUsed(0)).toEqual([]);
    // Further notifies are ignored until the driver resets the device.
    await g.notify(0);
    expect(dev.stats.ignoredNotifies).toBe(1);
  });

  it('a buffer outside guest RAM, a nested indirect table and an index that runs ahead each need a reset', async () => {
    const cases: ((g: VirtioGuest) => void)[] = [
      (g) => {
        g.writeDesc(DESC, 0, RAM_BASE + RAM_BYTES - 8, 16, 0, 0);
        g.publish(0, 0);
      },
      (g) => {
        g.writeDesc(IND[0]!, 0, IND[1]!, 16, VIRTQ_DESC_F_INDIRECT, 0);
        g.writeDesc(DESC, 0, IND[0]!, 16, VIRTQ_DESC_F_INDIRECT, 0);
        g.publish(0, 0);
      },
      (g) => g.setU16(AVAIL + 2, QSIZE + 1),
      (g) => {
        // A loop inside an indirect table: 0 -> 1 -> 0.
        g.writeDesc(IND[0]!, 0, DATA, 16, VIRTQ_DESC_F_NEXT, 1);
        g.writeDesc(IND[0]!, 1, DATA + 16, 16, VIRTQ_DESC_F_NEXT, 0);
        g.writeDesc(DESC, 0, IND[0]!, 32, VIRTQ_DESC_F_INDIRECT, 0);
        g.publish(0, 0);
      },
      (g) => {
        g.writeDesc(DESC, 0, DATA, 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
        g.writeDesc(DESC, 1, DATA + 16, 16, 0, 0); // readable after writable
        g.publish(0, 0);
      },
    ];
    for (const c of cases) {
      const { g } = device('blk');
      await bringUp(g, 1);
      c(g);
      await g.notify(0);
      expect((await g.read32(VIRTIO_MMIO.Status)) & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBeTruthy();
    }
  });

  it('notifies of queues that do not exist or were never made ready are ignored and touch no memory', async () => {
    const { g, dev, ram } = device('net');
    expect(await g.negotiate()).toBe(true);
    await g.driverOk();
    ram.trace = true;
    for (const q of [0, 1, 2, 7, 0xffff]) await g.notify(q);
    expect(ram.accesses).toEqual([]);
    expect(dev.stats.ignoredNotifies).toBe(5);
    expect((await g.read32(VIRTIO_MMIO.Status)) & VIRTIO_STATUS.DEVICE_NEEDS_RESET).toBe(0);
  });
});

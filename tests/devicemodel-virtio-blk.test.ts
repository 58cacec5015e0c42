// virtio-mmio and virtio-blk driven as Linux's drivers drive them, over an in-memory guest
// RAM and real temp image files (blkback's FileBlockStore): the transport's registers and
// handshake, read / write / flush / verify, indirect chains, GET_ID, discard and write
// zeroes with their limits, a read-only image, interrupts and event-idx suppression.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBlockStore, type BlockStore } from '../dom0/backends/blk/store.ts';
import { DeviceModel, ForeignGuestRam, type GuestRam } from '../dom0/devicemodel/ioreq.ts';
import { VIRTIO_BLK_F, VIRTIO_BLK_LIMITS, VIRTIO_BLK_S, VIRTIO_BLK_T, VirtioBlk } from '../dom0/devicemodel/virtio/blk.ts';
import { VIRTIO_F, VIRTIO_MMIO, VIRTIO_MMIO_INT_VRING, VIRTIO_STATUS, VirtioMmio, bit } from '../dom0/devicemodel/virtio/mmio.ts';
import { makeRam, RAM_BASE, VirtioGuest } from './helpers/virtio_guest.ts';
import { createHvmDevices } from '../dom0/devicemodel/index.ts';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../dom0/devicemodel/virtio/virtqueue.ts';

const BASE = 0x1000_1000;
const SECTORS = 2048; // 1 MiB image

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dm-vblk-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A store that records the order of writes and flushes (fsync before completion). */
class CountingStore implements BlockStore {
  flushes = 0;
  constructor(readonly inner: FileBlockStore) {}
  get path() { return this.inner.path; }
  get readonly() { return this.inner.readonly; }
  get sectors() { return this.inner.sectors; }
  get identity() { return this.inner.identity; }
  read(s: number, n: number) { return this.inner.read(s, n); }
  write(s: number, d: Uint8Array) { this.inner.write(s, d); }
  discard(s: number, n: number) { this.inner.discard(s, n); }
  flush() { this.flushes++; this.inner.flush(); }
  close() { this.inner.close(); }
}

/**
 * `pages`: the device sees RAM as dom0 does, through one foreign mapping per 4 KiB page
 * (ForeignGuestRam), so every access that crosses a page is split; the test's driver writes
 * the same bytes directly.
 */
function rig(opts: { readonly?: boolean; image?: Uint8Array; pages?: boolean } = {}) {
  const path = join(dir, 'disk.img');
  writeFileSync(path, opts.image ?? new Uint8Array(SECTORS * 512));
  const store = new CountingStore(new FileBlockStore(path, opts.readonly ?? false));
  const ram = makeRam();
  const levels: boolean[] = [];
  const blk = new VirtioBlk(store, 'pvsim-vd0');
  let devRam: GuestRam = ram;
  if (opts.pages) {
    const views = Array.from({ length: ram.size / 4096 }, (_, i) => {
      const page = ram.bytes.subarray(i * 4096, (i + 1) * 4096);
      return { read: (off: number, len: number) => page.slice(off, off + len), write: (off: number, data: Uint8Array) => page.set(data, off) };
    });
    devRam = new ForeignGuestRam(ram.base, ram.size, views);
  }
  const dev = new VirtioMmio('virtio-blk', blk, devRam, (l) => levels.push(l));
  const model = new DeviceModel();
  model.add(BASE, 0x1000, dev);
  const g = new VirtioGuest(model, ram, BASE);
  return { path, store, ram, blk, dev, model, g, levels };
}

function header(type: number, sector = 0): Uint8Array {
  const h = new Uint8Array(16);
  const dv = new DataView(h.buffer);
  dv.setUint32(0, type, true);
  dv.setBigUint64(8, BigInt(sector), true);
  return h;
}

function pattern(len: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (i * 7 + seed * 13 + 1) & 0xff);
}

/** Runs one request; returns its status byte, the used entry and the data buffer's address. */
async function request(g: VirtioGuest, type: number, sector: number, data: { out?: Uint8Array; in?: number }, indirect = false) {
  const segs = [{ out: header(type, sector) }, ...(data.out ? [{ out: data.out }] : []), ...(data.in ? [{ in: data.in }] : []), { in: 1 }];
  const { head, addrs } = g.addChain(0, segs, indirect);
  await g.notify(0);
  const used = g.takeUsed(0);
  expect(used.map((u) => u.id)).toEqual([head]);
  const status = g.bytes(addrs[addrs.length - 1]!, 1)[0]!;
  return { status, len: used[0]!.len, dataAddr: data.in ? addrs[addrs.length - 2]! : 0 };
}

describe('virtio-mmio transport', () => {
  it('identifies itself as a version 2 block device and offers VERSION_1, indirect descriptors and event idx', async () => {
    const { g } = rig();
    expect(await g.read32(VIRTIO_MMIO.MagicValue)).toBe(0x74726976);
    expect(await g.read32(VIRTIO_MMIO.Version)).toBe(2);
    expect(await g.read32(VIRTIO_MMIO.DeviceID)).toBe(2);
    const f = await g.deviceFeatures();
    for (const b of [VIRTIO_F.VERSION_1, VIRTIO_F.RING_INDIRECT_DESC, VIRTIO_F.RING_EVENT_IDX, VIRTIO_BLK_F.FLUSH, VIRTIO_BLK_F.DISCARD, VIRTIO_BLK_F.WRITE_ZEROES, VIRTIO_BLK_F.SEG_MAX, VIRTIO_BLK_F.SIZE_MAX, VIRTIO_BLK_F.BLK_SIZE]) {
      expect(f & bit(b), `feature ${b}`).not.toBe(0n);
    }
    expect(f & bit(VIRTIO_BLK_F.RO)).toBe(0n);
    // Config: capacity and limits where 5.2.4 puts them.
    expect(await g.config(0, 4)).toBe(SECTORS);
    expect(await g.config(4, 4)).toBe(0);
    expect(await g.config(12, 4)).toBe(VIRTIO_BLK_LIMITS.segMax);
    expect(await g.config(36, 4)).toBe(VIRTIO_BLK_LIMITS.maxDiscardSectors);
    expect(await g.config(48, 4)).toBe(VIRTIO_BLK_LIMITS.maxWriteZeroesSectors);
    expect(await g.read32(VIRTIO_MMIO.ConfigGeneration)).toBe(0);
  });

  it('keeps FEATURES_OK only for a subset of the offer that includes VERSION_1', async () => {
    const { g } = rig();
    expect(await g.negotiate((o) => o & ~bit(VIRTIO_F.VERSION_1))).toBe(false);
    expect(await g.negotiate((o) => o | bit(40))).toBe(false);
    expect(await g.negotiate(bit(VIRTIO_F.VERSION_1))).toBe(true);
  });

  it('takes status bits only in the handshake order, and queues only after FEATURES_OK', async () => {
    const { g } = rig();
    await g.write32(VIRTIO_MMIO.Status, VIRTIO_STATUS.DRIVER_OK);
    expect(await g.read32(VIRTIO_MMIO.Status)).toBe(0);
    await g.write32(VIRTIO_MMIO.Status, VIRTIO_STATUS.ACKNOWLEDGE);
    expect(await g.setupQueue(0, 8)).toBe(false);
    await g.write32(VIRTIO_MMIO.Status, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER_OK);
    expect(await g.read32(VIRTIO_MMIO.Status)).toBe(VIRTIO_STATUS.ACKNOWLEDGE);
    expect(await g.negotiate()).toBe(true);
    expect(await g.setupQueue(0, 12)).toBe(false); // not a power of two
    expect(await g.setupQueue(0, 256)).toBe(false); // over QueueNumMax (128)
    expect(await g.setupQueue(0, 8, { desc: 0x100, avail: 0x1000, used: 0x2000 })).toBe(false); // not RAM
    expect(await g.setupQueue(0, 8)).toBe(true);
  });

  it('reads every register at 32 bits only; a reset clears status, features and queues', async () => {
    const { g, model } = rig();
    expect(await model.handle({ addr: BASE, size: 2, dir: 'read', data: 0, count: 1 })).toBe(0);
    await g.init(1, 8);
    expect(await g.read32(VIRTIO_MMIO.Status)).toBe(VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.FEATURES_OK | VIRTIO_STATUS.DRIVER_OK);
    await g.write32(VIRTIO_MMIO.Status, 0);
    expect(await g.read32(VIRTIO_MMIO.Status)).toBe(0);
    await g.write32(VIRTIO_MMIO.QueueSel, 0);
    expect(await g.read32(VIRTIO_MMIO.QueueReady)).toBe(0);
    // Unclaimed addresses around the device read as all ones.
    expect(await model.handle({ addr: BASE + 0x1000, size: 4, dir: 'read', data: 0, count: 1 })).toBe(0xffffffff);
  });
});

describe('virtio-blk', () => {
  it('writes, flushes (fsync before the completion), reads back and leaves the data in the image file', async () => {
    const { g, store, path, levels, dev } = rig();
    await g.init(1, 16);
    const data = pattern(4096, 1);
    expect((await request(g, VIRTIO_BLK_T.OUT, 100, { out: data })).status).toBe(VIRTIO_BLK_S.OK);
    expect(levels.at(-1)).toBe(true);
    expect(await g.read32(VIRTIO_MMIO.InterruptStatus)).toBe(VIRTIO_MMIO_INT_VRING);
    await g.write32(VIRTIO_MMIO.InterruptACK, VIRTIO_MMIO_INT_VRING);
    expect(levels.at(-1)).toBe(false);
    const f = await request(g, VIRTIO_BLK_T.FLUSH, 0, {});
    expect(f.status).toBe(VIRTIO_BLK_S.OK);
    expect(store.flushes).toBe(1);
    const r = await request(g, VIRTIO_BLK_T.IN, 100, { in: 4096 });
    expect(r.status).toBe(VIRTIO_BLK_S.OK);
    expect(r.len).toBe(4097);
    expect(g.bytes(r.dataAddr, 4096)).toEqual(data);
    expect(readFileSync(path).subarray(100 * 512, 100 * 512 + 4096)).toEqual(Buffer.from(data));
    expect(dev.stats.needsReset).toBe(0);
  });

  it('serves a request through an indirect table, with the header and data split over buffers', async () => {
    const { g } = rig();
    await g.init(1, 16);
    const data = pattern(1024, 2);
    const h = header(VIRTIO_BLK_T.OUT, 7);
    const { head, addrs } = g.addChain(0, [{ out: h.subarray(0, 5) }, { out: Uint8Array.of(...h.subarray(5), ...data.subarray(0, 100)) }, { out: data.subarray(100) }, { in: 1 }], true);
    await g.notify(0);
    expect(g.takeUsed(0)).toEqual([{ id: head, len: 1 }]);
    expect(g.bytes(addrs[3]!, 1)[0]).toBe(VIRTIO_BLK_S.OK);
    const r = await request(g, VIRTIO_BLK_T.IN, 7, { in: 1024 }, true);
    expect(g.bytes(r.dataAddr, 1024)).toEqual(data);
  });

  it('takes an indirect table at any address: 8-aligned, straddling a page boundary (virtio 1.2, 2.7.5.3)', async () => {
    // The spec asks 16-byte alignment of the queue's own descriptor table only; an indirect
    // table may be "anywhere in memory". guests/lib/virtio_blk.c's request slots are 8-aligned.
    const { g, dev } = rig({ pages: true });
    await g.init(1, 8);
    const data = pattern(4096, 9);
    const page = RAM_BASE + 0x40000; // well above what the rings and buffers use
    for (const [k, at] of [page - 24, page + 0x1000 - 40, page + 0x2008].entries()) {
      // page - 24: descriptor 1 of 3 straddles the boundary (8 bytes on each side).
      const sector = 64 + 8 * k;
      const w = g.addChain(0, [{ out: header(VIRTIO_BLK_T.OUT, sector) }, { out: data }, { in: 1 }], true, at);
      await g.notify(0);
      expect(g.takeUsed(0)).toEqual([{ id: w.head, len: 1 }]);
      expect(g.bytes(w.addrs[2]!, 1)[0]).toBe(VIRTIO_BLK_S.OK);
      const r = g.addChain(0, [{ out: header(VIRTIO_BLK_T.IN, sector) }, { in: 4096 }, { in: 1 }], true, at + 0x100 + 8);
      await g.notify(0);
      expect(g.takeUsed(0)).toEqual([{ id: r.head, len: 4097 }]);
      expect(g.bytes(r.addrs[1]!, 4096)).toEqual(data);
    }
    expect(dev.stats.needsReset).toBe(0);
  });

  it('takes an indirect table longer than the queue (as Linux builds them for seg_max segments)', async () => {
    const { g, dev } = rig();
    await g.init(1, 4);
    const data = pattern(20 * 512, 5);
    const segs = [{ out: header(VIRTIO_BLK_T.OUT, 40) }, ...Array.from({ length: 20 }, (_, i) => ({ out: data.subarray(i * 512, (i + 1) * 512) })), { in: 1 }];
    const { addrs } = g.addChain(0, segs, true);
    await g.notify(0);
    expect(g.takeUsed(0)).toHaveLength(1);
    expect(g.bytes(addrs[21]!, 1)[0]).toBe(VIRTIO_BLK_S.OK);
    expect(dev.stats.needsReset).toBe(0);
    const r = await request(g, VIRTIO_BLK_T.IN, 40, { in: 20 * 512 });
    expect(g.bytes(r.dataAddr, 20 * 512)).toEqual(data);
  });

  it('answers GET_ID with the 20-byte serial', async () => {
    const { g } = rig();
    await g.init(1, 8);
    const r = await request(g, VIRTIO_BLK_T.GET_ID, 0, { in: 20 });
    expect(r.status).toBe(VIRTIO_BLK_S.OK);
    expect(new TextDecoder().decode(g.bytes(r.dataAddr, 9))).toBe('pvsim-vd0');
    expect(g.bytes(r.dataAddr + 9, 11)).toEqual(new Uint8Array(11));
  });

  it('discards and writes zeroes within the limits in config, and refuses what the spec refuses', async () => {
    const { g, path } = rig();
    await g.init(1, 16);
    await request(g, VIRTIO_BLK_T.OUT, 10, { out: pattern(8 * 512, 3) });
    const seg = (sector: number, n: number, flags = 0) => {
      const b = new Uint8Array(16);
      const dv = new DataView(b.buffer);
      dv.setBigUint64(0, BigInt(sector), true);
      dv.setUint32(8, n, true);
      dv.setUint32(12, flags, true);
      return b;
    };
    expect((await request(g, VIRTIO_BLK_T.DISCARD, 0, { out: seg(10, 2) })).status).toBe(VIRTIO_BLK_S.OK);
    expect((await request(g, VIRTIO_BLK_T.WRITE_ZEROES, 0, { out: seg(12, 2, 1) })).status).toBe(VIRTIO_BLK_S.OK);
    const img = readFileSync(path);
    expect(img.subarray(10 * 512, 14 * 512).every((b) => b === 0)).toBe(true);
    expect(img.subarray(14 * 512, 18 * 512)).toEqual(Buffer.from(pattern(8 * 512, 3).subarray(4 * 512)));
    // The unmap flag on a discard, and reserved flags: UNSUPP (5.2.6.2).
    expect((await request(g, VIRTIO_BLK_T.DISCARD, 0, { out: seg(14, 1, 1) })).status).toBe(VIRTIO_BLK_S.UNSUPP);
    expect((await request(g, VIRTIO_BLK_T.WRITE_ZEROES, 0, { out: seg(14, 1, 2) })).status).toBe(VIRTIO_BLK_S.UNSUPP);
    // Over max_discard_sectors, over max_discard_seg, past the end: IOERR, and nothing changed.
    expect((await request(g, VIRTIO_BLK_T.DISCARD, 0, { out: seg(0, VIRTIO_BLK_LIMITS.maxDiscardSectors + 1) })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect((await request(g, VIRTIO_BLK_T.DISCARD, 0, { out: Uint8Array.of(...seg(14, 1), ...seg(15, 1)) })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect((await request(g, VIRTIO_BLK_T.WRITE_ZEROES, 0, { out: seg(SECTORS - 1, 2) })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect(readFileSync(path).subarray(14 * 512, 18 * 512)).toEqual(Buffer.from(pattern(8 * 512, 3).subarray(4 * 512)));
  });

  it('answers IOERR for partial sectors, ranges past the capacity and short headers; UNSUPP for unknown types', async () => {
    const { g, dev } = rig();
    await g.init(1, 16);
    expect((await request(g, VIRTIO_BLK_T.IN, 0, { in: 100 })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect((await request(g, VIRTIO_BLK_T.IN, SECTORS - 1, { in: 1024 })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect((await request(g, VIRTIO_BLK_T.OUT, 2 ** 40, { out: pattern(512, 1) })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect((await request(g, 99, 0, {})).status).toBe(VIRTIO_BLK_S.UNSUPP);
    const { addrs } = g.addChain(0, [{ out: new Uint8Array(8) }, { in: 1 }]);
    await g.notify(0);
    expect(g.takeUsed(0)).toHaveLength(1);
    expect(g.bytes(addrs[1]!, 1)[0]).toBe(VIRTIO_BLK_S.IOERR);
    expect(dev.stats.needsReset).toBe(0);
  });

  it('on a read-only image offers VIRTIO_BLK_F_RO, answers writes IOERR and discards UNSUPP, and writes nothing', async () => {
    const image = new Uint8Array(SECTORS * 512).fill(0x5a);
    const { g, path } = rig({ readonly: true, image });
    const f = await g.deviceFeatures();
    expect(f & bit(VIRTIO_BLK_F.RO)).not.toBe(0n);
    expect(f & bit(VIRTIO_BLK_F.DISCARD)).toBe(0n);
    await g.init(1, 8);
    expect((await request(g, VIRTIO_BLK_T.OUT, 0, { out: new Uint8Array(512) })).status).toBe(VIRTIO_BLK_S.IOERR);
    expect((await request(g, VIRTIO_BLK_T.DISCARD, 0, { out: new Uint8Array(16) })).status).toBe(VIRTIO_BLK_S.UNSUPP);
    expect((await request(g, VIRTIO_BLK_T.IN, 0, { in: 512 })).status).toBe(VIRTIO_BLK_S.OK);
    expect(readFileSync(path).equals(image)).toBe(true);
  });

  it('with event idx, interrupts only when the used index passes used_event, and asks for notifies with avail_event', async () => {
    const { g, levels } = rig();
    await g.init(1, 16);
    await request(g, VIRTIO_BLK_T.FLUSH, 0, {});
    expect(levels).toEqual([true]);
    await g.write32(VIRTIO_MMIO.InterruptACK, 1);
    const Q = g.queues.get(0)!;
    expect(g.u16(Q.used + 4 + 8 * Q.size)).toBe(1); // avail_event: the next index the device will take
    g.setUsedEvent(0, 5); // interrupt when entry 5 is used (idx goes 5 -> 6)
    for (let i = 1; i < 5; i++) await request(g, VIRTIO_BLK_T.FLUSH, 0, {});
    expect(levels).toEqual([true, false]); // used idx 2..5: none passes 5
    await request(g, VIRTIO_BLK_T.FLUSH, 0, {});
    expect(levels).toEqual([true, false, true]); // 5 -> 6 passes it
  });

  it('without event idx, VIRTQ_AVAIL_F_NO_INTERRUPT suppresses the interrupt', async () => {
    const { g, levels } = rig();
    await g.init(1, 8, (o) => o & ~bit(VIRTIO_F.RING_EVENT_IDX));
    g.setU16(g.queues.get(0)!.avail, 1);
    await request(g, VIRTIO_BLK_T.FLUSH, 0, {});
    expect(levels).toEqual([]);
    g.setU16(g.queues.get(0)!.avail, 0);
    await request(g, VIRTIO_BLK_T.FLUSH, 0, {});
    expect(levels).toEqual([true]);
  });
});

describe('virtio-blk after a dom0 restart, and indirect tables anywhere', () => {
  it('a device made again for a running guest reads DEVICE_NEEDS_RESET with the config interrupt; after a reset it serves again', async () => {
    const path = join(dir, 'disk.img');
    writeFileSync(path, new Uint8Array(SECTORS * 512));
    const ram = makeRam();
    const lines: [number, boolean][] = [];
    const devs = createHvmDevices(ram, [{ kind: 'virtio-blk', store: new FileBlockStore(path, false), serial: 'xvda' }], (src, l) => lines.push([src, l]), undefined, { restarted: true });
    const g = new VirtioGuest(devs.model, ram, BASE);
    expect(await g.read32(VIRTIO_MMIO.Status)).toBe(VIRTIO_STATUS.DEVICE_NEEDS_RESET);
    expect(await g.read32(VIRTIO_MMIO.InterruptStatus)).toBe(2); // the configuration change bit
    expect(lines).toEqual([[1, true]]);
    // A notify finds nothing to serve; the driver resets the device and it works.
    await g.write32(VIRTIO_MMIO.QueueNotify, 0);
    expect(devs.virtio[0]!.stats.ignoredNotifies).toBe(1);
    await g.write32(VIRTIO_MMIO.Status, 0);
    expect(lines.at(-1)).toEqual([1, false]);
    await g.init(1, 16);
    expect((await request(g, VIRTIO_BLK_T.OUT, 8, { out: pattern(512, 3) })).status).toBe(VIRTIO_BLK_S.OK);
    expect(readFileSync(path).subarray(8 * 512, 9 * 512)).toEqual(Buffer.from(pattern(512, 3)));
  });

  it('takes an indirect table at an 8-byte (not 16-byte) address, as the native driver lays them out', async () => {
    const { g, path } = rig();
    await g.init(1, 16);
    const hdr = g.alloc.take(16);
    g.ram.bytes.set(header(VIRTIO_BLK_T.OUT, 4), hdr - g.ram.base);
    const data = g.alloc.take(512);
    g.ram.bytes.set(pattern(512, 9), data - g.ram.base);
    const st = g.alloc.take(1);
    const table = g.alloc.take(16 * 3 + 8, 16) + 8;
    g.writeDesc(table, 0, hdr, 16, VIRTQ_DESC_F_NEXT, 1);
    g.writeDesc(table, 1, data, 512, VIRTQ_DESC_F_NEXT, 2);
    g.writeDesc(table, 2, st, 1, VIRTQ_DESC_F_WRITE, 0);
    const Q = g.queues.get(0)!;
    g.writeDesc(Q.desc, 0, table, 48, VIRTQ_DESC_F_INDIRECT, 0);
    g.publish(0, 0);
    await g.notify(0);
    expect(g.takeUsed(0).map((u) => u.id)).toEqual([0]);
    expect(g.bytes(st, 1)[0]).toBe(VIRTIO_BLK_S.OK);
    expect(readFileSync(path).subarray(4 * 512, 5 * 512)).toEqual(Buffer.from(pattern(512, 9)));
  });
});

// The device model's core: ioreq dispatch (ranges, unclaimed addresses, a failing device,
// asynchronous answers) and guest RAM through per-frame foreign mappings (page-crossing
// accesses, bounds checked before any byte moves).

import { describe, expect, it } from 'vitest';
import { ByteGuestRam, DeviceModel, ForeignGuestRam, GuestRamFault, type IoreqDevice } from '../dom0/devicemodel/ioreq.ts';
import { ByteMemory } from '../protocol/guest_memory.ts';

const dev = (name: string, read: IoreqDevice['read'], write: IoreqDevice['write'] = () => {}): IoreqDevice => ({ name, read, write });

describe('DeviceModel', () => {
  it('dispatches by range with offsets, masks by size, and rejects overlapping ranges', async () => {
    const m = new DeviceModel();
    const writes: [number, number, number][] = [];
    m.add(0x1000, 0x100, dev('a', (off) => 0x11223300 + off, (off, size, v) => void writes.push([off, size, v])));
    m.add(0x2000, 0x100, dev('b', async () => 0xdeadbeef)); // answers later
    expect(() => m.add(0x10f0, 0x20, dev('c', () => 0))).toThrow(/overlaps a/);
    expect(await m.handle({ addr: 0x1004, size: 4, dir: 'read', data: 0, count: 1 })).toBe(0x11223304);
    expect(await m.handle({ addr: 0x1004, size: 1, dir: 'read', data: 0, count: 1 })).toBe(0x04);
    expect(await m.handle({ addr: 0x2000, size: 2, dir: 'read', data: 0, count: 1 })).toBe(0xbeef);
    await m.handle({ addr: 0x1008, size: 2, dir: 'write', data: 0x12345678, count: 1 });
    expect(writes).toEqual([[8, 2, 0x5678]]);
    expect(m.ranges().map((r) => r.name)).toEqual(['a', 'b']);
  });

  it('answers unclaimed addresses and a failing device as Xen does (all ones, writes dropped), never rejecting', async () => {
    const lines: string[] = [];
    const m = new DeviceModel((l) => lines.push(l));
    m.add(0x1000, 0x100, dev('bad', () => {
      throw new Error('boom');
    }, async () => {
      throw new Error('bust');
    }));
    expect(await m.handle({ addr: 0x3000, size: 4, dir: 'read', data: 0, count: 1 })).toBe(0xffffffff);
    expect(await m.handle({ addr: 0x10fe, size: 4, dir: 'read', data: 0, count: 1 })).toBe(0xffffffff); // straddles the end
    expect(await m.handle({ addr: 0x1000, size: 2, dir: 'read', data: 0, count: 1 })).toBe(0xffff);
    expect(await m.handle({ addr: 0x1000, size: 4, dir: 'write', data: 1, count: 1 })).toBe(0);
    expect(await m.handle({ addr: 0x1000, size: 3 as 4, dir: 'read', data: 0, count: 1 })).toBe(0xffffffff);
    expect(m.stats).toMatchObject({ unclaimed: 3, failed: 2 });
    expect(lines.join('\n')).toMatch(/bad: read at \+0x0 failed: boom/);
  });
});

describe('guest RAM', () => {
  it('ForeignGuestRam maps every frame and splits accesses at page boundaries', async () => {
    const frames = new Map<number, Uint8Array>();
    const ram = await ForeignGuestRam.map(0x8000_0000, 3 * 4096, async (gfn) => {
      const b = new Uint8Array(4096);
      frames.set(gfn, b);
      return { mem: new ByteMemory(b) };
    });
    expect([...frames.keys()]).toEqual([0x80000, 0x80001, 0x80002]);
    const data = Uint8Array.from({ length: 5000 }, (_, i) => i & 0xff);
    ram.write(0x8000_0ff0, data);
    expect(frames.get(0x80000)!.subarray(0xff0)).toEqual(data.subarray(0, 16));
    expect(frames.get(0x80001)!).toEqual(data.subarray(16, 16 + 4096));
    expect(ram.read(0x8000_0ff0, 5000)).toEqual(data);
  });

  it('refuses any range that is not wholly RAM, touching nothing', () => {
    const bytes = new Uint8Array(8192).fill(7);
    const rams = [new ByteGuestRam(0x8000_0000, bytes), new ForeignGuestRam(0x8000_0000, 8192, [new ByteMemory(bytes.subarray(0, 4096)), new ByteMemory(bytes.subarray(4096))])];
    for (const ram of rams) {
      for (const [gpa, len] of [[0x7fff_ffff, 2], [0x8000_1fff, 2], [0x8000_2000, 1], [-1, 1], [0.5, 1], [0x8000_0000, -1], [2 ** 60, 1], [Number.NaN, 1]] as const) {
        expect(() => ram.read(gpa, len), `${gpa}+${len}`).toThrow(GuestRamFault);
        if (len > 0) expect(() => ram.write(gpa, new Uint8Array(len))).toThrow(GuestRamFault);
      }
      expect(ram.contains(0x8000_2000, 0)).toBe(true); // an empty range at the end is inside
    }
    expect(bytes.every((b) => b === 7)).toBe(true);
  });
});

describe('createHvmDevices', () => {
  it('places virtio devices in slots from 0x10001000 (source k + 1) and the ATA disk at 0x10009000 (source 9)', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { FileBlockStore } = await import('../dom0/backends/blk/store.ts');
    const { Bridge } = await import('../dom0/backends/net/bridge.ts');
    const { createHvmDevices } = await import('../dom0/devicemodel/index.ts');
    const dir = mkdtempSync(join(tmpdir(), 'dm-core-'));
    try {
      const bridge = new Bridge('xenbr0');
      const irqs: [number, boolean][] = [];
      const a = new FileBlockStore(join(dir, 'a.img'), false, 1 << 20);
      const b = new FileBlockStore(join(dir, 'b.img'), false, 1 << 20);
      const d = createHvmDevices(
        new ByteGuestRam(0x8000_0000, new Uint8Array(1 << 16)),
        [
          { kind: 'virtio-blk', store: a },
          { kind: 'virtio-net', mac: '00:16:3e:00:00:05', bridge, name: 'vif5.0-emu' },
          { kind: 'ata', store: b },
        ],
        (s, l) => irqs.push([s, l]),
      );
      expect(d.model.ranges()).toEqual([
        { base: 0x10001000, size: 0x1000, name: 'virtio-blk@10001000' },
        { base: 0x10002000, size: 0x1000, name: 'virtio-net@10002000' },
        { base: 0x10009000, size: 0x1000, name: 'ata@10009000' },
      ]);
      expect(d.nodes.map((n) => [n.node, n.compatible, n.interrupts])).toEqual([
        ['virtio_mmio@10001000', 'virtio,mmio', 1],
        ['virtio_mmio@10002000', 'virtio,mmio', 2],
        ['pata@10009000', 'ata-generic', 9],
      ]);
      expect(d.nodes[2]!.reg).toEqual([[0x10009000, 0x20], [0x10009020, 4]]);
      expect(d.nodes[2]!.props).toEqual({ 'reg-shift': 2, 'pio-mode': 4 });
      expect(await d.model.handle({ addr: 0x10002008, size: 4, dir: 'read', data: 0, count: 1 })).toBe(1);
      await d.model.handle({ addr: 0x1000901c, size: 1, dir: 'write', data: 0xe7, count: 1 }); // FLUSH CACHE
      expect(irqs).toEqual([[9, true]]);
      expect(bridge.portCount).toBe(1);
      d.destroy();
      expect(bridge.portCount).toBe(0);
      a.close();
      b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

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

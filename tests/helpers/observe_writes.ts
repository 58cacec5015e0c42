// A guest-memory view that reports every store made through it (after passing it on), for
// tests that check when a backend writes to a page (e.g. never after its unmap).

import type { GuestMemory } from '../../protocol/guest_memory.ts';

export function observeWrites(mem: GuestMemory, onWrite: (offset: number, len: number) => void): GuestMemory {
  return {
    get length() {
      return mem.length;
    },
    read: (o, n) => mem.read(o, n),
    u8: (o) => mem.u8(o),
    u16le: (o) => mem.u16le(o),
    u32le: (o) => mem.u32le(o),
    write: (o, d) => (mem.write(o, d), onWrite(o, d.length)),
    fill: (o, n, v) => (mem.fill(o, n, v), onWrite(o, n)),
    setU8: (o, v) => (mem.setU8(o, v), onWrite(o, 1)),
    setU16le: (o, v) => (mem.setU16le(o, v), onWrite(o, 2)),
    setU32le: (o, v) => (mem.setU32le(o, v), onWrite(o, 4)),
  };
}

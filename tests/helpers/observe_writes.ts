// A guest-memory view that reports every store made through it (after passing it on), for
// tests that check when a backend writes to a page (e.g. never after its unmap).

import type { GuestMemory } from '../../protocol/guest_memory.ts';
import type { Dom0Platform } from '../../dom0/platform.ts';

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

/**
 * Makes `platform.<method>` (a grant copy) wait for the test: `entered` resolves when a
 * copy starts, and the copy goes on only after `release()`. A request is then in flight
 * for as long as the test wants (while it destroys the domain, say).
 */
export function gateCopies<P extends Pick<Dom0Platform, 'copyToGrant' | 'copyFromGrant' | 'copyGrants' | 'copyToGrantsLater'>>(platform: P, method: 'copyToGrant' | 'copyFromGrant'): { entered: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let enter!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const original = platform[method].bind(platform) as (...a: unknown[]) => Promise<unknown>;
  (platform[method] as unknown) = async (...a: unknown[]) => {
    enter();
    await gate;
    return original(...a);
  };
  // Backends copy in GNTTABOP_copy batches: a batch with a copy of that direction waits too.
  const batch = platform.copyGrants.bind(platform);
  const to = method === 'copyToGrant';
  platform.copyGrants = async (ops) => {
    if (ops.some((o) => o.to === to)) {
      enter();
      await gate;
    }
    return batch(ops);
  };
  // Copies not waited for (copyToGrantsLater) go through the gated batch instead
  // (dom0/backends/copy_out.ts falls back to copyGrants when the platform has none).
  if (to) platform.copyToGrantsLater = undefined;
  return { entered, release };
}

/** Records, as "offset+len", every store a backend makes to a grant mapping after its unmap. */
export function recordLateWrites(platform: Pick<Dom0Platform, 'mapGrant' | 'unmapGrant'>): string[] {
  const late: string[] = [];
  const unmapped = new Set<number>();
  const mapGrant = platform.mapGrant.bind(platform);
  platform.mapGrant = async (domid, ref, ro) => {
    const m = await mapGrant(domid, ref, ro);
    if (!m.page) return m;
    const h = m.handle;
    return { ...m, page: { ...m.page, mem: observeWrites(m.page.mem, (off, len) => void (unmapped.has(h) && late.push(`${off}+${len}`))) } };
  };
  const unmapGrant = platform.unmapGrant.bind(platform);
  platform.unmapGrant = async (h) => {
    unmapped.add(h);
    return unmapGrant(h);
  };
  return late;
}

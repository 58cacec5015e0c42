// Copies into a frontend's granted pages whose statuses the backend does not wait for
// (Dom0Platform.copyToGrantsLater): with dom0 as a process they ride in the dispatch's
// answer, so a pass that answers reads costs one round trip, not two. A platform without
// the call (tests' fakes) is served by a GNTTABOP_copy batch awaited here, with the same
// outcome: the response's status is patched when a copy failed.

import type { CopyOutTicket, Dom0Platform, GrantCopyToOp } from '../platform.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';
import type { GuestMemory } from '../../protocol/guest_memory.ts';

export async function copyOut(platform: Dom0Platform, ops: readonly GrantCopyToOp[]): Promise<CopyOutTicket> {
  if (platform.copyToGrantsLater) return platform.copyToGrantsLater(ops);
  const r = ops.length ? await platform.copyGrants(ops.map((o) => ({ to: true as const, ...o }))) : [];
  const failed = r.some((x) => x.status !== GNTST.okay);
  return {
    failed,
    onFail: (mem: GuestMemory, offset: number, data: Uint8Array) => {
      if (failed) mem.write(offset, data);
    },
    onSettled: (cb) => cb(failed),
  };
}

/** A little-endian int16 (ring responses' status fields), for CopyOutTicket.onFail. */
export function int16le(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setInt16(0, v, true);
  return b;
}

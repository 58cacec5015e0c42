// pvsim's own blkback against the ring conformance cases (sim/ringkit/harness.ts), on the
// guestless bench, with blkif's shape: the protocol-independent ring cases hold for it too.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BlkbackDriver } from '../dom0/backends/blk/driver.ts';
import { BLKIF_OP, BLKIF_RING_ENTRY_SIZE, readBlkifResponse, writeBlkifRequest } from '../protocol/xen/blkif.ts';
import { ringConformance, type RingProtocol } from '../sim/ringkit/harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-ringkit-blk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** blkif's shape: a one-segment READ of sector 0 into a page the frontend grants. */
function blkifProtocol(): RingProtocol {
  return {
    entryBytes: BLKIF_RING_ENTRY_SIZE,
    request(id, grant) {
      const req = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      const gref = grant(new Uint8Array(4096), false);
      writeBlkifRequest(new DataView(req.buffer), 0, { operation: BLKIF_OP.READ, nr_segments: 1, handle: 0, id: BigInt(id), sector_number: 0n, seg: [{ gref, first_sect: 0, last_sect: 7 }] });
      return req;
    },
    responseId: (slot) => Number(readBlkifResponse(new DataView(slot.buffer, slot.byteOffset, slot.byteLength), 0).id),
    backendKeys: { params: join(dir, `disk${n++}.img`), mode: 'w', size: String(1024 * 1024) },
  };
}

describe("pvsim's blkback on the ring conformance bench", () => {
  it('passes every ring case', async () => {
    const proto = blkifProtocol();
    const results = await ringConformance({ type: 'vbd', make: (platform, backendKey) => new BlkbackDriver(platform, backendKey) }, proto);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.length).toBe(22);
  }, 30_000);
});

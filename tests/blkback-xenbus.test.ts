// blkback behind the XenbusState handshake, in dom0's daemons on the in-process platform:
// a frontend (played through the guest's memory, grants, event channel and XenStore
// connection) connects, writes and flushes through the ring, and disconnects.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dom0Daemons } from '../dom0/daemons.ts';
import { LocalPlatform } from '../sim/local_platform.ts';
import { XsClient } from '../dom0/xenstore/index.ts';
import { addDevice, backendPath, frontendPath } from '../dom0/toolstack/devices.ts';
import { FrontRing, SharedRing } from '../protocol/ring.ts';
import { BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, readBlkifResponse, writeBlkifRequest } from '../protocol/xen/blkif.ts';
import { GTF } from '../protocol/xen/grant_table.ts';
import { XenbusState as S } from '../protocol/xen/xenbus.ts';
import { evtchnAllocUnbound, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { MmGuest, SPARE_VA, machine, MiB } from './mm_helpers.ts';

describe('blkback through xenbus', () => {
  it('connects, serves a write and a flush, and closes', async () => {
    const hv = machine();
    const platform = new LocalPlatform(hv);
    const daemons = new Dom0Daemons(platform);
    const g = MmGuest.create(hv, { name: 'front' });
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    const image = join(mkdtempSync(join(tmpdir(), 'pvsim-vbd-')), 'disk.img');
    addDevice(daemons.xs, g.domid, { kind: 'vbd', devid: 51712, backend: { params: image, mode: 'w', size: String(MiB) }, frontend: { 'virtual-device': '51712' } });
    await daemons.settle();
    const guestXs = new XsClient(daemons.xenstored, { domid: g.domid, privileged: false });
    const be = backendPath('vbd', g.domid, 51712);
    const fe = frontendPath('vbd', g.domid, 51712);
    expect(await guestXs.read(`${be}/state`)).toBe(String(S.InitWait));
    expect(await guestXs.read(`${be}/sectors`)).toBe('2048');
    expect(await guestXs.read(`${be}/feature-flush-cache`)).toBe('1');
    expect(await guestXs.read(`${be}/feature-max-indirect-segments`)).toBe('256');
    expect(await guestXs.read(`${be}/feature-persistent`)).toBe('1');

    // The frontend: a ring page and a data page granted to dom0, an unbound port for dom0.
    const ringMfn = g.mfnOfVa(SPARE_VA);
    const dataMfn = g.mfnOfVa(SPARE_VA + 4096);
    g.grant(8, 0, ringMfn, GTF.permit_access);
    g.grant(9, 0, dataMfn, GTF.permit_access);
    const ringBytes = hv.frames.frameStorage(ringMfn);
    const sring = new SharedRing(ringBytes, BLKIF_RING_ENTRY_SIZE);
    sring.init();
    const front = new FrontRing(sring);
    const port = evtchnAllocUnbound(hv, g.domain, g.domid, 0);
    await guestXs.write(`${fe}/ring-ref`, '8');
    await guestXs.write(`${fe}/event-channel`, String(port));
    await guestXs.write(`${fe}/state`, String(S.Initialised));
    await daemons.settle();
    expect(await guestXs.read(`${be}/state`)).toBe(String(S.Connected));

    g.put(SPARE_VA + 4096, new Uint8Array(4096).fill(0x77));
    const dv = new DataView(ringBytes.buffer, ringBytes.byteOffset, ringBytes.byteLength);
    writeBlkifRequest(dv, front.nextRequest(), { operation: BLKIF_OP.WRITE, nr_segments: 1, handle: 0, id: 1n, sector_number: 40n, seg: [{ gref: 9, first_sect: 0, last_sect: 7 }] });
    front.produced();
    writeBlkifRequest(dv, front.nextRequest(), { operation: BLKIF_OP.FLUSH_DISKCACHE, nr_segments: 0, handle: 0, id: 2n, sector_number: 0n, seg: [] });
    front.produced();
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(evtchnSend(hv, g.domain, port)).toBe(0);
    await hv.runAsync({ until: hv.now() + 1_000_000 });
    const rsp = [0, 1].map(() => {
      const r = readBlkifResponse(dv, front.nextResponse());
      front.consumed();
      return [r.id, r.status];
    });
    expect(rsp).toEqual([
      [1n, BLKIF_RSP.OKAY],
      [2n, BLKIF_RSP.OKAY],
    ]);
    expect(readFileSync(image)[40 * 512]).toBe(0x77);

    await guestXs.write(`${fe}/state`, String(S.Closing));
    await daemons.settle();
    expect(await guestXs.read(`${be}/state`)).toBe(String(S.Closed));
    expect(g.grantFlags(8)).toBe(GTF.permit_access); // the ring grant is no longer mapped
  });
});

// The ioreq wire's hypervisor end, driven by a raw dom0 peer over a real WebSocket: the
// device model's set-up calls refuse what dom0 may not do (another domain's or no RAM, more
// than a map may carry, ranges outside the board's device windows, lines that are not the
// device model's), an IOREQ's answer is applied in order (the store before the line, the
// value into the access), and an ioreq dom0 took with it when it died goes to the device
// model the next dom0 registers.

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import { connect } from '../protocol/session.ts';
import type { HotFrame } from '../protocol/hot_wire.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { HVM_BOARD } from '../xenguest/hvm_image.ts';

const NATIVE = readFileSync('guests/build/native.elf');
const MiB = 1024 * 1024;
const VIRTIO0 = HVM_BOARD.virtio.base;

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function machine() {
  const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: 128 * MiB });
  const h = await server.start();
  closers.push(h.close);
  // dom0's replies to the hypervisor's dispatches (domainCreated): accepted, nothing done.
  const dom0 = async () => {
    const c = await connect(h.url, 'dom0', 't', async () => ({ rc: 0 }));
    closers.push(() => c.peer.close());
    return c.peer;
  };
  const peer = await dom0();
  const hv = server.hv;
  const d: Domain = hv.createHvmDomain(NATIVE, { name: 'h', memoryBytes: 16 * MiB, cmdline: '', vcpus: 1, hvm: { mode: 'trap', shadowSync: 'wp' } });
  const board = d.hvm as HvmBoard;
  return { server, hv, d, board, peer, dom0 };
}

describe('the ioreq wire, hypervisor end', { timeout: 30_000 }, () => {
  it('refuses device-model calls dom0 may not make, with an errno', async () => {
    const { d, peer } = await machine();
    const ram = HVM_BOARD.ramBase / 4096;
    expect((await peer.request('dmMapRam', { domid: 77, gfn: ram, count: 1 })).rc).toBe(-XEN_ERRNO.ESRCH);
    expect((await peer.request('dmMapRam', { domid: 0, gfn: 0, count: 0 })).rc).toBe(-XEN_ERRNO.ESRCH);
    expect((await peer.request('dmMapRam', { domid: d.domid, gfn: ram, count: 1025 })).rc).toBe(-XEN_ERRNO.E2BIG);
    expect((await peer.request('dmMapRam', { domid: d.domid, gfn: ram + 4095, count: 2 })).rc).toBe(-XEN_ERRNO.EINVAL);
    expect((await peer.request('dmMapRam', { domid: d.domid, gfn: 0x38000, count: 1 })).rc).toBe(-XEN_ERRNO.EINVAL); // the grant region is not RAM
    const ok = await peer.request('dmMapRam', { domid: d.domid, gfn: ram, count: 2 });
    expect(ok.rc).toBe(0);
    expect(ok.dmRam!.ramBytes).toBe(16 * MiB);
    expect(ok.dmRam!.mfns).toEqual([d.p2m[0], d.p2m[1]]);
    // A frame of zeros travels as an empty page (the mirror starts zeroed); the device tree's
    // (the last frame) with its bytes.
    expect(ok.dmRam!.pages.map((p) => p.length)).toEqual([0, 0]);
    const dt = await peer.request('dmMapRam', { domid: d.domid, gfn: ram + 4095, count: 1 });
    expect(dt.dmRam!.pages.map((p) => p.length)).toEqual([4096]);
    expect(dt.dmRam!.pages[0]!.subarray(0, 4)).toEqual(Uint8Array.of(0xd0, 0x0d, 0xfe, 0xed)); // FDT magic
    // Ranges: only inside the board's device windows, never over its own devices.
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: 0x1000_0000, size: 0x100 })).rc).toBe(-XEN_ERRNO.EINVAL); // the UART
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: 0x0c00_0000, size: 0x1000 })).rc).toBe(-XEN_ERRNO.EINVAL); // the PLIC
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: VIRTIO0, size: 0 })).rc).toBe(-XEN_ERRNO.EINVAL);
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: VIRTIO0 + 0x800, size: 0x1000 })).rc).toBe(-XEN_ERRNO.EINVAL); // overlaps a slot partly
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: VIRTIO0, size: 0x1000 })).rc).toBe(0);
    // Lines: only the device model's sources of an HVM domain.
    const r = await peer.requestHot<Extract<HotFrame, { kind: 'batch' }>>({
      kind: 'batch',
      ops: [
        { op: 'irq', domid: d.domid, source: HVM_BOARD.uartIrq, level: true },
        { op: 'irq', domid: d.domid, source: 31, level: true },
        { op: 'irq', domid: 0, source: 1, level: true },
        { op: 'irq', domid: 99, source: 1, level: true },
        { op: 'irq', domid: d.domid, source: 0xffff, level: true },
        { op: 'irq', domid: d.domid, source: 1, level: true },
      ],
    });
    expect(r.rc).toBe(0);
    expect(r.results.map((x) => x.status)).toEqual([-22, -22, -22, -22, -22, 0]);
    expect((d.hvm as HvmBoard).plic.isPending(1)).toBe(true);
    expect((d.hvm as HvmBoard).plic.isPending(HVM_BOARD.uartIrq)).toBe(false);
  });

  it('serves an access as an IOREQ: the answer\'s store lands before its line rises, and the value completes the access', async () => {
    const { hv, d, board, peer } = await machine();
    const ram = HVM_BOARD.ramBase / 4096;
    const map = await peer.request('dmMapRam', { domid: d.domid, gfn: ram, count: 1 });
    const mfn = map.dmRam!.mfns[0]!;
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: VIRTIO0, size: 0x1000 })).rc).toBe(0);
    const seen: HotFrame[] = [];
    let storedWhenLineRose: number | null = null;
    peer.hotHandler = (req) => {
      seen.push(req);
      if (req.kind !== 'ioreq') return { kind: 'batchDone', id: req.id, rc: -38, error: '', results: [] };
      return { kind: 'ioreqDone', id: req.id, value: 0x74726976, ops: [{ op: 'write', mfn, offset: 8, data: Uint8Array.of(0xab) }, { op: 'irq', domid: d.domid, source: 1, level: true }] };
    };
    const plic = board.plic;
    const setIrq = plic.setIrq.bind(plic);
    plic.setIrq = (src, high) => {
      if (src === 1 && high) storedWhenLineRose = hv.mem.frames[mfn]![8]!;
      setIrq(src, high);
    };
    let value = -1;
    const out = board.mmioAccess(0, VIRTIO0, 4, false, 0, (v) => (value = v));
    expect(out.kind).toBe('pending');
    await hv.runAsync({ until: 1e6 });
    expect(value).toBe(0x74726976);
    const q = seen.find((f) => f.kind === 'ioreq');
    expect(q && q.kind === 'ioreq' && q.req).toMatchObject({ domid: d.domid, vcpu: 0, addr: VIRTIO0, size: 4, dir: 'read', count: 1 });
    expect(storedWhenLineRose).toBe(0xab);
  });

  it('holds an ioreq a dead dom0 took with it for the device model the next dom0 registers', async () => {
    const { hv, d, board, peer, dom0 } = await machine();
    expect((await peer.request('dmIoreqServer', { domid: d.domid, base: VIRTIO0, size: 0x1000 })).rc).toBe(0);
    // This dom0 dies with the request unanswered.
    let asked!: () => void;
    const gotIt = new Promise<void>((res) => (asked = res));
    peer.hotHandler = () => {
      asked();
      peer.close();
      return new Promise<HotFrame>(() => {});
    };
    let value = -1;
    expect(board.mmioAccess(0, VIRTIO0 + 0x70, 4, false, 0, (v) => (value = v)).kind).toBe('pending');
    const run = hv.runAsync({ until: 1e6 });
    await gotIt;
    await run;
    expect(value).toBe(-1); // still waiting
    expect(hv.dmesg().join('\n')).toMatch(/ioreq at 0x10001070 lost with dom0: .*held for the next device model/);
    // A new dom0 registers its device model for the range: the request goes to it.
    const next = await dom0();
    next.hotHandler = (req) => (req.kind === 'ioreq' ? { kind: 'ioreqDone', id: req.id, value: req.req.addr === VIRTIO0 + 0x70 ? 0x40 : 0, ops: [] } : { kind: 'batchDone', id: req.id, rc: -38, error: '', results: [] });
    expect((await next.request('dmIoreqServer', { domid: d.domid, base: VIRTIO0, size: 0x1000 })).rc).toBe(0);
    await hv.runAsync({ until: 2e6 });
    expect(value).toBe(0x40);
  });
});

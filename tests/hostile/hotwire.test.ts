// Hostile hot frames (protocol/hot_wire.ts) from a logged-in dom0, over a real socket: what a
// buggy or compromised dom0 can make the hypervisor do with DISPATCH_DONE and BATCH. dom0 is
// privileged, but it must not reach a frame it holds no mapping of (a domain destroyed under
// its mapping, a frame given to another domain since), nor crash the hypervisor.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WebSocket } from 'ws';
import { parseEnv } from '../../cli/runtime.ts';
import { MAX_WIRE_FIELDS } from '../../protocol/wire.ts';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { connect, type Peer } from '../../protocol/session.ts';
import { GTF } from '../../protocol/xen/grant_table.ts';
import { decodeHot, encodeHot, HotWireError, HOT_MAGIC, MAX_COPY_OUT_BYTES, MAX_HOT_ENTRIES, type HotFrame, type HotOp } from '../../protocol/hot_wire.ts';
import { RemotePlatform } from '../../dom0/remote_platform.ts';
import { LocalPlatform } from '../../sim/local_platform.ts';
import { Hypervisor as HypervisorImpl } from '../../hypervisor/hypervisor.ts';
import { MiB, MmGuest, SPARE_VA, pte, RW } from '../mm_helpers.ts';

type Batch = Extract<HotFrame, { kind: 'batch' }>;

/** dom0's event sends held for the end of the dispatch being served (ControlService's queue). */
function deferred(hv: HypervisorImpl): number {
  const server = servers.get(hv)!;
  const bridge = (server as unknown as { bridge: { service: { deferredSends: { length?: number; size?: number } } } }).bridge;
  const q = bridge.service.deferredSends;
  return q.size ?? q.length ?? -1;
}
const servers = new Map<HypervisorImpl, HypervisorServer>();

/** A hypervisor serving dom0 on a real socket (in this process, to reach its guests). */
async function hypervisor(closers: (() => unknown)[], memMiB = 16) {
  const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: memMiB * MiB });
  const h = await server.start();
  closers.push(h.close);
  const { peer } = await connect(h.url, 'dom0', 't');
  closers.push(() => peer.close());
  const hv = (server as unknown as { hv: HypervisorImpl }).hv;
  servers.set(hv, server);
  return { hv, peer, url: h.url };
}

describe('decodeHot against built-up hostile bytes', () => {
  // Frames assembled from fields at their extremes: counts near 2^32 and the entry bound,
  // spans whose offset + length overflow a page or 2^16, any kind and operation byte,
  // truncated anywhere, trailing bytes, a wrong magic.
  const u8 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 0x7f, 0x80, 0xf8, 0xff), fc.integer({ min: 0, max: 255 })).map((v) => Uint8Array.of(v));
  const u16 = fc.oneof(fc.constantFrom(0, 1, 4095, 4096, 4097, 0x7fff, 0x8000, 0xffff), fc.integer({ min: 0, max: 0xffff })).map((v) => {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, true);
    return b;
  });
  const u32 = fc.oneof(fc.constantFrom(0, 1, 5, MAX_HOT_ENTRIES, MAX_HOT_ENTRIES + 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff })).map((v) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  });
  const f64 = fc.constantFrom(0, -1, NaN, Infinity, 2 ** 53, 1e9).map((v) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, true);
    return b;
  });
  const body = fc.array(fc.oneof(u8, u16, u32, f64, fc.uint8Array({ maxLength: 16 })), { maxLength: 24 });
  const bytes = fc.tuple(fc.constantFrom(HOT_MAGIC, HOT_MAGIC, HOT_MAGIC, 0, 0xf7), fc.integer({ min: 0, max: 6 }), body, fc.option(fc.nat(), { nil: undefined })).map(([magic, kind, parts, cut]) => {
    const all = Uint8Array.from([magic, kind, ...parts.flatMap((p) => [...p])]);
    return cut === undefined ? all : all.subarray(0, cut % (all.length + 1));
  });

  it('refuses with a HotWireError or decodes to a frame that encodes back to the same bytes', () => {
    fc.assert(
      fc.property(bytes, (b) => {
        let f: HotFrame;
        try {
          f = decodeHot(b);
        } catch (e) {
          expect(e).toBeInstanceOf(HotWireError);
          return;
        }
        expect(encodeHot(f)).toEqual(Uint8Array.from(b));
      }),
      { numRuns: 5000 },
    );
  });
});

describe('hostile hot frames from dom0', () => {
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  it("a foreign mapping ends with its domain: dom0's stores through the stale mirror reach no other domain", async () => {
    const server = new HypervisorServer({ token: 't', manual: true, machineMemoryBytes: 16 * 1024 * 1024 });
    const h = await server.start();
    closers.push(h.close);
    const { peer } = await connect(h.url, 'dom0', 't');
    closers.push(() => peer.close());
    const a = await peer.request('domainCreateEmpty', { name: 'a', nrPages: 64, weight: 0, cap: 0, maxmemPages: 0 });
    expect(a.rc).toBe(0);
    const victimMfn = a.emptyDomain!.p2m![0]!;
    expect((await peer.request('mapForeign', { domid: a.emptyDomain!.domid, mfn: victimMfn })).rc).toBe(0);
    expect((await peer.request('destroyDomain', { domid: a.emptyDomain!.domid })).rc).toBe(0);
    // A new domain takes every free frame, the one dom0 mapped among them (freed at the destroy).
    const free = (await peer.request('info', {})).info!.freePages;
    const b = await peer.request('domainCreateEmpty', { name: 'b', nrPages: free - 1, weight: 0, cap: 0, maxmemPages: 0 });
    expect(b.rc).toBe(0);
    const bDomid = b.emptyDomain!.domid;
    // dom0's store through its old mapping: refused, and b's frame is untouched.
    const marker = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);
    const w = await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'write', mfn: victimMfn, offset: 0, data: marker }] });
    expect(w.rc).toBe(-1);
    expect(b.emptyDomain!.p2m).toContain(victimMfn);
    const page = (await peer.request('mapForeign', { domid: bDomid, mfn: victimMfn })).page!;
    expect([...page.subarray(0, 4)]).toEqual([0, 0, 0, 0]);
    // dom0's late unmap of the old mapping changes nothing.
    expect((await peer.request('unmapForeign', { domid: 0, mfn: victimMfn })).rc).toBe(0);
  });

  it('a batch asking for more copied-out bytes than an answer may carry is refused before anything runs', async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    // A guest grants dom0 one page: each copy out of it answers 4 KiB.
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'granter' });
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    g.grant(1, 0, g.mfnOfVa(SPARE_VA), GTF.permit_access);
    const one = await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'copyFrom', domid: g.domid, ref: 1, offset: 0, len: 4096 }] });
    expect([one.rc, one.results[0]!.status, one.results[0]!.data.length]).toEqual([0, 0, 4096]);
    // 11 bytes on the wire ask for 4 KiB back: a 24 MiB frame of them would ask for 9 GiB.
    const n = MAX_COPY_OUT_BYTES / 4096 + 1;
    const ops = Array.from({ length: n }, () => ({ op: 'copyFrom' as const, domid: g.domid, ref: 1, offset: 0, len: 4096 }));
    const big = await peer.requestHot<Batch>({ kind: 'batch', ops });
    expect(big.rc).toBe(-7); // E2BIG
    expect(big.error).toMatch(/copies out/);
    expect(big.results).toEqual([]);
    // The connection goes on.
    expect((await peer.request('info', {})).rc).toBe(0);
  });

  it('a frame of millions of tiny operations closes that connection at once; the hypervisor serves the next dom0', async () => {
    const { peer, url } = await hypervisor(closers);
    // 5 million 5-byte sends in 24 MiB (written by hand: the encoder refuses them).
    const n = 5_000_000;
    const b = new Uint8Array(10 + n * 5);
    const dv = new DataView(b.buffer);
    b[0] = HOT_MAGIC;
    b[1] = 3; // BATCH
    dv.setUint32(2, 77, true);
    dv.setUint32(6, n, true);
    for (let i = 0; i < n; i++) {
      b[10 + i * 5] = 4; // SEND
      dv.setUint32(11 + i * 5, 5, true);
    }
    const closed = new Promise<string>((res) => (peer.onClose = res));
    (peer as unknown as { ws: { send(b: Uint8Array): void } }).ws.send(b);
    // Refused at its count, before a single operation is built.
    expect(await closed).toMatch(new RegExp(`more than ${MAX_HOT_ENTRIES}`));
    const again = await connect(url, 'dom0', 't');
    closers.push(() => again.peer.close());
    expect((await again.peer.request('info', {})).rc).toBe(0);
  });

  it('the hypervisor splits guest stores of more than MAX_HOT_ENTRIES spans over several dispatches; dom0 gets every one', async () => {
    const { hv, peer } = await hypervisor(closers, 64);
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'g' });
    hv.pause(g.domain);
    // 33 pages of 2,048 one-byte spans each: 67,584 page updates for one dispatch.
    const mfns = Array.from({ length: 33 }, (_, i) => g.domain.p2m[100 + i]!);
    for (const mfn of mfns) expect((await peer.request('mapForeign', { domid: g.domid, mfn })).rc).toBe(0);
    for (const mfn of mfns) for (let off = 0; off < 4096; off += 2) hv.mem.noteStore(mfn * 4096 + off, 1);
    const got: number[] = [];
    peer.hotHandler = (req) => {
      if (req.kind === 'dispatch') got.push(req.pages.length);
      return req.kind === 'dispatch' ? { kind: 'dispatchDone', id: req.id, ops: [] } : { kind: 'batchDone', id: req.id, rc: -38, error: '', results: [] };
    };
    const port = (await peer.request('bindInterdomain', { domid: g.domid, remotePort: g.domain.storeEvtchn })).port!;
    const notify = hv.domain(0)!.onEvent as (p: number) => void;
    notify(port); // a notification of dom0's port: a dispatch carrying the guest's stores
    await hv.runAsync({ until: hv.now() + 10_000_000 });
    expect(got.reduce((a, b) => a + b, 0)).toBe(33 * 2048);
    for (const n of got) expect(n).toBeLessThanOrEqual(MAX_HOT_ENTRIES);
  });

  it("dom0's event sends during one dispatch are held in a bounded queue, however many it makes", async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'g' });
    hv.pause(g.domain);
    const port = (await peer.request('bindInterdomain', { domid: g.domid, remotePort: g.domain.storeEvtchn })).port!;
    let held = -1;
    peer.hotHandler = async (req) => {
      if (req.kind !== 'dispatch') return { kind: 'batchDone', id: req.id, rc: -38, error: '', results: [] };
      // While the machine waits for this answer: 20 batches of 65,536 sends on one port.
      for (let i = 0; i < 20; i++) {
        const r = await peer.requestHot<Batch>({ kind: 'batch', ops: Array.from({ length: MAX_HOT_ENTRIES }, () => ({ op: 'send' as const, port })) });
        expect(r.rc).toBe(0);
      }
      held = deferred(hv);
      return { kind: 'dispatchDone', id: req.id, ops: [] };
    };
    (hv.domain(0)!.onEvent as (p: number) => void)(port);
    await hv.runAsync({ until: hv.now() + 10_000_000 });
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(8193); // it held 1,310,720 before, growing with every batch
  });

  it('a store to a frame dom0 reaches only through read-only grants is refused, however the grants come and go', async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'g' });
    g.shareGrantTable(g.layout.virtBase + 3 * MiB);
    const frame = g.mfnOfVa(SPARE_VA);
    g.grant(1, 0, frame, GTF.permit_access | GTF.readonly);
    g.grant(2, 0, frame, GTF.permit_access);
    const store = async () => (await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'write', mfn: frame, offset: 0, data: new Uint8Array(1) }] })).rc;
    const ro = (await peer.request('grantMap', { domid: g.domid, ref: 1, readonly: true })).grant!;
    expect(await store()).toBe(-1);
    const rw = (await peer.request('grantMap', { domid: g.domid, ref: 2, readonly: false })).grant!;
    expect(await store()).toBe(0);
    expect((await peer.request('grantUnmap', { handle: rw.handle! })).grant!.status).toBe(0);
    expect(await store()).toBe(-1);
    expect((await peer.request('mapForeign', { domid: g.domid, mfn: frame })).rc).toBe(0);
    expect(await store()).toBe(0);
    expect((await peer.request('unmapForeign', { domid: g.domid, mfn: frame })).rc).toBe(0);
    expect(await store()).toBe(-1);
    expect((await peer.request('grantUnmap', { handle: ro.handle! })).grant!.status).toBe(0);
    expect(await store()).toBe(-1); // not mapped at all
  });

  it('a dispatch dom0 never answers: the hypervisor still serves its requests, and the machine goes on once dom0 is gone', async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'g' });
    hv.pause(g.domain);
    const port = (await peer.request('bindInterdomain', { domid: g.domid, remotePort: g.domain.storeEvtchn })).port!;
    let asked!: () => void;
    const dispatched = new Promise<void>((r) => (asked = r));
    peer.hotHandler = (req) => {
      asked();
      return req.kind === 'dispatch' ? new Promise<HotFrame>(() => {}) : { kind: 'batchDone', id: req.id, rc: -38, error: '', results: [] };
    };
    (hv.domain(0)!.onEvent as (p: number) => void)(port);
    const run = hv.runAsync({ until: hv.now() + 10_000_000 });
    await dispatched;
    // The machine waits (up to the 60 s time-out); the hypervisor does not.
    expect((await peer.request('info', {})).rc).toBe(0);
    const w = await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'send', port }] });
    expect(w.rc).toBe(0);
    peer.close();
    expect((await run).kind).not.toBe('blocked');
    expect(hv.console.dmesg().join('\n')).toMatch(/dispatch of port \d+ lost/);
  });

  it('a protobuf frame of a million empty repeated messages is refused before it is decoded', async () => {
    const { peer, url } = await hypervisor(closers);
    // Frame { request { id: 1, writes: [{} x 1,000,000], list_domains: {} } }: 2 MB on the
    // wire, about 300 MB once decoded (a 24 MiB one: 28 s and 3.5 GiB).
    const n = 1_000_000;
    const req = new Uint8Array(2 + n * 2 + 2);
    req.set([0x08, 1]);
    for (let i = 0; i < n; i++) req.set([0x12, 0], 2 + i * 2);
    req.set([(15 << 3) | 2, 0], 2 + n * 2);
    const len: number[] = [];
    for (let v = req.length; ; v = Math.floor(v / 128)) {
      if (v < 128) {
        len.push(v);
        break;
      }
      len.push((v & 127) | 128);
    }
    const frame = Uint8Array.from([0x22, ...len, ...req]);
    const closed = new Promise<string>((res) => (peer.onClose = res));
    (peer as unknown as { ws: { send(b: Uint8Array): void } }).ws.send(frame);
    const outcome = await Promise.race([closed, peer.request('info', {}).then(() => 'answered', (e: Error) => e.message)]);
    expect(outcome).toMatch(new RegExp(`at most ${MAX_WIRE_FIELDS} fields`));
    const again = await connect(url, 'dom0', 't');
    closers.push(() => again.peer.close());
    expect((await again.peer.request('info', {})).rc).toBe(0);
  });

  it('dom0 splits a batch of more than MAX_HOT_ENTRIES operations into frames the hypervisor takes, in order', async () => {
    const counts: number[] = [];
    let next = 0;
    const peer = {
      hotHandler: null,
      requestHot(req: { kind: 'batch'; ops: HotOp[] }): Promise<HotFrame> {
        const f = decodeHot(encodeHot({ ...req, id: 1 })); // throws past the bound
        if (f.kind !== 'batch') throw new Error('not a batch');
        counts.push(f.ops.length);
        return Promise.resolve({ kind: 'batchDone', id: 1, rc: 0, error: '', results: f.ops.map(() => ({ status: next++, data: new Uint8Array(0) })) });
      },
    };
    const platform = new RemotePlatform(peer as unknown as Peer);
    const ops = Array.from({ length: MAX_HOT_ENTRIES + 10 }, (_, i) => ({ to: true as const, domid: 1, ref: i, offset: 0, data: new Uint8Array(1) }));
    const r = await platform.copyGrants(ops);
    expect(counts).toEqual([MAX_HOT_ENTRIES, 10]);
    expect(r.map((x) => x.status)).toEqual(ops.map((_, i) => i));
  });

  it("dom0 cannot map the hypervisor's own frames kept in a domain (shadow tables), only the domain's memory and shared pages", async () => {
    const { hv, peer } = await hypervisor(closers, 64);
    const image = readFileSync(join(process.cwd(), 'tests/hvm-programs/build/csr.elf'));
    const d = hv.createHvmDomain(image, { name: 'h', memoryBytes: 8 * MiB, cmdline: '', vcpus: 1, hvm: { mode: 'trap', shadowSync: 'wp' } });
    const ram = new Set(d.p2m);
    const internal = hv.frames.framesOf(d.domid).filter((m) => !ram.has(m) && m !== d.storeMfn && m !== d.consoleMfn && !hv.frames.isXenheap(m));
    expect(internal.length).toBeGreaterThan(0); // the shadow root, at least
    for (const mfn of internal) expect((await peer.request('mapForeign', { domid: d.domid, mfn })).rc).toBe(-1); // EPERM
    // The domain's RAM and its rings stay mappable.
    expect((await peer.request('mapForeign', { domid: d.domid, mfn: d.p2m[0]! })).rc).toBe(0);
    expect((await peer.request('mapForeign', { domid: d.domid, mfn: d.storeMfn })).rc).toBe(0);
  });

  it("dom0's stores cannot rewrite a PV guest's validated page table through a foreign mapping", async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'pv' });
    const other = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'other' });
    const l1 = g.l1MfnFor(SPARE_VA);
    expect((await peer.request('mapForeign', { domid: g.domid, mfn: l1 })).rc).toBe(0); // reading is fine
    // A PTE naming another domain's frame, written past the type system.
    const entry = new Uint8Array(4);
    new DataView(entry.buffer).setUint32(0, pte(other.mfnOfVa(SPARE_VA), RW), true);
    const off = ((SPARE_VA >>> 12) & 0x3ff) * 4;
    const r = await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'write', mfn: l1, offset: off, data: entry }] });
    expect(r.rc).toBe(-1); // EPERM
    expect(r.error).toMatch(/page table/);
    expect(g.mfnOfVa(SPARE_VA)).not.toBe(other.mfnOfVa(SPARE_VA));
  });

  it("dom0 mapping a guest's shared_info and letting go does not blind the guest's event channels to its own stores", async () => {
    const { hv, peer } = await hypervisor(closers, 32);
    const g = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'pv' });
    const si = g.domain.sharedInfoMfn;
    expect(hv.mem.watched[si]).toBe(1); // evtchn watches evtchn_upcall_mask stores
    expect((await peer.request('mapForeign', { domid: g.domid, mfn: si })).rc).toBe(0);
    expect((await peer.request('unmapForeign', { domid: g.domid, mfn: si })).rc).toBe(0);
    // Before: dom0's watcher replaced the event channels' one, and its unmap removed both.
    expect(hv.mem.watched[si]).toBe(1);
  });
});

describe('dom0 in the hypervisor process (LocalPlatform) is held to the same checks', () => {
  it("a page it maps keeps its frame past the domain's end, and the hypervisor's own frames cannot be mapped", async () => {
    const hv = new HypervisorImpl({ machineMemoryBytes: 16 * MiB });
    const platform = new LocalPlatform(hv);
    const a = MmGuest.create(hv, { memoryBytes: 3 * MiB, name: 'a' });
    const mfn = a.domain.p2m[10]!;
    const page = await platform.mapForeign(a.domid, mfn);
    hv.destroyDomain(a.domain);
    const free = hv.frames.nrFrames - hv.frames.allocated;
    const b = hv.createEmptyDomain({ name: 'b', nrPages: free - 1 });
    expect([...b.p2m]).not.toContain(mfn);
    // dom0's store through its (shared) page lands in the orphan frame, in no domain's memory.
    page.mem.setU8(0, 0xaa);
    for (const m of b.p2m) expect(hv.mem.frames[m]?.[0] ?? 0).toBe(0);
    page.unmap();
    expect(hv.frames.nrFrames - hv.frames.allocated).toBe(1);
    const image = readFileSync(join(process.cwd(), 'tests/hvm-programs/build/csr.elf'));
    hv.destroyDomain(b);
    const h = hv.createHvmDomain(image, { name: 'h', memoryBytes: 4 * MiB, cmdline: '', vcpus: 1, hvm: { mode: 'trap', shadowSync: 'wp' } });
    const ram = new Set(h.p2m);
    const internal = hv.frames.framesOf(h.domid).filter((m) => !ram.has(m) && m !== h.storeMfn && m !== h.consoleMfn && !hv.frames.isXenheap(m));
    expect(internal.length).toBeGreaterThan(0);
    for (const m of internal) await expect(platform.mapForeign(h.domid, m)).rejects.toThrow(/hypervisor's/);
  });
});

describe('hostile hot frames to a real `pvsim hypervisor` process', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-hotwire-'));
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const p of children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });

  it('answers hostile batches with statuses, ignores answers to nothing, closes on a flood, and keeps serving', async () => {
    const tokenFile = join(dir, 'hv.token');
    writeFileSync(tokenFile, 'a'.repeat(64) + '\n', { mode: 0o600 });
    const proc = spawn(process.execPath, [join(process.cwd(), 'bin/pvsim.js'), 'hypervisor', '--token-file', tokenFile, '--pcpus', '1', '--memory', '64'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '' } });
    children.push(proc);
    const url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error('hypervisor not ready')), 30_000);
      proc.once('exit', (c) => rej(new Error(`hypervisor exited ${c}`)));
      createInterface({ input: proc.stdout! }).on('line', (l) => {
        const u = parseEnv(l).PVSIM_HYPERVISOR_URL;
        if (u) {
          clearTimeout(t);
          res(u);
        }
      });
    });
    const alive = () => proc.exitCode === null && proc.signalCode === null;
    const token = 'a'.repeat(64);

    // A hot frame instead of a hello: refused like any other non-hello.
    const raw = new WebSocket(url);
    await new Promise((r) => raw.once('open', r));
    const refused = new Promise<number>((r) => raw.once('close', (code) => r(code)));
    raw.send(encodeHot({ kind: 'batch', id: 1, ops: [{ op: 'send', port: 1 }] }));
    expect(await refused).toBe(1008);

    const { peer } = await connect(url, 'dom0', token);
    // Wild grant copies and sends: each gets its own status, nothing else happens.
    const wild: HotOp[] = [
      { op: 'copyTo', domid: 0xffff, ref: 0xffffffff, offset: 4095, data: new Uint8Array(1) },
      { op: 'copyTo', domid: 0, ref: 0, offset: 0, data: new Uint8Array(0) },
      { op: 'copyFrom', domid: 0x7ff0, ref: 0x80000000, offset: 0, len: 4096 },
      { op: 'copyFrom', domid: 0, ref: 1, offset: 4096, len: 0 },
      { op: 'send', port: 0 },
      { op: 'send', port: 0xffffffff },
      { op: 'send', port: 1 },
    ];
    const r = await peer.requestHot<Batch>({ kind: 'batch', ops: wild });
    expect(r.rc).toBe(0);
    expect(r.results.length).toBe(wild.length);
    for (const x of r.results) expect(x.status).toBeLessThan(0);
    // Stores to frames dom0 never mapped: refused, whatever the frame.
    for (const mfn of [0, 0x80000, 0xffffffff]) {
      const w = await peer.requestHot<Batch>({ kind: 'batch', ops: [{ op: 'write', mfn, offset: 0, data: new Uint8Array(8) }] });
      expect(w.rc).toBe(-1);
    }
    expect((await peer.request('mapForeign', { domid: 0, mfn: 0xffffffff })).rc).not.toBe(0);
    // A dispatch to the hypervisor (the wrong way) is answered empty; answers to requests never
    // sent, or to one already answered, are ignored.
    const d = await peer.requestHot<Extract<HotFrame, { kind: 'dispatch' }>>({ kind: 'dispatch', port: 3, timeNs: 0, pages: [], copiesDone: 0, failedCopies: [], prefetched: [] });
    expect(d.ops).toEqual([]);
    const ws = (peer as unknown as { ws: WebSocket }).ws;
    ws.send(encodeHot({ kind: 'dispatchDone', id: 123456, ops: [{ op: 'send', port: 1 }] }));
    ws.send(encodeHot({ kind: 'batchDone', id: 1, rc: 0, error: '', results: [] }));
    expect((await peer.request('info', {})).rc).toBe(0);
    expect(peer.closed).toBe(false);

    // A flood of 5 million operations in one frame closes that connection only, at once.
    const n = 5_000_000;
    const b = new Uint8Array(10 + n * 5);
    const dv = new DataView(b.buffer);
    b[0] = HOT_MAGIC;
    b[1] = 3;
    dv.setUint32(6, n, true);
    for (let i = 0; i < n; i++) b[10 + i * 5] = 4;
    const closed = new Promise<string>((res) => (peer.onClose = res));
    ws.send(b);
    expect(await closed).toMatch(/1002|entries/);
    const again = await connect(url, 'dom0', token);
    expect((await again.peer.request('info', {})).rc).toBe(0);
    again.peer.close();
    expect(alive()).toBe(true);
  });
});

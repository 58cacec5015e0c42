// dom0's lookahead window (hypervisor/run/lookahead.ts): while dom0 serves a port dispatch
// issued at T, guests run on (guest instructions only) up to T + dom0PassNs; a store to a
// page dom0 maps ends a vCPU's window and is rolled back while dom0 reads, then replayed.
// Each test runs with dom0 in-process (LocalPlatform) and across a WebSocket (RemotePlatform:
// mirrored pages); tests/dom0-placement.test.ts shows both homes give one trace hash.

import { describe, expect, it } from 'vitest';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import { machineAndPlatform } from './helpers/platforms.ts';
import type { Dom0Platform } from '../dom0/platform.ts';
import { evtchnAllocUnbound, evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { HYPERVISOR } from '../protocol/xen/hypercall.ts';
import { EVTCHNOP } from '../protocol/xen/event_channel.ts';
import { addi, amoadd_w, bne, ecall, fence, jal, li, lw, sw } from './cpu/asm.ts';
import { pvImage, PV_BASE, SPIN } from './helpers/pv_image.ts';
import { writeGuestU32 } from '../hypervisor/mm/guest_access.ts';
import { u32Bytes } from './helpers/elf_writer.ts';
import type { CostModel } from '../hypervisor/time/cost_model.ts';

const MiB = 1024 * 1024;
const T0 = 5, T1 = 6, T2 = 7, S0 = 8, A0 = 10, A1 = 11, A7 = 17;
const ARGS = PV_BASE + 0x2000;
const RING = PV_BASE + 0x3000;

type Home = 'in-process' | 'process';

/** A one-pCPU machine with dom0 in either home (tests/helpers/platforms.ts: RemotePlatform across a real WebSocket). */
async function machine(home: Home, costs: Partial<CostModel> = {}, lookahead = true): Promise<{ hv: Hypervisor; dom0: Dom0Platform; close: () => Promise<void> }> {
  const closers: (() => Promise<void> | void)[] = [];
  const { hv, platform } = await machineAndPlatform(home === 'in-process' ? 'local' : 'remote', closers, { memMiB: 64, pcpus: 1, costs });
  hv.loop.lookahead = lookahead;
  return {
    hv,
    dom0: platform,
    close: async () => {
      for (const c of closers.reverse()) await c();
    },
  };
}

describe.each(['in-process', 'process'] as const)('dom0 lookahead, dom0 %s', (home) => {
  it('a guest runs on while dom0 serves a dispatch, and dom0 works at the dispatch time', async () => {
    for (const lookahead of [true, false]) {
      const { hv, dom0, close } = await machine(home, {}, lookahead);
      const { domain } = hv.createPvDomain(pvImage(SPIN), { name: 'spinner', memoryBytes: 4 * MiB });
      hv.unpause(domain);
      const hart = domain.vcpus[0]!.hart;
      const guestPort = evtchnAllocUnbound(hv, domain, domain.domid, 0);
      const port = await dom0.bindInterdomain(domain.domid, guestPort);
      await hv.runAsync({ until: 100_000 });
      // The guest notifies dom0; its dispatch fires dom0DispatchNs later, at T.
      const T = hv.now() + hv.costs.dom0DispatchNs;
      let atT = -1;
      hv.events.schedule(T, () => {
        atT = hart.instret;
      });
      expect(evtchnSend(hv, domain, guestPort)).toBe(0);
      const before = { ...hv.loop.lookaheadStats };
      const seen: { instret: number; now: number }[] = [];
      dom0.onEvent(port, () => {
        seen.push({ instret: hart.instret, now: hv.now() });
      });
      await hv.runAsync({ until: T + 50_000 });
      expect(seen).toHaveLength(1);
      // dom0's requests happen at T in both cases ...
      expect(seen[0]!.now).toBe(T);
      const ran = seen[0]!.instret - atT;
      if (lookahead) {
        // ... but with lookahead the spinning guest ran on for the window: dom0PassNs of
        // instructions (1 ns each), none of which exits.
        expect(ran).toBe(hv.costs.dom0PassNs / hv.costs.instructionNs);
        const st = hv.loop.lookaheadStats;
        expect([st.windows - before.windows, st.instructions - before.instructions, st.mappedStores, st.exits]).toEqual([1, ran, 0, 0]);
      } else {
        expect(ran).toBe(0);
        expect(hv.loop.lookaheadStats.windows).toBe(0);
      }
      await close();
    }
  });

  it('an exit inside the window is served after dom0 has answered, at its own time', async () => {
    // A guest that notifies dom0 and then notifies again after a short spin (inside the
    // window): the second hypercall waits for the answer, and is then served (coalesced
    // into a second dispatch, not lost).
    const { hv, dom0, close } = await machine(home, { dom0PassNs: 50_000 });
    const spin = (n: number) => [...li(T0, n), addi(T0, T0, -1), bne(T0, 0, -4)];
    const send = [...li(A0, EVTCHNOP.send), addi(A1, T1, 0), ...li(A7, HYPERVISOR.event_channel_op), ecall()];
    const code = u32Bytes(...li(T1, ARGS), ...send, ...spin(7_500), ...send, jal(0, 0));
    const { domain } = hv.createPvDomain(pvImage(code, { bssBytes: 8 * 4096 }), { name: 'fe', memoryBytes: 4 * MiB });
    const guestPort = evtchnAllocUnbound(hv, domain, domain.domid, 0);
    // The guest's EVTCHNOP_send argument (its port) is written where its code looks for it.
    expect(writeGuestU32(domain.vcpus[0]!.hart, ARGS, guestPort)).toBe(true);
    const port = await dom0.bindInterdomain(domain.domid, guestPort);
    let dispatches = 0;
    dom0.onEvent(port, () => {
      dispatches++;
    });
    hv.unpause(domain);
    await hv.runAsync({ until: 1_000_000 });
    expect(dispatches).toBe(2);
    expect(hv.loop.lookaheadStats.exits).toBe(1);
    await close();
  });

  it('a frontend publishing a request inside the window is served, not lost (ring final check)', async () => {
    // The frontend (machine code): notify dom0; spin so that its next store falls inside
    // the dispatch's window; publish a request (req_prod = 1) on a page dom0 maps; fence;
    // read the backend's req_event and notify if it asks (RING_PUSH_REQUESTS_AND_CHECK_NOTIFY
    // for one request: notify iff req_event == 1). The backend (dom0) does
    // RING_FINAL_CHECK_FOR_REQUESTS: req_event = req_cons + 1, then re-reads req_prod.
    // dom0 reads the ring as of the dispatch (req_prod 0, the store is rolled back), so it
    // must be the frontend's check that sees the new req_event and notifies again.
    const { hv, dom0, close } = await machine(home, { dom0PassNs: 100_000 });
    const spin = (n: number) => [...li(T0, n), addi(T0, T0, -1), bne(T0, 0, -4)];
    const send = [...li(A0, EVTCHNOP.send), addi(A1, T1, 0), ...li(A7, HYPERVISOR.event_channel_op), ecall()];
    const code = [
      ...li(T1, ARGS), ...li(S0, RING),
      ...send,
      ...spin(15_000),
      ...li(T2, 1), sw(T2, 0, S0), fence(), lw(T2, 4, S0),
      ...li(T0, 1), bne(T2, T0, 4 * (send.length + 1)),
      ...send,
      jal(0, 0),
    ];
    const { domain } = hv.createPvDomain(pvImage(u32Bytes(...code), { bssBytes: 8 * 4096 }), { name: 'fe', memoryBytes: 4 * MiB });
    const guestPort = evtchnAllocUnbound(hv, domain, domain.domid, 0);
    expect(writeGuestU32(domain.vcpus[0]!.hart, ARGS, guestPort)).toBe(true);
    const port = await dom0.bindInterdomain(domain.domid, guestPort);
    const pa = domain.vcpus[0]!.hart.translate(RING, 'w');
    expect(pa).toBeGreaterThan(0);
    const ring = (await dom0.mapForeign(domain.domid, Math.floor(pa / 4096))).mem;
    let cons = 0;
    const prods: number[] = [];
    dom0.onEvent(port, () => {
      for (;;) {
        const prod = ring.u32le(0);
        prods.push(prod);
        cons = prod; // each request served
        ring.setU32le(4, cons + 1); // req_event
        if (ring.u32le(0) === cons) break; // final check
      }
    });
    hv.unpause(domain);
    await hv.runAsync({ until: 2_000_000 });
    // The store landed inside the first dispatch's window (and ended it) ...
    expect(hv.loop.lookaheadStats.mappedStores).toBe(1);
    // ... dom0 read the ring as of the dispatch (no request yet) ...
    expect(prods[0]).toBe(0);
    // ... and the request was served in a second dispatch, which the frontend's check asked for.
    expect(prods.at(-1)).toBe(1);
    expect(cons).toBe(1);
    expect(ring.u32le(0)).toBe(1);
    expect(ring.u32le(4)).toBe(2);
    // The guest's page agrees: the replayed store and dom0's req_event are both there.
    const frame = hv.mem.frames[Math.floor(pa / 4096)]!;
    const dv = new DataView(frame.buffer, frame.byteOffset + (pa % 4096), 8);
    expect([dv.getUint32(0, true), dv.getUint32(4, true)]).toEqual([1, 2]);
    await close();
  });

  it('a misaligned store across two mapped pages and an AMO in windows: dom0 reads what was there at T, the guest stores land after', async () => {
    const { hv, dom0, close } = await machine(home, { dom0PassNs: 100_000 });
    const spin = (n: number) => [...li(T0, n), addi(T0, T0, -1), bne(T0, 0, -4)];
    const send = [...li(A0, EVTCHNOP.send), addi(A1, T1, 0), ...li(A7, HYPERVISOR.event_channel_op), ecall()];
    const code = [
      ...li(T1, ARGS), ...li(S0, RING),
      ...send, ...spin(15_000),
      // Window 1: a word at RING + 4094, two bytes on each page.
      ...li(T2, 0xaabbccdd | 0), ...li(A1, RING + 4094), sw(T2, 0, A1),
      // dom0 is busy with the first dispatch until T1 + dom0PassNs: the second waits for it.
      ...send, ...spin(55_000),
      // Window 2: amoadd.w of 5 at RING + 8.
      ...li(T2, 5), addi(A1, S0, 8), amoadd_w(0, T2, A1),
      jal(0, 0),
    ];
    const { domain } = hv.createPvDomain(pvImage(u32Bytes(...code), { bssBytes: 8 * 4096 }), { name: 'fe', memoryBytes: 4 * MiB });
    const guestPort = evtchnAllocUnbound(hv, domain, domain.domid, 0);
    expect(writeGuestU32(domain.vcpus[0]!.hart, ARGS, guestPort)).toBe(true);
    const port = await dom0.bindInterdomain(domain.domid, guestPort);
    const hart = domain.vcpus[0]!.hart;
    const mfn0 = Math.floor(hart.translate(RING, 'w') / 4096);
    const mfn1 = Math.floor(hart.translate(RING + 4096, 'w') / 4096);
    const p0 = (await dom0.mapForeign(domain.domid, mfn0)).mem;
    const p1 = (await dom0.mapForeign(domain.domid, mfn1)).mem;
    const seen: string[] = [];
    dom0.onEvent(port, () => {
      seen.push(`${p0.u16le(4094).toString(16)} ${p1.u16le(0).toString(16)} ${p0.u32le(8)}`);
      p0.setU32le(12, seen.length); // dom0's own store, next to the AMO's word
    });
    hv.unpause(domain);
    await hv.runAsync({ until: 2_000_000 });
    expect(hv.loop.lookaheadStats.mappedStores).toBe(2);
    // At each dispatch dom0 saw the page as it was at T: window 1 before the split word,
    // window 2 after it (replayed) but before the AMO.
    expect(seen).toEqual(['0 0 0', 'ccdd aabb 0']);
    const f0 = hv.mem.frames[mfn0]!;
    const f1 = hv.mem.frames[mfn1]!;
    expect([f0[4094], f0[4095], f1[0], f1[1]]).toEqual([0xdd, 0xcc, 0xbb, 0xaa]);
    const dv = new DataView(f0.buffer, f0.byteOffset);
    expect([dv.getUint32(8, true), dv.getUint32(12, true)]).toEqual([5, 2]);
    await close();
  });
});

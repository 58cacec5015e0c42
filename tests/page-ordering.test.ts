// Section 7 of the design, across a real socket: dom0 sees a guest's store to a page it
// mapped before it acts on the notification that follows it, and dom0's own store reaches
// the guest before the guest's next instruction. The guest is machine code; dom0 is a
// RemotePlatform in this process, connected to the hypervisor server over WebSocket.

import { afterEach, describe, expect, it } from 'vitest';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect } from '../protocol/session.ts';
import { RemotePlatform } from '../dom0/remote_platform.ts';
import type { MappedPage } from '../dom0/platform.ts';
import type { Request } from '../protocol/wire.ts';
import { planPvDomain } from '../xenguest/pv_bootstrap.ts';
import { HYPERVISOR } from '../protocol/xen/hypercall.ts';
import { EVTCHNOP } from '../protocol/xen/event_channel.ts';
import { addi, ecall, jal, li, lw, sw } from './cpu/asm.ts';
import { pvImage, PV_BASE } from './helpers/pv_image.ts';
import { u32Bytes } from './helpers/elf_writer.ts';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const T0 = 5, T1 = 6, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A7 = 17;
const DATA = PV_BASE + 0x1000;
const MiB = 1024 * 1024;

/** Stores 0x12345678 at the start of its console page, notifies the console port, spins; then reads back word 1. */
function guest(consoleVa: number): Uint8Array {
  return pvImage(
    u32Bytes(
      ...[
        addi(S0, A0, 0),
        lw(S1, 56, S0), // start_info.console.domU.evtchn
        li(T0, consoleVa),
        li(T1, 0x12345678),
        sw(T1, 0, T0),
        li(T0, DATA),
        sw(S1, 0, T0), // struct evtchn_send { port }
        li(A7, HYPERVISOR.event_channel_op),
        li(A0, EVTCHNOP.send),
        addi(A1, T0, 0),
        ecall(),
        jal(0, 0),
      ].flat(),
    ),
    { bssBytes: 2 * 4096 },
  );
}

describe('page updates across the process boundary', () => {
  it("delivers the guest's store before the event, and dom0's store before the guest runs on", async () => {
    const server = new HypervisorServer({ token: 'k', manual: true, machineMemoryBytes: 128 * MiB });
    const h = await server.start();
    let platform!: RemotePlatform;
    let page: MappedPage | null = null;
    let seenByDom0 = -1;
    let guestWordAfterDispatch = -1;
    const hv = server.hv;
    const handler = async (req: Request) => {
      if (req.domainCreated) {
        const s = req.domainCreated;
        page = await platform.mapForeign(s.domain.domid, s.consoleMfn);
        const port = await platform.bindInterdomain(s.domain.domid, s.consolePort);
        platform.onEvent(port, async () => {
          seenByDom0 = page!.mem.u32le(0);
          page!.mem.setU32le(4, 0xcafebabe);
          await platform.notify(port);
          // Inside a dispatch the store and the send ride with its answer (stores first), so
          // the guest's frame has not changed yet: the machine stands still until then.
          guestWordAfterDispatch = new DataView(hv.mem.frames[s.consoleMfn]!.buffer, hv.mem.frames[s.consoleMfn]!.byteOffset).getUint32(4, true);
        });
      } else if (req.dom0Event) await platform.event(req.dom0Event);
      return { rc: 0 };
    };
    const { peer } = await connect(h.url, 'dom0', 'k', handler);
    platform = new RemotePlatform(peer);
    closers.push(() => peer.close(), h.close);
    await server.waitForDom0();

    const consoleVa = planPvDomain(guest(0), { memoryBytes: 4 * MiB }).layout.consoleVa;
    const d = hv.createPvDomain(guest(consoleVa), { name: 'g', memoryBytes: 4 * MiB }).domain;
    hv.unpause(d);
    await hv.runAsync({ until: 2_000_000 });
    expect(page).not.toBeNull();
    expect(seenByDom0).toBe(0x12345678); // the guest's store arrived with the dispatch
    expect(guestWordAfterDispatch).toBe(0); // not yet: it travels with the dispatch's answer
    expect(hv.dispatches).toBeGreaterThan(0);
    const frame = hv.mem.frames[d.consoleMfn]!;
    expect(new DataView(frame.buffer, frame.byteOffset).getUint32(4, true)).toBe(0xcafebabe);
  });
});

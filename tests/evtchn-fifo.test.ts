// The FIFO event channel ABI (EVTCHNOP_init_control, expand_array, set_priority): the
// numbers and layouts pinned to Xen's header, the errors Xen gives, and the queues as a
// guest sees them in its own frames (event words, READY, HEAD, LINK).

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import * as EC from '../protocol/xen/event_channel.ts';
import { EVTCHN_FIFO, EVTCHN_FIFO_CONTROL_BLOCK, EVTCHNOP } from '../protocol/xen/event_channel.ts';
import { evtchnSetMaxPort } from '../hypervisor/evtchn/index.ts';
import { fifoEventWord } from '../hypervisor/evtchn/fifo.ts';
import { ARG, E, args, guest, machine, type TestGuest } from './helpers/evtchn_guest.ts';
import { PV_BASE } from './helpers/pv_image.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

describe.skipIf(!available)('FIFO ABI against /usr/include/xen/event_channel.h (RV32 ilp32)', () => {
  it('EVTCHN_FIFO_* constants, event_word_t, the control block layout', () => {
    const H = ['xen/xen.h', 'xen/event_channel.h'];
    const names = Object.keys(EVTCHN_FIFO) as (keyof typeof EVTCHN_FIFO)[];
    const got = evalXenExpressions(H, names.map((n) => `EVTCHN_FIFO_${n}`));
    expect(Object.fromEntries(names.map((n, i) => [n, got[i]]))).toEqual({ ...EVTCHN_FIFO });
    expect(evalXenExpressions(H, ['sizeof(event_word_t)', 'offsetof(struct evtchn_fifo_control_block, ready)', 'offsetof(struct evtchn_fifo_control_block, head)', 'sizeof(struct evtchn_fifo_control_block)', 'sizeof(((struct evtchn_fifo_control_block *)0)->head) / sizeof(uint32_t)'])).toEqual([
      4,
      EVTCHN_FIFO_CONTROL_BLOCK.ready,
      EVTCHN_FIFO_CONTROL_BLOCK.head,
      EVTCHN_FIFO_CONTROL_BLOCK.SIZE,
      EVTCHN_FIFO.MAX_QUEUES,
    ]);
    expect(evalXenExpressions(H, ['EVTCHN_FIFO_NR_CHANNELS / (4096 / sizeof(event_word_t))'])).toEqual([EC.EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES]);
  });
});

/** Machine frame of the guest's bss page `k` (ARG is page 1; 2..8 are free for the ABI's pages). */
const bssMfn = (g: TestGuest, k: number) => g.domain.p2m[k]!;
const PENDING = 2 ** 31;
const MASKED = 1 << 30;
const LINKED = 1 << 29;

function initControl(g: TestGuest, mfn: number, offset = 0, vcpu = 0): { rc: number; linkBits: number } {
  const r = g.op(EVTCHNOP.init_control, args(24, [[0, 4, mfn], [8, 4, offset], [12, 4, vcpu]]));
  return { rc: r.rc, linkBits: r.out.getUint8(16) };
}
const expand = (g: TestGuest, mfn: number) => g.op(EVTCHNOP.expand_array, args(8, [[0, 4, mfn]])).rc;
const setPriority = (g: TestGuest, port: number, prio: number) => g.op(EVTCHNOP.set_priority, args(8, [[0, 4, port], [4, 4, prio]])).rc;

/** A guest on the FIFO ABI: control block in bss page 2, event array page in bss page 3. */
function fifoGuest(): { g: TestGuest; control: Uint32Array } {
  const g = guest(machine());
  expect(initControl(g, bssMfn(g, 2))).toEqual({ rc: 0, linkBits: 17 });
  expect(expand(g, bssMfn(g, 3))).toBe(0);
  const f = g.hv.mem.frames[bssMfn(g, 2)]!;
  return { g, control: new Uint32Array(f.buffer, f.byteOffset, 18) };
}

describe('EVTCHNOP_init_control / expand_array / set_priority errors', () => {
  it('as Xen: -ENOENT for a missing vCPU, -EINVAL for a bad offset, a frame not the guest\'s or a second block', () => {
    const hv = machine();
    const g = guest(hv);
    const other = guest(hv);
    expect(initControl(g, bssMfn(g, 2), 0, 1).rc).toBe(E('ENOENT'));
    expect(initControl(g, bssMfn(g, 2), 4).rc).toBe(E('EINVAL'));
    expect(initControl(g, bssMfn(g, 2), 4096 - 72 + 8).rc).toBe(E('EINVAL'));
    expect(initControl(g, bssMfn(other, 2)).rc).toBe(E('EINVAL'));
    expect(initControl(g, 0x7fff_ffff).rc).toBe(E('EINVAL'));
    // The guest's bootstrap page table is not writable: not a control block.
    expect(initControl(g, g.domain.p2m[(g.layout.ptVa - g.layout.virtBase) / 4096]!).rc).toBe(E('EINVAL'));
    // Before init: no FIFO yet.
    expect(expand(g, bssMfn(g, 3))).toBe(E('EOPNOTSUPP'));
    // Under 2-level: the port is checked first (64 is past the first bucket), then -ENOSYS.
    expect(setPriority(g, 64, 3)).toBe(E('EINVAL'));
    expect(setPriority(g, 63, 3)).toBe(E('ENOSYS'));
    expect(initControl(g, bssMfn(g, 2), 8).rc).toBe(0);
    expect(initControl(g, bssMfn(g, 2), 8).rc).toBe(E('EINVAL'));
    expect(setPriority(g, 63, 16)).toBe(E('EINVAL'));
    expect(setPriority(g, 63, 15)).toBe(0);
    expect(setPriority(g, 64, 1)).toBe(E('EINVAL'));
  });

  it('the event array holds at most 128 pages (2^17 ports); each page is referenced until the domain goes', () => {
    const hv = machine();
    const g = guest(hv, { memoryBytes: 8 * 1024 * 1024 });
    expect(initControl(g, bssMfn(g, 2)).rc).toBe(0);
    const mfn = bssMfn(g, 3);
    const refs = hv.frames.refCount(mfn);
    // The same frame may back every page (Xen maps each one separately).
    for (let i = 0; i < EC.EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES; i++) expect(expand(g, mfn)).toBe(0);
    expect(expand(g, mfn)).toBe(E('ENOSPC'));
    expect(hv.frames.refCount(mfn)).toBe(refs + 128);
    hv.destroyDomain(g.domain);
    expect(hv.frames.refCount(mfn)).toBe(0);
  });
});

describe('FIFO queues in the guest\'s frames', () => {
  it('a send links the event: PENDING|LINKED, HEAD of its priority queue, READY, the upcall line', () => {
    const { g, control } = fifoGuest();
    const p = g.bindIpi();
    const q = g.bindIpi();
    expect(g.send(p)).toBe(0);
    const e = g.domain.evtchn!;
    expect(fifoEventWord(e, p) >>> 0).toBe((PENDING | LINKED) >>> 0);
    expect(control[2 + EVTCHN_FIFO.PRIORITY_DEFAULT]).toBe(p);
    expect(control[0]).toBe(1 << EVTCHN_FIFO.PRIORITY_DEFAULT);
    expect(g.shared.upcallPending(0)).toBe(1);
    // The next event of the same queue is linked after the tail, not made HEAD.
    expect(g.send(q)).toBe(0);
    expect(fifoEventWord(e, p) & EVTCHN_FIFO.LINK_MASK).toBe(q);
    expect(control[2 + EVTCHN_FIFO.PRIORITY_DEFAULT]).toBe(p);
    // A second send of a pending port changes nothing.
    expect(g.send(p)).toBe(0);
    expect(fifoEventWord(e, p) & EVTCHN_FIFO.LINK_MASK).toBe(q);
    // Set_priority: the port's next event goes to its new queue.
    const r = g.bindIpi();
    expect(setPriority(g, r, 2)).toBe(0);
    expect(g.send(r)).toBe(0);
    expect(control[2 + 2]).toBe(r);
    expect(control[0]).toBe((1 << 2) | (1 << EVTCHN_FIFO.PRIORITY_DEFAULT));
    // The events, not the 2-level bitmaps: shared_info's evtchn_pending stays clear.
    expect(g.shared.isPending(p)).toBe(false);
  });

  it('a masked port is only marked PENDING; unmasking links it', () => {
    const { g, control } = fifoGuest();
    const p = g.bindIpi();
    const e = g.domain.evtchn!;
    const f = g.hv.mem.frames[bssMfn(g, 3)]!;
    const words = new Uint32Array(f.buffer, f.byteOffset, 1024);
    words[p] = MASKED;
    expect(g.send(p)).toBe(0);
    expect(fifoEventWord(e, p) >>> 0).toBe((PENDING | MASKED) >>> 0);
    expect(control[0]).toBe(0);
    expect(g.unmask(p)).toBe(0);
    expect(fifoEventWord(e, p) >>> 0).toBe((PENDING | LINKED) >>> 0);
    expect(control[2 + EVTCHN_FIFO.PRIORITY_DEFAULT]).toBe(p);
  });

  it('an event on a port whose array page is missing waits for expand_array; a port still LINKED is not reallocated', () => {
    const g = guest(machine());
    expect(initControl(g, bssMfn(g, 2)).rc).toBe(0);
    const p = g.bindIpi();
    expect(g.send(p)).toBe(0);
    const e = g.domain.evtchn!;
    expect(fifoEventWord(e, p)).toBe(0);
    expect(expand(g, bssMfn(g, 3))).toBe(0);
    expect(fifoEventWord(e, p) >>> 0).toBe((PENDING | LINKED) >>> 0);
    // Closed but still on the queue (the guest has not consumed it): busy, so the next
    // allocation takes another port.
    expect(g.close(p)).toBe(0);
    expect(g.bindIpi()).not.toBe(p);
  });

  it('more than 1,024 ports: 2-level stops at the ABI\'s 1,024, FIFO goes on', () => {
    const two = guest(machine());
    evtchnSetMaxPort(two.domain, 4095);
    let last = 0;
    for (let i = 0; i < 1100 && last >= 0; i++) last = two.bindIpi();
    expect(last).toBe(E('ENOSPC'));
    const { g } = fifoGuest();
    evtchnSetMaxPort(g.domain, 4095);
    for (let i = 1; i <= 1100; i++) expect(g.bindIpi()).toBe(i);
    expect(expand(g, bssMfn(g, 4))).toBe(0);
    expect(g.send(1100)).toBe(0);
    expect(fifoEventWord(g.domain.evtchn!, 1100) >>> 0).toBe((PENDING | LINKED) >>> 0);
  });

  it('EVTCHNOP_reset of itself puts a domain back on 2-level and drops its page references', () => {
    const { g } = fifoGuest();
    const mfn = bssMfn(g, 3);
    const refs = g.hv.frames.refCount(mfn);
    expect(g.reset()).toBe(0);
    expect(g.domain.evtchn!.fifo).toBeNull();
    expect(g.hv.frames.refCount(mfn)).toBe(refs - 1);
    expect(initControl(g, bssMfn(g, 2)).rc).toBe(0);
  });

  it('the argument page is untouched by a failed init_control (Xen copies back only on success)', () => {
    const g = guest(machine());
    const r = g.op(EVTCHNOP.init_control, args(24, [[0, 4, 0x7fff_ffff], [8, 4, 0], [12, 4, 0], [16, 4, 0xaa]]));
    expect(r.rc).toBe(E('EINVAL'));
    expect(r.out.getUint8(16)).toBe(0xaa);
    expect(ARG).toBe(PV_BASE + 4096);
  });
});

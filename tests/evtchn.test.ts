// Event channel operations, called the way the trap handler calls them, on real hypervisor
// objects: every EVTCHNOP's success and error paths with Xen's errnos, the 2-level bitmaps,
// the upcall line, wake-ups, and an interdomain ping-pong between two domains.

import { describe, expect, it } from 'vitest';
import { EVTCHNOP, EVTCHNSTAT, VIRQ, EVTCHN_STATUS } from '../protocol/xen/event_channel.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { evtchnDump, evtchnSend, evtchnSetMaxPort, isPortPending, isPortValid, localEventsNeedDelivery, sendGlobalVirq, sendVirq, setUpcallMask, updateUpcallLine } from '../hypervisor/evtchn/index.ts';
import { ARG, E, UNMAPPED, args, guest, machine, type TestGuest } from './helpers/evtchn_guest.ts';

/**
 * Puts `bytes` at the start of the guest's bootstrap L2 table, which it may read but not
 * write, and returns that address. The bytes land in L2 slots for addresses below the
 * kernel; the values used here keep those entries invalid (V = 0).
 */
function readOnlyArg(g: TestGuest, bytes: Uint8Array): number {
  expect(bytes[0]! & 1).toBe(0);
  const mfn = g.domain.p2m[(g.layout.ptVa - g.layout.virtBase) / 4096]!;
  g.hv.mem.frames[mfn]!.set(bytes, 0);
  return g.layout.ptVa;
}

describe('start of day', () => {
  it('port 0 is reserved: never allocated, closed in status, cannot be closed or sent on', () => {
    const g = guest(machine());
    expect(g.status(0)).toMatchObject({ rc: 0, status: EVTCHNSTAT.closed, vcpu: 0 });
    expect(g.close(0)).toBe(E('EINVAL'));
    expect(g.send(0)).toBe(E('EINVAL'));
    expect(g.allocUnbound(0)).toBe(1);
  });

  it('ports are valid a bucket of 64 at a time: a free port inside is closed, beyond is -EINVAL', () => {
    const g = guest(machine());
    expect(g.status(63)).toMatchObject({ rc: 0, status: EVTCHNSTAT.closed });
    expect(g.status(64).rc).toBe(E('EINVAL'));
    expect(g.unmask(64)).toBe(E('EINVAL'));
    for (let i = 1; i <= 63; i++) expect(g.bindIpi()).toBe(i);
    expect(g.bindIpi()).toBe(64);
    expect(g.status(127)).toMatchObject({ rc: 0, status: EVTCHNSTAT.closed });
    expect(g.status(128).rc).toBe(E('EINVAL'));
  });
});

describe('EVTCHNOP_alloc_unbound', () => {
  it('allocates the lowest free port, unbound for the remote domain (DOMID_SELF = the caller)', () => {
    const hv = machine();
    const g = guest(hv);
    expect(g.allocUnbound(7)).toBe(1);
    expect(g.allocUnbound(DOMID.SELF)).toBe(2);
    expect(g.status(1)).toMatchObject({ rc: 0, status: EVTCHNSTAT.unbound, dom: 7, vcpu: 0 });
    expect(g.status(2)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: g.domid });
    expect(g.close(1)).toBe(0);
    expect(g.allocUnbound(9)).toBe(1);
  });

  it('only the privileged domain may allocate in another domain; a missing domain is -ESRCH', () => {
    const hv = machine();
    const dom0 = guest(hv, { privileged: true });
    const a = guest(hv);
    const b = guest(hv);
    expect(a.allocUnbound(DOMID.SELF, b.domid)).toBe(E('EPERM'));
    expect(b.status(1).status).toBe(EVTCHNSTAT.closed);
    expect(a.allocUnbound(0, 999)).toBe(E('ESRCH'));
    // dom0 allocates in b a port that b's peer dom0 (DOMID_SELF = the caller) may bind.
    expect(dom0.allocUnbound(DOMID.SELF, b.domid)).toBe(1);
    expect(b.status(1)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: 0 });
    expect(dom0.status(1).status).toBe(EVTCHNSTAT.closed);
  });

  it('answers -ENOSPC past max_evtchn_port (default 1023, settable per domain)', () => {
    const hv = machine();
    const g = guest(hv);
    for (let p = 1; p <= 1023; p++) expect(g.allocUnbound(0)).toBe(p);
    expect(g.allocUnbound(0)).toBe(E('ENOSPC'));
    expect(g.bindIpi()).toBe(E('ENOSPC'));
    expect(g.close(500)).toBe(0);
    expect(g.allocUnbound(0)).toBe(500);

    const small = guest(hv);
    evtchnSetMaxPort(small.domain, 2);
    expect(small.allocUnbound(0)).toBe(1);
    expect(small.bindVirq(VIRQ.TIMER)).toBe(2);
    expect(small.bindIpi()).toBe(E('ENOSPC'));
    expect(small.bindVirq(VIRQ.DEBUG)).toBe(E('ENOSPC'));
  });

  it('a bad pointer is -EFAULT and allocates nothing; a read-only one allocates, then faults (as Xen)', () => {
    const g = guest(machine());
    expect(g.op(EVTCHNOP.alloc_unbound, undefined, { va: UNMAPPED }).rc).toBe(E('EFAULT'));
    expect(g.op(EVTCHNOP.alloc_unbound, undefined, { va: g.layout.mappedEnd - 4 }).rc).toBe(E('EFAULT'));
    expect(g.status(1).status).toBe(EVTCHNSTAT.closed);
    // The bootstrap page tables are mapped read-only: readable, not writable.
    const ro = readOnlyArg(g, args(8, [[0, 2, DOMID.SELF], [2, 2, 5]]));
    expect(g.op(EVTCHNOP.alloc_unbound, undefined, { va: ro }).rc).toBe(E('EFAULT'));
    expect(g.status(1).status).toBe(EVTCHNSTAT.unbound);
  });
});

describe('EVTCHNOP_bind_interdomain', () => {
  it('connects both ends and sets the new local port pending (a notification may have been lost)', () => {
    const hv = machine();
    const a = guest(hv);
    const b = guest(hv);
    const pa = a.allocUnbound(b.domid);
    const pb = b.bindInterdomain(a.domid, pa);
    expect(pb).toBe(1);
    expect(a.status(pa)).toMatchObject({ status: EVTCHNSTAT.interdomain, dom: b.domid, port: pb });
    expect(b.status(pb)).toMatchObject({ status: EVTCHNSTAT.interdomain, dom: a.domid, port: pa });
    expect(isPortPending(b.domain, pb)).toBe(true);
    expect(isPortPending(a.domain, pa)).toBe(false);
    expect(b.shared.pendingSel(0)).toBe(1);
    expect(b.shared.upcallPending(0)).toBe(1);
  });

  it('refuses a remote port that is not unbound for this domain (-EINVAL) and a missing domain (-ESRCH)', () => {
    const hv = machine();
    const a = guest(hv);
    const b = guest(hv);
    const c = guest(hv);
    const forC = a.allocUnbound(c.domid);
    expect(b.bindInterdomain(a.domid, forC)).toBe(E('EINVAL'));
    expect(b.bindInterdomain(a.domid, 5)).toBe(E('EINVAL')); // free
    expect(b.bindInterdomain(a.domid, 0)).toBe(E('EINVAL')); // reserved
    expect(b.bindInterdomain(a.domid, 4096)).toBe(E('EINVAL')); // not a valid port
    expect(b.bindInterdomain(a.domid, 0xffffffff)).toBe(E('EINVAL'));
    expect(b.bindInterdomain(77, 1)).toBe(E('ESRCH'));
    expect(b.status(1).status).toBe(EVTCHNSTAT.closed); // nothing left allocated
    const pc = c.bindInterdomain(a.domid, forC);
    expect(pc).toBe(1);
    // Already connected: no longer unbound.
    expect(b.bindInterdomain(a.domid, forC)).toBe(E('EINVAL'));
  });

  it('binds a loopback channel within one domain (DOMID_SELF)', () => {
    const g = guest(machine());
    const p1 = g.allocUnbound(DOMID.SELF);
    const p2 = g.bindInterdomain(DOMID.SELF, p1);
    expect(p2).toBe(2);
    g.drain();
    expect(g.send(p1)).toBe(0);
    expect(isPortPending(g.domain, p2)).toBe(true);
    expect(isPortPending(g.domain, p1)).toBe(false);
    expect(g.close(p2)).toBe(0);
    expect(g.status(p1)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: g.domid });
  });

  it('-ENOSPC comes before the remote port is looked at', () => {
    const hv = machine();
    const a = guest(hv);
    const b = guest(hv);
    evtchnSetMaxPort(b.domain, 1);
    expect(b.bindIpi()).toBe(1);
    expect(b.bindInterdomain(a.domid, 3)).toBe(E('ENOSPC'));
  });
});

describe('EVTCHNOP_bind_virq / bind_ipi / bind_vcpu', () => {
  it('binds a VIRQ once per vCPU; global VIRQs only on vCPU 0', () => {
    const g = guest(machine(), { vcpus: 2 });
    expect(g.bindVirq(VIRQ.TIMER, 0)).toBe(1);
    expect(g.bindVirq(VIRQ.TIMER, 0)).toBe(E('EEXIST'));
    expect(g.bindVirq(VIRQ.TIMER, 1)).toBe(2);
    expect(g.bindVirq(VIRQ.DOM_EXC, 1)).toBe(E('EINVAL'));
    expect(g.bindVirq(VIRQ.DOM_EXC, 0)).toBe(3);
    expect(g.bindVirq(VIRQ.DEBUG, 2)).toBe(E('ENOENT'));
    expect(g.bindVirq(VIRQ.DEBUG, 0xffffffff)).toBe(E('ENOENT'));
    expect(g.bindVirq(24, 0)).toBe(E('EINVAL'));
    expect(g.bindVirq(0xffffffff, 0)).toBe(E('EINVAL'));
    expect(g.bindVirq(VIRQ.ARCH_7, 0)).toBe(4); // any VIRQ below NR_VIRQS, used or not
    expect(g.status(2)).toMatchObject({ status: EVTCHNSTAT.virq, vcpu: 1, virq: VIRQ.TIMER });
    expect(g.close(1)).toBe(0);
    expect(g.bindVirq(VIRQ.TIMER, 0)).toBe(1);
  });

  it('binds an IPI to an existing vCPU; sending on it notifies that vCPU', () => {
    const g = guest(machine(), { vcpus: 3 });
    expect(g.bindIpi(3)).toBe(E('ENOENT'));
    const p = g.bindIpi(2);
    expect(g.status(p)).toMatchObject({ status: EVTCHNSTAT.ipi, vcpu: 2 });
    expect(g.send(p)).toBe(0);
    expect(g.shared.pendingSel(2)).toBe(1);
    expect(g.shared.upcallPending(2)).toBe(1);
    expect(g.shared.upcallPending(0)).toBe(0);
  });

  it('rebinds unbound, interdomain and global-VIRQ ports, never per-vCPU VIRQs or IPIs', () => {
    const hv = machine();
    const g = guest(hv, { vcpus: 2 });
    const other = guest(hv);
    const unbound = g.allocUnbound(other.domid);
    const timer = g.bindVirq(VIRQ.TIMER);
    const domExc = g.bindVirq(VIRQ.DOM_EXC);
    const ipi = g.bindIpi(0);
    const inter = g.bindInterdomain(other.domid, other.allocUnbound(g.domid));
    expect(g.bindVcpu(unbound, 1)).toBe(0);
    expect(g.bindVcpu(inter, 1)).toBe(0);
    expect(g.bindVcpu(domExc, 1)).toBe(0);
    expect(g.bindVcpu(timer, 1)).toBe(E('EINVAL'));
    expect(g.bindVcpu(ipi, 1)).toBe(E('EINVAL'));
    expect(g.bindVcpu(40, 1)).toBe(E('EINVAL')); // free
    expect(g.bindVcpu(0, 1)).toBe(E('EINVAL')); // reserved
    expect(g.bindVcpu(5000, 1)).toBe(E('EINVAL'));
    expect(g.bindVcpu(unbound, 2)).toBe(E('ENOENT'));
    expect(g.status(domExc)).toMatchObject({ status: EVTCHNSTAT.virq, vcpu: 1, virq: VIRQ.DOM_EXC });
    // A global VIRQ goes to the vCPU it was moved to.
    g.drain(0);
    expect(sendVirq(hv, g.domain, VIRQ.DOM_EXC)).toBe(true);
    expect(g.shared.upcallPending(1)).toBe(1);
    expect(g.shared.upcallPending(0)).toBe(0);
    // Closing it frees the VIRQ for a new bind on vCPU 0.
    expect(g.close(domExc)).toBe(0);
    expect(g.bindVirq(VIRQ.DOM_EXC)).toBe(domExc);
  });
});

describe('EVTCHNOP_send', () => {
  it('delivers interdomain to the peer, IPI locally, drops on unbound, refuses anything else', () => {
    const hv = machine();
    const a = guest(hv);
    const b = guest(hv);
    const pa = a.allocUnbound(b.domid);
    const pb = b.bindInterdomain(a.domid, pa);
    b.drain();
    expect(a.send(pa)).toBe(0);
    expect(isPortPending(b.domain, pb)).toBe(true);
    expect(b.drain()).toEqual([pb]);

    const lonely = a.allocUnbound(b.domid);
    expect(a.send(lonely)).toBe(0);
    expect(isPortPending(a.domain, lonely)).toBe(false);
    expect(a.send(a.bindVirq(VIRQ.TIMER))).toBe(E('EINVAL'));
    expect(a.send(30)).toBe(E('EINVAL'));
    expect(a.send(0xffffffff)).toBe(E('EINVAL'));
    expect(a.op(EVTCHNOP.send, undefined, { va: UNMAPPED }).rc).toBe(E('EFAULT'));
    expect(a.domain.evtchn!.stats.sends).toBe(2);
  });

  it('evtchnSend is the same operation for in-hypervisor users', () => {
    const hv = machine();
    const g = guest(hv);
    const p = g.bindIpi();
    expect(evtchnSend(hv, g.domain, p)).toBe(0);
    expect(isPortPending(g.domain, p)).toBe(true);
    expect(evtchnSend(hv, g.domain, 9)).toBe(E('EINVAL'));
  });
});

describe('EVTCHNOP_close', () => {
  it('leaves the peer unbound for this domain, clears the pending bit, resets the notify vCPU', () => {
    const hv = machine();
    const a = guest(hv, { vcpus: 2 });
    const b = guest(hv);
    const pa = a.allocUnbound(b.domid);
    const pb = b.bindInterdomain(a.domid, pa);
    expect(a.bindVcpu(pa, 1)).toBe(0);
    b.send(pb);
    expect(isPortPending(a.domain, pa)).toBe(true);
    expect(a.close(pa)).toBe(0);
    expect(isPortPending(a.domain, pa)).toBe(false);
    expect(a.status(pa)).toMatchObject({ status: EVTCHNSTAT.closed, vcpu: 0 });
    expect(b.status(pb)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: a.domid });
    expect(b.send(pb)).toBe(0); // dropped
    expect(a.close(pa)).toBe(E('EINVAL'));
    // a can connect again to the same remote port.
    expect(a.bindInterdomain(b.domid, pb)).toBe(pa);
    expect(b.status(pb)).toMatchObject({ status: EVTCHNSTAT.interdomain, port: pa });
  });

  it('rejects free, reserved, invalid ports and bad pointers', () => {
    const g = guest(machine());
    expect(g.close(1)).toBe(E('EINVAL'));
    expect(g.close(0)).toBe(E('EINVAL'));
    expect(g.close(1 << 20)).toBe(E('EINVAL'));
    expect(g.op(EVTCHNOP.close, undefined, { va: UNMAPPED }).rc).toBe(E('EFAULT'));
  });
});

describe('EVTCHNOP_status', () => {
  it('reports each binding, writing only the union member it fills', () => {
    const hv = machine();
    const g = guest(hv);
    const ipi = g.bindIpi();
    const s = g.status(ipi);
    expect(s).toMatchObject({ rc: 0, status: EVTCHNSTAT.ipi, vcpu: 0 });
    expect(s.raw.getUint32(EVTCHN_STATUS.u, true)).toBe(0xaaaa_aaaa);
    expect(s.raw.getUint32(20, true)).toBe(0xbbbb_bbbb);
    const unbound = g.status(g.allocUnbound(5));
    expect(unbound.raw.getUint32(EVTCHN_STATUS.u, true)).toBe(0xaaaa_0005);
    expect(unbound.raw.getUint32(20, true)).toBe(0xbbbb_bbbb);
    expect(unbound.raw.getUint16(0, true)).toBe(DOMID.SELF); // in-fields come back unchanged
  });

  it('lets only the privileged domain look at another domain; bad ports are -EINVAL first', () => {
    const hv = machine();
    const dom0 = guest(hv, { privileged: true });
    const a = guest(hv);
    const b = guest(hv);
    const p = b.allocUnbound(a.domid);
    expect(a.status(p, b.domid).rc).toBe(E('EPERM'));
    expect(a.status(999, b.domid).rc).toBe(E('EINVAL'));
    expect(a.status(1, 4242).rc).toBe(E('ESRCH'));
    expect(dom0.status(p, b.domid)).toMatchObject({ rc: 0, status: EVTCHNSTAT.unbound, dom: a.domid });
    expect(a.status(p, a.domid)).toMatchObject({ rc: 0, status: EVTCHNSTAT.closed });
  });

  it('is -EFAULT when the result cannot be written back', () => {
    const g = guest(machine());
    const ro = readOnlyArg(g, args(24, [[0, 2, DOMID.SELF], [4, 4, 0]]));
    expect(g.op(EVTCHNOP.status, undefined, { va: ro }).rc).toBe(E('EFAULT'));
    expect(g.op(EVTCHNOP.status, undefined, { va: UNMAPPED }).rc).toBe(E('EFAULT'));
  });
});

describe('EVTCHNOP_reset', () => {
  it('closes every port of the caller; reset_cont finds no reset to continue', () => {
    const hv = machine();
    const a = guest(hv);
    const b = guest(hv);
    const pb = b.bindInterdomain(a.domid, a.allocUnbound(b.domid));
    a.bindVirq(VIRQ.TIMER);
    a.bindIpi();
    expect(a.reset()).toBe(0);
    for (let p = 1; p < 64; p++) expect(a.status(p).status).toBe(EVTCHNSTAT.closed);
    expect(b.status(pb)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: a.domid });
    expect(a.bindVirq(VIRQ.TIMER)).toBe(1);
    expect(a.reset(DOMID.SELF, true)).toBe(E('EBUSY'));
  });

  it('another domain: -EPERM unless privileged, -EINVAL unless it is paused', () => {
    const hv = machine();
    const dom0 = guest(hv, { privileged: true });
    const a = guest(hv);
    const b = guest(hv);
    b.bindIpi();
    expect(a.reset(b.domid)).toBe(E('EPERM'));
    expect(dom0.reset(b.domid)).toBe(E('EINVAL'));
    hv.pause(b.domain);
    expect(dom0.reset(b.domid)).toBe(0);
    expect(b.status(1).status).toBe(EVTCHNSTAT.closed);
    expect(dom0.reset(999)).toBe(E('ESRCH'));
  });
});

describe('commands pvsim does not serve', () => {
  it('no PIRQs: -EOPNOTSUPP; under 2-level expand_array -EOPNOTSUPP, set_priority -ENOSYS on a valid port; unknown -ENOSYS', () => {
    const g = guest(machine());
    expect(g.op(EVTCHNOP.bind_pirq, args(12)).rc).toBe(E('EOPNOTSUPP'));
    // The FIFO ABI is served (tests/evtchn-fifo.test.ts): frame 0 is no frame of the guest's.
    expect(g.op(EVTCHNOP.init_control, args(24)).rc).toBe(E('EINVAL'));
    expect(g.op(EVTCHNOP.expand_array, args(8)).rc).toBe(E('EOPNOTSUPP'));
    expect(g.op(EVTCHNOP.set_priority, args(8, [[0, 4, 1]])).rc).toBe(E('ENOSYS'));
    expect(g.op(EVTCHNOP.set_priority, args(8, [[0, 4, 100]])).rc).toBe(E('EINVAL'));
    expect(g.op(99, args(4)).rc).toBe(E('ENOSYS'));
    expect(g.op(EVTCHNOP.init_control, undefined, { va: UNMAPPED }).rc).toBe(E('EFAULT'));
  });
});

describe('2-level delivery', () => {
  it('a masked port sets pending only; EVTCHNOP_unmask then delivers it', () => {
    const hv = machine();
    const g = guest(hv);
    setUpcallMask(hv, g.vcpu, false);
    const p = g.bindIpi();
    g.storeMaskBit(p, true);
    expect(g.send(p)).toBe(0);
    expect(g.shared.isPending(p)).toBe(true);
    expect(g.shared.pendingSel(0)).toBe(0);
    expect(g.shared.upcallPending(0)).toBe(0);
    expect(g.seip()).toBe(false);
    // A local unmask by the guest alone delivers nothing (Xen semantics)...
    g.storeMaskBit(p, false);
    expect(g.shared.upcallPending(0)).toBe(0);
    // ...the guest must ask: unmask of an unmasked port is a no-op,
    expect(g.unmask(p)).toBe(0);
    expect(g.shared.upcallPending(0)).toBe(0);
    // so it masks again and unmasks through the hypervisor.
    g.storeMaskBit(p, true);
    expect(g.unmask(p)).toBe(0);
    expect(g.shared.isMasked(p)).toBe(false);
    expect(g.shared.pendingSel(0)).toBe(1);
    expect(g.shared.upcallPending(0)).toBe(1);
    expect(g.seip()).toBe(true);
    expect(g.drain()).toEqual([p]);
    expect(g.seip()).toBe(false);
  });

  it('sets one pending_sel bit per word with work, on the notify vCPU', () => {
    const hv = machine();
    const g = guest(hv, { vcpus: 2 });
    const ports = Array.from({ length: 70 }, () => g.bindIpi(0));
    expect(ports[69]).toBe(70);
    g.send(3);
    g.send(40);
    g.send(70);
    expect(g.shared.pendingSel(0)).toBe(0b111);
    expect(g.shared.pendingWord(0)).toBe(1 << 3);
    expect(g.shared.pendingWord(1)).toBe(1 << 8);
    expect(g.shared.pendingWord(2)).toBe(1 << 6);
    expect(g.shared.pendingSel(1)).toBe(0);
    expect(g.drain().sort((x, y) => x - y)).toEqual([3, 40, 70]);
    expect(g.shared.pendingSel(0)).toBe(0);
  });

  it('sending twice before the guest looks is one event (pending is a bit, not a count)', () => {
    const hv = machine();
    const g = guest(hv);
    const p = g.bindIpi();
    g.send(p);
    g.send(p);
    expect(g.domain.evtchn!.stats.setPending).toBe(1);
    expect(g.vcpu.stats.events).toBe(1);
    expect(g.drain()).toEqual([p]);
  });
});

describe('the upcall line (SEIP)', () => {
  it('follows upcall_pending && !upcall_mask, including guest stores to either byte', () => {
    const hv = machine();
    const g = guest(hv);
    const p = g.bindIpi();
    expect(g.shared.upcallMask(0)).toBe(1); // as built
    g.send(p);
    expect(g.shared.upcallPending(0)).toBe(1);
    expect(g.seip()).toBe(false);
    // The guest unmasks: the watcher raises the line and asks to stop after the store.
    expect(g.storeUpcallMask(0)).toBe(true);
    expect(g.seip()).toBe(true);
    expect(localEventsNeedDelivery(g.vcpu)).toBe(true);
    expect(g.storeUpcallMask(1)).toBe(false);
    expect(g.seip()).toBe(false);
    expect(g.storeUpcallMask(0)).toBe(true);
    expect(g.storeUpcallPending(0)).toBe(false);
    expect(g.seip()).toBe(false);
    expect(localEventsNeedDelivery(g.vcpu)).toBe(false);
  });

  it('updateUpcallLine re-derives the line from the page (schedule-in), per vCPU', () => {
    const hv = machine();
    const g = guest(hv, { vcpus: 2 });
    g.shared.setUpcallPending(1, 1);
    g.shared.setUpcallMask(1, 0);
    expect(g.seip(1)).toBe(false);
    expect(updateUpcallLine(hv, g.domain.vcpus[1]!)).toBe(true);
    expect(g.seip(1)).toBe(true);
    expect(updateUpcallLine(hv, g.domain.vcpus[1]!)).toBe(false);
    expect(g.seip(0)).toBe(false);
  });

  it('a store elsewhere in the page (time, bitmaps, another vCPU) leaves the line alone', () => {
    const hv = machine();
    const g = guest(hv, { vcpus: 2 });
    setUpcallMask(hv, g.vcpu, false);
    g.send(g.bindIpi());
    expect(g.seip()).toBe(true);
    g.shared.setUpcallPending(0, 0); // not reported as a store: the line keeps its state
    for (const off of [2, 4, 32, 63, 64 + 4, 2048, 3000]) expect(hv.mem.onStore!(g.domain.sharedInfoMfn * 4096 + off, 4)).toBe(false);
    expect(g.seip()).toBe(true);
  });
});

describe('wake-ups', () => {
  it('an event wakes a blocked vCPU even with upcalls masked (Xen vcpu_kick)', () => {
    const hv = machine();
    const g = guest(hv);
    const p = g.bindIpi();
    hv.blockVcpu(g.vcpu);
    expect(g.vcpu.blocked).toBe(true);
    expect(g.send(p)).toBe(0);
    expect(g.vcpu.blocked).toBe(false);
    expect(g.seip()).toBe(false);
  });

  it('no lost wake-up: an event sent while masked wakes the vCPU when EVTCHNOP_unmask delivers it', () => {
    const hv = machine();
    const g = guest(hv);
    setUpcallMask(hv, g.vcpu, false);
    const p = g.bindIpi();
    g.storeMaskBit(p, true);
    g.send(p);
    hv.blockVcpu(g.vcpu);
    expect(g.vcpu.blocked).toBe(true);
    expect(g.unmask(p)).toBe(0);
    expect(g.vcpu.blocked).toBe(false);
    expect(g.seip()).toBe(true);
  });

  it('upcall_pending already set: no second kick; SCHEDOP_block must re-check localEventsNeedDelivery', () => {
    const hv = machine();
    const g = guest(hv);
    const p1 = g.bindIpi();
    const p2 = g.bindIpi();
    g.send(p1); // upcall_pending now 1, and the guest has not looked yet
    hv.blockVcpu(g.vcpu);
    g.send(p2);
    expect(g.vcpu.blocked).toBe(true);
    // What do_block does after setting blocked: unmask and re-check.
    setUpcallMask(hv, g.vcpu, false);
    expect(localEventsNeedDelivery(g.vcpu)).toBe(true);
  });

  it('wakes a vCPU polling the port even when the port is masked (SCHEDOP_poll)', () => {
    const hv = machine();
    const g = guest(hv, { vcpus: 2 });
    const p = g.bindIpi();
    const other = g.bindIpi();
    g.storeMaskBit(p, true);
    g.storeMaskBit(other, true);
    const v1 = g.domain.vcpus[1]!;
    v1.online = true;
    v1.poll = { ports: [p], timeout: null };
    hv.blockVcpu(v1);
    g.send(other);
    expect(v1.blocked).toBe(true);
    g.send(p);
    expect(v1.blocked).toBe(false);
    expect(isPortPending(g.domain, p)).toBe(true);
    expect(isPortValid(g.domain, p)).toBe(true);
    expect(isPortValid(g.domain, 64)).toBe(false);
    expect(isPortPending(g.domain, 5000)).toBe(false);
  });

  it('a poller on several ports wakes on any event of its domain, as Xen (poll_evtchn = -1)', () => {
    const hv = machine();
    const g = guest(hv);
    const p = g.bindIpi();
    g.storeMaskBit(p, true);
    g.vcpu.poll = { ports: [40, 41], timeout: null };
    hv.blockVcpu(g.vcpu);
    g.send(p);
    expect(g.vcpu.blocked).toBe(false);
  });
});

describe('VIRQs from the hypervisor', () => {
  it('sendVirq: per-vCPU VIRQ_TIMER to the vCPU that bound it; nothing when unbound', () => {
    const hv = machine();
    const g = guest(hv, { vcpus: 2 });
    expect(sendVirq(hv, g.domain, VIRQ.TIMER, 1)).toBe(false);
    const t1 = g.bindVirq(VIRQ.TIMER, 1);
    expect(sendVirq(hv, g.domain, VIRQ.TIMER, 0)).toBe(false);
    expect(sendVirq(hv, g.domain, VIRQ.TIMER, 1)).toBe(true);
    expect(g.shared.isPending(t1)).toBe(true);
    expect(g.shared.upcallPending(1)).toBe(1);
    expect(sendVirq(hv, g.domain, 99)).toBe(false);
  });

  it('sendGlobalVirq goes to dom0, e.g. VIRQ_DOM_EXC when a domain shuts down', () => {
    const hv = machine();
    const dom0 = guest(hv, { privileged: true });
    const g = guest(hv);
    expect(sendGlobalVirq(hv, VIRQ.DOM_EXC)).toBe(false);
    const p = dom0.bindVirq(VIRQ.DOM_EXC);
    expect(sendGlobalVirq(hv, VIRQ.DOM_EXC)).toBe(true);
    expect(dom0.drain()).toEqual([p]);
    expect(sendGlobalVirq(hv, VIRQ.TIMER)).toBe(false);
    hv.shutdownDomain(g.domain, 'poweroff');
    expect(dom0.drain()).toEqual([p]);
  });
});

describe('domain destruction', () => {
  it('closes every port: interdomain peers become unbound for the dead domain id', () => {
    const hv = machine();
    const a = guest(hv);
    const b = guest(hv);
    const pb1 = b.bindInterdomain(a.domid, a.allocUnbound(b.domid));
    const pb2 = b.allocUnbound(a.domid);
    const pa2 = a.bindInterdomain(b.domid, pb2);
    expect(pa2).toBe(2);
    const aid = a.domid;
    const mfn = a.domain.sharedInfoMfn;
    hv.destroyDomain(a.domain);
    expect(b.status(pb1)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: aid });
    expect(b.status(pb2)).toMatchObject({ status: EVTCHNSTAT.unbound, dom: aid });
    expect(b.send(pb1)).toBe(0);
    expect(b.bindInterdomain(aid, 1)).toBe(E('ESRCH'));
    expect(hv.mem.watched[mfn]).toBe(0);
    expect(a.domain.evtchn!.dying).toBe(true);
  });

  it('a destroyed domain keeps no view of its old shared_info frame, which may be reused', () => {
    const hv = machine();
    const a = guest(hv);
    const ipi = a.bindIpi();
    const timer = a.bindVirq(VIRQ.TIMER);
    setUpcallMask(hv, a.vcpu, false);
    hv.destroyDomain(a.domain);
    const c = guest(hv);
    const before = c.shared.bytes.slice(0, 4096);
    // Stale references (a late timer, a confused caller) change nothing anywhere.
    expect(sendVirq(hv, a.domain, VIRQ.TIMER)).toBe(false);
    expect(evtchnSend(hv, a.domain, ipi)).toBe(E('EINVAL'));
    expect(a.domain.evtchn!.state[timer]).toBe(0);
    expect(c.shared.bytes.slice(0, 4096)).toEqual(before);
    expect(a.domain.evtchn!.shared.bytes).not.toBe(c.shared.bytes);
  });
});

describe('interdomain ping-pong', () => {
  it('two domains bounce an event back and forth, each seeing exactly the other\'s sends', () => {
    const hv = machine();
    const a = guest(hv, { name: 'ping' });
    const b = guest(hv, { name: 'pong' });
    for (const g of [a, b]) setUpcallMask(hv, g.vcpu, false);
    const pa = a.allocUnbound(b.domid);
    const pb = b.bindInterdomain(a.domid, pa);
    expect(b.drain()).toEqual([pb]); // the bind's own notification
    for (let round = 0; round < 100; round++) {
      expect(a.send(pa)).toBe(0);
      expect(b.seip()).toBe(true);
      expect(a.seip()).toBe(false);
      expect(b.drain()).toEqual([pb]);
      expect(b.seip()).toBe(false);
      expect(b.send(pb)).toBe(0);
      expect(a.seip()).toBe(true);
      expect(a.drain()).toEqual([pa]);
    }
    expect(a.domain.evtchn!.stats.sends).toBe(100);
    expect(b.domain.evtchn!.stats.sends).toBe(100);
    expect(a.vcpu.stats.events).toBe(100);
    expect(b.vcpu.stats.events).toBe(101);
    expect(evtchnDump(a.domain)).toEqual([`${pa} [0/0/0]: s=interdomain n=0 d=${b.domid} p=${pb}`]);
  });

  it('argument structs live in guest memory and come back with the result filled in', () => {
    const hv = machine();
    const a = guest(hv);
    const r = a.op(EVTCHNOP.alloc_unbound, args(8, [[0, 2, DOMID.SELF], [2, 2, 3], [4, 4, 0xffff_ffff]]));
    expect(r.rc).toBe(0);
    expect([r.out.getUint16(0, true), r.out.getUint16(2, true), r.out.getUint32(4, true)]).toEqual([DOMID.SELF, 3, 1]);
    // A failing command leaves the guest's struct untouched.
    const f = a.op(EVTCHNOP.bind_virq, args(12, [[0, 4, 77], [4, 4, 0], [8, 4, 0x1234]]));
    expect(f.rc).toBe(E('EINVAL'));
    expect(f.out.getUint32(8, true)).toBe(0x1234);
    expect(ARG).toBeGreaterThan(0);
  });
});

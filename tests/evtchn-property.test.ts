// Property tests for the 2-level bitmaps, the upcall line and wake-ups, over random
// sequences of hypervisor sends and well-behaved guest actions on a 2-vCPU domain.
//
// The guest is "well behaved" the way Linux's 2-level code is: it masks and unmasks with
// stores; an unmask either calls EVTCHNOP_unmask or emulates it locally (clear the mask bit;
// if the port is pending, set its word's pending_sel bit and upcall_pending, the latter a
// store the hypervisor sees); its upcall handler clears upcall_pending, takes pending_sel,
// and clears every pending unmasked port in the words it took; it blocks as SCHEDOP_block
// does (clear upcall_mask, block, then re-check). A blocked vCPU does nothing itself.
//
// Invariants checked after every step, for every vCPU v and port p:
//   LINE     SEIP(v) == upcall_pending[v] && !upcall_mask[v]
//   SEL      pending_sel[v] != 0  =>  upcall_pending[v]
//   NO-LOSS  pending[p] && !mask[p]  =>  some vCPU u has bit p/32 in pending_sel[u]
//            (and so, by SEL, upcall_pending[u]): a deliverable event is never stranded
//   WAKE     v blocked  =>  !upcall_pending[v]: an event that reached a blocked vCPU woke it
// and, at the end, no event is lost: after every vCPU wakes and drains, and every port is
// unmasked, each port sent since its last drain has been seen exactly once per drain.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVTCHNOP } from '../protocol/xen/event_channel.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { evtchnSend, localEventsNeedDelivery, setUpcallMask } from '../hypervisor/evtchn/index.ts';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import { guest, machine, type TestGuest } from './helpers/evtchn_guest.ts';

const PAIRS = 36; // loopback channels: ports 1..72, three pending words
const NPORTS = PAIRS * 2;

type Op =
  | { k: 'send'; port: number }
  | { k: 'mask'; port: number }
  | { k: 'unmaskHypercall'; port: number }
  | { k: 'unmaskLocal'; port: number }
  | { k: 'bindVcpu'; port: number; vcpu: number }
  | { k: 'drain'; vcpu: number }
  | { k: 'upcallMask'; vcpu: number; masked: boolean }
  | { k: 'block'; vcpu: number };

const port = fc.integer({ min: 1, max: NPORTS });
const vcpu = fc.integer({ min: 0, max: 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: port.map((p) => ({ k: 'send' as const, port: p })) },
  { weight: 2, arbitrary: port.map((p) => ({ k: 'mask' as const, port: p })) },
  { weight: 1, arbitrary: port.map((p) => ({ k: 'unmaskHypercall' as const, port: p })) },
  { weight: 1, arbitrary: port.map((p) => ({ k: 'unmaskLocal' as const, port: p })) },
  { weight: 1, arbitrary: fc.tuple(port, vcpu).map(([p, v]) => ({ k: 'bindVcpu' as const, port: p, vcpu: v })) },
  { weight: 2, arbitrary: vcpu.map((v) => ({ k: 'drain' as const, vcpu: v })) },
  { weight: 1, arbitrary: fc.tuple(vcpu, fc.boolean()).map(([v, m]) => ({ k: 'upcallMask' as const, vcpu: v, masked: m })) },
  { weight: 1, arbitrary: vcpu.map((v) => ({ k: 'block' as const, vcpu: v })) },
);

/** A fresh 2-vCPU guest on `hv` (destroy it after the run). */
function setup(hv: Hypervisor): TestGuest {
  const g = guest(hv, { vcpus: 2, memoryBytes: 512 * 1024 });
  for (let i = 0; i < PAIRS; i++) {
    const a = g.allocUnbound(DOMID.SELF);
    expect(g.bindInterdomain(DOMID.SELF, a)).toBe(a + 1);
  }
  // Start quiet: the binds set their local ports pending.
  g.shared.setUpcallPending(0, 0);
  g.shared.setPendingSel(0, 0);
  for (let w = 0; w < 3; w++) g.shared.setPendingWord(w, 0);
  return g;
}

/** The peer of a loopback port: pairs are (odd, odd + 1). */
const peer = (p: number) => (p % 2 === 1 ? p + 1 : p - 1);

class Model {
  /** Ports the guest has taken in drains, in order. */
  readonly seen: number[] = [];
  constructor(readonly g: TestGuest) {}

  /** A vCPU that can act for the guest (not blocked), preferring `v`. */
  runner(v = 0): number | null {
    const vs = this.g.domain.vcpus;
    if (!vs[v]!.blocked) return v;
    const other = 1 - v;
    return vs[other]!.blocked ? null : other;
  }

  apply(o: Op): void {
    const g = this.g;
    const si = g.shared;
    const hv = g.hv;
    switch (o.k) {
      case 'send':
        // The hypervisor or the peer end sends: deliver to `port` by sending on its peer.
        expect(evtchnSend(hv, g.domain, peer(o.port))).toBe(0);
        return;
      case 'mask':
        if (this.runner() !== null) g.storeMaskBit(o.port, true);
        return;
      case 'unmaskHypercall': {
        const r = this.runner();
        if (r !== null) expect(g.op(EVTCHNOP.unmask, new Uint8Array(new Uint32Array([o.port]).buffer), { vcpuId: r }).rc).toBe(0);
        return;
      }
      case 'unmaskLocal': {
        const r = this.runner();
        if (r === null) return;
        g.storeMaskBit(o.port, false);
        if (si.isPending(o.port)) {
          const sel = si.pendingSel(r);
          const bit = (1 << (o.port >>> 5)) >>> 0;
          if ((sel & bit) === 0) {
            si.setPendingSel(r, sel | bit);
            g.storeUpcallPending(1, r);
          }
        }
        return;
      }
      case 'bindVcpu': {
        const r = this.runner();
        if (r !== null) expect(g.op(EVTCHNOP.bind_vcpu, new Uint8Array(new Uint32Array([o.port, o.vcpu]).buffer), { vcpuId: r }).rc).toBe(0);
        return;
      }
      case 'drain':
        if (!g.domain.vcpus[o.vcpu]!.blocked) this.seen.push(...g.drain(o.vcpu));
        return;
      case 'upcallMask':
        if (!g.domain.vcpus[o.vcpu]!.blocked) {
          if (o.masked) g.storeUpcallMask(1, o.vcpu);
          else g.storeUpcallMask(0, o.vcpu);
        }
        return;
      case 'block': {
        const v = g.domain.vcpus[o.vcpu]!;
        if (v.blocked) return;
        // Xen's do_block: enable delivery, block, re-check for events after blocking.
        setUpcallMask(hv, v, false);
        hv.blockVcpu(v);
        if (localEventsNeedDelivery(v)) hv.wakeVcpu(v);
        return;
      }
    }
  }

  check(): void {
    const g = this.g;
    const si = g.shared;
    for (const v of g.domain.vcpus) {
      const id = v.vcpuId;
      const pending = si.upcallPending(id) !== 0;
      const masked = si.upcallMask(id) !== 0;
      expect(g.seip(id), `LINE v${id}`).toBe(pending && !masked);
      if (si.pendingSel(id) !== 0) expect(pending, `SEL v${id}`).toBe(true);
      if (v.blocked) expect(pending, `WAKE v${id}`).toBe(false);
    }
    for (let p = 1; p <= NPORTS; p++) {
      if (!si.isPending(p) || si.isMasked(p)) continue;
      const bit = (1 << (p >>> 5)) >>> 0;
      const flagged = g.domain.vcpus.some((v) => (si.pendingSel(v.vcpuId) & bit) !== 0);
      expect(flagged, `NO-LOSS port ${p}`).toBe(true);
    }
  }
}

describe('2-level event ABI properties', () => {
  it('LINE, SEL, NO-LOSS and WAKE hold after every step of any well-behaved sequence', () => {
    const hv = machine();
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 80 }), (ops) => {
        const m = new Model(setup(hv));
        m.check();
        for (const o of ops) {
          m.apply(o);
          m.check();
        }
        hv.destroyDomain(m.g.domain);
      }),
      { numRuns: 300 },
    );
  });

  it('every port sent is eventually seen: wake, unmask everything, drain', () => {
    const hv = machine();
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const m = new Model(setup(hv));
        const sent = new Set<number>();
        for (const o of ops) {
          m.apply(o);
          if (o.k === 'send') sent.add(o.port);
        }
        const g = m.g;
        for (const v of g.domain.vcpus) g.hv.wakeVcpu(v);
        for (let p = 1; p <= NPORTS; p++) if (g.shared.isMasked(p)) m.apply({ k: 'unmaskHypercall', port: p });
        m.check();
        m.apply({ k: 'drain', vcpu: 0 });
        m.apply({ k: 'drain', vcpu: 1 });
        m.check();
        for (let w = 0; w < 3; w++) expect(g.shared.pendingWord(w)).toBe(0);
        // Each sent port was seen at least once (a send before the last drain of its word may merge with a later one).
        for (const p of sent) expect(m.seen, `port ${p}`).toContain(p);
        for (const p of m.seen) expect(sent.has(p), `spurious port ${p}`).toBe(true);
        hv.destroyDomain(g.domain);
      }),
      { numRuns: 300 },
    );
  });
});

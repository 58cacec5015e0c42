// Adversarial review 5: code reachable from a hostile guest that was merged with the FIFO
// event channels, superpages and G-stage megapages, PVHVM and cpupools. Each attack is a
// test; the ones that broke something name the fix (docs/security.md).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVTCHN_FIFO, EVTCHNOP } from '../../protocol/xen/event_channel.ts';
import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import { dispatchHypercall } from '../../hypervisor/hypercall/index.ts';
import * as C from '../../hypervisor/cpu/csr.ts';
import { Hart, PRIV_S } from '../../hypervisor/cpu/hart.ts';
import { ACCESS_READ } from '../../hypervisor/cpu/mmu.ts';
import { A, D, freshMemory, PageTables, R, RAM_BASE, U, V, W, X } from '../cpu/helpers.ts';
import { PTE_A, PTE_D, PTE_R, PTE_V, PTE_W, pte } from '../../protocol/sv32.ts';
import { RAM_GFN, S, ShadowRig, gpaOf, satpOf } from '../helpers/shadow_rig.ts';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { copyToGuest } from '../../hypervisor/mm/guest_access.ts';
import * as DC from '../../protocol/xen/domctl.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';
import { pvImage, SPIN, PV_BASE } from '../helpers/pv_image.ts';
import { ControlError, setRtdsParams } from '../../hypervisor/domain/control.ts';
import { readFileSync } from 'node:fs';
import { MmGuest } from '../mm_helpers.ts';
import { XENMEM } from '../../protocol/xen/memory.ts';
import { args, guest, machine, type TestGuest } from '../helpers/evtchn_guest.ts';

const initControl = (g: TestGuest, mfn: number, offset: number, vcpu: number) =>
  g.op(EVTCHNOP.init_control, args(24, [[0, 4, mfn], [4, 4, 0], [8, 4, offset], [12, 4, vcpu]])).rc;
const expand = (g: TestGuest, mfn: number) => g.op(EVTCHNOP.expand_array, args(8, [[0, 4, mfn]])).rc;
const setPriority = (g: TestGuest, port: number, prio: number) => g.op(EVTCHNOP.set_priority, args(8, [[0, 4, port], [4, 4, prio]])).rc;

/** Every byte of every frame `domid` does not own (the frames the attacker must not touch). */
function othersMemory(g: TestGuest): Map<number, string> {
  const out = new Map<number, string>();
  const mem = g.hv.mem;
  for (let mfn = 0; mfn < mem.frames.length; mfn++) {
    const f = mem.frames[mfn];
    if (!f || g.hv.frames.ownerOf(mfn) === g.domid) continue;
    out.set(mfn, Buffer.from(f).toString('base64'));
  }
  return out;
}

type Op =
  | { k: 'init'; page: number; offset: number; vcpu: number }
  | { k: 'expand'; page: number }
  | { k: 'prio'; port: number; prio: number }
  | { k: 'ipi'; vcpu: number }
  | { k: 'send'; port: number }
  | { k: 'close'; port: number }
  | { k: 'unmask'; port: number }
  | { k: 'bindVcpu'; port: number; vcpu: number }
  | { k: 'reset' }
  | { k: 'poke'; page: number; word: number; value: number };

const port = fc.oneof(fc.integer({ min: 0, max: 70 }), fc.constantFrom(1023, 1024, 4095, 2 ** 17 - 1, 2 ** 17, 2 ** 31, 2 ** 32 - 1));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('init' as const), page: fc.integer({ min: 0, max: 9 }), offset: fc.constantFrom(0, 8, 64, 4096 - 64, 4096 - 72, 4096, 2 ** 32 - 8), vcpu: fc.constantFrom(0, 1, 2, 2 ** 32 - 1) }),
  fc.record({ k: fc.constant('expand' as const), page: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ k: fc.constant('prio' as const), port, prio: fc.constantFrom(0, 1, 7, 15, 16, 2 ** 32 - 1) }),
  fc.record({ k: fc.constant('ipi' as const), vcpu: fc.constantFrom(0, 1) }),
  fc.record({ k: fc.constant('send' as const), port }),
  fc.record({ k: fc.constant('close' as const), port }),
  fc.record({ k: fc.constant('unmask' as const), port }),
  fc.record({ k: fc.constant('bindVcpu' as const), port, vcpu: fc.constantFrom(0, 1, 5) }),
  fc.record({ k: fc.constant('reset' as const) }),
  // The guest writes anything into its event words and control blocks: LINK cycles,
  // LINKED/BUSY/MASKED bits, HEAD and READY values pointing anywhere.
  fc.record({ k: fc.constant('poke' as const), page: fc.integer({ min: 2, max: 5 }), word: fc.integer({ min: 0, max: 1023 }), value: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 70 }).map((p) => (2 ** 31 + 2 ** 29 + p) >>> 0), fc.integer({ min: 0, max: 70 })) }),
);

describe('FIFO event channels against a hostile guest', () => {
  it('any sequence of init_control / expand_array / set_priority / send / close / reset and guest stores to its event words: no throw, no loop, no store outside its own frames, every reference back at destroy', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        const hv = machine();
        const victim = guest(hv, { name: 'victim' });
        const g = guest(hv, { name: 'attacker', vcpus: 2 });
        victim.bindIpi();
        // Frames to name: its own bss pages 2..5, its page table, the victim's page, its
        // shared_info, a frame past the machine, frame 0.
        const own = (k: number) => g.domain.p2m[k]!;
        const pt = g.domain.p2m[(g.layout.ptVa - g.layout.virtBase) / 4096]!;
        const names = [0, pt, own(2), own(3), own(4), own(5), victim.domain.p2m[2]!, g.domain.sharedInfoMfn, 0x7fff_ffff, 2 ** 32 - 1];
        const watched = [own(2), own(3), own(4), own(5)];

        const before = othersMemory(g);
        for (const o of ops) {
          let rc = 0;
          switch (o.k) {
            case 'init': rc = initControl(g, names[o.page]!, o.offset, o.vcpu); break;
            case 'expand': rc = expand(g, names[o.page]!); break;
            case 'prio': rc = setPriority(g, o.port, o.prio); break;
            case 'ipi': rc = g.bindIpi(o.vcpu); break;
            case 'send': rc = g.send(o.port); break;
            case 'close': rc = g.close(o.port); break;
            case 'unmask': rc = g.unmask(o.port); break;
            case 'bindVcpu': rc = g.bindVcpu(o.port, o.vcpu); break;
            case 'reset': rc = g.reset(); break;
            case 'poke': {
              const f = hv.mem.ensureFrame(own(o.page));
              new DataView(f.buffer, f.byteOffset).setUint32(o.word * 4, o.value, true);
              hv.mem.noteStore(own(o.page) * 4096 + o.word * 4, 4);
              break;
            }
          }
          expect(Number.isInteger(rc)).toBe(true);
          expect(g.domain.state).not.toBe('crashed');
        }
        // Nothing outside the attacker's own frames changed.
        const after = othersMemory(g);
        for (const [mfn, b] of before) if (after.has(mfn)) expect(after.get(mfn), `frame 0x${mfn.toString(16)}`).toBe(b);
        expect(hv.frames.ownerOf(victim.domain.p2m[2]!)).toBe(victim.domid);
        hv.destroyDomain(g.domain);
        // The FIFO's references went with the domain: the frames are free again.
        watched.forEach((m, i) => expect(hv.frames.refCount(m), `frame ${i}`).toBe(0));
      }),
      { numRuns: 150 },
    );
  });
});

describe('the modelled TLB and the software TLB against SFENCE.VMA of one address', () => {
  // A guest remaps a megapage and fences one address in it, as Linux does for a huge page
  // (one sfence.vma per huge page). Every piece of the old megapage the TLB holds must go:
  // a piece left behind is a stale translation (a guest process reading pages its kernel
  // gave to another). Broke when the megapage was cached as 4 KiB pieces: with
  // tlbMegaEntries = 0, and by default for a VS megapage over G-stage 4 KiB pages.
  for (const entries of [0, 16]) {
    it(`1-D (tlbMegaEntries ${entries})`, () => {
      const mem = freshMemory(16 << 20);
      const hart = new Hart(mem, { tlbMegaEntries: entries });
      const pt = new PageTables(mem, RAM_BASE + 0x100000);
      pt.mapMega(0x40000000, RAM_BASE + 0x400000, V | R | W | A | D);
      hart.writeCsr(C.CSR_SATP, pt.satp);
      hart.priv = PRIV_S;
      for (let k = 0; k < 4; k++) expect(hart.mmu.xlate(0x40000000 + k * 4096, ACCESS_READ)).toBe(RAM_BASE + 0x400000 + k * 4096);
      pt.mapMega(0x40000000, RAM_BASE + 0x800000, V | R | W | A | D);
      expect(hart.sfenceVma(true, 0x40000000)).toBe(0);
      for (let k = 0; k < 4; k++) expect(hart.mmu.xlate(0x40000000 + k * 4096, ACCESS_READ)).toBe(RAM_BASE + 0x800000 + k * 4096);
    });
  }

  for (const entries of [0, 16]) {
    it(`two-stage: a VS megapage over G-stage 4 KiB pages (tlbMegaEntries ${entries})`, () => {
      const mem = freshMemory(16 << 20);
      const gRoot = RAM_BASE + 0x100000; // 16 KiB-aligned
      const gL0 = RAM_BASE + 0x104000;
      const gL0b = RAM_BASE + 0x105000;
      const vsRoot = RAM_BASE + 0x110000;
      mem.writeBytes(gRoot, new Uint8Array(0x20000));
      const leaf = V | R | W | X | U | A | D;
      const pte = (pa: number, flags: number) => ((Math.floor(pa / 4096) << 10) | flags) >>> 0;
      // G-stage: GPA 0x80000000-0x80bfffff identity; the first 4 MiB a megapage (the
      // tables), the next two in 4 KiB leaves.
      mem.write32(gRoot + 0x200 * 4, pte(RAM_BASE, leaf));
      for (let k = 0; k < 1024; k++) {
        mem.write32(gL0 + k * 4, pte(RAM_BASE + 0x400000 + k * 4096, leaf));
        mem.write32(gL0b + k * 4, pte(RAM_BASE + 0x800000 + k * 4096, leaf));
      }
      mem.write32(gRoot + 0x201 * 4, pte(gL0, V));
      mem.write32(gRoot + 0x202 * 4, pte(gL0b, V));
      // VS: VA 0x00400000 a megapage at GPA 0x80400000.
      mem.write32(vsRoot + 4, pte(RAM_BASE + 0x400000, V | R | W | A | D));
      const hart = new Hart(mem, { hExt: true, tlbMegaEntries: entries });
      hart.writeCsr(C.CSR_HGATP, (0x80000000 | (gRoot >>> 12)) >>> 0);
      hart.writeCsr(C.CSR_VSATP, (0x80000000 | (vsRoot >>> 12)) >>> 0);
      hart.priv = PRIV_S;
      hart.virt = true;
      for (let k = 0; k < 4; k++) expect(hart.mmu.xlate(0x00400000 + k * 4096, ACCESS_READ)).toBe(RAM_BASE + 0x400000 + k * 4096);
      // The guest moves its megapage to GPA 0x80800000 and fences one address in it.
      mem.write32(vsRoot + 4, pte(RAM_BASE + 0x800000, V | R | W | A | D));
      expect(hart.sfenceVma(true, 0x00400000)).toBe(0);
      for (let k = 0; k < 4; k++) expect(hart.mmu.xlate(0x00400000 + k * 4096, ACCESS_READ)).toBe(RAM_BASE + 0x800000 + k * 4096);
    });
  }
});

describe('shadow paging (trap mode, lazy): SFENCE.VMA of one address in a guest superpage', () => {
  it('drops every 4 KiB piece of it from the harts\' TLBs, not only the page named', () => {
    const r = new ShadowRig();
    const flushed: (number | null)[] = [];
    r.env.flushHostTlb = (va) => flushed.push(va);
    r.gw(gpaOf(0) + 0x100 * 4, pte(RAM_GFN, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    const sh = r.shadow('lazy');
    const satp = sh.activate(satpOf(RAM_GFN), S);
    for (let k = 1; k <= 3; k++) expect(r.access(sh, satp, 0x40000000 + k * 4096, 'r', S)).toEqual({ kind: 'ok', mpa: r.mpa(gpaOf(k)) });
    // The guest moves the superpage and fences one address in it.
    r.gw(gpaOf(0) + 0x100 * 4, pte(RAM_GFN + 0x400, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D));
    flushed.length = 0;
    sh.sfence(0x40001000);
    const covers = (va: number) => flushed.some((f) => f === null || f >>> 12 === va >>> 12);
    for (let k = 1; k <= 3; k++) expect(covers(0x40000000 + k * 4096), `page ${k}`).toBe(true);
  });
});

describe('scheduler parameters through XEN_DOMCTL_scheduler_op', () => {
  // Only the control domain reaches it (domU: EPERM, tests/hypercalls-control.test.ts);
  // from there, extreme weights and caps are refused or taken, and the machine goes on.
  for (const scheduler of ['credit', 'credit2'] as const) {
    it(`${scheduler}: weight 1 / 65535 / 0 (unchanged), cap 0xffff (unchanged), 1, past 100 x vcpus: no throw, no starvation`, () => {
      const hv = new Hypervisor({ machineMemoryBytes: 64 << 20, pcpus: 1, scheduler });
      const d0 = hv.createPvDomain(pvImage(SPIN, { bssBytes: 8 * 4096 }), { name: 'd0', memoryBytes: 4 << 20, privileged: true }).domain;
      const a = hv.createPvDomain(pvImage(SPIN), { name: 'a', memoryBytes: 4 << 20 }).domain;
      const b = hv.createPvDomain(pvImage(SPIN), { name: 'b', memoryBytes: 4 << 20 }).domain;
      const BUF = PV_BASE + 4096;
      const put = (domid: number, weight: number, cap: number) => {
        const raw = new Uint8Array(DC.XEN_DOMCTL_HDR.SIZE);
        const dv = new DataView(raw.buffer);
        dv.setUint32(0, DC.XEN_DOMCTL.scheduler_op, true);
        dv.setUint32(4, DC.XEN_DOMCTL_INTERFACE_VERSION, true);
        dv.setUint16(8, domid, true);
        dv.setUint32(16, scheduler === 'credit' ? 5 : 6, true);
        dv.setUint32(20, DC.XEN_DOMCTL_SCHEDOP.putinfo, true);
        dv.setUint16(24, weight, true);
        dv.setUint16(26, cap, true);
        expect(copyToGuest(d0.vcpus[0]!.hart, BUF, raw)).toBe(true);
        return dispatchHypercall({ hv, vcpu: d0.vcpus[0]! }, HYPERVISOR.domctl, BUF, 0, 0, 0, 0);
      };
      expect(put(a.domid, 1, 0xffff)).toBe(0);
      expect(put(b.domid, 65535, 0xffff)).toBe(0);
      expect(put(a.domid, 0, 0xffff)).toBe(0);
      expect(a.sched.weight).toBe(1);
      expect(put(a.domid, 0, 101)).toBe(-XEN_ERRNO.EINVAL);
      expect(put(a.domid, 0, 1)).toBe(0);
      expect(a.sched.cap).toBe(1);
      hv.unpause(a);
      hv.unpause(b);
      hv.pause(d0);
      hv.run({ until: 200e6 });
      // Instructions retired: weight 1 with a 1% cap still runs, and b gets most of the pCPU.
      const ran = (d: typeof a) => d.vcpus[0]!.hart.retired;
      expect(ran(a)).toBeGreaterThan(0);
      expect(ran(b)).toBeGreaterThan(3 * ran(a));
    });
  }
});

describe('RTDS parameters with extreme values (the toolstack\'s xl sched-rtds path)', () => {
  it('refuses 2^32-1, negative and sub-10 us values with a clear error; 10 us / 10 us on every vCPU of an overloaded pCPU still lets everyone run', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 << 20, pcpus: 1, scheduler: 'rtds' });
    const a = hv.createPvDomain(pvImage(SPIN), { name: 'a', memoryBytes: 4 << 20 }).domain;
    const b = hv.createPvDomain(pvImage(SPIN), { name: 'b', memoryBytes: 4 << 20 }).domain;
    for (const [p, bud] of [[2 ** 32 - 1, 0], [-1, 0], [5, 0], [0, 2 ** 32 - 1], [0, -5], [10, 20], [0, Infinity]] as const) {
      expect(() => setRtdsParams(a, [], p, bud, undefined), `${p}/${bud}`).toThrow(ControlError);
    }
    expect(() => setRtdsParams(a, [7], 100, 10, undefined)).toThrow(/vcpu 7 does not exist/);
    const policy = hv.sched.poolOf(a).policy;
    for (const d of [a, b]) for (const v of setRtdsParams(d, [], 10, 10, false)) policy.paramsChanged?.(v, hv.now());
    hv.unpause(a);
    hv.unpause(b);
    hv.run({ until: 20e6 });
    expect(hv.now()).toBeGreaterThanOrEqual(20e6);
    expect(a.vcpus[0]!.hart.retired).toBeGreaterThan(0);
    expect(b.vcpus[0]!.hart.retired).toBeGreaterThan(0);
  });
});

describe('XENMEM_decrease_reservation on an HVM domain (a control domain\'s guest kernel)', () => {
  // The operation names machine frames (PV's view); an HVM domain's RAM is its p2m, which
  // the G-stage or the shadow maps and which never changes (no HVM ballooning). Freeing a
  // frame under it gave the frame to the next allocation while the HVM guest still reached
  // it: another domain's memory.
  for (const mode of ['hw', 'trap'] as const) {
    it(`does nothing to its frames (${mode})`, () => {
      const hv = new Hypervisor({ machineMemoryBytes: 128 << 20 });
      const d0 = MmGuest.create(hv, { privileged: true });
      const h = hv.createHvmDomain(readFileSync('tests/hvm-programs/build/echo.elf'), { name: 'h', memoryBytes: 8 << 20, cmdline: '', vcpus: 1, hvm: { mode, shadowSync: 'wp' } });
      const mfn = h.p2m[5]!;
      const refs = hv.frames.refCount(mfn);
      const r = d0.memop(XENMEM.decrease_reservation, [mfn, h.p2m[6]!], { domid: h.domid });
      expect(r.rc).toBe(0);
      expect(hv.frames.ownerOf(mfn)).toBe(h.domid);
      expect(hv.frames.refCount(mfn)).toBe(refs);
      // The next domain's frames are not the HVM guest's.
      const other = MmGuest.create(hv, { name: 'other', memoryBytes: 64 << 20 });
      expect(other.domain.p2m.includes(mfn)).toBe(false);
      hv.destroyDomain(h);
      expect(hv.frames.refCount(mfn)).toBe(0);
    });
  }
});

void EVTCHN_FIFO;

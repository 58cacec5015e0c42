// The PV MMU from a real RV32 guest: machine code that reads a page, remaps it with
// mmu_update (ecall), reads it again, unmaps it with update_va_mapping and then touches it.
// The CPU's TLB must follow every change: the second read sees the new frame, the last
// store takes a page fault at the guest's own trap vector.

import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { copyFromGuest, copyToGuest } from '../hypervisor/mm/guest_access.ts';
import { CSR_SCAUSE, CSR_STVAL, CSR_STVEC } from '../hypervisor/cpu/csr.ts';
import { HYPERVISOR, SCHEDOP, SHUTDOWN } from '../protocol/xen/hypercall.ts';
import { MMU_UPDATE, UVMF } from '../protocol/xen/mm.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { addi, csrr, csrw, ecall, li, lw, nop, sw } from './cpu/asm.ts';
import { pvImage, PV_BASE } from './helpers/pv_image.ts';
import { u32Bytes } from './helpers/elf_writer.ts';
import { MiB, RW, pte } from './mm_helpers.ts';

const T0 = 5, T1 = 6, T2 = 7, A0 = 10, A1 = 11, A2 = 12, A3 = 13, A7 = 17;
const HANDLER = PV_BASE + 0x400;
const DATA = PV_BASE + 0x1000;
const REQ = PV_BASE + 0x2000;
const DONE = PV_BASE + 0x2100;
const SHUT = PV_BASE + 0x2200;
const PAGE = PV_BASE + 0x8000;

const poweroff = () => [li(T1, SHUT), li(T2, SHUTDOWN.poweroff), sw(T2, 0, T1), li(A0, SCHEDOP.shutdown), [addi(A1, T1, 0)], li(A7, HYPERVISOR.sched_op), ecall()].flat();

describe('PV MMU from a running guest', () => {
  it('remaps and unmaps a page under the CPU\'s TLB', () => {
    const main = [
      li(T0, HANDLER),
      csrw(CSR_STVEC, T0),
      li(T0, PAGE),
      li(T2, DATA),
      lw(T1, 0, T0), // the old frame (fills the TLB)
      sw(T1, 0, T2),
      ...[li(A0, REQ), li(A1, 1), li(A2, DONE), li(A3, DOMID.SELF), li(A7, HYPERVISOR.mmu_update), [ecall()]].flat(),
      sw(A0, 4, T2),
      lw(T1, 0, T0), // must be the new frame
      sw(T1, 8, T2),
      ...[li(A0, PAGE), li(A1, 0), li(A2, 0), li(A3, UVMF.INVLPG), li(A7, HYPERVISOR.update_va_mapping), [ecall()]].flat(),
      sw(A0, 12, T2),
      li(T1, 0x55),
      sw(T1, 0, T0), // unmapped: store page fault
      ...poweroff(), // not reached
    ].flat();
    const handler = [li(T2, DATA), csrr(T1, CSR_SCAUSE), sw(T1, 16, T2), csrr(T1, CSR_STVAL), sw(T1, 20, T2), ...poweroff()].flat();
    const words = new Array<number>((HANDLER - PV_BASE) / 4).fill(nop());
    main.forEach((w, i) => (words[i] = w));
    const image = pvImage(u32Bytes(...words, ...handler), { bssBytes: 16 * 4096 });

    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    const { domain, layout } = hv.createPvDomain(image, { name: 'mmu', memoryBytes: 8 * MiB });
    const hart = domain.vcpus[0]!.hart;
    const fresh = domain.p2m[1024]!; // beyond the bootstrap mapping
    hv.frames.frameWords(fresh)[0] = 0x2222_2222;
    expect(copyToGuest(hart, PAGE, u32Bytes(0x1111_1111))).toBe(true);
    const l1 = domain.p2m[(layout.ptVa - layout.virtBase) / 4096 + 1]!;
    const ptePa = l1 * 4096 + ((PAGE >>> 12) & 0x3ff) * 4;
    const req = new Uint8Array(MMU_UPDATE.SIZE);
    new DataView(req.buffer).setUint32(MMU_UPDATE.ptr, ptePa, true);
    new DataView(req.buffer).setUint32(MMU_UPDATE.val, pte(fresh, RW), true);
    expect(copyToGuest(hart, REQ, req)).toBe(true);

    hv.unpause(domain);
    hv.run(100_000);
    expect(domain.shutdownReason).toBe('poweroff');
    const data = new Uint32Array(copyFromGuest(hart, DATA, 24)!.buffer);
    expect([...data]).toEqual([0x1111_1111, 0, 0x2222_2222, 0, 15, PAGE]);
    expect(new Uint32Array(copyFromGuest(hart, DONE, 4)!.buffer)[0]).toBe(1);
    expect(hv.frames.refCount(fresh)).toBe(1);
  });
});

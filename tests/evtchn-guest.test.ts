// Event upcalls as a real RV32 guest kernel sees them: machine code that binds and sends
// with ecall, masks and unmasks upcalls with plain stores to its vcpu_info, and takes the
// upcall as a supervisor external interrupt (scause 0x80000009) at its own stvec.

import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { copyFromGuest } from '../hypervisor/mm/guest_access.ts';
import { PTE_A, PTE_D, PTE_R, PTE_V, PTE_W, pte } from '../protocol/sv32.ts';
import { CSR_SCAUSE, CSR_SEPC, CSR_SIE, CSR_SSTATUS, CSR_STVEC } from '../hypervisor/cpu/csr.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { PvLayout } from '../xenguest/pv_bootstrap.ts';
import { EVTCHNOP } from '../protocol/xen/event_channel.ts';
import { HYPERVISOR, SCHEDOP, SHUTDOWN } from '../protocol/xen/hypercall.ts';
import { addi, csrr, csrrs, csrrsi, csrw, ecall, jal, lbu, li, lw, nop, sb, sret, sw } from './cpu/asm.ts';
import { pvImage, PV_BASE } from './helpers/pv_image.ts';
import { u32Bytes } from './helpers/elf_writer.ts';

const T0 = 5, T1 = 6, T2 = 7, S0 = 8, A0 = 10, A1 = 11, A7 = 17, T3 = 28, T4 = 29;
const HANDLER = PV_BASE + 0x400;
const DATA = PV_BASE + 0x1000; // results the test reads back
const ARGS = PV_BASE + 0x1100; // hypercall argument structs
const SHUT = PV_BASE + 0x1800; // struct sched_shutdown

/**
 * Maps the domain's shared_info frame at `va` by rewriting the bootstrap L1 entry for that
 * address (read-write), as a guest would with update_va_mapping once the PV MMU exists.
 * `va` must lie in the bootstrap mapping (one L1 table per 4 MiB from virt_base).
 */
export function mapSharedInfo(hv: Hypervisor, domain: Domain, layout: PvLayout, va: number): void {
  const index = (va - layout.virtBase) / 4096;
  const l1Va = layout.ptVa + 4096 * (1 + Math.floor(index / 1024));
  const frame = hv.mem.frames[domain.p2m[(l1Va - layout.virtBase) / 4096]!]!;
  const l1 = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  l1.setUint32((index % 1024) * 4, pte(domain.sharedInfoMfn, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D), true);
  hv.mem.generation++; // drop cached translations
}

/** EVTCHNOP `cmd` with its struct at `argVa`; the result stays in a0. */
const evtchnOp = (cmd: number, argVa: number) => [li(A0, cmd), li(A1, argVa), li(A7, HYPERVISOR.event_channel_op), ecall()].flat();

const poweroff = () =>
  [li(T1, SHUT), li(T2, SHUTDOWN.poweroff), sw(T2, 0, T1), li(A0, SCHEDOP.shutdown), [addi(A1, T1, 0)], li(A7, HYPERVISOR.sched_op), ecall()].flat();

/** Enables the upcall interrupt in the CPU: stvec, sie.SEIE, sstatus.SIE. */
const enableInterrupts = () => [li(T0, HANDLER), csrw(CSR_STVEC, T0), li(T0, 1 << 9), csrrs(0, CSR_SIE, T0), csrrsi(0, CSR_SSTATUS, 2)].flat();

/** bind_ipi(vCPU 0) at ARGS, then copy the port into a send struct at ARGS+16. */
const bindIpiAndPrepareSend = () => [...evtchnOp(EVTCHNOP.bind_ipi, ARGS), li(T1, ARGS), lw(T2, 4, T1), sw(T2, 16, T1)].flat();

function boot(main: number[], handler: number[]) {
  expect(main.length * 4).toBeLessThanOrEqual(HANDLER - PV_BASE);
  const words = new Array<number>((HANDLER - PV_BASE) / 4).fill(nop());
  main.forEach((w, i) => (words[i] = w));
  const image = pvImage(u32Bytes(...words, ...handler), { bssBytes: 2 * 4096 });
  const hv = new Hypervisor({ machineMemoryBytes: 64 * 1024 * 1024 });
  const { domain, layout } = hv.createPvDomain(image, { name: 'upcall', memoryBytes: 4 * 1024 * 1024 });
  const siVa = layout.mappedEnd - 4096; // an unused page at the end of the bootstrap mapping
  mapSharedInfo(hv, domain, layout, siVa);
  domain.vcpus[0]!.hart.x[S0] = siVa; // the guest finds its shared_info through s0
  hv.unpause(domain);
  const result = hv.run(2_000_000);
  const data = new Uint32Array(copyFromGuest(domain.vcpus[0]!.hart, DATA, 32)!.buffer);
  return { hv, domain, result, data };
}

describe('event upcalls in a real guest', () => {
  it('a masked event waits; a store clearing evtchn_upcall_mask takes the interrupt before the next instruction', () => {
    const main = [
      ...enableInterrupts(),
      ...bindIpiAndPrepareSend(),
      li(T0, DATA),
      sw(A0, 24, T0), // bind rc
      ...evtchnOp(EVTCHNOP.send, ARGS + 16),
      li(T0, DATA),
      sw(A0, 28, T0), // send rc
      li(T1, 1),
      sw(T1, 0, T0), // reached: the masked event did not interrupt
      sb(0, 1, S0), // evtchn_upcall_mask = 0
    ].flat();
    const after = PV_BASE + main.length * 4;
    main.push(...li(T1, 2), sw(T1, 0, T0), jal(0, 0));
    const handler = [
      li(T3, DATA),
      csrr(T4, CSR_SCAUSE),
      sw(T4, 4, T3),
      csrr(T4, CSR_SEPC),
      sw(T4, 8, T3),
      addi(T4, S0, 1024),
      lw(T4, 1024, T4), // evtchn_pending[0]
      sw(T4, 12, T3),
      lbu(T4, 0, S0), // evtchn_upcall_pending
      sw(T4, 16, T3),
      lw(T4, 4, S0), // evtchn_pending_sel
      sw(T4, 20, T3),
      ...poweroff(),
    ].flat();
    const { domain, data } = boot(main, handler);
    expect(domain.shutdownReason).toBe('poweroff');
    expect([data[6], data[7]]).toEqual([0, 0]); // bind_ipi and send succeeded
    expect(data[0]).toBe(1);
    expect(data[1]).toBe(0x8000_0009);
    expect(data[2]).toBe(after);
    expect(data[3]).toBe(1 << 1); // port 1
    expect(data[4]).toBe(1);
    expect(data[5]).toBe(1);
    expect(domain.vcpus[0]!.stats.events).toBe(1);
  });

  it('unmasked: each send interrupts right after its ecall; clearing upcall_pending in the handler lowers the line', () => {
    const main = [
      ...enableInterrupts(),
      sb(0, 1, S0), // evtchn_upcall_mask = 0 (nothing pending yet: no interrupt)
      ...bindIpiAndPrepareSend(),
      ...evtchnOp(EVTCHNOP.send, ARGS + 16),
      ...evtchnOp(EVTCHNOP.send, ARGS + 16),
    ].flat();
    const afterSecond = PV_BASE + main.length * 4;
    main.push(...li(T0, DATA), ...li(T1, 1), sw(T1, 0, T0), ...poweroff());
    const handler = [
      li(T3, DATA),
      lw(T4, 4, T3),
      addi(T4, T4, 1),
      sw(T4, 4, T3), // interrupts taken
      csrr(T4, CSR_SEPC),
      sw(T4, 8, T3),
      // Acknowledge as a Xen guest does: upcall_pending, then the selector, then the bits.
      sb(0, 0, S0),
      sw(0, 4, S0),
      addi(T4, S0, 1024),
      sw(0, 1024, T4),
      sret(),
    ].flat();
    const { domain, data } = boot(main, handler);
    expect(domain.shutdownReason).toBe('poweroff');
    expect(data[0]).toBe(1);
    expect(data[1]).toBe(2);
    expect(data[2]).toBe(afterSecond);
    expect(domain.vcpus[0]!.hart.mip & (1 << 9)).toBe(0);
  });

  it('with upcalls left masked the guest runs to the end and never takes the interrupt', () => {
    const main = [
      ...enableInterrupts(),
      ...bindIpiAndPrepareSend(),
      ...evtchnOp(EVTCHNOP.send, ARGS + 16),
      li(T0, DATA),
      li(T1, 1),
      sw(T1, 0, T0),
      ...poweroff(),
    ].flat();
    const handler = [li(T3, DATA), li(T4, 0xbad), sw(T4, 4, T3), jal(0, 0)].flat();
    const { domain, data } = boot(main, handler);
    expect(domain.shutdownReason).toBe('poweroff');
    expect([data[0], data[1]]).toEqual([1, 0]);
    expect(domain.evtchn!.shared.upcallPending(0)).toBe(1);
  });
});

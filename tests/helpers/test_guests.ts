// Tiny PV kernels for scheduler and scenario tests, assembled in TypeScript so the tests
// need no cross compiler: a CPU hog and a timer-driven "I/O" domain.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CSR_TIME, CSR_TIMEH } from '../../hypervisor/cpu/csr.ts';
import { HYPERVISOR, SCHEDOP } from '../../protocol/xen/hypercall.ts';
import { add, addi, bne, csrr, ecall, jal, li, sltu, sw } from '../cpu/asm.ts';
import { pvImage, PV_BASE } from './pv_image.ts';
import { u32Bytes } from './elf_writer.ts';

const T0 = 5, T1 = 6, T2 = 7, S0 = 8, S1 = 9, A0 = 10, A1 = 11, A7 = 17, T3 = 28, T4 = 29;

/** Spins forever: the purest CPU-bound domain. */
export function spinKernel(): Uint8Array {
  return pvImage(u32Bytes(jal(0, 0)), { bssBytes: 4096 });
}

/**
 * Forever: SCHEDOP_poll with no ports and a time-out `periodNs` from now (sleep), then
 * `work` instructions of busy loop, counting iterations in s1 (and at DATA).
 */
export function ioKernel(periodNs: number, work = 100): Uint8Array {
  const DATA = PV_BASE + 0x1000;
  const code = [
    li(S0, DATA),
    // loop:
    csrr(T0, CSR_TIME),
    csrr(T1, CSR_TIMEH),
    li(T2, periodNs),
    add(T3, T0, T2),
    sltu(T4, T3, T0),
    add(T1, T1, T4),
    sw(0, 0, S0), // ports (unused, nr_ports = 0)
    sw(0, 4, S0),
    sw(T3, 8, S0),
    sw(T1, 12, S0),
    li(A7, HYPERVISOR.sched_op),
    li(A0, SCHEDOP.poll),
    addi(A1, S0, 0),
    ecall(),
    addi(S1, S1, 1),
    sw(S1, 16, S0),
    li(T0, work),
    addi(T0, T0, -1),
    bne(T0, 0, -4),
  ].flat();
  const loopStart = li(S0, DATA).length; // words before the loop label
  const back = (loopStart - code.length) * 4;
  return pvImage(u32Bytes(...code, jal(0, back)), { bssBytes: 4096 });
}

export const IO_COUNTER_VA = PV_BASE + 0x1000 + 16;

/** Writes the test kernels to a temporary directory; returns their paths. */
export function writeTestGuests(): { dir: string; spin: string; io1ms: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-guests-'));
  const spin = join(dir, 'spin.elf');
  const io1ms = join(dir, 'io-1ms.elf');
  writeFileSync(spin, spinKernel());
  writeFileSync(io1ms, ioKernel(1_000_000));
  return { dir, spin, io1ms };
}

/** Makes `n` xen_version(XENVER_version) hypercalls, then shuts down with poweroff. */
export function hypercallLoopKernel(n: number): Uint8Array {
  const DATA = PV_BASE + 0x1000;
  const loop = [li(A7, HYPERVISOR.xen_version), li(A0, 0), ecall(), addi(S1, S1, -1)].flat();
  const code = [
    li(S1, n),
    ...loop,
    bne(S1, 0, -4 * loop.length),
    li(T0, DATA),
    sw(0, 0, T0),
    li(A7, HYPERVISOR.sched_op),
    li(A0, SCHEDOP.shutdown),
    addi(A1, T0, 0),
    ecall(),
    jal(0, 0),
  ].flat();
  return pvImage(u32Bytes(...code), { bssBytes: 4096 });
}

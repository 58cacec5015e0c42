// Machine-code guests for flood tests: one that sends on an event channel in a loop, one
// that runs a fixed workload; both power off when done.

import { HYPERVISOR, SCHEDOP, SHUTDOWN } from '../../protocol/xen/hypercall.ts';
import { EVTCHNOP } from '../../protocol/xen/event_channel.ts';
import { addi, bne, ecall, li, sw } from '../cpu/asm.ts';
import { pvImage, PV_BASE } from './pv_image.ts';
import { u32Bytes } from './elf_writer.ts';

const T0 = 5, T1 = 6, T2 = 7, A0 = 10, A1 = 11, A7 = 17;
const ARGS = PV_BASE + 0x2000;

/** Machine code that shuts its domain down with `reason`. */
export function shutdownCode(reason: number = SHUTDOWN.poweroff): number[] {
  return [li(T1, ARGS + 0x200), li(T2, reason), [sw(T2, 0, T1)], li(A0, SCHEDOP.shutdown), [addi(A1, T1, 0)], li(A7, HYPERVISOR.sched_op), [ecall()]].flat();
}

/** Counts down from `n` (about 2n instructions) and powers off. */
export function countdownImage(n: number): Uint8Array {
  const code = [...li(T0, n), addi(T0, T0, -1), bne(T0, 0, -4), ...shutdownCode()];
  return pvImage(u32Bytes(...code), { bssBytes: 16 * 4096 });
}

/** EVTCHNOP_send on `port`, `n` times in a tight loop, then powers off. */
export function floodImage(port: number, n: number): Uint8Array {
  const loop = [...li(A0, EVTCHNOP.send), addi(A1, T1, 0), ...li(A7, HYPERVISOR.event_channel_op), ecall(), addi(T0, T0, -1)];
  const code = [...li(T1, ARGS), ...li(T2, port), sw(T2, 0, T1), ...li(T0, n), ...loop, bne(T0, 0, -4 * loop.length), ...shutdownCode()];
  return pvImage(u32Bytes(...code), { bssBytes: 16 * 4096 });
}

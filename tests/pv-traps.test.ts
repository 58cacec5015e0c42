// How the hypervisor treats what a PV guest kernel traps for: privileged operations are
// reflected to the guest's own trap vector, wfi gives up the pCPU, and a guest that faults
// with no usable trap vector is crashed instead of spinning. No guest can stop the others.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { CSR_SATP, CSR_SCAUSE, CSR_STVAL, CSR_STVEC } from '../hypervisor/cpu/csr.ts';
import { copyFromGuest } from '../hypervisor/mm/guest_access.ts';
import { HYPERVISOR, SCHEDOP, SHUTDOWN } from '../protocol/xen/hypercall.ts';
import { csrr, csrw, ecall, jalr, li, lw, nop, sfence_vma, sw, wfi, jal } from './cpu/asm.ts';
import { pvImage, PV_BASE } from './helpers/pv_image.ts';
import { u32Bytes } from './helpers/elf_writer.ts';

const T0 = 5, T1 = 6, T2 = 7, A0 = 10, A1 = 11, A7 = 17;
const HANDLER = PV_BASE + 0x400;
const DATA = PV_BASE + 0x1000;

function shutdown(reason: number): number[] {
  return [li(T0, DATA), li(T1, reason), sw(T1, 0, T0), li(A7, HYPERVISOR.sched_op), li(A0, SCHEDOP.shutdown), [0x00028593 /* mv a1,t0 */], ecall()].flat();
}

/** main at PV_BASE, handler at HANDLER; the handler stores scause and stval at DATA+4/+8, then powers off. */
function kernel(main: number[], handler: number[] = recordAndPoweroff()): Uint8Array {
  const words = new Array<number>(0x400 / 4).fill(nop());
  main.forEach((w, i) => (words[i] = w));
  const code = [...words, ...handler];
  return pvImage(u32Bytes(...code), { bssBytes: 2 * 4096 });
}

function recordAndPoweroff(): number[] {
  return [li(T0, DATA), csrr(T2, CSR_SCAUSE), sw(T2, 4, T0), csrr(T2, CSR_STVAL), sw(T2, 8, T0), ...shutdown(SHUTDOWN.poweroff)].flat();
}

function boot(image: Uint8Array) {
  const hv = new Hypervisor({ machineMemoryBytes: 64 * 1024 * 1024 });
  const { domain } = hv.createPvDomain(image, { name: 't', memoryBytes: 4 * 1024 * 1024 });
  hv.unpause(domain);
  const result = hv.run(1_000_000);
  const recorded = () => new Uint32Array(copyFromGuest(domain.vcpus[0]!.hart, DATA, 12)!.buffer);
  return { hv, domain, result, recorded, vcpu: domain.vcpus[0]! };
}

const withVector = [li(T0, HANDLER), csrw(CSR_STVEC, T0)].flat();

describe('PV trap handling', () => {
  it('the ecall/a7 hypercall path reaches the handlers (sanity)', () => {
    const { domain, vcpu } = boot(kernel(shutdown(SHUTDOWN.reboot)));
    expect(domain.shutdownReason).toBe('reboot');
    expect(vcpu.stats.hypercalls).toBe(1);
  });

  it('reflects a trapped satp write to the guest as an illegal instruction', () => {
    const insn = csrw(CSR_SATP, 0);
    const { domain, recorded, vcpu } = boot(kernel([...withVector, insn, ...shutdown(SHUTDOWN.crash)]));
    expect(domain.shutdownReason).toBe('poweroff');
    expect([...recorded()].slice(1)).toEqual([2, insn]);
    expect(vcpu.stats.traps.get(2)).toBe(1);
  });

  it('reflects a trapped sfence.vma the same way', () => {
    const { domain, recorded } = boot(kernel([...withVector, sfence_vma(), ...shutdown(SHUTDOWN.crash)]));
    expect(domain.shutdownReason).toBe('poweroff');
    expect(recorded()[1]).toBe(2);
  });

  it('completes a trapped wfi and lets the guest continue', () => {
    const { domain, vcpu } = boot(kernel([...withVector, wfi(), ...shutdown(SHUTDOWN.reboot)]));
    expect(domain.shutdownReason).toBe('reboot');
    expect(vcpu.stats.traps.get(2)).toBe(1);
  });

  it('delivers a store to its own (read-only) page tables as a store page fault', () => {
    // The layout depends only on the image size, which every kernel() shares.
    const probe = new Hypervisor({ machineMemoryBytes: 64 * 1024 * 1024 }).createPvDomain(kernel([]), { name: 'p', memoryBytes: 4 * 1024 * 1024 });
    const ptVa = probe.layout.ptVa;
    const { domain, recorded } = boot(kernel([...withVector, li(T0, ptVa), sw(0, 0, T0), ...shutdown(SHUTDOWN.crash)].flat()));
    expect(domain.shutdownReason).toBe('poweroff');
    expect([...recorded()].slice(1)).toEqual([15, ptVa]);
  });

  it('crashes a domain that faults with no trap vector, without disturbing the hypervisor', () => {
    const { domain, hv, result } = boot(kernel([li(T0, 0x1000), jalr(0, T0, 0)].flat()));
    expect(domain.state).toBe('crashed');
    expect(domain.shutdownReason).toBe('crash');
    expect(domain.crashMessage).toMatch(/no trap vector/);
    expect(result.kind).toBe('idle');
    expect(hv.dmesg().some((l) => l.includes('crashed'))).toBe(true);
  });

  it('crashes a domain whose trap vector itself faults', () => {
    const { domain } = boot(kernel([li(T0, 0x2000), csrw(CSR_STVEC, T0), lw(T1, 0, 0)].flat()));
    expect(domain.state).toBe('crashed');
    expect(domain.crashMessage).toMatch(/its own trap vector/);
  });

  it('keeps running other domains while one spins forever', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * 1024 * 1024 });
    const spin = hv.createPvDomain(kernel([jal(0, 0)]), { name: 'spin', memoryBytes: 4 * 1024 * 1024 }).domain;
    const hello = hv.createPvDomain(readFileSync('guests/build/hello.elf'), { name: 'hello', memoryBytes: 8 * 1024 * 1024 }).domain;
    let out = '';
    hv.onConsole = (d, b) => {
      if (d === hello) out += new TextDecoder().decode(b);
    };
    hv.unpause(spin);
    hv.unpause(hello);
    // One pCPU, credit's 30 ms timeslice: the spinner cannot keep hello off it for long.
    expect(hv.run({ until: 100_000_000 }).kind).toBe('time');
    expect(hello.shutdownReason).toBe('poweroff');
    expect(out).toContain('Hello from pvsim!');
    expect(spin.state).toBe('running');
  });
});

// pvsim's own RV32 ABI (what Xen leaves to the architecture, docs/abi.md) is defined twice by
// necessity: protocol/xen/arch_riscv32.ts for the hypervisor and dom0, guests/include/pvsim/*.h
// for the guests. This test compiles the guests' headers with the RV32 cross compiler and
// compares every value and offset with the TypeScript module (the Xen-defined parts are pinned
// to /usr/include/xen by the xen-abi*.test.ts files and `make -C guests abi-check`).

import { describe, expect, it } from 'vitest';
import { evalGuestExpressions, guestOracleAvailable } from './helpers/guest_oracle.ts';
import { HYPERVISOR_L2_SLOT, HYPERVISOR_VIRT_START, VCPU_GUEST_CONTEXT, XEN_ARCH_ABI } from '../protocol/xen/arch_riscv32.ts';
import { XENCONS } from '../protocol/xen/console.ts';
import { START_INFO_MAGIC } from '../protocol/xen/start_info.ts';
import { VGCF_online } from '../protocol/xen/vcpu.ts';
import { PAGE_SHIFT, PAGE_SIZE } from '../protocol/xen/xen.ts';
import { XEN_CAPABILITIES } from '../hypervisor/hypercall/xen_version.ts';

const available = guestOracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc for the guest ABI oracle');

/** The guests' view of a layout: offsetof for each key (SIZE = sizeof; `macro` maps other keys to a C expression). */
function guestLayout(header: string, struct: string, t: Record<string, number>, macro: (k: string) => string | undefined = () => undefined) {
  const keys = Object.keys(t);
  const exprs = keys.map((k) => macro(k) ?? (k === 'SIZE' ? `sizeof(${struct})` : `offsetof(${struct}, ${k})`));
  const { words } = evalGuestExpressions([header], exprs);
  return Object.fromEntries(keys.map((k, i) => [k, words[i]]));
}

describe.skipIf(!available)("pvsim's RV32 ABI: protocol/xen/arch_riscv32.ts against guests/include/pvsim", () => {
  it('HYPERVISOR_VIRT_START and its L2 slot (pvsim/mmu.h)', () => {
    const { words } = evalGuestExpressions(['pvsim/mmu.h'], ['HYPERVISOR_VIRT_START', 'HYPERVISOR_L2_SLOT']);
    expect(words).toEqual([HYPERVISOR_VIRT_START, HYPERVISOR_L2_SLOT]);
  });

  it('struct vcpu_guest_context and VGCF_online (pvsim/vcpu.h)', () => {
    expect(guestLayout('pvsim/vcpu.h', 'struct vcpu_guest_context', VCPU_GUEST_CONTEXT)).toEqual(VCPU_GUEST_CONTEXT);
    expect(evalGuestExpressions(['pvsim/vcpu.h'], ['VGCF_online', 'sizeof(((struct vcpu_guest_context *)0)->x)']).words).toEqual([VGCF_online, 32 * 4]);
  });

  it('the console ring, struct xencons_interface (pvsim/xencons.h)', () => {
    const sizes: Record<string, string> = { IN_SIZE: 'XENCONS_IN_SIZE', OUT_SIZE: 'XENCONS_OUT_SIZE' };
    expect(guestLayout('pvsim/xencons.h', 'struct xencons_interface', XENCONS, (k) => sizes[k])).toEqual(XENCONS);
  });

  it('the ABI name (start_info magic, capabilities) and the page size (pvsim/start_info.h, riscv.h)', () => {
    const r = evalGuestExpressions(['pvsim/start_info.h', 'pvsim/riscv.h'], ['PAGE_SHIFT', 'PAGE_SIZE'], ['START_INFO_MAGIC']);
    expect(r.words).toEqual([PAGE_SHIFT, PAGE_SIZE]);
    expect(r.strings).toEqual([XEN_ARCH_ABI]);
    expect(START_INFO_MAGIC).toBe(XEN_ARCH_ABI);
    expect(XEN_CAPABILITIES).toBe(XEN_ARCH_ABI);
  });

  it('notices a difference (the comparison is not vacuous)', () => {
    const wrong = { ...VCPU_GUEST_CONTEXT, satp_mfn: VCPU_GUEST_CONTEXT.satp_mfn + 4 };
    expect(guestLayout('pvsim/vcpu.h', 'struct vcpu_guest_context', wrong)).not.toEqual(wrong);
    expect(evalGuestExpressions(['pvsim/mmu.h'], ['HYPERVISOR_VIRT_START']).words).not.toEqual([HYPERVISOR_VIRT_START - 0x40_0000]);
  });
});

// Pins the PV MMU and memory_op constants and layouts to Xen's own headers (libxen-dev),
// compiled for RV32 ilp32.

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import { MMU, MMUEXT, MMUEXT_OP, MMU_UPDATE, UVMF } from '../protocol/xen/mm.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { MEMOP_EXTENT_SHIFT, XENMEM, XENMEMF, XEN_MEMORY_RESERVATION } from '../protocol/xen/memory.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

function table(prefix: string, t: Record<string, number>, headers: string[]) {
  const names = Object.keys(t);
  const got = evalXenExpressions(headers, names.map((n) => prefix + n));
  return [Object.fromEntries(names.map((n, i) => [n, got[i]])), t];
}

function layout(struct: string, t: Record<string, number>, headers: string[]) {
  const names = Object.keys(t);
  const got = evalXenExpressions(headers, names.map((n) => (n === 'SIZE' ? `sizeof(${struct})` : `offsetof(${struct}, ${n})`)));
  return [Object.fromEntries(names.map((n, i) => [n, got[i]])), t];
}

describe.skipIf(!available)('PV MMU and memory_op ABI (xen.h, memory.h)', () => {
  const H = ['xen/xen.h', 'xen/memory.h'];

  it('MMU_*, MMUEXT_*, UVMF_* and DOMID_* values', () => {
    for (const [prefix, t] of [['MMU_', MMU], ['MMUEXT_', MMUEXT], ['UVMF_', UVMF], ['DOMID_', DOMID]] as const) {
      const [got, want] = table(prefix, t, H);
      expect(got, prefix).toEqual(want);
    }
  });

  it('struct mmu_update and struct mmuext_op', () => {
    const [a, b] = layout('struct mmu_update', MMU_UPDATE, H);
    expect(a).toEqual(b);
    const names = evalXenExpressions(H, ['offsetof(struct mmuext_op, cmd)', 'offsetof(struct mmuext_op, arg1.mfn)', 'offsetof(struct mmuext_op, arg1.linear_addr)', 'offsetof(struct mmuext_op, arg2.nr_ents)', 'offsetof(struct mmuext_op, arg2.vcpumask)', 'offsetof(struct mmuext_op, arg2.src_mfn)', 'sizeof(struct mmuext_op)']);
    expect(names).toEqual([MMUEXT_OP.cmd, MMUEXT_OP.arg1, MMUEXT_OP.arg1, MMUEXT_OP.arg2, MMUEXT_OP.arg2, MMUEXT_OP.arg2, MMUEXT_OP.SIZE]);
  });

  it('XENMEM_* numbers, XENMEMF_* flags and struct xen_memory_reservation', () => {
    const [got, want] = table('XENMEM_', XENMEM, H);
    expect(got).toEqual(want);
    expect(evalXenExpressions(H, ['XENMEMF_address_bits(0xff)', 'XENMEMF_populate_on_demand', 'XENMEMF_exact_node_request', 'XENMEMF_vnode'])).toEqual([
      XENMEMF.address_bits_mask,
      XENMEMF.populate_on_demand,
      XENMEMF.exact_node_request,
      XENMEMF.vnode,
    ]);
    // Not in the public headers (xen/include/xen/hypercall.h), but part of the ABI: the
    // extent to resume from travels in cmd above bit 6.
    expect(MEMOP_EXTENT_SHIFT).toBe(6);
    const [a, b] = layout('struct xen_memory_reservation', XEN_MEMORY_RESERVATION, H);
    expect(a).toEqual(b);
  });
});

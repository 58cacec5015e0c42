// HYPERVISOR_update_va_mapping(va, val_lo, val_hi, flags) and
// HYPERVISOR_update_va_mapping_otherdomain(va, val_lo, val_hi, flags, domid): rewrite the
// L1 entry that maps `va` in the caller's current address space, then flush as `flags`
// says (UVMF_NONE / UVMF_TLB_FLUSH / UVMF_INVLPG, with UVMF_LOCAL, UVMF_ALL or a pointer to
// a vCPU bitmap). The 64-bit PTE travels in two registers, low word first; its high word
// must be zero on Sv32.

import { readGuestU32 } from '../mm/guest_access.ts';
import { getPgOwner, updateVaMapping } from '../mm/mmu_update.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import type { HypercallHandler } from './types.ts';

export const updateVaMappingHandler: HypercallHandler = (ctx, va, valLo, valHi, flags) => {
  const { hv, vcpu } = ctx;
  const mm = mmContext(hv);
  const rc = updateVaMapping(mm, vcpu, va, valLo, valHi, flags, vcpu.domain, (p) => readGuestU32(vcpu.hart, p));
  finishMm(mm);
  return rc;
};

export const updateVaMappingOtherdomain: HypercallHandler = (ctx, va, valLo, valHi, flags, domid) => {
  const { hv, vcpu } = ctx;
  const mm = mmContext(hv);
  const pgOwner = getPgOwner(mm, vcpu.domain, domid & 0xffff);
  if (!pgOwner) return xenErr('ESRCH');
  const rc = updateVaMapping(mm, vcpu, va, valLo, valHi, flags, pgOwner, (p) => readGuestU32(vcpu.hart, p));
  finishMm(mm);
  return rc;
};

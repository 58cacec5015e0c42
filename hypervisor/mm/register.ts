// Serves the PV memory hypercalls (the PV MMU, memory reservations, grant tables) and
// exports the per-domain teardown the hypervisor core calls. Imported once by
// hypervisor.ts; importing it is what puts the handlers in the hypercall table.

import { registerHypercall } from '../hypercall/index.ts';
import { mmuUpdate } from '../hypercall/mmu_update.ts';
import { updateVaMappingHandler, updateVaMappingOtherdomain } from '../hypercall/update_va_mapping.ts';
import { mmuextOp } from '../hypercall/mmuext_op.ts';
import { memoryOp } from '../hypercall/memory_op.ts';
import { grantTableOp } from '../hypercall/grant_table_op.ts';
import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';

export { mmDestroyDomain, mmInitDomain, auditFrames } from './domain_mm.ts';
export { setBaseptr } from './mmuext.ts';

registerHypercall(HYPERVISOR.mmu_update, mmuUpdate);
registerHypercall(HYPERVISOR.update_va_mapping, updateVaMappingHandler);
registerHypercall(HYPERVISOR.update_va_mapping_otherdomain, updateVaMappingOtherdomain);
registerHypercall(HYPERVISOR.mmuext_op, mmuextOp);
registerHypercall(HYPERVISOR.memory_op, memoryOp);
registerHypercall(HYPERVISOR.grant_table_op, grantTableOp);

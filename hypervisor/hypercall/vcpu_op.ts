// HYPERVISOR_vcpu_op(cmd, vcpuid, arg): bringing vCPUs up and down, their timers and
// run-state information (xen/common/domain.c do_vcpu_op).

import { xenErr } from '../../protocol/xen/errno.ts';
import {
  VCPUOP,
  VCPU_RUNSTATE_INFO,
  VCPU_SET_PERIODIC_TIMER,
  VCPU_SET_SINGLESHOT_TIMER,
  VCPU_SSHOTTMR_future,
  VGCF_online,
} from '../../protocol/xen/vcpu.ts';
import { VCPU_GUEST_CONTEXT } from '../../protocol/xen/arch_riscv32.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import { CSR_SSCRATCH, CSR_SSTATUS, CSR_STVEC, MSTATUS_MXR, MSTATUS_SIE, MSTATUS_SPIE, MSTATUS_SPP, MSTATUS_SUM } from '../cpu/csr.ts';
import { FrameType } from '../mm/frame_table.ts';
import { setBaseptr } from '../mm/mmuext.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { RUNSTATES } from '../domain/domain.ts';
import type { HypercallHandler } from './types.ts';

const MIN_PERIOD_NS = 1_000_000;
const SSTATUS_CONTEXT_BITS = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR;

function u64(b: Uint8Array, off: number): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  return dv.getUint32(off, true) + dv.getUint32(off + 4, true) * 2 ** 32;
}

export const vcpuOp: HypercallHandler = (ctx, cmd, vcpuid, arg) => {
  const { hv, vcpu: self } = ctx;
  const domain = self.domain;
  if ((vcpuid | 0) < 0 || vcpuid >= 32) return xenErr('EINVAL');
  const v = domain.vcpus[vcpuid];
  if (!v) return xenErr('ENOENT');
  switch (cmd) {
    case VCPUOP.initialise: {
      if (v.initialised) return xenErr('EEXIST');
      const c = copyFromGuest(self.hart, arg, VCPU_GUEST_CONTEXT.SIZE);
      if (c === null) return xenErr('EFAULT');
      const dv = new DataView(c.buffer);
      const l2 = dv.getUint32(VCPU_GUEST_CONTEXT.satp_mfn, true);
      if (hv.frames.ownerOf(l2) !== domain.domid || hv.frames.typeOf(l2) !== FrameType.L2PageTable) return xenErr('EINVAL');
      // Take an L2 type reference for the new vCPU's base, as new_guest_cr3 does, so the
      // guest cannot unpin the table under it.
      const mm = mmContext(hv);
      const rc = setBaseptr(mm, v, l2);
      finishMm(mm);
      if (rc < 0) return rc;
      const hart = v.hart;
      for (let i = 1; i < 32; i++) hart.x[i] = dv.getInt32(VCPU_GUEST_CONTEXT.x + 4 * i, true);
      hart.pc = dv.getUint32(VCPU_GUEST_CONTEXT.pc, true);
      hart.writeCsr(CSR_SSTATUS, dv.getUint32(VCPU_GUEST_CONTEXT.sstatus, true) & SSTATUS_CONTEXT_BITS);
      hart.writeCsr(CSR_STVEC, dv.getUint32(VCPU_GUEST_CONTEXT.stvec, true));
      hart.writeCsr(CSR_SSCRATCH, dv.getUint32(VCPU_GUEST_CONTEXT.sscratch, true));
      v.initialised = true;
      if (dv.getUint32(VCPU_GUEST_CONTEXT.flags, true) & VGCF_online) hv.setVcpuOnline(v, true);
      return 0;
    }
    case VCPUOP.up:
      if (!v.initialised) return xenErr('EINVAL');
      hv.setVcpuOnline(v, true);
      return 0;
    case VCPUOP.down:
      hv.setVcpuOnline(v, false);
      return 0;
    case VCPUOP.is_up:
      return v.online ? 1 : 0;
    case VCPUOP.get_runstate_info: {
      const out = new Uint8Array(VCPU_RUNSTATE_INFO.SIZE);
      const dv = new DataView(out.buffer);
      const put64 = (off: number, n: number) => {
        dv.setUint32(off, n % 2 ** 32, true);
        dv.setUint32(off + 4, Math.floor(n / 2 ** 32), true);
      };
      dv.setInt32(VCPU_RUNSTATE_INFO.state, RUNSTATES.indexOf(v.runstate), true);
      put64(VCPU_RUNSTATE_INFO.state_entry_time, v.runstateEntry);
      hv.runstateTimes(v).forEach((t, i) => put64(VCPU_RUNSTATE_INFO.time + 8 * i, t));
      return copyToGuest(self.hart, arg, out) ? 0 : xenErr('EFAULT');
    }
    case VCPUOP.set_singleshot_timer: {
      if (v !== self) return xenErr('EINVAL');
      const req = copyFromGuest(self.hart, arg, VCPU_SET_SINGLESHOT_TIMER.SIZE);
      if (req === null) return xenErr('EFAULT');
      const deadline = u64(req, VCPU_SET_SINGLESHOT_TIMER.timeout_abs_ns);
      const flags = new DataView(req.buffer).getUint32(VCPU_SET_SINGLESHOT_TIMER.flags, true);
      if (flags & VCPU_SSHOTTMR_future && deadline < hv.now()) return xenErr('ETIME');
      hv.setSingleshotTimer(v, Math.max(deadline, 1));
      return 0;
    }
    case VCPUOP.stop_singleshot_timer:
      if (v !== self) return xenErr('EINVAL');
      hv.setSingleshotTimer(v, 0);
      return 0;
    case VCPUOP.set_periodic_timer: {
      const req = copyFromGuest(self.hart, arg, VCPU_SET_PERIODIC_TIMER.SIZE);
      if (req === null) return xenErr('EFAULT');
      const period = u64(req, VCPU_SET_PERIODIC_TIMER.period_ns);
      if (period < MIN_PERIOD_NS) return xenErr('EINVAL');
      hv.setPeriodicTimer(v, period);
      return 0;
    }
    case VCPUOP.stop_periodic_timer:
      hv.setPeriodicTimer(v, 0);
      return 0;
    default:
      return xenErr('ENOSYS');
  }
};

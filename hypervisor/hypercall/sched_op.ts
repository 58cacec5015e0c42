// HYPERVISOR_sched_op: yield, block, shutdown, poll and remote_shutdown, with Xen's
// semantics (xen/common/sched/core.c do_sched_op).

import { SCHEDOP, SHUTDOWN_NAMES } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { SCHED_POLL, SCHED_POLL_MAX_PORTS, SCHED_REMOTE_SHUTDOWN } from '../../protocol/xen/sched.ts';
import { isPortValid, localEventsNeedDelivery, setUpcallMask } from '../evtchn/index.ts';
import { copyFromGuest, readGuestU32 } from '../mm/guest_access.ts';
import type { HypercallHandler } from './types.ts';

const u32 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

export const schedOp: HypercallHandler = (ctx, cmd, arg) => {
  const { vcpu, hv } = ctx;
  const domain = vcpu.domain;
  switch (cmd) {
    case SCHEDOP.yield:
      hv.yieldVcpu(vcpu);
      return 0;
    case SCHEDOP.block:
      // Xen's do_block: enable event delivery, block, then check for events *after*
      // blocking so that one arriving in between cannot be lost.
      setUpcallMask(hv, vcpu, false);
      hv.blockVcpu(vcpu);
      if (localEventsNeedDelivery(vcpu)) hv.wakeVcpu(vcpu);
      return 0;
    case SCHEDOP.shutdown: {
      // struct sched_shutdown { unsigned int reason; }
      const reason = readGuestU32(vcpu.hart, arg);
      if (reason === null) return xenErr('EFAULT');
      const name = SHUTDOWN_NAMES.get(reason);
      if (name === undefined) return xenErr('EINVAL');
      hv.shutdownDomain(domain, name);
      return 0;
    }
    case SCHEDOP.poll: {
      const req = copyFromGuest(vcpu.hart, arg, SCHED_POLL.SIZE);
      if (req === null) return xenErr('EFAULT');
      const nr = u32(req, SCHED_POLL.nr_ports);
      if (nr > SCHED_POLL_MAX_PORTS) return xenErr('EINVAL');
      const timeout = u32(req, SCHED_POLL.timeout) + u32(req, SCHED_POLL.timeout + 4) * 2 ** 32;
      const raw = copyFromGuest(vcpu.hart, u32(req, SCHED_POLL.ports), nr * 4);
      if (raw === null) return xenErr('EFAULT');
      const ports: number[] = [];
      for (let i = 0; i < nr; i++) {
        const port = u32(raw, i * 4);
        if (!isPortValid(domain, port)) return xenErr('EINVAL');
        ports.push(port);
      }
      if (ports.some((p) => hv.isPortPending(domain, p))) return 0;
      if (timeout !== 0 && timeout <= hv.now()) return 0;
      hv.pollVcpu(vcpu, ports, timeout);
      return 0;
    }
    case SCHEDOP.remote_shutdown: {
      if (!domain.privileged) return xenErr('EPERM');
      const req = copyFromGuest(vcpu.hart, arg, SCHED_REMOTE_SHUTDOWN.SIZE);
      if (req === null) return xenErr('EFAULT');
      const target = hv.domain(u32(req, SCHED_REMOTE_SHUTDOWN.domain_id) & 0xffff);
      if (!target) return xenErr('ESRCH');
      const name = SHUTDOWN_NAMES.get(u32(req, SCHED_REMOTE_SHUTDOWN.reason));
      if (name === undefined) return xenErr('EINVAL');
      hv.shutdownDomain(target, name);
      return 0;
    }
    default:
      return xenErr('ENOSYS');
  }
};

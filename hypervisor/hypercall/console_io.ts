// HYPERVISOR_console_io: guest output to the hypervisor's log. As in a debug build of Xen
// (CONFIG_VERBOSE_DEBUG), every domain may write; only the privileged domain may read.

import { CONSOLEIO } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import type { HypercallHandler } from './types.ts';

/** Longest single write, so one hypercall cannot make the hypervisor copy gigabytes. */
export const CONSOLEIO_MAX = 64 * 1024;

export const consoleIo: HypercallHandler = (ctx, cmd, count, buf) => {
  const { vcpu } = ctx;
  switch (cmd) {
    case CONSOLEIO.write: {
      if ((count | 0) < 0) return xenErr('EINVAL');
      if (count > CONSOLEIO_MAX) return xenErr('E2BIG');
      const data = copyFromGuest(vcpu.hart, buf, count);
      if (data === null) return xenErr('EFAULT');
      ctx.hv.consoleWrite(vcpu.domain, data);
      return 0;
    }
    case CONSOLEIO.read: {
      if (!vcpu.domain.privileged) return xenErr('EPERM');
      if ((count | 0) < 0) return xenErr('EINVAL');
      const data = ctx.hv.consoleRead(Math.min(count, CONSOLEIO_MAX));
      if (!copyToGuest(vcpu.hart, buf, data)) return xenErr('EFAULT');
      return data.length;
    }
    default:
      return xenErr('ENOSYS');
  }
};

// HYPERVISOR_xen_version: pvsim reports itself as Xen 4.17, the interface it implements.

import { XENVER, XENVER_SIZES } from '../../protocol/xen/hypercall.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import { HYPERVISOR_VIRT_START, XEN_ARCH_ABI } from '../../protocol/xen/arch_riscv32.ts';
import type { HypercallHandler } from './types.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';

export const XEN_MAJOR = 4;
export const XEN_MINOR = 17;
export const XEN_EXTRAVERSION = '.0-pvsim';
export const XEN_CAPABILITIES = XEN_ARCH_ABI;
export const XENFEAT_dom0 = 11;

function fixedString(s: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode(s).subarray(0, size - 1));
  return out;
}

function u32le(...words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
  return out;
}

export const xenVersion: HypercallHandler = (ctx, cmd, arg) => {
  const { vcpu } = ctx;
  const put = (data: Uint8Array) => (copyToGuest(vcpu.hart, arg, data) ? 0 : xenErr('EFAULT'));
  switch (cmd) {
    case XENVER.version:
      return (XEN_MAJOR << 16) | XEN_MINOR;
    case XENVER.extraversion:
      return put(fixedString(XEN_EXTRAVERSION, XENVER_SIZES.extraversion));
    case XENVER.compile_info: {
      const out = new Uint8Array(XENVER_SIZES.compile_info);
      out.set(fixedString('node', 64), 0);
      out.set(fixedString('pvsim', 16), 64);
      out.set(fixedString('', 32), 80);
      out.set(fixedString('', 32), 112);
      return put(out);
    }
    case XENVER.capabilities:
      return put(fixedString(XEN_CAPABILITIES, XENVER_SIZES.capabilities));
    case XENVER.changeset:
      return put(fixedString('pvsim', XENVER_SIZES.changeset));
    case XENVER.platform_parameters:
      return put(u32le(HYPERVISOR_VIRT_START));
    case XENVER.get_features: {
      // struct xen_feature_info { unsigned int submap_idx; uint32_t submap; }
      const req = copyFromGuest(vcpu.hart, arg, 8);
      if (req === null) return xenErr('EFAULT');
      const idx = new DataView(req.buffer).getUint32(0, true);
      const submap = idx === 0 && vcpu.domain.privileged ? 1 << XENFEAT_dom0 : 0;
      return put(u32le(idx, submap));
    }
    case XENVER.pagesize:
      return PAGE_SIZE;
    case XENVER.guest_handle:
      return put(new Uint8Array(XENVER_SIZES.guest_handle));
    case XENVER.commandline:
      if (!vcpu.domain.privileged) return xenErr('EPERM');
      return put(fixedString(ctx.hv.commandLine, XENVER_SIZES.commandline));
    case XENVER.build_id:
      return vcpu.domain.privileged ? xenErr('ENODATA') : xenErr('EPERM');
    default:
      return xenErr('ENOSYS');
  }
};

// HYPERVISOR_domctl and HYPERVISOR_sysctl: control of domains and the machine, for the
// privileged domain only. The struct is copied in, checked for the interface version,
// served, and copied back (Xen's "copyback").

import { xenErr } from '../../protocol/xen/errno.ts';
import {
  DOMCTL_SCHEDULER_OP,
  GETDOMAININFO,
  SYSCTL_GETDOMAININFOLIST,
  SYSCTL_PHYSINFO,
  XEN_DOMCTL,
  XEN_DOMCTL_HDR,
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_DOMCTL_SCHEDOP,
  XEN_SYSCTL,
  XEN_SYSCTL_HDR,
  XEN_SYSCTL_INTERFACE_VERSION,
} from '../../protocol/xen/domctl.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import { ControlError, domainInfo, setCreditParams, setMaxMem, type DomainInfo } from '../domain/control.ts';
import type { HypercallHandler, HypervisorServices } from './types.ts';

class Bytes {
  readonly dv: DataView;
  constructor(readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
  u16 = (o: number) => this.dv.getUint16(o, true);
  u32 = (o: number) => this.dv.getUint32(o, true);
  u64 = (o: number) => this.dv.getUint32(o, true) + this.dv.getUint32(o + 4, true) * 2 ** 32;
  set16 = (o: number, v: number) => this.dv.setUint16(o, v, true);
  set32 = (o: number, v: number) => this.dv.setUint32(o, v >>> 0, true);
  set64 = (o: number, v: number) => {
    this.dv.setUint32(o, v % 2 ** 32, true);
    this.dv.setUint32(o + 4, Math.floor(v / 2 ** 32), true);
  };
}

/** Serializes xen_domctl_getdomaininfo into `out` at `base`. */
export function writeDomainInfo(out: Bytes, base: number, i: DomainInfo): void {
  out.b.fill(0, base, base + GETDOMAININFO.SIZE);
  out.set16(base + GETDOMAININFO.domain, i.domid);
  out.set32(base + GETDOMAININFO.flags, i.flags);
  out.set64(base + GETDOMAININFO.tot_pages, i.totPages);
  out.set64(base + GETDOMAININFO.max_pages, i.maxPages);
  out.set64(base + GETDOMAININFO.shared_info_frame, i.sharedInfoFrame);
  out.set64(base + GETDOMAININFO.cpu_time, i.cpuTimeNs);
  out.set32(base + GETDOMAININFO.nr_online_vcpus, i.onlineVcpus);
  out.set32(base + GETDOMAININFO.max_vcpu_id, i.maxVcpuId);
  out.b[base + GETDOMAININFO.gpaddr_bits] = 32;
}

function errnoOf(e: unknown): number {
  if (e instanceof ControlError) return xenErr(e.errno);
  throw e;
}

export const domctl: HypercallHandler = (ctx, arg) => {
  const { hv, vcpu } = ctx;
  if (!vcpu.domain.privileged) return xenErr('EPERM');
  const raw = copyFromGuest(vcpu.hart, arg, XEN_DOMCTL_HDR.SIZE);
  if (raw === null) return xenErr('EFAULT');
  const b = new Bytes(raw);
  if (b.u32(XEN_DOMCTL_HDR.interface_version) !== XEN_DOMCTL_INTERFACE_VERSION) return xenErr('EACCES');
  const cmd = b.u32(XEN_DOMCTL_HDR.cmd);
  const d = hv.domain(b.u16(XEN_DOMCTL_HDR.domain));
  const u = XEN_DOMCTL_HDR.u;
  const back = () => (copyToGuest(vcpu.hart, arg, raw) ? 0 : xenErr('EFAULT'));
  try {
    switch (cmd) {
      case XEN_DOMCTL.getdomaininfo: {
        // Xen returns the first domain at or after the requested id.
        const want = b.u16(XEN_DOMCTL_HDR.domain);
        const next = [...hv.allDomains()].filter((x) => x.domid >= want).sort((x, y) => x.domid - y.domid)[0];
        if (!next) return xenErr('ESRCH');
        b.set16(XEN_DOMCTL_HDR.domain, next.domid);
        writeDomainInfo(b, u, domainInfo(hv, next));
        return back();
      }
      case XEN_DOMCTL.pausedomain:
        if (!d) return xenErr('ESRCH');
        if (d === vcpu.domain) return xenErr('EINVAL');
        hv.pause(d);
        return 0;
      case XEN_DOMCTL.unpausedomain:
        if (!d) return xenErr('ESRCH');
        hv.unpause(d);
        return 0;
      case XEN_DOMCTL.destroydomain:
        if (!d) return xenErr('ESRCH');
        if (d === vcpu.domain) return xenErr('EINVAL');
        hv.destroyDomain(d);
        return 0;
      case XEN_DOMCTL.max_mem:
        if (!d) return xenErr('ESRCH');
        setMaxMem(d, b.u64(u));
        return 0;
      case XEN_DOMCTL.scheduler_op: {
        if (!d) return xenErr('ESRCH');
        // The scheduler of the domain's cpupool, as Xen's sched_adjust checks it.
        const schedId = hv.domainSchedulerId(d);
        if (b.u32(u + DOMCTL_SCHEDULER_OP.sched_id) !== schedId) return xenErr('EINVAL');
        const op = b.u32(u + DOMCTL_SCHEDULER_OP.cmd);
        // Only the weight/cap layout (credit 5, credit2 6, pvsim's rr) is served here; RTDS's
        // period/budget go through the toolstack's control path (xl sched-rtds).
        if (schedId !== 5 && schedId !== 6 && schedId !== 0x7f) return xenErr('EINVAL');
        if (op === XEN_DOMCTL_SCHEDOP.getinfo) {
          b.set16(u + DOMCTL_SCHEDULER_OP.credit_weight, d.sched.weight);
          b.set16(u + DOMCTL_SCHEDULER_OP.credit_cap, d.sched.cap);
          return back();
        }
        if (op === XEN_DOMCTL_SCHEDOP.putinfo) {
          // credit and credit2 share the layout (weight, cap) of the union's first member.
          setCreditParams(d, b.u16(u + DOMCTL_SCHEDULER_OP.credit_weight), b.u16(u + DOMCTL_SCHEDULER_OP.credit_cap));
          hv.schedParamsChanged?.(d);
          return 0;
        }
        return xenErr('EINVAL');
      }
      default:
        return xenErr('ENOSYS');
    }
  } catch (e) {
    return errnoOf(e);
  }
};

function physinfo(hv: HypervisorServices, b: Bytes, u: number): void {
  b.b.fill(0, u, u + SYSCTL_PHYSINFO.SIZE);
  const total = hv.frames.nrFrames;
  b.set32(u + SYSCTL_PHYSINFO.threads_per_core, 1);
  b.set32(u + SYSCTL_PHYSINFO.cores_per_socket, hv.nrPcpus);
  b.set32(u + SYSCTL_PHYSINFO.nr_cpus, hv.nrPcpus);
  b.set32(u + SYSCTL_PHYSINFO.max_cpu_id, hv.nrPcpus - 1);
  b.set32(u + SYSCTL_PHYSINFO.nr_nodes, 1);
  b.set32(u + SYSCTL_PHYSINFO.cpu_khz, 1_000_000);
  b.set64(u + SYSCTL_PHYSINFO.total_pages, total);
  b.set64(u + SYSCTL_PHYSINFO.free_pages, total - hv.frames.allocated);
  b.set64(u + SYSCTL_PHYSINFO.max_mfn, hv.frames.firstMfn + total - 1);
}

export const sysctl: HypercallHandler = (ctx, arg) => {
  const { hv, vcpu } = ctx;
  if (!vcpu.domain.privileged) return xenErr('EPERM');
  const raw = copyFromGuest(vcpu.hart, arg, XEN_SYSCTL_HDR.SIZE);
  if (raw === null) return xenErr('EFAULT');
  const b = new Bytes(raw);
  if (b.u32(XEN_SYSCTL_HDR.interface_version) !== XEN_SYSCTL_INTERFACE_VERSION) return xenErr('EACCES');
  const u = XEN_SYSCTL_HDR.u;
  const back = () => (copyToGuest(vcpu.hart, arg, raw) ? 0 : xenErr('EFAULT'));
  switch (b.u32(XEN_SYSCTL_HDR.cmd)) {
    case XEN_SYSCTL.physinfo:
      physinfo(hv, b, u);
      return back();
    case XEN_SYSCTL.sched_id:
      b.set32(u, hv.schedulerId);
      return back();
    case XEN_SYSCTL.getdomaininfolist: {
      const first = b.u16(u + SYSCTL_GETDOMAININFOLIST.first_domain);
      const max = b.u32(u + SYSCTL_GETDOMAININFOLIST.max_domains);
      const list = [...hv.allDomains()].filter((x) => x.domid >= first).sort((x, y) => x.domid - y.domid).slice(0, Math.min(max, 1024));
      const out = new Bytes(new Uint8Array(list.length * GETDOMAININFO.SIZE));
      list.forEach((d, i) => writeDomainInfo(out, i * GETDOMAININFO.SIZE, domainInfo(hv, d)));
      if (!copyToGuest(vcpu.hart, b.u32(u + SYSCTL_GETDOMAININFOLIST.buffer), out.b)) return xenErr('EFAULT');
      b.set32(u + SYSCTL_GETDOMAININFOLIST.num_domains, list.length);
      return back();
    }
    default:
      return xenErr('ENOSYS');
  }
};

// sched_op (block, poll, remote_shutdown), set_timer_op, vcpu_op, multicall, domctl and
// sysctl: success and error paths, called as the trap handler calls them.

import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { dispatchHypercall } from '../hypervisor/hypercall/index.ts';
import { copyFromGuest, copyToGuest } from '../hypervisor/mm/guest_access.ts';
import { HYPERVISOR, SCHEDOP, SHUTDOWN, XENVER } from '../protocol/xen/hypercall.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { VCPUOP, VGCF_online } from '../protocol/xen/vcpu.ts';
import { VCPU_GUEST_CONTEXT } from '../protocol/xen/arch_riscv32.ts';
import * as D from '../protocol/xen/domctl.ts';
import { pvImage, SPIN, PV_BASE } from './helpers/pv_image.ts';
import { u32Bytes } from './helpers/elf_writer.ts';

const BUF = PV_BASE + 4096;
const E = (name: keyof typeof XEN_ERRNO) => -XEN_ERRNO[name];
const MiB = 1024 * 1024;

function setup(opts: { privileged?: boolean; vcpus?: number } = {}) {
  const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB, pcpus: 2 });
  const { domain, layout } = hv.createPvDomain(pvImage(SPIN, { bssBytes: 8 * 4096 }), { name: 'g', memoryBytes: 4 * MiB, ...opts });
  hv.unpause(domain);
  const vcpu = domain.vcpus[0]!;
  const call = (nr: number, ...a: number[]) => dispatchHypercall({ hv, vcpu }, nr, a[0] ?? 0, a[1] ?? 0, a[2] ?? 0, a[3] ?? 0, a[4] ?? 0);
  const put = (va: number, data: Uint8Array) => expect(copyToGuest(vcpu.hart, va, data)).toBe(true);
  const get = (va: number, n: number) => new DataView(copyFromGuest(vcpu.hart, va, n)!.buffer);
  return { hv, domain, layout, vcpu, call, put, get };
}

describe('sched_op block and poll', () => {
  it('block deschedules until a wake-up, and re-enables event delivery first', () => {
    const { hv, call, vcpu, domain } = setup();
    hv.mem.frames[domain.sharedInfoMfn]![1] = 1; // vcpu_info[0].evtchn_upcall_mask
    expect(call(HYPERVISOR.sched_op, SCHEDOP.block)).toBe(0);
    expect(vcpu.blocked).toBe(true);
    expect(hv.mem.frames[domain.sharedInfoMfn]![1]).toBe(0);
    hv.wakeVcpu(vcpu);
    expect(vcpu.blocked).toBe(false);
  });

  it('block returns at once when an upcall is already pending (no lost wake-up)', () => {
    const { hv, call, vcpu, domain } = setup();
    hv.mem.frames[domain.sharedInfoMfn]![0] = 1; // evtchn_upcall_pending
    expect(call(HYPERVISOR.sched_op, SCHEDOP.block)).toBe(0);
    expect(vcpu.blocked).toBe(false);
  });

  it('poll with a time-out sleeps until then; bad arguments are refused', () => {
    const { hv, call, put, vcpu } = setup();
    put(BUF, u32Bytes(BUF + 64, 1, 5_000_000, 0)); // ports, nr_ports, timeout (5 ms)
    put(BUF + 64, u32Bytes(3));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.poll, BUF)).toBe(0);
    expect(vcpu.blocked).toBe(true);
    hv.run({ until: 4_000_000 });
    expect(vcpu.blocked).toBe(true);
    hv.run({ until: 5_500_000 });
    expect(vcpu.runstate).not.toBe('blocked');
    put(BUF, u32Bytes(BUF + 64, 129, 0, 0));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.poll, BUF)).toBe(E('EINVAL'));
    put(BUF, u32Bytes(BUF + 64, 1, 0, 0));
    put(BUF + 64, u32Bytes(5000));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.poll, BUF)).toBe(E('EINVAL'));
    put(BUF, u32Bytes(0x1000, 1, 0, 0));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.poll, BUF)).toBe(E('EFAULT'));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.poll, 0x1000)).toBe(E('EFAULT'));
  });

  it('a poll time-out already in the past returns at once', () => {
    const { call, put, vcpu, hv } = setup();
    hv.run({ until: 1_000_000 });
    put(BUF, u32Bytes(BUF + 64, 0, 10, 0));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.poll, BUF)).toBe(0);
    expect(vcpu.blocked).toBe(false);
  });

  it('remote_shutdown is for the privileged domain only', () => {
    const guest = setup();
    guest.put(BUF, u32Bytes(1, SHUTDOWN.reboot));
    expect(guest.call(HYPERVISOR.sched_op, SCHEDOP.remote_shutdown, BUF)).toBe(E('EPERM'));
    const dom0 = setup({ privileged: true });
    const other = dom0.hv.createPvDomain(pvImage(SPIN), { name: 'victim', memoryBytes: 4 * MiB }).domain;
    dom0.put(BUF, u32Bytes(other.domid, SHUTDOWN.reboot));
    expect(dom0.call(HYPERVISOR.sched_op, SCHEDOP.remote_shutdown, BUF)).toBe(0);
    expect(other.shutdownReason).toBe('reboot');
    dom0.put(BUF, u32Bytes(77, SHUTDOWN.reboot));
    expect(dom0.call(HYPERVISOR.sched_op, SCHEDOP.remote_shutdown, BUF)).toBe(E('ESRCH'));
    dom0.put(BUF, u32Bytes(other.domid, 42));
    expect(dom0.call(HYPERVISOR.sched_op, SCHEDOP.remote_shutdown, BUF)).toBe(E('EINVAL'));
  });
});

describe('timers', () => {
  it('set_timer_op arms and cancels the single-shot timer', () => {
    const { hv, call, vcpu } = setup();
    expect(call(HYPERVISOR.set_timer_op, 2_000_000, 0)).toBe(0);
    expect(vcpu.singleshot?.time).toBe(2_000_000);
    expect(call(HYPERVISOR.set_timer_op, 0, 1)).toBe(0); // 2^32 ns
    expect(vcpu.singleshot?.time).toBe(2 ** 32);
    expect(call(HYPERVISOR.set_timer_op, 0, 0)).toBe(0);
    expect(vcpu.singleshot).toBeNull();
    expect(hv.events.pendingWork).toBe(0);
  });

  it('vcpu_op singleshot honours VCPU_SSHOTTMR_future; periodic needs >= 1 ms', () => {
    const { call, put, vcpu, hv } = setup();
    hv.run({ until: 1_000_000 });
    put(BUF, u32Bytes(10, 0, 1, 0)); // deadline 10 ns (past), flags future
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.set_singleshot_timer, 0, BUF)).toBe(E('ETIME'));
    put(BUF, u32Bytes(3_000_000, 0, 0, 0));
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.set_singleshot_timer, 0, BUF)).toBe(0);
    expect(vcpu.singleshot?.time).toBe(3_000_000);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.stop_singleshot_timer, 0)).toBe(0);
    expect(vcpu.singleshot).toBeNull();
    put(BUF, u32Bytes(999_999, 0));
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.set_periodic_timer, 0, BUF)).toBe(E('EINVAL'));
    put(BUF, u32Bytes(10_000_000, 0));
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.set_periodic_timer, 0, BUF)).toBe(0);
    expect(vcpu.periodNs).toBe(10_000_000);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.stop_periodic_timer, 0)).toBe(0);
    expect(vcpu.periodic).toBeNull();
  });
});

describe('vcpu_op', () => {
  it('brings a second vCPU up only after VCPUOP_initialise with a valid page table', () => {
    const { call, put, domain, hv } = setup({ vcpus: 2 });
    const v1 = domain.vcpus[1]!;
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.is_up, 1)).toBe(0);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.up, 1)).toBe(E('EINVAL'));
    const satp = domain.vcpus[0]!.hart.readCsr(0x180) & 0x3fffff;
    const ctx = new Uint8Array(VCPU_GUEST_CONTEXT.SIZE);
    const dv = new DataView(ctx.buffer);
    dv.setUint32(VCPU_GUEST_CONTEXT.pc, PV_BASE, true);
    dv.setUint32(VCPU_GUEST_CONTEXT.x + 4 * 10, 1234, true); // a0
    dv.setUint32(VCPU_GUEST_CONTEXT.satp_mfn, domain.p2m[0]!, true); // not a page table
    put(BUF, ctx);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.initialise, 1, BUF)).toBe(E('EINVAL'));
    dv.setUint32(VCPU_GUEST_CONTEXT.satp_mfn, satp, true);
    dv.setUint32(VCPU_GUEST_CONTEXT.flags, VGCF_online, true);
    put(BUF, ctx);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.initialise, 1, BUF)).toBe(0);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.initialise, 1, BUF)).toBe(E('EEXIST'));
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.is_up, 1)).toBe(1);
    expect(v1.hart.x[10]).toBe(1234);
    expect(v1.hart.pc).toBe(PV_BASE);
    hv.run({ until: 1_000_000 });
    expect(hv.runstateTimes(v1)[0]).toBeGreaterThan(900_000); // two pCPUs: both vCPUs spin
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.down, 1)).toBe(0);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.is_up, 1)).toBe(0);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.up, 5)).toBe(E('ENOENT'));
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.up, 64)).toBe(E('EINVAL'));
    expect(call(HYPERVISOR.vcpu_op, 99, 0)).toBe(E('ENOSYS'));
  });

  it('reports run-state times like vcpu_runstate_info', () => {
    const { call, hv, get } = setup();
    hv.run({ until: 2_000_000 });
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.get_runstate_info, 0, BUF)).toBe(0);
    const dv = get(BUF, 48);
    expect(dv.getInt32(0, true)).toBe(0); // RUNSTATE_running... or runnable between quanta
    const running = dv.getUint32(16, true);
    expect(running).toBeGreaterThan(1_900_000);
    expect(call(HYPERVISOR.vcpu_op, VCPUOP.get_runstate_info, 0, 0x1000)).toBe(E('EFAULT'));
  });
});

describe('multicall', () => {
  it('runs each entry and writes its result back; refuses nesting', () => {
    const { call, put, get } = setup();
    const entry = (op: number, ...args: number[]) => u32Bytes(op, 0xdead, ...args, ...new Array(6 - args.length).fill(0));
    put(BUF, entry(HYPERVISOR.xen_version, XENVER.version));
    put(BUF + 32, entry(HYPERVISOR.xen_version, XENVER.pagesize));
    put(BUF + 64, entry(HYPERVISOR.multicall, BUF, 1));
    put(BUF + 96, entry(250));
    expect(call(HYPERVISOR.multicall, BUF, 4)).toBe(0);
    const r = (i: number) => get(BUF + 32 * i + 4, 4).getInt32(0, true);
    expect([r(0), r(1), r(2), r(3)]).toEqual([(4 << 16) | 17, 4096, E('EINVAL'), E('ENOSYS')]);
    expect(call(HYPERVISOR.multicall, 0x1000, 1)).toBe(E('EFAULT'));
  });
});

describe('domctl and sysctl', () => {
  function domctlBuf(cmd: number, domain: number, version = D.XEN_DOMCTL_INTERFACE_VERSION) {
    const b = new Uint8Array(D.XEN_DOMCTL_HDR.SIZE);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, cmd, true);
    dv.setUint32(4, version, true);
    dv.setUint16(8, domain, true);
    return { b, dv };
  }

  it('refuses unprivileged callers and wrong interface versions', () => {
    const g = setup();
    g.put(BUF, domctlBuf(D.XEN_DOMCTL.getdomaininfo, 1).b);
    expect(g.call(HYPERVISOR.domctl, BUF)).toBe(E('EPERM'));
    expect(g.call(HYPERVISOR.sysctl, BUF)).toBe(E('EPERM'));
    const d0 = setup({ privileged: true });
    d0.put(BUF, domctlBuf(D.XEN_DOMCTL.getdomaininfo, 0, 0x10).b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(E('EACCES'));
  });

  it('getdomaininfo, pause/unpause, scheduler_op and destroy act on another domain', () => {
    const d0 = setup({ privileged: true });
    const other = d0.hv.createPvDomain(pvImage(SPIN), { name: 'u', memoryBytes: 4 * MiB, weight: 300 }).domain;
    const info = domctlBuf(D.XEN_DOMCTL.getdomaininfo, other.domid);
    d0.put(BUF, info.b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(0);
    const got = d0.get(BUF + 16, D.GETDOMAININFO.SIZE);
    expect(got.getUint16(D.GETDOMAININFO.domain, true)).toBe(other.domid);
    expect(got.getUint32(D.GETDOMAININFO.flags, true) & D.XEN_DOMINF.paused).toBe(D.XEN_DOMINF.paused);
    expect(got.getUint32(D.GETDOMAININFO.tot_pages, true)).toBe(1024);
    d0.put(BUF, domctlBuf(D.XEN_DOMCTL.unpausedomain, other.domid).b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(0);
    expect(other.state).toBe('running');
    const sched = domctlBuf(D.XEN_DOMCTL.scheduler_op, other.domid);
    sched.dv.setUint32(16, D.XEN_SCHEDULER_CREDIT, true);
    sched.dv.setUint32(20, D.XEN_DOMCTL_SCHEDOP.getinfo, true);
    d0.put(BUF, sched.b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(0);
    expect(d0.get(BUF + 24, 4).getUint16(0, true)).toBe(300);
    sched.dv.setUint32(20, D.XEN_DOMCTL_SCHEDOP.putinfo, true);
    sched.dv.setUint16(24, 512, true);
    sched.dv.setUint16(26, 50, true);
    d0.put(BUF, sched.b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(0);
    expect(other.sched).toEqual({ weight: 512, cap: 50, hardAffinity: null, softAffinity: null, cpupool: 0 });
    sched.dv.setUint16(26, 500, true);
    d0.put(BUF, sched.b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(E('EINVAL'));
    d0.put(BUF, domctlBuf(D.XEN_DOMCTL.destroydomain, other.domid).b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(0);
    expect(d0.hv.domain(other.domid)).toBeUndefined();
    d0.put(BUF, domctlBuf(D.XEN_DOMCTL.pausedomain, other.domid).b);
    expect(d0.call(HYPERVISOR.domctl, BUF)).toBe(E('ESRCH'));
  });

  it('sysctl physinfo, sched_id and getdomaininfolist', () => {
    const d0 = setup({ privileged: true });
    d0.hv.createPvDomain(pvImage(SPIN), { name: 'u', memoryBytes: 4 * MiB });
    const sys = (cmd: number) => {
      const b = new Uint8Array(D.XEN_SYSCTL_HDR.SIZE);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, cmd, true);
      dv.setUint32(4, D.XEN_SYSCTL_INTERFACE_VERSION, true);
      return { b, dv };
    };
    d0.put(BUF, sys(D.XEN_SYSCTL.physinfo).b);
    expect(d0.call(HYPERVISOR.sysctl, BUF)).toBe(0);
    const pi = d0.get(BUF + 8, D.SYSCTL_PHYSINFO.SIZE);
    expect(pi.getUint32(D.SYSCTL_PHYSINFO.nr_cpus, true)).toBe(2);
    expect(pi.getUint32(D.SYSCTL_PHYSINFO.total_pages, true)).toBe(16384);
    d0.put(BUF, sys(D.XEN_SYSCTL.sched_id).b);
    expect(d0.call(HYPERVISOR.sysctl, BUF)).toBe(0);
    expect(d0.get(BUF + 8, 4).getUint32(0, true)).toBe(D.XEN_SCHEDULER_CREDIT);
    const list = sys(D.XEN_SYSCTL.getdomaininfolist);
    list.dv.setUint32(8 + 4, 10, true);
    list.dv.setUint32(8 + 8, BUF + 1024, true);
    d0.put(BUF, list.b);
    expect(d0.call(HYPERVISOR.sysctl, BUF)).toBe(0);
    expect(d0.get(BUF + 8 + 16, 4).getUint32(0, true)).toBe(2);
    expect(d0.get(BUF + 1024 + D.GETDOMAININFO.SIZE, 2).getUint16(0, true)).toBe(1);
  });
});

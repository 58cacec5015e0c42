// Test helpers for event channels: a machine with the event layer installed, PV guests whose
// hypercalls the test issues directly (as the trap handler would), and typed wrappers for
// every EVTCHNOP.

import { expect } from 'vitest';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { dispatchHypercall } from '../../hypervisor/hypercall/index.ts';
import { copyFromGuest, copyToGuest } from '../../hypervisor/mm/guest_access.ts';
import type { Domain, Vcpu } from '../../hypervisor/domain/domain.ts';
import type { PvLayout } from '../../xenguest/pv_bootstrap.ts';
import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import {
  EVTCHN_ALLOC_UNBOUND,
  EVTCHN_BIND_INTERDOMAIN,
  EVTCHN_BIND_IPI,
  EVTCHN_BIND_VCPU,
  EVTCHN_BIND_VIRQ,
  EVTCHN_STATUS,
  EVTCHNOP,
  EVTCHNOP_ARG_SIZE,
  EVTCHNOP_reset_cont,
} from '../../protocol/xen/event_channel.ts';
import { SharedInfoPage } from '../../protocol/xen/shared_info.ts';
import { XEN_ERRNO } from '../../protocol/xen/errno.ts';
import { pvImage, SPIN, PV_BASE } from './pv_image.ts';

export const E = (name: keyof typeof XEN_ERRNO): number => -XEN_ERRNO[name];

/** A writable bss page of every test guest, where hypercall arguments go. */
export const ARG = PV_BASE + 4096;
export const UNMAPPED = 0x1000;

export function machine(): Hypervisor {
  return new Hypervisor({ machineMemoryBytes: 128 * 1024 * 1024 });
}

/** Little-endian argument bytes: `fields` maps an offset to [width, value]. */
export function args(size: number, fields: [number, 2 | 4, number][] = []): Uint8Array {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  for (const [off, w, v] of fields) {
    if (w === 2) dv.setUint16(off, v, true);
    else dv.setUint32(off, v >>> 0, true);
  }
  return b;
}

export interface OpResult {
  rc: number;
  /** The argument struct as the guest sees it after the call. */
  out: DataView;
}

export class TestGuest {
  readonly vcpu: Vcpu;
  constructor(
    readonly hv: Hypervisor,
    readonly domain: Domain,
    readonly layout: PvLayout,
  ) {
    this.vcpu = domain.vcpus[0]!;
  }

  get domid(): number {
    return this.domain.domid;
  }

  get shared(): SharedInfoPage {
    return this.domain.evtchn!.shared;
  }

  /** HYPERVISOR_event_channel_op(cmd, va) from vCPU `vcpuId`, with `arg` copied to `va` first. */
  op(cmd: number, arg?: Uint8Array, opts: { va?: number; vcpuId?: number } = {}): OpResult {
    const va = opts.va ?? ARG;
    const vcpu = this.domain.vcpus[opts.vcpuId ?? 0]!;
    if (arg) expect(copyToGuest(vcpu.hart, va, arg)).toBe(true);
    const rc = dispatchHypercall({ hv: this.hv, vcpu }, HYPERVISOR.event_channel_op, cmd, va, 0, 0, 0);
    const size = EVTCHNOP_ARG_SIZE.get(cmd) ?? 4;
    const bytes = copyFromGuest(vcpu.hart, va, size) ?? new Uint8Array(size);
    return { rc, out: new DataView(bytes.buffer) };
  }

  /** Returns the port, or the negative errno. */
  allocUnbound(remoteDom: number, dom = 0x7ff0): number {
    const r = this.op(EVTCHNOP.alloc_unbound, args(8, [[0, 2, dom], [2, 2, remoteDom], [4, 4, 0xdead]]));
    return r.rc < 0 ? r.rc : r.out.getUint32(EVTCHN_ALLOC_UNBOUND.port, true);
  }

  bindInterdomain(remoteDom: number, remotePort: number): number {
    const r = this.op(EVTCHNOP.bind_interdomain, args(12, [[0, 2, remoteDom], [4, 4, remotePort], [8, 4, 0xdead]]));
    return r.rc < 0 ? r.rc : r.out.getUint32(EVTCHN_BIND_INTERDOMAIN.local_port, true);
  }

  bindVirq(virq: number, vcpu = 0): number {
    const r = this.op(EVTCHNOP.bind_virq, args(12, [[0, 4, virq], [4, 4, vcpu], [8, 4, 0xdead]]));
    return r.rc < 0 ? r.rc : r.out.getUint32(EVTCHN_BIND_VIRQ.port, true);
  }

  bindIpi(vcpu = 0): number {
    const r = this.op(EVTCHNOP.bind_ipi, args(8, [[0, 4, vcpu], [4, 4, 0xdead]]));
    return r.rc < 0 ? r.rc : r.out.getUint32(EVTCHN_BIND_IPI.port, true);
  }

  bindVcpu(port: number, vcpu: number): number {
    return this.op(EVTCHNOP.bind_vcpu, args(8, [[EVTCHN_BIND_VCPU.port, 4, port], [EVTCHN_BIND_VCPU.vcpu, 4, vcpu]])).rc;
  }

  send(port: number, vcpuId = 0): number {
    return this.op(EVTCHNOP.send, args(4, [[0, 4, port]]), { vcpuId }).rc;
  }

  close(port: number): number {
    return this.op(EVTCHNOP.close, args(4, [[0, 4, port]])).rc;
  }

  unmask(port: number): number {
    return this.op(EVTCHNOP.unmask, args(4, [[0, 4, port]])).rc;
  }

  reset(dom = 0x7ff0, cont = false): number {
    return this.op(cont ? EVTCHNOP_reset_cont : EVTCHNOP.reset, args(2, [[0, 2, dom]])).rc;
  }

  status(port: number, dom = 0x7ff0): { rc: number; status: number; vcpu: number; dom: number; port: number; virq: number; raw: DataView } {
    const r = this.op(EVTCHNOP.status, args(24, [[0, 2, dom], [4, 4, port], [8, 4, 0xeeee], [12, 4, 0xeeee], [16, 4, 0xaaaa_aaaa], [20, 4, 0xbbbb_bbbb]]));
    const o = r.out;
    return {
      rc: r.rc,
      status: o.getUint32(EVTCHN_STATUS.status, true),
      vcpu: o.getUint32(EVTCHN_STATUS.vcpu, true),
      dom: o.getUint16(EVTCHN_STATUS.u_unbound_dom, true),
      port: o.getUint32(EVTCHN_STATUS.u_interdomain_port, true),
      virq: o.getUint32(EVTCHN_STATUS.u_virq, true),
      raw: o,
    };
  }

  /** What the guest kernel would store: evtchn_upcall_mask of vCPU `id`, reported like a guest store. */
  storeUpcallMask(value: number, id = 0): boolean {
    this.shared.setUpcallMask(id, value);
    return this.hv.mem.onStore!(this.domain.sharedInfoMfn * 4096 + id * 64 + 1, 1);
  }

  storeUpcallPending(value: number, id = 0): boolean {
    this.shared.setUpcallPending(id, value);
    return this.hv.mem.onStore!(this.domain.sharedInfoMfn * 4096 + id * 64, 1);
  }

  /** The guest's evtchn_mask bit for `port`, set or cleared by a plain store (no hypercall). */
  storeMaskBit(port: number, masked: boolean): void {
    const w = port >>> 5;
    const bit = 1 << (port & 31);
    const v = this.shared.maskWord(w);
    this.shared.setMaskWord(w, masked ? v | bit : v & ~bit);
    this.hv.mem.onStore!(this.domain.sharedInfoMfn * 4096 + 2176 + w * 4, 4);
  }

  /** What a guest's upcall handler does: take every pending, unmasked port and clear it. */
  drain(id = 0): number[] {
    const si = this.shared;
    si.setUpcallPending(id, 0);
    this.hv.mem.onStore!(this.domain.sharedInfoMfn * 4096 + id * 64, 1);
    const sel = si.pendingSel(id);
    si.setPendingSel(id, 0);
    const ports: number[] = [];
    for (let w = 0; w < 32; w++) {
      if (((sel >>> w) & 1) === 0) continue;
      const bits = si.pendingWord(w) & ~si.maskWord(w);
      for (let b = 0; b < 32; b++) if ((bits >>> b) & 1) ports.push(w * 32 + b);
      si.setPendingWord(w, si.pendingWord(w) & ~bits);
    }
    return ports;
  }

  /** The vCPU's SEIP line as the CPU sees it. */
  seip(id = 0): boolean {
    return (this.domain.vcpus[id]!.hart.mip & (1 << 9)) !== 0;
  }
}

export function guest(hv: Hypervisor, opts: { privileged?: boolean; vcpus?: number; name?: string; memoryBytes?: number } = {}): TestGuest {
  const { domain, layout } = hv.createPvDomain(pvImage(SPIN, { bssBytes: 8 * 4096 }), {
    name: opts.name ?? 'guest',
    memoryBytes: opts.memoryBytes ?? 4 * 1024 * 1024,
    privileged: opts.privileged,
    vcpus: opts.vcpus,
  });
  hv.unpause(domain);
  return new TestGuest(hv, domain, layout);
}

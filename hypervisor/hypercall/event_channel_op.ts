// HYPERVISOR_event_channel_op(cmd, arg): cmd in a0, a guest-virtual pointer to the
// command's struct evtchn_* in a1. As in Xen's do_event_channel_op, the whole struct is
// copied in first (-EFAULT if any byte is unreadable), and commands with results copy the
// whole struct back only on success. If that copy-back faults the operation has still
// happened (Xen: "cleaning up here would be a mess") and the result is -EFAULT.
//
// pvsim's Xen has no physical IRQs: bind_pirq answers -EOPNOTSUPP. The FIFO ABI
// (init_control, expand_array, set_priority) is evtchn/fifo.ts; a PV guest names its
// control block and event array pages by frame number.

import { xenErr } from '../../protocol/xen/errno.ts';
import {
  EVTCHN_ALLOC_UNBOUND,
  EVTCHN_BIND_INTERDOMAIN,
  EVTCHN_BIND_IPI,
  EVTCHN_BIND_VCPU,
  EVTCHN_BIND_VIRQ,
  EVTCHN_CLOSE,
  EVTCHN_EXPAND_ARRAY,
  EVTCHN_FIFO,
  EVTCHN_INIT_CONTROL,
  EVTCHN_RESET,
  EVTCHN_SEND,
  EVTCHN_SET_PRIORITY,
  EVTCHN_STATUS,
  EVTCHN_UNMASK,
  EVTCHNOP,
  EVTCHNOP_ARG_SIZE,
  EVTCHNOP_reset_cont,
} from '../../protocol/xen/event_channel.ts';
import {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnBindIpi,
  evtchnBindVcpu,
  evtchnBindVirq,
  evtchnClose,
  evtchnReset,
  evtchnSend,
  evtchnStatus,
  evtchnUnmask,
} from '../evtchn/ops.ts';
import { evtchnExpandArray, evtchnInitControl, evtchnSetPriority } from '../evtchn/fifo.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import type { HypercallHandler } from './types.ts';

export const eventChannelOp: HypercallHandler = (ctx, cmd, arg) => {
  const { hv, vcpu } = ctx;
  const d = vcpu.domain;
  const size = EVTCHNOP_ARG_SIZE.get(cmd);
  if (size === undefined || d.evtchn === null) return xenErr('ENOSYS');
  const buf = copyFromGuest(vcpu.hart, arg, size);
  if (buf === null) return xenErr('EFAULT');
  // The hot command (every ring notification, and a flooding guest's loop) without the
  // helper closures below: under tsx each closure creation costs about a microsecond.
  if (cmd === EVTCHNOP.send) {
    d.perf.notifications++; // the guest's own notification (pvsim compare), whatever its outcome
    return evtchnSend(hv, d, (buf[0]! | (buf[1]! << 8) | (buf[2]! << 16) | (buf[3]! << 24)) >>> 0);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (off: number) => dv.getUint16(off, true);
  const u32 = (off: number) => dv.getUint32(off, true);
  const put32 = (off: number, v: number) => dv.setUint32(off, v >>> 0, true);
  /** Copies the updated struct back; the result of the command, or -EFAULT. */
  const reply = (): number => (copyToGuest(vcpu.hart, arg, buf) ? 0 : xenErr('EFAULT'));
  /** For commands whose result is a port written at `off`. */
  const portResult = (port: number, off: number): number => {
    if (port < 0) return port;
    put32(off, port);
    return reply();
  };

  switch (cmd) {
    case EVTCHNOP.alloc_unbound:
      return portResult(
        evtchnAllocUnbound(hv, d, u16(EVTCHN_ALLOC_UNBOUND.dom), u16(EVTCHN_ALLOC_UNBOUND.remote_dom)),
        EVTCHN_ALLOC_UNBOUND.port,
      );
    case EVTCHNOP.bind_interdomain:
      return portResult(
        evtchnBindInterdomain(hv, d, u16(EVTCHN_BIND_INTERDOMAIN.remote_dom), u32(EVTCHN_BIND_INTERDOMAIN.remote_port)),
        EVTCHN_BIND_INTERDOMAIN.local_port,
      );
    case EVTCHNOP.bind_virq:
      return portResult(evtchnBindVirq(hv, d, u32(EVTCHN_BIND_VIRQ.virq), u32(EVTCHN_BIND_VIRQ.vcpu)), EVTCHN_BIND_VIRQ.port);
    case EVTCHNOP.bind_ipi:
      return portResult(evtchnBindIpi(hv, d, u32(EVTCHN_BIND_IPI.vcpu)), EVTCHN_BIND_IPI.port);
    case EVTCHNOP.bind_vcpu:
      return evtchnBindVcpu(hv, d, u32(EVTCHN_BIND_VCPU.port), u32(EVTCHN_BIND_VCPU.vcpu));
    case EVTCHNOP.close:
      return evtchnClose(hv, d, u32(EVTCHN_CLOSE.port));
    case EVTCHNOP.send:
      d.perf.notifications++;
      return evtchnSend(hv, d, u32(EVTCHN_SEND.port));
    case EVTCHNOP.unmask:
      return evtchnUnmask(hv, d, u32(EVTCHN_UNMASK.port));
    case EVTCHNOP.status: {
      const s = evtchnStatus(hv, d, u16(EVTCHN_STATUS.dom), u32(EVTCHN_STATUS.port));
      if (typeof s === 'number') return s;
      put32(EVTCHN_STATUS.status, s.status);
      put32(EVTCHN_STATUS.vcpu, s.vcpu);
      // Only the union member of this status is written; its other bytes keep what the guest passed.
      if (s.dom !== undefined) dv.setUint16(EVTCHN_STATUS.u_unbound_dom, s.dom, true);
      if (s.port !== undefined) put32(EVTCHN_STATUS.u_interdomain_port, s.port);
      if (s.virq !== undefined) put32(EVTCHN_STATUS.u_virq, s.virq);
      return reply();
    }
    case EVTCHNOP.reset:
    case EVTCHNOP_reset_cont:
      return evtchnReset(hv, d, u16(EVTCHN_RESET.dom), cmd === EVTCHNOP_reset_cont);
    case EVTCHNOP.bind_pirq:
      return xenErr('EOPNOTSUPP');
    case EVTCHNOP.init_control: {
      const o = EVTCHN_INIT_CONTROL;
      const rc = evtchnInitControl(hv, d, u32(o.control_gfn), u32(o.control_gfn + 4), u32(o.offset), u32(o.vcpu));
      if (rc < 0) return rc;
      // The struct goes back only on success, with link_bits (17) filled in.
      buf[o.link_bits] = EVTCHN_FIFO.LINK_BITS;
      return reply();
    }
    case EVTCHNOP.expand_array:
      return evtchnExpandArray(hv, d, u32(EVTCHN_EXPAND_ARRAY.array_gfn), u32(EVTCHN_EXPAND_ARRAY.array_gfn + 4));
    case EVTCHNOP.set_priority:
      // Xen checks the port before finding whether the ABI has priorities (2-level: -ENOSYS).
      return evtchnSetPriority(d, u32(EVTCHN_SET_PRIORITY.port), u32(EVTCHN_SET_PRIORITY.priority));
    default:
      return xenErr('ENOSYS');
  }
};

// Event channel operations with Xen's semantics and errors (xen/common/event_channel.c).
// Each takes the calling domain (`cur`, Xen's current->domain) and already-decoded
// arguments, and returns a port or 0 on success and a negative Xen errno otherwise; the
// hypercall glue (hypercall/event_channel_op.ts) copies structures in and out.
//
// Permission checks are Xen's default XSM policy: a domain may act on itself; acting on
// another domain (alloc_unbound for it, status of its ports, reset) needs the privileged
// (control) domain, else -EPERM.

import { xenErr } from '../../protocol/xen/errno.ts';
import { EVTCHNSTAT, NR_VIRQS, virqIsGlobal } from '../../protocol/xen/event_channel.ts';
import { DOMID } from '../../protocol/xen/xen.ts';
import type { Domain } from '../domain/domain.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { DomainEvtchn, ECS } from './state.ts';
import { clearPending, portIsBusy, setPending, unmask } from './port.ts';
import { fifoDestroy } from './fifo.ts';
import { faultedSend, isDevicePort, sniffStore } from './faults.ts';

/** Xen's rcu_lock_domain_by_any_id(): DOMID_SELF or a live domain id; undefined = -ESRCH. */
function domainByAnyId(hv: HypervisorServices, cur: Domain, domid: number): Domain | undefined {
  const d = domid === DOMID.SELF ? cur : hv.domain(domid);
  return d?.evtchn ? d : undefined;
}

/** Xen's dummy XSM_TARGET policy: self, or the control domain. */
function mayControl(cur: Domain, target: Domain): boolean {
  return cur === target || cur.privileged;
}

/** Xen's domain_vcpu(): the vCPU exists (online or not). */
function hasVcpu(d: Domain, vcpuId: number): boolean {
  return Number.isInteger(vcpuId) && vcpuId >= 0 && d.vcpus[vcpuId] !== undefined;
}

/**
 * Xen's get_free_port(): the lowest free port that is not busy (a FIFO port still on a
 * queue), allocating another bucket of ports when all valid ones are taken. -ENOSPC past
 * max_evtchn_port or the ABI's limit; -EINVAL once dying. The scan starts at `freeHint`
 * (no free port below it): dom0 holds two ports per guest, and 10,000 guests would make a
 * scan from 0 quadratic.
 */
export function getFreePort(e: DomainEvtchn): number {
  if (e.dying) return xenErr('EINVAL');
  let firstFree = -1;
  for (let port = e.freeHint; port <= e.maxEvtchnPort; port++) {
    if (port >= e.maxEvtchns) break;
    if (port < e.validPorts) {
      if (e.state[port] !== ECS.FREE) continue;
      if (firstFree < 0) firstFree = port;
      if (portIsBusy(e, port)) continue;
      e.freeHint = firstFree;
      return port;
    }
    e.growValid(port + 1);
    e.freeHint = firstFree >= 0 ? firstFree : port;
    return port;
  }
  if (firstFree >= 0) e.freeHint = firstFree;
  return xenErr('ENOSPC');
}

/** Xen's evtchn_free(): clears the pending state (so a re-bound port starts quiet) and resets the binding. */
function freePort(hv: HypervisorServices, d: Domain, port: number): void {
  const e = d.evtchn!;
  clearPending(hv, d, port);
  e.state[port] = ECS.FREE;
  e.notifyVcpu[port] = 0;
  e.remoteDomid[port] = 0;
  e.remotePort[port] = 0;
  e.virq[port] = 0;
  if (port < e.freeHint) e.freeHint = port;
}

/** EVTCHNOP_alloc_unbound: a port in `dom` that domain `remoteDom` may bind to. */
export function evtchnAllocUnbound(hv: HypervisorServices, cur: Domain, dom: number, remoteDom: number): number {
  const d = domainByAnyId(hv, cur, dom);
  if (d === undefined) return xenErr('ESRCH');
  const e = d.evtchn!;
  const port = getFreePort(e);
  if (port < 0) return port;
  if (!mayControl(cur, d)) return xenErr('EPERM');
  e.state[port] = ECS.UNBOUND;
  // DOMID_SELF names the caller, which is not `d` when the control domain allocates for another.
  e.remoteDomid[port] = remoteDom === DOMID.SELF ? cur.domid : remoteDom;
  return port;
}

/**
 * EVTCHNOP_bind_interdomain: connects a new local port to `remotePort` of `remoteDom`,
 * which must be unbound and waiting for this domain. Both ends become interdomain, and the
 * local port is set pending at once: an event sent before the bind would otherwise be lost.
 */
export function evtchnBindInterdomain(hv: HypervisorServices, ld: Domain, remoteDom: number, remotePort: number): number {
  const rd = domainByAnyId(hv, ld, remoteDom);
  if (rd === undefined) return xenErr('ESRCH');
  const le = ld.evtchn!;
  const re = rd.evtchn!;
  const lport = getFreePort(le);
  if (lport < 0) return lport;
  if (!re.portIsValid(remotePort)) return xenErr('EINVAL');
  if (re.state[remotePort] !== ECS.UNBOUND || re.remoteDomid[remotePort] !== ld.domid) return xenErr('EINVAL');
  le.state[lport] = ECS.INTERDOMAIN;
  le.remoteDomid[lport] = rd.domid;
  le.remotePort[lport] = remotePort;
  re.state[remotePort] = ECS.INTERDOMAIN;
  re.remoteDomid[remotePort] = ld.domid;
  re.remotePort[remotePort] = lport;
  setPending(hv, ld, le.notifyVcpu[lport]!, lport);
  return lport;
}

/** EVTCHNOP_bind_virq. A global VIRQ binds on vCPU 0 only (move it with bind_vcpu). */
export function evtchnBindVirq(_hv: HypervisorServices, d: Domain, virq: number, vcpuId: number): number {
  if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return xenErr('EINVAL');
  if (virqIsGlobal(virq) && vcpuId !== 0) return xenErr('EINVAL');
  if (!hasVcpu(d, vcpuId)) return xenErr('ENOENT');
  const e = d.evtchn!;
  const row = e.virqToEvtchn(vcpuId);
  if (row[virq] !== 0) return xenErr('EEXIST');
  const port = getFreePort(e);
  if (port < 0) return port;
  e.state[port] = ECS.VIRQ;
  e.notifyVcpu[port] = vcpuId;
  e.virq[port] = virq;
  row[virq] = port;
  return port;
}

/** EVTCHNOP_bind_ipi: a port that, when sent on, notifies vCPU `vcpuId` of the same domain. */
export function evtchnBindIpi(_hv: HypervisorServices, d: Domain, vcpuId: number): number {
  if (!hasVcpu(d, vcpuId)) return xenErr('ENOENT');
  const e = d.evtchn!;
  const port = getFreePort(e);
  if (port < 0) return port;
  e.state[port] = ECS.IPI;
  e.notifyVcpu[port] = vcpuId;
  return port;
}

/**
 * EVTCHNOP_bind_vcpu: which vCPU is notified. Allowed for unbound and interdomain ports and
 * global VIRQs; a per-vCPU VIRQ (VIRQ_TIMER...) or an IPI cannot move (-EINVAL). Events
 * already pending stay signalled where they were.
 */
export function evtchnBindVcpu(_hv: HypervisorServices, d: Domain, port: number, vcpuId: number): number {
  if (!hasVcpu(d, vcpuId)) return xenErr('ENOENT');
  const e = d.evtchn!;
  if (!e.portIsValid(port)) return xenErr('EINVAL');
  switch (e.state[port]) {
    case ECS.VIRQ:
      if (!virqIsGlobal(e.virq[port]!)) return xenErr('EINVAL');
      e.notifyVcpu[port] = vcpuId;
      return 0;
    case ECS.UNBOUND:
    case ECS.INTERDOMAIN:
      e.notifyVcpu[port] = vcpuId;
      return 0;
    default:
      return xenErr('EINVAL');
  }
}

/**
 * EVTCHNOP_close (and closing for reset/destroy). Closing one end of an interdomain channel
 * leaves the other end unbound, waiting for this domain again.
 */
export function evtchnClose(hv: HypervisorServices, d1: Domain, port1: number): number {
  const e1 = d1.evtchn!;
  if (!e1.portIsValid(port1)) return xenErr('EINVAL');
  switch (e1.state[port1]) {
    case ECS.FREE:
    case ECS.RESERVED:
      return xenErr('EINVAL');
    case ECS.UNBOUND:
    case ECS.IPI:
      break;
    case ECS.VIRQ: {
      const virq = e1.virq[port1]!;
      e1.virqToEvtchn(virqIsGlobal(virq) ? 0 : e1.notifyVcpu[port1]!)[virq] = 0;
      break;
    }
    case ECS.INTERDOMAIN: {
      const d2 = hv.domain(e1.remoteDomid[port1]!);
      const port2 = e1.remotePort[port1]!;
      freePort(hv, d1, port1);
      const e2 = d2?.evtchn;
      if (e2 && e2.state[port2] === ECS.INTERDOMAIN) {
        e2.state[port2] = ECS.UNBOUND;
        e2.remoteDomid[port2] = d1.domid;
        e2.remotePort[port2] = 0;
      }
      return 0;
    }
    default:
      return xenErr('EINVAL'); // PIRQ: pvsim has none
  }
  freePort(hv, d1, port1);
  return 0;
}

/**
 * EVTCHNOP_send: interdomain -> the peer's port is set pending (on the peer's notify vCPU);
 * IPI -> this port, on its vCPU; unbound -> dropped silently (success); otherwise -EINVAL.
 */
export function evtchnSend(hv: HypervisorServices, ld: Domain, lport: number): number {
  const e = ld.evtchn;
  if (!e || !e.portIsValid(lport)) return xenErr('EINVAL');
  switch (e.state[lport]) {
    case ECS.INTERDOMAIN: {
      const rd = hv.domain(e.remoteDomid[lport]!);
      const rport = e.remotePort[lport]!;
      if (!rd?.evtchn) break;
      // A scenario's faults on a guest's device channel (faults.ts), either way; the guest's
      // XenStore writes say which device a channel and ring are.
      if (ld.evtchnFaults && lport === ld.storeEvtchn) sniffStore(hv, ld.evtchnFaults, ld);
      if (ld.evtchnFaults && isDevicePort(ld, lport)) faultedSend(hv, ld.evtchnFaults, ld, lport, rd, rport, true);
      else if (rd.evtchnFaults && isDevicePort(rd, rport)) faultedSend(hv, rd.evtchnFaults, ld, lport, rd, rport, false);
      else setPending(hv, rd, rd.evtchn.notifyVcpu[rport]!, rport);
      break;
    }
    case ECS.IPI:
      setPending(hv, ld, e.notifyVcpu[lport]!, lport);
      break;
    case ECS.UNBOUND:
      break;
    default:
      return xenErr('EINVAL');
  }
  e.stats.sends++;
  return 0;
}

export interface EvtchnStatus {
  status: number; // EVTCHNSTAT_*
  vcpu: number;
  /** unbound: the domain allowed to bind; interdomain: the peer. */
  dom?: number;
  /** interdomain: the peer's port. */
  port?: number;
  virq?: number;
}

/** EVTCHNOP_status: the binding of `port` in `dom` (DOMID_SELF, or any domain for the control domain). */
export function evtchnStatus(hv: HypervisorServices, cur: Domain, dom: number, port: number): EvtchnStatus | number {
  const d = domainByAnyId(hv, cur, dom);
  if (d === undefined) return xenErr('ESRCH');
  const e = d.evtchn!;
  if (!e.portIsValid(port)) return xenErr('EINVAL');
  if (!mayControl(cur, d)) return xenErr('EPERM');
  const vcpu = e.notifyVcpu[port]!;
  switch (e.state[port]) {
    case ECS.UNBOUND:
      return { status: EVTCHNSTAT.unbound, vcpu, dom: e.remoteDomid[port]! };
    case ECS.INTERDOMAIN:
      return { status: EVTCHNSTAT.interdomain, vcpu, dom: e.remoteDomid[port]!, port: e.remotePort[port]! };
    case ECS.VIRQ:
      return { status: EVTCHNSTAT.virq, vcpu, virq: e.virq[port]! };
    case ECS.IPI:
      return { status: EVTCHNSTAT.ipi, vcpu };
    default:
      return { status: EVTCHNSTAT.closed, vcpu };
  }
}

/** EVTCHNOP_unmask: clears the mask bit and delivers the port if it is pending. Any valid port (even free) is accepted. */
export function evtchnUnmask(hv: HypervisorServices, d: Domain, port: number): number {
  const e = d.evtchn!;
  if (!e.portIsValid(port)) return xenErr('EINVAL');
  unmask(hv, d, port);
  return 0;
}

/**
 * EVTCHNOP_reset / reset_cont: closes every port of `dom`. The control domain may reset
 * another domain only while it is paused (Xen: -EINVAL otherwise). pvsim never preempts a
 * reset, so there is never one to continue: reset_cont answers -EBUSY as Xen does when no
 * reset is in progress.
 */
export function evtchnReset(hv: HypervisorServices, cur: Domain, dom: number, resuming: boolean): number {
  const d = domainByAnyId(hv, cur, dom);
  if (d === undefined) return xenErr('ESRCH');
  if (!mayControl(cur, d)) return xenErr('EPERM');
  if (d !== cur && d.state !== 'paused') return xenErr('EINVAL');
  if (resuming) return xenErr('EBUSY');
  const e = d.evtchn!;
  for (let port = 1; port < e.validPorts; port++) {
    if (e.state[port] !== ECS.FREE) evtchnClose(hv, d, port);
  }
  // A domain resetting itself goes back to the 2-level ABI (it may init_control again).
  if (d === cur) fifoDestroy(hv, e);
  return 0;
}

// Event channels: the API the rest of the hypervisor uses.
//
//   evtchnHooks                  the core's EventHooks (the Hypervisor installs them)
//   evtchnInit / evtchnDestroy   domain life cycle (builder / destroyDomain)
//   sendVirq / sendGlobalVirq    timer expiry, VIRQ_DOM_EXC, console...
//   evtchnSend                   EVTCHNOP_send on behalf of a domain (in-hypervisor users)
//   isPortValid / isPortPending  SCHEDOP_poll
//   updateUpcallLine             schedule-in: SEIP = upcall_pending && !upcall_mask
//   localEventsNeedDelivery, setUpcallMask   SCHEDOP_block
//
// The guest-facing hypercall is hypercall/event_channel_op.ts; the semantics are in
// ops.ts (the operations) and two_level.ts (the shared_info bitmaps and the upcall line).

import { NR_VIRQS, virqIsGlobal } from '../../protocol/xen/event_channel.ts';
import { SharedInfoPage } from '../../protocol/xen/shared_info.ts';
import type { Domain } from '../domain/domain.ts';
import type { EventHooks } from './hooks.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import { evtchnClose } from './ops.ts';
import { DEFAULT_MAX_EVTCHN_PORT, DomainEvtchn, ECS } from './state.ts';
import { sharedInfoWatcher, updateUpcallLine } from './upcall.ts';
import { portIsMasked, portIsPending, setPending } from './port.ts';
import { fifoDestroy } from './fifo.ts';

export { evtchnSend } from './ops.ts';
export { updateUpcallLine, localEventsNeedDelivery, setUpcallMask } from './upcall.ts';
export { DomainEvtchn, ECS, DEFAULT_MAX_EVTCHN_PORT } from './state.ts';

export interface EvtchnOptions {
  /** Highest port the domain may use (xl.cfg `event_channels` - 1); default 1023. */
  maxEvtchnPort?: number;
}

/**
 * Sets up a built domain's event channels over its shared_info frame (already filled by
 * initSharedInfo) and watches that frame so guest stores to evtchn_upcall_pending /
 * evtchn_upcall_mask move the upcall line at once.
 */
export function evtchnInit(hv: HypervisorServices, domain: Domain, opts: EvtchnOptions = {}): void {
  // The page is shared with the guest for the domain's life: give it storage now (frames
  // may be populated lazily) so the view below is the frame itself.
  const frame = hv.mem.ensureFrame(domain.sharedInfoMfn);
  domain.evtchn = new DomainEvtchn(new SharedInfoPage(frame), clampMaxPort(opts.maxEvtchnPort ?? DEFAULT_MAX_EVTCHN_PORT));
  hv.watchFrame(domain.sharedInfoMfn, sharedInfoWatcher(hv, domain));
}

/**
 * Closes every port of a dying domain (highest first, as Xen's evtchn_destroy): the other
 * end of each interdomain channel becomes unbound, waiting for this domain id. No port can
 * be allocated afterwards. Call before the shared_info frame is released.
 */
export function evtchnDestroy(hv: HypervisorServices, domain: Domain): void {
  const e = domain.evtchn;
  if (e === null || e.dying) return;
  e.dying = true;
  for (let port = e.validPorts - 1; port > 0; port--) {
    if (e.state[port] !== ECS.FREE) evtchnClose(hv, domain, port);
  }
  fifoDestroy(hv, e);
  hv.unwatchFrame(domain.sharedInfoMfn);
  // The frame goes back to the allocator and may be reused: keep a private copy so a stale
  // reference to this domain can never write into another domain's page.
  e.shared = new SharedInfoPage(e.shared.bytes.slice());
}

/** XEN_DOMCTL_set_max_evtchn: ports above `maxPort` can no longer be allocated (bound ones stay). */
export function evtchnSetMaxPort(domain: Domain, maxPort: number): void {
  if (domain.evtchn) domain.evtchn.maxEvtchnPort = clampMaxPort(maxPort);
}

function clampMaxPort(p: number): number {
  return Math.max(0, Math.min(Math.floor(p), 0x7fff_ffff));
}

/**
 * Raises `virq` in `domain`. A per-vCPU VIRQ (VIRQ_TIMER, VIRQ_DEBUG...) goes to the port
 * vCPU `vcpuId` bound; a global one (VIRQ_DOM_EXC, VIRQ_CONSOLE...) to the port bound on
 * vCPU 0, notifying whichever vCPU bind_vcpu chose. Returns false when nothing is bound.
 */
export function sendVirq(hv: HypervisorServices, domain: Domain, virq: number, vcpuId = 0): boolean {
  const e = domain.evtchn;
  if (e === null || !Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) return false;
  if (virqIsGlobal(virq)) {
    if (domain.vcpus[0] === undefined) return false;
    const port = e.virqToEvtchn(0)[virq]!;
    if (port === 0) return false;
    setPending(hv, domain, e.notifyVcpu[port]!, port);
    return true;
  }
  if (domain.vcpus[vcpuId] === undefined) return false;
  const port = e.virqToEvtchn(vcpuId)[virq]!;
  if (port === 0) return false;
  setPending(hv, domain, vcpuId, port);
  return true;
}

/** Xen's send_global_virq(): a global VIRQ for the hardware domain (dom0), e.g. VIRQ_DOM_EXC. */
export function sendGlobalVirq(hv: HypervisorServices, virq: number): boolean {
  const dom0 = hv.domain(0);
  return dom0 !== undefined && virqIsGlobal(virq) && sendVirq(hv, dom0, virq);
}

/** Xen's port_is_valid(): SCHEDOP_poll answers -EINVAL for a port that is not. */
export function isPortValid(domain: Domain, port: number): boolean {
  return domain.evtchn !== null && domain.evtchn.portIsValid(port);
}

/** The port's evtchn_pending bit (SCHEDOP_poll's test); false for an invalid port. */
export function isPortPending(domain: Domain, port: number): boolean {
  const e = domain.evtchn;
  return e !== null && e.portIsValid(port) && portIsPending(e, port);
}

/** One line per port in use, like Xen's 'e' debug key: port [pending/masked/sel] state. */
export function evtchnDump(domain: Domain): string[] {
  const e = domain.evtchn;
  if (e === null) return [];
  const names = ['free', 'reserved', 'unbound', 'interdomain', 'pirq', 'virq', 'ipi'];
  const out: string[] = [];
  for (let port = 1; port < e.validPorts; port++) {
    const s = e.state[port]!;
    if (s === ECS.FREE) continue;
    const n = e.notifyVcpu[port]!;
    const sel = e.fifo ? 0 : n < 32 ? (e.shared.pendingSel(n) >>> (port >>> 5)) & 1 : 0;
    let line = `${port} [${+portIsPending(e, port)}/${+portIsMasked(e, port)}/${sel}]: s=${names[s]} n=${n}`;
    if (s === ECS.UNBOUND) line += ` d=${e.remoteDomid[port]}`;
    if (s === ECS.INTERDOMAIN) line += ` d=${e.remoteDomid[port]} p=${e.remotePort[port]}`;
    if (s === ECS.VIRQ) line += ` v=${e.virq[port]}`;
    out.push(line);
  }
  return out;
}

/** The event layer as the core's EventHooks (hooks.ts). */
export function evtchnHooks(hv: HypervisorServices): EventHooks {
  return {
    sendVirq: (domain, virq, vcpuId) => {
      sendVirq(hv, domain, virq, vcpuId);
    },
    updateUpcallLine: (vcpu) => {
      updateUpcallLine(hv, vcpu);
    },
    isPortPending,
    initDomain: (domain) => evtchnInit(hv, domain),
    destroyDomain: (domain) => evtchnDestroy(hv, domain),
  };
}

// PV drivers on HVM (what Xen calls PVHVM): the Xen interface an HVM guest reaches besides
// its emulated board. As on Xen on ARM, the guest finds Xen through a `/hypervisor` device-
// tree node (xenguest/hvm_image.ts), maps shared_info and its grant-table frames at guest-
// physical frames it chooses in that node's region (XENMEM_add_to_physmap), reads its
// xenstore and console rings from HVM params (HVMOP_get_param), and takes event-channel
// upcalls as an interrupt (a PLIC source, as ARM's event-channel PPI).
//
// Hypercalls: an RISC-V guest's ecall from (virtual) S-mode already goes to SBI, so Xen's
// calls use an SBI extension of their own in the firmware-specific range (SBI v2.0, 3.x:
// 0x0A000000-0x0AFFFFFF belongs to the SBI implementation, here Xen, impl id 7): a7 =
// XEN_SBI_EID, a6 = the hypercall number, a0..a4 the arguments; a0 = SBI_SUCCESS and a1 =
// Xen's return value (>= 0, or a negative Xen errno). It never collides with a standard SBI
// call, as ARM's `hvc #0xEA1` never collides with PSCI's `hvc #0`. The same in trap and hw
// mode (both reach sbi.ts). Pointer arguments are guest virtual addresses, translated
// through the guest's own page tables (guestTranslate in each mode).
//
// Only the calls a PVHVM guest needs are served (Xen on ARM's set, less what pvsim lacks):
// xen_version, console_io, sched_op, event_channel_op, grant_table_op (query_size),
// memory_op (add_to_physmap, current/maximum_reservation) and hvm_op (get_param,
// set_param). The PV MMU, vcpu_op, multicall and the control hypercalls are -ENOSYS.

import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { HVM_BOARD } from '../../xenguest/hvm_image.ts';
import { HYPERVISOR } from '../../protocol/xen/hypercall.ts';
import { GNTTABOP } from '../../protocol/xen/grant_table.ts';
import { XENMEM, MEMOP_CMD_MASK } from '../../protocol/xen/memory.ts';
import { DOMID } from '../../protocol/xen/xen.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import type { Domain, Vcpu } from '../domain/domain.ts';
import type { HypercallHandler, HypervisorServices } from '../hypercall/types.ts';
import { consoleIo } from '../hypercall/console_io.ts';
import { schedOp } from '../hypercall/sched_op.ts';
import { xenVersion } from '../hypercall/xen_version.ts';
import { eventChannelOp } from '../hypercall/event_channel_op.ts';
import { grantTableOp } from '../hypercall/grant_table_op.ts';
import { memoryOp } from '../hypercall/memory_op.ts';
import { copyFromGuest, copyToGuest } from '../mm/guest_access.ts';
import { mmContext } from '../mm/page_types.ts';

/** The SBI extension of Xen hypercalls: firmware-specific range, low 24 bits "XEN". */
export const XEN_SBI_EID = 0x0a58454e;

/**
 * The guest-physical region of the `/hypervisor` node's `reg` (Xen on ARM's GUEST_GNTTAB_BASE
 * and size): where the guest places shared_info and grant-table frames.
 */
export const XEN_GRANT_REGION = { base: HVM_BOARD.xen.grantBase, size: HVM_BOARD.xen.grantSize } as const;
/** The "magic pages" (Xen on ARM's GUEST_MAGIC_BASE): the console ring, then the xenstore ring. */
export const XEN_MAGIC_BASE = HVM_BOARD.xen.magicBase;
export const XEN_CONSOLE_GFN = XEN_MAGIC_BASE / PAGE_SIZE;
export const XEN_STORE_GFN = XEN_CONSOLE_GFN + 1;
/** The PLIC source of the event-channel upcall (the `/hypervisor` node's interrupts; ARM's PPI is 31 too). */
export const XEN_EVTCHN_IRQ = HVM_BOARD.xen.evtchnIrq;

/** XENMEM_add_to_physmap and struct xen_add_to_physmap (RV32: domid 0, size 2, space 4, idx 8, gpfn 12). */
export const XENMEM_add_to_physmap = 7;
export const XEN_ADD_TO_PHYSMAP = { domid: 0, size: 2, space: 4, idx: 8, gpfn: 12, SIZE: 16 } as const;
export const XENMAPSPACE = { shared_info: 0, grant_table: 1 } as const;
export const XENMAPIDX_grant_table_status = 0x8000_0000;

/** HVMOP_* and struct xen_hvm_param { domid_t domid; uint32_t index; uint64_t value; } (16 bytes). */
export const HVMOP = { set_param: 0, get_param: 1 } as const;
export const XEN_HVM_PARAM = { domid: 0, index: 4, value: 8, SIZE: 16 } as const;
export const HVM_PARAM = { CALLBACK_IRQ: 0, STORE_PFN: 1, STORE_EVTCHN: 2, CONSOLE_PFN: 17, CONSOLE_EVTCHN: 18 } as const;
export const HVM_NR_PARAMS = 39;

/** What the platform needs of the board. */
export interface XenPlatformBoard {
  readonly domain: Domain;
  /** The special p2m changed: every cached guest-physical translation must go. */
  p2mChanged(gfn: number, mfn: number | null): void;
}

/**
 * One HVM domain's Xen platform state: the frames it placed outside RAM (gfn -> mfn; each
 * machine frame at one gfn at most), and its upcall lines.
 */
export class XenPlatform {
  private readonly special = new Map<number, number>();
  private readonly gfnOfMfn = new Map<number, number>();
  /** vCPUs whose upcall line is up (bit per vCPU id < 32). */
  upcallMask = 0;

  constructor(private readonly board: XenPlatformBoard, private readonly setIrq: (level: boolean) => void) {
    const d = board.domain;
    // The rings are there from the start, as libxl places them before the guest runs.
    if (d.consoleMfn) this.place(XEN_CONSOLE_GFN, d.consoleMfn);
    if (d.storeMfn) this.place(XEN_STORE_GFN, d.storeMfn);
  }

  /** Machine frame at special gfn `gfn`, or -1. */
  lookup(gfn: number): number {
    return this.special.get(gfn) ?? -1;
  }

  get mappings(): ReadonlyMap<number, number> {
    return this.special;
  }

  private place(gfn: number, mfn: number): void {
    const old = this.gfnOfMfn.get(mfn);
    if (old !== undefined) {
      // A frame moves (Xen: the page leaves its old gfn).
      this.special.delete(old);
      this.board.p2mChanged(old, null);
    }
    const prev = this.special.get(gfn);
    if (prev !== undefined) this.gfnOfMfn.delete(prev);
    this.special.set(gfn, mfn);
    this.gfnOfMfn.set(mfn, gfn);
    this.board.p2mChanged(gfn, mfn);
  }

  /** XENMEM_add_to_physmap for the domain itself: 0 or a negative errno. */
  addToPhysmap(hv: HypervisorServices, space: number, idx: number, gpfn: number): number {
    const d = this.board.domain;
    const first = XEN_GRANT_REGION.base / PAGE_SIZE;
    if (!(gpfn >= first && gpfn < first + XEN_GRANT_REGION.size / PAGE_SIZE)) return xenErr('EINVAL');
    let mfn: number;
    if (space === XENMAPSPACE.shared_info) {
      if (idx !== 0) return xenErr('EINVAL');
      mfn = d.sharedInfoMfn;
    } else if (space === XENMAPSPACE.grant_table) {
      // No v2 status frames (pvsim's grant tables are v1 only).
      if ((idx & XENMAPIDX_grant_table_status) !== 0) return xenErr('EINVAL');
      const gt = d.gnttab;
      if (!gt || idx >= gt.maxFrames) return xenErr('EINVAL');
      if (!gt.grow(mmContext(hv), idx + 1)) return xenErr('ENOMEM');
      mfn = gt.frames[idx]!;
    } else return xenErr('EINVAL');
    this.place(gpfn, mfn);
    return 0;
  }

  /** HVM param `index` of this domain, or a negative errno. */
  getParam(index: number): number {
    const d = this.board.domain;
    if (index >= HVM_NR_PARAMS) return xenErr('EINVAL');
    switch (index) {
      case HVM_PARAM.STORE_PFN: return d.storeMfn ? XEN_STORE_GFN : 0;
      case HVM_PARAM.STORE_EVTCHN: return d.storeEvtchn;
      case HVM_PARAM.CONSOLE_PFN: return d.consoleMfn ? XEN_CONSOLE_GFN : 0;
      case HVM_PARAM.CONSOLE_EVTCHN: return d.consoleEvtchn;
      case HVM_PARAM.CALLBACK_IRQ: return XEN_EVTCHN_IRQ;
      default: return 0;
    }
  }

  /** The upcall line of vCPU `id` (evtchn_upcall_pending && !mask): the PLIC source is their OR. Returns true if it rose. */
  setUpcall(id: number, on: boolean): boolean {
    const bit = id < 32 ? (1 << id) >>> 0 : 0;
    const was = (this.upcallMask & bit) !== 0;
    this.upcallMask = on ? (this.upcallMask | bit) >>> 0 : (this.upcallMask & ~bit) >>> 0;
    this.setIrq(this.upcallMask !== 0);
    return on && !was;
  }
}

/** A guest's struct's bytes, or null (-EFAULT). */
function readStruct(vcpu: Vcpu, va: number, size: number): DataView | null {
  const b = copyFromGuest(vcpu.hart, va, size);
  return b ? new DataView(b.buffer, b.byteOffset, b.byteLength) : null;
}

/** The HVM guest's memory_op: add_to_physmap (its own domain) and the reservation queries. */
const hvmMemoryOp = (platform: XenPlatform): HypercallHandler => (ctx, cmd, arg, a2, a3, a4) => {
  const op = cmd & MEMOP_CMD_MASK;
  if (op === XENMEM.current_reservation || op === XENMEM.maximum_reservation) return memoryOp(ctx, cmd, arg, a2, a3, a4);
  if (op !== XENMEM_add_to_physmap) return xenErr('ENOSYS');
  const s = readStruct(ctx.vcpu, arg, XEN_ADD_TO_PHYSMAP.SIZE);
  if (!s) return xenErr('EFAULT');
  const domid = s.getUint16(XEN_ADD_TO_PHYSMAP.domid, true);
  // Only its own physmap (a device model's foreign mappings go through dom0's platform).
  if (domid !== DOMID.SELF && domid !== ctx.vcpu.domain.domid) return xenErr('EPERM');
  return platform.addToPhysmap(ctx.hv, s.getUint32(XEN_ADD_TO_PHYSMAP.space, true), s.getUint32(XEN_ADD_TO_PHYSMAP.idx, true), s.getUint32(XEN_ADD_TO_PHYSMAP.gpfn, true));
};

/** HVMOP_get_param / set_param on the guest's own domain. The toolstack's params are read-only to it. */
const hvmOp = (platform: XenPlatform): HypercallHandler => (ctx, op, arg) => {
  if (op !== HVMOP.get_param && op !== HVMOP.set_param) return xenErr('ENOSYS');
  const s = readStruct(ctx.vcpu, arg, XEN_HVM_PARAM.SIZE);
  if (!s) return xenErr('EFAULT');
  const domid = s.getUint16(XEN_HVM_PARAM.domid, true);
  if (domid !== DOMID.SELF && domid !== ctx.vcpu.domain.domid) return xenErr('EPERM');
  const index = s.getUint32(XEN_HVM_PARAM.index, true);
  if (index >= HVM_NR_PARAMS) return xenErr('EINVAL');
  if (op === HVMOP.set_param) return xenErr('EPERM');
  const v = platform.getParam(index);
  if (v < 0) return v;
  const out = new Uint8Array(8);
  new DataView(out.buffer).setUint32(0, v >>> 0, true);
  return copyToGuest(ctx.vcpu.hart, (arg + XEN_HVM_PARAM.value) >>> 0, out) ? 0 : xenErr('EFAULT');
};

/** grant_table_op for an HVM guest: query_size (its frames come from add_to_physmap). */
const hvmGrantTableOp: HypercallHandler = (ctx, cmd, a1, a2, a3, a4) =>
  cmd === GNTTABOP.query_size ? grantTableOp(ctx, cmd, a1, a2, a3, a4) : xenErr('ENOSYS');

/** The hypercall table of an HVM domain (Xen's hvm_hypercall_table; ARM's arm_hypercall_table). */
export function hvmHypercallTable(platform: XenPlatform): ReadonlyMap<number, HypercallHandler> {
  return new Map<number, HypercallHandler>([
    [HYPERVISOR.xen_version, xenVersion],
    [HYPERVISOR.console_io, consoleIo],
    [HYPERVISOR.sched_op, schedOp],
    [HYPERVISOR.event_channel_op, eventChannelOp],
    [HYPERVISOR.grant_table_op, hvmGrantTableOp],
    [HYPERVISOR.memory_op, hvmMemoryOp(platform)],
    [HYPERVISOR.hvm_op, hvmOp(platform)],
  ]);
}

/**
 * A software Sv32 walk of the guest's own tables for a supervisor access (hypercall
 * pointers in trap mode): the guest-physical address, or -1 when the guest itself would
 * fault. A/D bits are not set for the guest: an entry without A (or without D, for a write)
 * is a fault here, as on a hart that does not update them (the native kernel presets both).
 */
export function guestWalkSv32(satp: number, va: number, access: 'r' | 'w', sum: boolean, mxr: boolean, readPte: (gpa: number) => number | null): number {
  va >>>= 0;
  if ((satp >>> 31) === 0) return va; // Bare
  let table = (satp & 0x3fffff) * PAGE_SIZE;
  for (let level = 1; level >= 0; level--) {
    const vpn = level === 1 ? va >>> 22 : (va >>> 12) & 0x3ff;
    const pte = readPte(table + vpn * 4);
    if (pte === null) return -1;
    if ((pte & 1) === 0 || ((pte & 2) === 0 && (pte & 4) !== 0)) return -1;
    const leaf = (pte & 0xa) !== 0;
    const ppn = pte >>> 10;
    if (!leaf) {
      if (level === 0) return -1;
      table = ppn * PAGE_SIZE;
      continue;
    }
    if ((pte & 0x10) !== 0 && !sum) return -1; // U page from S without SUM
    const readable = (pte & 2) !== 0 || (mxr && (pte & 8) !== 0);
    if (access === 'r' ? !readable : (pte & 4) === 0) return -1;
    if ((pte & 0x40) === 0 || (access === 'w' && (pte & 0x80) === 0)) return -1;
    if (level === 1) {
      if ((ppn & 0x3ff) !== 0) return -1; // misaligned megapage
      return ((ppn >>> 10) * 2 ** 22 + (va & 0x3fffff));
    }
    return ppn * PAGE_SIZE + (va & 0xfff);
  }
  return -1;
}

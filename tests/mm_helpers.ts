// Test fixtures for the PV MMU, reservations and grant tables: PV guests whose hypercalls
// the test issues directly (as the trap handler would), typed wrappers that lay out the
// argument structs in guest memory, and shortcuts to the bootstrap layout.

import { expect } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { dispatchHypercall } from '../hypervisor/hypercall/index.ts';
import { copyFromGuest, copyToGuest } from '../hypervisor/mm/guest_access.ts';
import { auditFrames } from '../hypervisor/mm/domain_mm.ts';
import { PTE_A, PTE_D, PTE_R, PTE_V, PTE_W, PTE_X, pte } from '../protocol/sv32.ts';
import type { Domain, Vcpu } from '../hypervisor/domain/domain.ts';
import type { PvLayout } from '../xenguest/pv_bootstrap.ts';
import { HYPERVISOR } from '../protocol/xen/hypercall.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { MMU_UPDATE, MMUEXT_OP } from '../protocol/xen/mm.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { XEN_MEMORY_RESERVATION } from '../protocol/xen/memory.ts';
import {
  GNTTABOP,
  GNTTAB_COPY,
  GNTTAB_MAP_GRANT_REF,
  GNTTAB_QUERY_SIZE,
  GNTTAB_SETUP_TABLE,
  GNTTAB_UNMAP_GRANT_REF,
  GRANT_ENTRY_V1,
} from '../protocol/xen/grant_table.ts';
import { pvImage, SPIN, PV_BASE } from './helpers/pv_image.ts';

export const MiB = 1024 * 1024;
export const E = (name: keyof typeof XEN_ERRNO): number => -XEN_ERRNO[name];
export const RW = PTE_V | PTE_R | PTE_W | PTE_A | PTE_D;
export const RO = PTE_V | PTE_R | PTE_A;
export const RWX = RW | PTE_X;

/** Guest pages (kernel bss) used for hypercall arguments; 16 pages follow PV_BASE's code page. */
export const ARG = PV_BASE + 0x1000;
export const ARG2 = PV_BASE + 0x2000;
export const LIST = PV_BASE + 0x3000;
export const DONE = PV_BASE + 0x4ff0;
/** A kernel bss page nothing uses: free to remap. */
export const SPARE_VA = PV_BASE + 0x8000;
export const UNMAPPED = 0x1000;

export function machine(memMiB = 128): Hypervisor {
  return new Hypervisor({ machineMemoryBytes: memMiB * MiB });
}

export interface GuestOptions {
  privileged?: boolean;
  /** Default 8 MiB: the bootstrap mapping covers the first 4 MiB, the rest is unmapped. */
  memoryBytes?: number;
  vcpus?: number;
  name?: string;
}

export class MmGuest {
  readonly vcpu: Vcpu;
  constructor(
    readonly hv: Hypervisor,
    readonly domain: Domain,
    readonly layout: PvLayout,
  ) {
    this.vcpu = domain.vcpus[0]!;
  }

  static create(hv: Hypervisor, opts: GuestOptions = {}): MmGuest {
    const { domain, layout } = hv.createPvDomain(pvImage(SPIN, { bssBytes: 16 * 4096 }), {
      name: opts.name ?? 'guest',
      memoryBytes: opts.memoryBytes ?? 8 * MiB,
      privileged: opts.privileged,
      vcpus: opts.vcpus,
    });
    hv.unpause(domain);
    return new MmGuest(hv, domain, layout);
  }

  get domid(): number {
    return this.domain.domid;
  }

  call(nr: number, ...args: number[]): number {
    return dispatchHypercall({ hv: this.hv, vcpu: this.vcpu }, nr, args[0] ?? 0, args[1] ?? 0, args[2] ?? 0, args[3] ?? 0, args[4] ?? 0);
  }

  put(va: number, data: Uint8Array): void {
    expect(copyToGuest(this.vcpu.hart, va, data)).toBe(true);
  }

  get(va: number, n: number): Uint8Array {
    const b = copyFromGuest(this.vcpu.hart, va, n);
    expect(b).not.toBeNull();
    return b!;
  }

  u32(va: number): number {
    return new DataView(this.get(va, 4).buffer).getUint32(0, true);
  }

  putU32(va: number, ...words: number[]): void {
    const b = new Uint8Array(words.length * 4);
    const dv = new DataView(b.buffer);
    words.forEach((w, i) => dv.setUint32(i * 4, w >>> 0, true));
    this.put(va, b);
  }

  // --- Layout ---------------------------------------------------------------------------

  mfn(pfn: number): number {
    return this.domain.p2m[pfn]!;
  }

  /** The frame behind a bootstrap-mapped VA. */
  mfnOfVa(va: number): number {
    return this.mfn(Math.floor((va - this.layout.virtBase) / 4096));
  }

  get l2Mfn(): number {
    return this.mfnOfVa(this.layout.ptVa);
  }

  /** The bootstrap L1 covering `va`. */
  l1MfnFor(va: number): number {
    const i = Math.floor((va - this.layout.virtBase) / (4 * MiB));
    return this.mfnOfVa(this.layout.ptVa + 4096 * (1 + i));
  }

  /** Machine address of the bootstrap L1 entry for `va`. */
  ptePa(va: number): number {
    return this.l1MfnFor(va) * 4096 + ((va >>> 12) & 0x3ff) * 4;
  }

  /** Machine address of the L2 entry for `va`. */
  l2ePa(va: number, l2 = this.l2Mfn): number {
    return l2 * 4096 + (va >>> 22) * 4;
  }

  /** Frames the bootstrap mapping does not cover (8 MiB guests: pfn 1024 up). */
  freeMfn(i: number): number {
    const first = (this.layout.mappedEnd - this.layout.virtBase) / 4096;
    expect(first + i).toBeLessThan(this.domain.p2m.length);
    return this.mfn(first + i);
  }

  /** Reads a PTE by machine address (the hypervisor's view). */
  readPhys32(pa: number): number {
    return this.hv.mem.read32(pa);
  }

  /** Writes guest-visible bytes straight into a frame (as if the guest had written them through a mapping). */
  fillFrame(mfn: number, word: number): void {
    const w = this.hv.frames.frameWords(mfn);
    w.fill(word | 0);
  }

  // --- PV MMU -----------------------------------------------------------------------------

  /** mmu_update with `reqs` = [ptr, val] (val may carry a high word as [lo, hi]). */
  mmuUpdate(reqs: [number, number | [number, number]][], foreigndom: number = DOMID.SELF, opts: { at?: number; done?: number; count?: number } = {}): { rc: number; done: number } {
    const at = opts.at ?? ARG;
    const b = new Uint8Array(reqs.length * MMU_UPDATE.SIZE);
    const dv = new DataView(b.buffer);
    reqs.forEach(([ptr, val], i) => {
      const o = i * MMU_UPDATE.SIZE;
      dv.setUint32(o + MMU_UPDATE.ptr, ptr % 2 ** 32, true);
      dv.setUint32(o + MMU_UPDATE.ptr + 4, Math.floor(ptr / 2 ** 32), true);
      const [lo, hi] = Array.isArray(val) ? val : [val, 0];
      dv.setUint32(o + MMU_UPDATE.val, lo >>> 0, true);
      dv.setUint32(o + MMU_UPDATE.val + 4, hi >>> 0, true);
    });
    if (b.length) this.put(at, b);
    const doneVa = opts.done ?? DONE;
    if (doneVa) this.putU32(doneVa, 0xdead);
    const rc = this.call(HYPERVISOR.mmu_update, at, opts.count ?? reqs.length, doneVa, foreigndom);
    return { rc, done: doneVa ? this.u32(doneVa) : -1 };
  }

  /** Writes one PTE through mmu_update: the errno. */
  setPte(pa: number, val: number, foreigndom: number = DOMID.SELF): number {
    return this.mmuUpdate([[pa, val]], foreigndom).rc;
  }

  mmuext(ops: [number, number, number?][], foreigndom: number = DOMID.SELF, opts: { at?: number } = {}): { rc: number; done: number } {
    const at = opts.at ?? ARG;
    const b = new Uint8Array(ops.length * MMUEXT_OP.SIZE);
    const dv = new DataView(b.buffer);
    ops.forEach(([cmd, a1, a2], i) => {
      dv.setUint32(i * 12 + MMUEXT_OP.cmd, cmd, true);
      dv.setUint32(i * 12 + MMUEXT_OP.arg1, a1 >>> 0, true);
      dv.setUint32(i * 12 + MMUEXT_OP.arg2, (a2 ?? 0) >>> 0, true);
    });
    if (b.length) this.put(at, b);
    this.putU32(DONE, 0xdead);
    const rc = this.call(HYPERVISOR.mmuext_op, at, ops.length, DONE, foreigndom);
    return { rc, done: this.u32(DONE) };
  }

  uvm(va: number, val: number, flags = 0, valHi = 0): number {
    return this.call(HYPERVISOR.update_va_mapping, va, val, valHi, flags);
  }

  // --- memory_op ----------------------------------------------------------------------

  /** A reservation op: returns [extents done, extent_start contents after]. */
  memop(cmd: number, list: number[] | null, opts: { order?: number; domid?: number; memFlags?: number; nr?: number; listVa?: number } = {}): { rc: number; list: number[] } {
    const n = opts.nr ?? list?.length ?? 0;
    const listVa = opts.listVa ?? (list ? LIST : 0);
    if (list && list.length) this.putU32(listVa, ...list);
    const r = new Uint8Array(XEN_MEMORY_RESERVATION.SIZE);
    const dv = new DataView(r.buffer);
    dv.setUint32(XEN_MEMORY_RESERVATION.extent_start, listVa, true);
    dv.setUint32(XEN_MEMORY_RESERVATION.nr_extents, n, true);
    dv.setUint32(XEN_MEMORY_RESERVATION.extent_order, opts.order ?? 0, true);
    dv.setUint32(XEN_MEMORY_RESERVATION.mem_flags, opts.memFlags ?? 0, true);
    dv.setUint16(XEN_MEMORY_RESERVATION.domid, opts.domid ?? DOMID.SELF, true);
    this.put(ARG2, r);
    const rc = this.call(HYPERVISOR.memory_op, cmd, ARG2);
    const out = list && list.length ? [...new Uint32Array(this.get(listVa, n * 4).buffer)] : [];
    return { rc, list: out };
  }

  // --- Grant tables -------------------------------------------------------------------

  gnttab(cmd: number, args: Uint8Array, count = 1, at = ARG): { rc: number; out: DataView } {
    if (args.length) this.put(at, args);
    const rc = this.call(HYPERVISOR.grant_table_op, cmd, at, count);
    const out = new DataView(copyFromGuest(this.vcpu.hart, at, Math.max(args.length, 4))?.buffer ?? new ArrayBuffer(args.length));
    return { rc, out };
  }

  setupTable(nrFrames: number, dom: number = DOMID.SELF, listVa = LIST): { rc: number; status: number; frames: number[] } {
    const S = GNTTAB_SETUP_TABLE;
    const b = new Uint8Array(S.SIZE);
    const dv = new DataView(b.buffer);
    dv.setUint16(S.dom, dom, true);
    dv.setUint32(S.nr_frames, nrFrames, true);
    dv.setInt16(S.status, 0x7777, true);
    dv.setUint32(S.frame_list, listVa, true);
    const { rc, out } = this.gnttab(GNTTABOP.setup_table, b);
    const status = out.getInt16(S.status, true);
    const frames = status === 0 && nrFrames > 0 ? [...new Uint32Array(this.get(listVa, nrFrames * 4).buffer)] : [];
    return { rc, status, frames };
  }

  querySize(dom: number = DOMID.SELF): { rc: number; status: number; nr: number; max: number } {
    const S = GNTTAB_QUERY_SIZE;
    const b = new Uint8Array(S.SIZE);
    new DataView(b.buffer).setUint16(S.dom, dom, true);
    const { rc, out } = this.gnttab(GNTTABOP.query_size, b);
    return { rc, status: out.getInt16(S.status, true), nr: out.getUint32(S.nr_frames, true), max: out.getUint32(S.max_nr_frames, true) };
  }

  /** Sets up a one-frame grant table and maps it read-write at `va` (which must have an L1 entry). */
  shareGrantTable(va: number): number {
    const { status, frames } = this.setupTable(1);
    expect(status).toBe(0);
    expect(this.uvm(va, pte(frames[0]!, RW))).toBe(0);
    this.grantVa = va;
    return frames[0]!;
  }

  grantVa = 0;

  /** Writes grant entry `ref` through the guest's own mapping of its table, as a granting kernel would. */
  grant(ref: number, domid: number, frame: number, flags: number): void {
    const b = new Uint8Array(GRANT_ENTRY_V1.SIZE);
    const dv = new DataView(b.buffer);
    dv.setUint16(GRANT_ENTRY_V1.domid, domid, true);
    dv.setUint32(GRANT_ENTRY_V1.frame, frame, true);
    dv.setUint16(GRANT_ENTRY_V1.flags, flags, true);
    this.put(this.grantVa + ref * GRANT_ENTRY_V1.SIZE, b);
  }

  grantFlags(ref: number): number {
    return new DataView(this.get(this.grantVa + ref * 8, 2).buffer).getUint16(0, true);
  }

  setGrantFlags(ref: number, flags: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, flags, true);
    this.put(this.grantVa + ref * 8, b);
  }

  /** map_grant_ref ops; returns each op's status, handle and dev_bus_addr. */
  mapGrants(ops: { hostAddr?: number; flags: number; ref: number; dom: number }[], at = ARG): { rc: number; results: { status: number; handle: number; devBusAddr: number }[] } {
    const S = GNTTAB_MAP_GRANT_REF;
    const b = new Uint8Array(ops.length * S.SIZE);
    const dv = new DataView(b.buffer);
    ops.forEach((op, i) => {
      const o = i * S.SIZE;
      dv.setUint32(o + S.host_addr, (op.hostAddr ?? 0) % 2 ** 32, true);
      dv.setUint32(o + S.host_addr + 4, Math.floor((op.hostAddr ?? 0) / 2 ** 32), true);
      dv.setUint32(o + S.flags, op.flags, true);
      dv.setUint32(o + S.ref, op.ref, true);
      dv.setUint16(o + S.dom, op.dom, true);
      dv.setInt16(o + S.status, 0x7777, true);
      dv.setUint32(o + S.handle, 0xeeeeeeee, true);
    });
    if (b.length) this.put(at, b);
    const rc = this.call(HYPERVISOR.grant_table_op, GNTTABOP.map_grant_ref, at, ops.length);
    const out = ops.length ? new DataView(this.get(at, b.length).buffer) : dv;
    const results = ops.map((_, i) => ({
      status: out.getInt16(i * S.SIZE + S.status, true),
      handle: out.getUint32(i * S.SIZE + S.handle, true),
      devBusAddr: out.getUint32(i * S.SIZE + S.dev_bus_addr, true) + out.getUint32(i * S.SIZE + S.dev_bus_addr + 4, true) * 2 ** 32,
    }));
    return { rc, results };
  }

  mapGrant(op: { hostAddr?: number; flags: number; ref: number; dom: number }): { status: number; handle: number; devBusAddr: number } {
    const r = this.mapGrants([op]);
    expect(r.rc).toBe(0);
    return r.results[0]!;
  }

  unmapGrants(ops: { hostAddr?: number; devBusAddr?: number; handle: number }[], at = ARG): { rc: number; statuses: number[] } {
    const S = GNTTAB_UNMAP_GRANT_REF;
    const b = new Uint8Array(ops.length * S.SIZE);
    const dv = new DataView(b.buffer);
    ops.forEach((op, i) => {
      const o = i * S.SIZE;
      dv.setUint32(o + S.host_addr, (op.hostAddr ?? 0) >>> 0, true);
      dv.setUint32(o + S.dev_bus_addr, (op.devBusAddr ?? 0) % 2 ** 32, true);
      dv.setUint32(o + S.dev_bus_addr + 4, Math.floor((op.devBusAddr ?? 0) / 2 ** 32), true);
      dv.setUint32(o + S.handle, op.handle, true);
      dv.setInt16(o + S.status, 0x7777, true);
    });
    if (b.length) this.put(at, b);
    const rc = this.call(HYPERVISOR.grant_table_op, GNTTABOP.unmap_grant_ref, at, ops.length);
    const out = ops.length ? new DataView(this.get(at, b.length).buffer) : dv;
    return { rc, statuses: ops.map((_, i) => out.getInt16(i * S.SIZE + S.status, true)) };
  }

  unmapGrant(op: { hostAddr?: number; devBusAddr?: number; handle: number }): number {
    const r = this.unmapGrants([op]);
    expect(r.rc).toBe(0);
    return r.statuses[0]!;
  }

  copyGrants(
    ops: { src: [number, number, number]; dst: [number, number, number]; len: number; flags: number }[],
    at = ARG,
  ): { rc: number; statuses: number[] } {
    const S = GNTTAB_COPY;
    const b = new Uint8Array(ops.length * S.SIZE);
    const dv = new DataView(b.buffer);
    ops.forEach((op, i) => {
      const o = i * S.SIZE;
      dv.setUint32(o + S.source_u, op.src[0], true);
      dv.setUint16(o + S.source_domid, op.src[1], true);
      dv.setUint16(o + S.source_offset, op.src[2], true);
      dv.setUint32(o + S.dest_u, op.dst[0], true);
      dv.setUint16(o + S.dest_domid, op.dst[1], true);
      dv.setUint16(o + S.dest_offset, op.dst[2], true);
      dv.setUint16(o + S.len, op.len, true);
      dv.setUint16(o + S.flags, op.flags, true);
      dv.setInt16(o + S.status, 0x7777, true);
    });
    if (b.length) this.put(at, b);
    const rc = this.call(HYPERVISOR.grant_table_op, GNTTABOP.copy, at, ops.length);
    const out = ops.length ? new DataView(this.get(at, b.length).buffer) : dv;
    return { rc, statuses: ops.map((_, i) => out.getInt16(i * S.SIZE + S.status, true)) };
  }
}

/** Every domain of the machine passes the reference-count audit. */
export function expectConsistent(hv: Hypervisor): void {
  expect(auditFrames(hv.frames, hv.domains.values())).toEqual([]);
}

/** A snapshot of every frame's references and type, to check that a refused request changed nothing. */
export function frameState(hv: Hypervisor, mfns: number[]): string[] {
  return mfns.map((m) => `${m}:${hv.frames.ownerOf(m)}:${hv.frames.typeOf(m)}:${hv.frames.typeCount(m)}:${hv.frames.refCount(m)}:${hv.frames.isPinned(m)}:${hv.frames.isValidated(m)}`);
}

export { pte, PTE_V, PTE_R, PTE_W, PTE_X, PTE_A, PTE_D };

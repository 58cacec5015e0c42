// The board of an HVM domain: guest-physical RAM at 0x80000000 backed by the domain's own
// machine frames (its p2m), and the devices of QEMU's riscv32 virt machine emulated in the
// hypervisor behind one MMIO dispatch (UART, CLINT, PLIC, empty virtio-mmio slots). A
// guest access to guest-physical space that is neither RAM nor a device is a bus error:
// the guest gets an access fault, the hypervisor nothing.
//
// The console: the UART's output (and SBI's debug console) goes to the domain's console
// ring, which dom0's console backend drains as it drains a PV guest's, so `xl console`
// shows an HVM guest's output the same way (Xen on ARM's vpl011 backs its emulated UART
// with a console ring in the same manner). Without a dom0 (no console port), output goes
// to the hypervisor console as a PV guest's CONSOLEIO_write does.

import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { XENCONS } from '../../protocol/xen/console.ts';
import type { MmioDevice } from '../cpu/memory.ts';
import type { Domain, DomainArch } from '../domain/domain.ts';
import { evtchnSend } from '../evtchn/ops.ts';
import type { HypervisorServices } from '../hypercall/types.ts';
import type { CostModel } from '../time/cost_model.ts';
import type { EventQueue } from '../time/event_queue.ts';
import { HVM_BOARD, type HvmMode, type ShadowSync } from '../../xenguest/hvm_image.ts';
import { HvmClint } from './clint.ts';
import { Ns16550, UART_RX_FIFO } from '../devices/ns16550.ts';
import { Plic } from './plic.ts';
import { HvmStats } from './stats.ts';
import type { GuestPaging } from './paging.ts';
import type { HvmVcpu } from './vcpu.ts';
import { XEN_EVTCHN_IRQ, XenPlatform, hvmHypercallTable } from './xen_platform.ts';
import type { HypercallHandler } from '../hypercall/types.ts';
import type { GStageTables } from './gstage_tables.ts';

/** What the board needs of the hypervisor core. */
export interface HvmDeps {
  readonly hv: HypervisorServices;
  readonly events: EventQueue;
  readonly costs: CostModel;
  crashDomain(domain: Domain, why: string): void;
  printk(line: string): void;
}

/** Console output held while dom0 has not drained the ring (then it is dropped, counted). */
export const HVM_CONSOLE_BACKLOG = 16 * 1024;

/** Console output notifies dom0 again after this long without an answer. */
export const HVM_CONSOLE_RENOTIFY_NS = 1_000_000;

/** virtio-mmio's QueueNotify register offset (virtio 1.2, 4.2.2). */
export const VIRTIO_MMIO_QUEUE_NOTIFY = 0x50;

/** An empty virtio-mmio slot (virtio 1.2, 4.2.2): magic, version 2, device ID 0 = no device. */
export class EmptyVirtioSlot implements MmioDevice {
  read(offset: number, size: 1 | 2 | 4): number {
    if (size !== 4) return 0;
    if (offset === 0) return 0x74726976; // "virt"
    if (offset === 4) return 2;
    return 0;
  }
  write(): void {}
}

/**
 * An I/O request for an access to a range served outside the hypervisor (Xen's ioreq_t:
 * address, size, direction, data, count): the next issue's device model in dom0.
 */
export interface Ioreq {
  domid: number;
  vcpu: number;
  addr: number;
  size: 1 | 2 | 4;
  dir: 'read' | 'write';
  /** The value stored (writes); 0 for reads. */
  data: number;
  count: 1;
}

/**
 * Who serves the ioreqs of a range (Xen's ioreq server). `send` must eventually call
 * `complete` once (with the value read; anything for a write); the vCPU waits until then.
 * A completion after the domain is gone is ignored.
 */
export interface IoreqServer {
  send(req: Ioreq, complete: (value: number) => void): void;
}

/** What an MMIO access came to: done (a read's value), a bus error, or waiting for an ioreq server. */
export type MmioOutcome = { kind: 'done'; value: number } | { kind: 'fault' } | { kind: 'pending' };

interface MmioRange {
  base: number;
  size: number;
  device: MmioDevice | null;
  server: IoreqServer | null;
}

export class HvmBoard implements DomainArch {
  readonly kind = 'hvm' as const;
  readonly stats: HvmStats;
  readonly vcpus: HvmVcpu[] = [];
  readonly uart: Ns16550;
  readonly clint: HvmClint;
  readonly plic: Plic;
  private readonly mmio: MmioRange[] = [];
  /**
   * Bytes waiting for room in the console ring (a circular buffer: an array shifted per
   * byte cost the host ~0.5 s per virtual ms under a flood), and bytes dropped for want of it.
   */
  private readonly backlog = new Uint8Array(HVM_CONSOLE_BACKLOG);
  private backlogHead = 0;
  private backlogLen = 0;
  consoleDropped = 0;
  private readonly rxQueue: number[] = [];
  private notifyOutstanding = false;
  private lastNotify = 0;
  private destroyed = false;
  /** The domain's guest paging (trap mode's shadow), one for all its vCPUs. */
  paging: GuestPaging | null = null;
  private walkRefsCharged = 0;
  /** hw mode: the domain's G-stage tables (special frames are mapped into them). */
  gstage: GStageTables | null = null;
  /** PVHVM: the Xen platform (add_to_physmap frames, HVM params, the upcall interrupt) and its hypercall table. */
  readonly xen: XenPlatform;
  readonly hypercalls: ReadonlyMap<number, HypercallHandler>;

  constructor(
    readonly domain: Domain,
    readonly deps: HvmDeps,
    readonly mode: HvmMode,
    readonly shadowSync: ShadowSync,
    nrVcpus: number,
  ) {
    const B = HVM_BOARD;
    this.stats = new HvmStats(domain.perf);
    this.uart = new Ns16550({
      tx: (b) => this.consoleOut(Uint8Array.of(b)),
      rx: () => this.consoleIn(),
      rxReady: () => this.rxReady(),
      irq: (high) => this.plic.setIrq(B.uartIrq, high),
    });
    this.clint = new HvmClint(nrVcpus, () => this.deps.hv.now());
    this.plic = new Plic(B.plicNdev, 2 * nrVcpus, (ctx, on) => {
      // Odd contexts are the harts' S-mode lines; even ones (M-mode) reach nothing.
      if (ctx % 2 === 1) this.vcpus[(ctx - 1) / 2]?.setExternal(on);
    });
    this.addMmio(B.uart.base, B.uart.size, this.uart);
    this.addMmio(B.clint.base, B.clint.size, this.clint);
    this.addMmio(B.plic.base, B.plic.size, this.plic);
    for (let k = 0; k < B.virtio.count; k++) this.addMmio(B.virtio.base + k * B.virtio.stride, B.virtio.stride, new EmptyVirtioSlot());
    this.xen = new XenPlatform({ domain, p2mChanged: (gfn, mfn) => this.specialChanged(gfn, mfn) }, (level) => this.plic.setIrq(XEN_EVTCHN_IRQ, level));
    this.hypercalls = hvmHypercallTable(this.xen);
  }

  /**
   * A frame placed at (or removed from) guest frame `gfn` outside RAM: the G-stage tables
   * (hw) or the shadows (trap) and every hart's TLB drop what they knew of it.
   */
  private specialChanged(gfn: number, mfn: number | null): void {
    this.gstage?.setSpecial(gfn, mfn);
    if (this.paging?.flushAll) this.domain.perf.shadowFlush('p2m change');
    this.paging?.flushAll?.();
    for (const v of this.vcpus) v.vcpu.hart.flushTlb();
  }

  /**
   * Maps a device at guest-physical [base, base+size) (the next issue's virtio devices and
   * legacy disk replace an empty slot with `replace`). Overlaps with RAM or another device
   * are refused.
   */
  addMmio(base: number, size: number, device: MmioDevice, replace = false): void {
    this.addRange({ base, size, device, server: null }, replace);
  }

  /**
   * Hands accesses to guest-physical [base, base+size) to an ioreq server (the next issue's
   * device model); `replace` as for addMmio. The accessing vCPU waits for each answer.
   */
  addIoreqServer(base: number, size: number, server: IoreqServer, replace = false): void {
    this.addRange({ base, size, device: null, server }, replace);
  }

  private addRange(range: MmioRange, replace: boolean): void {
    const { base, size } = range;
    const ramEnd = HVM_BOARD.ramBase + this.domain.nrPages * PAGE_SIZE;
    if (base < ramEnd && HVM_BOARD.ramBase < base + size && this.domain.nrPages > 0) throw new RangeError('an MMIO range overlaps guest RAM');
    const i = this.mmio.findIndex((r) => base < r.base + r.size && r.base < base + size);
    if (i >= 0) {
      const r = this.mmio[i]!;
      if (!replace || r.base !== base || r.size !== size) throw new RangeError(`MMIO range 0x${base.toString(16)} overlaps 0x${r.base.toString(16)}`);
      this.mmio.splice(i, 1);
    }
    this.mmio.push(range);
  }

  private findMmio(gpa: number, size: number): MmioRange | undefined {
    return this.mmio.find((r) => gpa >= r.base && gpa + size <= r.base + r.size);
  }

  /** A guest load from an emulated device: the value, or null for a bus error (no device there, or one served by ioreq). */
  mmioRead(gpa: number, size: 1 | 2 | 4): number | null {
    const r = this.findMmio(gpa, size);
    return r?.device ? r.device.read(gpa - r.base, size) >>> 0 : null;
  }

  /** A guest store to an emulated device: false for a bus error. */
  mmioWrite(gpa: number, size: 1 | 2 | 4, value: number): boolean {
    const r = this.findMmio(gpa, size);
    if (!r?.device) return false;
    r.device.write(gpa - r.base, size, value >>> 0);
    return true;
  }

  /**
   * A guest access to MMIO space by vCPU `vcpu`, as both modes make it: done at once by a
   * device in the hypervisor, a bus error, or sent to an ioreq server ('pending': the mode
   * makes the vCPU wait, and `complete` finishes the access with the server's answer).
   */
  mmioAccess(vcpu: number, gpa: number, size: 1 | 2 | 4, write: boolean, value: number, complete: (value: number) => void): MmioOutcome {
    const r = this.findMmio(gpa, size);
    if (!r) return { kind: 'fault' };
    const perf = this.domain.perf;
    perf.mmioAccesses++;
    // A virtio-mmio QueueNotify (virtio 1.2, 4.2.2) is the guest's notification to a device.
    const V = HVM_BOARD.virtio;
    if (write && gpa >= V.base && gpa < V.base + V.count * V.stride && (gpa - V.base) % V.stride === VIRTIO_MMIO_QUEUE_NOTIFY) perf.notifications++;
    if (r.device) {
      if (write) {
        r.device.write(gpa - r.base, size, value >>> 0);
        return { kind: 'done', value: 0 };
      }
      return { kind: 'done', value: r.device.read(gpa - r.base, size) >>> 0 };
    }
    // Answered within send: done at once; later: `complete`. Once, and never into a domain that is gone.
    let answered = false;
    let inSend = true;
    let value0 = 0;
    r.server!.send({ domid: this.domain.domid, vcpu, addr: gpa, size, dir: write ? 'write' : 'read', data: write ? value >>> 0 : 0, count: 1 }, (v) => {
      if (answered || this.destroyed) return;
      answered = true;
      if (inSend) value0 = v >>> 0;
      else complete(v >>> 0);
    });
    inSend = false;
    return answered ? { kind: 'done', value: value0 } : { kind: 'pending' };
  }

  /** Charges `clock` for the guest-table references the shadow's walks made since the last call (walk_ref). */
  chargeWalks(clock: { now: number }): void {
    const n = this.paging?.stats?.walkMemRefs ?? 0;
    const d = n - this.walkRefsCharged;
    if (d <= 0) return;
    this.walkRefsCharged = n;
    this.stats.count.walk_ref += d;
    const ns = d * this.deps.costs.hvmWalkRefNs;
    this.stats.ns.walk_ref += ns;
    clock.now += ns;
  }

  // --- guest RAM ------------------------------------------------------------------------

  /** Machine frame of guest frame `gfn`, or -1 when it is not RAM. */
  gfnToMfn(gfn: number): number {
    const pfn = gfn - HVM_BOARD.ramBase / PAGE_SIZE;
    if (!(pfn >= 0 && pfn < this.domain.nrPages)) return this.xen?.lookup(gfn) ?? -1;
    return this.domain.p2m[pfn]!;
  }

  /** Guest-physical bytes (for SBI's debug console); null if any byte is not RAM. */
  readGuest(gpa: number, len: number): Uint8Array | null {
    const out = new Uint8Array(len);
    for (let done = 0; done < len; ) {
      const a = gpa + done;
      const mfn = this.gfnToMfn(Math.floor(a / PAGE_SIZE));
      if (mfn < 0) return null;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      out.set(this.deps.hv.mem.readBytes(mfn * PAGE_SIZE + off, n), done);
      done += n;
    }
    return out;
  }

  /** Writes guest-physical bytes (SBI's debug console read, device DMA); false if any byte is not RAM. */
  writeGuest(gpa: number, data: Uint8Array): boolean {
    for (let done = 0; done < data.length; ) {
      const a = gpa + done;
      if (this.gfnToMfn(Math.floor(a / PAGE_SIZE)) < 0) return false;
      done += Math.min(PAGE_SIZE - (a % PAGE_SIZE), data.length - done);
    }
    const mem = this.deps.hv.mem;
    for (let done = 0; done < data.length; ) {
      const a = gpa + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      const pa = this.gfnToMfn(Math.floor(a / PAGE_SIZE)) * PAGE_SIZE + off;
      mem.writeBytes(pa, data.subarray(done, done + n));
      mem.noteStore(pa, n);
      done += n;
    }
    // A write into a page the guest uses as a page table must reach the shadows too.
    this.paging?.noteGuestWrite?.(gpa, data.length);
    return true;
  }

  // --- console ------------------------------------------------------------------------

  private get ringReady(): boolean {
    return this.domain.consoleEvtchn !== 0 && this.domain.consoleMfn !== 0;
  }

  /** Guest console output (UART THR, SBI putchar / debug console). */
  consoleOut(bytes: Uint8Array): void {
    if (this.destroyed) return;
    if (!this.ringReady) {
      this.deps.hv.consoleWrite(this.domain, bytes);
      return;
    }
    const take = Math.min(bytes.length, HVM_CONSOLE_BACKLOG - this.backlogLen);
    for (let i = 0; i < take; i++) this.backlog[(this.backlogHead + this.backlogLen + i) % HVM_CONSOLE_BACKLOG] = bytes[i]!;
    this.backlogLen += take;
    this.consoleDropped += bytes.length - take;
    this.flushOut();
  }

  /**
   * Console bytes the board takes now without dropping any (SBI's debug console writes no
   * more than this and reports a short write: the guest retries in its own time instead of
   * losing output).
   */
  consoleRoom(): number {
    if (this.destroyed || !this.ringReady) return Infinity;
    // dom0 may have drained the ring since its last event reached us (its stores and its
    // notification take effect at different times): move what fits before answering, so a
    // full backlog cannot wait for an event that already came.
    if (this.backlogLen > 0) this.flushOut();
    return HVM_CONSOLE_BACKLOG - this.backlogLen;
  }

  /** Moves backlog into the ring's `out` half and tells dom0 (once per drain it has not seen). */
  private flushOut(): void {
    const mem = this.deps.hv.mem;
    const base = this.domain.consoleMfn * PAGE_SIZE;
    const ring = this.deps.hv.frames.frameStorage(this.domain.consoleMfn);
    const dv = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
    const cons = dv.getUint32(XENCONS.out_cons, true);
    let prod = dv.getUint32(XENCONS.out_prod, true);
    const used = (prod - cons) >>> 0;
    // Only dom0 writes out_cons; indices that make no sense leave no room, nothing is overwritten.
    let room = used <= XENCONS.OUT_SIZE ? XENCONS.OUT_SIZE - used : 0;
    const start = prod;
    while (room > 0 && this.backlogLen > 0) {
      const off = XENCONS.out + (prod & (XENCONS.OUT_SIZE - 1));
      ring[off] = this.backlog[this.backlogHead]!;
      this.backlogHead = (this.backlogHead + 1) % HVM_CONSOLE_BACKLOG;
      this.backlogLen--;
      mem.noteStore(base + off, 1);
      prod = (prod + 1) >>> 0;
      room--;
    }
    if (prod !== start) {
      dv.setUint32(XENCONS.out_prod, prod, true);
      mem.noteStore(base + XENCONS.out_prod, 4);
    }
    // One notification until dom0 answers; again after a virtual ms without an answer (a
    // dom0 that restarted never answers the old one), so output cannot stall for good.
    // Whatever dom0 has not consumed counts, not only what moved now: bytes produced while a
    // notification was outstanding still need one after dom0's answer arrives.
    if (prod === cons) return;
    const now = this.deps.hv.now();
    if (!this.notifyOutstanding || now - this.lastNotify >= HVM_CONSOLE_RENOTIFY_NS) {
      this.notifyOutstanding = true;
      this.lastNotify = now;
      evtchnSend(this.deps.hv, this.domain, this.domain.consoleEvtchn);
    }
  }

  private rxReady(): boolean {
    if (this.rxQueue.length === 0) this.pullIn();
    return this.rxQueue.length > 0;
  }

  /** The next input byte, or -1. */
  consoleIn(): number {
    if (this.rxQueue.length === 0) this.pullIn();
    return this.rxQueue.shift() ?? -1;
  }

  /** Takes up to a FIFO's worth of input from the ring's `in` half; tells dom0 it has room. */
  private pullIn(): void {
    if (!this.ringReady || this.destroyed) return;
    const mem = this.deps.hv.mem;
    const base = this.domain.consoleMfn * PAGE_SIZE;
    const ring = this.deps.hv.frames.frameStorage(this.domain.consoleMfn);
    const dv = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
    let cons = dv.getUint32(XENCONS.in_cons, true);
    const prod = dv.getUint32(XENCONS.in_prod, true);
    const avail = (prod - cons) >>> 0;
    if (avail === 0) return;
    if (avail > XENCONS.IN_SIZE) {
      // dom0's indices are corrupt: resynchronise rather than read past the ring.
      dv.setUint32(XENCONS.in_cons, prod, true);
      mem.noteStore(base + XENCONS.in_cons, 4);
      return;
    }
    const n = Math.min(avail, UART_RX_FIFO - this.rxQueue.length);
    for (let i = 0; i < n; i++) {
      this.rxQueue.push(ring[XENCONS.in + (cons & (XENCONS.IN_SIZE - 1))]!);
      cons = (cons + 1) >>> 0;
    }
    dv.setUint32(XENCONS.in_cons, cons, true);
    mem.noteStore(base + XENCONS.in_cons, 4);
    if (n > 0) evtchnSend(this.deps.hv, this.domain, this.domain.consoleEvtchn);
  }

  /**
   * An event on one of the domain's ports. The console ring's (dom0 drained output or
   * queued input) is the board's: true. Any other port is the guest's own (PVHVM event
   * channels): false, delivered as an upcall.
   */
  onEvent(port: number): boolean {
    if (port !== this.domain.consoleEvtchn) return false;
    if (this.destroyed) return true;
    const e = this.domain.evtchn;
    if (e) {
      // The port is the hypervisor's, not the guest's: it never stays pending.
      const word = port >>> 5;
      e.shared.setPendingWord(word, e.shared.pendingWord(word) & ~(1 << (port & 31)));
    }
    this.notifyOutstanding = false;
    this.flushOut();
    this.uart.update(); // input may be waiting: the receive interrupt
    return true;
  }

  /** PVHVM: vCPU `id`'s upcall line (evtchn_upcall_pending && !mask) drives the Xen PLIC source. */
  setUpcall(id: number, on: boolean): boolean {
    return this.xen.setUpcall(id, on);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const v of this.vcpus) v.destroy();
    this.paging?.destroy();
    this.paging = null;
  }
}

// The `native` mode of `pvsim compare`: the unmodified kernel on the board with no hypervisor
// at all, the baseline every slowdown is measured against. One hart starts in M-mode at our
// SBI firmware (guests/build/sbi.elf), exactly as QEMU's virt machine starts it, over the
// HVM board's guest-physical map (HVM_BOARD: RAM at 0x80000000, UART, CLINT, PLIC, virtio
// slots, the ATA window) and the device tree the HVM board gets, plus QEMU's test finisher
// (how the firmware's SRST ends the machine). The emulated devices are dom0's device model
// (dom0/devicemodel/) attached directly: their register accesses are ordinary bus accesses,
// their DMA reaches RAM with no foreign mapping, and there are no exits, no ioreqs and no
// dom0 dispatch latency. Virtual time is the cost model's: instructionNs per instruction,
// walkMemRefNs per page-walk reference (as on the HVM board), nativeMmioNs per device
// register access and nativeDmaNsPerByte for a device's DMA. No wall clock anywhere: the
// same inputs give the same console and counters.
//
// The hart runs with hostTraps set, so every M-mode entry (an SBI call, the timer and
// software interrupts, an exception the firmware redirects) comes back here first: it is
// counted as the native board's "exit" (`perf.exit(reason, ns)`, ns = the firmware's
// instructions until its mret) and then taken into M as the hart would have taken it.

import { createEngine, Hart, PRIV_M, PRIV_S, PRIV_U, type EngineKind } from '../../hypervisor/cpu/index.ts';
import { ExitReason, type Engine } from '../../hypervisor/cpu/engine.ts';
import { CAUSE_INTERRUPT, MIP_MTIP } from '../../hypervisor/cpu/csr.ts';
import { PhysMemory, type MmioDevice } from '../../hypervisor/cpu/memory.ts';
import { Ns16550, NS16550_SIZE } from '../../hypervisor/devices/ns16550.ts';
import { Clint } from '../../hypervisor/devices/clint.ts';
import { Plic } from '../../hypervisor/hvm/plic.ts';
import { EmptyVirtioSlot } from '../../hypervisor/hvm/board.ts';
import { decodeMemAccess, extendLoad } from '../../hypervisor/hvm/decode.ts';
import { DomainPerf, type DomainPerfSnapshot } from '../../hypervisor/domain/perf.ts';
import { costModel, type CostModel } from '../../hypervisor/time/cost_model.ts';
import { parseElf } from '../../xenguest/elf.ts';
import { HVM_BOARD, planHvmDomain, writeHvmImage } from '../../xenguest/hvm_image.ts';
import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { createHvmDevices, type DeviceSpec, type HvmDevices } from '../../dom0/devicemodel/index.ts';
import { GuestRamFault, ramContains, type GuestRam } from '../../dom0/devicemodel/ioreq.ts';
import { FileBlockStore } from '../../dom0/backends/blk/store.ts';
import { DEFAULT_DISK_BYTES } from '../../dom0/backends/blk/driver.ts';
import { Bridge } from '../../dom0/backends/net/bridge.ts';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeDisk {
  path: string;
  devtype: 'virtio' | 'legacy';
  readonly?: boolean;
}

export interface NativeNic {
  /** Default 02:50:56:00:<board>:<nic + 1>. */
  mac?: string;
  /** The bridge's name; boards of one runNativeBoards call naming the same bridge share it. */
  bridge: string;
}

export interface NativeRunOptions {
  kernel: Uint8Array;
  /** M-mode firmware, default guests/build/sbi.elf. */
  firmware?: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  disks?: NativeDisk[];
  nics?: NativeNic[];
  costs?: Partial<CostModel>;
  /** Stop (exit 'timeout') at this virtual time; default 60 s. */
  maxVirtualNs?: number;
  /** The engine (`--cpu`); default DEFAULT_ENGINE. */
  cpu?: EngineKind;
  /** Stop (exit 'timeout') after this many instructions; default 2e9. */
  maxInstructions?: number;
  /**
   * Every console line as it completes (without its newline); `perf()` reads the board's
   * counters at that instant (pvsim compare windows a workload's measured section with it).
   */
  onConsole?: (line: string, perf: () => DomainPerfSnapshot) => void;
  /** After each slice the board ran: its virtual time and instructions so far (`pvsim run-native`'s progress). */
  onProgress?: (virtualNs: number, instructions: number) => void;
}

export interface NativeRunResult {
  /** How the machine ended: the firmware's SRST (test finisher), or a limit / a hart that can never wake ('timeout'). */
  exit: 'poweroff' | 'reset' | 'timeout' | 'crash';
  /** The console's lines, the last MAX_NATIVE_CONSOLE_LINES of them, each cut at MAX_NATIVE_LINE characters. */
  console: string[];
  /** Virtual time when the machine ended (ns). */
  virtualNs: number;
  /** The same counters as a domain's: exits are firmware (M-mode) entries by cause. */
  perf: DomainPerfSnapshot;
}

/**
 * The package root (the directory with package.json): this module runs from sim/native/
 * and compiled from dist/sim/native/, so the root is found, not counted two levels up
 * (which from dist/ named dist/guests/build/sbi.elf, absent: `pvsim run-native` failed).
 */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(here, '..', '..');
  }
}
const ROOT = packageRoot();
/**
 * The console a native run keeps: a kernel that prints forever (2 * 10^9 instructions by
 * default) held every line, 10^7 lines per 2 * 10^7 instructions, until the process ran out
 * of memory. The oldest lines go first; a line without an end keeps its first characters.
 */
export const MAX_NATIVE_CONSOLE_LINES = 10_000;
export const MAX_NATIVE_LINE = 65_536;

/** Where the firmware is by default. */
export const NATIVE_FIRMWARE_PATH = join(ROOT, 'guests/build/sbi.elf');

/** QEMU's boot ROM (mrom), where its reset vector keeps fw_dynamic_info: here only that structure. */
export const NATIVE_MROM = { base: 0x1000, size: 0x1000 } as const;
const FW_DYNAMIC_INFO_MAGIC = 0x4942534f; // "OSBI"
const FW_DYNAMIC_INFO_VERSION = 2;
const NEXT_MODE_S = 1;

/** Longest slice of one board before the loop looks at the others (bounds skew between boards). */
const QUANTUM_NS_SINGLE = 50_000;
const QUANTUM_NS_SHARED = 2_000;

/** Firmware entries by mcause: the native board's exit reasons. */
function entryReason(cause: number): string {
  if ((cause & CAUSE_INTERRUPT) !== 0) {
    switch (cause & 0x7fffffff) {
      case 3: return 'ipi';
      case 7: return 'timer_irq';
      case 11: return 'ext_irq';
      default: return `irq_${cause & 0x7fffffff}`;
    }
  }
  switch (cause) {
    case 9: return 'sbi';
    case 2: return 'illegal_insn';
    case 1: return 'fetch_access';
    case 5: return 'load_access';
    case 7: return 'store_access';
    case 4: return 'misaligned_load';
    case 6: return 'misaligned_store';
    case 8: return 'ecall_u';
    default: return `exception_${cause}`;
  }
}

/** The device model's view of the board's RAM: direct, counting the bytes a device moves (its DMA). */
class BoardRam implements GuestRam {
  readonly base = HVM_BOARD.ramBase;
  dmaBytes = 0;
  constructor(private readonly mem: PhysMemory, readonly size: number) {}

  contains(gpa: number, len: number): boolean {
    return ramContains(this.base, this.size, gpa, len);
  }

  private check(gpa: number, len: number): void {
    if (!this.contains(gpa, len)) throw new GuestRamFault(`board RAM [0x${gpa.toString(16)}, +${len}) is outside [0x${this.base.toString(16)}, +0x${this.size.toString(16)})`);
  }

  read(gpa: number, len: number): Uint8Array {
    this.check(gpa, len);
    this.dmaBytes += len;
    return this.mem.readBytes(gpa, len);
  }

  write(gpa: number, data: Uint8Array): void {
    this.check(gpa, data.length);
    this.dmaBytes += data.length;
    this.mem.writeBytes(gpa, data);
    // The hart's TLB and LR reservation see DMA as they see any other store.
    this.mem.noteStore(gpa, data.length);
  }
}

/** A board device register access: counted and charged (nativeMmioNs). */
class ChargedDevice implements MmioDevice {
  constructor(private readonly dev: MmioDevice, private readonly board: NativeBoard) {}
  read(offset: number, size: 1 | 2 | 4): number {
    this.board.deviceAccess();
    return this.dev.read(offset, size);
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.board.deviceAccess();
    this.dev.write(offset, size, value);
  }
}

/** The PLIC, counting the external interrupts the kernel claims (each one delivered). */
class CountingPlic extends Plic {
  claimed = 0;
  override claim(ctx: number): number {
    const s = super.claim(ctx);
    if (s !== 0 && ctx % 2 === 1) this.claimed++;
    return s;
  }
}

/**
 * A range served by the device model, whose answers are Promises: the access completes with
 * a placeholder, the hart stops after the instruction, and the board finishes it (a load's
 * register written with the device's value) before the hart goes on.
 */
class DeviceModelWindow implements MmioDevice {
  constructor(private readonly base: number, private readonly board: NativeBoard) {}
  read(offset: number, size: 1 | 2 | 4): number {
    this.board.deviceModelAccess({ addr: this.base + offset, size, dir: 'read', data: 0, count: 1 });
    return 0;
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.board.deviceModelAccess({ addr: this.base + offset, size, dir: 'write', data: value >>> 0, count: 1 });
  }
}

/** virtio-mmio QueueNotify (virtio 1.2, 4.2.2): a driver's notification. */
const VIRTIO_MMIO_QUEUE_NOTIFY = 0x50;

type PendingIo = { addr: number; size: 1 | 2 | 4; dir: 'read' | 'write'; data: number; count: 1 };

/** One board: its hart, memory, devices, clock and counters. */
export class NativeBoard {
  readonly mem = new PhysMemory();
  readonly hart: Hart;
  readonly perf = new DomainPerf();
  readonly console: string[] = [];
  readonly costs: CostModel;
  /** Virtual time (ns). */
  now = 0;
  exit: NativeRunResult['exit'] | null = null;
  /** In wfi, waiting for an interrupt. */
  waiting = false;
  /**
   * While waiting: the virtual time (the running board's clock) at which an interrupt line
   * of this board first went high, i.e. when the frame or event that woke it arrived.
   */
  wakeAt: number | null = null;
  private readonly engine: Engine;
  private readonly clint: Clint;
  private readonly plic: CountingPlic;
  private readonly ram: BoardRam;
  private devices: HvmDevices | null = null;
  private readonly stores: FileBlockStore[] = [];
  private line = '';
  /** Virtual ns charged within the current slice (device accesses), beyond its instructions. */
  private stallNs = 0;
  private sliceStart = 0;
  private sliceInstret = 0;
  private pendingIo: PendingIo | null = null;
  /** The firmware entry being served: its reason and M-mode instructions at entry. */
  private openEntry: { reason: string; mRetired: number } | null = null;
  private walkRefsCharged = 0;
  private dmaCharged = 0;
  instructions = 0;

  /**
   * `clock` is the virtual time of whichever board is running (runNativeBoards): what a
   * frame this board receives is stamped with, and the shared bridges' ageing clock.
   */
  constructor(readonly opts: NativeRunOptions, readonly index: number, bridges: Map<string, Bridge>, private readonly clock: () => number = () => this.now) {
    this.costs = costModel(opts.costs);
    this.engine = createEngine(opts.cpu);
    const memoryBytes = opts.memoryMiB * 1024 * 1024;
    if (!Number.isInteger(opts.memoryMiB) || opts.memoryMiB < 1) throw new RangeError(`memory must be a whole number of MiB (at least 1), got ${opts.memoryMiB}`);
    const disks = opts.disks ?? [];
    const legacy = disks.filter((d) => d.devtype === 'legacy').length;
    if (legacy > 1) throw new RangeError('one legacy (ATA) disk per board');
    if (disks.length - legacy + (opts.nics?.length ?? 0) > HVM_BOARD.virtio.count) throw new RangeError(`at most ${HVM_BOARD.virtio.count} virtio devices (disks and nics share the slots)`);
    const firmware = parseElf(opts.firmware ?? readFileSync(NATIVE_FIRMWARE_PATH));
    const plan = planHvmDomain(opts.kernel, { memoryBytes, cmdline: opts.cmdline, ata: legacy > 0, xenPlatform: false, finisher: true });
    const B = HVM_BOARD;
    // RAM frames get their storage on first touch (a 2 GiB board costs what the kernel uses).
    for (let pfn = B.ramBase / PAGE_SIZE, end = (B.ramBase + memoryBytes) / PAGE_SIZE; pfn < end; pfn++) this.mem.reserveFrame(pfn);
    this.mem.populate = (pfn) => (this.mem.isAllocated(pfn) ? this.mem.ensureFrame(pfn) : null);
    const ramEnd = B.ramBase + memoryBytes;
    for (const s of firmware.segments) {
      if (s.memsz === 0) continue;
      const kernelLow = Math.min(...plan.img.segments.filter((k) => k.memsz > 0).map((k) => k.paddr));
      if (s.paddr < B.ramBase || s.paddr + s.memsz > Math.min(ramEnd, kernelLow)) throw new RangeError(`firmware segment at 0x${s.paddr.toString(16)} (+0x${s.memsz.toString(16)}) is not in RAM below the kernel (0x${kernelLow.toString(16)})`);
      this.mem.writeBytes(s.paddr, s.data);
    }
    writeHvmImage(plan, (pfn) => this.mem.ensureFrame(B.ramBase / PAGE_SIZE + pfn));

    this.hart = new Hart(this.mem, { hartId: 0, tlbMegaEntries: this.costs.tlbMegaEntries });
    const hart = this.hart;
    hart.timeSource = () => this.sliceStart + (hart.instret - this.sliceInstret) * this.costs.instructionNs + this.stallNs;
    this.clint = new Clint(hart, () => hart.timeSource());
    this.plic = new CountingPlic(B.plicNdev, 2, (ctx, on) => {
      hart.setInterruptPending(ctx === 0 ? 11 : 9, on);
      // Raised by another board's slice (a frame over the bridge): remember when.
      if (on && this.waiting && this.wakeAt === null && (hart.mie & hart.mip) !== 0) this.wakeAt = this.clock();
    });
    const uart = new Ns16550({ tx: (b) => this.consoleByte(b), rx: () => -1, rxReady: () => false, irq: (high) => this.plic.setIrq(B.uartIrq, high) });
    const add = (base: number, size: number, dev: MmioDevice) => this.mem.addMmio(base, size, new ChargedDevice(dev, this));
    add(B.uart.base, NS16550_SIZE, uart);
    add(B.clint.base, B.clint.size, this.clint);
    add(B.plic.base, B.plic.size, this.plic);
    add(B.finisher.base, B.finisher.size, { read: () => 0, write: (off, size, v) => this.finisher(off, size, v) });
    const info = [FW_DYNAMIC_INFO_MAGIC, FW_DYNAMIC_INFO_VERSION, plan.entry, NEXT_MODE_S, 0, 0];
    this.mem.addMmio(NATIVE_MROM.base, NATIVE_MROM.size, { read: (off, size) => (size === 4 && off % 4 === 0 ? (info[off / 4] ?? 0) : 0), write: () => {} });

    // Devices: virtio ones in slots 0.., disks first (as the HVM board orders them), ATA at its window.
    this.ram = new BoardRam(this.mem, memoryBytes);
    const specs: DeviceSpec[] = [];
    try {
      const serial = (k: number) => `pvsim-d${k}`;
      disks.forEach((d, k) => {
        const store = new FileBlockStore(d.path, d.readonly ?? false, DEFAULT_DISK_BYTES);
        this.stores.push(store);
        specs.push(d.devtype === 'legacy' ? { kind: 'ata', store, serial: serial(k) } : { kind: 'virtio-blk', store, serial: serial(k) });
      });
      (opts.nics ?? []).forEach((n, k) => {
        let br = bridges.get(n.bridge);
        if (!br) bridges.set(n.bridge, (br = new Bridge(n.bridge, this.clock)));
        const hex = (v: number) => v.toString(16).padStart(2, '0');
        specs.push({ kind: 'virtio-net', mac: n.mac ?? `02:50:56:00:${hex(index)}:${hex(k + 1)}`, bridge: br, name: `native${index}.${k}` });
      });
      // Virtio devices first in slot order, the legacy disk wherever it was listed.
      const ordered = [...specs.filter((s) => s.kind !== 'ata'), ...specs.filter((s) => s.kind === 'ata')];
      this.devices = createHvmDevices(this.ram, ordered, (source, level) => this.plic.setIrq(source, level), (l) => this.printk(l));
    } catch (e) {
      this.close();
      throw e;
    }
    const served = this.devices.model.ranges();
    for (const r of served) this.mem.addMmio(r.base, r.size, new DeviceModelWindow(r.base, this));
    for (let k = 0; k < B.virtio.count; k++) {
      const base = B.virtio.base + k * B.virtio.stride;
      if (!served.some((r) => r.base === base)) add(base, B.virtio.stride, new EmptyVirtioSlot());
    }

    // QEMU's reset: M-mode at the firmware, a0 = hart id, a1 = the device tree, a2 = fw_dynamic_info.
    hart.pc = firmware.entry >>> 0;
    hart.priv = PRIV_M;
    hart.x[10] = 0;
    hart.x[11] = plan.dtbAddr | 0;
    hart.x[12] = NATIVE_MROM.base;
    hart.hostTraps = true;
  }

  private printk(line: string): void {
    this.keep(`(native) ${line}`);
  }

  /** A line kept, the oldest dropped past the bound (a kernel printing newlines in a loop). */
  private keep(line: string): void {
    if (this.console.length >= MAX_NATIVE_CONSOLE_LINES) this.console.splice(0, MAX_NATIVE_CONSOLE_LINES / 10);
    this.console.push(line);
  }

  private consoleByte(b: number): void {
    if (b === 0x0a) {
      const l = this.line;
      this.line = '';
      this.keep(l);
      this.opts.onConsole?.(l, () => this.snapshot());
    } else if (b !== 0x0d && this.line.length < MAX_NATIVE_LINE) this.line += String.fromCharCode(b);
  }

  private finisher(off: number, size: 1 | 2 | 4, v: number): void {
    if (off !== 0 || size !== 4) return;
    const code = v & 0xffff;
    if (code === 0x5555) this.end('poweroff');
    else if (code === 0x3333) this.end('crash');
    else if (code === 0x7777) this.end('reset');
  }

  private end(how: NativeRunResult['exit']): void {
    if (this.exit !== null) return;
    this.exit = how;
    this.hart.stopRequested = true;
  }

  /** One board device register access: counted, and its bus time charged. */
  deviceAccess(): void {
    this.perf.mmioAccesses++;
    this.stallNs += this.costs.nativeMmioNs;
  }

  deviceModelAccess(req: PendingIo): void {
    this.deviceAccess();
    if (req.dir === 'write' && (req.addr - HVM_BOARD.virtio.base) % HVM_BOARD.virtio.stride === VIRTIO_MMIO_QUEUE_NOTIFY && req.addr >= HVM_BOARD.virtio.base && req.addr < HVM_BOARD.virtio.base + HVM_BOARD.virtio.count * HVM_BOARD.virtio.stride) this.perf.notifications++;
    this.pendingIo = req;
    this.hart.stopRequested = true;
  }

  /** The time this board next needs to run: now, its timer deadline while waiting, or never. */
  nextTime(): number {
    if (this.exit !== null) return Infinity;
    if (!this.waiting) return this.now;
    if ((this.hart.mie & this.hart.mip) !== 0) return this.now;
    if ((this.hart.mie & MIP_MTIP) !== 0 && this.clint.mtimecmp !== Number.MAX_SAFE_INTEGER) return Math.max(this.now, this.clint.mtimecmp);
    return Infinity;
  }

  /** Runs until `end` (virtual ns), an exit, a wait, or the instruction budget. */
  async runUntil(end: number, instrLeft: number): Promise<void> {
    const hart = this.hart;
    const ins = this.costs.instructionNs;
    if (this.waiting) {
      this.now = Math.max(this.now, this.nextTime());
      this.waiting = false;
    }
    this.wakeAt = null;
    this.syncClock();
    this.clint.update();
    while (this.exit === null && this.now < end && instrLeft > 0 && !this.waiting) {
      const untilTimer = this.clint.mtimecmp - this.now;
      const budget = Math.max(1, Math.min(Math.ceil((end - this.now) / ins), instrLeft, untilTimer > 0 ? Math.ceil(untilTimer / ins) : Infinity));
      const before = hart.retired;
      const why = this.engine.run(hart, budget);
      const ran = hart.retired - before;
      this.instructions += ran;
      instrLeft -= ran;
      this.now += ran * ins + this.stallNs;
      this.stallNs = 0;
      this.accountSlice();
      if (this.pendingIo) await this.finishIo();
      this.syncClock();
      this.clint.update();
      if (why === ExitReason.HostTrap) this.firmwareEntry();
      else if (why === ExitReason.Wfi && (hart.mie & hart.mip) === 0) {
        this.waiting = true;
        this.wakeAt = null;
      }
    }
  }

  /** The hart's time (time CSR, CLINT mtime) is `now` from here on. */
  private syncClock(): void {
    this.sliceStart = this.now;
    this.sliceInstret = this.hart.instret;
    this.stallNs = 0;
  }

  /** After a slice: privilege split, walk references and DMA charged, a served firmware entry closed. */
  private accountSlice(): void {
    const hart = this.hart;
    hart.notePriv();
    const c = this.costs;
    const refs = hart.mmu.walkRefs;
    if (refs !== this.walkRefsCharged) {
      const ns = (refs - this.walkRefsCharged) * c.walkMemRefNs;
      this.walkRefsCharged = refs;
      this.now += ns;
      this.perf.walkNs += ns;
    }
    const dma = this.ram.dmaBytes - this.dmaCharged;
    if (dma > 0) {
      this.dmaCharged = this.ram.dmaBytes;
      this.perf.bytesCopied += dma;
      this.now += dma * c.nativeDmaNsPerByte;
    }
    if (this.openEntry && hart.priv !== PRIV_M) {
      const ns = (hart.retiredByPriv[PRIV_M]! - this.openEntry.mRetired) * c.instructionNs;
      this.perf.exit(this.openEntry.reason, ns);
      this.openEntry = null;
    }
  }

  /** An M-mode entry: counted, then taken as the hart would have taken it. */
  private firmwareEntry(): void {
    const hart = this.hart;
    const cause = hart.trapCause >>> 0;
    if (this.openEntry) {
      // A trap in the firmware itself (it ends the machine) closes the entry it interrupted.
      this.perf.exit(this.openEntry.reason, (hart.retiredByPriv[PRIV_M]! - this.openEntry.mRetired) * this.costs.instructionNs);
      this.openEntry = null;
    }
    const reason = entryReason(cause);
    if (reason === 'timer_irq' || reason === 'ipi') this.perf.interrupts++; // the firmware turns them into STIP / SSIP
    hart.notePriv();
    this.openEntry = { reason, mRetired: hart.retiredByPriv[PRIV_M]! };
    hart.hostTraps = false;
    hart.takeTrap(cause, hart.trapTval);
    hart.hostTraps = true;
  }

  /** Completes the device-model access the last instruction made (a load's register gets the device's value). */
  private async finishIo(): Promise<void> {
    const req = this.pendingIo!;
    this.pendingIo = null;
    const hart = this.hart;
    const value = await this.devices!.model.handle(req);
    if (req.dir === 'read') {
      // The load retired with a placeholder: it was the instruction before pc (no branch
      // follows a load), read through the same translation as the fetch.
      const pc = (hart.pc - 4) >>> 0;
      const pa = hart.translate(pc, 'x');
      const d = pa >= 0 ? decodeMemAccess(this.mem.read32(pa)) : null;
      if (d?.kind === 'load' && d.rd !== 0) hart.x[d.rd] = extendLoad(value, d.size, d.signed);
    }
    // DMA the request did (served within handle) is charged now: the device answered before the hart went on.
    const dma = this.ram.dmaBytes - this.dmaCharged;
    if (dma > 0) {
      this.dmaCharged = this.ram.dmaBytes;
      this.perf.bytesCopied += dma;
      this.now += dma * this.costs.nativeDmaNsPerByte;
    }
  }

  /** Instructions by privilege and the MMU's counts, into perf (firmware time is already in its exits). */
  private syncPerf(): void {
    const hart = this.hart;
    hart.notePriv();
    this.perf.instrUser = hart.retiredByPriv[PRIV_U]!;
    this.perf.instrKernel = hart.retiredByPriv[PRIV_S]!;
    this.perf.pageWalks = hart.mmu.walks;
    this.perf.walkRefs = hart.mmu.walkRefs;
    this.perf.tlbMisses = hart.mmu.reach.misses; // the modelled TLB's: what hardware would have missed
  }

  /** The counters now; interrupts delivered = timer and IPI entries (counted there) + external ones the kernel claimed. */
  snapshot(): DomainPerfSnapshot {
    this.syncPerf();
    const s = this.perf.snapshot();
    s.io.interrupts += this.plic.claimed;
    return s;
  }

  result(): NativeRunResult {
    if (this.line) {
      this.keep(this.line);
      this.opts.onConsole?.(this.line, () => this.snapshot());
      this.line = '';
    }
    return { exit: this.exit ?? 'timeout', console: this.console, virtualNs: this.now, perf: this.snapshot() };
  }

  close(): void {
    this.devices?.destroy();
    for (const s of this.stores) s.close();
    this.stores.length = 0;
  }
}

/**
 * Runs boards side by side on one virtual clock (boards with nics on the same bridge name
 * share a learning bridge): the board with the earliest time goes next, for a short slice,
 * so a frame one sends reaches the other no later than a slice after the moment it left.
 * A board waiting in wfi that a frame (an interrupt line) wakes resumes at the frame's
 * arrival, the sender's time when it left, not at the end of the sender's slice: the
 * wake-up latency it sees is the guests', not the slice length's.
 */
export async function runNativeBoards(list: readonly NativeRunOptions[]): Promise<NativeRunResult[]> {
  const bridges = new Map<string, Bridge>();
  const boards: NativeBoard[] = [];
  let running: NativeBoard | null = null;
  // The running board's time: a frame it sends arrives at the instant it left.
  const clock = () => running?.now ?? 0;
  try {
    for (const o of list) boards.push(new NativeBoard(o, boards.length, bridges, clock));
    const quantum = boards.length > 1 ? QUANTUM_NS_SHARED : QUANTUM_NS_SINGLE;
    for (;;) {
      let b: NativeBoard | null = null;
      let t = Infinity;
      for (const x of boards) {
        const limitNs = x.opts.maxVirtualNs ?? 60_000_000_000;
        if (x.exit === null && (x.now >= limitNs || x.instructions >= (x.opts.maxInstructions ?? 2_000_000_000))) x.exit = 'timeout';
        const n = x.nextTime();
        if (n < t) [b, t] = [x, n];
      }
      if (b === null) break; // every board ended, or waits for something that never comes
      const limitNs = b.opts.maxVirtualNs ?? 60_000_000_000;
      if (t >= limitNs) {
        b.now = limitNs;
        b.exit = 'timeout';
        continue;
      }
      // The others' next times bound this slice, so no board runs far past a frame sent to it.
      let others = Infinity;
      for (const x of boards) if (x !== b) others = Math.min(others, x.nextTime());
      const end = Math.min(limitNs, Math.max(t, Math.min(others, t + quantum)) + quantum);
      for (const x of boards) if (x !== b && x.waiting && x.now < t) x.now = t; // idle boards' clocks follow
      running = b;
      await b.runUntil(end, (b.opts.maxInstructions ?? 2_000_000_000) - b.instructions);
      running = null;
      b.opts.onProgress?.(b.now, b.instructions);
      // Boards woken by what this one did (a frame, an interrupt line) resume at the moment
      // it happened (their clocks followed to this slice's start), not at the slice's end.
      for (const x of boards) {
        if (x === b || !x.waiting || x.nextTime() !== x.now) continue;
        if (x.wakeAt !== null) x.now = Math.max(x.now, Math.min(x.wakeAt, b.now));
      }
    }
    return boards.map((x) => x.result());
  } finally {
    for (const x of boards) x.close();
  }
}

/** Runs one board to its end. */
export async function runNative(opts: NativeRunOptions): Promise<NativeRunResult> {
  return (await runNativeBoards([opts]))[0]!;
}

/** Two boards on one bridge and one virtual clock (`work=net` with a native peer). */
export async function runNativePair(a: NativeRunOptions, b: NativeRunOptions): Promise<[NativeRunResult, NativeRunResult]> {
  const [ra, rb] = await runNativeBoards([a, b]);
  return [ra!, rb!];
}

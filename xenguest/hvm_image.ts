// HVM domain building that both sides share: the board an HVM guest sees (the guest-physical
// map of QEMU's riscv32 `virt` machine), the device tree that describes it, and loading an
// unmodified kernel ELF at its physical addresses. In Xen, the toolstack writes an ARM
// guest's device tree (libxl_arm.c) and loads the kernel into guest-physical memory; the
// hypervisor only emulates what the tree names. Pure: pages are reached through an accessor
// (the hypervisor's builder writes frames, dom0's builder pages it sends).

import { parseElfCached } from './elf.ts';
import { FdtWriter, fdtValue as V } from './fdt.ts';
import { PAGE_SIZE } from '../protocol/sv32.ts';
import { BuildError, MAX_VIRT_CPUS } from './pv_bootstrap.ts';

/** The guest-physical map (QEMU hw/riscv/virt.c's virt_memmap, riscv32). */
export const HVM_BOARD = {
  ramBase: 0x8000_0000,
  clint: { base: 0x0200_0000, size: 0x1_0000 },
  /** VIRT_PLIC_SIZE(n) = 0x200000 + n * 0x1000 contexts; room for 2 contexts x 32 harts here. */
  plic: { base: 0x0c00_0000, size: 0x60_0000 },
  uart: { base: 0x1000_0000, size: 0x100 },
  virtio: { base: 0x1000_1000, stride: 0x1000, count: 8 },
  /**
   * The legacy ATA disk (issue 13's device model), present only when a domain has one: a
   * 4 KiB window after the virtio slots, the command block (8 registers << regShift) at its
   * base, the control block at base + ctlOffset; PLIC source 9. Both are free on QEMU's virt
   * too (virtio 1-8, UART 10, RTC 11), so a tree written for either board can name it.
   */
  ata: { base: 0x1000_9000, window: 0x1000, cmdBytes: 0x20, ctlOffset: 0x20, ctlBytes: 0x4, regShift: 2, pioMode: 4, irq: 9 },
  /** PLIC sources: virtio slot k (0-based) raises k + 1, the UART 10 (QEMU's VIRTIO_IRQ, UART0_IRQ). */
  uartIrq: 10,
  virtioIrqBase: 1,
  /** riscv,ndev: sources 1..95 (QEMU's VIRT_IRQCHIP_NUM_SOURCES - 1). */
  plicNdev: 95,
  /**
   * The timebase (time CSR, CLINT mtime, SBI set_timer): 1 GHz, so one tick is one ns of
   * the simulator's virtual time and the guest's counters need no scaling. QEMU's virt
   * advertises 10 MHz; a guest that reads timebase-frequency from the tree works on both.
   */
  timebaseHz: 1_000_000_000,
  /** The UART's input clock as QEMU's virt advertises it (3.6864 MHz). */
  uartClockHz: 3_686_400,
  /**
   * PVHVM (the `/hypervisor` node, as Xen on ARM's guest map): the grant region where the
   * guest places shared_info and grant frames (GUEST_GNTTAB_BASE/SIZE), the "magic" pages
   * (GUEST_MAGIC_BASE: console ring, then xenstore ring) and the event-channel PLIC source
   * (ARM's event-channel PPI is 31 too). Free on QEMU's virt as well (its PCIe window starts
   * at 0x30000000 only when a PCIe host is configured; pvsim's board has none).
   */
  xen: { grantBase: 0x3800_0000, grantSize: 0x0100_0000, magicBase: 0x3900_0000, evtchnIrq: 31 },
  /**
   * QEMU virt's test finisher ("sifive,test0", VIRT_TEST): only on the native board
   * (sim/native/, no hypervisor), where the M-mode firmware ends the machine through it
   * (SRST); an HVM guest powers off through the hypervisor's SBI instead.
   */
  finisher: { base: 0x0010_0000, size: 0x1000 },
} as const;

/** The Xen version the `/hypervisor` node names (compatible "xen,xen-4.17"), as XENVER_version reports. */
export const HVM_XEN_COMPATIBLE = ['xen,xen-4.17', 'xen,xen'] as const;

/** The HVM domain's largest memory: RAM runs from 0x80000000 to the top of the 32-bit space. */
export const HVM_MAX_MEMORY_BYTES = 2 ** 32 - HVM_BOARD.ramBase;

export type HvmMode = 'trap' | 'hw';
export type ShadowSync = 'wp' | 'lazy';
export const HVM_MODES: readonly HvmMode[] = ['trap', 'hw'];
export const SHADOW_SYNCS: readonly ShadowSync[] = ['wp', 'lazy'];

export interface HvmBuildOptions {
  memoryBytes: number;
  cmdline?: string;
  vcpus?: number;
  /** The domain has a legacy ATA disk: the tree gets its node (virtio slots are always described). */
  ata?: boolean;
  /** The `/hypervisor` node (PVHVM; xl.cfg xen_platform_pci); default true, as Xen on ARM always writes it. */
  xenPlatform?: boolean;
  /** The test finisher's node (`HVM_BOARD.finisher`): the native board only. Default false. */
  finisher?: boolean;
}

/** What the builder decided before any frame exists. */
export interface HvmPlan {
  img: ReturnType<typeof parseElfCached>;
  entry: number;
  nrPages: number;
  vcpus: number;
  cmdline: string;
  /** The device tree and its guest-physical address (8-byte aligned, near the top of RAM). */
  dtb: Uint8Array;
  dtbAddr: number;
}

/** What the hypervisor needs to start vCPU 0 once the pages are written. */
export interface HvmBoot {
  entry: number;
  dtbAddr: number;
  vcpus: number;
}

/** The device tree for a board with `vcpus` harts and `memoryBytes` of RAM. */
export function hvmDeviceTree(o: { memoryBytes: number; vcpus: number; cmdline: string; dtbAddr?: number; dtbSize?: number; ata?: boolean; xenPlatform?: boolean; finisher?: boolean }): Uint8Array {
  const B = HVM_BOARD;
  const w = new FdtWriter();
  if (o.dtbAddr !== undefined && o.dtbSize !== undefined) w.reserve(o.dtbAddr, o.dtbSize);
  const intcPhandle = (cpu: number) => 1 + cpu;
  const plicPhandle = 1 + o.vcpus;
  const hex = (v: number) => v.toString(16);
  w.beginNode('')
    .prop('#address-cells', V.u32s(2))
    .prop('#size-cells', V.u32s(2))
    .prop('compatible', V.string('pvsim,hvm', 'riscv-virtio'))
    .prop('model', V.string('pvsim HVM (riscv-virtio compatible)'));
  w.beginNode('chosen')
    .prop('bootargs', V.string(o.cmdline))
    .prop('stdout-path', V.string(`/soc/serial@${hex(B.uart.base)}`))
    .endNode();
  w.beginNode(`memory@${hex(B.ramBase)}`)
    .prop('device_type', V.string('memory'))
    .prop('reg', V.concat(V.u64(B.ramBase), V.u64(o.memoryBytes)))
    .endNode();
  w.beginNode('cpus').prop('#address-cells', V.u32s(1)).prop('#size-cells', V.u32s(0)).prop('timebase-frequency', V.u32s(B.timebaseHz));
  for (let c = 0; c < o.vcpus; c++) {
    w.beginNode(`cpu@${c}`)
      .prop('device_type', V.string('cpu'))
      .prop('reg', V.u32s(c))
      .prop('status', V.string('okay'))
      .prop('compatible', V.string('riscv'))
      .prop('riscv,isa', V.string('rv32ima'))
      .prop('mmu-type', V.string('riscv,sv32'));
    w.beginNode('interrupt-controller')
      .prop('#address-cells', V.u32s(0))
      .prop('#interrupt-cells', V.u32s(1))
      .prop('interrupt-controller', V.empty())
      .prop('compatible', V.string('riscv,cpu-intc'))
      .prop('phandle', V.u32s(intcPhandle(c)))
      .endNode();
    w.endNode();
  }
  w.endNode();
  w.beginNode('soc')
    .prop('#address-cells', V.u32s(2))
    .prop('#size-cells', V.u32s(2))
    .prop('compatible', V.string('simple-bus'))
    .prop('ranges', V.empty());
  if (o.finisher) {
    // As QEMU's virt writes it (create_fdt_soc's test node); the firmware finds it by compatible.
    w.beginNode(`test@${hex(B.finisher.base)}`)
      .prop('compatible', V.string('sifive,test1', 'sifive,test0', 'syscon'))
      .prop('reg', V.concat(V.u64(B.finisher.base), V.u64(B.finisher.size)))
      .endNode();
  }
  w.beginNode(`serial@${hex(B.uart.base)}`)
    .prop('compatible', V.string('ns16550a'))
    .prop('reg', V.concat(V.u64(B.uart.base), V.u64(B.uart.size)))
    .prop('clock-frequency', V.u32s(B.uartClockHz))
    .prop('interrupts', V.u32s(B.uartIrq))
    .prop('interrupt-parent', V.u32s(plicPhandle))
    .endNode();
  // Machine-level lines as QEMU lists them: msip (3) and mtip (7) per hart.
  const clintIrqs: number[] = [];
  for (let c = 0; c < o.vcpus; c++) clintIrqs.push(intcPhandle(c), 3, intcPhandle(c), 7);
  w.beginNode(`clint@${hex(B.clint.base)}`)
    .prop('compatible', V.string('sifive,clint0', 'riscv,clint0'))
    .prop('reg', V.concat(V.u64(B.clint.base), V.u64(B.clint.size)))
    .prop('interrupts-extended', V.u32s(...clintIrqs))
    .endNode();
  // Contexts as on QEMU's virt: 2c = hart c's M-mode (11), 2c + 1 its S-mode (9).
  const plicIrqs: number[] = [];
  for (let c = 0; c < o.vcpus; c++) plicIrqs.push(intcPhandle(c), 11, intcPhandle(c), 9);
  w.beginNode(`plic@${hex(B.plic.base)}`)
    .prop('compatible', V.string('sifive,plic-1.0.0', 'riscv,plic0'))
    .prop('reg', V.concat(V.u64(B.plic.base), V.u64(B.plic.size)))
    .prop('#address-cells', V.u32s(0))
    .prop('#interrupt-cells', V.u32s(1))
    .prop('interrupt-controller', V.empty())
    .prop('riscv,ndev', V.u32s(B.plicNdev))
    .prop('interrupts-extended', V.u32s(...plicIrqs))
    .prop('phandle', V.u32s(plicPhandle))
    .endNode();
  for (let k = 0; k < B.virtio.count; k++) {
    const base = B.virtio.base + k * B.virtio.stride;
    w.beginNode(`virtio_mmio@${hex(base)}`)
      .prop('compatible', V.string('virtio,mmio'))
      .prop('reg', V.concat(V.u64(base), V.u64(B.virtio.stride)))
      .prop('interrupts', V.u32s(B.virtioIrqBase + k))
      .prop('interrupt-parent', V.u32s(plicPhandle))
      .endNode();
  }
  if (o.ata) {
    // Linux's pata_of_platform binding (ata-generic): command and control blocks, registers
    // 1 << reg-shift bytes apart, a 16-bit data register.
    const a = B.ata;
    w.beginNode(`pata@${hex(a.base)}`)
      .prop('compatible', V.string('ata-generic'))
      .prop('reg', V.concat(V.u64(a.base), V.u64(a.cmdBytes), V.u64(a.base + a.ctlOffset), V.u64(a.ctlBytes)))
      .prop('reg-shift', V.u32s(a.regShift))
      .prop('pio-mode', V.u32s(a.pioMode))
      .prop('ata-generic,use16bit', V.empty())
      .prop('interrupts', V.u32s(a.irq))
      .prop('interrupt-parent', V.u32s(plicPhandle))
      .endNode();
  }
  w.endNode(); // soc
  if (o.xenPlatform ?? true) xenHypervisorNode(w, plicPhandle);
  w.endNode(); // root
  return w.finish(0);
}

/**
 * PVHVM's `/hypervisor` node, as libxl writes it for an ARM guest (make_hypervisor_node):
 * compatible "xen,xen-<version>", "xen,xen"; reg = the grant region; interrupts = the
 * event-channel upcall (here a PLIC source).
 */
function xenHypervisorNode(w: FdtWriter, plicPhandle: number): void {
  const X = HVM_BOARD.xen;
  // With its unit address (dtc's unit_address_vs_reg; libxl omits it): guests find it by
  // compatible "xen,xen", as Linux's xen_early_init does, not by path.
  w.beginNode(`hypervisor@${X.grantBase.toString(16)}`)
    .prop('compatible', V.string(...HVM_XEN_COMPATIBLE))
    .prop('reg', V.concat(V.u64(X.grantBase), V.u64(X.grantSize)))
    .prop('interrupts', V.u32s(X.evtchnIrq))
    .prop('interrupt-parent', V.u32s(plicPhandle))
    .endNode();
}

const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** Checks an unmodified kernel and lays out guest RAM (no allocation). */
export function planHvmDomain(image: Uint8Array, opts: HvmBuildOptions): HvmPlan {
  const img = parseElfCached(image);
  if (!Number.isInteger(opts.memoryBytes) || opts.memoryBytes <= 0 || opts.memoryBytes % PAGE_SIZE !== 0) {
    throw new BuildError(`memory must be a positive multiple of 4 KiB, got ${opts.memoryBytes}`);
  }
  if (opts.memoryBytes > HVM_MAX_MEMORY_BYTES) {
    throw new BuildError(`an HVM domain's RAM starts at 0x${HVM_BOARD.ramBase.toString(16)}: at most ${HVM_MAX_MEMORY_BYTES / 2 ** 20} MiB fit below 4 GiB`);
  }
  const vcpus = opts.vcpus ?? 1;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VIRT_CPUS) {
    throw new BuildError(`vcpus must be between 1 and ${MAX_VIRT_CPUS}, got ${vcpus}`);
  }
  const cmdline = opts.cmdline ?? '';
  const ramEnd = HVM_BOARD.ramBase + opts.memoryBytes;
  let kernelEnd: number = HVM_BOARD.ramBase;
  for (const s of img.segments) {
    if (s.memsz === 0) continue;
    if (s.paddr < HVM_BOARD.ramBase || s.paddr + s.memsz > ramEnd) {
      throw new BuildError(
        `segment at physical 0x${s.paddr.toString(16)} (+0x${s.memsz.toString(16)}) is outside guest RAM ` +
          `0x${HVM_BOARD.ramBase.toString(16)}-0x${(ramEnd - 1).toString(16)} (is this an unmodified kernel linked for the virt board?)`,
      );
    }
    kernelEnd = Math.max(kernelEnd, s.paddr + s.memsz);
  }
  // Segments are views of the image and may share its bytes; each byte they load is a page
  // written by the builder and sent to the hypervisor, so the total is bounded by the file
  // (twice it: generous for any linker's layout) rather than by RAM (2 GiB from a 16 MiB file).
  const loaded = img.segments.reduce((n, s) => n + s.data.length, 0);
  if (loaded > 2 * image.length) {
    throw new BuildError(`the kernel's segments load ${loaded} bytes from a ${image.length}-byte file (each file byte may be loaded at most twice)`);
  }
  const inSegment = img.segments.some((s) => s.memsz > 0 && img.entry >= s.paddr && img.entry < s.paddr + s.memsz);
  if (!inSegment) throw new BuildError(`entry point 0x${img.entry.toString(16)} is not inside a loaded segment`);
  // Sized once with a placeholder reservation, then written with the real one (same size).
  const ata = opts.ata ?? false;
  const xenPlatform = opts.xenPlatform ?? true;
  const finisher = opts.finisher ?? false;
  const size = hvmDeviceTree({ memoryBytes: opts.memoryBytes, vcpus, cmdline, dtbAddr: 0, dtbSize: 0, ata, xenPlatform, finisher }).length;
  const dtbAddr = ramEnd - roundUp(size, PAGE_SIZE);
  if (dtbAddr < roundUp(kernelEnd, PAGE_SIZE)) {
    throw new BuildError(`memory too small: the kernel ends at 0x${kernelEnd.toString(16)} and the device tree needs ${size} bytes below 0x${ramEnd.toString(16)}`);
  }
  const dtb = hvmDeviceTree({ memoryBytes: opts.memoryBytes, vcpus, cmdline, dtbAddr, dtbSize: size, ata, xenPlatform, finisher });
  return { img, entry: img.entry >>> 0, nrPages: opts.memoryBytes / PAGE_SIZE, vcpus, cmdline, dtb, dtbAddr };
}

/**
 * Writes the kernel's segments (zero-filling to memsz) and the device tree into guest RAM
 * through `page(pfn)`, pfn counted from the start of RAM (gfn - ramBase / 4 KiB). RAM is
 * zero when the domain is made, so pages wholly past a segment's file data are not touched:
 * a 124-byte kernel declaring 1.9 GiB of .bss had the builder make (and dom0 send) every
 * page of it, about 2 GB.
 */
export function writeHvmImage(plan: HvmPlan, page: (pfn: number) => Uint8Array): void {
  const put = (gpa: number, data: Uint8Array, len: number) => {
    for (let done = 0; done < len; ) {
      const a = gpa + done;
      const pfn = Math.floor((a - HVM_BOARD.ramBase) / PAGE_SIZE);
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      if (done >= data.length && off === 0 && n === PAGE_SIZE) {
        done += n; // a whole page of zero fill: fresh RAM is zero already
        continue;
      }
      const dst = page(pfn);
      if (done < data.length) {
        const m = Math.min(n, data.length - done);
        dst.set(data.subarray(done, done + m), off);
        if (m < n) dst.fill(0, off + m, off + n);
      } else dst.fill(0, off, off + n);
      done += n;
    }
  };
  for (const s of plan.img.segments) if (s.memsz > 0) put(s.paddr, s.data, s.memsz);
  put(plan.dtbAddr, plan.dtb, plan.dtb.length);
}

export function hvmBoot(plan: HvmPlan): HvmBoot {
  return { entry: plan.entry, dtbAddr: plan.dtbAddr, vcpus: plan.vcpus };
}

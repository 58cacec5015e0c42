// PV domain building that both sides share (libxenguest's xc_dom_* in Xen): checking a
// PV kernel, planning its bootstrap region as Xen's start-of-day contract describes
// (xen/xen.h, "start of day memory layout") and writing that region's bytes through a
// page accessor. Pure: no frames are allocated here; the hypervisor's builder
// (hypervisor/domain/builder.ts) writes straight into frames, dom0's toolstack
// (dom0/toolstack/builder.ts) into pages it then sends.
//
//   virt_base: kernel image | mfn_list | start_info | xenstore | console |
//              bootstrap page tables (read-only) | boot stack | >= 512 KiB more
//
// Every element is 4 KiB aligned; the mapping ends on a 4 MiB boundary (or at the end of
// the domain's memory). See docs/abi.md for the RV32 specifics.

import { parseElfCached, xenNotes } from './elf.ts';
import { PAGE_SIZE, PTE_A, PTE_D, PTE_R, PTE_V, PTE_W, PTE_X, SV32_MEGAPAGE, pte } from '../protocol/sv32.ts';
import { SIF, writeStartInfo, MAX_GUEST_CMDLINE } from '../protocol/xen/start_info.ts';
import { XEN_LEGACY_MAX_VCPUS } from '../protocol/xen/shared_info.ts';

export const DEFAULT_VIRT_BASE = 0xc000_0000;
const BOOT_PADDING = 512 * 1024;

export class BuildError extends Error {
  override readonly name = 'BuildError';
}

export interface PvBuildOptions {
  domid: number;
  name: string;
  /** Initial memory in bytes (also the maximum unless raised with max_mem). */
  memoryBytes: number;
  cmdline?: string;
  privileged?: boolean;
  /** vCPUs to create (default 1). vCPU 0 starts online; the others wait for VCPUOP_initialise/up. */
  vcpus?: number;
}

/** Layout facts the builder decided, for tests and `xl` diagnostics. */
export interface PvLayout {
  virtBase: number;
  kernelEnd: number;
  mfnListVa: number;
  startInfoVa: number;
  storeVa: number;
  consoleVa: number;
  ptVa: number;
  nrPtFrames: number;
  stackTop: number;
  mappedEnd: number;
}

/** vCPUs per domain: the legacy vcpu_info slots in shared_info. */
export const MAX_VIRT_CPUS = XEN_LEGACY_MAX_VCPUS;

const roundUp = (v: number, a: number) => Math.ceil(v / a) * a;

/** What the builder decided before any frame exists: checked image, entry, layout. */
export interface PvPlan {
  img: ReturnType<typeof parseElfCached>;
  entry: number;
  nrPages: number;
  nrL1: number;
  cmdline: string;
  privileged: boolean;
  vcpus: number;
  layout: PvLayout;
}

/** Checks a PV kernel and its options and lays out the bootstrap region (no allocation). */
export function planPvDomain(image: Uint8Array, opts: Omit<PvBuildOptions, 'domid' | 'name'>): PvPlan {
  const img = parseElfCached(image);
  const notes = xenNotes(img);
  if (notes.guestOs === undefined) {
    throw new BuildError('not a PV kernel: the image has no Xen ELF notes (XEN_ELFNOTE_GUEST_OS); use run-bare for bare-metal programs');
  }
  if (notes.loader !== undefined && notes.loader !== 'generic') {
    throw new BuildError(`unsupported XEN_ELFNOTE_LOADER "${notes.loader}" (only "generic")`);
  }
  const virtBase = notes.virtBase ?? DEFAULT_VIRT_BASE;
  if (virtBase % SV32_MEGAPAGE !== 0) {
    throw new BuildError(`virt base 0x${virtBase.toString(16)} is not 4 MiB aligned`);
  }
  const cmdline = opts.cmdline ?? '';
  if (new TextEncoder().encode(cmdline).length >= MAX_GUEST_CMDLINE) {
    throw new BuildError(`command line is longer than ${MAX_GUEST_CMDLINE - 1} bytes`);
  }
  if (!Number.isInteger(opts.memoryBytes) || opts.memoryBytes <= 0 || opts.memoryBytes % PAGE_SIZE !== 0) {
    throw new BuildError(`memory must be a positive multiple of 4 KiB, got ${opts.memoryBytes}`);
  }
  const nrPages = opts.memoryBytes / PAGE_SIZE;

  let kernelEnd = virtBase;
  for (const s of img.segments) {
    if (s.memsz === 0) continue;
    if (s.vaddr < virtBase) {
      throw new BuildError(`segment at 0x${s.vaddr.toString(16)} lies below the virt base 0x${virtBase.toString(16)}`);
    }
    kernelEnd = Math.max(kernelEnd, roundUp(s.vaddr + s.memsz, PAGE_SIZE));
  }
  const entry = notes.entry ?? img.entry;
  if (entry < virtBase || entry >= kernelEnd) throw new BuildError(`entry point 0x${entry.toString(16)} is outside the kernel image`);

  // Bootstrap layout. The number of L1 tables depends on where the region ends, which
  // depends on the tables: iterate until it settles.
  const mfnListVa = kernelEnd;
  const startInfoVa = mfnListVa + roundUp(nrPages * 4, PAGE_SIZE);
  const storeVa = startInfoVa + PAGE_SIZE;
  const consoleVa = storeVa + PAGE_SIZE;
  const ptVa = consoleVa + PAGE_SIZE;
  let nrL1 = 1;
  let stackTop = 0;
  let regionEnd = 0;
  for (;;) {
    stackTop = ptVa + (1 + nrL1) * PAGE_SIZE + PAGE_SIZE;
    regionEnd = roundUp(stackTop + BOOT_PADDING, SV32_MEGAPAGE);
    const need = (regionEnd - virtBase) / SV32_MEGAPAGE;
    if (need <= nrL1) break;
    nrL1 = need;
  }
  const bootstrapBytes = stackTop - virtBase;
  if (bootstrapBytes > opts.memoryBytes) {
    throw new BuildError(
      `memory too small: ${opts.memoryBytes >> 10} KiB given, the kernel and its bootstrap region need ${Math.ceil(bootstrapBytes / 1024)} KiB`,
    );
  }
  if (regionEnd > 2 ** 32) throw new BuildError('the bootstrap region does not fit below 4 GiB');
  const mappedPages = Math.min(nrPages, (regionEnd - virtBase) / PAGE_SIZE);
  const mappedEnd = virtBase + mappedPages * PAGE_SIZE;

  const vcpus = opts.vcpus ?? 1;
  if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VIRT_CPUS) {
    throw new BuildError(`vcpus must be between 1 and ${MAX_VIRT_CPUS}, got ${vcpus}`);
  }
  return {
    img,
    entry,
    nrPages,
    nrL1,
    cmdline,
    privileged: opts.privileged ?? false,
    vcpus,
    layout: { virtBase, kernelEnd, mfnListVa, startInfoVa, storeVa, consoleVa, ptVa, nrPtFrames: 1 + nrL1, stackTop, mappedEnd },
  };
}

/**
 * Writes the bootstrap region: the image, the mfn list, the page tables and start_info,
 * through `page(pfn)` (the writable bytes of pseudo-physical page `pfn`). Used by the
 * hypervisor's own builder and by dom0's, which sends the pages it wrote.
 */
export function writePvBootstrap(
  plan: PvPlan,
  p2m: Uint32Array,
  sharedInfoMfn: number,
  ports: { store: number; console: number },
  page: (pfn: number) => Uint8Array,
): void {
  const { virtBase, mfnListVa, startInfoVa, storeVa, consoleVa, ptVa, mappedEnd } = plan.layout;
  const pfnOf = (va: number) => (va - virtBase) / PAGE_SIZE;
  const writeVirt = (va: number, data: Uint8Array) => {
    let done = 0;
    while (done < data.length) {
      const a = va + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, data.length - done);
      page(pfnOf(a - off)).set(data.subarray(done, done + n), off);
      done += n;
    }
  };
  for (const s of plan.img.segments) if (s.data.length > 0) writeVirt(s.vaddr, s.data);
  writeVirt(mfnListVa, new Uint8Array(p2m.buffer, p2m.byteOffset, p2m.byteLength));
  const mfnOf = (va: number) => p2m[pfnOf(va)]!;
  // Page tables: L2 first, then the L1s in address order.
  const l2f = page(pfnOf(ptVa));
  const l2 = new DataView(l2f.buffer, l2f.byteOffset, l2f.byteLength);
  const ptEnd = ptVa + (1 + plan.nrL1) * PAGE_SIZE;
  for (let i = 0; i < plan.nrL1; i++) {
    const l1Va = ptVa + (1 + i) * PAGE_SIZE;
    const vpn1 = (virtBase + i * SV32_MEGAPAGE) >>> 22;
    l2.setUint32(vpn1 * 4, pte(mfnOf(l1Va), PTE_V), true);
    const l1f = page(pfnOf(l1Va));
    const l1 = new DataView(l1f.buffer, l1f.byteOffset, l1f.byteLength);
    for (let j = 0; j < 1024; j++) {
      const va = virtBase + i * SV32_MEGAPAGE + j * PAGE_SIZE;
      if (va >= mappedEnd) break;
      const isPt = va >= ptVa && va < ptEnd;
      const flags = isPt ? PTE_V | PTE_R | PTE_A : PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
      l1.setUint32(j * 4, pte(mfnOf(va), flags), true);
    }
  }
  writeStartInfo(page(pfnOf(startInfoVa)), {
    nrPages: plan.nrPages,
    sharedInfo: sharedInfoMfn * PAGE_SIZE,
    flags: plan.privileged ? SIF.PRIVILEGED | SIF.INITDOMAIN : 0,
    storeMfn: mfnOf(storeVa),
    storeEvtchn: ports.store,
    consoleMfn: mfnOf(consoleVa),
    consoleEvtchn: ports.console,
    ptBase: ptVa,
    nrPtFrames: 1 + plan.nrL1,
    mfnList: mfnListVa,
    modStart: 0,
    modLen: 0,
    cmdLine: plan.cmdline,
  });
}

/** What finishing a build needs besides the domain: where vCPU 0 starts, and the tables. */
export interface PvBoot {
  entry: number;
  startInfoVa: number;
  stackTop: number;
  l2Mfn: number;
  vcpus: number;
}

/** The boot parameters a plan and a frame list give. */
export function pvBoot(plan: PvPlan, p2m: Uint32Array): PvBoot {
  const l = plan.layout;
  return { entry: plan.entry, startInfoVa: l.startInfoVa, stackTop: l.stackTop, l2Mfn: p2m[(l.ptVa - l.virtBase) / PAGE_SIZE]!, vcpus: plan.vcpus };
}

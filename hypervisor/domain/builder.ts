// The hypervisor's half of PV domain building: frames for an empty domain, vCPU 0 set
// up to start, and the bootstrap page tables validated and pinned. Planning the
// bootstrap region and writing its bytes is xenguest/pv_bootstrap.ts, shared with dom0's
// toolstack; callers import those names from there.

import { Hart, PRIV_S } from '../cpu/index.ts';
import { type PhysMemory } from '../cpu/memory.ts';
import { Domain, Vcpu } from './domain.ts';
import { FrameTable, FrameType, OutOfMemoryError } from '../mm/frame_table.ts';
import { PAGE_SIZE } from '../../protocol/xen/xen.ts';
import { mmInitDomain } from '../mm/domain_mm.ts';
import { gnttabInit } from '../gnttab/index.ts';
import { initSharedInfo } from '../../protocol/xen/shared_info.ts';
import { CSR_MCOUNTEREN, CSR_MEDELEG, CSR_MIDELEG, CSR_MSTATUS, CSR_SATP, MSTATUS_TVM, MSTATUS_TW, SATP_MODE_SV32 } from '../cpu/csr.ts';
import { planPvDomain, pvBoot, writePvBootstrap, type PvBoot, type PvBuildOptions, type PvLayout } from '../../xenguest/pv_bootstrap.ts';

/** Exceptions and interrupts a PV guest kernel handles itself (see docs/abi.md). */
export const PV_MEDELEG =
  (1 << 0) | // instruction address misaligned
  (1 << 3) | // breakpoint
  (1 << 4) | // load address misaligned
  (1 << 5) | // load access fault
  (1 << 6) | // store/AMO address misaligned
  (1 << 7) | // store/AMO access fault
  (1 << 8) | // ecall from U: the guest's own system calls
  (1 << 13) | // load page fault
  (1 << 15); // store/AMO page fault
// Not delegated: instruction access/page faults (1, 12) so a fault loop at the guest's
// trap vector crashes the domain instead of spinning; illegal instruction (2) so
// privileged operations can be counted and emulated; ecall from S (9) = hypercall.
export const PV_MIDELEG = (1 << 1) | (1 << 5) | (1 << 9); // SSI, STI, SEI (event upcall)

/** A hart set up as a PV vCPU: S-mode under TVM/TW, PV delegation, paging on `l2Mfn`. */
export function pvHart(mem: PhysMemory, hartId: number, l2Mfn: number): Hart {
  const hart = new Hart(mem, { hartId });
  hart.hostTraps = true;
  hart.writeCsr(CSR_MEDELEG, PV_MEDELEG);
  hart.writeCsr(CSR_MIDELEG, PV_MIDELEG);
  hart.writeCsr(CSR_MCOUNTEREN, 0b111); // cycle, time, instret readable by the guest kernel
  hart.writeCsr(CSR_SATP, (SATP_MODE_SV32 | l2Mfn) >>> 0);
  // TVM: satp and sfence.vma trap (page tables are the hypervisor's to validate);
  // TW: wfi traps (idling is a scheduling decision).
  hart.writeCsr(CSR_MSTATUS, MSTATUS_TVM | MSTATUS_TW);
  hart.priv = PRIV_S;
  return hart;
}

/** Machine frames below this hold a page whose byte address fits 32 bits. */
export const SHARED_INFO_LIMIT_MFN = 2 ** 32 / PAGE_SIZE;

/** Frames per 4 MiB (an Sv32 megapage): the superpage unit of HVM RAM. */
export const SUPERPAGE_FRAMES = 1024;

/**
 * An empty domain of `nrPages` frames (allocated, not yet written) and its shared_info.
 * `superpages` (HVM RAM, as libxc populates an HVM guest's physmap with superpage
 * extents): each whole, aligned 4 MiB run of pfns gets one naturally aligned 4 MiB extent
 * of machine frames when one is free, so the G-stage tables can map it with a megapage
 * (hvm/gstage_tables.ts); the rest, and any run no extent is free for, gets single frames.
 */
export function allocPvDomain(frames: FrameTable, domid: number, name: string, nrPages: number, privileged: boolean, superpages = false): Domain {
  const domain = new Domain(domid, name, nrPages, privileged);
  const allocated: number[] = [];
  try {
    // start_info.shared_info is a 32-bit machine address: the page lies below 4 GiB (Xen's
    // xenheap on 32-bit guests), or a guest whose frames reach past it cannot map it. Taken
    // before the guest's frames, while fresh low frames are still likely.
    const sharedInfoMfn = frames.allocExtent(domid, 0, FrameType.SharedInfo, SHARED_INFO_LIMIT_MFN);
    if (sharedInfoMfn < 0) throw new OutOfMemoryError('out of machine memory below 4 GiB for shared_info');
    domain.sharedInfoMfn = sharedInfoMfn;
    allocated.push(sharedInfoMfn);
    const p2m = new Uint32Array(nrPages);
    // Searching a fragmented machine for aligned runs costs frames looked at: the build
    // stops asking for superpages once it has looked at more than 4 per page it builds.
    const steps0 = frames.extentSearchSteps;
    for (let pfn = 0; pfn < nrPages; pfn++) {
      if (superpages && frames.extentSearchSteps - steps0 > 4 * nrPages) superpages = false;
      if (superpages && pfn % SUPERPAGE_FRAMES === 0 && pfn + SUPERPAGE_FRAMES <= nrPages) {
        const mfn = frames.allocExtent(domid, 10);
        if (mfn >= 0) {
          for (let k = 0; k < SUPERPAGE_FRAMES; k++) {
            p2m[pfn + k] = mfn + k;
            allocated.push(mfn + k);
          }
          pfn += SUPERPAGE_FRAMES - 1;
          continue;
        }
        superpages = false; // none free now: none will be for the rest of this build
      }
      p2m[pfn] = frames.alloc(domid);
      allocated.push(p2m[pfn]!);
    }
    domain.p2m = p2m;
    initSharedInfo(frames.mem.ensureFrame(domain.sharedInfoMfn), { maxPfn: nrPages });
  } catch (e) {
    // A failed build leaves no frames behind.
    for (const mfn of allocated) frames.release(mfn);
    throw e;
  }
  return domain;
}

/** The hypervisor's part once the pages are written: vCPUs, validated and pinned tables, grant table. */
export function finishPvDomain(frames: FrameTable, domain: Domain, boot: PvBoot): void {
  for (let id = 0; id < boot.vcpus; id++) {
    const vcpu = new Vcpu(domain, id, pvHart(frames.mem, id, boot.l2Mfn));
    vcpu.online = id === 0;
    vcpu.initialised = id === 0;
    domain.vcpus.push(vcpu);
  }
  const hart = domain.vcpus[0]!.hart;
  hart.pc = boot.entry >>> 0;
  hart.x[10] = boot.startInfoVa | 0; // a0
  hart.x[2] = boot.stackTop | 0; // sp
  domain.startInfoVa = boot.startInfoVa;
  mmInitDomain(frames, domain, boot.l2Mfn); // validates and pins the tables, vCPU 0's base
  gnttabInit(domain);
}

// The cost model: every piece of simulated work turned into virtual nanoseconds, in one
// place. Each default names its source. The simulated machine is a 1 GHz in-order core
// (so one cycle = 1 ns); sources that give cycles on faster x86 parts are scaled by what
// the operation does, not by clock speed, and rounded.

export interface CostModel {
  /** ns per guest instruction (CPI 1 at 1 GHz). */
  instructionNs: number;
  /** Guest -> hypervisor -> guest round trip for a null hypercall. */
  hypercallNs: number;
  /** A trap taken by the hypervisor and reflected back into the guest kernel. */
  trapReflectNs: number;
  /** Switching a pCPU from one domain's vCPU to another's (world switch, TLB flush). */
  contextSwitchNs: number;
  /** Switching between two vCPUs of the same domain (no address-space change). */
  vcpuSwitchNs: number;
  /** Setting an event pending and raising the upcall on the target vCPU. */
  eventSendNs: number;
  /** One scheduler decision (runqueue pick, accounting). */
  scheduleNs: number;
  /** Validating and writing one page-table entry (mmu_update request). */
  ptUpdateNs: number;
  /** Mapping, unmapping and copying through grant tables. */
  grantMapNs: number;
  grantUnmapNs: number;
  grantCopyNsPerByte: number;
  /** From a notification to dom0 until its daemon acts on it (dom0 scheduled, upcall, handler). */
  dom0DispatchNs: number;
  /**
   * dom0's own work for a dispatch, charged to dom0's vCPU (design sec. 2): a fixed part
   * (the daemon's pass over its ring) plus, per GNTTABOP_copy entry dom0 makes, the
   * request it serves, plus the copy's bytes (grantCopyNsPerByte), the grant maps and
   * unmaps (grantMapNs, grantUnmapNs) and the events it sends (eventSendNs). dom0's event
   * sends take effect when that work is done, and dom0 takes its next dispatch no earlier.
   */
  dom0PassNs: number;
  dom0CopyOpNs: number;
  // ---- HVM exits (hypervisor/hvm/): what each kind of exit costs on top of the exit itself ----
  /** Guest -> hypervisor -> guest for one HVM exit: the world switch every exit pays. */
  hvmExitNs: number;
  /** Emulating one CSR instruction (decode from the trapped bits, privilege and WARL rules). */
  hvmCsrNs: number;
  /** Emulating sret, wfi or sfence.vma (mode switch, shadow activation or invalidation). */
  hvmPrivNs: number;
  /** Serving one SBI call (extension dispatch and the call itself). */
  hvmSbiNs: number;
  /** A shadow fill: validating the guest's entry and writing one shadow PTE (the walk's references are hvmWalkRefNs each). */
  hvmShadowFillNs: number;
  /** One memory reference of a software walk of the guest's page tables (Sv32: 2 per walk). */
  hvmWalkRefNs: number;
  /** A write-protect fault: the guest PTE write emulated and its shadow entry updated. */
  hvmWpFaultNs: number;
  /** An MMIO access emulated by a device in the hypervisor (decode, device, write-back). */
  hvmMmioNs: number;
  /** Reading the trapping instruction from guest memory through the shadow (a software walk and a load). */
  hvmInsnFetchNs: number;
  /** Injecting or reflecting a trap into the guest kernel (sepc, scause, stval, sstatus, pc). */
  hvmInjectNs: number;
  // ---- hardware-assisted HVM (hvm_mode = "hw", hypervisor/hvm/hw_mode.ts) ----
  /** A trap from VS/VU into HS and the return (sret with SPV): the world switch of every hw exit. */
  hvmHwExitNs: number;
  /** A guest-page fault exit: GPA from htval/stval, p2m lookup, dispatch (MMIO or the guest's fault). */
  hvmGuestPageFaultNs: number;
  /** A virtual-instruction exit: decode and emulate (wfi, a trapped counter read) or convert to illegal. */
  hvmVirtInsnNs: number;
  /** Decoding an MMIO access from htinst's transformed instruction (no guest memory read). */
  hvmHtinstDecodeNs: number;
  /** Reading the trapping instruction through the guest's two-stage translation (HLVX) when htinst is 0. */
  hvmHwInsnFetchNs: number;
  /** Making a virtual interrupt pending in hvip at guest entry (VSSIP, VSTIP, VSEIP). */
  hvmHwInjectNs: number;
  /**
   * One memory reference of the hardware page walk on a TLB miss, in every mode: PV
   * domains, HVM guests and the native board alike (Sv32: up to 2; Sv32 over Sv32x4: up
   * to 8). Charged by PageWalkCharge (page_walk.ts).
   */
  walkMemRefNs: number;
  // ---- the native board (sim/native/: the kernel on the board with no hypervisor) ----
  /** One uncached load or store to a device register (UART, CLINT, PLIC, virtio-mmio, ATA) on the board's bus. */
  nativeMmioNs: number;
  /** A device's DMA into or out of RAM, per byte (virtio rings and buffers). */
  nativeDmaNsPerByte: number;
  /**
   * 4 MiB entries of the modelled TLB (hypervisor/cpu/tlb_reach.ts): a TLB refill of a
   * translation they hold makes no walk references. 0 gives megapages no TLB reach.
   */
  tlbMegaEntries: number;
}

export const DEFAULT_COSTS: Readonly<CostModel> = {
  // 1 GHz, CPI 1: the interpreter's unit of work.
  instructionNs: 1,
  // Barham et al., "Xen and the Art of Virtualization" (SOSP 2003), and Dall et al.
  // (ISCA 2016, table 3) put a null hypercall at a few hundred to ~1,500 cycles on x86;
  // 300 cycles is the x86-64 VT-x-free PV trap path. 300 ns at 1 GHz.
  hypercallNs: 300,
  // A trap into the hypervisor plus the bounce frame back to the guest: a hypercall's
  // entry/exit plus writing the guest's trap state (Adams & Agesen, ASPLOS 2006, sec. 4:
  // trap-and-emulate costs of the same order as a hypercall). 400 ns.
  trapReflectNs: 400,
  // Dall et al. (ISCA 2016) measure a VM switch at ~1,100-2,500 cycles on x86 and ARM;
  // a PV world switch also reloads satp and flushes the TLB. 1,500 ns.
  contextSwitchNs: 1_500,
  // Same address space: save/restore registers only. 300 ns.
  vcpuSwitchNs: 300,
  // Barham et al. (SOSP 2003): event notification is a bit set plus, at most, an upcall;
  // we charge it like a short hypercall path. 150 ns.
  eventSendNs: 150,
  // An estimate, not a measurement: a runqueue pick plus credit burning is a few hundred
  // instructions of scheduler code on the path Cherkasova et al. (SIGMETRICS PER 2007)
  // describe for credit; 200 ns at 1 GHz.
  scheduleNs: 200,
  // One validated PTE write in mmu_update: a hypercall is amortized over a batch; the
  // per-entry cost is the type/refcount checks (Barham et al., sec. 3.3). 50 ns.
  ptUpdateNs: 50,
  // An estimate: map edits the mapper's page table and the grant entry (a validated PTE
  // write plus bookkeeping); unmap also flushes the TLB, which is why it is dearer. Grant
  // map/unmap is known to cost microseconds per page in Xen, the reason netback moved to
  // grant copy. 1,000 / 1,500 ns.
  grantMapNs: 1_000,
  grantUnmapNs: 1_500,
  // Grant copy is a memcpy at ~4 GB/s plus the same checks: 0.25 ns/byte.
  grantCopyNsPerByte: 0.25,
  // An estimate, not a measurement: an event into dom0 costs an upcall and a switch into
  // dom0's kernel and then its user-space daemon (xenstored, xenconsoled), each a few
  // microseconds on the hardware Barham et al. (SOSP 2003) describe. 10,000 ns.
  dom0DispatchNs: 10_000,
  // An estimate: a backend's pass reads the ring's indexes, checks for more work and pushes
  // its responses (RING_PUSH_RESPONSES_AND_CHECK_NOTIFY, RING_FINAL_CHECK_FOR_REQUESTS):
  // a few hundred instructions of dom0 kernel code around the GNTTABOP_copy hypercall the
  // pass makes, plus that hypercall's entry (hypercallNs). 1,000 ns.
  dom0PassNs: 1_000,
  // An estimate: per copy entry, the backend parses and validates one request (blkif
  // segment, netif slot) and Xen looks up both grants and takes page references for it
  // (gnttab_copy's per-op acquire/release, __gnttab_copy in common/grant_table.c); Santos
  // et al. (USENIX ATC 2008, "Bridging the gap between software and hardware techniques
  // for I/O virtualization") find netback's per-packet dom0 cost dominated by this and the
  // copy itself. About 500 instructions: 500 ns, plus the bytes at grantCopyNsPerByte.
  dom0CopyOpNs: 500,
  // A trap-and-emulate exit saves and restores the guest's 31 registers and dispatches on
  // the cause: the path a null hypercall takes (hypercallNs above; Dall et al., ISCA 2016,
  // table 3, measure Xen on ARM's at 376 cycles). 300 ns, charged once per exit.
  hvmExitNs: 300,
  // An estimate, not a measurement: the CSR number and registers come from the trapped
  // instruction (the hart writes it to mtval on an illegal-instruction trap, as the
  // privileged spec allows), then privilege checks and WARL masks: about 100 instructions,
  // the shape of KVM RISC-V's kvm_riscv_vcpu_csr_return path. 100 ns.
  hvmCsrNs: 100,
  // An estimate: sret/wfi/sfence.vma emulation is a status update plus a shadow root
  // switch or invalidation call, about twice a CSR's work. 200 ns.
  hvmPrivNs: 200,
  // An estimate: KVM's kvm_riscv_vcpu_sbi_ecall looks up the extension and runs a short
  // handler; 200 instructions. 200 ns.
  hvmSbiNs: 200,
  // Adams & Agesen (ASPLOS 2006, sec. 5) find hidden page faults the dominant cost of a
  // software VMM; besides the guest walk (charged by reference below) a fill is checks and
  // one shadow PTE write: an estimate of 400 instructions. 400 ns.
  hvmShadowFillNs: 400,
  // Bhargava et al. (ASPLOS 2008) count a walk by its memory references (Sv32: 2); each
  // reference the hypervisor's software walk makes is charged as a cache hit at the L2 of
  // a 1 GHz in-order core, about 20 cycles (Hennessy & Patterson, 6th ed., fig. 2.3's
  // L2 latencies). An estimate. 20 ns.
  hvmWalkRefNs: 20,
  // Adams & Agesen (ASPLOS 2006, sec. 5, "PTE writes"): a traced PTE write costs a fault,
  // decoding and emulating the store and updating the shadow; we charge it above a fill
  // for the decode and the shadow lookup. An estimate. 800 ns.
  hvmWpFaultNs: 800,
  // An estimate: decode, a device register access in the hypervisor and the write-back to
  // the destination register; of the order of a CSR emulation plus a device call. 400 ns.
  hvmMmioNs: 400,
  // Reading the faulting instruction: a 2-reference software walk of the shadow plus a
  // load, as KVM reads it with an unprivileged load when htinst gives nothing (Linux
  // arch/riscv/kvm/vcpu_insn.c). An estimate. 50 ns.
  hvmInsnFetchNs: 50,
  // Writing the guest's trap state and redirecting its pc: trapReflectNs less the exit it
  // includes (400 - 300). 100 ns.
  hvmInjectNs: 100,
  // Dall et al. (ISCA 2016, table 3) measure the round trip of a hardware-assisted exit in
  // a type-1 hypervisor (Xen on ARM, which saves only the GPRs and dispatches) at 376
  // cycles. The H extension's trap into HS-mode is the same shape: hardware saves the
  // trap state (sepc, scause, stval, htval, htinst, hstatus.SPV) and the VS CSRs stay in
  // place, so the hypervisor saves and restores the 31 GPRs (KVM's __kvm_riscv_switch_to).
  // 376 ns at 1 GHz.
  hvmHwExitNs: 376,
  // An estimate: KVM's gstage_page_fault reads htval and stval, looks up the memslot and
  // dispatches to MMIO emulation; about 150 instructions before the device. 150 ns.
  hvmGuestPageFaultNs: 150,
  // An estimate: KVM's kvm_riscv_vcpu_virtual_insn matches the trapped bits (in stval)
  // against a short table and runs the handler (wfi, a counter CSR): a CSR emulation's
  // work (hvmCsrNs). 100 ns.
  hvmVirtInsnNs: 100,
  // An estimate: htinst was read at the exit; decoding its fields is a few dozen
  // instructions. 20 ns.
  hvmHtinstDecodeNs: 20,
  // KVM reads the instruction with HLVX.HU under a temporary trap vector
  // (kvm_riscv_vcpu_unpriv_read in Linux arch/riscv/kvm/vcpu_exit.c): a nested walk of up
  // to 8 references (walkMemRefNs each) and the load, plus the vector swap. An estimate.
  // 100 ns.
  hvmHwInsnFetchNs: 100,
  // An estimate: KVM's kvm_riscv_vcpu_flush_interrupts folds pending bits into hvip with one
  // CSR write at entry; the hardware delivers the interrupt. 20 ns.
  hvmHwInjectNs: 20,
  // Bhargava et al. (ASPLOS 2008) count a walk's memory references: Sv32 needs 2, and a
  // nested walk of an n-level guest table over an m-level host table (n+1)(m+1)-1, so
  // Sv32 over Sv32x4 needs up to 8 (with 4 MiB leaves: 1 for Sv32; 5 for guest 4 KiB
  // pages over G-stage megapages or a guest megapage over 4 KiB G-stage pages; 3 for a
  // guest megapage over a G-stage megapage).
  // Each reference is charged as a cache hit in the data cache hierarchy, not DRAM (walks
  // mostly hit, Bhargava et al. sec. 3): about 10 cycles for an L2 hit on a simple
  // in-order core (Hennessy & Patterson, Computer Architecture, 6th ed., ch. 2). The
  // same hardware walker serves every mode, so PV domains, HVM guests (both stages) and
  // the native board are charged alike; only trap mode's shadow fills add the
  // hypervisor's software walk on top (hvmWalkRefNs). An estimate. 10 ns per reference.
  walkMemRefNs: 10,
  // An estimate: an uncached device-register access crosses the SoC interconnect and waits
  // for the device's answer, about 100-200 core cycles on an in-order core (Hennessy &
  // Patterson, 6th ed., ch. 5 on uncached I/O accesses being an order of magnitude above an
  // L2 hit). 100 ns. Not charged on a hypervisor's board, where the exit costs dominate.
  nativeMmioNs: 100,
  // A device's DMA moves data at memory-copy speed: the same 4 GB/s as grant copy
  // (grantCopyNsPerByte), so PV's copies and a native device's DMA cost alike. 0.25 ns/byte.
  nativeDmaNsPerByte: 0.25,
  // The large-page entries of the TLB, which is what gives megapages their reach (Adams &
  // Agesen, ASPLOS 2006, and Bhargava et al., ASPLOS 2008, sec. 5: large pages in both
  // stages recover most of the nested-walk loss). Sized as a small fully associative L1
  // TLB: CVA6's (openhwgroup/cva6, docs/03_cva6_design/MMU.rst) is fully associative and
  // holds any page size; x86 cores keep a separate array of a few dozen 2M/4M entries.
  // 16 entries is an estimate in that range (64 MiB of reach, so `tlbwalk size=8M mega`
  // fits; --vary cost.tlbMegaEntries=0 shows megapages without reach).
  tlbMegaEntries: 16,
};

export function costModel(overrides: Partial<CostModel> = {}): CostModel {
  return { ...DEFAULT_COSTS, ...overrides };
}

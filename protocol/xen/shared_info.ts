// Xen's shared_info page (xen/xen.h: struct shared_info, vcpu_info, vcpu_time_info) as
// compiled for RV32 ilp32 with the x86_32 arch parts (docs/abi.md, "Architecture-specific
// structures"): 32 legacy vcpu_info slots of 64 bytes, 32-bit xen_ulong_t, so the 2-level
// event bitmaps are 32 words of 32 bits = 1024 ports. tests/shared-info-abi.test.ts pins
// every offset below to Xen's headers.
//
// One page per domain, written by both sides:
//   hypervisor: evtchn_pending bits, evtchn_pending_sel, evtchn_upcall_pending, time
//   guest:      evtchn_mask bits, evtchn_upcall_mask; clears pending / sel / upcall_pending
// All multi-byte fields are little endian.

export const XEN_LEGACY_MAX_VCPUS = 32;
/** Bits in a xen_ulong_t: ports per evtchn_pending word, words per pending_sel. */
export const BITS_PER_EVTCHN_WORD = 32;
/** Ports of the 2-level ABI (EVTCHN_2L_NR_CHANNELS). */
export const EVTCHN_2L_NR_CHANNELS = BITS_PER_EVTCHN_WORD * BITS_PER_EVTCHN_WORD;

/** struct vcpu_time_info (32 bytes), relative to its start. */
export const VCPU_TIME_INFO = {
  version: 0, // odd while the hypervisor updates the record
  pad0: 4,
  tsc_timestamp: 8, // uint64_t
  system_time: 16, // uint64_t, ns
  tsc_to_system_mul: 24, // uint32_t, 32.32 fixed point
  tsc_shift: 28, // int8_t
  flags: 29, // uint8_t, XEN_PVCLOCK_*
  SIZE: 32,
} as const;

/** struct vcpu_info (64 bytes), relative to its start. */
export const VCPU_INFO = {
  evtchn_upcall_pending: 0, // uint8_t
  evtchn_upcall_mask: 1, // uint8_t
  evtchn_pending_sel: 4, // xen_ulong_t
  arch: 8, // struct arch_vcpu_info { unsigned long cr2; unsigned long pad[5]; }
  arch_cr2: 8,
  time: 32, // struct vcpu_time_info
  SIZE: 64,
} as const;

/** struct shared_info (2344 bytes). */
export const SHARED_INFO = {
  vcpu_info: 0, // struct vcpu_info[XEN_LEGACY_MAX_VCPUS]
  evtchn_pending: 2048, // xen_ulong_t[32]
  evtchn_mask: 2176, // xen_ulong_t[32]
  wc_version: 2304,
  wc_sec: 2308,
  wc_nsec: 2312,
  arch: 2316, // struct arch_shared_info (x86_32 layout)
  arch_max_pfn: 2316,
  arch_pfn_to_mfn_frame_list_list: 2320,
  arch_nmi_reason: 2324,
  arch_p2m_cr3: 2328,
  arch_p2m_vaddr: 2332,
  arch_p2m_generation: 2336,
  arch_wc_sec_hi: 2340,
  SIZE: 2344,
} as const;

/** vcpu_time_info.flags bits. */
export const XEN_PVCLOCK = { TSC_STABLE: 1 << 0, GUEST_STOPPED: 1 << 1 } as const;

/** docs/abi.md "Time": rdtime counts ns, so the tsc -> ns scale is exactly 1. */
export const PVSIM_TSC_TO_SYSTEM_MUL = 0x8000_0000;
export const PVSIM_TSC_SHIFT = 1;

export interface VcpuTimeInfo {
  version: number;
  tscTimestamp: number;
  systemTime: number;
  tscToSystemMul: number;
  tscShift: number;
  flags: number;
}

const TWO32 = 0x1_0000_0000;

/** Typed access to one shared_info frame. Holds no state besides the views. */
export class SharedInfoPage {
  private readonly dv: DataView;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.length < SHARED_INFO.SIZE) throw new RangeError('shared_info needs a 4 KiB frame');
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  // ---- vcpu_info[vcpu] ----

  upcallPending(vcpu: number): number {
    return this.bytes[vcpu * VCPU_INFO.SIZE + VCPU_INFO.evtchn_upcall_pending]!;
  }

  setUpcallPending(vcpu: number, v: number): void {
    this.bytes[vcpu * VCPU_INFO.SIZE + VCPU_INFO.evtchn_upcall_pending] = v;
  }

  upcallMask(vcpu: number): number {
    return this.bytes[vcpu * VCPU_INFO.SIZE + VCPU_INFO.evtchn_upcall_mask]!;
  }

  setUpcallMask(vcpu: number, v: number): void {
    this.bytes[vcpu * VCPU_INFO.SIZE + VCPU_INFO.evtchn_upcall_mask] = v;
  }

  pendingSel(vcpu: number): number {
    return this.dv.getUint32(vcpu * VCPU_INFO.SIZE + VCPU_INFO.evtchn_pending_sel, true);
  }

  setPendingSel(vcpu: number, v: number): void {
    this.dv.setUint32(vcpu * VCPU_INFO.SIZE + VCPU_INFO.evtchn_pending_sel, v >>> 0, true);
  }

  cr2(vcpu: number): number {
    return this.dv.getUint32(vcpu * VCPU_INFO.SIZE + VCPU_INFO.arch_cr2, true);
  }

  setCr2(vcpu: number, v: number): void {
    this.dv.setUint32(vcpu * VCPU_INFO.SIZE + VCPU_INFO.arch_cr2, v >>> 0, true);
  }

  readTime(vcpu: number): VcpuTimeInfo {
    const b = vcpu * VCPU_INFO.SIZE + VCPU_INFO.time;
    return {
      version: this.dv.getUint32(b + VCPU_TIME_INFO.version, true),
      tscTimestamp: this.u64(b + VCPU_TIME_INFO.tsc_timestamp),
      systemTime: this.u64(b + VCPU_TIME_INFO.system_time),
      tscToSystemMul: this.dv.getUint32(b + VCPU_TIME_INFO.tsc_to_system_mul, true),
      tscShift: this.dv.getInt8(b + VCPU_TIME_INFO.tsc_shift),
      flags: this.dv.getUint8(b + VCPU_TIME_INFO.flags),
    };
  }

  /**
   * Publishes a new time record the way Xen's update_vcpu_system_time does: version made
   * odd, fields written, version made even again, so a guest that reads version before and
   * after and sees the same even value has a consistent record.
   */
  writeTime(vcpu: number, t: Omit<VcpuTimeInfo, 'version'>): void {
    const b = vcpu * VCPU_INFO.SIZE + VCPU_INFO.time;
    // Odd: an update is under way (Xen's version_update_begin).
    const odd = ((this.dv.getUint32(b + VCPU_TIME_INFO.version, true) + 1) | 1) >>> 0;
    this.dv.setUint32(b + VCPU_TIME_INFO.version, odd, true);
    this.setU64(b + VCPU_TIME_INFO.tsc_timestamp, t.tscTimestamp);
    this.setU64(b + VCPU_TIME_INFO.system_time, t.systemTime);
    this.dv.setUint32(b + VCPU_TIME_INFO.tsc_to_system_mul, t.tscToSystemMul >>> 0, true);
    this.dv.setInt8(b + VCPU_TIME_INFO.tsc_shift, t.tscShift);
    this.dv.setUint8(b + VCPU_TIME_INFO.flags, t.flags);
    // Even again: the record is consistent.
    this.dv.setUint32(b + VCPU_TIME_INFO.version, (odd + 1) >>> 0, true);
  }

  // ---- 2-level event bitmaps ----

  pendingWord(i: number): number {
    return this.dv.getUint32(SHARED_INFO.evtchn_pending + i * 4, true);
  }

  setPendingWord(i: number, v: number): void {
    this.dv.setUint32(SHARED_INFO.evtchn_pending + i * 4, v >>> 0, true);
  }

  maskWord(i: number): number {
    return this.dv.getUint32(SHARED_INFO.evtchn_mask + i * 4, true);
  }

  setMaskWord(i: number, v: number): void {
    this.dv.setUint32(SHARED_INFO.evtchn_mask + i * 4, v >>> 0, true);
  }

  isPending(port: number): boolean {
    return ((this.pendingWord(port >>> 5) >>> (port & 31)) & 1) !== 0;
  }

  isMasked(port: number): boolean {
    return ((this.maskWord(port >>> 5) >>> (port & 31)) & 1) !== 0;
  }

  // ---- wall clock and arch ----

  wallClock(): { version: number; sec: number; nsec: number } {
    return {
      version: this.dv.getUint32(SHARED_INFO.wc_version, true),
      sec: this.dv.getUint32(SHARED_INFO.wc_sec, true) + this.dv.getUint32(SHARED_INFO.arch_wc_sec_hi, true) * TWO32,
      nsec: this.dv.getUint32(SHARED_INFO.wc_nsec, true),
    };
  }

  maxPfn(): number {
    return this.dv.getUint32(SHARED_INFO.arch_max_pfn, true);
  }

  setMaxPfn(v: number): void {
    this.dv.setUint32(SHARED_INFO.arch_max_pfn, v >>> 0, true);
  }

  private u64(off: number): number {
    return this.dv.getUint32(off, true) + this.dv.getUint32(off + 4, true) * TWO32;
  }

  private setU64(off: number, v: number): void {
    this.dv.setUint32(off, v % TWO32 >>> 0, true);
    this.dv.setUint32(off + 4, Math.floor(v / TWO32) >>> 0, true);
  }
}

/**
 * The page as the domain builder hands it over. As Xen's PV builders do (dom0_construct_pv,
 * libxenguest's shared_info_x86_32), every vcpu_info starts with evtchn_upcall_mask = 1 and
 * every evtchn_mask bit clear: a guest sees no upcall until it unmasks. Time is pvsim's
 * 1:1 scale at system time 0 (version 0, even); the wall clock is the epoch.
 */
export function initSharedInfo(page: Uint8Array, opts: { maxPfn: number }): void {
  page.fill(0, 0, SHARED_INFO.SIZE);
  const si = new SharedInfoPage(page);
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  for (let v = 0; v < XEN_LEGACY_MAX_VCPUS; v++) {
    si.setUpcallMask(v, 1);
    const b = v * VCPU_INFO.SIZE + VCPU_INFO.time;
    dv.setUint32(b + VCPU_TIME_INFO.tsc_to_system_mul, PVSIM_TSC_TO_SYSTEM_MUL, true);
    dv.setInt8(b + VCPU_TIME_INFO.tsc_shift, PVSIM_TSC_SHIFT);
  }
  si.setMaxPfn(opts.maxPfn);
}

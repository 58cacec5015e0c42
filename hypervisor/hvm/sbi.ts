// The SBI an HVM guest's supervisor calls with ecall (RISC-V SBI specification v2.0), served
// by the hypervisor as KVM serves it to its guests (Linux arch/riscv/kvm/vcpu_sbi*.c): Base,
// TIME, IPI, RFENCE, SRST, HSM, DBCN and the legacy console calls. Anything else is
// SBI_ERR_NOT_SUPPORTED. Shared by both modes: the mode decodes the ecall and writes a0/a1.

import { TRC } from '../trace/trace.ts';
import type { HvmVcpu } from './vcpu.ts';
import type { HvmBoard } from './board.ts';
import { HSM_STATE } from './vcpu.ts';
import { XEN_SBI_EID } from './xen_platform.ts';
import { xenErr } from '../../protocol/xen/errno.ts';

export const SBI_EXT = {
  legacySetTimer: 0x00,
  legacyPutchar: 0x01,
  legacyGetchar: 0x02,
  legacyClearIpi: 0x03,
  legacySendIpi: 0x04,
  legacyRemoteFenceI: 0x05,
  legacyRemoteSfenceVma: 0x06,
  legacyRemoteSfenceVmaAsid: 0x07,
  legacyShutdown: 0x08,
  base: 0x10,
  time: 0x54494d45,
  ipi: 0x735049,
  rfence: 0x52464e43,
  hsm: 0x48534d,
  srst: 0x53525354,
  dbcn: 0x4442434e,
} as const;

export const SBI_ERR = {
  success: 0,
  failed: -1,
  notSupported: -2,
  invalidParam: -3,
  denied: -4,
  invalidAddress: -5,
  alreadyAvailable: -6,
  alreadyStarted: -7,
  alreadyStopped: -8,
} as const;

/** SBI specification version reported by get_spec_version: 2.0 (major << 24 | minor). */
export const SBI_SPEC_VERSION = 2 << 24;
/** sbi_get_impl_id: 7 is the Xen Project's id in the SBI specification's table. */
export const SBI_IMPL_ID = 7;
export const SBI_IMPL_VERSION = 1;
/** At most this many bytes per DBCN console_write/console_read call (the rest is the caller's to retry). */
export const DBCN_MAX_BYTES = 4096;

/** The answer to an ecall: a0/a1 (a1 left alone for legacy calls), or what the mode must do instead. */
export type SbiResult =
  | { kind: 'ret'; error: number; value?: number }
  /** The calling vCPU stopped (HSM hart_stop) or its domain shut down: nothing to write back. */
  | { kind: 'gone' };

const ret = (error: number, value?: number): SbiResult => ({ kind: 'ret', error, value });

/** Serves the ecall `v` made: extension a7, function a6, arguments a0..a5. */
export function sbiCall(v: HvmVcpu, board: HvmBoard, now: number): SbiResult {
  const x = v.vcpu.hart.x;
  const eid = x[17]! >>> 0;
  const fid = x[16]! >>> 0;
  const a = (i: number) => x[10 + i]! >>> 0;
  const hv = board.deps.hv;
  switch (eid) {
    case SBI_EXT.legacySetTimer:
      v.setTimer(a(1) * 2 ** 32 + a(0), now);
      return ret(0);
    case SBI_EXT.legacyPutchar:
      board.consoleOut(Uint8Array.of(a(0) & 0xff));
      return ret(0);
    case SBI_EXT.legacyGetchar:
      return ret(board.consoleIn());
    case SBI_EXT.legacyClearIpi:
      v.clearSsip();
      return ret(0);
    case SBI_EXT.legacySendIpi:
    case SBI_EXT.legacyRemoteFenceI:
    case SBI_EXT.legacyRemoteSfenceVma:
    case SBI_EXT.legacyRemoteSfenceVmaAsid: {
      // The legacy calls pass a pointer to the hart mask in guest memory; the hypervisor
      // reads it as an unprivileged load from S-mode would (physical address when paging is off).
      const harts = legacyHartMask(board, a(0));
      if (harts === null) return ret(SBI_ERR.invalidAddress);
      for (const t of harts) {
        if (eid === SBI_EXT.legacySendIpi) t.sendIpi();
        else if (eid !== SBI_EXT.legacyRemoteFenceI) t.mode.remoteSfence(null);
      }
      return ret(0);
    }
    case SBI_EXT.legacyShutdown:
      hv.shutdownDomain(board.domain, 'poweroff');
      return { kind: 'gone' };
    case SBI_EXT.base:
      switch (fid) {
        case 0: return ret(0, SBI_SPEC_VERSION);
        case 1: return ret(0, SBI_IMPL_ID);
        case 2: return ret(0, SBI_IMPL_VERSION);
        case 3: return ret(0, probe(a(0)) ? 1 : 0);
        case 4: case 5: case 6: return ret(0, 0); // mvendorid, marchid, mimpid
        default: return ret(SBI_ERR.notSupported);
      }
    case SBI_EXT.time:
      if (fid !== 0) return ret(SBI_ERR.notSupported);
      v.setTimer(a(1) * 2 ** 32 + a(0), now);
      return ret(0);
    case SBI_EXT.ipi: {
      if (fid !== 0) return ret(SBI_ERR.notSupported);
      const targets = hartMask(board, a(0), a(1));
      if (targets === null) return ret(SBI_ERR.invalidParam);
      for (const t of targets) t.sendIpi();
      return ret(0);
    }
    case SBI_EXT.rfence: {
      if (fid > 2) return ret(SBI_ERR.notSupported); // HFENCE.*: no nested virtualization
      const targets = hartMask(board, a(0), a(1));
      if (targets === null) return ret(SBI_ERR.invalidParam);
      if (fid === 0) return ret(0); // fence.i: nothing is cached that it would affect
      const start = a(2);
      const size = a(3);
      for (const t of targets) {
        // One page (or a few) by address; anything larger, or "all" (size -1), flushes all.
        // Unsigned page base: `start & ~0xfff` is negative from 0x80000000 up, and the loop
        // then ran over 2^20 pages (a kernel address made one call cost the host ~0.3 s).
        if (size !== 0 && size <= 16 * 4096 && start + size <= 2 ** 32) {
          for (let va = (start & ~0xfff) >>> 0; va < start + size; va += 4096) t.mode.remoteSfence(va);
        } else t.mode.remoteSfence(null);
      }
      return ret(0);
    }
    case SBI_EXT.hsm:
      return hsm(v, board, fid, a(0), a(1), a(2));
    case XEN_SBI_EID: {
      // PVHVM: a Xen hypercall (xen_platform.ts): a6 = number, a0..a4 = arguments, a1 = result.
      v.vcpu.stats.hypercalls++;
      v.vcpu.domain.perf.hypercall(fid >>> 0);
      const h = board.hypercalls.get(fid);
      const rc = h === undefined ? xenErr('ENOSYS') : h({ hv, vcpu: v.vcpu }, a(0), a(1), a(2), a(3), a(4));
      // Its time is the exit's (charged by the mode), so the trace gives it none of its own.
      hv.traceSide?.(TRC.PVSIM_HYPERCALL_END, v.vcpu.domain.domid, v.vcpu.vcpuId, fid >>> 0, 0);
      return ret(SBI_ERR.success, rc | 0);
    }
    case SBI_EXT.srst: {
      if (fid !== 0) return ret(SBI_ERR.notSupported);
      const type = a(0);
      const reason = a(1);
      if (type > 2 || reason > 1) return ret(SBI_ERR.invalidParam);
      // Shutdown -> poweroff, cold/warm reboot -> reboot; a "system failure" shutdown is a crash.
      hv.shutdownDomain(board.domain, type === 0 ? (reason === 1 ? 'crash' : 'poweroff') : 'reboot');
      return { kind: 'gone' };
    }
    case SBI_EXT.dbcn:
      return dbcn(board, fid, a(0), a(1), a(2));
    default:
      return ret(SBI_ERR.notSupported);
  }
}

function probe(eid: number): boolean {
  return (
    eid === SBI_EXT.base || eid === SBI_EXT.time || eid === SBI_EXT.ipi || eid === SBI_EXT.rfence ||
    eid === SBI_EXT.hsm || eid === SBI_EXT.srst || eid === SBI_EXT.dbcn || eid === XEN_SBI_EID || eid <= SBI_EXT.legacyShutdown
  );
}

/** The vCPUs a (hart_mask, hart_mask_base) pair names; null if it names a hart that does not exist. */
function hartMask(board: HvmBoard, mask: number, base: number): HvmVcpu[] | null {
  const all = board.vcpus;
  if (base === 0xffffffff) return all.slice(); // "all harts"
  // The base must itself be a valid hart, even with an empty mask (SBI v2.0, "Hart list
  // parameter": either hart_mask_base or a hart from hart_mask not valid -> INVALID_PARAM).
  if (base >= all.length) return null;
  const out: HvmVcpu[] = [];
  for (let b = 0; b < 32; b++) {
    if (((mask >>> b) & 1) === 0) continue;
    const id = base + b;
    const t = all[id];
    if (!t) return null;
    out.push(t);
  }
  return out;
}

/** The legacy calls' hart mask: a pointer to an unsigned long (0 = all harts). */
function legacyHartMask(board: HvmBoard, addr: number): HvmVcpu[] | null {
  if (addr === 0) return board.vcpus.slice();
  const bytes = board.readGuest(addr, 4);
  if (!bytes) return null;
  const mask = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  return board.vcpus.filter((t) => ((mask >>> t.id) & 1) === 1);
}

function hsm(v: HvmVcpu, board: HvmBoard, fid: number, a0: number, a1: number, a2: number): SbiResult {
  const hv = board.deps.hv;
  switch (fid) {
    case 0: { // hart_start(hartid, start_addr, opaque)
      const t = board.vcpus[a0];
      if (!t) return ret(SBI_ERR.invalidParam);
      if (t.hsm !== HSM_STATE.stopped) return ret(SBI_ERR.alreadyAvailable);
      // Not a valid physical address to start at: not aligned, or not guest RAM.
      if ((a1 & 3) !== 0 || board.readGuest(a1, 4) === null) return ret(SBI_ERR.invalidAddress);
      t.mode.reset(a1, a0, a2);
      t.hsm = HSM_STATE.started;
      t.vcpu.initialised = true;
      hv.setVcpuOnline(t.vcpu, true);
      return ret(0);
    }
    case 1: // hart_stop(): no return on success
      v.hsm = HSM_STATE.stopped;
      v.mode.stop();
      hv.setVcpuOnline(v.vcpu, false);
      return { kind: 'gone' };
    case 2: { // hart_get_status(hartid)
      const t = board.vcpus[a0];
      return t ? ret(0, t.hsm) : ret(SBI_ERR.invalidParam);
    }
    case 3: // hart_suspend(type, resume_addr, opaque): no suspend state is offered
      // Reserved types (and platform-specific ones, none implemented) are INVALID_PARAM;
      // the two default types are valid but not supported here.
      return ret(a0 === 0 || a0 === 0x80000000 ? SBI_ERR.notSupported : SBI_ERR.invalidParam);
    default:
      return ret(SBI_ERR.notSupported);
  }
}

function dbcn(board: HvmBoard, fid: number, a0: number, a1: number, a2: number): SbiResult {
  switch (fid) {
    case 0: case 1: { // console_write / console_read(num_bytes, base_lo, base_hi)
      if (a2 !== 0) return ret(SBI_ERR.invalidParam); // RV32 guest RAM is below 4 GiB
      const n = Math.min(a0, DBCN_MAX_BYTES);
      if (fid === 0) {
        const bytes = board.readGuest(a1, n);
        if (!bytes) return ret(SBI_ERR.invalidParam);
        // A partial (or no) write when the console is full, which the specification allows:
        // the guest retries at its own cost; nothing it wrote is dropped.
        const m = Math.min(n, board.consoleRoom());
        board.consoleOut(m === n ? bytes : bytes.subarray(0, m));
        return ret(0, m);
      }
      if (board.readGuest(a1, n) === null) return ret(SBI_ERR.invalidParam); // checked before input is taken
      const got: number[] = [];
      for (let b = n > 0 ? board.consoleIn() : -1; b >= 0; b = got.length < n ? board.consoleIn() : -1) got.push(b);
      if (!board.writeGuest(a1, Uint8Array.from(got))) return ret(SBI_ERR.invalidParam);
      return ret(0, got.length);
    }
    case 2: // console_write_byte
      board.consoleOut(Uint8Array.of(a0 & 0xff));
      return ret(0);
    default:
      return ret(SBI_ERR.notSupported);
  }
}

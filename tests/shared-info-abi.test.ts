// shared_info / vcpu_info / vcpu_time_info for RV32, pinned to Xen's own headers with the
// oracle, plus the accessors and the page as the builder hands it over.

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import {
  BITS_PER_EVTCHN_WORD,
  EVTCHN_2L_NR_CHANNELS,
  initSharedInfo,
  PVSIM_TSC_SHIFT,
  PVSIM_TSC_TO_SYSTEM_MUL,
  SHARED_INFO,
  SharedInfoPage,
  VCPU_INFO,
  VCPU_TIME_INFO,
  XEN_LEGACY_MAX_VCPUS,
  XEN_PVCLOCK,
} from '../protocol/xen/shared_info.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { pvImage, SPIN } from './helpers/pv_image.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

/** Compares a table of offsets with `offsetof(struct <s>, <field>)`; `SIZE` with sizeof. */
function pin(struct: string, table: Record<string, number>, field: (key: string) => string = (k) => k) {
  const keys = Object.keys(table);
  const exprs = keys.map((k) => (k === 'SIZE' ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${field(k)})`));
  const got = evalXenExpressions(['xen/xen.h'], exprs);
  expect(Object.fromEntries(keys.map((k, i) => [k, got[i]]))).toEqual(table);
}

describe.skipIf(!available)('shared_info layout (RV32 ilp32 against /usr/include/xen)', () => {
  it('struct shared_info', () => {
    pin('shared_info', SHARED_INFO, (k) => (k.startsWith('arch_') ? `arch.${k.slice(5)}` : k));
  });

  it('struct vcpu_info', () => {
    pin('vcpu_info', VCPU_INFO, (k) => (k === 'arch_cr2' ? 'arch.cr2' : k));
  });

  it('struct vcpu_time_info', () => {
    pin('vcpu_time_info', VCPU_TIME_INFO);
  });

  it('constants: legacy vCPUs, xen_ulong_t width, 2-level port count, pvclock flags', () => {
    const got = evalXenExpressions(
      ['xen/xen.h', 'xen/event_channel.h'],
      [
        'XEN_LEGACY_MAX_VCPUS',
        'sizeof(xen_ulong_t) * 8',
        'EVTCHN_2L_NR_CHANNELS',
        'sizeof(((struct shared_info *)0)->evtchn_pending) / sizeof(xen_ulong_t)',
        'sizeof(((struct shared_info *)0)->vcpu_info) / sizeof(struct vcpu_info)',
        'XEN_PVCLOCK_TSC_STABLE_BIT',
        'XEN_PVCLOCK_GUEST_STOPPED',
      ],
    );
    expect(got).toEqual([
      XEN_LEGACY_MAX_VCPUS,
      BITS_PER_EVTCHN_WORD,
      EVTCHN_2L_NR_CHANNELS,
      BITS_PER_EVTCHN_WORD,
      XEN_LEGACY_MAX_VCPUS,
      XEN_PVCLOCK.TSC_STABLE,
      XEN_PVCLOCK.GUEST_STOPPED,
    ]);
  });
});

describe('SharedInfoPage accessors', () => {
  it('reads and writes each field at its offset, little endian', () => {
    const page = new Uint8Array(4096);
    const si = new SharedInfoPage(page);
    const dv = new DataView(page.buffer);
    si.setUpcallPending(3, 1);
    si.setUpcallMask(3, 1);
    si.setPendingSel(3, 0x8000_0001);
    si.setCr2(31, 0xdead_beef);
    si.setPendingWord(31, 0x1234_5678);
    si.setMaskWord(0, 0xffff_ffff);
    si.setMaxPfn(1024);
    expect(page[3 * 64]).toBe(1);
    expect(page[3 * 64 + 1]).toBe(1);
    expect(dv.getUint32(3 * 64 + 4, true)).toBe(0x8000_0001);
    expect(dv.getUint32(31 * 64 + 8, true)).toBe(0xdead_beef);
    expect(dv.getUint32(2048 + 31 * 4, true)).toBe(0x1234_5678);
    expect(dv.getUint32(2176, true)).toBe(0xffff_ffff);
    expect(dv.getUint32(2316, true)).toBe(1024);
    expect(si.isPending(31 * 32 + 3)).toBe(true);
    expect(si.isPending(31 * 32 + 0)).toBe(false);
    expect(si.isMasked(17)).toBe(true);
    expect(si.isMasked(32)).toBe(false);
    expect(si.pendingSel(3)).toBe(0x8000_0001);
  });

  it('publishes time with an odd-then-even version and 64-bit fields', () => {
    const page = new Uint8Array(4096);
    const si = new SharedInfoPage(page);
    const t = { tscTimestamp: 2 ** 40 + 5, systemTime: 2 ** 40 + 5, tscToSystemMul: PVSIM_TSC_TO_SYSTEM_MUL, tscShift: -1, flags: 1 };
    si.writeTime(2, t);
    expect(si.readTime(2)).toEqual({ version: 2, ...t });
    si.writeTime(2, t);
    expect(si.readTime(2).version).toBe(4);
    // An odd version left by an interrupted update still ends even.
    new DataView(page.buffer).setUint32(2 * 64 + 32, 7, true);
    si.writeTime(2, t);
    expect(si.readTime(2).version).toBe(10);
  });
});

describe('shared_info as the builder hands it over', () => {
  it('masks every upcall, leaves every port unmasked, sets the 1:1 time scale and max_pfn', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 16 * 1024 * 1024 });
    const { domain } = hv.createPvDomain(pvImage(SPIN), { name: 'g', memoryBytes: 4 * 1024 * 1024 });
    const si = new SharedInfoPage(hv.mem.frames[domain.sharedInfoMfn]!);
    for (let v = 0; v < XEN_LEGACY_MAX_VCPUS; v++) {
      expect(si.upcallMask(v)).toBe(1);
      expect(si.upcallPending(v)).toBe(0);
      expect(si.pendingSel(v)).toBe(0);
      const t = si.readTime(v);
      expect(t.version % 2).toBe(0);
      expect(t.tscToSystemMul).toBe(0x8000_0000);
      expect(t.tscShift).toBe(PVSIM_TSC_SHIFT);
    }
    for (let w = 0; w < 32; w++) {
      expect(si.pendingWord(w)).toBe(0);
      expect(si.maskWord(w)).toBe(0);
    }
    expect(si.maxPfn()).toBe(domain.nrPages);
    expect(si.wallClock()).toEqual({ version: 0, sec: 0, nsec: 0 });
  });

  it('initSharedInfo clears whatever the frame held', () => {
    const page = new Uint8Array(4096).fill(0xaa);
    initSharedInfo(page, { maxPfn: 7 });
    const si = new SharedInfoPage(page);
    expect(si.pendingWord(5)).toBe(0);
    expect(si.upcallMask(31)).toBe(1);
    expect(si.maxPfn()).toBe(7);
  });
});

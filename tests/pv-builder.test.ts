import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { BuildError } from '../xenguest/pv_bootstrap.ts';
import { readStartInfo, START_INFO_MAGIC, SIF } from '../protocol/xen/start_info.ts';
import { PRIV_S } from '../hypervisor/cpu/index.ts';
import { CSR_SATP, CSR_MSTATUS, MSTATUS_TVM, MSTATUS_TW } from '../hypervisor/cpu/csr.ts';
import { copyFromGuest } from '../hypervisor/mm/guest_access.ts';
import { pvImage, SPIN, PV_BASE } from './helpers/pv_image.ts';

const MiB = 1024 * 1024;

function build(memoryBytes = 8 * MiB, cmdline = 'console=hvc0 answer=42') {
  const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
  const { domain, layout } = hv.createPvDomain(pvImage(SPIN, { bssBytes: 3 * 4096 }), { name: 't', memoryBytes, cmdline });
  return { hv, domain, layout, hart: domain.vcpus[0]!.hart };
}

describe('PV domain builder', () => {
  it('enters S-mode with paging on, a0 = start_info and sp = top of the boot stack', () => {
    const { domain, layout, hart } = build();
    expect(hart.priv).toBe(PRIV_S);
    expect(hart.pc >>> 0).toBe(PV_BASE);
    expect(hart.x[10]! >>> 0).toBe(layout.startInfoVa);
    expect(hart.x[2]! >>> 0).toBe(layout.stackTop);
    expect(layout.stackTop % 16).toBe(0);
    const satp = hart.readCsr(CSR_SATP);
    expect(satp >>> 31).toBe(1);
    expect(satp & 0x3fffff).toBe(domain.p2m[(layout.ptVa - PV_BASE) / 4096]);
    expect(hart.readCsr(CSR_MSTATUS) & (MSTATUS_TVM | MSTATUS_TW)).toBe(MSTATUS_TVM | MSTATUS_TW);
  });

  it('packs the bootstrap elements in Xen order, 4 KiB aligned, after the image', () => {
    const { layout } = build();
    expect(layout.kernelEnd).toBe(PV_BASE + 4 * 4096); // 4 bytes of code + 3 pages of bss
    expect(layout.mfnListVa).toBe(layout.kernelEnd);
    expect(layout.startInfoVa).toBe(layout.mfnListVa + 2 * 4096); // 2048 pfns * 4 bytes
    expect(layout.storeVa).toBe(layout.startInfoVa + 4096);
    expect(layout.consoleVa).toBe(layout.storeVa + 4096);
    expect(layout.ptVa).toBe(layout.consoleVa + 4096);
    expect(layout.stackTop).toBe(layout.ptVa + layout.nrPtFrames * 4096 + 4096);
    expect(layout.mappedEnd).toBe(PV_BASE + 4 * MiB); // next 4 MiB boundary past stack + 512 KiB
  });

  it('writes start_info as Xen lays it out', () => {
    const { domain, layout, hart } = build();
    const page = copyFromGuest(hart, layout.startInfoVa, 4096)!;
    const si = readStartInfo(page);
    expect(si.magic).toBe(START_INFO_MAGIC);
    expect(si.nrPages).toBe(2048);
    expect(si.cmdLine).toBe('console=hvc0 answer=42');
    expect(si.ptBase).toBe(layout.ptVa);
    expect(si.nrPtFrames).toBe(layout.nrPtFrames);
    expect(si.mfnList).toBe(layout.mfnListVa);
    expect(si.sharedInfo).toBe(domain.sharedInfoMfn * 4096);
    expect(si.storeMfn).toBe(domain.p2m[(layout.storeVa - PV_BASE) / 4096]);
    expect(si.consoleMfn).toBe(domain.p2m[(layout.consoleVa - PV_BASE) / 4096]);
    expect(si.flags & SIF.PRIVILEGED).toBe(0);
  });

  it('publishes the p2m in mfn_list and maps each pfn to its mfn', () => {
    const { domain, layout, hart } = build();
    const list = copyFromGuest(hart, layout.mfnListVa, domain.nrPages * 4)!;
    expect([...new Uint32Array(list.buffer)]).toEqual([...domain.p2m]);
    for (const pfn of [0, 5, 100, 1023]) {
      expect(hart.translate(PV_BASE + pfn * 4096 + 12, 'r')).toBe(domain.p2m[pfn]! * 4096 + 12);
    }
    expect(new Set(domain.p2m).size).toBe(domain.nrPages);
  });

  it('maps the bootstrap page tables read-only and nothing beyond the region', () => {
    const { layout, hart } = build();
    expect(hart.translate(layout.ptVa, 'r')).toBeGreaterThan(0);
    expect(hart.translate(layout.ptVa, 'w')).toBe(-1);
    expect(hart.translate(layout.ptVa - 4096, 'w')).toBeGreaterThan(0);
    expect(hart.translate(layout.mappedEnd, 'r')).toBe(-1);
    expect(hart.translate(PV_BASE - 4096, 'r')).toBe(-1);
    expect(hart.translate(PV_BASE, 'x')).toBeGreaterThan(0);
  });

  it('maps only the memory the domain has', () => {
    const { layout, domain } = build(1 * MiB);
    expect(layout.mappedEnd).toBe(PV_BASE + 1 * MiB);
    expect(domain.nrPages).toBe(256);
  });

  it('refuses images without Xen notes, too little memory and overlong command lines, leaking no frames', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    expect(() => hv.createPvDomain(pvImage(SPIN, { notes: false }), { name: 'x', memoryBytes: 4 * MiB })).toThrowError(
      /not a PV kernel/,
    );
    expect(() => hv.createPvDomain(pvImage(SPIN), { name: 'x', memoryBytes: 16 * 1024 })).toThrowError(BuildError);
    expect(() => hv.createPvDomain(pvImage(SPIN), { name: 'x', memoryBytes: 16 * 1024 })).toThrowError(/memory too small/);
    expect(() => hv.createPvDomain(pvImage(SPIN), { name: 'x', memoryBytes: 4 * MiB, cmdline: 'x'.repeat(1024) })).toThrowError(
      /command line/,
    );
    expect(() => hv.createPvDomain(pvImage(SPIN), { name: 'x', memoryBytes: 1000 })).toThrowError(/multiple of 4 KiB/);
    expect(hv.frames.allocated).toBe(0);
  });

  it('fails cleanly when machine memory runs out, and frees a destroyed domain', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 6 * MiB });
    const { domain } = hv.createPvDomain(pvImage(SPIN), { name: 'a', memoryBytes: 4 * MiB });
    expect(() => hv.createPvDomain(pvImage(SPIN), { name: 'b', memoryBytes: 4 * MiB })).toThrowError(/out of machine memory/);
    expect(hv.frames.allocated).toBe(1024 + 1);
    hv.destroyDomain(domain);
    expect(hv.frames.allocated).toBe(0);
    expect(hv.mem.frameCount).toBe(0);
  });
});

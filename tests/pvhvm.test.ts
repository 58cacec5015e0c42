// PV drivers on HVM (PVHVM, hypervisor/hvm/xen_platform.ts): an HVM guest in both modes
// reaches Xen through the XEN_SBI_EID hypercall convention, places shared_info and a grant
// frame with XENMEM_add_to_physmap, reads its HVM params, is refused what PV-only or bad
// calls ask, and takes an event channel's upcall as PLIC source 31. Grants of an HVM
// granter name its guest frames, translated through its p2m.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';
import type { HvmMode } from '../xenguest/hvm_image.ts';
import { XEN_CONSOLE_GFN, XEN_STORE_GFN } from '../hypervisor/hvm/xen_platform.ts';
import { gnttabMapForDomain } from '../hypervisor/gnttab/index.ts';
import { GNTST } from '../protocol/xen/grant_table.ts';
import { hvmDeviceTree } from '../xenguest/hvm_image.ts';
import { fdtCells, fdtFind, fdtStrings, parseFdt } from '../xenguest/fdt.ts';

const prog = (n: string) => readFileSync(join(process.cwd(), `tests/hvm-programs/build/${n}.elf`));

function machine() {
  const hv = new Hypervisor({ machineMemoryBytes: 256 << 20 });
  const out = new Map<number, string>();
  hv.onConsole = (d, b) => out.set(d.domid, (out.get(d.domid) ?? '') + new TextDecoder().decode(b));
  return { hv, out: (d: Domain) => out.get(d.domid) ?? '' };
}

function hvm(hv: Hypervisor, image: Uint8Array, mode: HvmMode): Domain {
  const d = hv.createHvmDomain(image, { name: `h${hv.domains.size}`, memoryBytes: 8 << 20, cmdline: '', vcpus: 1, hvm: { mode, shadowSync: 'wp' } });
  hv.unpause(d);
  return d;
}

describe('PVHVM: the Xen platform of an HVM domain', { timeout: 30_000 }, () => {
  it('the device tree has Xen on ARM\'s hypervisor node by default, and none when the platform is off', () => {
    const { root } = parseFdt(hvmDeviceTree({ memoryBytes: 8 << 20, vcpus: 1, cmdline: '' }));
    const n = fdtFind(root, '/hypervisor@38000000')!;
    expect(fdtStrings(n.props.get('compatible'))).toEqual(['xen,xen-4.17', 'xen,xen']);
    expect(fdtCells(n.props.get('reg'))).toEqual([0, 0x38000000, 0, 0x01000000]);
    expect(fdtCells(n.props.get('interrupts'))).toEqual([31]);
    const plic = fdtFind(root, '/soc/plic@c000000')!;
    expect(fdtCells(n.props.get('interrupt-parent'))).toEqual(fdtCells(plic.props.get('phandle')));
    const off = parseFdt(hvmDeviceTree({ memoryBytes: 8 << 20, vcpus: 1, cmdline: '', xenPlatform: false }));
    expect(fdtFind(off.root, '/hypervisor@38000000')).toBeUndefined();
  });

  for (const mode of ['trap', 'hw'] as const) {
    it(`${mode}: hypercalls, add_to_physmap, HVM params, refusals and the event-channel interrupt`, () => {
      const { hv, out } = machine();
      const d = hvm(hv, prog('xenhc'), mode);
      hv.run({ until: 1e9 });
      expect(out(d)).toContain('PASS\n');
      expect(out(d)).not.toContain('FAIL');
      expect(d.shutdownReason).toBe('poweroff');
    });
  }

  it('places the rings at the magic frames and only the domain\'s own frames anywhere', () => {
    const { hv } = machine();
    const d = hvm(hv, prog('xenhc'), 'hw');
    const b = d.hvm as HvmBoard;
    expect(b.gfnToMfn(XEN_CONSOLE_GFN)).toBe(d.consoleMfn);
    expect(b.gfnToMfn(XEN_STORE_GFN)).toBe(d.storeMfn);
    hv.run({ until: 1e9 });
    for (const [, mfn] of b.xen.mappings) expect(hv.frames.ownerOf(mfn)).toBe(d.domid);
    expect(b.gfnToMfn(0x38000)).toBe(d.sharedInfoMfn);
  });

  it('a grant from an HVM domain names its guest frame; one outside its memory is bad_page', () => {
    const { hv } = machine();
    hv.createControlDomain();
    const d = hvm(hv, prog('xenhc'), 'trap');
    hv.run({ until: 1e9 });
    const b = d.hvm as HvmBoard;
    const gt = d.gnttab!;
    // Entry 8 grants RAM gfn 0x80010 to dom0; entry 9 a device frame.
    const frame = hv.frames.frameStorage(gt.frames[0]!);
    const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    dv.setUint16(8 * 8, 1, true); // GTF_permit_access
    dv.setUint16(8 * 8 + 2, 0, true);
    dv.setUint32(8 * 8 + 4, 0x80010, true);
    dv.setUint16(9 * 8, 1, true);
    dv.setUint32(9 * 8 + 4, 0x10000, true); // the UART's frame: not the guest's memory
    const control = hv.domains.get(0)!;
    const ok = gnttabMapForDomain(hv, control, d.domid, 8, true);
    expect(ok.status).toBe(GNTST.okay);
    expect(ok.mfn).toBe(b.gfnToMfn(0x80010));
    const bad = gnttabMapForDomain(hv, control, d.domid, 9, true);
    expect(bad.status).toBe(GNTST.bad_page);
  });
});

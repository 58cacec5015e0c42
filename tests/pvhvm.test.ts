// PV drivers on HVM (PVHVM, hypervisor/hvm/xen_platform.ts): an HVM guest in both modes
// reaches Xen through the XEN_SBI_EID hypercall convention, places shared_info and a grant
// frame with XENMEM_add_to_physmap, reads its HVM params, is refused what PV-only or bad
// calls ask, and takes an event channel's upcall as PLIC source 31. Grants of an HVM
// granter name its guest frames, translated through its p2m. The unmodified kernel
// (native.elf, dev=pv) runs work=blk through dom0's blkback and work=net against a PV
// domain through netback, in both modes, with the PV kernel's results.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalDom0 } from '../sim/local.ts';
import { addDevice, vbdDevice, vifDevice } from '../dom0/toolstack/devices.ts';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { sbiCall } from '../hypervisor/hvm/sbi.ts';
import { XEN_SBI_EID } from '../hypervisor/hvm/xen_platform.ts';
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

/** xenhc runs as d2 beside a PV d1 (paused) whose ports and memory it must not reach. */
function hvm(hv: Hypervisor, image: Uint8Array, mode: HvmMode): Domain {
  hv.createPvDomain(readFileSync('guests/build/work.elf'), { name: 'other', memoryBytes: 16 << 20, cmdline: 'work=cpu n=1' });
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

  it('random hypercalls from an HVM guest (both modes) get a result, never an exception, and leave other domains\' memory alone', () => {
    const ptr = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0x80000000, max: 0x807fffff }), fc.integer({ min: 0x38000000, max: 0x38002fff }));
    const call = fc.record({
      nr: fc.constantFrom(1, 12, 13, 14, 15, 17, 18, 20, 24, 29, 32, 34, 35, 36, 99),
      args: fc.tuple(fc.integer({ min: 0, max: 12 }), ptr, ptr, fc.integer({ min: 0, max: 0xffffffff }), ptr),
    });
    for (const mode of ['trap', 'hw'] as const) {
      const { hv } = machine();
      const d = hvm(hv, prog('xenhc'), mode);
      const other = hv.domains.get(1)!;
      const digest = () => {
        const h = createHash('sha256');
        for (const mfn of other.p2m) h.update(hv.frames.frameStorage(mfn));
        return h.digest('hex');
      };
      const before = digest();
      const v = (d.hvm as HvmBoard).vcpus[0]!;
      fc.assert(
        fc.property(fc.array(call, { maxLength: 20 }), (calls) => {
          for (const c of calls) {
            const x = v.vcpu.hart.x;
            x[17] = XEN_SBI_EID;
            x[16] = c.nr;
            c.args.forEach((a, i) => (x[10 + i] = a | 0));
            const r = sbiCall(v, d.hvm as HvmBoard, hv.now());
            expect(r.kind).toBe('ret');
            if (r.kind === 'ret') expect(r.error).toBe(0);
          }
        }),
        { numRuns: 150, seed: 13 },
      );
      expect(digest(), mode).toBe(before);
      expect(d.state === 'crashed', mode).toBe(false);
    }
  });

  for (const mode of ['trap', 'hw'] as const) {
    it(`${mode}: destroying a PVHVM domain gives back every frame (grant frames, G-stage tables for the region)`, () => {
      const { hv } = machine();
      const free0 = hv.frames.nrFrames - hv.frames.allocated;
      const d = hvm(hv, prog('xenhc'), mode);
      hv.run({ until: 1e9 });
      expect(d.gnttab!.frames.length).toBeGreaterThan(0);
      for (const x of [...hv.domains.values()]) hv.destroyDomain(x);
      expect(hv.frames.nrFrames - hv.frames.allocated).toBe(free0);
    });
  }

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

const MiB = 1024 * 1024;
const NATIVE = readFileSync('guests/build/native.elf');
const WORK = readFileSync('guests/build/work.elf');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-pvhvm-'));
let nDisk = 0;

/** One domain's console text: the hypervisor log for PV, dom0's console backend for HVM. */
function consoleOf(hv: Hypervisor, daemons: ReturnType<typeof startLocalDom0>, d: Domain): string {
  if (d.hvm) {
    const c = daemons.consoles.get(d.domid);
    return c ? new TextDecoder().decode(c.read(0).bytes) : '';
  }
  return hv.dmesg().filter((l) => l.startsWith(`(d${d.domid})`)).join('\n');
}

async function blk(kind: 'pv' | HvmMode, args: string) {
  const hv = new Hypervisor({ machineMemoryBytes: 128 * MiB });
  const daemons = startLocalDom0(hv);
  const path = join(dir, `disk${nDisk++}.img`);
  const d =
    kind === 'pv'
      ? hv.createPvDomain(WORK, { name: 'blk', memoryBytes: 16 * MiB, cmdline: `work=blk ${args}` }).domain
      : hv.createHvmDomain(NATIVE, { name: 'blk', memoryBytes: 16 * MiB, cmdline: `work=blk dev=pv ${args}`, vcpus: 1, hvm: { mode: kind, shadowSync: 'wp' } });
  addDevice(daemons.xs, d.domid, vbdDevice({ devid: 51712, path, access: 'w', vdev: 'xvda' }));
  hv.unpause(d);
  await hv.runAsync();
  const log = consoleOf(hv, daemons, d);
  return { log, line: /work=blk .*/.exec(log)?.[0] ?? log, reason: d.shutdownReason, path, d, hv };
}

const field = (line: string, key: string) => new RegExp(`\\b${key}=(\\S+)`).exec(line)?.[1];

describe('PVHVM: the unmodified kernel\'s blkfront and netfront on an HVM domain', { timeout: 60_000 }, () => {
  it('work=blk dev=pv reads, writes, flushes and verifies through blkback in trap and hw mode, with the PV kernel\'s result and bytes', async () => {
    const args = 'mode=rand bs=4096 qd=8 n=60';
    const pv = await blk('pv', args);
    expect(pv.reason).toBe('poweroff');
    for (const mode of ['trap', 'hw'] as const) {
      const h = await blk(mode, args);
      expect(h.log, mode).toMatch(/blk: vbd 51712, backend \/local\/domain\/0\/backend\/vbd\/1\/51712 \(domain 0\)/);
      expect(h.line, mode).toMatch(/writes=60 reads=60 errors=0/);
      expect(field(h.line, 'result'), mode).toBe(field(pv.line, 'result'));
      expect(h.reason, mode).toBe('poweroff');
      expect(readFileSync(h.path).equals(readFileSync(pv.path)), mode).toBe(true);
      // The hypercalls went through the SBI extension, and the grant frames are the domain's own.
      expect(h.d.vcpus[0]!.stats.hypercalls).toBeGreaterThan(0);
      for (const [, mfn] of (h.d.hvm as HvmBoard).xen.mappings) expect(h.hv.frames.ownerOf(mfn)).toBe(h.d.domid);
    }
  });

  it('work=net dev=pv: an HVM domain pings and streams UDP to a PV domain on xenbr0, in both modes', async () => {
    for (const mode of ['trap', 'hw'] as const) {
      const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
      const daemons = startLocalDom0(hv);
      const h = hv.createHvmDomain(NATIVE, { name: 'h', memoryBytes: 16 * MiB, cmdline: 'work=net dev=pv ip=10.0.0.1 peer=10.0.0.2 ping=5 udp=20 size=512', vcpus: 1, hvm: { mode, shadowSync: 'wp' } });
      const p = hv.createPvDomain(WORK, { name: 'p', memoryBytes: 16 * MiB, cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=5 udp=20 size=300' }).domain;
      addDevice(daemons.xs, h.domid, vifDevice({ devid: 0, mac: '00:16:3e:00:00:01' }));
      addDevice(daemons.xs, p.domid, vifDevice({ devid: 0, mac: '00:16:3e:00:00:02' }));
      hv.unpause(h);
      hv.unpause(p);
      await hv.runAsync();
      const hl = /work=net ip=.*/.exec(consoleOf(hv, daemons, h))?.[0] ?? consoleOf(hv, daemons, h);
      const pl = /work=net ip=.*/.exec(consoleOf(hv, daemons, p))?.[0] ?? consoleOf(hv, daemons, p);
      expect(consoleOf(hv, daemons, h), mode).toMatch(/net: vif 0, mac 00:16:3e:00:00:01/);
      expect(field(hl, 'replies'), `${mode}: ${hl}`).toBe('5');
      expect(field(pl, 'replies'), `${mode}: ${pl}`).toBe('5');
      // What one side streamed is what the other counted.
      expect(field(hl, 'udp_rx'), mode).toBe('20');
      expect(field(pl, 'udp_rx'), mode).toBe('20');
      expect(field(pl, 'udp_rx_bytes'), mode).toBe(field(hl, 'udp_tx_bytes'));
      expect(field(hl, 'udp_rx_bytes'), mode).toBe(field(pl, 'udp_tx_bytes'));
      expect(h.shutdownReason, mode).toBe('poweroff');
      expect(p.shutdownReason, mode).toBe('poweroff');
    }
  });
});

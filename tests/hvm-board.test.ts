// The HVM board's parts on their own: the device tree a guest is given (parsed back, and
// decompiled by dtc when it is installed), the PLIC, the UART, the CLINT, the MMIO
// instruction decoder, the HVM image planner's refusals, and the SBI a guest gets (one
// program, tests/hvm-programs/src/sbi.S, against SBI v2.0 on the board in both modes and
// on QEMU under our firmware).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fdtCells, fdtFind, fdtStrings, FdtError, FdtWriter, parseFdt } from '../xenguest/fdt.ts';
import { HVM_BOARD, hvmDeviceTree, planHvmDomain } from '../xenguest/hvm_image.ts';
import { BuildError } from '../xenguest/pv_bootstrap.ts';
import { Plic } from '../hypervisor/hvm/plic.ts';
import { Ns16550 } from '../hypervisor/devices/ns16550.ts';
import { HvmClint } from '../hypervisor/hvm/clint.ts';
import { amoResult, decodeMemAccess, extendLoad } from '../hypervisor/hvm/decode.ts';
import { writeElf } from './helpers/elf_writer.ts';
import { parseXlCfg } from '../dom0/toolstack/xlcfg/index.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { validateCreateDomain } from '../dom0/toolstack/validate.ts';

const NATIVE = join(process.cwd(), 'guests/build/native.elf');
const HAVE_DTC = existsSync('/usr/bin/dtc');

describe('the HVM device tree', () => {
  const dtb = hvmDeviceTree({ memoryBytes: 64 << 20, vcpus: 2, cmdline: 'work=cpu n=1', dtbAddr: 0x83fff000, dtbSize: 4096 });
  const { root, reserved } = parseFdt(dtb);

  it('describes the virt board: memory, cpus and their timebase, the UART, CLINT, PLIC, 8 virtio-mmio slots and /chosen', () => {
    expect(reserved).toEqual([{ address: 0x83fff000, size: 4096 }]);
    expect(fdtCells(fdtFind(root, '/memory@80000000')!.props.get('reg'))).toEqual([0, 0x80000000, 0, 64 << 20]);
    expect(fdtStrings(fdtFind(root, '/chosen')!.props.get('bootargs'))).toEqual(['work=cpu n=1']);
    expect(fdtStrings(fdtFind(root, '/chosen')!.props.get('stdout-path'))).toEqual(['/soc/serial@10000000']);
    const cpus = fdtFind(root, '/cpus')!;
    expect(fdtCells(cpus.props.get('timebase-frequency'))).toEqual([HVM_BOARD.timebaseHz]);
    expect(cpus.children.map((c) => c.name)).toEqual(['cpu@0', 'cpu@1']);
    for (const c of cpus.children) {
      expect(fdtStrings(c.props.get('riscv,isa'))).toEqual(['rv32ima']);
      expect(fdtStrings(c.children[0]!.props.get('compatible'))).toEqual(['riscv,cpu-intc']);
    }
    const uart = fdtFind(root, '/soc/serial@10000000')!;
    expect(fdtStrings(uart.props.get('compatible'))).toEqual(['ns16550a']);
    expect(fdtCells(uart.props.get('interrupts'))).toEqual([10]);
    const plic = fdtFind(root, '/soc/plic@c000000')!;
    expect(fdtCells(plic.props.get('riscv,ndev'))).toEqual([95]);
    // QEMU's context order: hart 0 M (11), hart 0 S (9), hart 1 M, hart 1 S.
    expect(fdtCells(plic.props.get('interrupts-extended'))).toEqual([1, 11, 1, 9, 2, 11, 2, 9]);
    expect(fdtCells(uart.props.get('interrupt-parent'))).toEqual(fdtCells(plic.props.get('phandle')));
    expect(fdtFind(root, '/soc/clint@2000000')).toBeDefined();
    const slots = fdtFind(root, '/soc')!.children.filter((c) => c.name.startsWith('virtio_mmio@'));
    expect(slots.map((s) => s.name)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((k) => `virtio_mmio@${(0x10001000 + k * 0x1000).toString(16)}`));
    expect(slots.map((s) => fdtCells(s.props.get('interrupts'))[0])).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it.runIf(HAVE_DTC)('decompiles cleanly with dtc (no warnings)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-dtb-'));
    const f = join(dir, 'hvm.dtb');
    writeFileSync(f, dtb);
    const r = spawnSync('dtc', ['-I', 'dtb', '-O', 'dts', f], { encoding: 'utf8', timeout: 10_000 });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('bootargs = "work=cpu n=1"');
  });

  it('the reader refuses malformed blobs with FdtError, never anything else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: dtb.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const bad = dtb.slice();
        bad[at] = byte;
        try {
          parseFdt(bad);
        } catch (e) {
          expect(e).toBeInstanceOf(FdtError);
        }
      }),
      { numRuns: 300 },
    );
    expect(() => parseFdt(dtb.subarray(0, 20))).toThrow(FdtError);
    expect(() => new FdtWriter().beginNode('').finish()).toThrow(FdtError);
  });

  it('is placed near the top of RAM, above the kernel, and written into the plan', () => {
    const plan = planHvmDomain(readFileSync(NATIVE), { memoryBytes: 16 << 20, cmdline: 'work=spin', vcpus: 1 });
    expect(plan.dtbAddr).toBe(0x80000000 + (16 << 20) - 4096);
    expect(plan.dtbAddr % 8).toBe(0);
    expect(fdtStrings(fdtFind(parseFdt(plan.dtb).root, '/chosen')!.props.get('bootargs'))).toEqual(['work=spin']);
  });
});

describe('the HVM image planner', () => {
  const code = new Uint8Array(64);
  it('refuses segments outside guest RAM, too little memory, and entries outside the image', () => {
    const low = writeElf({ entry: 0x1000, segments: [{ vaddr: 0x1000, data: code }] });
    expect(() => planHvmDomain(low, { memoryBytes: 1 << 20 })).toThrow(/outside guest RAM/);
    const high = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: code, memsz: 2 << 20 }] });
    expect(() => planHvmDomain(high, { memoryBytes: 1 << 20 })).toThrow(BuildError);
    const tight = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: code, memsz: 1 << 20 }] });
    expect(() => planHvmDomain(tight, { memoryBytes: 1 << 20 })).toThrow(/memory too small/);
    const wildEntry = writeElf({ entry: 0x90000000, segments: [{ vaddr: 0x80000000, data: code }] });
    expect(() => planHvmDomain(wildEntry, { memoryBytes: 1 << 20 })).toThrow(/entry point/);
    expect(() => planHvmDomain(readFileSync(NATIVE), { memoryBytes: 2 ** 31 + 4096 })).toThrow(/below 4 GiB/);
  });
});

describe('the PLIC', () => {
  const mk = () => {
    const lines: boolean[] = [false, false, false, false];
    const p = new Plic(95, 4, (ctx, on) => (lines[ctx] = on));
    return { p, lines };
  };
  const PRIO = (s: number) => 4 * s;
  const EN = (ctx: number) => 0x2000 + 0x80 * ctx;
  const TH = (ctx: number) => 0x200000 + 0x1000 * ctx;

  it('raises a context for an enabled pending source above its threshold; claim takes the highest priority (lowest id on ties); complete re-arms a level still high', () => {
    const { p, lines } = mk();
    p.write(PRIO(10), 4, 3);
    p.write(PRIO(5), 4, 3);
    p.write(PRIO(7), 4, 5);
    p.write(EN(1), 4, (1 << 10) | (1 << 5) | (1 << 7) | 1); // bit 0 (source 0) is not a source
    expect(p.read(EN(1), 4)).toBe((1 << 10) | (1 << 5) | (1 << 7));
    p.setIrq(10, true);
    expect(lines).toEqual([false, true, false, false]);
    p.write(TH(1), 4, 3); // priority 3 is not above threshold 3
    expect(lines[1]).toBe(false);
    p.write(TH(1), 4, 2);
    expect(lines[1]).toBe(true);
    p.setIrq(5, true);
    p.setIrq(7, true);
    expect(p.read(0x1000, 4)).toBe((1 << 10) | (1 << 5) | (1 << 7));
    expect(p.read(TH(1) + 4, 4)).toBe(7);
    expect(p.read(TH(1) + 4, 4)).toBe(5); // tie at 3: lowest id
    expect(p.read(TH(1) + 4, 4)).toBe(10);
    expect(p.read(TH(1) + 4, 4)).toBe(0);
    expect(lines[1]).toBe(false);
    p.setIrq(5, false);
    p.write(TH(1) + 4, 4, 5); // complete 5: low now, stays idle
    p.write(TH(1) + 4, 4, 10); // complete 10: still high, pending again
    expect(lines[1]).toBe(true);
    expect(p.read(0x1000, 4) & (1 << 10)).not.toBe(0);
    // A completion for a source not enabled in that context is ignored.
    p.write(TH(3) + 4, 4, 7);
    expect(p.read(0x1000, 4) & (1 << 7)).toBe(0);
  });

  it('keeps priorities and thresholds to 3 bits, ignores writes to pending bits and odd sizes, and refuses sources out of range', () => {
    const { p } = mk();
    p.write(PRIO(1), 4, 0xff);
    expect(p.read(PRIO(1), 4)).toBe(7);
    p.write(0x1000, 4, 0xffffffff);
    expect(p.read(0x1000, 4)).toBe(0);
    p.write(PRIO(2), 1, 3);
    expect(p.read(PRIO(2), 4)).toBe(0);
    expect(() => p.setIrq(0, true)).toThrow(RangeError);
    expect(() => p.setIrq(96, true)).toThrow(RangeError);
    expect(p.read(0x3ffffc, 4)).toBe(0); // a context that does not exist
  });
});

describe('the UART and the CLINT', () => {
  it('sends THR to the console, reports LSR, receives with DR and raises the receive and THR-empty interrupts', () => {
    const sent: number[] = [];
    const rx = [0x41, 0x42];
    let irq = false;
    const u = new Ns16550({ tx: (b) => sent.push(b), rx: () => rx.shift() ?? -1, rxReady: () => rx.length > 0, irq: (h) => (irq = h) });
    u.write(0, 1, 0x68);
    expect(sent).toEqual([0x68]);
    expect(u.read(5, 1)).toBe(0x61); // THRE | TEMT | DR
    u.write(1, 1, 1); // ERBFI
    expect(irq).toBe(true);
    expect(u.read(2, 1) & 0x0f).toBe(0x04); // receive data available
    expect(u.read(0, 1)).toBe(0x41);
    expect(u.read(0, 1)).toBe(0x42);
    expect(irq).toBe(false);
    expect(u.read(5, 1)).toBe(0x60);
    u.write(1, 1, 2); // ETBEI: THR is empty, so at once
    expect(irq).toBe(true);
    expect(u.read(2, 1) & 0x0f).toBe(0x02);
    expect(irq).toBe(false); // reading IIR acknowledged it
    u.write(3, 1, 0x80); // DLAB: divisor latch, not THR
    u.write(0, 1, 0x12);
    expect(sent).toEqual([0x68]);
    expect(u.read(0, 1)).toBe(0x12);
  });

  it('CLINT: mtime is the virtual clock (read-only), mtimecmp reads back per hart, msip holds bit 0', () => {
    let now = 0x1_2345_6789;
    const c = new HvmClint(2, () => now);
    expect(c.read(0xbff8, 4)).toBe(0x2345_6789);
    expect(c.read(0xbffc, 4)).toBe(1);
    c.write(0xbff8, 4, 0);
    now += 10;
    expect(c.read(0xbff8, 4)).toBe(0x2345_6793);
    expect(c.read(0x4008, 4)).toBe(0xffffffff);
    c.write(0x4008, 4, 5);
    c.write(0x400c, 4, 6);
    expect([c.read(0x4008, 4), c.read(0x400c, 4), c.read(0x4000, 4)]).toEqual([5, 6, 0xffffffff]);
    c.write(4, 4, 3);
    expect(c.read(4, 4)).toBe(1);
    expect(c.read(8, 4)).toBe(0); // no hart 2
  });
});

describe('the MMIO instruction decoder', () => {
  it('decodes loads, stores and AMOs, and nothing else', () => {
    expect(decodeMemAccess(0x00052283)).toEqual({ kind: 'load', size: 4, signed: true, rd: 5 }); // lw t0, 0(a0)
    expect(decodeMemAccess(0x00054283)).toEqual({ kind: 'load', size: 1, signed: false, rd: 5 }); // lbu t0, 0(a0)
    expect(decodeMemAccess(0x00551023)).toEqual({ kind: 'store', size: 2, rs2: 5 }); // sh t0, 0(a0)
    expect(decodeMemAccess(0x0055202f)).toEqual({ kind: 'amo', f5: 0, rd: 0, rs2: 5 }); // amoadd.w zero, t0, (a0)
    expect(decodeMemAccess(0x100522af)).toEqual({ kind: 'lr', rd: 5 }); // lr.w t0, (a0)
    expect(decodeMemAccess(0x00000013)).toBeNull(); // nop
    expect(decodeMemAccess(0x00053283)).toBeNull(); // ld (RV64): not RV32
    expect(extendLoad(0x80, 1, true)).toBe(-128);
    expect(extendLoad(0x80, 1, false)).toBe(0x80);
    expect(extendLoad(0xffff, 2, true)).toBe(-1);
    expect(amoResult(0x18, -1, 1)).toBe(1); // minu
    expect(amoResult(0x10, -1, 1)).toBe(-1); // min
  });
});

describe('xl.cfg for HVM domains', () => {
  const base = 'name = "h"\ntype = "hvm"\nkernel = "k.elf"\n';
  it('reads type, hvm_mode and shadow_sync with their defaults (trap, wp)', () => {
    const c = parseXlCfg(base, 'h.cfg');
    expect([c.type, c.hvmMode, c.shadowSync]).toEqual(['hvm', 'trap', 'wp']);
    expect(parseXlCfg(base + 'shadow_sync = "lazy"\n', 'h.cfg').shadowSync).toBe('lazy');
  });
  it('accepts hw; refuses unknown values, hvm keys on PV domains, pvh, and more RAM than fits below 4 GiB, naming file, line and key', () => {
    expect(parseXlCfg(base + 'hvm_mode = "hw"\n', 'h.cfg').hvmMode).toBe('hw');
    expect(() => parseXlCfg(base + 'hvm_mode = "vmx"\n', 'h.cfg')).toThrow(/unknown hvm_mode "vmx"/);
    expect(() => parseXlCfg(base + 'shadow_sync = "oos"\n', 'h.cfg')).toThrow(/unknown shadow_sync "oos"/);
    expect(() => parseXlCfg('name = "p"\nkernel = "k"\nshadow_sync = "lazy"\n', 'p.cfg')).toThrow(/p\.cfg:3: shadow_sync: applies to type = "hvm" domains only/);
    expect(() => parseXlCfg(base + 'memory = 3000\n', 'h.cfg')).toThrow(/does not fit an HVM domain/);
    expect(() => parseXlCfg('name = "h"\ntype = "hvm"\n', 'h.cfg')).toThrow(/missing required key "kernel"/);
  });
  it('the toolstack holds any create request to the same rules', () => {
    const req = { name: 'h', kernel: new Uint8Array(8), memoryMib: 16, type: 'hvm' };
    expect(() => validateCreateDomain(req, 1024)).not.toThrow();
    expect(() => validateCreateDomain({ ...req, hvmMode: 'hw' }, 1024)).not.toThrow();
    expect(() => validateCreateDomain({ ...req, hvmMode: 'vmx' }, 1024)).toThrow(/unknown hvm_mode "vmx"/);
    expect(() => validateCreateDomain({ ...req, type: 'pv', shadowSync: 'wp' }, 1024)).toThrow(/applies to type "hvm" domains only/);
    expect(() => validateCreateDomain({ ...req, type: 'xen' }, 1024)).toThrow(/unknown type "xen"/);
    expect(() => validateCreateDomain({ ...req, type: 'pvh' }, 1024)).toThrow(/type "pvh" is not supported/);
    const vif = { kind: 'vif', devid: 0, backend: { mac: '00:16:3e:00:00:01' }, frontend: { mac: '00:16:3e:00:00:01' } };
    // A PV vif of an hvm domain (PVHVM) is fine with Xen's platform, refused without it.
    expect(() => validateCreateDomain({ ...req, devices: [vif] }, 1024)).not.toThrow();
    expect(() => validateCreateDomain({ ...req, noXenPlatform: true, devices: [vif] }, 1024)).toThrow(/device 0: a PV vif of an hvm domain needs xen_platform_pci/);
    expect(() => validateCreateDomain({ ...req, devices: [{ ...vif, backend: { ...vif.backend, specification: 'virtio', transport: 'mmio' } }] }, 1024)).not.toThrow();
  });
});

describe('SBI v2.0 as a supervisor sees it (tests/hvm-programs/src/sbi.S)', () => {
  const SBI_PROG = join(process.cwd(), 'tests/hvm-programs/build/sbi.elf');
  const QEMU_OK = spawnSync('sh', ['-c', 'command -v qemu-system-riscv32']).status === 0;

  it('every function and error code the program checks holds on the HVM board, in trap (wp, lazy) and hw mode', { timeout: 30_000 }, () => {
    const image = readFileSync(SBI_PROG);
    for (const hvm of [{ mode: 'trap', shadowSync: 'wp' }, { mode: 'trap', shadowSync: 'lazy' }, { mode: 'hw', shadowSync: 'wp' }] as const) {
      const hv = new Hypervisor({ machineMemoryBytes: 64 << 20 });
      let out = '';
      hv.onConsole = (_d, b) => {
        out += new TextDecoder().decode(b);
      };
      const d = hv.createHvmDomain(image, { name: hvm.mode, memoryBytes: 8 << 20, cmdline: '', vcpus: 1, hvm });
      hv.unpause(d);
      hv.run({ until: 1e9 });
      expect(out, `${hvm.mode}/${hvm.shadowSync}`).toBe('dbcn: \n.\nPASS\n');
      expect(d.shutdownReason).toBe('poweroff');
    }
  });

  it.runIf(QEMU_OK)('and on qemu-system-riscv32 -machine virt under guests/build/sbi.elf', { timeout: 30_000 }, () => {
    const r = spawnSync('qemu-system-riscv32', ['-machine', 'virt', '-nographic', '-bios', 'guests/build/sbi.elf', '-kernel', SBI_PROG], {
      cwd: process.cwd(), encoding: 'utf8', timeout: 20_000,
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('dbcn: \n.\nPASS\n');
  });
});

// Adversarial review of the HVM code (hypervisor/hvm/): guests that attack the board, SBI,
// the shadow and the G-stage in both modes, and the checks that the damage stays theirs.
// Each case here failed before its fix (see docs/security.md, "HVM domains").

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import type { Domain } from '../../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../../hypervisor/hvm/board.ts';
import type { HwMode } from '../../hypervisor/hvm/hw_mode.ts';
import { sbiCall, SBI_EXT } from '../../hypervisor/hvm/sbi.ts';
import type { HvmMode, ShadowSync } from '../../xenguest/hvm_image.ts';
import { startLocalDom0 } from '../../sim/local.ts';
import { OutOfMemoryError } from '../../hypervisor/mm/frame_table.ts';
import { planHvmDomain, writeHvmImage } from '../../xenguest/hvm_image.ts';
import { BuildError } from '../../xenguest/pv_bootstrap.ts';
import { u32Bytes, writeElf } from '../helpers/elf_writer.ts';

const prog = (n: string) => readFileSync(join(process.cwd(), `tests/hvm-programs/build/${n}.elf`));

type Variant = { mode: HvmMode; sync: ShadowSync; htinst?: boolean };
const VARIANTS: Variant[] = [
  { mode: 'trap', sync: 'wp' },
  { mode: 'trap', sync: 'lazy' },
  { mode: 'hw', sync: 'wp' },
  { mode: 'hw', sync: 'wp', htinst: false },
];
const label = (v: Variant) => `${v.mode}${v.mode === 'trap' ? `, ${v.sync}` : v.htinst === false ? ', instruction fetched' : ', htinst'}`;

function machine(mib = 256) {
  const hv = new Hypervisor({ machineMemoryBytes: mib << 20 });
  const out = new Map<number, string>();
  hv.onConsole = (d, b) => out.set(d.domid, (out.get(d.domid) ?? '') + new TextDecoder().decode(b));
  return { hv, out: (d: Domain) => out.get(d.domid) ?? '' };
}

function hvm(hv: Hypervisor, image: Uint8Array, v: Variant, o: { mib?: number; vcpus?: number; paused?: boolean } = {}): Domain {
  const d = hv.createHvmDomain(image, { name: `h${hv.domains.size}`, memoryBytes: (o.mib ?? 8) << 20, cmdline: '', vcpus: o.vcpus ?? 1, hvm: { mode: v.mode, shadowSync: v.sync } });
  if (v.htinst === false) for (const c of board(d).vcpus) (c.mode as HwMode).useHtinst = false;
  if (!o.paused) hv.unpause(d);
  return d;
}

const board = (d: Domain) => d.hvm as HvmBoard;

describe('HVM guests against the hypervisor', { timeout: 30_000 }, () => {
  for (const v of VARIANTS) {
    it(`a store split at a page boundary into a write-protected page table lands where the guest's mappings say, or traps (${label(v)})`, () => {
      // Before: trap mode with wp emulated it as one store at the first part's guest-physical
      // address, so its second half went into the guest-physically next frame.
      const { hv, out } = machine();
      const d = hvm(hv, prog('ptsplit'), v);
      hv.run({ until: 1e9 });
      expect(out(d)).toMatch(/^(stored|misaligned)\nPASS\n$/);
      if (v.mode === 'trap' && v.sync === 'wp') expect(out(d)).toContain('misaligned');
    });

    it(`a load or store touching a device misaligned is an access fault, not a device access at another address (${label(v)})`, () => {
      // Before: split at a page boundary between RAM and a device, the device was read (or
      // written) at the second part's address with the whole access's size.
      const { hv, out } = machine();
      const d = hvm(hv, prog('mmiosplit'), v);
      hv.run({ until: 1e9 });
      expect(out(d)).toBe('PASS\n');
    });
  }

  for (const mode of ['trap', 'hw'] as const) {
    it(`SBI remote_sfence_vma of a kernel address (>= 0x80000000) fences that page on each hart, not a million (${mode})`, () => {
      // Before: `start & ~0xfff` went negative and the loop ran over 2^20 pages per target
      // (0.3 s of host time for one ecall with 4 vCPUs; the guest was charged 200 ns).
      const { hv } = machine();
      const d = hvm(hv, prog('csr'), { mode, sync: 'lazy' }, { vcpus: 4, paused: true });
      const b = board(d);
      const fenced: (number | null)[] = [];
      for (const t of b.vcpus) {
        const m = t.mode;
        const orig = m.remoteSfence.bind(m);
        m.remoteSfence = (va) => {
          fenced.push(va);
          orig(va);
        };
      }
      const v0 = b.vcpus[0]!;
      const x = v0.vcpu.hart.x;
      x[17] = SBI_EXT.rfence;
      x[16] = 1; // remote_sfence_vma(hart_mask, hart_mask_base, start, size)
      x[10] = 0;
      x[11] = -1; // all harts
      x[12] = 0xc0001234 | 0;
      x[13] = 0x10;
      expect(sbiCall(v0, b, hv.now())).toEqual({ kind: 'ret', error: 0, value: undefined });
      expect(fenced).toEqual([0xc0001000, 0xc0001000, 0xc0001000, 0xc0001000]);
      fenced.length = 0;
      x[12] = 0xfffff800 | 0; // two pages, up to the top of the address space
      x[13] = 0x800;
      sbiCall(v0, b, hv.now());
      expect(fenced.length).toBe(4);
      expect(new Set(fenced)).toEqual(new Set([0xfffff000]));
    });
  }

  for (const v of VARIANTS.slice(0, 3)) {
    it(`a debug-console flood loses nothing: short writes when the console is full (${label(v)})`, async () => {
      // Before: the board accepted every byte, kept 16 KiB and dropped the rest while telling
      // the guest all was written; the backlog, an array shifted per byte, cost the host
      // about half a second per virtual millisecond of flood.
      const { hv } = machine();
      let got = 0;
      const dom0 = startLocalDom0(hv, { onConsole: (_d, bytes) => { got += bytes.length; } });
      try {
        const d = hvm(hv, prog('dbcnflood'), v);
        await hv.runAsync({ until: 50e6 });
        expect(d.shutdownReason).toBe('poweroff');
        expect(board(d).consoleDropped).toBe(0);
        expect(got).toBe(64 * 4096 + '\nPASS\n'.length);
      } finally {
        dom0.close();
      }
    });
  }
});

describe('isolation: an HVM guest reaches no frame but its own RAM', { timeout: 60_000 }, () => {
  const MARKER = 0x5ec0de11;
  const PATTERN = (0x80002 << 10) | 0xcf; // what tests/hvm-programs/src/isolation.S counts as a leak
  for (const v of VARIANTS.slice(0, 3)) {
    it(`every guest-physical page number of the machine, mapped, addressed with paging off and walked as a table: no other domain's frame, shadow or G-stage table, ring or its own table is read or written (${label(v)})`, () => {
      // 24 MiB of machine frames, 0x80000..0x817ff: machine frame numbers and guest-physical
      // RAM page numbers overlap, so a translation that confused them would show here.
      const { hv, out } = machine(24);
      const victim = hv.createEmptyDomain({ name: 'victim', nrPages: 1024 });
      for (const mfn of victim.p2m) hv.frames.frameWords(mfn).fill(PATTERN | 0);
      const other = hvm(hv, prog('csr'), v, { mib: 4 });
      const d = hvm(hv, prog('isolation'), v);
      hv.run({ until: 5e9 });
      expect(out(d)).toMatch(/^leaks 00000000 faults [0-9a-f]{8}\nPASS\n$/);
      expect(out(other)).toContain('PASS\n');
      for (const mfn of victim.p2m) expect(hv.frames.frameWords(mfn).every((w) => w === (PATTERN | 0))).toBe(true);
      // The marker the guest stored everywhere is in no frame outside its p2m.
      const own = new Set(d.p2m);
      const outside: number[] = [];
      for (let mfn = hv.frames.firstMfn; mfn < hv.frames.firstMfn + hv.frames.nrFrames; mfn++) {
        if (own.has(mfn)) continue;
        const w = hv.mem.words[mfn];
        if (w && w.includes(MARKER | 0)) outside.push(mfn);
      }
      expect(outside).toEqual([]);
    });
  }
});

describe('HVM builds from a privileged client', () => {
  it('refuses an HVM domain with more RAM than fits below 4 GiB guest-physical, with a clear error, and leaks no frame', () => {
    // Before: a domain made empty with 3 GiB (dom0's builder caps at 2 GiB; the control
    // service's domainBuild did not) was built with RAM past 4 GiB guest-physical.
    const hv = new Hypervisor({ machineMemoryBytes: 4096 * 2 ** 20 });
    const free0 = hv.frames.nrFrames - hv.frames.allocated;
    const d = hv.createEmptyDomain({ name: 'big', nrPages: 3072 * 256 });
    expect(() => hv.finishHvmBuild(d, { entry: 0x80000000, dtbAddr: 0x80001000, vcpus: 1 }, { mode: 'hw', shadowSync: 'wp' })).toThrow(/at most 2048 MiB/);
    expect(d.hvm).toBeFalsy();
    hv.destroyDomain(d);
    expect(hv.frames.nrFrames - hv.frames.allocated).toBe(free0);
  });
});

describe('hostile HVM kernel images (dom0\'s builder and the in-process one)', () => {
  it('a tiny kernel declaring a huge .bss costs the builder its file, not its memsz', () => {
    // Before: every page up to memsz was made and zero-filled (dom0 then sent them all):
    // 486,401 pages, about 2 GB, for a 124-byte file.
    const img = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: u32Bytes(0x0000006f), memsz: 1900 << 20 }] });
    const plan = planHvmDomain(img, { memoryBytes: 2000 << 20 });
    const pages = new Set<number>();
    writeHvmImage(plan, (pfn) => {
      pages.add(pfn);
      return new Uint8Array(4096);
    });
    expect(pages.size).toBeLessThanOrEqual(2); // the code's page and the device tree's
    // And the guest still finds its .bss zero: RAM is zero when the domain is made.
    const hv = new Hypervisor({ machineMemoryBytes: 64 << 20 });
    const small = writeElf({ entry: 0x80000000, segments: [{ vaddr: 0x80000000, data: u32Bytes(0x0000006f, 0x12345678), memsz: 32 << 20 }] });
    const d = hv.createHvmDomain(small, { name: 'bss', memoryBytes: 40 << 20, hvm: { mode: 'trap', shadowSync: 'wp' } });
    expect(board(d).readGuest(0x80000004, 4)).toEqual(u32Bytes(0x12345678));
    expect(board(d).readGuest(0x80000008, 8)).toEqual(new Uint8Array(8));
    expect(board(d).readGuest(0x80000000 + (20 << 20), 4096)).toEqual(new Uint8Array(4096));
  });

  it('refuses segments that load the same file bytes many times over (a 64 KiB file describing 512 KiB of data)', () => {
    // Overlapping physical ranges were refused, but segments at distinct addresses could all
    // view one stretch of the file: up to all of RAM's pages made from a 16 MiB file.
    const data = new Uint8Array(64 << 10).fill(0x13);
    const img = writeElf({
      entry: 0x80000000,
      segments: [
        { vaddr: 0x80000000, data },
        ...Array.from({ length: 7 }, (_, k) => ({ vaddr: 0x80100000 + k * 0x100000, data: new Uint8Array(4) })),
      ],
    });
    // Program headers follow the ELF header (52 bytes, 32 each): point segments 1..7 at segment 0's bytes.
    const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
    const phoff = dv.getUint32(28, true);
    const off0 = dv.getUint32(phoff + 4, true);
    for (let k = 1; k < 8; k++) {
      const o = phoff + k * 32;
      dv.setUint32(o + 4, off0, true);
      dv.setUint32(o + 16, data.length, true);
      dv.setUint32(o + 20, data.length, true);
    }
    expect(() => planHvmDomain(img, { memoryBytes: 16 << 20 })).toThrow(BuildError);
    expect(() => planHvmDomain(img, { memoryBytes: 16 << 20 })).toThrow(/at most twice/);
  });

  for (const mode of ['trap', 'hw'] as const) {
    it(`a create that does not fit its G-stage or shadow tables is ENOMEM (OutOfMemoryError) and leaks nothing (${mode})`, () => {
      // Before: a RangeError (G-stage) or ShadowOutOfMemory, which the server reported as
      // "internal error" (EIO) instead of ENOMEM.
      const hv = new Hypervisor({ machineMemoryBytes: 16 << 20 });
      const free0 = hv.frames.nrFrames - hv.frames.allocated;
      const kinds = new Set<string>();
      for (let pages = free0 - 12; pages <= free0; pages++) {
        try {
          hv.destroyDomain(hv.createHvmDomain(prog('csr'), { name: `f${pages}`, memoryBytes: pages * 4096, hvm: { mode, shadowSync: 'wp' } }));
        } catch (e) {
          expect(e).toBeInstanceOf(OutOfMemoryError);
          kinds.add((e as Error).message.replace(/d\d+/, 'dN').replace(/"f\d+"/, '"f"'));
        }
        expect(hv.frames.nrFrames - hv.frames.allocated).toBe(free0);
      }
      expect([...kinds].some((m) => /G-stage|shadow/.test(m))).toBe(true);
    });
  }
});

// Hostile kernels on the native board (pvsim run-native, pvsim compare's native cells): a
// kernel that prints forever is held to a bounded console, whatever it prints; images whose
// segments lie outside RAM, on MMIO or over the firmware are refused, naming the segment.

import { describe, expect, it } from 'vitest';
import { MAX_NATIVE_CONSOLE_LINES, MAX_NATIVE_LINE, runNative } from '../../sim/native/machine.ts';

/** An RV32 ELF with one RWX PT_LOAD of `code` at `paddr`, entered at its start. */
function kernel(code: number[], paddr = 0x80200000, memsz = code.length * 4): Uint8Array {
  const b = new Uint8Array(4096);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 243, true); // EM_RISCV
  dv.setUint32(24, paddr, true);
  dv.setUint32(28, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, 1, true);
  dv.setUint16(46, 40, true);
  const ph = [1, 1024, paddr, paddr, code.length * 4, memsz, 7];
  ph.forEach((v, i) => dv.setUint32(52 + i * 4, v >>> 0, true));
  code.forEach((w, i) => dv.setUint32(1024 + i * 4, w >>> 0, true));
  return b;
}

// lui t0, 0x10000 (the UART); li t1, CH; loop: sb t1, 0(t0); j loop
const printForever = (ch: number) => kernel([0x100002b7, (ch << 20) | 0x313, 0x00628023, 0xffdff06f]);

describe('native board: hostile kernels', () => {
  it('a kernel printing newlines or one endless line forever keeps a bounded console', async () => {
    const lines = await runNative({ kernel: printForever(0x0a), cmdline: '', memoryMiB: 16, maxInstructions: 1_500_000, maxVirtualNs: 60e9 });
    expect(lines.exit).toBe('timeout');
    expect(lines.console.length).toBeLessThanOrEqual(MAX_NATIVE_CONSOLE_LINES);
    const one = await runNative({ kernel: printForever(0x41), cmdline: '', memoryMiB: 16, maxInstructions: 1_500_000, maxVirtualNs: 60e9 });
    expect(one.console.at(-1)).toBe('A'.repeat(MAX_NATIVE_LINE));
  });

  it('segments outside RAM, on the UART or the boot ROM, past 4 GiB or over the firmware are refused, naming the segment', async () => {
    const run = (k: Uint8Array) => runNative({ kernel: k, cmdline: '', memoryMiB: 16, maxInstructions: 1000, maxVirtualNs: 1e6 });
    await expect(run(kernel([0], 0x80200000, 0x7fd00000))).rejects.toThrow(/segment at physical 0x80200000 \(\+0x7fd00000\) is outside guest RAM/);
    await expect(run(kernel([0], 0x10000000))).rejects.toThrow(/segment at physical 0x10000000 .* is outside guest RAM/);
    await expect(run(kernel([0], 0x1000))).rejects.toThrow(/segment at physical 0x1000 .* is outside guest RAM/);
    await expect(run(kernel([0], 0xfffff000))).rejects.toThrow(/is outside guest RAM/);
    await expect(run(kernel([0], 0x80000000))).rejects.toThrow(/firmware segment at 0x80000000 .* is not in RAM below the kernel/);
  });
});

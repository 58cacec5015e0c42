// `pvsim compare` reads the guest's result line: a guest prints whatever it wants. A native
// kernel of our own making prints hostile result lines; the cell must say what is wrong or
// keep the guest's keys as data, never report Infinity, NaN or a negative time.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCell, type CellJob } from '../../sim/compare/run_cell.ts';
import { IMAGES } from '../../cli/compare.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A native kernel that prints `text` on the UART, then spins. */
function printer(text: string): string {
  const code = [0x100002b7]; // lui t0, 0x10000 (the UART)
  for (const c of new TextEncoder().encode(text)) code.push((c << 20) | 0x313, 0x00628023); // li t1, c; sb t1, 0(t0)
  code.push(0x0000006f); // j .
  const paddr = 0x80200000;
  const b = new Uint8Array(1024 + code.length * 4);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true);
  dv.setUint16(18, 243, true);
  dv.setUint32(24, paddr, true);
  dv.setUint32(28, 52, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, 1, true);
  dv.setUint16(46, 40, true);
  [1, 1024, paddr, paddr, code.length * 4, code.length * 4, 7].forEach((v, i) => dv.setUint32(52 + i * 4, v, true));
  code.forEach((w, i) => dv.setUint32(1024 + i * 4, w >>> 0, true));
  const file = join(dir, `k${Math.random().toString(36).slice(2)}.elf`);
  writeFileSync(file, b);
  return file;
}

const job = (native: string): CellJob => ({ workload: 'cpu:n=1', mode: 'native', io: null, shadow: null, vary: {}, seed: 1, images: { ...IMAGES, native }, tmpDir: dir, maxVirtualNs: 2e6 });

describe('pvsim compare: hostile result lines', () => {
  it('ns= that is not a time fails the cell with a reason; no Infinity, NaN or negative time reaches the report', async () => {
    for (const ns of ['1e400', '-5', 'NaN', '99999999999999999999']) {
      const c = await runCell(job(printer(`work=cpu ns=${ns} iterations=1 check=0x1\n`)));
      expect(c.ok, ns).toBe(false);
      expect(c.error, ns).toBe(`the result line's ns=${ns} is not a virtual time (0 to 2000000 ns)`);
      expect(c.virtualNs).toBe(0);
    }
  });

  it('__proto__=, constructor= and a fake check= are the guest\'s own keys, data only', async () => {
    const c = await runCell(job(printer('work=cpu ns=1000 iterations=1 __proto__=polluted constructor=x toString=y check=0xfake\n')));
    expect(c.ok).toBe(true);
    expect(c.checksum).toBe('0xfake');
    expect(Object.keys(c.result)).toEqual(['work', 'ns', 'iterations', '__proto__', 'constructor', 'toString', 'check']);
    expect(c.result['__proto__']).toBe('polluted');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(c)).result.toString).toBe('y');
  });
});

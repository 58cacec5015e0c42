// The hypervisor's modules form no import cycle (type-only imports included): each concept
// depends on the ones below it, and the Hypervisor class composes them on top.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles } from './helpers/import_cycles.ts';

describe('import cycles', () => {
  it('there are none in hypervisor/', () => {
    expect(importCycles('hypervisor')).toEqual([]);
  });

  it('the checker finds one (two modules importing each other, by type only)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cycles-'));
    writeFileSync(join(dir, 'a.ts'), "import type { B } from './b.ts';\nexport interface A { b: B }\n");
    writeFileSync(join(dir, 'b.ts'), "import {\n  type A,\n} from './a.ts';\nexport interface B { a: A }\n");
    writeFileSync(join(dir, 'c.ts'), "import { x } from './a.ts';\n");
    try {
      expect(importCycles(dir)).toEqual([['a.ts', 'b.ts']]);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

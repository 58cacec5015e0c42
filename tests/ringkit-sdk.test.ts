// The guest SDK as a user outside the tree uses it: `pvsim sdk --makefile` gives a fragment
// to include, and the example's frontend, copied to a directory of its own and built with
// only that, is byte for byte the committed examples/echodev/build/echofront.elf.

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { oracleAvailable } from './helpers/xen_oracle.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const pvsim = (...args: string[]) => execFileSync(process.execPath, [PVSIM, ...args], { encoding: 'utf8', timeout: 30_000 });

describe('pvsim sdk', () => {
  it('prints the paths, and JSON that names files that exist', () => {
    expect(pvsim('sdk')).toMatch(/guest headers +\S+\/guests\/include/);
    const p = JSON.parse(pvsim('sdk', '--json')) as Record<string, string>;
    for (const k of ['include', 'lib', 'linkerScript', 'makefile', 'driverApi', 'ringApi', 'example']) expect(existsSync(p[k]!), k).toBe(true);
    expect(pvsim('sdk', '--makefile-path').trim()).toBe(p.makefile);
  });

  it.skipIf(!oracleAvailable())('builds the example frontend out of the tree, byte for byte the committed image', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-sdk-'));
    try {
      for (const f of ['echofront.c', 'echoif.h']) copyFileSync(join('examples/echodev', f), join(dir, f));
      writeFileSync(join(dir, 'pvsim.mk'), pvsim('sdk', '--makefile'));
      writeFileSync(
        join(dir, 'Makefile'),
        ['include pvsim.mk', 'build/echofront.elf: $(OBJDIR)/echofront.o $(PVSIM_LIB_OBJS)', '\t@mkdir -p $(@D)', '\t$(PVSIM_LINK) -o $@ $^', '$(OBJDIR)/%.o: %.c echoif.h', '\t$(PVSIM_COMPILE)', ''].join('\n'),
      );
      const r = spawnSync('make', ['-s', '-C', dir, '-j2'], { encoding: 'utf8', timeout: 120_000 });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(readFileSync(join(dir, 'build/echofront.elf')).equals(readFileSync('examples/echodev/build/echofront.elf'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});

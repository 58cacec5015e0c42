// The example device through the toolstack, with real processes: `pvsim up`, then
// `pvsim xl create examples/echodev/echodev.cfg` (xl.cfg's vdev = [ 'type=echo,driver=...' ])
// makes dom0 — its own process — load the backend module and serve the C frontend; and a
// vdev a user gets wrong is a clear error that creates nothing.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startUp, upChildren, xl } from './helpers/pvsim_up.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-ringkit-xl-'));
const children = upChildren();

const FRONT = join(process.cwd(), 'examples/echodev/build/echofront.elf');
function cfg(name: string, vdev: string): string {
  const f = join(dir, `${name}.cfg`);
  writeFileSync(f, `name = "${name}"\nkernel = "${FRONT}"\nmemory = 8\non_poweroff = "preserve"\nvdev = [ '${vdev}' ]\n`);
  return f;
}

describe('xl create with a user device (vdev)', { timeout: 90_000 }, () => {
  it('loads the backend in dom0 and serves the example frontend; a wrong vdev is refused with a clear error', async () => {
    const u = await startUp([], { tmpdir: dir, children });
    const a = xl(u, 'create', join(process.cwd(), 'examples/echodev/echodev.cfg'));
    expect(a.err).toBe('');
    expect(a.out).toContain('(echodev) created');
    const con = xl(u, 'console', 'echodev');
    expect(con.out).toMatch(/echofront: sent 200 answered 200 errors 0/);

    const missing = xl(u, 'create', cfg('nodrv', 'type=echo2'));
    expect(missing.status).not.toBe(0);
    expect(missing.err).toMatch(/vdev\[0\].*no driver=/);
    const reserved = xl(u, 'create', cfg('vbdtype', 'type=vbd,driver=./x.ts'));
    expect(reserved.err).toMatch(/reserved for Xen's own backends/);
    const notThere = xl(u, 'create', cfg('nofile', `type=echo3,driver=${join(dir, 'absent.ts')}`));
    expect(notThere.status).not.toBe(0);
    expect(notThere.err).toMatch(/cannot load .*absent\.ts/);
    const list = xl(u, 'list').out;
    expect(list).toMatch(/echodev/);
    expect(list).not.toMatch(/nofile|nodrv|vbdtype/);
  });
});

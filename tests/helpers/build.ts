// vitest's global setup: brings dist/ up to date before any test starts a pvsim process, so
// bin/pvsim.js runs the compiled code of the sources under test (a build only when a source
// is newer than dist/, about 1 s; otherwise a check of a few ms).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const r = spawnSync(process.execPath, [join(process.cwd(), 'scripts/build.js'), '--if-stale'], { stdio: 'inherit', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`npm run build failed (${r.signal ?? `status ${r.status}`}): the tests would start stale or no pvsim processes`);
}

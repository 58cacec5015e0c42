// Where pvsim is on disk, for the code that needs files of the package (guest images) or
// starts pvsim processes of its own (`up`, `run`, `demo`). The same module runs from the
// sources (cli/self.ts, under tsx or vitest) and compiled (dist/cli/self.js), so paths are
// found from the package root, never from this file's own directory.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

function packageRoot(): string {
  for (let dir = HERE; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`pvsim: no package.json above ${HERE}`);
  }
}

/** The directory holding package.json, guests/ and bin/. */
export const PACKAGE_ROOT = packageRoot();

/** True when this process runs the compiled build (dist/), not the sources. */
export const COMPILED = import.meta.url.endsWith('.js');

/**
 * node's arguments to run `pvsim <args>` as a child process. Compiled, the child runs
 * dist/cli/pvsim.js straight away (the build was found fresh when this process started);
 * from the sources, bin/pvsim.js decides as it does for a user.
 */
export function pvsimArgv(args: readonly string[]): string[] {
  return [COMPILED ? join(HERE, 'pvsim.js') : join(PACKAGE_ROOT, 'bin/pvsim.js'), ...args];
}

#!/usr/bin/env node
// `npm run build` (and the prepare script `npm ci` runs): compiles the TypeScript to dist/
// (ESM, source maps; tsconfig.build.json) and copies the files the compiled code loads
// relative to itself. The stamp goes first and comes back last: while building, and after
// a failed build, dist/ counts as stale and bin/pvsim.js runs the sources through tsx.
// `--if-stale` builds only when a source is newer than the last build (the test suite's
// global setup uses it, so tests that start pvsim processes run the code under test).

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ASSETS, DIST, ROOT, STAMP, distIsFresh } from './dist.js';

if (process.argv.includes('--if-stale') && distIsFresh()) process.exit(0);

rmSync(STAMP, { force: true });
// typescript's exports map hides bin/tsc; its package.json (exported) sits beside it.
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit', cwd: ROOT });
if (r.status !== 0) {
  process.stderr.write(`pvsim build: tsc failed (${r.signal ?? `status ${r.status}`}); bin/pvsim.js will run the sources through tsx\n`);
  process.exit(1);
}
for (const a of ASSETS) {
  mkdirSync(dirname(join(DIST, a)), { recursive: true });
  copyFileSync(join(ROOT, a), join(DIST, a));
}
writeFileSync(STAMP, `${new Date().toISOString()}\n`);

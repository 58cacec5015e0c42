// Where the compiled build lives and whether it may be used. `npm ci` builds dist/ (the
// package's prepare script, scripts/build.js); bin/pvsim.js runs dist/ when it is at least as
// new as every source it was built from, and the TypeScript sources through tsx otherwise
// (no build yet, or a source edited since): never stale code. Plain JavaScript, so that
// deciding costs no TypeScript loader (about 2 ms: one stat per source file and directory).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(ROOT, 'dist');
/** Written last by a successful build; its mtime is the build's. */
export const STAMP = join(DIST, '.stamp');
/** Files other than the TypeScript sources that the build depends on or copies. */
export const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'protocol/pvsim.proto'];
/** Non-TypeScript files the compiled code loads relative to its own module (copied as is). */
export const ASSETS = ['protocol/pvsim.proto'];

/** The directories compiled, as tsconfig.build.json lists them. */
export function sourceDirs() {
  return JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8')).include;
}

function newestMtime(dir) {
  let newest = statSync(dir).mtimeMs; // a file added, removed or renamed
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** True when dist/ was built after the last change to any of its sources. */
export function distIsFresh() {
  let built;
  try {
    built = statSync(STAMP).mtimeMs;
  } catch {
    return false;
  }
  try {
    for (const f of BUILD_INPUTS) if (statSync(join(ROOT, f)).mtimeMs > built) return false;
    for (const d of sourceDirs()) if (newestMtime(join(ROOT, d)) > built) return false;
  } catch {
    return false; // a source missing or unreadable: let the sources speak for themselves
  }
  return true;
}

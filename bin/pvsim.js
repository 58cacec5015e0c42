#!/usr/bin/env node
// Entry point for the `pvsim` command. Runs the compiled build (dist/, made by `npm ci`'s
// prepare script or `npm run build`) when it is up to date with the sources; otherwise (no
// build, a source edited since, or PVSIM_FROM_SOURCE=1) the TypeScript through tsx's loader,
// which costs about 0.4 s of transpiling at every start.
import { distIsFresh } from '../scripts/dist.js';

if (process.env.PVSIM_FROM_SOURCE !== '1' && distIsFresh()) {
  await import('../dist/cli/pvsim.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/pvsim.ts');
}

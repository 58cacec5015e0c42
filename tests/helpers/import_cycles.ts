// Import cycles among the TypeScript modules under a folder, type-only imports included
// (a cycle of types still ties the modules' meanings together). Run as a script to list
// them: `npx tsx tests/helpers/import_cycles.ts hypervisor`.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const IMPORT = /^\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|^\s*import\s*['"]([^'"]+)['"]/gm;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Module → the modules under the same root it imports (relative paths). */
export function importGraph(root: string): Map<string, string[]> {
  const files = new Set(tsFiles(resolve(root)));
  const g = new Map<string, string[]>();
  for (const f of files) {
    const deps = [...readFileSync(f, 'utf8').matchAll(IMPORT)]
      .map((m) => m[1] ?? m[2]!)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s))
      .filter((p) => files.has(p));
    g.set(f, [...new Set(deps)]);
  }
  return g;
}

/** One cycle per strongly connected component of more than one module (or a self-import). */
export function importCycles(root: string): string[][] {
  const g = importGraph(root);
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], on = new Set<string>();
  const sccs: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n); low.set(v, n++); stack.push(v); on.add(v);
    for (const w of g.get(v)!) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const c: string[] = [];
    for (let w = ''; w !== v; ) { w = stack.pop()!; on.delete(w); c.push(w); }
    if (c.length > 1 || g.get(v)!.includes(v)) sccs.push(c.map((p) => relative(resolve(root), p)).sort());
  };
  for (const v of g.keys()) if (!index.has(v)) visit(v);
  return sccs;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const cycles = importCycles(process.argv[2] ?? 'hypervisor');
  const root = resolve(process.argv[2] ?? 'hypervisor');
  const g = importGraph(root);
  for (const c of cycles) {
    console.log(`cycle (${c.length} modules): ${c.join(' ')}`);
    // The imports inside the cycle, i.e. the ones to cut.
    if (process.argv.includes('-v')) for (const m of c) for (const d of g.get(join(root, m))!) if (c.includes(relative(root, d))) console.log(`  ${m} -> ${relative(root, d)}`);
  }
  console.log(`${cycles.length} cycle(s)`);
}

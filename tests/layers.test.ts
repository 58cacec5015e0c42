// The layer rules of docs/architecture.md, checked over the real import graph: protocol/
// at the bottom; xenguest/ (shared domain building) on protocol/ only; hypervisor/ and
// dom0/ on those two only, never on each other; sim/ composes both; cli/ on top. tests/
// and bench/ are exempt. Type-only and dynamic imports count. Also: no import cycle
// inside hypervisor/ beyond the allow-list below.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildImportGraph,
  importCycles,
  layerViolations,
  scanImports,
  topFolder,
  type ImportEdge,
} from './helpers/layers.ts';

/**
 * Import cycles allowed inside hypervisor/: none. The test fails on any cycle not covered
 * here and on an entry that no longer matches any cycle, so it is kept exact.
 */
const ALLOWED_HYPERVISOR_CYCLES: readonly (readonly string[])[] = [];

const fmt = (e: ImportEdge) => `${e.from}:${e.line} imports ${e.to}`;

/** Cycles the allow-list does not cover, and allow-list entries matching no cycle. */
function cycleProblems(cycles: string[][], allowed: readonly (readonly string[])[]): { unexpected: string[][]; stale: (readonly string[])[] } {
  const covers = (a: readonly string[], c: string[]) => c.every((f) => a.includes(f));
  return {
    unexpected: cycles.filter((c) => !allowed.some((a) => covers(a, c))),
    stale: allowed.filter((a) => !cycles.some((c) => covers(a, c))),
  };
}

describe('layers of the source tree', () => {
  const graph = buildImportGraph();

  it('sees the whole tree', () => {
    // A checker that finds nothing checks nothing: it must see every layer's files and
    // the known imports between them.
    const tops = new Set(graph.files.map(topFolder));
    for (const t of ['protocol', 'xenguest', 'hypervisor', 'dom0', 'sim', 'cli']) expect(tops.has(t), t).toBe(true);
    const crosses = (from: string, to: string) => graph.edges.some((e) => topFolder(e.from) === from && topFolder(e.to) === to);
    for (const [from, to] of [['dom0', 'xenguest'], ['hypervisor', 'xenguest'], ['sim', 'dom0'], ['sim', 'hypervisor'], ['xenguest', 'protocol']]) {
      expect(crosses(from!, to!), `${from}/ -> ${to}/`).toBe(true);
    }
  });

  it('has no wrong-way import between top folders', () => {
    expect(layerViolations(graph.edges).map((v) => `${fmt(v)} (${v.reason})`)).toEqual([]);
  });

  it('keeps hypervisor/cpu/ on itself and protocol/sv32.ts (the CPU engine knows no Xen)', () => {
    const out = graph.edges.filter((e) => e.from.startsWith('hypervisor/cpu/') && !e.to.startsWith('hypervisor/cpu/') && e.to !== 'protocol/sv32.ts');
    expect(out.map(fmt)).toEqual([]);
  });

  it('has no import() with a computed specifier in a checked layer (it could not be checked)', () => {
    const checked = graph.computed.filter((c) => !['tests', 'bench'].includes(topFolder(c.file)));
    expect(checked).toEqual([]);
  });

  it('has no import cycle inside hypervisor/ beyond the shrinking allow-list', () => {
    const { unexpected, stale } = cycleProblems(importCycles(graph.edges, 'hypervisor/'), ALLOWED_HYPERVISOR_CYCLES);
    expect(unexpected, 'new import cycles in hypervisor/').toEqual([]);
    expect(stale, 'allow-list entries that no longer match a cycle: remove them').toEqual([]);
  });
});

describe('the checker rejects what breaks a rule', () => {
  const edge = (from: string, to: string): ImportEdge => ({ from, to, specifier: `./${to}`, line: 1 });

  it('flags each wrong-way direction and passes each allowed one', () => {
    const wrong = [
      edge('protocol/wire.ts', 'xenguest/elf.ts'),
      edge('protocol/wire.ts', 'hypervisor/hypervisor.ts'),
      edge('xenguest/elf.ts', 'hypervisor/cpu/memory.ts'),
      edge('xenguest/elf.ts', 'dom0/dom0.ts'),
      edge('hypervisor/scenario/runner.ts', 'dom0/local.ts'),
      edge('hypervisor/hypervisor.ts', 'sim/local.ts'),
      edge('hypervisor/hypervisor.ts', 'cli/run.ts'),
      edge('dom0/toolstack/builder.ts', 'hypervisor/domain/builder.ts'),
      edge('dom0/dom0.ts', 'sim/local.ts'),
      edge('sim/scenario/runner.ts', 'cli/run.ts'),
    ];
    expect(layerViolations(wrong).map((v) => v.from)).toEqual(wrong.map((e) => e.from));
    const right = [
      edge('cli/run.ts', 'sim/scenario/runner.ts'),
      edge('cli/boot.ts', 'hypervisor/hypervisor.ts'),
      edge('sim/local.ts', 'hypervisor/hypervisor.ts'),
      edge('sim/local.ts', 'dom0/daemons.ts'),
      edge('dom0/toolstack/builder.ts', 'xenguest/pv_bootstrap.ts'),
      edge('hypervisor/domain/builder.ts', 'xenguest/pv_bootstrap.ts'),
      edge('xenguest/pv_bootstrap.ts', 'protocol/sv32.ts'),
      edge('tests/x.test.ts', 'hypervisor/hypervisor.ts'),
      edge('bench/run.ts', 'sim/local.ts'),
    ];
    expect(layerViolations(right)).toEqual([]);
  });

  it('finds a wrong-way import in a real tree, type-only and dynamic ones included', () => {
    const root = mkdtempSync(join(tmpdir(), 'pvsim-layers-'));
    const put = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    put('protocol/wire.ts', 'export const X = 1;\n');
    put('hypervisor/hypervisor.ts', "import { X } from '../protocol/wire.ts';\nexport class Hypervisor {}\n");
    put('dom0/ok.ts', "// import { Hypervisor } from '../hypervisor/hypervisor.ts';\nconst s = \"from '../hypervisor/hypervisor.ts'\";\n");
    put('dom0/typed.ts', "import type {\n  Hypervisor,\n} from '../hypervisor/hypervisor.ts';\n");
    put('dom0/lazy.ts', "export async function f() { return import('../hypervisor/hypervisor.ts'); }\n");
    put('dom0/reexport.ts', "export * from '../hypervisor/hypervisor.ts';\n");
    put('tests/t.test.ts', "import '../hypervisor/hypervisor.ts';\n");
    try {
      const g = buildImportGraph(root);
      expect(layerViolations(g.edges).map(fmt).sort()).toEqual([
        'dom0/lazy.ts:1 imports hypervisor/hypervisor.ts',
        'dom0/reexport.ts:1 imports hypervisor/hypervisor.ts',
        'dom0/typed.ts:3 imports hypervisor/hypervisor.ts',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('finds a cycle, and a cycle the allow-list does not cover fails', () => {
    const cycles = importCycles(
      [
        edge('hypervisor/a.ts', 'hypervisor/b.ts'),
        edge('hypervisor/b.ts', 'hypervisor/c.ts'),
        edge('hypervisor/c.ts', 'hypervisor/a.ts'),
        edge('hypervisor/d.ts', 'hypervisor/d.ts'),
        edge('hypervisor/e.ts', 'hypervisor/a.ts'),
        edge('dom0/x.ts', 'dom0/y.ts'),
        edge('dom0/y.ts', 'dom0/x.ts'),
      ],
      'hypervisor/',
    );
    expect(cycles).toEqual([['hypervisor/a.ts', 'hypervisor/b.ts', 'hypervisor/c.ts'], ['hypervisor/d.ts']]);
    expect(cycleProblems(cycles, ALLOWED_HYPERVISOR_CYCLES).unexpected).toEqual(cycles);
    expect(cycleProblems(cycles, [['hypervisor/a.ts', 'hypervisor/b.ts', 'hypervisor/c.ts', 'hypervisor/d.ts']])).toEqual({ unexpected: [], stale: [] });
    expect(cycleProblems([], [['hypervisor/a.ts', 'hypervisor/b.ts']]).stale).toHaveLength(1);
  });

  it('reads specifiers from code only', () => {
    const src = [
      "import a from './a.ts'; // import b from './b.ts'",
      "/* export * from './c.ts' */ const s = 'import(\"./d.ts\")';",
      "const t = `${'x'} from './e.ts'`; const r = /from '.\\/f.ts'/; const q = 1 / 2;",
      "type T = typeof import('./g.ts'); export { h } from './h.ts'; import './i.ts';",
      'const m = await import(name);',
    ].join('\n');
    const r = scanImports(src);
    expect(r.specifiers.map((s) => s.specifier)).toEqual(['./a.ts', './g.ts', './h.ts', './i.ts']);
    expect(r.computed).toEqual([5]);
  });
});

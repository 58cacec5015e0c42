// The import graph of pvsim's own TypeScript and the layer rules it must obey
// (docs/architecture.md, "Layers"). Used by tests/layers.test.ts; run directly
// (`npx tsx tests/helpers/layers.ts`) it prints every wrong-way import and every
// import cycle inside hypervisor/.
//
// Imports are found by scanning the source text rather than by the compiler so
// that type-only imports count too (they vanish from emitted JavaScript but
// still tie one layer's meaning to another's).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Top folders whose imports are checked. tests/ and bench/ are exempt. */
export type Layer = 'protocol' | 'xenguest' | 'hypervisor' | 'dom0' | 'sim' | 'cli';

/**
 * What each layer may import besides itself. protocol/ is the wire and Xen's
 * public ABI; xenguest/ is the pure domain-building code both sides use (libxc's
 * role); the hypervisor and dom0 meet only through protocol/ and xenguest/;
 * sim/ composes both in one process; cli/ sits on top of everything.
 */
export const LAYER_RULES: Readonly<Record<Layer, readonly Layer[]>> = {
  protocol: [],
  xenguest: ['protocol'],
  hypervisor: ['protocol', 'xenguest'],
  dom0: ['protocol', 'xenguest'],
  sim: ['protocol', 'xenguest', 'hypervisor', 'dom0'],
  cli: ['protocol', 'xenguest', 'hypervisor', 'dom0', 'sim'],
};

const CHECKED = new Set<string>(Object.keys(LAYER_RULES));
const EXEMPT = new Set<string>(['tests', 'bench']);
const SKIP_DIRS = new Set<string>(['node_modules', '.git', 'guests', 'docs', 'examples']);

/** One import of one module by another, paths relative to the repo with '/'. */
export interface ImportEdge {
  from: string;
  /** The resolved target, or the bare specifier for packages/node builtins. */
  to: string;
  specifier: string;
  line: number;
}

/**
 * Blanks comments (keeping newlines so line numbers hold) and leaves strings
 * alone, so a specifier mentioned in a comment is not taken for an import.
 */
export function stripComments(src: string, blankStrings = false): string {
  // With blankStrings, the contents of string and template literals become spaces too
  // (quotes kept), so what is left is code alone.
  const lit = (text: string): string => (blankStrings ? text.replace(/[^\n]/g, ' ') : text);
  let out = '';
  let i = 0;
  // Whether a '/' here would start a regular expression rather than divide.
  let regexAllowed = true;
  const templateDepth: number[] = [];
  let braceDepth = 0;
  while (i < src.length) {
    const c = src[i]!;
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      while (i < src.length && src[i] !== '\n') { out += ' '; i++; }
      continue;
    }
    if (c === '/' && n === '*') {
      while (i < src.length && !(src[i] === '*' && src[i + 1] === '/')) {
        out += src[i] === '\n' ? '\n' : ' ';
        i++;
      }
      out += '  ';
      i += 2;
      continue;
    }
    if (c === '\'' || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
      out += c + lit(src.slice(i + 1, j)) + (src[j] ?? '');
      i = j + 1;
      regexAllowed = false;
      continue;
    }
    if (c === '`' || (c === '}' && templateDepth.length > 0 && templateDepth[templateDepth.length - 1] === braceDepth)) {
      if (c === '}') templateDepth.pop();
      // Inside a template literal up to its end or the next `${`.
      let j = i + 1;
      while (j < src.length && src[j] !== '`' && !(src[j] === '$' && src[j + 1] === '{')) {
        j += src[j] === '\\' ? 2 : 1;
      }
      if (src[j] === '$') {
        templateDepth.push(braceDepth);
        out += c + lit(src.slice(i + 1, j)) + '${';
        i = j + 2;
        regexAllowed = true;
      } else {
        out += c + lit(src.slice(i + 1, j)) + (src[j] ?? '');
        i = j + 1;
        regexAllowed = false;
      }
      continue;
    }
    if (c === '/' && regexAllowed) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== '\n') {
        if (src[j] === '\\') { j += 2; continue; }
        if (src[j] === '[') inClass = true;
        else if (src[j] === ']') inClass = false;
        else if (src[j] === '/' && !inClass) break;
        j++;
      }
      out += c + lit(src.slice(i + 1, j)) + (src[j] ?? '');
      i = j + 1;
      regexAllowed = false;
      continue;
    }
    if (c === '{') braceDepth++;
    if (c === '}') braceDepth--;
    out += c;
    i++;
    if (/\s/.test(c)) continue;
    if (/[\w$)\]]/.test(c)) {
      // After an identifier a '/' divides, except after keywords like `return`.
      let k = out.length;
      while (k > 0 && /[\w$]/.test(out[k - 1]!)) k--;
      const word = out.slice(k);
      regexAllowed = /^(return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await)$/.test(word);
    } else {
      regexAllowed = true;
    }
  }
  return out;
}

// `import ... from 'x'`, `export ... from 'x'`, `import 'x'`, `import('x')`
// (in code or in a type), `require('x')`: the keyword, then a string literal.
const IMPORT_RE = /\b(?:from|import|require)\s*\(?\s*(['"])/g;
// Any `import(` whose argument is not a literal cannot be checked; reported.
const COMPUTED_IMPORT_RE = /\bimport\s*\(\s*(?!['"])/g;

export interface ScanResult {
  specifiers: { specifier: string; line: number }[];
  computed: number[];
}

/** The import specifiers of one file's source text. */
export function scanImports(src: string): ScanResult {
  const text = stripComments(src);
  // Keywords are looked for in code only (not inside strings); the specifier is
  // then read at the same offset from the text with strings kept.
  const code = stripComments(src, true);
  const lineAt = (idx: number): number => code.slice(0, idx).split('\n').length;
  const specifiers: { specifier: string; line: number }[] = [];
  for (const m of code.matchAll(IMPORT_RE)) {
    const open = m.index + m[0].length - 1;
    const close = text.indexOf(m[1]!, open + 1);
    const specifier = text.slice(open + 1, close);
    if (close < 0 || specifier.includes('\n')) continue;
    specifiers.push({ specifier, line: lineAt(m.index) });
  }
  const computed: number[] = [];
  for (const m of code.matchAll(COMPUTED_IMPORT_RE)) computed.push(lineAt(m.index));
  return { specifiers, computed };
}

function walk(dir: string, acc: string[]): void {
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) walk(full, acc);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) acc.push(full);
  }
}

const toPosix = (p: string): string => p.split(sep).join('/');

/** Resolves a relative specifier to a repo-relative file, as NodeNext would. */
function resolveSpecifier(root: string, fromFile: string, specifier: string): string {
  if (!specifier.startsWith('.')) return specifier;
  const base = resolve(root, dirname(fromFile), specifier);
  const candidates = [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')];
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? base;
  return toPosix(relative(root, hit));
}

export interface ImportGraph {
  files: string[];
  edges: ImportEdge[];
  /** Files with an import() whose specifier is computed: unverifiable. */
  computed: { file: string; line: number }[];
}

/** Every import of every .ts file under root (outside node_modules, guests, docs). */
export function buildImportGraph(root: string = REPO_ROOT): ImportGraph {
  const abs: string[] = [];
  walk(root, abs);
  const files = abs.map((f) => toPosix(relative(root, f))).sort();
  const edges: ImportEdge[] = [];
  const computed: { file: string; line: number }[] = [];
  for (const file of files) {
    const { specifiers, computed: dyn } = scanImports(readFileSync(join(root, file), 'utf8'));
    for (const { specifier, line } of specifiers) {
      edges.push({ from: file, to: resolveSpecifier(root, file, specifier), specifier, line });
    }
    for (const line of dyn) computed.push({ file, line });
  }
  return { files, edges, computed };
}

/** The top folder a repo-relative path lies in ('' for files at the root). */
export function topFolder(path: string): string {
  const i = path.indexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

export interface LayerViolation extends ImportEdge {
  reason: string;
}

/** The imports that break LAYER_RULES. Package and node: imports are not layered. */
export function layerViolations(edges: readonly ImportEdge[]): LayerViolation[] {
  const out: LayerViolation[] = [];
  for (const e of edges) {
    const fromTop = topFolder(e.from);
    if (EXEMPT.has(fromTop) || !CHECKED.has(fromTop)) continue;
    if (!e.specifier.startsWith('.')) continue;
    const toTop = topFolder(e.to);
    if (toTop === fromTop) continue;
    const allowed = LAYER_RULES[fromTop as Layer];
    if (!allowed.includes(toTop as Layer)) {
      out.push({ ...e, reason: `${fromTop}/ may import only ${allowed.map((l) => `${l}/`).join(', ') || 'itself'}` });
    }
  }
  return out;
}

/**
 * The import cycles among files under `prefix` (strongly connected components
 * of more than one file, or a file importing itself), each sorted.
 */
export function importCycles(edges: readonly ImportEdge[], prefix: string): string[][] {
  const adj = new Map<string, string[]>();
  for (const e of edges) {
    if (!e.from.startsWith(prefix) || !e.to.startsWith(prefix)) continue;
    const list = adj.get(e.from) ?? [];
    list.push(e.to);
    adj.set(e.from, list);
    if (!adj.has(e.to)) adj.set(e.to, []);
  }
  // Tarjan's algorithm, iterative so deep chains cannot overflow the stack.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const sccs: string[][] = [];
  for (const start of [...adj.keys()].sort()) {
    if (index.has(start)) continue;
    const work: { node: string; next: number }[] = [{ node: start, next: 0 }];
    index.set(start, counter); low.set(start, counter); counter++;
    stack.push(start); onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const succ = adj.get(frame.node)!;
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, counter); low.set(w, counter); counter++;
          stack.push(w); onStack.add(w);
          work.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(w)!));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]!.node;
        low.set(parent, Math.min(low.get(parent)!, low.get(frame.node)!));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const scc: string[] = [];
        let w: string;
        do { w = stack.pop()!; onStack.delete(w); scc.push(w); } while (w !== frame.node);
        const selfLoop = scc.length === 1 && succ.includes(frame.node);
        if (scc.length > 1 || selfLoop) sccs.push(scc.sort());
      }
    }
  }
  return sccs.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

// Run directly: list what the test would reject.
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const graph = buildImportGraph();
  for (const v of layerViolations(graph.edges)) {
    console.log(`${v.from}:${v.line} -> ${v.to}  (${v.reason})`);
  }
  for (const c of graph.computed) console.log(`${c.file}:${c.line} computed import() cannot be checked`);
  for (const scc of importCycles(graph.edges, 'hypervisor/')) console.log(`cycle: ${scc.join(' ')}`);
}

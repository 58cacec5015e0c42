// Start-up: `pvsim` runs the compiled build (dist/, made by `npm ci`'s prepare script) when
// it is up to date with the sources, and the sources through tsx otherwise, never stale code.
// Which modules a process really loaded is read from a module-resolution hook that logs
// every file it resolves (Node's loader hooks run in their own thread: it appends to a file).

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = process.cwd();
const dir = mkdtempSync(join(tmpdir(), 'pvsim-startup-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.startsWith('file:')) appendFileSync(process.env.PVSIM_TEST_RESOLVE_LOG, r.url + '\\n');
  return r;
}`;
const PRELOAD = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)});`;

let runs = 0;
/** Runs `pvsim <args>` through bin/pvsim.js; returns its output and the files it loaded. */
function pvsim(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string; loaded: string[] } {
  const log = join(dir, `resolved-${runs++}.txt`);
  writeFileSync(log, '');
  const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(PRELOAD)}`, join(ROOT, 'bin/pvsim.js'), ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, PVSIM_FROM_SOURCE: '', ...env, PVSIM_TEST_RESOLVE_LOG: log },
  });
  const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((u) => u.replace(`file://${ROOT}/`, ''));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, loaded };
}

describe('bin/pvsim.js', () => {
  it('runs the compiled build when dist/ is up to date (the suite builds it first), loading no TypeScript and no tsx', () => {
    const r = pvsim(['--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: pvsim/);
    expect(r.loaded).toContain('dist/cli/pvsim.js');
    expect(r.loaded.filter((f) => f.endsWith('.ts') || f.includes('node_modules/tsx/'))).toEqual([]);
  });

  it('runs the sources through tsx when asked (PVSIM_FROM_SOURCE=1), with the same help', () => {
    const compiled = pvsim(['--help']);
    const r = pvsim(['--help'], { PVSIM_FROM_SOURCE: '1' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.loaded).toContain('cli/pvsim.ts');
    expect(r.loaded.some((f) => f.startsWith('dist/'))).toBe(false);
    expect(r.stdout).toBe(compiled.stdout);
  });

  it('a compiled subcommand finds the files of the package (guest images, the proto file) from the package root', () => {
    const r = pvsim(['boot', join(ROOT, 'guests/build/hello.elf')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.loaded).toContain('dist/protocol/wire.js');
    expect(r.loaded.filter((f) => f.endsWith('.ts'))).toEqual([]);
  });
});

describe('pvsim dom0 --hypervisor - (how up, run and demo start it beside the hypervisor)', () => {
  it('says so and exits 1 when stdin closes before the URL comes (the hypervisor failed)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/pvsim.js'), 'dom0', '--hypervisor', '-', '--hypervisor-token-file', join(dir, 'none'), '--client-token-file', join(dir, 'none'), '--xenstored-path', join(dir, 'xs.sock')], {
      input: '',
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--hypervisor -: stdin closed before the hypervisor's URL arrived/);
  });
});

describe('distIsFresh (scripts/dist.js)', () => {
  // A package of its own in a temporary directory: the same script, its own sources and build.
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'scripts'), { recursive: true });
  mkdirSync(join(pkg, 'src/sub'), { recursive: true });
  mkdirSync(join(pkg, 'protocol'), { recursive: true });
  copyFileSync(join(ROOT, 'scripts/dist.js'), join(pkg, 'scripts/dist.js'));
  for (const f of ['tsconfig.json', 'package.json', 'protocol/pvsim.proto', 'src/a.ts', 'src/sub/b.ts']) writeFileSync(join(pkg, f), '{}');
  writeFileSync(join(pkg, 'tsconfig.build.json'), JSON.stringify({ include: ['src'] }));
  const fresh = (): boolean => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `import { distIsFresh } from ${JSON.stringify(join(pkg, 'scripts/dist.js'))}; process.stdout.write(String(distIsFresh()));`], { encoding: 'utf8', timeout: 10_000 });
    return r.stdout === 'true';
  };
  const at = (path: string, seconds: number) => utimesSync(join(pkg, path), seconds, seconds);
  const T = 1_700_000_000;
  const allAt = (s: number) => {
    for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'protocol/pvsim.proto', 'src/a.ts', 'src/sub/b.ts', 'src/sub', 'src']) at(f, s);
  };

  it('is false with no build, true after one, and false again once any source, directory or build input is newer', () => {
    allAt(T);
    expect(fresh()).toBe(false); // never built
    mkdirSync(join(pkg, 'dist'));
    writeFileSync(join(pkg, 'dist/.stamp'), '');
    at('dist/.stamp', T + 10);
    expect(fresh()).toBe(true);
    for (const f of ['src/sub/b.ts', 'src/sub', 'protocol/pvsim.proto', 'tsconfig.build.json']) {
      at(f, T + 20);
      expect(fresh(), f).toBe(false);
      at(f, T);
      expect(fresh(), f).toBe(true);
    }
  });
});

// docs/ringkit-tutorial.md works as written: every `$ ` command of its sh blocks and every
// file of its named blocks (```make Makefile, ```ini mydev.cfg) is run or written, in
// order, in a fresh directory — `pvsim up` as a real process, `pvsim` on PATH — and what the
// page says each step shows is what it shows.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CROSS_CC } from './helpers/xen_oracle.ts';
import { startUp, upChildren } from './helpers/pvsim_up.ts';

const ROOT = process.cwd();
const PAGE = readFileSync(join(ROOT, 'docs/ringkit-tutorial.md'), 'utf8');
const base = mkdtempSync(join(tmpdir(), 'pvsim-tutorial-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const children = upChildren();

/** The page's steps in order: a command (`$ ...` in a sh block) or a file (a named block). */
type Step = { cmd: string } | { file: string; text: string };
function steps(md: string): Step[] {
  const out: Step[] = [];
  for (const m of md.matchAll(/```(\w*)(?: (\S+))?\n([\s\S]*?)```/g)) {
    const [, lang, name, body] = m;
    if (name) out.push({ file: name, text: body! });
    else if (lang === 'sh') for (const l of body!.split('\n')) if (l.startsWith('$ ')) out.push({ cmd: l.slice(2) });
  }
  return out;
}

const cross = (() => {
  try {
    execFileSync(CROSS_CC, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('the ring kit tutorial (docs/ringkit-tutorial.md)', () => {
  it('runs as written: build, backend, xl.cfg, run, conformance, faults, exploration', async () => {
    const all = steps(PAGE);
    expect(all.filter((s) => 'cmd' in s).length).toBeGreaterThanOrEqual(12);
    // `pvsim` on PATH, as the page asks.
    const bin = join(base, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'pvsim'), `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/pvsim.js')}" "$@"\n`);
    chmodSync(join(bin, 'pvsim'), 0o755);
    let cwd = base;
    let upEnv: Record<string, string> = {};
    const env = () => ({ ...process.env, PVSIM: ROOT, PATH: `${bin}:${process.env.PATH}`, TMPDIR: base, XDG_RUNTIME_DIR: '', ...upEnv });
    const outputs = new Map<string, { status: number | null; out: string }>();
    for (const s of all) {
      if ('file' in s) {
        writeFileSync(join(cwd, s.file), s.text);
        continue;
      }
      if (s.cmd === 'pvsim up') {
        const u = await startUp([], { tmpdir: base, children });
        upEnv = u.env;
        continue;
      }
      if (s.cmd === 'make -s' && !cross) {
        // No cross compiler here: the committed image is what the build makes (tests/ringkit-sdk.test.ts).
        mkdirSync(join(cwd, 'build'), { recursive: true });
        copyFileSync(join(ROOT, 'examples/echodev/build/echofront.elf'), join(cwd, 'build/echofront.elf'));
        continue;
      }
      const r = spawnSync('sh', ['-c', s.cmd], { cwd, env: env(), encoding: 'utf8', timeout: 150_000 });
      outputs.set(s.cmd, { status: r.status, out: r.stdout + r.stderr });
      const cd = /(?:^|&& )cd (\S+)$/.exec(s.cmd);
      if (cd) cwd = join(cwd, cd[1]!);
      if (!/broken\//.test(s.cmd)) expect(r.status, `${s.cmd}\n${r.stdout}\n${r.stderr}`).toBe(0);
    }
    const get = (part: string) => [...outputs.entries()].find(([c]) => c.includes(part))?.[1];
    expect(readFileSync(join(cwd, 'build/echofront.elf')).equals(readFileSync(join(ROOT, 'examples/echodev/build/echofront.elf')))).toBe(true);
    expect(get('xl console mydev')?.out).toMatch(/echofront: sent 200 answered 200 errors 0/);
    expect(get('ringtest backend')?.out).toMatch(/^22 passed, 0 failed$/m);
    expect(get('ringtest faults')?.out).toMatch(/^5 passed, 0 failed$/m);
    expect(get('explore --backend ./echodev.ts')?.out).toMatch(/^2 passed, 0 failed$/m);
    const broken = get('broken/no-recheck.ts');
    expect(broken?.status).toBe(1);
    expect(broken?.out).toMatch(/lost wake-up/);
    const replay = /replay: (pvsim ringtest explore .*--replay [FBfb]+)$/m.exec(broken!.out)?.[1];
    expect(replay).toBeDefined();
    const again = spawnSync('sh', ['-c', replay!], { cwd, env: env(), encoding: 'utf8', timeout: 60_000 });
    expect(again.status).toBe(1);
    expect(again.stdout).toMatch(/^failed: lost wake-up/m);
    expect(existsSync(join(cwd, 'pvsim.mk'))).toBe(true);
  }, 240_000);
});

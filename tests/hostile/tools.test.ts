// Hostile input to the host-side tools: `pvsim sweep` (its --vary grammar, --collect of
// result files from a shared volume, --index/--out) and `pvsim compare` (--vary, its output
// files). Each case must end in a clear error, quickly, with nothing lost and no hang.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makePlan, planRuns, SweepInputError } from '../../sim/sweep/plan.ts';
import { loadScenario, ScenarioError } from '../../sim/scenario/schema.ts';
import { collectResults, runFileName } from '../../cli/sweep.ts';
import { failedRun } from '../../sim/sweep/run.ts';
import { parseCompareArgs } from '../../sim/compare/report.ts';
import { shQuote } from '../../sim/sweep/k8s.ts';
import fc from 'fast-check';
import { writeTestGuests } from '../helpers/test_guests.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-tools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pvsim = (args: string[], timeout = 60_000) =>
  spawnSync(process.execPath, [join(ROOT, 'bin/pvsim.js'), ...args], { encoding: 'utf8', timeout, cwd: ROOT, env: { ...process.env, TMPDIR: dir } });

function refusal(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('not refused');
}

const hundred = Array.from({ length: 100 }, (_, i) => String(i + 1));

describe('hostile input to pvsim sweep and compare', () => {
  it('a combination count past the bound is refused before the combinations are built', () => {
    // Five keys of 100 values: 10^10 runs. Building them first took all memory.
    const t = performance.now();
    const e = refusal(() => planRuns(['a', 'b', 'c', 'd', 'e'].map((key) => ({ key, values: hundred })), [1, 2]));
    expect(e).toBeInstanceOf(SweepInputError);
    expect(e.message).toBe('the sweep has 20000000000 runs; at most 100000');
    const keys = ['hvmExitNs', 'hypercallNs', 'instructionNs', 'trapReflectNs', 'contextSwitchNs'];
    const c = refusal(() => parseCompareArgs({ workloads: ['cpu'], modes: 'pv', vary: keys.map((k) => `cost.${k}=${hundred.join(',')}`) }));
    expect(c.message).toMatch(/^10000000000 runs asked for .* at most 4096$/);
    expect(performance.now() - t).toBeLessThan(2000);
  });

  it('a scenario that is a FIFO, a device or a directory is refused at once (pvsim run and pvsim sweep)', () => {
    const fifo = join(dir, 'scenario.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(refusal(() => loadScenario(fifo))).toBeInstanceOf(ScenarioError);
    expect(refusal(() => loadScenario(fifo)).message).toBe(`${fifo} is a FIFO, not a regular file`);
    expect(refusal(() => makePlan(fifo, [], undefined)).message).toBe(`${fifo} is a FIFO, not a regular file`);
    expect(refusal(() => makePlan('/dev/zero', [], undefined)).message).toBe('/dev/zero is a character device, not a regular file');
    expect(refusal(() => loadScenario(dir)).message).toBe(`${dir} is a directory, not a regular file`);
    const r = pvsim(['sweep', fifo], 20_000);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`pvsim sweep: ${fifo} is a FIFO, not a regular file\n`);
  });

  describe('--collect of a shared volume', () => {
    const header = { scenario: 's.json', scenarioSha256: '0'.repeat(64), name: 's', vary: [], seeds: [1], runs: 1 };
    const run = failedRun({ index: 0, values: {}, seed: 1 }, 'it failed');
    const volume = (name: string, files: Record<string, string>) => {
      const d = join(dir, name);
      mkdirSync(d);
      for (const [n, text] of Object.entries(files)) writeFileSync(join(d, n), text);
      return d;
    };
    const good = JSON.stringify({ sweep: header, run });

    it('reads a valid file', () => {
      expect(collectResults(volume('ok', { [runFileName(0)]: good })).runs).toHaveLength(1);
    });

    it('refuses a symlink out of the directory, a FIFO and a huge file, without following, blocking or reading it', () => {
      const secret = join(dir, 'secret.json');
      writeFileSync(secret, good);
      const link = volume('link', {});
      symlinkSync(secret, join(link, runFileName(0)));
      expect(refusal(() => collectResults(link)).message).toBe(`--collect: ${join(link, runFileName(0))} is a symbolic link, not a regular file`);
      const fifo = volume('fifo', {});
      expect(spawnSync('mkfifo', [join(fifo, runFileName(0))]).status).toBe(0);
      expect(refusal(() => collectResults(fifo)).message).toBe(`--collect: ${join(fifo, runFileName(0))} is a FIFO, not a regular file`);
      const huge = volume('huge', {});
      // Sparse: 65 MiB of nothing.
      writeFileSync(join(huge, runFileName(0)), '');
      expect(spawnSync('truncate', ['-s', '65M', join(huge, runFileName(0))]).status).toBe(0);
      expect(refusal(() => collectResults(huge)).message).toBe(`--collect: ${join(huge, runFileName(0))} is larger than 64 MiB, the largest result file pvsim loads`);
    });

    it('refuses files of the wrong shape with a clear error, never a crash while writing the outputs', () => {
      const cases: [string, unknown, RegExp][] = [
        ['runs-huge', { sweep: { ...header, runs: 1e12 }, run }, /sweep\.runs: /],
        ['runs-text', { sweep: { ...header, runs: 'many' }, run }, /sweep\.runs: /],
        ['domains', { sweep: header, run: { ...run, ok: true, domains: 'none' } }, /run\.domains: /],
        ['fairness', { sweep: header, run: { ...run, ok: true, fairness: null } }, /run\.fairness: /],
        ['index', { sweep: header, run: { ...run, index: -1 } }, /run\.index: /],
        ['array', [1, 2, 3], /not a result file: /],
        ['null', null, /not a result file: /],
      ];
      for (const [name, body, msg] of cases) {
        const e = refusal(() => collectResults(volume(`shape-${name}`, { [runFileName(0)]: JSON.stringify(body) })));
        expect(e, name).toBeInstanceOf(SweepInputError);
        expect(e.message, name).toMatch(msg);
      }
      // Through the CLI: status 2 and the message, no stack trace.
      const r = pvsim(['sweep', '--collect', join(dir, 'shape-domains'), '--csv', join(dir, 'never.csv')], 20_000);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^pvsim sweep: --collect: .*run\.domains: .*\n$/);
      expect(existsSync(join(dir, 'never.csv'))).toBe(false);
    });

    it('an output that cannot be written is named, and the others are still written', () => {
      const d = volume('outputs', { [runFileName(0)]: good });
      const json = join(dir, 'collected.json');
      const r = pvsim(['sweep', '--collect', d, '--csv', '/proc/pvsim-cannot.csv', '--json', json], 20_000);
      expect(r.stderr).toMatch(/^pvsim sweep: cannot write --csv \/proc\/pvsim-cannot\.csv: E[A-Z]+\n$/);
      expect(r.status).toBe(1);
      expect(JSON.parse(readFileSync(json, 'utf8')).runs).toHaveLength(1);
      expect(r.stdout).toMatch(/^sweep s: 1 runs/);
    });
  });

  it('pvsim compare: an output that cannot be written costs that file only, with a message', () => {
    const html = join(dir, 'compare.html');
    const r = pvsim(['compare', 'cpu:n=1', '--modes', 'pv', '--jobs', '1', '--json', '/proc/pvsim-cannot.json', '--html', html]);
    expect(r.stderr).toMatch(/^pvsim compare: cannot write the JSON report \/proc\/pvsim-cannot\.json: E[A-Z]+\n$/);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^cpu:n=1\s+pv/m); // the table
    expect(readFileSync(html, 'utf8')).toMatch(/^<!DOCTYPE html>/);
  }, 60_000);

  it('pvsim run-native: runs from the compiled build with its default firmware; a FIFO named as firmware is refused at once', () => {
    // From dist/ the firmware was looked for in dist/guests/build/sbi.elf (absent): every
    // run without --firmware failed with ENOENT.
    const ok = pvsim(['run-native', 'guests/build/native.elf', '--cmdline', 'work=cpu n=1'], 30_000);
    expect(ok.stderr).toMatch(/^poweroff at /m);
    expect(ok.stdout).toMatch(/^work=cpu iterations=1 /m);
    expect(ok.status).toBe(0);
    const fifo = join(dir, 'firmware.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const r = pvsim(['run-native', 'guests/build/native.elf', '--firmware', fifo], 20_000);
    expect(r.stderr).toBe(`pvsim run-native: ${fifo} is a FIFO, not a regular file\n`);
    expect(r.status).toBe(4);
  });

  it('a --timeout past setTimeout\'s 24.8 days is a long bound, not an instant one that kills every run', () => {
    const c = pvsim(['compare', 'cpu:n=1', '--modes', 'pv', '--jobs', '1', '--timeout', '3000000'], 30_000);
    expect(c.stderr).toBe('');
    expect(c.status).toBe(0);
    const guests = writeTestGuests();
    const scenario = join(dir, 'timeout.json');
    writeFileSync(scenario, JSON.stringify({ name: 't', pcpus: 1, until: '5ms', domains: [{ name: 'hog', image: guests.spin, memory: 4 }] }));
    const s = pvsim(['sweep', scenario, '--jobs', '1', '--timeout', '3000000'], 30_000);
    expect(s.stderr).toBe('');
    expect(s.status).toBe(0);
  }, 60_000);

  it('pvsim run: an --html or --trace file that cannot be written is named; the report is still printed', () => {
    for (const mode of [['--in-process'], []]) {
      const r = pvsim(['run', ...mode, 'examples/weights.json', '--until', '5ms', '--html', '/proc/pvsim-cannot.html', '--trace', '/proc/pvsim-cannot.json'], 30_000);
      expect(r.stderr, mode.join(' ')).toMatch(/pvsim run: cannot write --trace \/proc\/pvsim-cannot\.json: E[A-Z]+\n/);
      expect(r.stderr, mode.join(' ')).toMatch(/pvsim run: cannot write --html \/proc\/pvsim-cannot\.html: E[A-Z]+\n/);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.stdout).toMatch(/^trace-hash: [0-9a-f]{16}$/m);
      expect(r.status, mode.join(' ')).toBe(1);
    }
  }, 60_000);

  it('pvsim compare: SIGINT mid-run stops every worker and exits 130', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bin/pvsim.js'), 'compare', 'cpu:n=100000', '--modes', 'pv,hvm-hw', '--jobs', '2'], { cwd: ROOT, env: { ...process.env, TMPDIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const childrenOf = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    let workers: number[] = [];
    for (let i = 0; i < 400 && workers.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 25));
      workers = childrenOf(child.pid!);
    }
    expect(workers).toHaveLength(2);
    child.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 10_000))]);
    if (code === 'hung') child.kill('SIGKILL');
    expect(code).toBe(130);
    expect(stderr).toMatch(/pvsim compare: SIGINT: workers stopped/);
    // The workers are gone (killed, then reaped by init): poll briefly, no fixed sleep.
    const alive = (pid: number) => {
      try {
        return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 200 && workers.some(alive); i++) await new Promise((r) => setTimeout(r, 25));
    expect(workers.filter(alive)).toEqual([]);
  }, 30_000);

  it('two outputs naming one file are refused before anything runs (the later would overwrite the earlier)', () => {
    const f = join(dir, 'same.out');
    const c = pvsim(['compare', 'cpu:n=1', '--modes', 'pv', '--json', f, '--html', f], 20_000);
    expect(c.stderr).toBe(`pvsim compare: --json and --html name the same file ${f}\n`);
    expect(c.status).toBe(2);
    const s = pvsim(['sweep', 'examples/weights.json', '--csv', join(dir, 'a.csv'), '--json', f, '--html', f], 20_000);
    expect(s.stderr).toBe(`pvsim sweep: --json and --html name the same file ${f}\n`);
    expect(s.status).toBe(2);
    expect(existsSync(f)).toBe(false);
  });

  it('--emit k8s: any scenario path or --vary value reaches the pod\'s shell as one literal word (quotes, $(), newlines)', () => {
    const samples = ["it's", '$(touch /tmp/pwned)', '`id`', 'a\nb', '"; rm -rf ~ #', "'", '\\', 'x y', '*', '-n', '', 'é\u2028'];
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...samples), fc.string({ unit: 'grapheme', maxLength: 20 }).filter((x) => !x.includes('\0'))), (word) => {
        const r = spawnSync('sh', ['-c', `printf %s ${shQuote(word)}`], { encoding: 'utf8', timeout: 5000 });
        expect(r.stdout).toBe(word);
      }),
      { numRuns: 60 },
    );
  });

  it('sweep --index --out: an --out that cannot be a directory is refused before the run; a planted .tmp symlink is not written through', () => {
    const guests = writeTestGuests();
    const scenario = join(dir, 'index.json');
    writeFileSync(scenario, JSON.stringify({ name: 'i', pcpus: 1, until: '2ms', domains: [{ name: 'hog', image: guests.spin, memory: 4 }] }));
    const notDir = join(dir, 'not-a-dir');
    writeFileSync(notDir, 'x');
    const r = pvsim(['sweep', scenario, '--index', '0', '--out', notDir], 20_000);
    expect(r.stderr).toBe(`pvsim sweep: --out ${notDir}: cannot make the directory: EEXIST\n`);
    expect(r.status).toBe(2);
    const out = join(dir, 'index-out');
    mkdirSync(out);
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'keep me');
    symlinkSync(victim, join(out, `${runFileName(0)}.tmp`));
    const ok = pvsim(['sweep', scenario, '--index', '0', '--out', out], 20_000);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(JSON.parse(readFileSync(join(out, runFileName(0)), 'utf8')).run.index).toBe(0);
  });
});

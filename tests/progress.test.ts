// Progress of long commands (cli/progress.ts): a status line redrawn on stderr when it is a
// terminal, nothing when it is not, `--progress` / `--no-progress` to force either (lines
// off a terminal). The terminal is a real pseudo-terminal: `script` runs the command in
// one and records what the command wrote to it.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Progress, progressBar, progressWanted, type ProgressStream } from '../cli/progress.ts';
import { PVSIM } from './helpers/pvsim_up.ts';

function fake(isTTY: boolean): ProgressStream & { out: string } {
  const s = { isTTY, columns: 30, out: '', write: (t: string) => (s.out += t) };
  return s;
}

describe('Progress', () => {
  it('is on for a terminal, off otherwise, unless forced either way', () => {
    expect(progressWanted(undefined, fake(true))).toBe(true);
    expect(progressWanted(undefined, fake(false))).toBe(false);
    expect(progressWanted(true, fake(false))).toBe(true);
    expect(progressWanted(false, fake(true))).toBe(false);
  });

  it('on a terminal: one line redrawn in place, cut at the width, throttled, cleared at the end and before other output', () => {
    let t = 0;
    const s = fake(true);
    const p = new Progress({ prefix: 'pvsim x', stream: s, now: () => t });
    p.update('first');
    p.update('dropped: too soon');
    t = 150;
    p.update('x'.repeat(50));
    p.update('forced', true);
    p.write('a console line\n');
    p.done();
    expect(s.out).toBe(`\r\x1b[Kfirst\r\x1b[K${'x'.repeat(29)}\r\x1b[Kforced\r\x1b[Ka console line\n`);
    p.done(); // nothing shown: nothing to clear
    expect(s.out.endsWith('line\n')).toBe(true);
  });

  it('forced off a terminal: plain lines with the command, at most one a second; nothing when off', () => {
    let t = 0;
    const s = fake(false);
    const p = new Progress({ prefix: 'pvsim x', flag: true, stream: s, now: () => t });
    p.update('a');
    t = 500;
    p.update('b');
    t = 1000;
    p.update('c');
    p.done();
    expect(s.out).toBe('pvsim x: a\npvsim x: c\n');
    const q = fake(false);
    const off = new Progress({ prefix: 'pvsim x', stream: q });
    off.update('a', true);
    off.every(10, () => 'b');
    off.done();
    expect(q.out).toBe('');
  });

  it('draws bars', () => {
    expect(progressBar(0, 4, 8)).toBe('[........]');
    expect(progressBar(3, 4, 8)).toBe('[######..]');
    expect(progressBar(9, 4, 8)).toBe('[########]');
    expect(progressBar(0, 0, 4)).toBe('[....]');
  });
});

const SCRIPT = '/usr/bin/script';
/** A private run directory's parent for what the commands start. */
const TMPDIR = mkdtempSync(join(tmpdir(), 'pvsim-progress-'));
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `pvsim ARGS` in a pseudo-terminal: everything it wrote there (stdout and stderr), and its status. */
function inTerminal(args: string[], timeout = 60_000): { out: string; status: number | null } {
  const cmd = [process.execPath, PVSIM, ...args].map(q).join(' ');
  const r = spawnSync(SCRIPT, ['-q', '-e', '-c', cmd, '/dev/null'], { encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR, XDG_RUNTIME_DIR: '', COLUMNS: '120', LINES: '40' } });
  return { out: r.stdout, status: r.status };
}

/** `pvsim ARGS` with stdout and stderr pipes. */
function piped(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [PVSIM, ...args], { encoding: 'utf8', timeout, env: { ...process.env, TMPDIR, XDG_RUNTIME_DIR: '' } });
  return { out: r.stdout, err: r.stderr, status: r.status };
}

describe.skipIf(!existsSync(SCRIPT))('long commands show progress on a terminal only', { timeout: 60_000 }, () => {
  it('ringtest explore: a redrawn status line on a terminal; nothing piped; lines with --progress; none with --no-progress', () => {
    const t = inTerminal(['ringtest', 'explore', '--walks', '300', '--depth', '30']);
    expect(t.status).toBe(0);
    expect(t.out).toMatch(/\r\x1b\[Krandom walks: \[#+\.*\] \d+\/300 runs/);
    expect(t.out).toMatch(/\r\x1b\[Kevery schedule to depth 30: \d+ runs/);
    // Cleared before the table: the table's lines start clean.
    expect(t.out).toMatch(/\r\x1b\[Kpassed {2}random walks/);
    const p = piped(['ringtest', 'explore', '--walks', '300', '--depth', '30']);
    expect(p.status).toBe(0);
    expect(p.err).toBe('');
    expect(p.out).toMatch(/^passed {2}random walks/);
    expect(p.out).not.toMatch(/\x1b/);
    const forced = piped(['ringtest', 'explore', '--walks', '300', '--depth', '30', '--progress']);
    expect(forced.err).toMatch(/^pvsim ringtest explore: random walks: \[/m);
    expect(forced.err).not.toMatch(/\x1b/);
    expect(forced.out).toMatch(/^passed {2}random walks/); // stdout as without progress
    expect(inTerminal(['ringtest', 'explore', '--walks', '300', '--depth', '30', '--no-progress']).out).not.toMatch(/\x1b\[K|runs, \d+ s/);
  });

  it('compare: the bar of runs done on a terminal, cleared before the table; nothing piped', () => {
    const args = ['compare', 'syscall', '--modes', 'pv', '--jobs', '1'];
    const t = inTerminal(args);
    expect(t.status).toBe(0);
    expect(t.out).toMatch(/\r\x1b\[K\[[#.]{20}\] [01]\/1 runs, \d+ s/);
    // Cleared before the table: nothing of the bar after the last clear.
    const after = t.out.slice(t.out.lastIndexOf('\x1b[K') + 3);
    expect(after).toMatch(/workload\s+mode/);
    expect(after).not.toMatch(/runs, \d+ s/);
    const p = piped(args);
    expect(p.status).toBe(0);
    expect(p.err).toBe('');
    expect(p.out).toMatch(/^syscall\s+pv\s/m);
  });

  it('run and run-native: a status line on a terminal, nothing piped; --progress forces lines', () => {
    // The hypervisor and dom0 as processes (run's default): their stderr lines do not share the status line.
    const t = inTerminal(['run', 'examples/boost.json']);
    expect(t.status).toBe(0);
    expect(t.out).toMatch(/\r\x1b\[Kstarting the hypervisor and dom0\r\x1b\[K/);
    expect(t.out).toMatch(/\r\x1b\[K\[dom0\] dom0: serving clients/); // the status line cleared first
    expect(t.out).not.toMatch(/dom0\[dom0\]/);
    const p = piped(['run', 'examples/boost.json']);
    expect(p.err).not.toMatch(/starting|\x1b/);
    expect(p.out).toMatch(/trace-hash/);
    const n = piped(['run-native', 'guests/build/native.elf', '--max-ms', '200', '--progress']);
    expect(n.err).toMatch(/^pvsim run-native: [\d.]+ of 200 ms virtual \(\d+% of the bound\), [\d.]+M instructions, \d+ s$/m);
    expect(piped(['run-native', 'guests/build/native.elf', '--max-ms', '200']).err).not.toMatch(/pvsim run-native:/);
  });

  it('run-bare and boot: a status line on a terminal, cleared before the verdict; nothing piped', () => {
    const args = ['run-bare', 'tests/programs/build/hang.elf', '--max-instructions', '3000000'];
    const t = inTerminal(args);
    expect(t.status).toBe(2); // TIMEOUT, as without progress
    expect(t.out).toMatch(/\r\x1b\[K\[[#.]{20}\] \dM of 3M instructions, \d+ s/);
    expect(t.out).toMatch(/\r\x1b\[KTIMEOUT: no result after 3000000 instructions/);
    const p = piped(args);
    expect(p.err).toBe('TIMEOUT: no result after 3000000 instructions (--max-instructions 3000000)\n');
    const b = piped(['boot', 'guests/build/hello.elf', '--progress']);
    expect(b.status).toBe(0);
    expect(b.out).toContain('Hello from pvsim!');
    expect(piped(['boot', 'guests/build/hello.elf']).err).not.toMatch(/pvsim boot: [\d.]+ s virtual/);
  });
});

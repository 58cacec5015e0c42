// `pvsim compare` as a user runs it: worker processes, the table on stdout, --json written
// byte-identical for the same seed, bad input refused with status 2 and nothing written, a
// run that outlives its bound killed and reported.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CompareReport } from '../sim/compare/types.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-compare-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pvsim = (args: string[], timeout = 60_000) =>
  spawnSync(process.execPath, [PVSIM, ...args], { encoding: 'utf8', timeout, env: { ...process.env, TMPDIR: dir } });

describe('pvsim compare (CLI)', () => {
  it('runs cells in worker processes, prints the table, and the same seed gives the same JSON byte for byte', () => {
    const args = ['compare', 'syscall:n=200', 'blk:n=4', '--modes', 'pv,hvm-trap,hvm-hw', '--io', 'pv,virtio', '--jobs', '2', '--vary', 'cost.hvmExitNs=300,600'];
    const a = pvsim([...args, '--json', join(dir, 'a.json')]);
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/^syscall:n=200\s+hvm-trap\s+-\s+wp\s+hvmExitNs=600\s+[\d.]+ ms\s+-\s+[\d.]+\s+csr \d+%/m);
    expect(a.stdout).toMatch(/^blk:n=4\s+pv\s+pv\s+-\s+hvmExitNs=300\s+/m);
    expect(a.stdout).toMatch(/holds\s+hardware-assisted beats trap-and-emulate on system calls \(syscall\) \[cost\.hvmExitNs=600\]/);
    expect(a.stdout).toContain(`JSON report: ${join(dir, 'a.json')}`);
    const b = pvsim([...args, '--json', join(dir, 'b.json')]);
    expect(b.status).toBe(0);
    const ja = readFileSync(join(dir, 'a.json'));
    expect(ja.equals(readFileSync(join(dir, 'b.json')))).toBe(true);
    const r = JSON.parse(ja.toString()) as CompareReport;
    expect(r.cells.length).toBe(12);
    expect(r.varied).toEqual([{ key: 'hvmExitNs', values: [300, 600] }]);
    expect(r.cells.every((c) => c.ok)).toBe(true);
    // A different seed is a different run (start jitter), still the same checksums.
    const c = pvsim(['compare', 'syscall:n=200', '--modes', 'pv', '--seed', '7', '--json', join(dir, 'c.json')]);
    expect(c.status).toBe(0);
    expect((JSON.parse(readFileSync(join(dir, 'c.json'), 'utf8')) as CompareReport).cells[0]!.checksum).toBe(r.cells[0]!.checksum);
  }, 120_000);

  it('bad input: a clear error, status 2, nothing written', () => {
    const out = join(dir, 'never.json');
    for (const [args, msg] of [
      [['compare', 'nosuch'], /unknown workload "nosuch"/],
      [['compare', 'cpu', '--modes', 'pv,xen'], /unknown mode "xen"/],
      [['compare', 'blk', '--io', 'nvme'], /unknown I\/O path "nvme"/],
      [['compare', 'cpu', '--vary', 'cost.fastNs=1'], /unknown cost key "fastNs"; valid keys: instructionNs/],
      [['compare', 'cpu', '--jobs', '0'], /--jobs must be a positive integer/],
      [['compare', 'cpu', '--jobs', '1000'], /--jobs 1000: at most 64 worker processes/],
      [['compare', 'cpu', '--json', join(dir, 'no/such/dir/x.json')], /directory .* does not exist/],
    ] as [string[], RegExp][]) {
      const r = pvsim([...args, '--json', out].slice(0, args.includes('--json') ? args.length : undefined));
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(r.stdout).toBe('');
      expect(existsSync(out)).toBe(false);
    }
  }, 60_000);

  it('a run that outlives --timeout is killed and reported; the others still run', () => {
    const r = pvsim(['compare', 'cpu:n=100000', 'syscall:n=100', '--modes', 'pv', '--timeout', '3', '--jobs', '2', '--json', join(dir, 't.json')]);
    expect(r.status).toBe(1);
    const rep = JSON.parse(readFileSync(join(dir, 't.json'), 'utf8')) as CompareReport;
    expect(rep.cells[0]).toMatchObject({ ok: false, error: 'timed out after 3 s of wall time' });
    expect(rep.cells[1]!.ok).toBe(true);
    expect(r.stderr).toMatch(/1 run\(s\) failed/);
  }, 60_000);
});

// Runs the bare-metal conformance programs (tests/programs, see its README.md) on
// `pvsim run-bare`, and checks the failure and time-out paths with fail.elf / hang.elf.
// Where the cross compiler or QEMU is installed, also checks that the committed ELFs
// are reproducible from their sources and that they pass on QEMU as a reference.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = join(ROOT, 'tests', 'programs', 'build');
const TIMEOUT_MS = 60_000;

/** Programs that must pass. */
const PASSING = ['rv32i', 'rv32m', 'rv32a', 'csr', 'traps', 'sv32', 'misaligned', 'pmp', 'trigger'];
/** Hypervisor-extension programs: must pass with --hext (QEMU: -cpu rv32,h=true). */
const PASSING_H = ['h_csr', 'h_twostage', 'h_gpf', 'h_hlv', 'h_deleg', 'h_virq', 'h_pmp'];

interface Run {
  status: number | null;
  output: string;
}

function runBare(name: string, maxInstructions: number, extra: string[] = []): Run {
  // bin/pvsim.js: the compiled build (brought up to date by the suite's global setup).
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'bin/pvsim.js'), 'run-bare', join(BUILD, `${name}.elf`), '--max-instructions', String(maxInstructions), ...extra],
    { cwd: ROOT, encoding: 'utf8', timeout: TIMEOUT_MS },
  );
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

describe('pvsim run-bare conformance programs', () => {
  for (const name of PASSING) {
    it(`${name}.elf passes`, { timeout: TIMEOUT_MS + 10_000 }, () => {
      expect(existsSync(join(BUILD, `${name}.elf`))).toBe(true);
      const r = runBare(name, 50_000_000);
      // On failure the message carries the failing case number: look it up in
      // tests/programs/src/<name>.S (TEST_CASE n, or the symbol test_case_<n>).
      expect(r.output, r.output).toMatch(/pass/i);
      expect(r.status, r.output).toBe(0);
    });
  }

  for (const name of PASSING_H) {
    it(`${name}.elf passes with --hext`, { timeout: TIMEOUT_MS + 10_000 }, () => {
      expect(existsSync(join(BUILD, `${name}.elf`))).toBe(true);
      const r = runBare(name, 50_000_000, ['--hext']);
      // A failing case number n: TEST_CASE n in tests/programs/src/<name>.S.
      expect(r.output, r.output).toMatch(/pass/i);
      expect(r.status, r.output).toBe(0);
    });
  }

  it('an H program fails at set-up on a hart without --hext (misa.H clear)', { timeout: TIMEOUT_MS + 10_000 }, () => {
    const r = runBare('h_csr', 1_000_000);
    expect(r.status, r.output).not.toBe(0);
    expect(r.status, r.output).not.toBeNull();
    expect(r.output).toMatch(/test\D{0,10}65535\b/i);
  });

  it('fail.elf fails and names test 3', { timeout: TIMEOUT_MS + 10_000 }, () => {
    const r = runBare('fail', 50_000_000);
    expect(r.status, r.output).not.toBe(0);
    expect(r.status, r.output).not.toBeNull();
    expect(r.output).toMatch(/test\D{0,10}3\b/i);
    expect(r.output).not.toMatch(/pass/i);
  });

  it('hang.elf stops at --max-instructions', { timeout: TIMEOUT_MS + 10_000 }, () => {
    const r = runBare('hang', 100_000);
    expect(r.status, r.output).not.toBe(0);
    expect(r.status, r.output).not.toBeNull();
    expect(r.output).toContain('max-instructions');
  });
});

describe('conformance program sources', () => {
  it.skipIf(!onPath('riscv64-unknown-elf-gcc') || !onPath('make'))(
    'committed ELFs are reproducible from tests/programs/src',
    { timeout: 120_000 },
    () => {
      const r = spawnSync('make', ['-s', '-C', 'tests/programs', 'check'], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    },
  );

  // QEMU's spike machine honours tohost: exit status 0 on pass, the case number on failure.
  it.skipIf(!onPath('qemu-system-riscv32'))('the programs pass on QEMU (reference)', { timeout: 120_000 }, () => {
    const qemu = (name: string) =>
      spawnSync('qemu-system-riscv32', ['-M', 'spike', '-bios', 'none', '-kernel', join(BUILD, `${name}.elf`), '-nographic'], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 10_000,
      });
    for (const name of PASSING) {
      let r = qemu(name);
      // The reference itself is not always the same: on a busy machine QEMU 7.2 once failed
      // csr.elf's case 30 (csrw instret must trap) and passed the next 65 runs of the same
      // image. A failure must repeat to count; pvsim's own runs above are not retried.
      if (r.status !== 0) r = qemu(name);
      expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });

  // The H programs on a QEMU CPU with the hypervisor extension. Where QEMU 7.2 deviates
  // from the ratified spec the programs skip that check there (SKIP_IF_QEMU7, listed in
  // tests/programs/README.md).
  it.skipIf(!onPath('qemu-system-riscv32'))('the H programs pass on QEMU with h=true (reference)', { timeout: 120_000 }, () => {
    for (const name of PASSING_H) {
      const run = () =>
        spawnSync(
          'qemu-system-riscv32',
          ['-M', 'spike', '-cpu', 'rv32,h=true', '-bios', 'none', '-kernel', join(BUILD, `${name}.elf`), '-nographic'],
          { cwd: ROOT, encoding: 'utf8', timeout: 10_000 },
        );
      let r = run();
      if (r.status !== 0) r = run(); // as above: a reference failure must repeat
      expect(r.status, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
    }
  });
});

// The pvsim command as a user runs it: real child processes through bin/pvsim.js.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function pvsim(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/pvsim.js', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tmp = mkdtempSync(join(tmpdir(), 'pvsim-cli-'));

describe('pvsim boot', () => {
  it('boots the hello guest, prints its console and exits 0 on poweroff', () => {
    const r = pvsim('boot', 'guests/build/hello.elf', '--cmdline', 'console=hvc0');
    expect(r.stdout).toContain('Hello from pvsim! (domain kernel on RV32)');
    expect(r.stdout).toContain('xen version 4.17.0-pvsim');
    expect(r.stdout).toContain('start_info: magic=xen-3.0-riscv32 nr_pages=4096 cmdline="console=hvc0"');
    expect(r.stderr).toMatch(/shut down: poweroff/);
    expect(r.status).toBe(0);
  });

  it('exits with the shutdown reason code', () => {
    expect(pvsim('boot', 'guests/build/hello.elf', '--cmdline', 'exit=reboot').status).toBe(1);
    expect(pvsim('boot', 'guests/build/hello.elf', '--cmdline', 'exit=crash').status).toBe(3);
    expect(pvsim('boot', 'guests/build/hello.elf', '--cmdline', 'exit=return').status).toBe(0);
  });

  it('shows the guest the -EFAULT a bad pointer earns', () => {
    const r = pvsim('boot', 'guests/build/hello.elf', '--cmdline', 'badptr');
    expect(r.stdout).toContain('console_io(CONSOLEIO_write, 4, 0x1000) = -14');
    expect(r.status).toBe(0);
  });

  it('prints the hypervisor log with --dmesg', () => {
    const r = pvsim('boot', 'guests/build/hello.elf', '--dmesg');
    expect(r.stderr).toContain('(d1) Hello from pvsim! (domain kernel on RV32)');
    expect(r.stderr).toContain('(XEN) d1: shutdown, reason poweroff');
  });

  it('rejects bad images and options with clear messages', () => {
    const missing = pvsim('boot', join(tmp, 'nope.elf'));
    expect(missing.status).toBe(125);
    expect(missing.stderr).toMatch(/cannot read .*ENOENT/);
    const bare = pvsim('boot', 'guests/build/bench-compute.elf');
    expect(bare.status).toBe(125);
    expect(bare.stderr).toMatch(/not a PV kernel/);
    writeFileSync(join(tmp, 'junk.elf'), 'hello world, not an elf. '.repeat(8));
    expect(pvsim('boot', join(tmp, 'junk.elf')).stderr).toMatch(/not an ELF file/);
    const small = pvsim('boot', 'guests/build/hello.elf', '--memory', '0');
    expect(small.status).not.toBe(0);
    expect(small.stderr).toMatch(/--memory must be a positive integer/);
  });

  it('stops a guest that never shuts down at --max-instructions', () => {
    const r = pvsim('boot', 'guests/build/hello.elf', '--max-instructions', '100');
    expect(r.status).toBe(124);
    expect(r.stderr).toMatch(/still running after 1\d\d instructions/);
  });
});

describe('pvsim run-bare', () => {
  it('rejects malformed input with exit status 4 and a message', () => {
    writeFileSync(join(tmp, 'trunc.elf'), new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]));
    const r = pvsim('run-bare', join(tmp, 'trunc.elf'));
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/truncated ELF/);
    const pv = pvsim('run-bare', 'guests/build/hello.elf');
    expect(pv.status).toBe(4);
    expect(pv.stderr).toMatch(/outside RAM/);
  });
});

describe('pvsim --help', () => {
  it('describes every subcommand', () => {
    const top = pvsim('--help');
    expect(top.status).toBe(0);
    for (const cmd of ['run-bare', 'boot']) {
      expect(top.stdout).toContain(cmd);
      const r = pvsim(cmd, '--help');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: pvsim ${cmd}`);
      expect(r.stdout).toContain('Exit status');
    }
  });
});

describe('pvsim boot, a guest that waits forever', () => {
  it('says so and exits 126 instead of reporting a crash', () => {
    const r = pvsim('boot', 'guests/build/hello.elf', '--cmdline', 'echo');
    expect(r.status).toBe(126);
    expect(r.stderr).toMatch(/blocked with nothing left that could wake it/);
  });
});

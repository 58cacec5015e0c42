// A test oracle built from Xen's own public headers: compiles C expressions (offsetof,
// sizeof, constants) with the RV32 ilp32 cross compiler against /usr/include/xen and
// returns their values. Xen ships no riscv32 arch header, so the generic x86_32 one is
// selected (__i386__): it only supplies the 32-bit `unsigned long`/xen_pfn_t that the
// ilp32 ABI has anyway, while alignment comes from the RV32 compiler.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CROSS_CC = 'riscv64-unknown-elf-gcc';
export const XEN_INCLUDE = '/usr/include/xen';

export function oracleAvailable(): boolean {
  if (!existsSync(join(XEN_INCLUDE, 'xen.h'))) return false;
  try {
    execFileSync(CROSS_CC, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles `src` with the RV32 ilp32 cross compiler and returns its assembly, in a scratch
 * directory that `prepare` may fill first; it returns the -I directories to use.
 */
export function crossCompileToAsm(src: string, prepare: (dir: string) => string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-oracle-'));
  try {
    const includes = prepare(dir).flatMap((d) => ['-I', d]);
    writeFileSync(join(dir, 'oracle.c'), src);
    return execFileSync(CROSS_CC, ['-march=rv32ima_zicsr', '-mabi=ilp32', '-ffreestanding', '-O0', '-S', '-o', '-', ...includes, join(dir, 'oracle.c')], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `.word` values of an oracle's `pvsim_oracle[]` array, in order. */
export function oracleWords(asm: string): number[] {
  return [...asm.matchAll(/^\s*\.word\s+(-?\d+)/gm)].map((m) => Number(m[1]) >>> 0);
}

/** Evaluates each C expression (after `includes`) and returns the values in order. */
export function evalXenExpressions(includes: string[], exprs: string[]): number[] {
  const src = [
    '#include <stddef.h>',
    '#include <stdint.h>',
    '#define __i386__ 1',
    '#define __XEN_TOOLS__ 1 /* the latest interface version, and the tools-only structures */',
    ...includes.map((h) => `#include <${h}>`),
    'const unsigned int pvsim_oracle[] = {',
    ...exprs.map((e) => `  (unsigned int)(${e}),`),
    '};',
  ].join('\n');
  const asm = crossCompileToAsm(src, (dir) => {
    symlinkSync(XEN_INCLUDE, join(dir, 'xen'));
    return [dir];
  });
  const words = oracleWords(asm);
  if (words.length !== exprs.length) throw new Error(`oracle produced ${words.length} values for ${exprs.length} expressions`);
  return words;
}

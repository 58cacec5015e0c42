// A test oracle built from the guests' own C headers (guests/include/pvsim/*.h): compiles C
// expressions (constants, offsetof, sizeof) and string macros with the RV32 ilp32 cross
// compiler the guests are built with, and returns their values. tests/pvabi.test.ts compares
// them with protocol/xen/arch_riscv32.ts, so the TypeScript and C sides of pvsim's own ABI
// cannot drift apart.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CROSS_CC, crossCompileToAsm, oracleWords } from './xen_oracle.ts';

export const GUEST_INCLUDE = fileURLToPath(new URL('../../guests/include', import.meta.url));

export function guestOracleAvailable(): boolean {
  try {
    execFileSync(CROSS_CC, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Decodes the body of a GNU as `.string`/`.ascii` directive (octal and simple escapes). */
function unescapeAsm(s: string): string {
  return s.replace(/\\([0-7]{1,3}|.)/g, (_, e: string) => {
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' } as Record<string, string>)[e] ?? e;
  });
}

/**
 * Evaluates each C expression in `exprs` (as an unsigned 32-bit word) and each string
 * expression in `strings`, after including `headers` (e.g. 'pvsim/vcpu.h').
 */
export function evalGuestExpressions(headers: string[], exprs: string[], strings: string[] = []): { words: number[]; strings: string[] } {
  const src = [
    '#include <stddef.h>',
    '#include <stdint.h>',
    ...headers.map((h) => `#include <${h}>`),
    'const unsigned int pvsim_oracle[] = {',
    ...exprs.map((e) => `  (unsigned int)(${e}),`),
    '  0u };',
    // Each string in its own object, so the assembler listing keeps them apart and in order.
    ...strings.map((e, i) => `const char pvsim_oracle_s${i}[] = ${e};`),
  ].join('\n');
  const asm = crossCompileToAsm(src, () => [GUEST_INCLUDE]);
  const words = oracleWords(asm).slice(0, -1);
  if (words.length !== exprs.length) throw new Error(`oracle produced ${words.length} values for ${exprs.length} expressions`);
  const strs = strings.map((_, i) => {
    const m = new RegExp(`^pvsim_oracle_s${i}:\\s*\\n\\s*\\.(string|ascii)\\s+"((?:[^"\\\\]|\\\\.)*)"`, 'm').exec(asm);
    if (!m) throw new Error(`oracle produced no string ${i}`);
    return unescapeAsm(m[2]!);
  });
  return { words, strings: strs };
}

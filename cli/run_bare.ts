// `pvsim run-bare <elf>`: a bare machine for riscv-tests-style programs (HTIF tohost).

import { KernelFileError, readKernelFile } from '../xenguest/kernel_file.ts';
import { runBare } from '../hypervisor/bare/machine.ts';
import { ElfError } from '../xenguest/elf.ts';
import { elapsed, Progress, progressBar } from './progress.ts';
import type { EngineKind } from '../hypervisor/cpu/engines.ts';

export const RUN_BARE_EXIT = { pass: 0, fail: 1, timeout: 2, stuck: 3, badInput: 4 } as const;

export interface RunBareCliOptions {
  maxInstructions: number;
  ram: number;
  quiet?: boolean;
  /** --hext: the hart implements the H extension. */
  hext?: boolean;
  /** --progress / --no-progress; default: when stderr is a terminal. */
  progress?: boolean;
  /** --cpu: the engine. */
  cpu?: EngineKind;
}

export function runBareCommand(file: string, opts: RunBareCliOptions): number {
  let bytes: Uint8Array;
  try {
    bytes = readKernelFile(file);
  } catch (e) {
    if (!(e instanceof KernelFileError)) throw e;
    process.stderr.write(`pvsim run-bare: ${e.message}\n`);
    return RUN_BARE_EXIT.badInput;
  }
  const chunks: number[] = [];
  const progress = new Progress({ prefix: 'pvsim run-bare', flag: opts.progress });
  const t0 = Date.now();
  const flush = () => {
    if (chunks.length) progress.clear();
    if (chunks.length) process.stdout.write(Uint8Array.from(chunks.splice(0)));
  };
  let result;
  try {
    result = runBare(bytes, {
      maxInstructions: opts.maxInstructions,
      ramBytes: opts.ram * 1024 * 1024,
      hExt: opts.hext ?? false,
      ...(opts.cpu ? { cpu: opts.cpu } : {}),
      onOutput: (b) => {
        chunks.push(b);
        if (b === 0x0a || chunks.length >= 4096) flush();
      },
      // The run is synchronous; a terminal's writes are too, so the line is drawn as it goes.
      onProgress: progress.enabled ? (n) => progress.update(`${progressBar(n, opts.maxInstructions, 20)} ${(n / 1e6).toFixed(0)}M of ${(opts.maxInstructions / 1e6).toFixed(0)}M instructions, ${elapsed(t0)}`) : undefined,
    });
  } catch (e) {
    progress.done();
    flush();
    if (e instanceof ElfError) {
      process.stderr.write(`pvsim run-bare: ${file}: ${e.message}\n`);
      return RUN_BARE_EXIT.badInput;
    }
    throw e;
  }
  progress.done();
  flush();
  const o = result.outcome;
  const n = result.instructions;
  switch (o.kind) {
    case 'pass':
      if (!opts.quiet) process.stderr.write(`PASS (${n} instructions)\n`);
      return RUN_BARE_EXIT.pass;
    case 'fail':
      process.stderr.write(`FAIL: test ${o.testNumber} (tohost=0x${o.tohost.toString(16)}, ${n} instructions)\n`);
      return RUN_BARE_EXIT.fail;
    case 'timeout':
      process.stderr.write(
        `TIMEOUT: no result after ${n} instructions (--max-instructions ${opts.maxInstructions})` +
          (result.hasTohost ? '' : '; the image has no tohost symbol, so it cannot report one') +
          '\n',
      );
      return RUN_BARE_EXIT.timeout;
    case 'stuck':
      process.stderr.write(`STUCK: wfi at 0x${o.pc.toString(16)} with no interrupt enabled that could wake the hart\n`);
      return RUN_BARE_EXIT.stuck;
  }
}

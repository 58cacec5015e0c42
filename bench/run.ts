// `npm run bench`: one JSON object on stdout, human-readable progress on stderr.
// Every figure is measured in this run; `baseline_*` keys are the same-run references the
// other figures are compared against (see docs/benchmarks.md).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { runBare } from '../hypervisor/bare/machine.ts';

type Results = Record<string, number | string>;

function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/** Best of `runs` wall-clock measurements of `fn`, which returns the work it did. */
function best(runs: number, fn: () => number): { work: number; seconds: number } {
  let bestRate = 0;
  let out = { work: 0, seconds: 0 };
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const work = fn();
    const seconds = (performance.now() - t0) / 1000;
    if (work / seconds > bestRate) {
      bestRate = work / seconds;
      out = { work, seconds };
    }
  }
  return out;
}

/** Millions of simple integer operations per second in plain JS: the host's ceiling. */
function baselineJsMops(): number {
  const buf = new Int32Array(4096);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) | 0;
  const { work, seconds } = best(3, () => {
    let h = 0;
    const rounds = 20_000;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < buf.length; i++) h = (Math.imul(h ^ buf[i]!, 16777619) + (h >>> 13)) | 0;
    }
    if (h === 42) log('');
    return rounds * buf.length * 4; // xor, mul, shift, add
  });
  return work / seconds / 1e6;
}

function interpMips(image: string): { mips: number; instructions: number } {
  const elf = readFileSync(image);
  const { work, seconds } = best(2, () => {
    const r = runBare(elf, { maxInstructions: 5_000_000_000 });
    if (r.outcome.kind !== 'pass') throw new Error(`${image} did not pass: ${JSON.stringify(r.outcome, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    return r.instructions;
  });
  return { mips: work / seconds / 1e6, instructions: work };
}

const results: Results = {};
log('baseline: plain JS integer loop...');
results.baseline_js_mops = Number(baselineJsMops().toFixed(1));
log('interp_mips: bench-compute (M-mode, paging off)...');
const flat = interpMips('guests/build/bench-compute.elf');
results.interp_mips = Number(flat.mips.toFixed(1));
results.interp_instructions = flat.instructions;
log('interp_mips_sv32: bench-compute-sv32 (U-mode, Sv32)...');
const sv32 = interpMips('guests/build/bench-compute-sv32.elf');
results.interp_mips_sv32 = Number(sv32.mips.toFixed(1));
log(`done: ${JSON.stringify(results)}`);
process.stdout.write(JSON.stringify(results) + '\n');

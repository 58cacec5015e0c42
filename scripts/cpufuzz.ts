// Long runs of the differential CPU fuzzer (docs/cpufuzz.md): the interpreter against
// createEngine('jit') (or a deliberately broken engine, --broken) on random RV32 programs.
//
//   npx tsx scripts/cpufuzz.ts --seed 1 --runs 100000
//   npx tsx scripts/cpufuzz.ts --seed 1 --runs 100000 --mode S-sv32 --max-ops 80
//   npx tsx scripts/cpufuzz.ts --seed 1 --path 42:3:0 ...   (replays one shrunk case)
//
// Exit status: 0 no divergence, 1 a divergence (printed minimised, with a replay command), 2 bad arguments.

import fc from 'fast-check';
import { parseArgs } from 'node:util';
import { createEngine, ENGINE_KINDS, isEngineKind } from '../hypervisor/cpu/engines.ts';
import type { Engine } from '../hypervisor/cpu/engine.ts';
import { jitStats, Translator } from '../hypervisor/cpu/jit/index.ts';
import { brokenEcallCount, brokenSra, StaleCodeEngine } from '../tests/cpu/fuzz/broken.ts';
import { caseArb, compare, describeCase, MODES, type FuzzCase, type Mode } from '../tests/cpu/fuzz/rvfuzz.ts';

const USAGE = `usage: npx tsx scripts/cpufuzz.ts [--seed N] [--runs M] [--mode ${MODES.join('|')}] [--max-ops N] [--max-steps N] [--max-budget N]
       [--a ${ENGINE_KINDS.join('|')}] [--b ${ENGINE_KINDS.join('|')}] [--broken sra|ecall|stale] [--hot N] [--path P]`;

function fail(msg: string): never {
  process.stderr.write(`cpufuzz: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      seed: { type: 'string', default: String(Date.now() % 2 ** 31) },
      runs: { type: 'string', default: '1000' },
      mode: { type: 'string' },
      'max-ops': { type: 'string', default: '40' },
      'max-steps': { type: 'string', default: '12' },
      'max-budget': { type: 'string', default: '200' },
      a: { type: 'string', default: 'interp' },
      b: { type: 'string', default: 'jit' },
      broken: { type: 'string' },
      hot: { type: 'string' },
      path: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (e) {
  fail((e as Error).message);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const int = (name: string, v: string, min: number): number => {
  if (!/^\d+$/.test(v) || Number(v) < min || !Number.isSafeInteger(Number(v))) fail(`--${name} must be an integer >= ${min}, got "${v}"`);
  return Number(v);
};
const seed = int('seed', args.seed, 0);
const runs = int('runs', args.runs, 1);
const maxOps = int('max-ops', args['max-ops'], 1);
const maxSteps = int('max-steps', args['max-steps'], 1);
const maxBudget = int('max-budget', args['max-budget'], 1);
if (args.mode !== undefined && !(MODES as readonly string[]).includes(args.mode)) fail(`--mode must be one of ${MODES.join(', ')}, got "${args.mode}"`);
const modes: readonly Mode[] = args.mode ? [args.mode as Mode] : MODES;
// --hot N: the translator compiles a pc after N visits instead of its default (64), so the
// fuzzer's short programs run mostly translated (N = 1: every block on its first visit).
const hot = args.hot === undefined ? undefined : int('hot', args.hot, 1);
if (hot !== undefined && hot > 255) fail(`--hot must be at most 255, got ${hot}`);
const engine = (name: string, kind: string): Engine => {
  if (!isEngineKind(kind)) fail(`--${name} must be one of ${ENGINE_KINDS.join(', ')}, got "${kind}"`);
  return kind === 'jit' && hot !== undefined ? new Translator({ hot }) : createEngine(kind);
};
const a = engine('a', args.a);
const bKind = args.b;
// A fresh engine per case: an engine with caches (the translator, the stale-code one) must not carry them from one case to the next.
let newB = (): Engine => engine('b', bKind);
if (args.broken !== undefined) {
  if (args.broken === 'sra') newB = () => brokenSra;
  else if (args.broken === 'ecall') newB = () => brokenEcallCount;
  else if (args.broken === 'stale') newB = () => new StaleCodeEngine();
  else fail(`--broken must be sra, ecall or stale, got "${args.broken}"`);
  // The broken engines read instructions physically: paging-off cases only.
  if (args.mode !== 'M') fail('--broken needs --mode M');
}

const arb = caseArb({ modes, maxOps, maxSteps, maxBudget });
const started = Date.now();
let done = 0;
const r = fc.check(
  fc.property(arb, (c: FuzzCase) => {
    if (++done % 1000 === 0) process.stderr.write(`cpufuzz: ${done} runs, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    return compare(c, a, newB()) === null;
  }),
  { seed, numRuns: runs, ...(args.path ? { path: args.path } : {}) },
);

const base = `npx tsx scripts/cpufuzz.ts --seed ${seed} --runs ${runs}${args.mode ? ` --mode ${args.mode}` : ''} --max-ops ${maxOps} --max-steps ${maxSteps} --max-budget ${maxBudget} --a ${args.a} --b ${args.b}${args.broken ? ` --broken ${args.broken}` : ''}${hot !== undefined ? ` --hot ${hot}` : ''}`;
if (!r.failed) {
  process.stdout.write(`cpufuzz: ${r.numRuns} runs, no divergence (seed ${seed}, ${((Date.now() - started) / 1000).toFixed(1)} s; translated blocks: ${jitStats.compiled} compiled, ${jitStats.blockRuns} runs, ${jitStats.stale} found stale)\n`);
  process.exit(0);
}
const c = r.counterexample![0] as FuzzCase;
process.stdout.write(`cpufuzz: divergence after ${r.numRuns} runs (seed ${seed}), shrunk ${r.numShrinks} times:\n`);
process.stdout.write(`${describeCase(c, compare(c, a, newB()), `${base} --path ${r.counterexamplePath}`)}\n`);
process.exit(1);

// `pvsim ringtest explore`: searches the interleavings of a ring frontend and backend
// (sim/ringkit/explore.ts) — seeded random walks, then every schedule up to a depth with
// partial-order reduction — and prints a table of the cases, with the replay command for a
// failure; `--replay <schedule>` runs one schedule again; `--junit <file>` writes JUnit XML.

import { writeFileSync } from 'node:fs';
import { elapsed, Progress, progressBar } from './progress.ts';
import { BACKEND_BUGS, exhaustive, randomWalks, replay, type BackendBug, type ExploreOptions, type SearchResult } from '../sim/ringkit/explore.ts';

export interface RingtestOptions {
  backend: string;
  /** Defaults: 2 and 1 for the kit's model backends, 3 and 2 for a module. */
  requests?: number;
  batch?: number;
  seed: number;
  walks: number;
  depth: number;
  replay?: string;
  junit?: string;
  /** Faults: spurious events per run; the number of a notification to lose (0: none). */
  spurious?: number;
  loseNotify?: number;
  /** --progress / --no-progress; default: when stderr is a terminal. */
  progress?: boolean;
}

interface Case {
  name: string;
  ok: boolean;
  detail: string;
  replay?: string;
  ms: number;
}

const xml = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

function junitXml(suite: string, cases: Case[]): string {
  const failed = cases.filter((c) => !c.ok).length;
  const body = cases
    .map((c) => `  <testcase classname="${xml(suite)}" name="${xml(c.name)}" time="${(c.ms / 1000).toFixed(3)}">${c.ok ? '' : `<failure message="${xml(c.detail)}">${xml(c.replay ?? '')}</failure>`}</testcase>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="${xml(suite)}" tests="${cases.length}" failures="${failed}">\n${body}\n</testsuite>\n`;
}

/** A ring page: 64 bytes of indices, then the slots. */
const MAX_ENTRY_BYTES = 4096 - 64;

/** Why a module's `protocol` cannot drive the bench, or null (its entryBytes, before any run). */
function protocolProblem(module: string, p: { entryBytes?: unknown; request?: unknown; responseId?: unknown } | undefined): string | null {
  if (!p || typeof p.entryBytes !== 'number' || typeof p.request !== 'function' || typeof p.responseId !== 'function') return `${module} exports no \`protocol\` (RingProtocol from pvsim/driver: entryBytes, request, responseId)`;
  if (!Number.isInteger(p.entryBytes) || p.entryBytes < 1 || p.entryBytes > MAX_ENTRY_BYTES) return `${module}: protocol.entryBytes is ${p.entryBytes}: a ring slot is 1-${MAX_ENTRY_BYTES} bytes (one must fit a 4096-byte page after its 64-byte header)`;
  return null;
}

/** The module's own code threw outside the backend's bounded calls (its protocol's request or responseId): said, not a stack trace. */
function moduleThrew(cmd: string, module: string, e: unknown): number {
  process.stderr.write(`pvsim ringtest ${cmd}: ${module} threw outside its backend's calls (its protocol?): ${e instanceof Error ? e.message : String(e)}\n`);
  return 2;
}

function printCases(cases: Case[]): number {
  const w = Math.max(...cases.map((c) => c.name.length));
  for (const c of cases) {
    process.stdout.write(`${c.ok ? 'passed' : 'FAILED'}  ${c.name.padEnd(w)}  ${c.detail}  ${c.ms} ms\n`);
    if (c.replay) process.stdout.write(`        replay: ${c.replay}\n`);
  }
  const failed = cases.filter((c) => !c.ok).length;
  process.stdout.write(`${cases.length - failed} passed, ${failed} failed\n`);
  return failed;
}

/**
 * `pvsim ringtest backend --driver <module>`: the ring conformance cases against a user
 * backend; `pvsim ringtest faults --driver <module>` (`faults`): the fault cases instead.
 */
export async function ringtestBackend(o: { driver?: string; export?: string; junit?: string; case?: string; progress?: boolean }, faults = false): Promise<number> {
  const { loadBackendNamespace } = await import('../dom0/driver/host.ts');
  const { isBackend } = await import('../dom0/driver/index.ts');
  const { ringConformance, ringFaults } = await import('../sim/ringkit/harness.ts');
  const cmd = faults ? 'faults' : 'backend';
  if (!o.driver) {
    process.stderr.write(`pvsim ringtest ${cmd}: --driver <module> is required\n`);
    return 2;
  }
  let backend;
  let protocol: unknown;
  try {
    const ns = await loadBackendNamespace(o.driver).catch(async (e: unknown) => {
      if (!o.export) throw e;
      const { tsImport } = await import('tsx/esm/api');
      const { resolve } = await import('node:path');
      return { backend: null, exports: (await tsImport(resolve(o.driver!), import.meta.url)) as Record<string, unknown> };
    });
    backend = o.export ? ns.exports[o.export] : ns.backend;
    protocol = ns.exports.protocol;
  } catch (e) {
    process.stderr.write(`pvsim ringtest ${cmd}: ${(e as Error).message}\n`);
    return 2;
  }
  if (!isBackend(backend)) {
    process.stderr.write(`pvsim ringtest ${cmd}: ${o.driver}${o.export ? ` export ${o.export}` : ''} is no defineBackend() object\n`);
    return 2;
  }
  const problem = protocolProblem(o.driver, protocol as { entryBytes?: unknown } | undefined);
  if (problem) {
    process.stderr.write(`pvsim ringtest ${cmd}: ${problem}\n`);
    return 2;
  }
  const t0 = Date.now();
  const progress = new Progress({ prefix: `pvsim ringtest ${cmd}`, flag: o.progress });
  progress.every(1000, () => `running the ${faults ? 'fault' : 'ring'} cases against ${o.driver}, ${elapsed(t0)}`);
  let results;
  try {
    results = await (faults ? ringFaults : ringConformance)(backend, protocol as Parameters<typeof ringConformance>[1], undefined, o.case);
  } catch (e) {
    return moduleThrew(cmd, o.driver, e);
  } finally {
    progress.done();
  }
  if (o.case !== undefined && results.length === 0) {
    process.stderr.write(`pvsim ringtest ${cmd}: no case named ${JSON.stringify(o.case)}\n`);
    return 2;
  }
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const ms = Math.round((Date.now() - t0) / Math.max(1, results.length));
  const cases: Case[] = results.map((r) => ({ name: r.name, ok: r.ok, detail: r.detail, ms, replay: r.ok ? undefined : `pvsim ringtest ${cmd} --driver ${o.driver}${o.export ? ` --export ${o.export}` : ''} --case ${q(r.name)}` }));
  const failed = printCases(cases);
  if (o.junit) writeFileSync(o.junit, junitXml(`ringtest.${cmd}`, cases));
  return failed ? 1 : 0;
}

/**
 * `pvsim ringtest <blkif|netif|console|xenstore>`: a protocol conformance suite
 * (sim/ringkit/suites) against pvsim's own backend, or `--backend <module>`; `--case <name>`
 * runs one case again (the replay command printed for each failure).
 */
export async function ringtestProtocol(suite: string, o: { backend: string; frontend?: string; cmdline?: string; case?: string; junit?: string; progress?: boolean }): Promise<number> {
  const { runProtocolSuite, SuiteLoadError } = await import('../sim/ringkit/suites/index.ts');
  if (o.frontend !== undefined && o.backend !== 'none') {
    process.stderr.write(`pvsim ringtest ${suite}: --frontend and --backend test one side each: give one\n`);
    return 2;
  }
  const module = o.backend === 'none' ? undefined : o.backend;
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const who = module ? ` --backend ${module}` : o.frontend !== undefined ? ` --frontend ${o.frontend}${o.cmdline ? ` --cmdline ${q(o.cmdline)}` : ''}` : '';
  let results;
  const t0 = Date.now();
  const progress = new Progress({ prefix: `pvsim ringtest ${suite}`, flag: o.progress });
  progress.every(1000, () => `running the ${suite} suite${o.case !== undefined ? ` (case ${o.case})` : ''}, ${elapsed(t0)}`);
  try {
    if (o.frontend !== undefined) {
      const { readFileSync } = await import('node:fs');
      const { blkfrontConformance, pvsimBlkfront } = await import('../sim/ringkit/suites/blkfront.ts');
      let image: Uint8Array;
      try {
        image = readFileSync(o.frontend);
      } catch (e) {
        throw new SuiteLoadError(`cannot read the frontend image ${o.frontend}: ${(e as Error).message}`);
      }
      if (suite === 'xenstore') {
        const { xsfrontConformance } = await import('../sim/ringkit/suites/xsfront.ts');
        results = await xsfrontConformance({ image, cmdline: o.cmdline ?? '' }, o.case);
      } else if (suite === 'console') {
        const { consfrontConformance, pvsimConsfront } = await import('../sim/ringkit/suites/consfront.ts');
        results = await consfrontConformance({ image, cmdline: o.cmdline ?? pvsimConsfront().cmdline }, o.case);
      } else if (suite === 'netif') {
        const { netfrontConformance, pvsimNetfront } = await import('../sim/ringkit/suites/netfront.ts');
        results = await netfrontConformance({ image, cmdline: o.cmdline ?? pvsimNetfront().cmdline }, o.case);
      } else results = await blkfrontConformance({ image, cmdline: o.cmdline ?? pvsimBlkfront().cmdline }, o.case);
    } else results = await runProtocolSuite(suite as 'blkif', module, o.case);
  } catch (e) {
    if (e instanceof SuiteLoadError) {
      progress.done();
      process.stderr.write(`pvsim ringtest ${suite}: ${e.message}\n`);
      return 2;
    }
    throw e;
  } finally {
    progress.done();
  }
  if (o.case !== undefined && results.length === 0) {
    process.stderr.write(`pvsim ringtest ${suite}: no case named ${JSON.stringify(o.case)}\n`);
    return 2;
  }
  const cases: Case[] = results.map((r) => ({ name: r.name, ok: r.ok, detail: r.detail, ms: r.ms, replay: r.ok ? undefined : `pvsim ringtest ${suite}${who} --case ${q(r.name)}` }));
  const failed = printCases(cases);
  if (o.junit) writeFileSync(o.junit, junitXml(`ringtest.${suite}`, cases));
  return failed ? 1 : 0;
}

/**
 * `pvsim ringtest explore`: the kit's model backend (`--backend none|no-final-check|...`) or
 * a backend module of your own (`--backend ./mybackend.ts`, a pvsim/driver module exporting
 * its RingProtocol as `protocol`) against the model frontend.
 */
export async function ringtestCommand(suite: string, o: RingtestOptions): Promise<number> {
  if (suite !== 'explore') {
    process.stderr.write(`pvsim ringtest: unknown suite ${JSON.stringify(suite)} (known: explore, backend, faults, blkif, netif, console, xenstore)\n`);
    return 2;
  }
  const model = (BACKEND_BUGS as readonly string[]).includes(o.backend);
  if (!model && !/[/\\]|\.[cm]?[jt]s$/.test(o.backend)) {
    process.stderr.write(`pvsim ringtest: --backend must be one of ${BACKEND_BUGS.join(', ')}, or the path of a backend module\n`);
    return 2;
  }
  const requests = o.requests ?? (model ? 2 : 3);
  const batch = o.batch ?? (model ? 1 : 2);
  const faults = `${o.spurious ? ` --spurious ${o.spurious}` : ''}${o.loseNotify ? ` --lose-notify ${o.loseNotify}` : ''}`;
  const again = (sched: string) => `pvsim ringtest explore --backend ${o.backend} --requests ${requests} --batch ${batch}${faults} --replay ${sched || '""'}`;
  const cases: Case[] = [];
  const record = (name: string, t0: number, r: SearchResult, extra: string) => {
    const f = r.failure;
    cases.push({ name, ok: !f, detail: f ? `${f.error} (after ${r.runs} runs)` : `${r.runs} runs${extra}`, replay: f ? again(f.shrunk) : undefined, ms: Date.now() - t0 });
  };
  if (model) {
    const opts: ExploreOptions = { bug: o.backend as BackendBug, requests, batch, spurious: o.spurious ?? 0, loseNotify: o.loseNotify ?? 0 };
    if (o.replay !== undefined) {
      const r = replay(o.replay, opts);
      process.stdout.write(`schedule ${r.schedule}\n${r.ok ? 'passed' : `failed: ${r.error}`}\n`);
      return r.ok ? 0 : 1;
    }
    // The searches are synchronous: progress is drawn from their per-run callback (a
    // terminal's writes are synchronous too), at most every 100 ms.
    const progress = new Progress({ prefix: 'pvsim ringtest explore', flag: o.progress });
    let t0 = Date.now();
    let walks: SearchResult;
    let e: SearchResult & { complete: boolean };
    try {
      walks = randomWalks(o.seed, o.walks, { ...opts, onRun: progress.enabled ? (n) => progress.update(`random walks: ${progressBar(n, o.walks, 20)} ${n}/${o.walks} runs, ${elapsed(t0)}`, n === o.walks) : undefined });
      record(`random walks (seed ${o.seed})`, t0, walks, '');
      t0 = Date.now();
      e = exhaustive(o.depth, { ...opts, onRun: progress.enabled ? (n) => progress.update(`every schedule to depth ${o.depth}: ${n} runs, ${elapsed(t0)}`) : undefined });
    } finally {
      progress.done();
    }
    record(`every schedule to depth ${o.depth}`, t0, e, e.complete ? ', all interleavings' : ', cut off by the bound');
  } else {
    const { loadBackendNamespace } = await import('../dom0/driver/host.ts');
    const { exhaustiveModule, randomWalksModule, replayModule } = await import('../sim/ringkit/explore_module.ts');
    let subject;
    try {
      const ns = await loadBackendNamespace(o.backend);
      const problem = protocolProblem(o.backend, ns.exports.protocol as { entryBytes?: unknown } | undefined);
      if (problem) throw new Error(problem);
      subject = { def: ns.backend, proto: ns.exports.protocol as Parameters<typeof replayModule>[0]['proto'] };
    } catch (e) {
      process.stderr.write(`pvsim ringtest explore: ${(e as Error).message}\n`);
      return 2;
    }
    const opts = { requests, batch, spurious: o.spurious ?? 0, loseNotify: o.loseNotify ?? 0 };
    if (o.replay !== undefined) {
      let r;
      try {
        r = await replayModule(subject, o.replay, opts);
      } catch (e) {
        return moduleThrew('explore', o.backend, e);
      }
      process.stdout.write(`schedule ${r.schedule}\n${r.ok ? 'passed' : `failed: ${r.error}`}\n`);
      return r.ok ? 0 : 1;
    }
    const progress = new Progress({ prefix: 'pvsim ringtest explore', flag: o.progress });
    let t0 = Date.now();
    progress.every(1000, () => `exploring ${o.backend}, ${elapsed(t0)}`);
    let e;
    try {
      record(`random walks (seed ${o.seed})`, t0, await randomWalksModule(subject, o.seed, o.walks, opts), '');
      t0 = Date.now();
      e = await exhaustiveModule(subject, o.depth, opts, MODULE_MAX_RUNS);
    } catch (err) {
      return moduleThrew('explore', o.backend, err);
    } finally {
      progress.done();
    }
    record(`every schedule to depth ${o.depth}`, t0, e, e.complete ? ', all interleavings' : e.runs >= MODULE_MAX_RUNS ? `, cut off at ${MODULE_MAX_RUNS} runs` : ', cut off by the depth');
  }
  const failed = printCases(cases);
  if (o.junit) writeFileSync(o.junit, junitXml('ringtest.explore', cases));
  return failed ? 1 : 0;
}

/** Runs of the systematic search over a module (each replays the module from its connect: a few ms). */
const MODULE_MAX_RUNS = 2000;

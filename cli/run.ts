// `pvsim run <scenario.json>`: runs a scenario and prints the per-domain table, ending
// with `trace-hash: <hex>`.

import { Progress } from './progress.ts';
import { consoleLineWriter } from './console_lines.ts';
import { closeSync, existsSync, openSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { dom0Args, newRunFiles } from './runtime.ts';
import { startPair, stopChild, type Child } from './up.ts';
import { dirname } from 'node:path';
import { loadScenario, ScenarioError } from '../sim/scenario/schema.ts';
import { runScenario, runScenarioRealtime, type ScenarioResult } from '../sim/scenario/runner.ts';
import type { EngineKind } from '../hypervisor/cpu/engines.ts';
import { formatReport, reportJson } from '../sim/scenario/report.ts';
import { parseDuration } from '../sim/scenario/duration.ts';

export interface RunCliOptions {
  seed?: number;
  until?: string;
  trace?: string;
  json?: boolean;
  console?: boolean;
  realtime?: boolean;
  speed?: number;
  /** Run dom0's daemons inside this process instead of starting both processes. */
  inProcess?: boolean;
  /** Capture every frame crossing dom0's bridges to this pcap file. */
  pcap?: string;
  /** Write the report as a self-contained HTML page (charts) to this file. */
  html?: string;
  /** Progress lines on stderr; default: when stderr is a terminal. */
  progress?: boolean;
  /** --cpu: the engine for every domain (over the scenario's cpu and domains' cpu_engine). */
  cpu?: EngineKind;
}

/** The run's progress (cli/progress.ts): the scenario runner's lines, a status line on a terminal. */
function runProgress(opts: RunCliOptions): Progress {
  return new Progress({ prefix: 'pvsim run', flag: opts.progress, everyMs: 0 });
}

export const RUN_EXIT_BAD_INPUT = 2;

/**
 * Prints the report (table or JSON) and writes the trace and HTML files if asked. A file that
 * cannot be written (disk full, directory gone) is named on stderr and costs only itself: the
 * report is still printed. Returns how many files could not be written.
 */
export async function writeReport(result: ScenarioResult, opts: { trace?: string; json?: boolean; html?: string; scenario?: string }): Promise<number> {
  let unwritten = 0;
  const write = (opt: string, file: string, text: () => string | Iterable<string>) => {
    try {
      const t = text();
      if (typeof t === 'string') writeFileSync(file, t);
      else {
        // A piece at a time: a detailed trace can be tens of MB.
        const fd = openSync(file, 'w');
        try {
          for (const piece of t) writeSync(fd, piece);
        } finally {
          closeSync(fd);
        }
      }
    } catch (e) {
      unwritten++;
      process.stderr.write(`pvsim run: cannot write ${opt} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    }
  };
  if (opts.trace) {
    const t = result.hv.traceBuffer;
    const names = new Map(result.domains.map((d) => [d.domid, { name: d.name, vcpus: d.vcpus }]));
    const trace = opts.trace;
    const { traceJsonLinesChunks, traceChromeChunks } = await import('../sim/trace/export.ts');
    write('--trace', trace, () => (trace.endsWith('.jsonl') ? traceJsonLinesChunks(t, names, result.until) : traceChromeChunks(t, names, result.until)));
  }
  const json = reportJson(result);
  if (opts.html) {
    const { renderRunHtml } = await import('../sim/scenario/html.ts');
    write('--html', opts.html, () => renderRunHtml(json, opts.scenario ?? result.name));
  }
  process.stdout.write((opts.json ? JSON.stringify(json, null, 2) : formatReport(result)) + '\n');
  return unwritten;
}

export async function runCommand(file: string, opts: RunCliOptions): Promise<number> {
  if (!opts.inProcess && !opts.realtime) {
    // Check the scenario and options here, so a mistake is reported before anything starts.
    try {
      loadScenario(file);
      if (opts.until !== undefined) {
        try {
          parseDuration(opts.until);
        } catch (e) {
          throw new ScenarioError(`--until: ${(e as Error).message}`);
        }
      }
    } catch (e) {
      if (e instanceof ScenarioError) {
        process.stderr.write(`pvsim run: ${e.message}\n`);
        return RUN_EXIT_BAD_INPUT;
      }
      throw e;
    }
    return runWithProcesses(file, opts);
  }
  const progress = runProgress(opts);
  try {
    const scenario = loadScenario(file);
    let until: number | undefined;
    if (opts.until !== undefined) {
      try {
        until = parseDuration(opts.until);
      } catch (e) {
        throw new ScenarioError(`--until: ${(e as Error).message}`);
      }
    }
    const runOpts = {
      baseDir: dirname(file),
      seed: opts.seed,
      until,
      pcap: opts.pcap,
      cpu: opts.cpu,
      traceDetail: opts.trace !== undefined,
      progress: progress.enabled ? (l: string) => progress.update(l) : undefined,
      onConsole: opts.console ? consoleLineWriter((t) => progress.write(t)) : undefined,
    };
    progress.update('starting');
    let result;
    try {
      result = opts.realtime ? await runScenarioRealtime(scenario, { ...runOpts, speed: opts.speed }) : await runScenario(scenario, runOpts);
    } finally {
      progress.done();
    }
    return (await writeReport(result, { ...opts, scenario: file })) ? 1 : 0;
  } catch (e) {
    if (e instanceof ScenarioError) {
      process.stderr.write(`pvsim run: ${e.message}\n`);
      return RUN_EXIT_BAD_INPUT;
    }
    throw e;
  }
}

/**
 * `pvsim run` as the design has it: the hypervisor and dom0 as child processes over real
 * sockets. The hypervisor child runs the scenario deterministically once dom0 is
 * connected and prints the report, which is relayed here.
 */
async function runWithProcesses(file: string, opts: RunCliOptions): Promise<number> {
  const files = newRunFiles();
  const { dir: run, hvToken, xsPath } = files;
  const children: Child[] = [];
  try {
    const args = ['hypervisor', '--token-file', hvToken, '--scenario', file];
    if (opts.seed !== undefined) args.push('--seed', String(opts.seed));
    if (opts.until !== undefined) args.push('--until', opts.until);
    if (opts.trace) args.push('--trace', opts.trace);
    if (opts.json) args.push('--json');
    const progress = runProgress(opts);
    if (progress.enabled) args.push('--progress');
    if (opts.html) args.push('--html', opts.html);
    if (opts.console) args.push('--console');
    // The hypervisor child's progress lines become ours; its other stderr lines pass, tagged.
    const hypervisor = (l: string) => {
      if (progress.enabled && l.startsWith('progress: ')) progress.update(l);
      else progress.write(`[hypervisor] ${l}\n`);
      return true;
    };
    const dom0 = (l: string) => (progress.write(`[dom0] ${l}\n`), true);
    if (opts.cpu) args.push('--cpu', opts.cpu);
    progress.update('starting the hypervisor and dom0');
    await startPair(args, (url) => dom0Args(url, files, { pcap: opts.pcap, persist: false }), ['PVSIM_URL'], children, (l) => (progress.done(), process.stdout.write(l + '\n')), { hypervisor, dom0 });
    const { code, signal } = await children[0]!.exited;
    progress.done();
    return signal ? 1 : (code ?? 1);
  } catch (e) {
    process.stderr.write(`pvsim run: ${(e as Error).message}\n`);
    return 1;
  } finally {
    for (const c of children.reverse()) await stopChild(c);
    if (existsSync(xsPath)) unlinkSync(xsPath);
    rmSync(run, { recursive: true, force: true });
  }
}

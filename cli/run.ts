// `pvsim run <scenario.json>`: runs a scenario and prints the per-domain table, ending
// with `trace-hash: <hex>`.

import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadScenario, ScenarioError } from '../hypervisor/scenario/schema.ts';
import { runScenario, runScenarioRealtime } from '../hypervisor/scenario/runner.ts';
import { formatReport, reportJson } from '../hypervisor/scenario/report.ts';
import { parseDuration } from '../hypervisor/scenario/duration.ts';

export interface RunCliOptions {
  seed?: number;
  until?: string;
  trace?: string;
  json?: boolean;
  console?: boolean;
  realtime?: boolean;
  speed?: number;
}

export const RUN_EXIT_BAD_INPUT = 2;

export async function runCommand(file: string, opts: RunCliOptions): Promise<number> {
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
      onConsole: opts.console ? (d: { name: string }, b: Uint8Array) => process.stderr.write(`[${d.name}] ${new TextDecoder().decode(b)}`) : undefined,
    };
    const result = opts.realtime ? await runScenarioRealtime(scenario, { ...runOpts, speed: opts.speed }) : await runScenario(scenario, runOpts);
    if (opts.trace) {
      const t = result.hv.traceBuffer;
      const names = (domid: number) => result.domains.find((d) => d.domid === domid)?.name ?? `d${domid}`;
      writeFileSync(opts.trace, opts.trace.endsWith('.jsonl') ? t.toJsonLines() + '\n' : t.toChromeTrace(names));
    }
    process.stdout.write((opts.json ? JSON.stringify(reportJson(result), null, 2) : formatReport(result)) + '\n');
    return 0;
  } catch (e) {
    if (e instanceof ScenarioError) {
      process.stderr.write(`pvsim run: ${e.message}\n`);
      return RUN_EXIT_BAD_INPUT;
    }
    throw e;
  }
}

// `pvsim trace summary <file>`: xenalyze's summary of a trace `pvsim run --trace` wrote
// (.jsonl or the Perfetto JSON). Exit 0, or 2 for a file that is missing or not a trace.

import { readFileSync, statSync } from 'node:fs';
import { TraceFormatError } from '../sim/trace/model.ts';
import { formatSummary, modelFromTraceFile, summarize } from '../sim/trace/summary.ts';

/** Largest trace file read (a detailed trace of a million records is about 100 MiB of JSON lines). */
const MAX_TRACE_BYTES = 512 * 2 ** 20;

export function traceSummaryCommand(file: string, opts: { json?: boolean }): number {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_TRACE_BYTES) throw new Error(`${size} bytes: larger than the ${MAX_TRACE_BYTES / 2 ** 20} MiB a summary reads`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    process.stderr.write(`pvsim trace summary: ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return 2;
  }
  let summary;
  try {
    summary = summarize(modelFromTraceFile(text));
  } catch (e) {
    if (!(e instanceof TraceFormatError)) throw e;
    process.stderr.write(`pvsim trace summary: ${file}: ${e.message}\n`);
    return 2;
  }
  process.stdout.write((opts.json ? JSON.stringify(summary, null, 2) : formatSummary(summary)) + '\n');
  return 0;
}

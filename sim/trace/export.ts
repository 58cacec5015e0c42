// Writing a run's trace: JSON lines (every record in the ring, side records included, with
// the domains' names and the run's end as extra lines) or Chrome trace-event JSON for
// Perfetto (perfetto.ts).

import type { TraceBuffer } from '../../hypervisor/trace/trace.ts';
import { buildTraceModel, recordName, TRACE_META } from './model.ts';
import { toChromeTrace } from './perfetto.ts';

/** What a trace file says of each domain beyond its records. */
export interface TraceDomain {
  name: string;
  vcpus: number;
}

const hex = (e: number) => '0x' + e.toString(16).padStart(8, '0');

/** Pieces of about this many characters: a file is written a piece at a time. */
const CHUNK = 1 << 20;

/**
 * `{t, cpu, event, name, data}` per line; domains first (name in `label`, data [domid,
 * vCPUs]), the run's end last. As pieces of text, so a million-record trace is never one
 * string.
 */
export function* traceJsonLinesChunks(buf: TraceBuffer, domains: ReadonlyMap<number, TraceDomain>, end: number): Generator<string> {
  let out = '';
  for (const [domid, d] of domains) out += JSON.stringify({ t: 0, cpu: -1, event: hex(TRACE_META.DOMAIN_NAME), name: 'pvsim_domain_name', data: [domid, d.vcpus, 0, 0], label: d.name }) + '\n';
  // Built as text (not JSON.stringify per object), from the ring without a record object each.
  const head = new Map<number, string>();
  const pieces: string[] = [];
  buf.forEach((time, pcpu, event, data) => {
    let h = head.get(event);
    if (h === undefined) head.set(event, (h = `,"event":"${hex(event)}","name":${JSON.stringify(recordName(event))},"data":[`));
    let line = `{"t":${time},"cpu":${pcpu}${h}`;
    for (let i = 0; i < data.length; i++) line += (i ? ',' : '') + (Number.isFinite(data[i]!) ? String(data[i]) : 'null');
    out += line + ']}\n';
    if (out.length >= CHUNK) {
      pieces.push(out);
      out = '';
    }
  });
  yield* pieces;
  yield out + JSON.stringify({ t: end, cpu: -1, event: hex(TRACE_META.END), name: 'pvsim_trace_end', data: [buf.dropped, buf.written, buf.sideWritten, 0] }) + '\n';
}

export function traceJsonLines(buf: TraceBuffer, domains: ReadonlyMap<number, TraceDomain>, end: number): string {
  return [...traceJsonLinesChunks(buf, domains, end)].join('');
}

/** Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing): tracks, flows and counters; as pieces of text. */
export function* traceChromeChunks(buf: TraceBuffer, domains: ReadonlyMap<number, TraceDomain>, end: number): Generator<string> {
  const model = buildTraceModel({ records: buf.records(), names: new Map([...domains].map(([id, d]) => [id, d.name])), vcpus: new Map([...domains].map(([id, d]) => [id, d.vcpus])), end, dropped: buf.dropped });
  const trace = toChromeTrace(model);
  let out = '{"traceEvents":[';
  const events = trace.traceEvents;
  for (let i = 0; i < events.length; i++) {
    out += (i ? ',' : '') + JSON.stringify(events[i]);
    if (out.length >= CHUNK) {
      yield out;
      out = '';
    }
  }
  yield out + `],"displayTimeUnit":${JSON.stringify(trace.displayTimeUnit)},"metadata":${JSON.stringify(trace.metadata)}}`;
}

export function traceChromeJson(buf: TraceBuffer, domains: ReadonlyMap<number, TraceDomain>, end: number): string {
  return [...traceChromeChunks(buf, domains, end)].join('');
}

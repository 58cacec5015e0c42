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

/** `{t, cpu, event, name, data}` per line; domains first (name in `label`, data [domid, vCPUs]), the run's end last. */
export function traceJsonLines(buf: TraceBuffer, domains: ReadonlyMap<number, TraceDomain>, end: number): string {
  const lines: string[] = [];
  for (const [domid, d] of domains) lines.push(JSON.stringify({ t: 0, cpu: -1, event: hex(TRACE_META.DOMAIN_NAME), name: 'pvsim_domain_name', data: [domid, d.vcpus, 0, 0], label: d.name }));
  // Built as text (not JSON.stringify per object): a detailed trace has up to a million lines.
  const head = new Map<number, string>();
  for (const r of buf.records()) {
    let h = head.get(r.event);
    if (h === undefined) head.set(r.event, (h = `,"event":"${hex(r.event)}","name":${JSON.stringify(recordName(r.event))},"data":[`));
    let data = '';
    for (let i = 0; i < r.data.length; i++) data += (i ? ',' : '') + (Number.isFinite(r.data[i]!) ? String(r.data[i]) : 'null');
    lines.push(`{"t":${r.time},"cpu":${r.pcpu}${h}${data}]}`);
  }
  lines.push(JSON.stringify({ t: end, cpu: -1, event: hex(TRACE_META.END), name: 'pvsim_trace_end', data: [buf.dropped, buf.written, buf.sideWritten, 0] }));
  return lines.join('\n') + '\n';
}

/** Chrome trace-event JSON (ui.perfetto.dev, chrome://tracing): tracks, flows and counters. */
export function traceChromeJson(buf: TraceBuffer, domains: ReadonlyMap<number, TraceDomain>, end: number): string {
  const model = buildTraceModel({ records: buf.records(), names: new Map([...domains].map(([id, d]) => [id, d.name])), vcpus: new Map([...domains].map(([id, d]) => [id, d.vcpus])), end, dropped: buf.dropped });
  return JSON.stringify(toChromeTrace(model));
}

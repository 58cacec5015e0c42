// xentrace-like tracing: fixed-size records (virtual timestamp, pCPU, event id, up to
// five data words) in a bounded ring. Event ids are Xen's (xen/trace.h) where Xen has one;
// pvsim's own events use a class Xen leaves free. A running hash covers every record ever
// written, evicted or not, so two runs can be compared by one number.

export const TRC = {
  SCHED_RUNSTATE_CHANGE: 0x0002_1001,
  SCHED_DOM_ADD: 0x0002_8001,
  SCHED_DOM_REM: 0x0002_8002,
  SCHED_SLEEP: 0x0002_8003,
  SCHED_WAKE: 0x0002_8004,
  SCHED_YIELD: 0x0002_8005,
  SCHED_BLOCK: 0x0002_8006,
  SCHED_SHUTDOWN: 0x0002_8007,
  SCHED_SWITCH: 0x0002_800a,
  SCHED_S_TIMER_FN: 0x0002_800b,
  MEM_PAGE_GRANT_MAP: 0x0010_f001,
  MEM_PAGE_GRANT_UNMAP: 0x0010_f002,
  /** Xen's TRC_HVM_VMEXIT: an HVM vCPU's exit (domid, vcpu, cause, tval). */
  HVM_VMEXIT: 0x0008_2002,
  PV_HYPERCALL: 0x0020_1001,
  PV_TRAP: 0x0020_1003,
  /** pvsim's class (Xen does not use 0x0100f000). */
  PVSIM_EVTCHN_SEND: 0x0100_1001,
  PVSIM_EVTCHN_UPCALL: 0x0100_1002,
  PVSIM_GNTTAB_COPY: 0x0100_2001,
} as const;

export const TRC_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(TRC).map(([k, v]) => [v, k.toLowerCase()]));

export interface TraceRecord {
  time: number;
  pcpu: number;
  event: number;
  data: number[];
}

const WORDS = 8; // time lo, time hi, pcpu, event, d0..d3
const MAX_DATA = 4;

export class TraceBuffer {
  private readonly buf: Float64Array;
  private head = 0;
  private count = 0;
  /** Total records ever written. */
  written = 0;
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;

  constructor(readonly capacity = 65_536) {
    this.buf = new Float64Array(capacity * WORDS);
  }

  record(time: number, pcpu: number, event: number, d0 = 0, d1 = 0, d2 = 0, d3 = 0): void {
    const o = this.head * WORDS;
    const b = this.buf;
    b[o] = time;
    b[o + 1] = pcpu;
    b[o + 2] = event;
    b[o + 3] = d0;
    b[o + 4] = d1;
    b[o + 5] = d2;
    b[o + 6] = d3;
    this.head = (this.head + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
    this.written++;
    this.mix(time % 0x1_0000_0000);
    this.mix(Math.floor(time / 0x1_0000_0000));
    this.mix(pcpu);
    this.mix(event);
    this.mix(d0);
    this.mix(d1);
    this.mix(d2);
    this.mix(d3);
  }

  private mix(v: number): void {
    const x = v | 0;
    this.h1 = Math.imul(this.h1 ^ x, 0x01000193);
    this.h2 = Math.imul(this.h2 ^ ((x >>> 16) | (x << 16)), 0x5bd1e995) ^ (this.h2 >>> 15);
  }

  /** 64-bit hash of every record written so far, as 16 hex digits. */
  hash(): string {
    const a = (this.h1 ^ Math.imul(this.written | 0, 0x9e3779b1)) >>> 0;
    const b = (this.h2 ^ Math.floor(this.written / 0x1_0000_0000)) >>> 0;
    return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
  }

  /** The records still in the ring, oldest first. */
  records(): TraceRecord[] {
    const out: TraceRecord[] = [];
    const start = (this.head - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const o = ((start + i) % this.capacity) * WORDS;
      const b = this.buf;
      out.push({ time: b[o]!, pcpu: b[o + 1]!, event: b[o + 2]!, data: [b[o + 3]!, b[o + 4]!, b[o + 5]!, b[o + 6]!].slice(0, MAX_DATA) });
    }
    return out;
  }

  get dropped(): number {
    return this.written - this.count;
  }

  /** One JSON object per line: {t, cpu, event, name, data}. */
  toJsonLines(): string {
    return this.records()
      .map((r) => JSON.stringify({ t: r.time, cpu: r.pcpu, event: '0x' + r.event.toString(16).padStart(8, '0'), name: TRC_NAMES.get(r.event) ?? 'unknown', data: r.data }))
      .join('\n');
  }

  /**
   * Chrome trace-event JSON (opens in Perfetto / chrome://tracing): each pCPU is a thread;
   * SCHED_SWITCH records become slices named after the domain and vCPU that ran.
   */
  toChromeTrace(names: (domid: number) => string = (d) => `d${d}`): string {
    const events: object[] = [];
    const open = new Map<number, { name: string; ts: number }>();
    const usec = (ns: number) => ns / 1000;
    for (const r of this.records()) {
      if (r.event === TRC.SCHED_SWITCH) {
        const prev = open.get(r.pcpu);
        if (prev) events.push({ name: prev.name, ph: 'X', ts: usec(prev.ts), dur: usec(r.time - prev.ts), pid: 0, tid: r.pcpu });
        const [, , nextDom, nextVcpu] = r.data;
        if (nextDom! >= 0) open.set(r.pcpu, { name: `${names(nextDom!)} v${nextVcpu}`, ts: r.time });
        else open.delete(r.pcpu);
      } else {
        events.push({ name: TRC_NAMES.get(r.event) ?? `0x${r.event.toString(16)}`, ph: 'i', s: 't', ts: usec(r.time), pid: 0, tid: r.pcpu, args: { data: r.data } });
      }
    }
    const meta = [...new Set(this.records().map((r) => r.pcpu))].map((cpu) => ({ name: 'thread_name', ph: 'M', pid: 0, tid: cpu, args: { name: `pCPU ${cpu}` } }));
    return JSON.stringify({ traceEvents: [...meta, ...events], displayTimeUnit: 'ns' });
  }
}

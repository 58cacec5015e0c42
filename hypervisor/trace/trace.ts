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
  // Side records (TraceBuffer.side): written only while a trace file is asked for, and never
  // hashed, so asking for a trace changes no trace hash. They say what the hashed records
  // leave implicit: run-state changes and why, hypercall ends, who sent an event, runqueue
  // lengths and credit, ring indices.
  /** A vCPU's run state changed (Xen's TRC_SCHED_RUNSTATE_CHANGE): domid, vcpu, old, new (RUNSTATES index). */
  PVSIM_RUNSTATE: 0x0100_8001,
  /** A PV hypercall returned: domid, vcpu, nr, ns it took (entry cost and handler). */
  PVSIM_HYPERCALL_END: 0x0100_8002,
  /** Detail of the PVSIM_EVTCHN_SEND just before it: remote domid (-1 none), remote port, ECS kind, virq (-1 none). */
  PVSIM_EVTCHN_FROM: 0x0100_8003,
  /** A pCPU's scheduling state after a decision: runqueue length, vCPU run (domid, vcpu, -1 idle), its credit (NaN none). */
  PVSIM_SCHED_STATE: 0x0100_8004,
  /** SCHEDOP_poll: domid, vcpu, number of ports, timeout (0 none). */
  PVSIM_POLL: 0x0100_8005,
  /** A backend ring (mapped by dom0, bound to a channel; rings.ts): frontend domid, frontend port, ring page (mfn), TRACE_RING_KIND. */
  PVSIM_RING_ADD: 0x0100_8006,
  /** A ring's shared indices seen at an event on its channel: frontend domid, frontend port, ring page (mfn), req_prod, rsp_prod. */
  PVSIM_RING_INDEX: 0x0100_8007,
  /** An exit of an HVM vCPU in hw mode (as HVM_VMEXIT, which trap mode records hashed): domid, vcpu, cause, tval. */
  PVSIM_HVM_EXIT: 0x0100_8008,
  /** What is about to wake a blocked HVM vCPU (no event channel tells it): domid, vcpu, TRACE_WAKE code. */
  PVSIM_WAKE_CAUSE: 0x0100_8009,
  /** An exit (PV trap, HVM exit) was served: domid, vcpu, cause, ns it cost. */
  PVSIM_EXIT_END: 0x0100_800a,
} as const;

/** PVSIM_WAKE_CAUSE's codes. */
export const TRACE_WAKE = { timer: 1, io: 2, other: 3 } as const;

/** Xen's ECS_* kinds in PVSIM_EVTCHN_FROM. */
export const TRACE_ECS_INTERDOMAIN = 3;
export const TRACE_ECS_VIRQ = 5;

export const TRC_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(TRC).map(([k, v]) => [v, k.toLowerCase()]));

export interface TraceRecord {
  time: number;
  pcpu: number;
  event: number;
  data: number[];
}

/** Records a detailed trace keeps (64 MiB of ring). */
export const DETAIL_CAPACITY = 1 << 20;

const WORDS = 8; // time, pcpu, event, d0..d3, d4 (side records only)

/** Whether `event` is a side record (TraceBuffer.side): not hashed, five data words. */
export function isSideEvent(event: number): boolean {
  return event >= 0x0100_8000 && event < 0x0100_9000;
}

export class TraceBuffer {
  private buf: Float64Array;
  private head = 0;
  private count = 0;
  /** Total records ever written (side records not counted: they are not hashed). */
  written = 0;
  /** Side records written (see `detail`). */
  sideWritten = 0;
  /**
   * Whether side records are kept: set when a trace file is asked for. They share the ring
   * with the hashed records (so a detailed trace covers a shorter window) but never enter
   * the hash or `written`.
   */
  detail = false;
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;

  constructor(private cap = 65_536) {
    this.buf = new Float64Array(cap * WORDS);
  }

  get capacity(): number {
    return this.cap;
  }

  /**
   * Keeps side records from now on, in a ring of at least `capacity` records (the records
   * held so far are kept): a trace file wants the whole run, side records included.
   */
  enableDetail(capacity = DETAIL_CAPACITY): void {
    this.detail = true;
    if (capacity <= this.cap) return;
    const old = this.records();
    this.cap = capacity;
    this.buf = new Float64Array(capacity * WORDS);
    this.head = 0;
    this.count = 0;
    for (const r of old) this.put(r.time, r.pcpu, r.event, r.data[0]!, r.data[1]!, r.data[2]!, r.data[3]!, r.data[4] ?? 0);
  }

  record(time: number, pcpu: number, event: number, d0 = 0, d1 = 0, d2 = 0, d3 = 0): void {
    this.put(time, pcpu, event, d0, d1, d2, d3, 0);
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

  /** A side record: kept only with `detail`, never hashed. */
  side(time: number, pcpu: number, event: number, d0 = 0, d1 = 0, d2 = 0, d3 = 0, d4 = 0): void {
    if (!this.detail) return;
    this.put(time, pcpu, event, d0, d1, d2, d3, d4);
    this.sideWritten++;
  }

  private put(time: number, pcpu: number, event: number, d0: number, d1: number, d2: number, d3: number, d4: number): void {
    const o = this.head * WORDS;
    const b = this.buf;
    b[o] = time;
    b[o + 1] = pcpu;
    b[o + 2] = event;
    b[o + 3] = d0;
    b[o + 4] = d1;
    b[o + 5] = d2;
    b[o + 6] = d3;
    b[o + 7] = d4; // side records only (their spare word)
    this.head = (this.head + 1) % this.cap;
    if (this.count < this.cap) this.count++;
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

  /**
   * Calls `fn` for each record still in the ring, oldest first, with one reused data array
   * (four words, five for side records): no allocation per record.
   */
  forEach(fn: (time: number, pcpu: number, event: number, data: readonly number[]) => void): void {
    const start = (this.head - this.count + this.cap) % this.cap;
    const d4 = [0, 0, 0, 0];
    const d5 = [0, 0, 0, 0, 0];
    const b = this.buf;
    for (let i = 0; i < this.count; i++) {
      const o = ((start + i) % this.cap) * WORDS;
      const event = b[o + 2]!;
      const d = isSideEvent(event) ? d5 : d4;
      d[0] = b[o + 3]!;
      d[1] = b[o + 4]!;
      d[2] = b[o + 5]!;
      d[3] = b[o + 6]!;
      if (d === d5) d[4] = b[o + 7]!;
      fn(b[o]!, b[o + 1]!, event, d);
    }
  }

  /** The records still in the ring, oldest first. */
  records(): TraceRecord[] {
    const out: TraceRecord[] = new Array<TraceRecord>(this.count);
    const start = (this.head - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const o = ((start + i) % this.capacity) * WORDS;
      const b = this.buf;
      const event = b[o + 2]!;
      const data = [b[o + 3]!, b[o + 4]!, b[o + 5]!, b[o + 6]!];
      if (isSideEvent(event)) data.push(b[o + 7]!);
      out[i] = { time: b[o]!, pcpu: b[o + 1]!, event, data };
    }
    return out;
  }

  get dropped(): number {
    return this.written + this.sideWritten - this.count;
  }
  // Export (JSON lines, Chrome/Perfetto JSON) lives in sim/trace/export.ts.
}

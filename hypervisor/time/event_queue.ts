// The global queue of timed events (timers, deferred wake-ups). Ordered by virtual time,
// then by insertion sequence, so that equal-time events always fire in the same order:
// determinism does not depend on heap internals.

export interface TimedEvent {
  readonly time: number;
  readonly seq: number;
  readonly fire: () => void;
  /** Bookkeeping (scheduler ticks) rather than work a guest waits for. */
  readonly housekeeping: boolean;
  /** Fired or cancelled. */
  done: boolean;
}

export class EventQueue {
  private heap: TimedEvent[] = [];
  private seq = 0;
  private live = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Live events that are not housekeeping: something a guest is waiting for. */
  get pendingWork(): number {
    return this.live;
  }

  schedule(time: number, fire: () => void, housekeeping = false): TimedEvent {
    const ev: TimedEvent = { time, seq: this.seq++, fire, housekeeping, done: false };
    if (!housekeeping) this.live++;
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
    return ev;
  }

  /** Time of the earliest live event, or Infinity. */
  peekTime(): number {
    this.dropCancelled();
    return this.heap.length ? this.heap[0]!.time : Infinity;
  }

  /** Removes and returns the earliest live event. */
  pop(): TimedEvent | undefined {
    this.dropCancelled();
    const ev = this.take();
    if (ev) {
      if (!ev.housekeeping) this.live--;
      ev.done = true; // fired: a later cancel() is a no-op
    }
    return ev;
  }

  cancel(ev: TimedEvent | null | undefined): void {
    if (!ev || ev.done) return;
    ev.done = true;
    if (!ev.housekeeping) this.live--;
  }

  private dropCancelled(): void {
    while (this.heap.length && this.heap[0]!.done) this.take();
  }

  private take(): TimedEvent | undefined {
    const h = this.heap;
    if (!h.length) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

// Notifications of the control domain's ports, handed to dom0 as dispatches by the control
// service (hypervisor/control/service.ts), whether dom0 is in this process
// (sim/local_platform.ts) or its own (hypervisor/server/dom0_bridge.ts).
//
// A dispatch stops the whole machine until dom0 has served it, after a lookahead window of
// guest instructions (hypervisor/run/lookahead.ts; that is what keeps runs deterministic),
// so its cost is wall time that every domain pays. Two rules keep that cost
// on the domain that causes it:
//
//   coalescing  a port already waiting for its dispatch costs nothing more to notify (as a
//               pending bit does: dom0 sees one event however many sends came before it);
//   storms      a port notified STORM_NOTIFICATIONS or more times while its dispatch was
//               already waiting is being flooded (a frontend that notifies without waiting
//               for its backend does not need every notification served at once). Its next
//               dispatch waits twice as long as the last, up to MAX_BACKOFF_NS; a dispatch
//               without a storm behind it brings the port back to the normal latency.
//
// So a guest looping on EVTCHNOP_send to dom0 gets at most one dispatch per MAX_BACKOFF_NS
// of virtual time, whatever its rate, and pays for its sends in its own time (each is a
// hypercall on its own vCPU); a well-behaved frontend, which notifies once per batch and
// then waits for the backend, never sees a backoff. Everything is counted in virtual time:
// runs stay a function of their inputs.

import type { Hypervisor } from '../hypervisor.ts';

/** Notifications while a dispatch is waiting that make a port a storm. */
export const STORM_NOTIFICATIONS = 8;
/** The longest a storming port's dispatch is held back (virtual ns). */
export const MAX_BACKOFF_NS = 1_000_000;

interface PortState {
  scheduled: boolean;
  /** Notifications since the dispatch was scheduled. */
  redundant: number;
  /** Extra delay of the port's next dispatch (0 = normal latency). */
  backoffNs: number;
  /** Logged once the port first reached MAX_BACKOFF_NS. */
  reported: boolean;
}

export interface Dom0DispatchStats {
  /** Notifications of dom0's ports. */
  notifications: number;
  /** Dispatches they caused. */
  dispatches: number;
  /** Notifications folded into a dispatch already waiting. */
  coalesced: number;
  /** Dispatches held back because their port was storming. */
  backedOff: number;
}

export class Dom0PortDispatcher {
  readonly stats: Dom0DispatchStats = { notifications: 0, dispatches: 0, coalesced: 0, backedOff: 0 };
  private ports = new Map<number, PortState>();
  /**
   * Virtual time until which dom0's vCPU is busy with the work of its last dispatch: the
   * next dispatch starts no earlier, so dom0 contention shows in guests' I/O latency.
   */
  busyUntil = 0;

  /** `serve` resolves with the virtual ns of dom0's work for the dispatch (its cost; none: 0). */
  constructor(
    private readonly hv: Hypervisor,
    private readonly serve: (port: number) => Promise<number | void> | number | void,
  ) {}

  /** dom0's `port` was notified: serve it in a dispatch, unless one is already waiting. */
  notify(port: number): void {
    this.stats.notifications++;
    let st = this.ports.get(port);
    if (!st) {
      st = { scheduled: false, redundant: 0, backoffNs: 0, reported: false };
      this.ports.set(port, st);
    }
    if (st.scheduled) {
      st.redundant++;
      this.stats.coalesced++;
      return;
    }
    st.scheduled = true;
    if (st.backoffNs > 0) this.stats.backedOff++;
    const s = st;
    const fire = (): Promise<void> | void => {
      // dom0's vCPU is still busy with an earlier dispatch's work: this one waits for it,
      // at the front if it was already waiting (its turn came and was taken).
      if (this.hv.now() < this.busyUntil) {
        if (this.serving === fire) this.waiting.unshift(fire);
        else this.waiting.push(fire);
        this.serving = null;
        this.armWake();
        return;
      }
      this.serving = null;
      s.scheduled = false;
      this.stats.dispatches++;
      this.adapt(port, s);
      const at = this.hv.now();
      const done = (cost: number | void) => {
        this.busyUntil = Math.max(this.busyUntil, at + (cost ?? 0));
        this.armWake();
      };
      const r = this.serve(port);
      if (r instanceof Promise) return r.then(done);
      done(r);
    };
    this.hv.dispatch(fire, this.hv.costs.dom0DispatchNs + st.backoffNs, this.hv.lookaheadNs());
  }

  /**
   * Dispatches waiting for dom0's vCPU, in the order they found it busy. One wake-up at
   * `busyUntil` hands the first its turn; the others wait on without a dispatch each (one
   * each, at every wake-up, made 10,000 waiting guests cost dom0 10,000^2 round trips).
   */
  private waiting: Array<() => Promise<void> | void> = [];
  /** The waiting dispatch whose turn was handed out and has not run yet. */
  private serving: (() => Promise<void> | void) | null = null;
  private wakeAt = -1;

  private armWake(): void {
    if (this.waiting.length === 0 || this.serving !== null || this.wakeAt >= 0) return;
    const at = this.busyUntil;
    this.wakeAt = at;
    this.hv.events.schedule(at, () => {
      this.wakeAt = -1;
      if (this.serving !== null) return;
      const next = this.waiting.shift();
      if (next === undefined) return;
      this.serving = next;
      this.hv.dispatch(next, 0, this.hv.lookaheadNs());
    });
  }

  /** Forgets every port (dom0 went away; a new one binds its own). */
  reset(): void {
    this.ports = new Map();
    this.busyUntil = 0;
    this.waiting = [];
    this.serving = null;
  }

  /** Sets the port's next delay from what happened while this dispatch waited. */
  private adapt(port: number, st: PortState): void {
    if (st.redundant >= STORM_NOTIFICATIONS) {
      st.backoffNs = Math.min(MAX_BACKOFF_NS, Math.max(2 * st.backoffNs, this.hv.costs.dom0DispatchNs));
      if (st.backoffNs === MAX_BACKOFF_NS && !st.reported) {
        st.reported = true;
        const e = this.hv.domain(0)?.evtchn;
        const from = e && e.portIsValid(port) ? ` from d${e.remoteDomid[port]}` : '';
        this.hv.printk(`d0 port ${port}: notification storm${from} (${st.redundant} while one dispatch waited); its dispatches now wait up to ${MAX_BACKOFF_NS / 1e6} ms`);
      }
    } else {
      st.backoffNs = 0;
    }
    st.redundant = 0;
  }
}

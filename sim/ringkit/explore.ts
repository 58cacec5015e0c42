// Exploring the interleavings of a ring frontend and backend (issue 16, item 5): both ends
// are written as generators that yield before each access to the shared page or an event
// channel, so a scheduler decides which end takes its next access. Two searches:
//
//   randomWalks   seeded random schedules (many, fast);
//   exhaustive    every schedule up to a depth, stateless (each run replayed from the
//                 start), with sleep sets for partial-order reduction: two accesses that
//                 commute (different locations, or two reads) are not tried in both orders.
//
// Invariants, checked at every step: every request answered exactly once, no response for
// a request never made, no slot overwritten before it was consumed, no slot read before
// its producer index published it, and no lost wake-up (a side asleep, nothing left to
// wake it, with work pending). A failure carries its schedule ("FBBF..."), which
// `replay()` runs again; a random walk's failure is shrunk first.
//
// Memory is sequentially consistent here: each access is atomic and in program order,
// so the barriers' job (ordering) is modelled by the order of the steps, not their absence.

import { BackRing, FrontRing, SharedRing, needsNotify } from '../../protocol/ring.ts';
import { rng } from '../rng.ts';

/** A step: F the frontend's, B the backend's; f and b a spurious event to one of them (a fault). */
export type Side = 'F' | 'B' | 'f' | 'b';

/** The next access of a side: what it touches, so the search knows what commutes. */
export interface Access {
  loc: string;
  write: boolean;
  /** Enabled only while the side's event is pending (a sleep). */
  wait?: boolean;
}

export class Violation extends Error {
  override readonly name = 'Violation';
}

/** The world both ends act on: a small ring, two event channels, and what was seen. */
export class World {
  readonly page = new Uint8Array(64 + 4 * 8);
  readonly sring: SharedRing;
  readonly front: FrontRing;
  readonly back: BackRing;
  /** Event pending for each side (a notification not yet taken). */
  readonly pending = { F: false, B: false };
  /** Requests made, and answered (by id). */
  made = 0;
  readonly answered = new Set<number>();
  /** Response indices the backend has written (u32), for "read before it was written". */
  readonly rspWritten = new Set<number>();
  /** Notifications sent so far; `loseNotify` drops the one with that number (1-based). */
  private sent = 0;
  loseNotify = 0;

  /** EVTCHNOP_send to `to`: its event goes pending (a bit: two sends before a wake are one). */
  notify(to: 'F' | 'B'): void {
    if (++this.sent === this.loseNotify) return; // the injected fault: this one is lost
    this.pending[to] = true;
  }

  constructor(
    readonly requests: number,
    start: number,
    /** Requests the frontend produces at most before each push (several pushes per run). */
    readonly batch: number = 2,
  ) {
    this.sring = new SharedRing(this.page, 8); // 4 slots: wrap and full come quickly
    this.sring.init(start);
    this.front = new FrontRing(this.sring);
    this.back = new BackRing(this.sring);
  }

  slotId(idx: number): number {
    return new DataView(this.page.buffer).getUint32(this.sring.slot(idx), true);
  }
  setSlotId(idx: number, id: number): void {
    new DataView(this.page.buffer).setUint32(this.sring.slot(idx), id, true);
  }
}

export type EndProgram = (w: World) => Generator<Access, void, void>;

const u32 = (x: number) => x >>> 0;

/** A frontend that makes `w.requests` requests, at most the ring's size in flight. */
export function* frontend(w: World): Generator<Access, void, void> {
  const f = w.front;
  while (w.answered.size < w.requests) {
    // Produce what fits (private, then the slot writes).
    let produced = 0;
    while (produced < w.batch && w.made < w.requests && u32(f.reqProdPvt - f.rspCons) < f.size) {
      yield { loc: `slot${f.reqProdPvt & (f.size - 1)}`, write: true };
      if (u32(f.reqProdPvt - f.rspCons) >= f.size) throw new Violation(`front overwrote slot ${f.reqProdPvt} before its response was consumed`);
      w.setSlotId(f.reqProdPvt, w.made++);
      f.produced();
      produced++;
    }
    if (produced) {
      yield { loc: 'req_prod', write: true };
      const old = w.sring.reqProd;
      f.pushRequests();
      yield { loc: 'req_event', write: false };
      if (needsNotify(old, f.reqProdPvt, w.sring.reqEvent)) {
        yield { loc: 'evtB', write: true };
        w.notify('B');
      }
    }
    // Consume responses up to one snapshot.
    yield { loc: 'rsp_prod', write: false };
    const snap = f.snapshotResponses();
    if (snap.overflow) throw new Violation(`backend published rsp_prod ${snap.prod}: a response for a request never made`);
    for (let i = 0; i < snap.count; i++) {
      yield { loc: `slot${f.rspCons & (f.size - 1)}`, write: false };
      if (!w.rspWritten.has(f.rspCons)) throw new Violation(`front read response ${f.rspCons} after rsp_prod published it but before the backend wrote it`);
      const id = (w.slotId(f.rspCons) ^ 0x8000_0000) >>> 0;
      if (id >= w.made) throw new Violation(`response ${id} for a request never made (or read before it was written)`);
      if (w.answered.has(id)) throw new Violation(`request ${id} answered twice`);
      w.answered.add(id);
      f.consumed();
    }
    if (snap.count > 0 || produced > 0 || w.answered.size >= w.requests) continue;
    // Final check, then sleep.
    yield { loc: 'rsp_event', write: true };
    w.sring.rspEvent = f.rspCons + 1;
    yield { loc: 'rsp_prod', write: false };
    if (f.unconsumedResponses() > 0) continue;
    if (w.made < w.requests && u32(f.reqProdPvt - f.rspCons) < f.size) continue;
    yield { loc: 'evtF', write: true, wait: true };
    w.pending.F = false;
  }
}

/** The backend variants the kit ships: one correct, and three each with a classic bug. */
export const BACKEND_BUGS = ['none', 'no-final-check', 'no-recheck', 'publish-before-write'] as const;
export type BackendBug = (typeof BACKEND_BUGS)[number];

export function backend(bug: BackendBug = 'none'): EndProgram {
  return function* (w: World): Generator<Access, void, void> {
    const b = w.back;
    for (;;) {
      yield { loc: 'req_prod', write: false };
      const snap = b.snapshotRequests();
      if (snap.overflow) throw new Violation('frontend overflowed the ring');
      const taken: number[] = [];
      for (let i = 0; i < snap.count; i++) {
        yield { loc: `slot${b.reqCons & (b.size - 1)}`, write: false };
        if (u32(w.sring.reqProd - b.reqCons) === 0 || u32(w.sring.reqProd - b.reqCons) > b.size) throw new Violation(`back read slot ${b.reqCons} before req_prod published it`);
        taken.push(w.slotId(b.reqCons));
        b.consumed();
      }
      const oldRspProd = w.sring.rspProd;
      for (const id of taken) {
        const idx = b.rspProdPvt;
        if (bug === 'publish-before-write') {
          // The bug: rsp_prod moves past the slot before the response is in it.
          b.produced();
          yield { loc: 'rsp_prod', write: true };
          b.pushResponses();
          yield { loc: `slot${idx & (b.size - 1)}`, write: true };
          w.setSlotId(idx, id ^ 0x8000_0000);
          w.rspWritten.add(idx);
          continue;
        }
        yield { loc: `slot${idx & (b.size - 1)}`, write: true };
        if (u32(b.reqCons - idx) === 0) throw new Violation(`back overwrote slot ${idx} before consuming its request`);
        w.setSlotId(idx, id ^ 0x8000_0000);
        w.rspWritten.add(idx);
        b.produced();
      }
      if (taken.length) {
        yield { loc: 'rsp_prod', write: true };
        b.pushResponses();
        yield { loc: 'rsp_event', write: false };
        if (needsNotify(oldRspProd, b.rspProdPvt, w.sring.rspEvent)) {
          yield { loc: 'evtF', write: true };
          w.notify('F');
        }
        continue;
      }
      if (bug !== 'no-final-check') {
        yield { loc: 'req_event', write: true };
        w.sring.reqEvent = b.reqCons + 1;
        if (bug !== 'no-recheck') {
          yield { loc: 'req_prod', write: false };
          if (b.unconsumedRequests() > 0) continue;
        }
      }
      yield { loc: 'evtB', write: true, wait: true };
      w.pending.B = false;
    }
  };
}

export interface RunResult {
  ok: boolean;
  /** The schedule taken, one letter a step. */
  schedule: string;
  error?: string;
}

export interface ExploreOptions {
  requests?: number;
  /** Indices start here (near 2^32 to cross the wrap). */
  start?: number;
  bug?: BackendBug;
  /** Requests the frontend produces at most before each push. */
  batch?: number;
  /** Faults: spurious events the scheduler may deliver (to either side) in one run. */
  spurious?: number;
  /** Faults: the notification with this number (1-based) is lost. */
  loseNotify?: number;
  /** Steps at most in one run. */
  maxSteps?: number;
  /** Called after each run of a search with the runs so far (`pvsim ringtest explore`'s progress). */
  onRun?: (runs: number) => void;
}

/** One run under `choose`, which picks among the enabled sides (in F, B order). */
function runOnce(opts: ExploreOptions, choose: (enabled: Side[], step: number) => Side | null): RunResult & { enabledAt: Side[][]; accessAt: Map<Side, Access>[] } {
  const w = new World(opts.requests ?? 3, opts.start ?? 0xffff_fffe, opts.batch ?? 2);
  w.loseNotify = opts.loseNotify ?? 0;
  let spurious = opts.spurious ?? 0;
  const gens: Record<'F' | 'B', Generator<Access, void, void>> = { F: frontend(w), B: backend(opts.bug ?? 'none')(w) };
  const next: Partial<Record<'F' | 'B', Access>> = {};
  const done = { F: false, B: false };
  let schedule = '';
  const enabledAt: Side[][] = [];
  const accessAt: Map<Side, Access>[] = [];
  const advance = (s: 'F' | 'B') => {
    const r = gens[s].next();
    if (r.done) {
      done[s] = true;
      delete next[s];
    } else next[s] = r.value;
  };
  try {
    advance('F');
    advance('B');
    for (let step = 0; step < (opts.maxSteps ?? 400); step++) {
      const ends = (['F', 'B'] as const).filter((s) => !done[s] && next[s] && (!next[s]!.wait || w.pending[s]));
      const enabled: Side[] = [...ends, ...(spurious > 0 && !done.F ? (['f', 'b'] as const) : [])];
      enabledAt.push(enabled);
      const access = new Map<Side, Access>(ends.map((s): [Side, Access] => [s, next[s]!]));
      if (enabled.includes('f')) access.set('f', { loc: 'evtF', write: true });
      if (enabled.includes('b')) access.set('b', { loc: 'evtB', write: true });
      accessAt.push(access);
      if (done.F) return { ok: true, schedule, enabledAt, accessAt };
      if (ends.length === 0) {
        const why = [];
        if (w.back.unconsumedRequests() > 0) why.push(`the backend sleeps with ${w.back.unconsumedRequests()} request(s) pending`);
        if (w.front.unconsumedResponses() > 0) why.push(`the frontend sleeps with ${w.front.unconsumedResponses()} response(s) pending`);
        if (!why.length) why.push(`both sides sleep with ${w.requests - w.answered.size} request(s) unanswered`);
        throw new Violation(`lost wake-up: ${why.join('; ')}`);
      }
      const s = choose(enabled, step);
      if (s === null) return { ok: true, schedule, enabledAt, accessAt }; // the caller's bound
      schedule += s;
      if (s === 'f' || s === 'b') {
        spurious--;
        w.pending[s === 'f' ? 'F' : 'B'] = true; // an event nobody sent: both ends must take it in stride
      } else advance(s);
    }
    return { ok: true, schedule, enabledAt, accessAt };
  } catch (e) {
    if (e instanceof Violation) return { ok: false, schedule, error: e.message, enabledAt, accessAt };
    throw e;
  }
}

/** Runs `schedule` (letters F/B; a letter naming a side that cannot move is skipped). */
export function replay(schedule: string, opts: ExploreOptions = {}): RunResult {
  let i = 0;
  const r = runOnce(opts, (enabled) => {
    while (i < schedule.length && !enabled.includes(schedule[i] as Side)) i++;
    if (i < schedule.length) return schedule[i++] as Side;
    return enabled[0]!; // past the schedule: the first enabled side, to the end
  });
  return { ok: r.ok, schedule: r.schedule, error: r.error };
}

/**
 * A shorter schedule that still fails: drops one step at a time while the replay still
 * fails. Returns the shortened prefix (what `replay` takes); replaying it runs on to the
 * failure with the first enabled side taking each step past its end.
 */
export function shrink(schedule: string, opts: ExploreOptions): string {
  let best = schedule;
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = best.length - 1; i >= 0; i--) {
      const cand = best.slice(0, i) + best.slice(i + 1);
      if (!replay(cand, opts).ok) {
        best = cand;
        changed = true;
      }
    }
  }
  return best;
}

export interface SearchResult {
  runs: number;
  failure: (RunResult & { shrunk: string }) | null;
}

/** `runs` seeded random walks; the first failure, shrunk. */
export function randomWalks(seed: number, runs: number, opts: ExploreOptions = {}): SearchResult {
  const rand = rng(seed);
  for (let n = 1; n <= runs; n++) {
    const r = runOnce(opts, (enabled) => enabled[Math.floor(rand() * enabled.length)]!);
    opts.onRun?.(n);
    if (!r.ok) return { runs: n, failure: { ok: false, schedule: r.schedule, error: r.error, shrunk: shrink(r.schedule, opts) } };
  }
  return { runs, failure: null };
}

/** Whether two accesses commute: different locations, or both reads. */
function independent(a: Access, b: Access): boolean {
  return a.loc !== b.loc || (!a.write && !b.write);
}

/** A schedule still to run in the stateless DFS, with the sleep set it inherits. */
export interface SearchNode {
  prefix: string;
  sleep: Set<Side>;
}

/**
 * Pushes the children of `prefix` (one per enabled side not asleep) with their sleep sets:
 * a sibling explored before, whose access commutes with the child's, need not run again
 * under it (partial-order reduction; `reduction` false: none). Shared by both explorers.
 */
export function pushChildren(stack: SearchNode[], node: SearchNode, enabled: readonly Side[], access: ReadonlyMap<Side, Access>, reduction = true): void {
  const explored: Side[] = [];
  for (const s of enabled) {
    if (node.sleep.has(s)) continue;
    const a = access.get(s)!;
    const childSleep = reduction ? new Set<Side>([...node.sleep, ...explored].filter((o) => access.has(o) && independent(access.get(o)!, a))) : new Set<Side>();
    stack.push({ prefix: node.prefix + s, sleep: childSleep });
    explored.push(s);
  }
}

/**
 * Every schedule up to `depth` steps (stateless DFS, each run replayed from the start, with
 * sleep sets), stopping at the first failure, which is then shrunk. `complete` is true when
 * no schedule was cut off by the depth or the run budget: every interleaving was checked.
 */
export function exhaustive(depth: number, opts: ExploreOptions & { reduction?: boolean } = {}, maxRuns = 200_000): SearchResult & { complete: boolean } {
  let runs = 0;
  let cut = false;
  const stack: SearchNode[] = [{ prefix: '', sleep: new Set() }];
  while (stack.length) {
    if (runs >= maxRuns) return { runs, failure: null, complete: false };
    const { prefix, sleep } = stack.pop()!;
    runs++;
    const r = runOnce({ ...opts, maxSteps: prefix.length + 1 }, (_enabled, step) => (step < prefix.length ? (prefix[step] as Side) : null));
    opts.onRun?.(runs);
    if (!r.ok) return { runs, failure: { ok: false, schedule: r.schedule, error: r.error, shrunk: shrink(r.schedule, opts) }, complete: true };
    const enabled = r.enabledAt[prefix.length];
    const access = r.accessAt[prefix.length];
    if (r.schedule.length < prefix.length || !enabled || !access || enabled.length === 0) continue; // this run ended
    if (prefix.length >= depth) {
      cut = true;
      continue;
    }
    pushChildren(stack, { prefix, sleep }, enabled, access, opts.reduction !== false);
  }
  return { runs, failure: null, complete: !cut };
}

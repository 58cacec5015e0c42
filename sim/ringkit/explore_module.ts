// Exploring the interleavings of a user's backend module (pvsim/driver, with its exported
// RingProtocol) against the kit's model frontend (issue 16, item 5, for your own code):
// `pvsim ringtest explore --backend ./mybackend.ts`.
//
// The backend is the module itself, unchanged, on the bench (sim/ringkit/harness.ts): its
// ring page is mapped through a view that calls the scheduler before each of its accesses
// (HookedMemory), and its notifications pass the scheduler too. At each such point the
// scheduler picks which side takes the next step: the backend's access goes ahead, or the
// model frontend (a generator, as in explore.ts) takes one access of its own first — so
// the frontend's steps land between any two of the backend's, as on another CPU with
// sequentially consistent memory. While the backend is idle (its handler returned), the
// only backend step is the delivery of a pending event. A run is one JS call chain, so the
// searches replay every run from the start (stateless), as explore.ts does.
//
// Invariants, at every step: every request answered exactly once and (with `inOrder`) in
// order; no response for a request never made; the backend reads a request slot only after
// req_prod published it, and only once (a second read is a double fetch); it overwrites a
// slot only after reading its request; rsp_prod publishes only responses already written;
// no lost wake-up (both sides asleep, nothing pending, requests unanswered).

import { needsNotify } from '../../protocol/ring.ts';
import type { RingProtocol } from '../../dom0/driver/index.ts';
import { rng } from '../rng.ts';
import { Bench, HookedMemory, type BackendUnderTest, type RingAccess } from './harness.ts';
import { pushChildren, Violation, type Access, type RunResult, type SearchNode, type SearchResult, type Side } from './explore.ts';

export interface ModuleExploreOptions {
  /** Requests the model frontend makes (default 3). */
  requests?: number;
  /** Requests it produces at most before each push (default 2). */
  batch?: number;
  /** Faults: spurious events the scheduler may deliver (to either side) in one run. */
  spurious?: number;
  /** Faults: the notification with this number (1-based) is lost. */
  loseNotify?: number;
  /** Steps at most in one run (default 2000). */
  maxSteps?: number;
}

/** What a backend under exploration is: the module's backend and its protocol. */
export interface ModuleSubject {
  def: BackendUnderTest;
  proto: RingProtocol;
}

/** Thrown through the backend's code to end its part of a run (a violation, the bound). */
class Stop extends Error {
  override readonly name = 'Stop';
}

type SlotState = 'free' | 'req-written' | 'req-published' | 'req-read' | 'rsp-written' | 'rsp-published';

const u32 = (x: number) => x >>> 0;

/** The location an access of the backend's touches (what the search's reduction compares). */
function locOf(a: RingAccess, entryBytes: number): string {
  if (a.offset >= 64) return `slot${Math.floor((a.offset - 64) / entryBytes)}`;
  return ['req_prod', 'req_event', 'rsp_prod', 'rsp_event'][a.offset >> 2] ?? 'pad';
}

interface ModuleRun extends RunResult {
  enabledAt: Side[][];
  accessAt: Map<Side, Access>[];
}

/** One run under `choose` (it picks among the enabled sides; null: stop here, the bound). */
async function runOnce(subject: ModuleSubject, opts: ModuleExploreOptions, choose: (enabled: Side[], step: number) => Side | null): Promise<ModuleRun> {
  const { proto } = subject;
  const b = new Bench(subject.def, proto, { syncBoundMs: 2000, asyncBoundMs: 5000 });
  const f = b.front;
  const sring = b.sring;
  const size = f.size;
  const requests = opts.requests ?? 3;
  const batch = opts.batch ?? 2;
  const maxSteps = opts.maxSteps ?? 2000;
  let spurious = opts.spurious ?? 0;
  const state: SlotState[] = Array.from({ length: size }, () => 'free');
  const outstanding: number[] = [];
  let made = 0;
  let answered = 0;
  let sent = 0;
  const pending = { F: false, B: false };
  let schedule = '';
  const enabledAt: Side[][] = [];
  const accessAt: Map<Side, Access>[] = [];
  /** Why the run ended early: a violation, or null for the bound. */
  let stopped: { error: string | null } | null = null;
  let published = sring.rspProd; // what rsp_prod published so far (the backend's stores)

  const notify = (to: 'F' | 'B') => {
    if (++sent === opts.loseNotify) return; // the injected fault: this one is lost
    pending[to] = true;
  };

  function* frontend(): Generator<Access, void, void> {
    while (answered < requests) {
      let produced = 0;
      while (produced < batch && made < requests && u32(f.reqProdPvt - f.rspCons) < size) {
        const pos = f.reqProdPvt & (size - 1);
        yield { loc: `slot${pos}`, write: true };
        b.ringPage.set(proto.request(made, (p, ro) => b.platform.grant(p, ro)), f.nextRequest());
        state[pos] = 'req-written';
        outstanding.push(made++);
        f.produced();
        produced++;
      }
      if (produced) {
        yield { loc: 'req_prod', write: true };
        const old = sring.reqProd;
        f.pushRequests();
        for (let i = old; i !== f.reqProdPvt; i = u32(i + 1)) state[i & (size - 1)] = 'req-published';
        yield { loc: 'req_event', write: false };
        if (needsNotify(old, f.reqProdPvt, sring.reqEvent)) {
          yield { loc: 'evtB', write: true };
          notify('B');
        }
      }
      yield { loc: 'rsp_prod', write: false };
      const snap = f.snapshotResponses();
      if (snap.overflow) throw new Violation(`the backend published rsp_prod ${snap.prod}: more responses than requests (a response for a request never made)`);
      for (let i = 0; i < snap.count; i++) {
        const pos = f.rspCons & (size - 1);
        yield { loc: `slot${pos}`, write: false };
        const id = proto.responseId(f.copyResponse());
        const at = outstanding.indexOf(id);
        if (at < 0) throw new Violation(id < made ? `request ${id} answered twice` : `response ${id} for a request never made`);
        if (proto.inOrder && at > 0) throw new Violation(`request ${id} answered before ${outstanding[0]}: this protocol answers in request order`);
        outstanding.splice(at, 1);
        answered++;
        state[pos] = 'free';
        f.consumed();
      }
      if (snap.count > 0 || produced > 0 || answered >= requests) continue;
      // Final check, then sleep.
      yield { loc: 'rsp_event', write: true };
      sring.rspEvent = u32(f.rspCons + 1);
      yield { loc: 'rsp_prod', write: false };
      if (f.unconsumedResponses() > 0) continue;
      if (made < requests && u32(f.reqProdPvt - f.rspCons) < size) continue;
      yield { loc: 'evtF', write: true, wait: true };
      pending.F = false;
    }
  }

  const gen = frontend();
  let fNext: Access | null = null;
  let fDone = false;
  const advanceF = () => {
    const r = gen.next();
    if (r.done) {
      fDone = true;
      fNext = null;
    } else fNext = r.value;
  };
  const fEnabled = () => !fDone && fNext !== null && (!fNext.wait || pending.F);
  const fail = (error: string): never => {
    stopped ??= { error };
    throw new Stop(error);
  };

  /** A decision: records the enabled sides and their accesses, and asks `choose` ('none': nothing can move; null: the bound). */
  const decide = (backendAt: Access | null): Side | 'none' | null => {
    const enabled: Side[] = [];
    const access = new Map<Side, Access>();
    if (fEnabled()) {
      enabled.push('F');
      access.set('F', fNext!);
    }
    if (backendAt) {
      enabled.push('B');
      access.set('B', backendAt);
    }
    if (spurious > 0 && !fDone) {
      enabled.push('f', 'b');
      access.set('f', { loc: 'evtF', write: true });
      access.set('b', { loc: 'evtB', write: true });
    }
    if (enabled.length === 0) return 'none';
    enabledAt.push(enabled);
    accessAt.push(access);
    if (schedule.length >= maxSteps) return null;
    const s = choose(enabled, schedule.length);
    if (s === null) return null;
    schedule += s;
    return s;
  };
  /** Takes a step that is not the backend's own access. */
  const other = (s: Side) => {
    if (s === 'f' || s === 'b') {
      spurious--;
      pending[s === 'f' ? 'F' : 'B'] = true; // an event nobody sent
      return;
    }
    try {
      advanceF();
    } catch (e) {
      if (e instanceof Violation) fail(e.message);
      throw e;
    }
  };
  /** The backend is about to take `at`: steps of the frontend may come first. */
  const backendStep = (at: Access) => {
    if (stopped) throw new Stop('the run is over');
    if (fDone) return; // the frontend has all its answers: the backend runs free
    for (;;) {
      const s = decide(at);
      if (s === null || s === 'none') {
        stopped = { error: null };
        throw new Stop('the bound');
      }
      if (s === 'B') return;
      other(s);
      if (fDone) return;
    }
  };

  b.platform.ringMemory = (page) =>
    new HookedMemory(page, {
      before: (a) => {
        const loc = locOf(a, proto.entryBytes);
        backendStep({ loc, write: a.write });
        if (fDone) return;
        if (a.offset >= 64) {
          const pos = Math.floor((a.offset - 64) / proto.entryBytes);
          const st = state[pos]!;
          if (!a.write) {
            if (st === 'req-written' || st === 'free') fail(`the backend read slot ${pos} before req_prod published a request in it`);
            if (st === 'req-read') fail(`the backend read request slot ${pos} twice (a double fetch: the frontend may have rewritten it between the reads)`);
            if (st === 'req-published') state[pos] = 'req-read';
          } else {
            if (st === 'req-published') fail(`the backend overwrote slot ${pos} before reading its request`);
            if (st === 'req-written') fail(`the backend wrote slot ${pos}, where the frontend is writing a request`);
            state[pos] = 'rsp-written';
          }
        } else if (a.write && a.offset === 8) {
          const v = a.value ?? 0;
          if (u32(v - f.rspCons) > u32(f.reqProdPvt - f.rspCons)) fail(`the backend published rsp_prod ${v}: more responses than requests`);
          for (let i = published; i !== v && u32(v - i) <= size; i = u32(i + 1)) {
            const pos = i & (size - 1);
            if (state[pos] !== 'rsp-written') fail(`the backend published response ${i} (slot ${pos}) before writing it`);
            state[pos] = 'rsp-published';
          }
          published = v;
        }
      },
    });
  b.platform.onNotify = () => {
    backendStep({ loc: 'evtF', write: true });
    notify('F');
  };

  try {
    advanceF();
    b.features();
    await b.connect().catch((e: unknown) => {
      if (!(e instanceof Stop) && !stopped) fail(`the backend did not connect: ${e instanceof Error ? e.message : String(e)}`);
    });
    while (!stopped && !fDone) {
      if (b.failed && !stopped) fail(`the backend failed the device: ${b.failed}`);
      const s = decide(pending.B ? { loc: 'evtB', write: true, wait: true } : null);
      if (s === null) break; // the bound
      if (s === 'none') {
        const unanswered = requests - answered;
        fail(`lost wake-up: both sides asleep, nothing pending, ${unanswered} request(s) unanswered (req_prod ${sring.reqProd}, req_event ${sring.reqEvent}, rsp_prod ${sring.rspProd})`);
        break;
      }
      if (s === 'B') {
        pending.B = false;
        await b.kick();
      } else other(s);
    }
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
  }
  // (`stopped` is set inside closures, which the compiler's narrowing does not see.)
  const error = (stopped as { error: string | null } | null)?.error ?? undefined;
  return { ok: !error, schedule, error, enabledAt, accessAt };
}

/** Runs `schedule` again (a letter naming a side that cannot move is skipped; past its end, the first enabled side). */
export async function replayModule(subject: ModuleSubject, schedule: string, opts: ModuleExploreOptions = {}): Promise<RunResult> {
  let i = 0;
  const r = await runOnce(subject, opts, (enabled) => {
    while (i < schedule.length && !enabled.includes(schedule[i] as Side)) i++;
    if (i < schedule.length) return schedule[i++] as Side;
    return enabled[0]!;
  });
  return { ok: r.ok, schedule: r.schedule, error: r.error };
}

/** A shorter schedule that still fails (one step dropped at a time), within `budget` replays. */
export async function shrinkModule(subject: ModuleSubject, schedule: string, opts: ModuleExploreOptions, budget = 4000): Promise<string> {
  let best = schedule;
  let spent = 0;
  for (let changed = true; changed && spent < budget; ) {
    changed = false;
    for (let i = best.length - 1; i >= 0 && spent < budget; i--) {
      const cand = best.slice(0, i) + best.slice(i + 1);
      spent++;
      if (!(await replayModule(subject, cand, opts)).ok) {
        best = cand;
        changed = true;
      }
    }
  }
  return best;
}

/** `runs` seeded random walks; the first failure, shrunk. */
export async function randomWalksModule(subject: ModuleSubject, seed: number, runs: number, opts: ModuleExploreOptions = {}): Promise<SearchResult> {
  const rand = rng(seed);
  for (let n = 1; n <= runs; n++) {
    const r = await runOnce(subject, opts, (enabled) => enabled[Math.floor(rand() * enabled.length)]!);
    if (!r.ok) return { runs: n, failure: { ok: false, schedule: r.schedule, error: r.error, shrunk: await shrinkModule(subject, r.schedule, opts) } };
  }
  return { runs, failure: null };
}


/**
 * Every schedule up to `depth` steps (stateless DFS with sleep sets, as explore.ts's
 * `exhaustive`), stopping at the first failure, shrunk. `complete`: nothing was cut off by
 * the depth or `maxRuns`.
 */
export async function exhaustiveModule(subject: ModuleSubject, depth: number, opts: ModuleExploreOptions = {}, maxRuns = 5000): Promise<SearchResult & { complete: boolean }> {
  let runs = 0;
  let cut = false;
  const stack: SearchNode[] = [{ prefix: '', sleep: new Set() }];
  while (stack.length) {
    if (runs >= maxRuns) return { runs, failure: null, complete: false };
    const { prefix, sleep } = stack.pop()!;
    runs++;
    const r = await runOnce(subject, { ...opts, maxSteps: prefix.length + 1 }, (_enabled, step) => (step < prefix.length ? (prefix[step] as Side) : null));
    if (!r.ok) return { runs, failure: { ok: false, schedule: r.schedule, error: r.error, shrunk: await shrinkModule(subject, r.schedule, opts) }, complete: true };
    const enabled = r.enabledAt[prefix.length];
    const access = r.accessAt[prefix.length];
    if (r.schedule.length < prefix.length || !enabled || !access || enabled.length === 0) continue;
    if (prefix.length >= depth) {
      cut = true;
      continue;
    }
    pushChildren(stack, { prefix, sleep }, enabled, access);
  }
  return { runs, failure: null, complete: !cut };
}

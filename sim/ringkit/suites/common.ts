// What every protocol conformance suite shares: a named case, how a run is judged, and the
// result row `pvsim ringtest <suite>` prints (with the command that runs one case again).

export interface ConformanceCase<C> {
  readonly name: string;
  /**
   * Hostile input: the subject giving up (failing the device, dropping the connection,
   * setting the ring's error) is a right answer, as long as nothing escapes and nothing is
   * left held.
   */
  readonly hostile?: boolean;
  /** Resolves with a note for the table (what happened), or nothing. */
  run(ctx: C): Promise<void | string>;
}

export interface ConformanceResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

/** One fresh subject for one case. */
export interface Opened<C> {
  ctx: C;
  /** Why the subject gave up (its device failed, its connection was dropped), or null. */
  gaveUp(): string | null;
  /** Lets go of the subject; a string says what it left behind (a leak is a failure). */
  close(): Promise<string | null>;
}

export function expectThat(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Lets queued promise jobs and immediates run (a bounded number of event-loop turns). */
export async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
}

/**
 * Runs `cases` (or the one named `only`), each on a fresh subject. A case passes when its
 * checks hold and the subject leaves nothing behind; a hostile case also passes when the
 * subject gave up on it. A case that takes longer than `timeoutMs` fails (a promise that
 * never settles); a subject spinning synchronously is not interrupted.
 */
/** How long one case may take (wall time) before it is failed as hung. */
export const CASE_TIMEOUT_MS = 20_000;

/** `p`, or a rejection once `ms` have passed (a subject that never answers fails its case, not the run). */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
    timer.unref?.();
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

export async function runConformance<C>(cases: readonly ConformanceCase<C>[], open: () => Promise<Opened<C>>, only?: string, timeoutMs = CASE_TIMEOUT_MS): Promise<ConformanceResult[]> {
  const out: ConformanceResult[] = [];
  for (const c of cases) {
    if (only !== undefined && c.name !== only) continue;
    const t0 = Date.now();
    let ok = true;
    let detail = 'ok';
    let s: Opened<C> | null = null;
    try {
      s = await bounded(open(), timeoutMs, 'setting up the subject');
      const opened = s;
      const note = await bounded(c.run(opened.ctx), timeoutMs, 'the case');
      if (typeof note === 'string') detail = note;
      const why = s.gaveUp();
      if (why) {
        if (!c.hostile) throw new Error(`gave up: ${why}`);
        detail = `gave up: ${why}`;
      }
    } catch (e) {
      const why = s?.gaveUp();
      if (c.hostile && why) detail = `gave up: ${why}`;
      else {
        ok = false;
        detail = e instanceof Error ? e.message : String(e);
      }
    }
    if (s) {
      try {
        const left = await bounded(s.close(), timeoutMs, 'closing the subject');
        if (left) {
          ok = false;
          detail = left;
        }
      } catch (e) {
        ok = false;
        detail = `close: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    out.push({ name: c.name, ok, detail, ms: Date.now() - t0 });
  }
  return out;
}

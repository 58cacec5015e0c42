// Virtual durations as users write them: "10s", "250ms", "100us", "5000ns", or a number of ns.

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9 };

export function parseDuration(v: string | number): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`duration must be a non-negative number of ns, got ${v}`);
    return Math.round(v);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m)\s*$/.exec(v);
  if (!m) throw new RangeError(`"${v}" is not a duration (use e.g. 10s, 250ms, 100us, 5000ns)`);
  const ns = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  // 400 digits are Infinity: an `until` or `at` that never comes (a run that never ends).
  if (!Number.isFinite(ns)) throw new RangeError(`"${v.length > 40 ? `${v.slice(0, 40)}...` : v}" is too long a duration`);
  return ns;
}

export function formatDuration(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(3)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(3)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(3)} us`;
  return `${ns} ns`;
}

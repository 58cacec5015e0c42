// A log that a flood cannot flood, as Linux's printk_ratelimit: at most `burst` lines per
// `intervalMs`; the rest are counted, and the next line let through says how many were
// suppressed. A guest that makes every request fail costs one counter increment per
// request, not a line.

export class RateLimitedLog {
  private windowStart = -Infinity;
  private printed = 0;
  private suppressed = 0;

  constructor(
    private readonly out: (line: string) => void,
    private readonly burst = 10,
    private readonly intervalMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `line` unless this window's burst is spent. */
  log(line: string): void {
    const t = this.now();
    if (t - this.windowStart >= this.intervalMs) {
      this.windowStart = t;
      this.printed = 0;
    }
    if (this.printed >= this.burst) {
      this.suppressed++;
      return;
    }
    this.printed++;
    if (this.suppressed > 0) {
      this.out(`${this.suppressed} similar messages suppressed`);
      this.suppressed = 0;
    }
    this.out(line);
  }
}

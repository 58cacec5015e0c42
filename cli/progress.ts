// Progress of long commands (run, sweep, compare, ringtest, run-native, demo) on stderr,
// one way for all: shown when stderr is a terminal and not otherwise, `--progress` or
// `--no-progress` to force either. On a terminal it is one status line redrawn in place
// (and cleared at the end, so what the command prints stays clean); forced off a
// terminal (a log file, CI), plain lines, at most one a second. Never on stdout.

/** What progress writes to: process.stderr, or a test's fake. */
export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export interface ProgressOptions {
  /** The command, e.g. "pvsim sweep": each line off a terminal starts with it. */
  prefix: string;
  /** --progress (true) or --no-progress (false); undefined: when the stream is a terminal. */
  flag?: boolean;
  stream?: ProgressStream;
  /** Least wall time between two updates drawn, ms (default 100 on a terminal, 1000 off one). */
  everyMs?: number;
  now?: () => number;
}

/** Whether progress shows: as forced, else when the stream (stderr) is a terminal. */
export function progressWanted(flag: boolean | undefined, stream: ProgressStream = process.stderr): boolean {
  return flag ?? stream.isTTY === true;
}

export class Progress {
  readonly enabled: boolean;
  private readonly tty: boolean;
  private readonly stream: ProgressStream;
  private readonly everyMs: number;
  private readonly now: () => number;
  private shown = false;
  private last = -Infinity;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
    this.enabled = progressWanted(o.flag, this.stream);
    this.tty = this.stream.isTTY === true;
    this.everyMs = o.everyMs ?? (this.tty ? 100 : 1000);
    this.now = o.now ?? (() => Date.now());
  }

  /**
   * The current state, e.g. "[3/12] running: ...". Drawn unless the last one was drawn less
   * than everyMs ago (`force` draws anyway: a final state).
   */
  update(text: string, force = false): void {
    if (!this.enabled) return;
    const t = this.now();
    if (!force && t - this.last < this.everyMs) return;
    this.last = t;
    if (this.tty) {
      const cols = this.stream.columns || 80;
      this.stream.write(`\r\x1b[K${text.slice(0, cols - 1)}`);
      this.shown = true;
    } else this.stream.write(`${this.o.prefix}: ${text}\n`);
  }

  /** Redraws `text()` every `ms` until done() (work that reports nothing while it runs, but yields). */
  every(ms: number, text: () => string): void {
    if (!this.enabled) return;
    this.update(text(), true);
    this.timer = setInterval(() => this.update(text(), true), ms);
    this.timer.unref();
  }

  /**
   * Other output for stderr while progress runs (a console line, a child's message): the
   * status line is cleared first so the two do not share a line; the next update redraws it.
   */
  write(s: string): void {
    this.clear();
    this.stream.write(s);
  }

  /** Takes the status line away until the next update (before writing to stdout on the same terminal). */
  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  /** Clears the status line (a terminal); stops every(). */
  done(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.clear();
  }
}

/** A bar of `width` cells, `done` of `total` filled: [#####.....]. */
export function progressBar(done: number, total: number, width: number): string {
  const fill = Math.max(0, Math.min(width, Math.round((width * done) / Math.max(1, total))));
  return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}]`;
}

/** Seconds since `t0` (performance.now() or Date.now() ms), whole. */
export const elapsed = (t0: number, now = Date.now()) => `${Math.max(0, Math.round((now - t0) / 1000))} s`;

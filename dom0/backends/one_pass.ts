// Backends serve a ring in passes that await grant operations. An event that arrives
// while a pass is awaiting must not start a second pass, which would take the same
// unconsumed request again (a frontend's spurious events could then make dom0 spin); it
// asks for one more pass after the current one instead.

export class OnePassAtATime {
  private running = false;
  private again = false;
  /** The passes under way, if any (what `idle` waits for). */
  private current: Promise<void> | null = null;

  constructor(
    private readonly pass: () => Promise<void>,
    /** Whether another pass may still do anything (false once the ring is halted or closed). */
    private readonly live: () => boolean = () => true,
  ) {}

  /** Runs passes until none was asked for during the last; returns at once if one is running. */
  run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return Promise.resolve();
    }
    this.running = true;
    const passes = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && this.live());
      } finally {
        this.running = false;
        this.current = null;
      }
    })();
    this.current = passes;
    return passes;
  }

  /** Resolves once no pass is under way (whatever the passes' outcome). */
  async idle(): Promise<void> {
    await this.current?.catch(() => {});
  }
}

// Backends serve a ring in passes that await grant operations. An event that arrives
// while a pass is awaiting must not start a second pass, which would take the same
// unconsumed request again (a frontend's spurious events could then make dom0 spin); it
// asks for one more pass after the current one instead.

export class OnePassAtATime {
  private running = false;
  private again = false;

  constructor(
    private readonly pass: () => Promise<void>,
    /** Whether another pass may still do anything (false once the ring is halted or closed). */
    private readonly live: () => boolean = () => true,
  ) {}

  /** Runs passes until none was asked for during the last; returns at once if one is running. */
  async run(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && this.live());
    } finally {
      this.running = false;
    }
  }
}

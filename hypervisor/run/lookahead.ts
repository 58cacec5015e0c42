// dom0's lookahead window: the machine runs on while dom0 serves a port dispatch (design
// sec. 3), and what keeps that correct and the same in both of dom0's homes.
//
// A port dispatch issued at virtual time T costs dom0 at least L = dom0PassNs, and its
// event sends take effect at T + its cost (control/service.ts), so guests may run on to
// T + L while dom0 works. The window holds guest instructions only: an exit (hypercall,
// WFI, SBI call, fault), a timed event or the window's end stops a pCPU, and a guest store
// to a frame dom0 has mapped (its rings; watched during the window, ControlService.armWindow)
// ends the window for all pCPUs: that store lands,
// its pre-image is kept, and the machine waits (a pCPU running on could load what it wrote). When the window has run (always to its end, in the same
// run() call that issued the dispatch, so its extent never depends on when dom0 answers),
// the kept stores are rolled back: dom0 then reads every page it maps as of T, whichever
// process it runs in. dom0's requests are served after the window in both homes (they can
// only arrive once run() has returned), its stores and copies land as today, and when the
// dispatch is answered the rolled-back guest stores are put back, over dom0's. The machine
// then goes on: the stopped pCPUs first serve their exits.
//
// So a dispatch with lookahead is equivalent to this serial order, which is sequentially
// consistent: the window's instructions up to (not including) the store to a mapped frame
// that ended it; dom0's whole dispatch; that store; the rest. That is what keeps the ring
// protocol's final checks (RING_FINAL_CHECK_FOR_REQUESTS, and a frontend's rsp_event check)
// free of lost wake-ups: a frontend that publishes a request in the window reads req_event
// only after dom0's stores of the dispatch have landed, so it sees the backend's new
// req_event and notifies (tests/lookahead.test.ts).

/** A guest store in the window to a frame dom0 maps: the bytes it overwrote, and then its own. */
interface KeptStore {
  readonly pfn: number;
  readonly frame: Uint8Array;
  readonly off: number;
  readonly before: Uint8Array;
  after: Uint8Array | null;
}

export class StoreRollback {
  private kept: KeptStore[] = [];

  get size(): number {
    return this.kept.length;
  }

  /** Keeps [off, off+len) of `frame` before a store changes it. */
  keep(pfn: number, frame: Uint8Array, off: number, len: number): void {
    this.kept.push({ pfn, frame, off, before: frame.slice(off, off + len), after: null });
  }

  /** Puts the pre-images back (latest first), remembering what the guest stored. */
  rollBack(): void {
    for (let i = this.kept.length - 1; i >= 0; i--) {
      const k = this.kept[i]!;
      k.after = k.frame.slice(k.off, k.off + k.before.length);
      k.frame.set(k.before, k.off);
    }
  }

  /**
   * Stores the guest's bytes again, in their order, into frames still at their place
   * (`frames[pfn]`: a frame freed meanwhile is left alone). Clears the log.
   */
  replay(frames: ReadonlyArray<Uint8Array | null>): void {
    for (const k of this.kept) if (k.after !== null && frames[k.pfn] === k.frame) k.frame.set(k.after, k.off);
    this.kept = [];
  }
}

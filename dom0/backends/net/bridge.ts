// A learning Ethernet bridge, as Linux's bridge (xenbr0) joins the vifs in a Xen dom0.
// Each port is one vif. A frame's source MAC is learned against the port it came in on;
// a frame for a group address (I/G bit set: broadcast, multicast) or for a MAC not yet
// learned goes to every other port (flooding); a frame for a learned MAC goes to that port
// only, and never back out of the port it came in on. A port's entries go with the port,
// and age out after AGEING_NS without a frame from them (Linux's ageing_time, 300 s). A
// port learns at most MAX_LEARNED_PER_PORT addresses, so a guest sending from random
// source MACs cannot grow dom0's table without bound (its further frames still flow, and
// frames for addresses not learned are flooded).

/** One port of a bridge: where frames for it are handed. */
export interface BridgePort {
  /** For logs and errors, e.g. `vif3.0`. */
  readonly name: string;
  /** Takes a frame for the guest behind this port (queues it; must not throw). */
  deliver(frame: Uint8Array, validated?: boolean): void | Promise<void>;
}

/** Sees every frame that crosses the bridge (pcap capture), once, as it enters. */
export type BridgeTap = (frame: Uint8Array, from: BridgePort) => void;

/** Linux bridge's default ageing_time. */
export const AGEING_NS = 300e9;
/** Addresses one port may have learned at a time. */
export const MAX_LEARNED_PER_PORT = 256;

export const ETH_HLEN = 14;
export const ETH_ALEN = 6;

/** "aa:bb:cc:dd:ee:ff" of the six bytes at `off`. */
export function macString(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < ETH_ALEN; i++) s += (i ? ':' : '') + (b[off + i] ?? 0).toString(16).padStart(2, '0');
  return s;
}

/** The I/G bit: the first octet's least significant bit marks group (multicast, broadcast) addresses. */
export function isGroupMac(b: Uint8Array, off = 0): boolean {
  return ((b[off] ?? 0) & 1) !== 0;
}

export interface BridgeStats {
  /** Frames that entered the bridge. */
  frames: number;
  /** Frames sent to every other port (group or unknown destination). */
  flooded: number;
  /** Frames sent to one learned port. */
  forwarded: number;
  /** Frames whose destination was learned on their own port (not sent back). */
  filtered: number;
}

export class Bridge {
  private readonly ports = new Set<BridgePort>();
  /** Forwarding database: MAC string -> port, and when a frame last came from it (virtual ns). */
  private readonly fdb = new Map<string, { port: BridgePort; seen: number }>();
  private readonly learned = new Map<BridgePort, number>();
  readonly stats: BridgeStats = { frames: 0, flooded: 0, forwarded: 0, filtered: 0 };
  tap: BridgeTap | null = null;

  constructor(
    readonly name: string,
    /** Virtual time, ns (entries age by it). */
    private readonly now: () => number = () => 0,
  ) {}

  attach(port: BridgePort): void {
    this.ports.add(port);
  }

  /** Takes a port off the bridge and forgets every MAC learned on it. */
  detach(port: BridgePort): void {
    this.ports.delete(port);
    for (const [mac, e] of this.fdb) if (e.port === port) this.fdb.delete(mac);
    this.learned.delete(port);
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** The port a MAC was learned on, if any (and not aged out). */
  lookup(mac: string): BridgePort | undefined {
    const e = this.fdb.get(mac);
    if (!e) return undefined;
    if (this.now() - e.seen > AGEING_NS) {
      this.forget(mac, e.port);
      return undefined;
    }
    return e.port;
  }

  private forget(mac: string, port: BridgePort): void {
    this.fdb.delete(mac);
    this.learned.set(port, (this.learned.get(port) ?? 1) - 1);
  }

  /** Learns (or refreshes) `mac` on `port`, within the port's allowance. */
  private learn(mac: string, port: BridgePort): void {
    const e = this.fdb.get(mac);
    if (e && e.port === port) {
      e.seen = this.now();
      return;
    }
    if ((this.learned.get(port) ?? 0) >= MAX_LEARNED_PER_PORT) {
      // Full: make room only from this port's own aged entries.
      const t = this.now();
      for (const [m, x] of this.fdb) if (x.port === port && t - x.seen > AGEING_NS) this.forget(m, port);
      if ((this.learned.get(port) ?? 0) >= MAX_LEARNED_PER_PORT) return;
    }
    if (e) this.forget(mac, e.port); // the address moved
    this.fdb.set(mac, { port, seen: this.now() });
    this.learned.set(port, (this.learned.get(port) ?? 0) + 1);
  }

  /** The forwarding database, MAC -> port name (sorted by MAC), for tools and tests. */
  table(): [string, string][] {
    return [...this.fdb].map(([m, e]) => [m, e.port.name] as [string, string]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /**
   * A frame from `from` (at least ETH_HLEN bytes): learn its source, then hand it to the
   * ports it is for. Resolves when every receiving port has taken it.
   */
  async forward(from: BridgePort, frame: Uint8Array, validated = false): Promise<void> {
    if (frame.length < ETH_HLEN || !this.ports.has(from)) return;
    this.stats.frames++;
    try {
      this.tap?.(frame, from);
    } catch {
      // a capture that fails must not stop the traffic
    }
    // A group source address is bogus (802.1D): not learned.
    if (!isGroupMac(frame, ETH_ALEN)) this.learn(macString(frame, ETH_ALEN), from);
    let targets: BridgePort[];
    const known = isGroupMac(frame, 0) ? undefined : this.lookup(macString(frame, 0));
    if (known === undefined) {
      targets = [...this.ports].filter((p) => p !== from);
      this.stats.flooded++;
    } else if (known === from) {
      this.stats.filtered++;
      return;
    } else {
      targets = [known];
      this.stats.forwarded++;
    }
    for (const p of targets) {
      try {
        await p.deliver(targets.length > 1 ? frame.slice() : frame, validated);
      } catch {
        // a receiving port's trouble is its own; the others still get the frame
      }
    }
  }
}

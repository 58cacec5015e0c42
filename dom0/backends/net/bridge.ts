// A learning Ethernet bridge, as Linux's bridge (xenbr0) joins the vifs in a Xen dom0.
// Each port is one vif. A frame's source MAC is learned against the port it came in on;
// a frame for a group address (I/G bit set: broadcast, multicast) or for a MAC not yet
// learned goes to every other port (flooding); a frame for a learned MAC goes to that port
// only, and never back out of the port it came in on. A port's entries go with the port.
// There is no ageing: entries stay until the port leaves or the MAC shows up elsewhere.

/** One port of a bridge: where frames for it are handed. */
export interface BridgePort {
  /** For logs and errors, e.g. `vif3.0`. */
  readonly name: string;
  /** Takes a frame for the guest behind this port (queues it; must not throw). */
  deliver(frame: Uint8Array, validated?: boolean): void | Promise<void>;
}

/** Sees every frame that crosses the bridge (pcap capture), once, as it enters. */
export type BridgeTap = (frame: Uint8Array, from: BridgePort) => void;

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
  /** Forwarding database: MAC string -> port. */
  private readonly fdb = new Map<string, BridgePort>();
  readonly stats: BridgeStats = { frames: 0, flooded: 0, forwarded: 0, filtered: 0 };
  tap: BridgeTap | null = null;

  constructor(readonly name: string) {}

  attach(port: BridgePort): void {
    this.ports.add(port);
  }

  /** Takes a port off the bridge and forgets every MAC learned on it. */
  detach(port: BridgePort): void {
    this.ports.delete(port);
    for (const [mac, p] of this.fdb) if (p === port) this.fdb.delete(mac);
  }

  get portCount(): number {
    return this.ports.size;
  }

  /** The port a MAC was learned on, if any. */
  lookup(mac: string): BridgePort | undefined {
    return this.fdb.get(mac);
  }

  /** The forwarding database, MAC -> port name (sorted by MAC), for tools and tests. */
  table(): [string, string][] {
    return [...this.fdb].map(([m, p]) => [m, p.name] as [string, string]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
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
    if (!isGroupMac(frame, ETH_ALEN)) this.fdb.set(macString(frame, ETH_ALEN), from);
    let targets: BridgePort[];
    const known = isGroupMac(frame, 0) ? undefined : this.fdb.get(macString(frame, 0));
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

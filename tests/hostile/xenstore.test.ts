// Hostile-input suite, XenStore and consoles (issue 9, items 9 and 11): domains destroyed
// while dom0 sets them up, clients that pipeline without reading, a store that must
// survive a kill at any point, and console input nobody reads.

import { describe, expect, it } from 'vitest';
import { Dom0Daemons } from '../../dom0/daemons.ts';
import type { Dom0Platform, MappedPage } from '../../dom0/platform.ts';
import { XsClient } from '../../dom0/xenstore/index.ts';

/** A hypervisor stand-in whose every answer takes a random number of event-loop turns. */
class SlowPlatform implements Dom0Platform {
  readonly alive = new Set<number>();
  readonly openPorts = new Set<number>();
  mappedPages = 0;
  private nextPort = 1;
  private seed = 12345;

  /** Deterministic pseudo-random 0..n-1. */
  rand(n: number): number {
    this.seed = (this.seed * 1103515245 + 12345) >>> 0;
    return (this.seed >>> 16) % n;
  }

  async turns(n = this.rand(4)): Promise<void> {
    for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
  }

  // The hypervisor serves the request at once; its answer reaches dom0 some turns later.
  async mapForeign(domid: number): Promise<MappedPage> {
    if (!this.alive.has(domid)) throw new Error(`no domain ${domid}`);
    this.mappedPages++;
    await this.turns();
    let mapped = true;
    return {
      bytes: new Uint8Array(4096),
      dirty: () => {},
      unmap: () => {
        if (mapped) this.mappedPages--;
        mapped = false;
      },
    };
  }

  async bindInterdomain(domid: number): Promise<number> {
    if (!this.alive.has(domid)) throw new Error(`no domain ${domid}`);
    const port = this.nextPort++;
    this.openPorts.add(port);
    await this.turns();
    return port;
  }

  onEvent(): void {}
  notify(): void {}
  closePort(port: number): void {
    this.openPorts.delete(port);
  }
  async mapGrant(): Promise<{ status: number; handle: number; page: MappedPage | null }> {
    return { status: -1, handle: 0, page: null };
  }
  async unmapGrant(): Promise<number> {
    return 0;
  }
  async copyToGrant(): Promise<number> {
    return -1;
  }
  async copyFromGrant(): Promise<{ status: number; data: Uint8Array }> {
    return { status: -1, data: new Uint8Array(0) };
  }
  now(): number {
    return 0;
  }
}

describe('XenStore: domains destroyed while dom0 sets them up', () => {
  it('600 concurrent create/destroy cycles leave no domain introduced, no layout, no port or page, and fire @releaseDomain for each introduced one', async () => {
    const platform = new SlowPlatform();
    const d = new Dom0Daemons(platform, { blockBackend: false, netBackend: false });
    const xs = new XsClient(d.xenstored, { domid: 0, label: 'test' });
    let introduced = 0;
    let released = 0;
    await xs.watch('@introduceDomain', 'i', () => introduced++);
    await xs.watch('@releaseDomain', 'r', () => released++);
    introduced = released = 0; // the watches' initial events

    const cycles: Promise<void>[] = [];
    for (let domid = 1; domid <= 600; domid++) {
      // As the hypervisor does: the domain exists, dom0 is told; some time later (any
      // point of dom0's set-up) it is destroyed and dom0 is told of that.
      platform.alive.add(domid);
      const created = d
        .domainCreated({ domid, name: `g${domid}`, memoryKb: 4096, vcpus: 1, storeMfn: 100 + domid, storePort: 1, consoleMfn: 200 + domid, consolePort: 2 })
        .catch(() => {}); // the hypervisor refused a mapping: the domain is gone
      cycles.push(
        (async () => {
          await platform.turns(platform.rand(10));
          platform.alive.delete(domid);
          await d.domainDestroyed(domid);
          await created;
        })(),
      );
    }
    await Promise.all(cycles);
    await platform.turns(5);

    const left = [];
    for (let domid = 1; domid <= 600; domid++) if (d.xenstored.isIntroduced(domid)) left.push(domid);
    expect(left).toEqual([]);
    expect(d.xenstored.store.node('/local/domain')?.children.filter((c) => c !== '0') ?? []).toEqual([]);
    expect(d.consoles.size).toBe(0);
    expect(platform.openPorts.size).toBe(0);
    expect(platform.mappedPages).toBe(0);
    // Only the test's own connection is left: every ring connection (and its watches) went.
    expect(d.xenstored.connections.map((c) => c.label)).toEqual(['test']);
    expect(introduced).toBeGreaterThan(0);
    expect(released).toBe(introduced);
    xs.close();
    d.close();
  });
});

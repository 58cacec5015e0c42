// dom0's platform for backend tests, in either of its homes: in the hypervisor's process
// (LocalPlatform), or across a real WebSocket to a HypervisorServer as `pvsim up` runs them
// (RemotePlatform, with its page mirroring). Tests that play a frontend by writing guest
// pages from JavaScript report those stores with `stored`, as the guest's own store
// instructions would be reported, and `flush` pushes dom0's writes back.

import type { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { LocalPlatform } from '../../sim/local_platform.ts';
import { RemotePlatform } from '../../dom0/remote_platform.ts';
import type { Dom0Platform } from '../../dom0/platform.ts';
import { connect } from '../../protocol/session.ts';
import type { CostModel } from '../../hypervisor/time/cost_model.ts';

export type PlatformKind = 'local' | 'remote';

export interface TestPlatform {
  hv: Hypervisor;
  platform: Dom0Platform;
  /** The test wrote [off, off+len) of frame `mfn` as the guest: tell dom0's mirror. */
  stored(mfn: number, off?: number, len?: number): void;
  /** dom0's pending page writes reach the guest (a no-op in-process). */
  flush(): Promise<void>;
}

/** The machine's size: memory in MiB (default 128), pCPUs, cost-model overrides. */
export interface TestMachine {
  memMiB?: number;
  pcpus?: number;
  costs?: Partial<CostModel>;
}

/** `closers` gets what must be shut after the test (the server, the connection). */
export async function machineAndPlatform(kind: PlatformKind, closers: (() => Promise<void> | void)[], m: TestMachine = {}): Promise<TestPlatform> {
  const server = new HypervisorServer({ token: 'test-token', manual: true, machineMemoryBytes: (m.memMiB ?? 128) * 1024 * 1024, ...(m.pcpus ? { pcpus: m.pcpus } : {}), ...(m.costs ? { costs: m.costs } : {}) });
  const hv = server.hv;
  const stored = (mfn: number, off = 0, len = 4096) => hv.mem.onStore?.(mfn * 4096 + off, len);
  if (kind === 'local') return { hv, platform: new LocalPlatform(hv), stored, flush: async () => {} };
  const h = await server.start();
  let platform: RemotePlatform | null = null;
  const { peer } = await connect(h.url, 'dom0', 'test-token', async (req) => {
    if (!req.dom0Event || !platform) return { rc: -38, error: 'not served here' };
    await platform.event(req.dom0Event);
    return { rc: 0 };
  });
  platform = new RemotePlatform(peer);
  await server.waitForDom0();
  closers.push(h.close, () => peer.close());
  const p = platform;
  return { hv, platform: p, stored, flush: () => p.flush() };
}

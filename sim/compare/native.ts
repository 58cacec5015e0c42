// The native board (sim/native/machine.ts, `runNative`): the unmodified kernel with no
// hypervisor, the baseline of every slowdown. It is imported when first needed, so the
// comparison builds and runs before that module exists; without it a native cell says
// "not available". Once it is on main this can become a static import.

import type { DomainPerfSnapshot } from '../../hypervisor/domain/perf.ts';
import type { CostModel } from '../../hypervisor/time/cost_model.ts';

export interface NativeRunOptions {
  kernel: Uint8Array;
  firmware?: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  disks?: { path: string; devtype: 'virtio' | 'legacy' }[];
  costs?: Partial<CostModel>;
  maxVirtualNs?: number;
  maxInstructions?: number;
  onConsole?: (text: string) => void;
}

export interface NativeRunResult {
  exit: unknown;
  console: string[];
  virtualNs: number;
  perf: DomainPerfSnapshot;
}

export type RunNative = (opts: NativeRunOptions) => Promise<NativeRunResult>;

export class NativeUnavailable extends Error {
  override readonly name = 'NativeUnavailable';
}

let cached: RunNative | null | undefined;

/** runNative, or null when the native board is not part of this build. */
export async function loadRunNative(): Promise<RunNative | null> {
  if (cached !== undefined) return cached;
  try {
    // HOOK: sim/native/machine.ts is another part's; until it is in the tree this import
    // fails at run time (and the type checker is told to let it be). Once it is on main,
    // this becomes `import { runNative } from '../native/machine.ts'`.
    // @ts-ignore -- the module may not exist yet (see above)
    const mod = (await import('../native/machine.ts')) as { runNative?: unknown };
    cached = typeof mod.runNative === 'function' ? (mod.runNative as RunNative) : null;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND') throw e;
    cached = null;
  }
  return cached;
}

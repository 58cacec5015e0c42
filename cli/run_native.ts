// `pvsim run-native <kernel>`: an unmodified kernel on the board with no hypervisor at all
// (sim/native/machine.ts; the `native` mode of `pvsim compare`), under our M-mode SBI
// firmware, as `qemu-system-riscv32 -machine virt -bios sbi.elf -kernel <kernel>` runs it.

import { elapsed, Progress } from './progress.ts';
import type { EngineKind } from '../hypervisor/cpu/engines.ts';
import { KernelFileError, readKernelFile } from '../xenguest/kernel_file.ts';
import { runNative, type NativeDisk, type NativeRunResult } from '../sim/native/machine.ts';

export const RUN_NATIVE_EXIT = { poweroff: 0, crash: 1, timeout: 2, reset: 3, badInput: 4 } as const;

export interface RunNativeCliOptions {
  cmdline: string;
  memory: number;
  disk: string[];
  firmware?: string;
  maxInstructions: number;
  /** Virtual ms before giving up. */
  maxMs: number;
  json?: boolean;
  /** --progress / --no-progress; default: when stderr is a terminal. */
  progress?: boolean;
  /** --cpu: the engine. */
  cpu?: EngineKind;
}

export class DiskSpecError extends Error {
  override readonly name = 'DiskSpecError';
}

/** `path[,devtype=virtio|legacy][,ro]` (the shape of an xl.cfg disk's target and devtype). */
export function parseNativeDisk(spec: string): NativeDisk {
  const [path, ...keys] = spec.split(',');
  if (!path) throw new DiskSpecError(`--disk ${JSON.stringify(spec)}: no image path`);
  const disk: NativeDisk = { path, devtype: 'virtio' };
  for (const k of keys) {
    if (k === 'ro' || k === 'readonly') disk.readonly = true;
    else if (k === 'devtype=virtio' || k === 'devtype=legacy') disk.devtype = k.slice(8) as NativeDisk['devtype'];
    else throw new DiskSpecError(`--disk ${JSON.stringify(spec)}: unknown key ${JSON.stringify(k)} (path[,devtype=virtio|legacy][,ro])`);
  }
  return disk;
}

function summary(r: NativeRunResult): string {
  const p = r.perf;
  const entries = Object.entries(p.exits).map(([k, e]) => `${k}=${e.count}`).join(' ') || 'none';
  return (
    `${r.exit} at ${(r.virtualNs / 1e6).toFixed(3)} ms virtual; instructions user ${p.instr.user} kernel ${p.instr.kernel}; ` +
    `firmware entries ${entries} (${p.hypervisorNs} ns); mmio ${p.io.mmioAccesses}, page walks ${p.mmu.pageWalks}\n`
  );
}

export async function runNativeCommand(file: string, opts: RunNativeCliOptions): Promise<number> {
  let kernel: Uint8Array;
  let firmware: Uint8Array | undefined;
  let disks: NativeDisk[];
  try {
    kernel = readKernelFile(file);
    // Read as a kernel is: a FIFO or /dev/zero named as firmware is refused, never waited on.
    firmware = opts.firmware === undefined ? undefined : readKernelFile(opts.firmware);
    disks = opts.disk.map(parseNativeDisk);
  } catch (e) {
    if (!(e instanceof KernelFileError || e instanceof DiskSpecError || (e as NodeJS.ErrnoException).code !== undefined)) throw e;
    process.stderr.write(`pvsim run-native: ${(e as Error).message}\n`);
    return RUN_NATIVE_EXIT.badInput;
  }
  let r: NativeRunResult;
  const progress = new Progress({ prefix: 'pvsim run-native', flag: opts.progress });
  const t0 = Date.now();
  try {
    r = await runNative({
      kernel,
      firmware,
      cmdline: opts.cmdline,
      memoryMiB: opts.memory,
      disks,
      maxInstructions: opts.maxInstructions,
      maxVirtualNs: opts.maxMs * 1e6,
      ...(opts.cpu ? { cpu: opts.cpu } : {}),
      onConsole: opts.json ? undefined : (l) => (progress.clear(), process.stdout.write(`${l}\n`)),
      onProgress: progress.enabled
        ? (ns, instr) => progress.update(`${(ns / 1e6).toFixed(1)} of ${opts.maxMs} ms virtual (${((100 * ns) / (opts.maxMs * 1e6)).toFixed(0)}% of the bound), ${(instr / 1e6).toFixed(1)}M instructions, ${elapsed(t0)}`)
        : undefined,
    });
  } catch (e) {
    progress.done();
    // A bad image, a board that cannot hold it, a disk that cannot be opened: the caller's input.
    process.stderr.write(`pvsim run-native: ${file}: ${(e as Error).message}\n`);
    return RUN_NATIVE_EXIT.badInput;
  }
  progress.done();
  if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  else process.stderr.write(summary(r));
  return RUN_NATIVE_EXIT[r.exit];
}

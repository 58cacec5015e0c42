// `pvsim boot <image>`: builds one PV (or, with --type hvm, HVM) domain in-process, runs it, prints its console,
// and exits with its shutdown reason code.

import { KernelFileError, readKernelFile } from '../xenguest/kernel_file.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { BuildError } from '../xenguest/pv_bootstrap.ts';
import { ElfError } from '../xenguest/elf.ts';
import { SHUTDOWN } from '../protocol/xen/hypercall.ts';
import { elapsed, Progress } from './progress.ts';

export const BOOT_EXIT_TIMEOUT = 124;
export const BOOT_EXIT_BAD_INPUT = 125;
/** The domain waits forever: blocked, with no timer and nothing to send it an event. */
export const BOOT_EXIT_IDLE = 126;

export interface BootCliOptions {
  cmdline: string;
  memory: number;
  name: string;
  maxInstructions: number;
  dmesg?: boolean;
  /** pv (default) or hvm: an unmodified kernel on the HVM board, trap-and-emulate. */
  type?: string;
  shadowSync?: string;
  /** --progress / --no-progress; default: when stderr is a terminal. */
  progress?: boolean;
}

export async function bootCommand(file: string, opts: BootCliOptions): Promise<number> {
  let image: Uint8Array;
  try {
    image = readKernelFile(file);
  } catch (e) {
    if (!(e instanceof KernelFileError)) throw e;
    process.stderr.write(`pvsim boot: ${e.message}\n`);
    return BOOT_EXIT_BAD_INPUT;
  }
  const hv = new Hypervisor();
  // Console output goes to stdout; on a terminal the progress line on stderr is taken away first.
  let progress: Progress | null = null;
  const toStdout = (bytes: Uint8Array) => (progress?.clear(), process.stdout.write(bytes));
  hv.onConsole = (_d, bytes) => toStdout(bytes);
  // dom0's daemons in this process: xenstored on the guest's store ring, the console backend.
  startLocalDom0(hv, { onConsole: (_d, bytes) => toStdout(bytes) });
  let domain;
  try {
    const type = opts.type ?? 'pv';
    const sync = opts.shadowSync ?? 'wp';
    if (type !== 'pv' && type !== 'hvm') throw new BuildError(`--type must be pv or hvm, got "${type}"`);
    if (sync !== 'wp' && sync !== 'lazy') throw new BuildError(`--shadow-sync must be wp or lazy, got "${sync}"`);
    domain =
      type === 'hvm'
        ? hv.createHvmDomain(image, { name: opts.name, memoryBytes: opts.memory * 1024 * 1024, cmdline: opts.cmdline, hvm: { mode: 'trap', shadowSync: sync } })
        : hv.createPvDomain(image, { name: opts.name, memoryBytes: opts.memory * 1024 * 1024, cmdline: opts.cmdline }).domain;
  } catch (e) {
    if (e instanceof ElfError || e instanceof BuildError || e instanceof RangeError) {
      process.stderr.write(`pvsim boot: ${file}: ${e.message}\n`);
      return BOOT_EXIT_BAD_INPUT;
    }
    throw e;
  }
  hv.unpause(domain);
  progress = new Progress({ prefix: 'pvsim boot', flag: opts.progress });
  const t0 = Date.now();
  if (progress.enabled) {
    const p = progress;
    hv.loop.progressIntervalMs = 200;
    hv.loop.onProgress = (ns) => p.update(`${(ns / 1e9).toFixed(3)} s virtual, ${(hv.totalInstructions / 1e6).toFixed(0)}M of ${(opts.maxInstructions / 1e6).toFixed(0)}M instructions, ${elapsed(t0)}`);
  }
  let result;
  try {
    result = await hv.runAsync({ maxInstructions: opts.maxInstructions });
  } finally {
    progress.done();
  }
  if (opts.dmesg) for (const line of hv.dmesg()) process.stderr.write(line + '\n');
  const secs = (hv.now() / 1e9).toFixed(6);
  if (result.kind === 'limit') {
    process.stderr.write(
      `pvsim boot: domain ${domain.domid} (${domain.name}) still running after ${hv.totalInstructions} instructions (--max-instructions)\n`,
    );
    return BOOT_EXIT_TIMEOUT;
  }
  if (domain.isAlive) {
    process.stderr.write(
      `pvsim boot: domain ${domain.domid} (${domain.name}) is blocked with nothing left that could wake it ` +
        `(waiting for input or an event) [${hv.totalInstructions} instructions, ${secs} s virtual]\n`,
    );
    return BOOT_EXIT_IDLE;
  }
  const reason = domain.shutdownReason ?? 'crash';
  const extra = domain.crashMessage ? `: ${domain.crashMessage}` : '';
  process.stderr.write(
    `pvsim boot: domain ${domain.domid} (${domain.name}) shut down: ${reason}${extra} ` +
      `[${hv.totalInstructions} instructions, ${secs} s virtual]\n`,
  );
  return SHUTDOWN[reason];
}

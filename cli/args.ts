// Argument parsers shared by the subcommands; each rejects bad input with a message that
// names the option.

import { InvalidArgumentError, Option } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { MAX_MACHINE_MEMORY_MIB } from '../hypervisor/mm/frame_table.ts';
import { DEFAULT_ENGINE, ENGINE_KINDS } from '../hypervisor/cpu/engines.ts';

export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const v = value.replace(/_/g, '');
    if (!/^\d+$/.test(v) && !/^\d+(\.\d+)?e\d+$/i.test(v)) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

/** --memory of a machine: a positive integer of MiB the hypervisor can provide (refused at start, not when a guest reaches it). */
export function machineMemoryMiB(name: string): (value: string) => number {
  const int = positiveInt(name);
  return (value: string) => {
    const n = int(value);
    if (n > MAX_MACHINE_MEMORY_MIB) throw new InvalidArgumentError(`${name} ${n} MiB is more than a machine can have: at most ${MAX_MACHINE_MEMORY_MIB} MiB (Sv32's 34-bit machine addresses, frames from 2 GiB up)`);
    return n;
  };
}

/**
 * A file the command will write (e.g. --pcap): made absolute, so child processes started
 * elsewhere write the same file, and refused at once if its directory does not exist.
 */
export function outputFile(name: string): (value: string) => string {
  return (value: string) => {
    if (value === '') throw new InvalidArgumentError(`${name} needs a file name`);
    const abs = resolve(value);
    const dir = dirname(abs);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new InvalidArgumentError(`${name}: directory ${dir} does not exist`);
    if (existsSync(abs) && statSync(abs).isDirectory()) throw new InvalidArgumentError(`${name}: ${abs} is a directory`);
    return abs;
  };
}

/**
 * --cpu interp|jit, shared by every command that runs guest code (run, run-bare, run-native,
 * compare, sweep, up, hypervisor): which engine executes guest instructions. Results are
 * identical (instruction counts, virtual time, trace hashes); speed differs. No default here:
 * unset means the scenario's `cpu`, else DEFAULT_ENGINE; given, it overrides every domain's
 * own cpu_engine too.
 */
export function cpuOption(scenario = false): Option {
  const dflt = scenario ? `the scenario's cpu, else ${DEFAULT_ENGINE}; given, it also overrides each domain's cpu_engine` : `${DEFAULT_ENGINE}; given, it also overrides each domain's cpu_engine`;
  return new Option('--cpu <engine>', `CPU engine: interp (the reference interpreter) or jit (the block translator); same results, different speed (default: ${dflt})`).choices(ENGINE_KINDS);
}

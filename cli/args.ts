// Argument parsers shared by the subcommands; each rejects bad input with a message that
// names the option.

import { InvalidArgumentError } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const v = value.replace(/_/g, '');
    if (!/^\d+$/.test(v) && !/^\d+(\.\d+)?e\d+$/i.test(v)) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
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

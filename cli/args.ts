// Argument parsers shared by the subcommands; each rejects bad input with a message that
// names the option.

import { InvalidArgumentError } from 'commander';

export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const v = value.replace(/_/g, '');
    if (!/^\d+$/.test(v) && !/^\d+(\.\d+)?e\d+$/i.test(v)) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}"`);
    return n;
  };
}

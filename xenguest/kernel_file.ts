// Reading a kernel image from the host's file system (xl create's kernel=, pvsim boot,
// pvsim run-bare, a scenario's image). The path comes from a user's config: it may name a
// device (/dev/zero never ends), a FIFO (an open would wait for a writer forever) or a
// directory, so the file is opened without blocking, checked with fstat on the open
// descriptor (no race with a rename), and read up to a bound, never to its end.

import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/**
 * The largest kernel pvsim loads, as libxenguest bounds the kernels it loads
 * (xc_dom_kernel_max_size). A CreateDomain carrying one still fits in a protocol frame
 * (protocol/wire.ts MAX_FRAME_BYTES leaves room for the rest of the request).
 */
export const MAX_KERNEL_BYTES = 16 * 1024 * 1024;

export class KernelFileError extends Error {
  override readonly name = 'KernelFileError';
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MiB`;

/**
 * The bytes of the regular file `path`, at most `maxBytes` of them. Every refusal is a
 * KernelFileError whose message names `path`; callers add what the file was for.
 */
export function readKernelFile(path: string, maxBytes = MAX_KERNEL_BYTES): Uint8Array {
  return readRegularFile(path, { maxBytes, what: 'kernel' });
}

export interface RegularFileOptions {
  maxBytes: number;
  /** What the file is, for the too-large message ("the largest <what> pvsim loads"). */
  what: string;
  /** Refuse a symbolic link (ELOOP) instead of following it: a file in a directory others write. */
  noFollow?: boolean;
}

/**
 * The bytes of the regular file `path` (a kernel, a scenario, a result file), at most
 * `o.maxBytes` of them, read as readKernelFile reads a kernel: a FIFO, a device or a
 * directory is refused without blocking and nothing is read to an end that may not come.
 */
export function readRegularFile(path: string, o: RegularFileOptions): Uint8Array {
  const maxBytes = o.maxBytes;
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO with no writer returns at once (and is refused below);
    // it changes nothing for a regular file. O_NOCTTY: a terminal does not become ours.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (o.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (o.noFollow && code === 'ELOOP') throw new KernelFileError(`${path} is a symbolic link, not a regular file`);
    throw new KernelFileError(`cannot read ${path}: ${code}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new KernelFileError(`${path} is ${kindOf(st)}, not a regular file`);
    const tooBig = () => new KernelFileError(`${path} is larger than ${mib(maxBytes)}, the largest ${o.what} pvsim loads`);
    if (st.size > maxBytes) throw tooBig();
    // Read at most maxBytes + 1 bytes: a file that grew after fstat is caught without being
    // read to its end (a growing buffer, never larger than maxBytes + 1).
    let buf = Buffer.allocUnsafeSlow(Math.min(st.size, maxBytes) + 1);
    let got = 0;
    for (;;) {
      if (got === buf.length) {
        if (got > maxBytes) throw tooBig();
        const more = Buffer.allocUnsafeSlow(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(more, 0, 0, got);
        buf = more;
      }
      let n: number;
      try {
        n = readSync(fd, buf, got, buf.length - got, null);
      } catch (e) {
        throw new KernelFileError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      if (n === 0) return new Uint8Array(buf.buffer, buf.byteOffset, got);
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

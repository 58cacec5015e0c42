// A virtual disk backed by a raw image file: created sparse at its configured size if
// absent, read and written at sector offsets, flushed with fsync (a flush that returns has
// reached the disk), discards written as zeros.
//
// Every failure of the host file is a BlockStoreError carrying the errno name (ENOENT,
// EISDIR, ENOSPC, EIO, ...): blkback turns one at open into the device failing (the error
// node, Closed), and one during a request into BLKIF_RSP_ERROR for that request only.

import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { BLKIF_SECTOR_BYTES } from '../../../protocol/xen/blkif.ts';

export class BlockStoreError extends Error {
  override readonly name = 'BlockStoreError';
  constructor(
    message: string,
    /** errno name of the host's failure (EIO when there was none to name). */
    readonly code: string = 'EIO',
  ) {
    super(message);
  }
}

/** What blkback needs of a disk: FileBlockStore, or a test's stand-in for one. */
export interface BlockStore {
  readonly path: string;
  readonly readonly: boolean;
  readonly sectors: number;
  /** The host file's identity (device and inode), the same whichever path names it. */
  readonly identity: string;
  read(sector: number, bytes: number): Uint8Array;
  write(sector: number, data: Uint8Array): void;
  discard(sector: number, count: number): void;
  flush(): void;
  close(): void;
}

/** The host's reason for a failed file operation, in words a user can act on. */
export function describeHostError(e: unknown): { code: string; reason: string } {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : 'EIO';
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory (or its directory does not exist)',
    ENOTDIR: 'a component of the path is not a directory',
    EISDIR: 'is a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted (an immutable or append-only file?)',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on device',
    EDQUOT: 'disk quota exceeded',
    EIO: 'input/output error',
    ELOOP: 'too many levels of symbolic links',
    ENAMETOOLONG: 'file name too long',
    EMFILE: 'too many open files',
    ENFILE: 'too many open files in the system',
    EFBIG: 'file too large',
  };
  return { code, reason: words[code] ?? (err instanceof Error ? err.message : String(e)) };
}

/** Runs a host file operation; its failure becomes a BlockStoreError naming `what`. */
function host<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BlockStoreError) throw e;
    const { code, reason } = describeHostError(e);
    throw new BlockStoreError(`${what}: ${code} (${reason})`, code);
  }
}

export class FileBlockStore implements BlockStore {
  readonly sectors: number;
  readonly identity: string;
  private fd = -1;
  /** This store made the file (it did not exist): removed again if the open fails. */
  private created = false;

  /** Opens `path` (creating it sparse with `sizeBytes` if absent). */
  constructor(readonly path: string, readonly readonly: boolean, sizeBytes?: number) {
    try {
      const fd = this.openOrCreate(path, readonly, sizeBytes);
      this.fd = fd;
      const st = host(`cannot stat ${path}`, () => fstatSync(fd));
      // A `file:` disk is a regular file (Xen's block script: "test -f"). A directory opens
      // read-only without complaint on Linux, and a character device has no size.
      if (st.isDirectory()) throw new BlockStoreError(`cannot open ${path}: EISDIR (is a directory)`, 'EISDIR');
      if (!st.isFile()) throw new BlockStoreError(`cannot open ${path}: EINVAL (not a regular file: a file: disk is an image file)`, 'EINVAL');
      if (st.size % BLKIF_SECTOR_BYTES !== 0) throw new BlockStoreError(`${path}: ${st.size} bytes is not a whole number of 512-byte sectors`, 'EINVAL');
      this.sectors = st.size / BLKIF_SECTOR_BYTES;
      this.identity = `${st.dev}:${st.ino}`;
    } catch (e) {
      this.close(); // a store that failed to open holds no descriptor
      // and a file it made for the purpose is removed again: a failed attach leaves nothing.
      if (this.created) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
      throw e;
    }
  }

  /** The image's descriptor; creates it (sparse, `sizeBytes`) if absent and writable. */
  private openOrCreate(path: string, readonly: boolean, sizeBytes: number | undefined): number {
    return host(`cannot open ${path}`, () => {
      try {
        // Only a regular file is opened: a FIFO would block dom0 in open() until a writer
        // came, and opening a device may do things (a tape rewinds). O_NONBLOCK covers a
        // file swapped for a FIFO between the look and the open; it changes nothing for a
        // regular file.
        const st = statSync(path);
        if (st.isDirectory()) throw new BlockStoreError(`cannot open ${path}: EISDIR (is a directory)`, 'EISDIR');
        if (!st.isFile()) throw new BlockStoreError(`cannot open ${path}: EINVAL (not a regular file: a file: disk is an image file)`, 'EINVAL');
        return openSync(path, (readonly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NONBLOCK | constants.O_NOCTTY);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        if (readonly) throw new BlockStoreError(`cannot open ${path}: no such image, and a read-only disk cannot be created`, 'ENOENT');
        if (sizeBytes === undefined) throw new BlockStoreError(`cannot open ${path}: no such image and no size to create it with`, 'ENOENT');
        // Checked before anything is made: a size the image could not have (negative, not
        // whole sectors, not a number) would leave a file behind that no later open accepts.
        if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % BLKIF_SECTOR_BYTES !== 0) {
          throw new BlockStoreError(`cannot create ${path}: size ${sizeBytes} is not a positive whole number of 512-byte sectors`, 'EINVAL');
        }
        // 'wx+': never truncates a file that appeared since (another disk's, perhaps).
        const created = openSync(path, 'wx+', 0o600);
        this.created = true;
        try {
          ftruncateSync(created, sizeBytes);
        } catch (t) {
          closeSync(created); // (and the constructor unlinks it)
          throw t;
        }
        return created;
      }
    });
  }

  read(sector: number, bytes: number): Uint8Array {
    const out = new Uint8Array(bytes);
    let done = 0;
    while (done < bytes) {
      const n = host(`read of ${this.path}`, () => readSync(this.fd, out, done, bytes - done, sector * BLKIF_SECTOR_BYTES + done));
      if (n === 0) break; // past the end of a sparse file: zeros
      done += n;
    }
    return out;
  }

  write(sector: number, data: Uint8Array): void {
    if (this.readonly) throw new BlockStoreError(`${this.path} is read-only`, 'EROFS');
    let done = 0;
    while (done < data.length) done += host(`write of ${this.path}`, () => writeSync(this.fd, data, done, data.length - done, sector * BLKIF_SECTOR_BYTES + done));
  }

  discard(sector: number, count: number): void {
    const zero = new Uint8Array(Math.min(count, 2048) * BLKIF_SECTOR_BYTES);
    for (let s = 0; s < count; s += zero.length / BLKIF_SECTOR_BYTES) {
      const n = Math.min(count - s, zero.length / BLKIF_SECTOR_BYTES);
      this.write(sector + s, zero.subarray(0, n * BLKIF_SECTOR_BYTES));
    }
  }

  flush(): void {
    if (this.fd < 0) return;
    host(`fsync of ${this.path}`, () => fsyncSync(this.fd));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

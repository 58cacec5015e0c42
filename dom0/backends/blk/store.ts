// A virtual disk backed by a raw image file: created sparse at its configured size if
// absent, read and written at sector offsets, flushed with fsync (a flush that returns has
// reached the disk), discards written as zeros.

import { closeSync, constants, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { BLKIF_SECTOR_BYTES } from '../../../protocol/xen/blkif.ts';

export class BlockStoreError extends Error {
  override readonly name = 'BlockStoreError';
}

export class FileBlockStore {
  readonly sectors: number;
  private fd: number;

  /** Opens `path` (creating it sparse with `sizeBytes` if absent). */
  constructor(readonly path: string, readonly readonly: boolean, sizeBytes?: number) {
    const create = !existsSync(path);
    if (create && readonly) throw new BlockStoreError(`${path}: no such image, and a read-only disk cannot be created`);
    if (create && !sizeBytes) throw new BlockStoreError(`${path}: no such image and no size to create it with`);
    // O_NONBLOCK: a FIFO with no writer would hold a read-only open (and then every read)
    // forever, and with it all of dom0. It changes nothing for a regular file, the only
    // kind accepted (checked on the open descriptor).
    const flags = create ? constants.O_RDWR | constants.O_CREAT : readonly ? constants.O_RDONLY : constants.O_RDWR;
    this.fd = openSync(path, flags | constants.O_NONBLOCK | constants.O_NOCTTY, 0o600);
    const st = fstatSync(this.fd);
    if (!st.isFile()) {
      closeSync(this.fd);
      throw new BlockStoreError(`${path} is not a regular file (a disk image must be one)`);
    }
    if (create) ftruncateSync(this.fd, sizeBytes!);
    const size = fstatSync(this.fd).size;
    if (size % BLKIF_SECTOR_BYTES !== 0) throw new BlockStoreError(`${path}: ${size} bytes is not a whole number of 512-byte sectors`);
    this.sectors = size / BLKIF_SECTOR_BYTES;
  }

  read(sector: number, bytes: number): Uint8Array {
    const out = new Uint8Array(bytes);
    let done = 0;
    while (done < bytes) {
      const n = readSync(this.fd, out, done, bytes - done, sector * BLKIF_SECTOR_BYTES + done);
      if (n === 0) break; // past the end of a sparse file: zeros
      done += n;
    }
    return out;
  }

  write(sector: number, data: Uint8Array): void {
    if (this.readonly) throw new BlockStoreError(`${this.path} is read-only`);
    let done = 0;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, sector * BLKIF_SECTOR_BYTES + done);
  }

  discard(sector: number, count: number): void {
    const zero = new Uint8Array(Math.min(count, 2048) * BLKIF_SECTOR_BYTES);
    for (let s = 0; s < count; s += zero.length / BLKIF_SECTOR_BYTES) {
      const n = Math.min(count - s, zero.length / BLKIF_SECTOR_BYTES);
      this.write(sector + s, zero.subarray(0, n * BLKIF_SECTOR_BYTES));
    }
  }

  flush(): void {
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

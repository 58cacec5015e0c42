// A legacy ATA disk: one device (device 0) behind a task-file register block in PIO mode,
// mapped as MMIO the way Linux's pata_platform / pata_of_platform drives it (compatible
// "ata-generic": reg = <command block>, <control block>; reg-shift; interrupts). Every
// register access is one ioreq: a 512-byte sector costs 256 exits of the data register
// plus the task-file writes and status reads around it, which is the point of having it.
//
// Layout, reg-shift = 2 (registers 4 bytes apart; byte accesses at each; the data register
// 16-bit, 32-bit taken as two words for a driver with pio32):
//
//   0x00 DATA          0x04 ERROR / FEATURES    0x08 SECTOR COUNT   0x0c LBA LOW
//   0x10 LBA MID       0x14 LBA HIGH            0x18 DEVICE         0x1c STATUS / COMMAND
//   0x20 ALTERNATE STATUS / DEVICE CONTROL  (the control block: reg 2 of the device tree)
//
// Commands (ATA8-ACS numbering): IDENTIFY DEVICE (ECh), READ SECTORS (20h, 21h), WRITE
// SECTORS (30h, 31h), FLUSH CACHE (E7h, fsync before completion), READ VERIFY SECTORS
// (40h, 41h), SET FEATURES (EFh: 02h/82h write cache on/off, 03h PIO transfer modes),
// EXECUTE DEVICE DIAGNOSTIC (90h), INITIALIZE DEVICE PARAMETERS (91h, no effect), the
// power commands E0h-E3h, E5h (always active). LBA28 only (no 48-bit, no CHS, no DMA, no
// READ/WRITE MULTIPLE).
//
// Errors: any other command, a command while a transfer is under way (DRQ), a CHS address,
// a write to a read-only image, or a bad SET FEATURES: ERR with ABRT. A range past the last
// sector: ERR with IDNF. A host I/O error: ERR with ABRT. A data-register access without
// DRQ: ignored (reads 0xffff) and ERR/ABRT set. Task-file writes while DRQ is set are
// ignored. Device 1 is absent: with DEV=1 selected the status reads 00h, commands are
// ignored (except EXECUTE DEVICE DIAGNOSTIC, which device 0 runs for both), and the line
// is released.
//
// INTRQ: raised at each DRQ data block of a PIO-in command, after each block of a PIO-out
// command but the first, at the end of a non-data command and of any command that fails;
// cleared by reading STATUS (not ALTERNATE STATUS), by a new command, and by reset. The
// line is INTRQ && !nIEN && device 0 selected.

import { BlockStoreError, type BlockStore } from '../backends/blk/store.ts';
import type { IoreqDevice, IrqLine } from './ioreq.ts';

export const ATA_REG_SHIFT = 2;
/** Register numbers (offset = reg << ATA_REG_SHIFT) of the command block. */
export const ATA_REG = { DATA: 0, ERROR: 1, FEATURES: 1, NSECT: 2, LBAL: 3, LBAM: 4, LBAH: 5, DEVICE: 6, STATUS: 7, COMMAND: 7 } as const;
/** The control block's offset in the window (its own register: ALTSTATUS / DEVCTL). */
export const ATA_CTL_OFFSET = 0x20;
/** Window the device occupies (the two device-tree reg entries fit in it). */
export const ATA_WINDOW = 0x1000;
export const ATA_CMD_BLOCK_BYTES = 8 << ATA_REG_SHIFT;
export const ATA_CTL_BLOCK_BYTES = 4;

export const ATA_STATUS = { BSY: 0x80, DRDY: 0x40, DF: 0x20, DSC: 0x10, DRQ: 0x08, ERR: 0x01 } as const;
export const ATA_ERROR = { IDNF: 0x10, ABRT: 0x04 } as const;
export const ATA_DEVCTL = { HOB: 0x80, SRST: 0x04, NIEN: 0x02 } as const;
export const ATA_DEV = { LBA: 0x40, DEV1: 0x10, OBS: 0xa0 } as const;
export const ATA_CMD = {
  READ_SECTORS: 0x20,
  READ_SECTORS_NORETRY: 0x21,
  WRITE_SECTORS: 0x30,
  WRITE_SECTORS_NORETRY: 0x31,
  READ_VERIFY: 0x40,
  READ_VERIFY_NORETRY: 0x41,
  EXECUTE_DEVICE_DIAGNOSTIC: 0x90,
  INITIALIZE_DEVICE_PARAMETERS: 0x91,
  STANDBY_IMMEDIATE: 0xe0,
  IDLE_IMMEDIATE: 0xe1,
  STANDBY: 0xe2,
  IDLE: 0xe3,
  CHECK_POWER_MODE: 0xe5,
  FLUSH_CACHE: 0xe7,
  IDENTIFY_DEVICE: 0xec,
  SET_FEATURES: 0xef,
} as const;
export const ATA_SECTOR = 512;
/** LBA28's last addressable sector + 1. */
export const ATA_LBA28_MAX = 0x0fffffff;

export interface AtaStats {
  commands: number;
  aborted: number;
  sectorsRead: number;
  sectorsWritten: number;
  flushes: number;
  /** Accesses in the wrong order (data without DRQ, task file during DRQ, command during DRQ). */
  orderErrors: number;
}

export interface AtaIdentity {
  model: string;
  serial: string;
  firmware: string;
}

/** Writes `s` as an ATA string: ASCII, space-padded to `words` words, two characters per word, first in the high byte. */
function ataString(block: Uint8Array, word: number, words: number, s: string): void {
  const t = s.padEnd(words * 2, ' ').slice(0, words * 2);
  for (let i = 0; i < words * 2; i += 2) {
    block[2 * (word + i / 2)] = t.charCodeAt(i + 1) & 0x7f;
    block[2 * (word + i / 2) + 1] = t.charCodeAt(i) & 0x7f;
  }
}

/** The IDENTIFY DEVICE data (ATA8-ACS 7.16) of a fixed LBA28 PIO disk of `sectors` sectors. */
export function identifyBlock(sectors: number, id: AtaIdentity): Uint8Array {
  const b = new Uint8Array(ATA_SECTOR);
  const dv = new DataView(b.buffer);
  const w = (i: number, v: number) => dv.setUint16(2 * i, v & 0xffff, true);
  const lba = Math.min(sectors, ATA_LBA28_MAX);
  // A CHS translation for the obsolete words (16 heads, 63 sectors per track).
  const cyl = Math.max(1, Math.min(16383, Math.floor(lba / (16 * 63))));
  w(0, 0x0040); // ATA device, fixed
  w(1, cyl);
  w(3, 16);
  w(6, 63);
  ataString(b, 10, 10, id.serial);
  ataString(b, 23, 4, id.firmware);
  ataString(b, 27, 20, id.model);
  w(47, 0x8000); // READ/WRITE MULTIPLE: 0 sectors (not supported)
  w(49, 0x0a00); // IORDY supported, LBA supported; no DMA
  w(50, 0x4000);
  w(51, 0x0200); // PIO mode 2 timing (obsolete word)
  w(53, 0x0003); // words 54-58 and 64-70 valid
  w(54, cyl);
  w(55, 16);
  w(56, 63);
  const chs = cyl * 16 * 63;
  w(57, chs & 0xffff);
  w(58, chs >>> 16);
  w(60, lba & 0xffff);
  w(61, lba >>> 16);
  w(64, 0x0003); // PIO modes 3 and 4
  w(65, 120);
  w(66, 120);
  w(67, 120);
  w(68, 120);
  w(80, 0x00f0); // ATA/ATAPI-4 to -7
  w(82, 0x0020); // volatile write cache supported
  w(83, 0x5000); // FLUSH CACHE supported; no 48-bit
  w(84, 0x4000);
  w(85, 0x0020); // write cache enabled
  w(86, 0x1000); // FLUSH CACHE enabled
  w(87, 0x4000);
  w(93, 0x400b); // device 0: diagnostics passed, set by jumper
  b[510] = 0xa5; // integrity word: signature, then a checksum making the block sum to 0
  let sum = 0;
  for (let i = 0; i < 511; i++) sum += b[i]!;
  b[511] = (256 - (sum & 0xff)) & 0xff;
  return b;
}

type Phase = 'idle' | 'pio-in' | 'pio-out';

export class AtaDisk implements IoreqDevice {
  readonly stats: AtaStats = { commands: 0, aborted: 0, sectorsRead: 0, sectorsWritten: 0, flushes: 0, orderErrors: 0 };
  private status = 0;
  private error = 0;
  private features = 0;
  private nsect = 0;
  private lbal = 0;
  private lbam = 0;
  private lbah = 0;
  private device = 0;
  private devctl = 0;
  private intrq = false;
  private line = false;
  private phase: Phase = 'idle';
  private readonly buf = new Uint8Array(ATA_SECTOR);
  private pos = 0;
  /** Sectors still to move in the current transfer (this one included), and the next LBA. */
  private remaining = 0;
  private lba = 0;
  private writeCache = true;
  private readonly identity: AtaIdentity;

  constructor(
    readonly name: string,
    readonly store: BlockStore,
    private readonly irq: IrqLine,
    identity: Partial<AtaIdentity> = {},
  ) {
    this.identity = { model: identity.model ?? 'PVSIM ATA DISK', serial: identity.serial ?? 'PVSIM0001', firmware: identity.firmware ?? '1.0' };
    this.signature();
  }

  /** The register state after power-on, reset or diagnostics (ATA signature of a PATA disk). */
  private signature(): void {
    this.phase = 'idle';
    this.pos = 0;
    this.remaining = 0;
    this.error = 0x01; // device 0 passed, device 1 absent
    this.nsect = 1;
    this.lbal = 1;
    this.lbam = 0;
    this.lbah = 0;
    this.device = 0;
    this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC;
  }

  private get selected(): boolean {
    return (this.device & ATA_DEV.DEV1) === 0;
  }

  private updateLine(): void {
    const level = this.intrq && (this.devctl & ATA_DEVCTL.NIEN) === 0 && this.selected;
    if (level !== this.line) {
      this.line = level;
      this.irq(level);
    }
  }

  private raise(): void {
    this.intrq = true;
    this.updateLine();
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (offset === 0) return this.readData(size);
    if (offset === ATA_CTL_OFFSET) return this.selected ? this.status : 0;
    const reg = offset >>> ATA_REG_SHIFT;
    if (offset % (1 << ATA_REG_SHIFT) !== 0 || reg > 7) return 0xff;
    switch (reg) {
      case ATA_REG.ERROR:
        return this.error;
      case ATA_REG.NSECT:
        return this.nsect;
      case ATA_REG.LBAL:
        return this.lbal;
      case ATA_REG.LBAM:
        return this.lbam;
      case ATA_REG.LBAH:
        return this.lbah;
      case ATA_REG.DEVICE:
        return this.device;
      case ATA_REG.STATUS: {
        if (!this.selected) return 0;
        this.intrq = false; // reading STATUS acknowledges the interrupt
        this.updateLine();
        return this.status;
      }
      default:
        return 0xff;
    }
  }

  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset === 0) return this.writeData(size, value);
    if (offset === ATA_CTL_OFFSET) return this.writeDevctl(value & 0xff);
    const reg = offset >>> ATA_REG_SHIFT;
    if (offset % (1 << ATA_REG_SHIFT) !== 0 || reg > 7) return;
    const v = value & 0xff;
    if (reg === ATA_REG.COMMAND) return this.command(v);
    if (this.status & (ATA_STATUS.DRQ | ATA_STATUS.BSY)) {
      // The task file is not written during a transfer (ATA8: undefined; here: ignored).
      this.stats.orderErrors++;
      return;
    }
    switch (reg) {
      case ATA_REG.FEATURES:
        this.features = v;
        return;
      case ATA_REG.NSECT:
        this.nsect = v;
        return;
      case ATA_REG.LBAL:
        this.lbal = v;
        return;
      case ATA_REG.LBAM:
        this.lbam = v;
        return;
      case ATA_REG.LBAH:
        this.lbah = v;
        return;
      case ATA_REG.DEVICE:
        this.device = v;
        this.updateLine();
        return;
    }
  }

  private writeDevctl(v: number): void {
    const wasReset = (this.devctl & ATA_DEVCTL.SRST) !== 0;
    this.devctl = v;
    if (v & ATA_DEVCTL.SRST) {
      // Software reset asserted: the device is busy until it is released.
      this.phase = 'idle';
      this.status = ATA_STATUS.BSY;
      this.intrq = false;
    } else if (wasReset) {
      this.signature();
      this.intrq = false;
    }
    this.updateLine();
  }

  private readData(size: 1 | 2 | 4): number {
    if (this.phase !== 'pio-in' || size === 1) {
      this.orderError();
      return size === 4 ? 0xffffffff : 0xffff;
    }
    if (size === 4) return (this.readWord() | (this.phase === 'pio-in' ? this.readWord() << 16 : 0xffff0000)) >>> 0;
    return this.readWord();
  }

  private readWord(): number {
    const v = this.buf[this.pos]! | (this.buf[this.pos + 1]! << 8);
    this.pos += 2;
    if (this.pos === ATA_SECTOR) this.sectorRead();
    return v;
  }

  private writeData(size: 1 | 2 | 4, value: number): void {
    if (this.phase !== 'pio-out' || size === 1) {
      this.orderError();
      return;
    }
    this.writeWord(value & 0xffff);
    if (size === 4 && this.phase === 'pio-out') this.writeWord(value >>> 16);
  }

  private writeWord(v: number): void {
    this.buf[this.pos] = v & 0xff;
    this.buf[this.pos + 1] = (v >>> 8) & 0xff;
    this.pos += 2;
    if (this.pos === ATA_SECTOR) this.sectorWritten();
  }

  /** A data-register access out of phase: ignored, and the device reports ERR/ABRT. */
  private orderError(): void {
    this.stats.orderErrors++;
    if (this.phase === 'idle' && this.selected) {
      this.status = (this.status & ~(ATA_STATUS.BSY | ATA_STATUS.DRQ)) | ATA_STATUS.ERR;
      this.error = ATA_ERROR.ABRT;
    }
  }

  private abort(err: number = ATA_ERROR.ABRT): void {
    this.stats.aborted++;
    this.phase = 'idle';
    this.remaining = 0;
    this.error = err;
    this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.ERR;
    this.raise();
  }

  private done(): void {
    this.phase = 'idle';
    this.error = 0;
    this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC;
    this.raise();
  }

  /** The LBA28 address and count of the task file, or null (after aborting) if unusable. */
  private range(): { lba: number; count: number } | null {
    if (!(this.device & ATA_DEV.LBA)) {
      this.abort(); // CHS addressing is not offered
      return null;
    }
    const lba = ((this.device & 0x0f) << 24) | (this.lbah << 16) | (this.lbam << 8) | this.lbal;
    const count = this.nsect === 0 ? 256 : this.nsect;
    if (lba + count > Math.min(this.store.sectors, ATA_LBA28_MAX)) {
      this.abort(ATA_ERROR.IDNF);
      return null;
    }
    return { lba, count };
  }

  private command(cmd: number): void {
    if (!this.selected && cmd !== ATA_CMD.EXECUTE_DEVICE_DIAGNOSTIC) return; // device 1 is absent
    if (this.status & ATA_STATUS.BSY) {
      this.stats.orderErrors++;
      return; // in reset: nothing is taken
    }
    this.stats.commands++;
    this.intrq = false;
    this.updateLine();
    if (this.phase !== 'idle') {
      // A command in the middle of a transfer: the transfer ends, the command is refused.
      this.stats.orderErrors++;
      this.abort();
      return;
    }
    try {
      switch (cmd) {
        case ATA_CMD.IDENTIFY_DEVICE:
          this.buf.set(identifyBlock(this.store.sectors, this.identity));
          this.remaining = 1;
          this.startIn(false);
          return;
        case ATA_CMD.READ_SECTORS:
        case ATA_CMD.READ_SECTORS_NORETRY: {
          const r = this.range();
          if (!r) return;
          this.lba = r.lba;
          this.remaining = r.count;
          this.startIn(true);
          return;
        }
        case ATA_CMD.WRITE_SECTORS:
        case ATA_CMD.WRITE_SECTORS_NORETRY: {
          if (this.store.readonly) return this.abort();
          const r = this.range();
          if (!r) return;
          this.lba = r.lba;
          this.remaining = r.count;
          this.phase = 'pio-out';
          this.pos = 0;
          this.error = 0;
          // The first block is asked for without an interrupt (PIO data-out protocol).
          this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ;
          return;
        }
        case ATA_CMD.READ_VERIFY:
        case ATA_CMD.READ_VERIFY_NORETRY:
          if (this.range()) this.done();
          return;
        case ATA_CMD.FLUSH_CACHE:
          this.store.flush(); // fsync returns before the completion
          this.stats.flushes++;
          return this.done();
        case ATA_CMD.SET_FEATURES:
          return this.setFeatures();
        case ATA_CMD.EXECUTE_DEVICE_DIAGNOSTIC:
          this.signature();
          return this.raise();
        case ATA_CMD.INITIALIZE_DEVICE_PARAMETERS:
        case ATA_CMD.STANDBY_IMMEDIATE:
        case ATA_CMD.IDLE_IMMEDIATE:
        case ATA_CMD.STANDBY:
        case ATA_CMD.IDLE:
          return this.done();
        case ATA_CMD.CHECK_POWER_MODE:
          this.done();
          this.nsect = 0xff; // active or idle
          return;
        default:
          return this.abort();
      }
    } catch (e) {
      if (e instanceof BlockStoreError) return this.abort();
      throw e;
    }
  }

  private setFeatures(): void {
    switch (this.features) {
      case 0x02:
        this.writeCache = true;
        return this.done();
      case 0x82:
        this.writeCache = false;
        return this.done();
      case 0x03: {
        // Transfer mode in the sector count: PIO default (00h, 01h) or PIO flow control 0-4 (08h-0Ch).
        const m = this.nsect;
        if (m === 0x00 || m === 0x01 || (m >= 0x08 && m <= 0x0c)) return this.done();
        return this.abort();
      }
      default:
        return this.abort();
    }
  }

  /** Loads the next block of a PIO-in command (from the disk when `fromDisk`) and asks for its transfer. */
  private startIn(fromDisk: boolean): void {
    if (fromDisk) {
      this.buf.set(this.store.read(this.lba, ATA_SECTOR));
      this.stats.sectorsRead++;
    }
    this.phase = 'pio-in';
    this.pos = 0;
    this.error = 0;
    this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ;
    this.raise();
  }

  /** The guest took the last word of a PIO-in block. */
  private sectorRead(): void {
    this.remaining--;
    this.lba++;
    if (this.remaining > 0) {
      try {
        this.startIn(true);
      } catch (e) {
        if (e instanceof BlockStoreError) return this.abort();
        throw e;
      }
      return;
    }
    this.phase = 'idle';
    this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC; // no interrupt after the last block is read
  }

  /** The guest wrote the last word of a PIO-out block: it goes to the disk. */
  private sectorWritten(): void {
    try {
      this.store.write(this.lba, this.buf);
      // Without a write cache, each sector reaches the disk before the device says so.
      if (!this.writeCache) this.store.flush();
    } catch (e) {
      if (e instanceof BlockStoreError) return this.abort();
      throw e;
    }
    this.stats.sectorsWritten++;
    this.remaining--;
    this.lba++;
    this.pos = 0;
    if (this.remaining > 0) {
      this.status = ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ;
      this.raise();
      return;
    }
    this.done();
  }
}

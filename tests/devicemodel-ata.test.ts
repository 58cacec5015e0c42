// The legacy ATA disk driven register by register as libata's SFF code (pata_platform)
// does, every access an ioreq: the power-on signature, IDENTIFY DEVICE, READ / WRITE
// SECTORS in PIO with DRQ per sector, FLUSH CACHE, the errors (ABRT, IDNF), nIEN, device 1
// absent, software reset; and register-order fuzzing: wrong orders give ERR/ABRT, never a
// crash, and a reset brings the device back.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBlockStore } from '../dom0/backends/blk/store.ts';
import { ATA_CMD, ATA_CTL_OFFSET, ATA_DEV, ATA_DEVCTL, ATA_ERROR, ATA_REG, ATA_REG_SHIFT, ATA_STATUS, AtaDisk } from '../dom0/devicemodel/ata.ts';
import { DeviceModel } from '../dom0/devicemodel/ioreq.ts';

const BASE = 0x1000_9000;
const SECTORS = 4096;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dm-ata-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function rig(readonly = false, image?: Uint8Array) {
  const path = join(dir, 'hda.img');
  writeFileSync(path, image ?? new Uint8Array(SECTORS * 512));
  const store = new FileBlockStore(path, readonly);
  let flushes = 0;
  const flush = store.flush.bind(store);
  store.flush = () => {
    flushes++;
    flush();
  };
  const line: boolean[] = [];
  const ata = new AtaDisk('ata', store, (l) => line.push(l), { model: 'PVSIM TEST DISK', serial: 'SN42' });
  const model = new DeviceModel();
  model.add(BASE, 0x1000, ata);
  let exits = 0;
  const io = {
    rd: async (reg: number) => {
      exits++;
      return model.handle({ addr: BASE + (reg << ATA_REG_SHIFT), size: 1, dir: 'read', data: 0, count: 1 });
    },
    wr: async (reg: number, v: number) => {
      exits++;
      await model.handle({ addr: BASE + (reg << ATA_REG_SHIFT), size: 1, dir: 'write', data: v, count: 1 });
    },
    alt: async () => {
      exits++;
      return model.handle({ addr: BASE + ATA_CTL_OFFSET, size: 1, dir: 'read', data: 0, count: 1 });
    },
    ctl: async (v: number) => {
      exits++;
      await model.handle({ addr: BASE + ATA_CTL_OFFSET, size: 1, dir: 'write', data: v, count: 1 });
    },
    data: async () => {
      exits++;
      return model.handle({ addr: BASE, size: 2, dir: 'read', data: 0, count: 1 });
    },
    wdata: async (v: number) => {
      exits++;
      await model.handle({ addr: BASE, size: 2, dir: 'write', data: v, count: 1 });
    },
    exits: () => exits,
  };
  return { path, ata, model, io, line, flushes: () => flushes };
}

type Io = ReturnType<typeof rig>['io'];

/** Task file for an LBA28 command, then the command (as ata_sff_tf_load + exec_command). */
async function issue(io: Io, cmd: number, lba = 0, count = 1, features = 0): Promise<void> {
  await io.wr(ATA_REG.FEATURES, features);
  await io.wr(ATA_REG.NSECT, count & 0xff);
  await io.wr(ATA_REG.LBAL, lba & 0xff);
  await io.wr(ATA_REG.LBAM, (lba >> 8) & 0xff);
  await io.wr(ATA_REG.LBAH, (lba >> 16) & 0xff);
  await io.wr(ATA_REG.DEVICE, ATA_DEV.OBS | ATA_DEV.LBA | ((lba >> 24) & 0x0f));
  await io.wr(ATA_REG.COMMAND, cmd);
}

async function readBlock(io: Io): Promise<Uint8Array> {
  const b = new Uint8Array(512);
  for (let i = 0; i < 256; i++) {
    const w = await io.data();
    b[2 * i] = w & 0xff;
    b[2 * i + 1] = w >> 8;
  }
  return b;
}

async function writeBlock(io: Io, b: Uint8Array): Promise<void> {
  for (let i = 0; i < 256; i++) await io.wdata(b[2 * i]! | (b[2 * i + 1]! << 8));
}

const ataString = (id: Uint8Array, word: number, words: number) => {
  let s = '';
  for (let i = 0; i < words; i++) s += String.fromCharCode(id[2 * (word + i) + 1]!, id[2 * (word + i)]!);
  return s.trimEnd();
};

describe('legacy ATA disk', () => {
  it('shows the ATA signature at power-on and answers IDENTIFY DEVICE with a correct block', async () => {
    const { io, line } = rig();
    expect([await io.rd(ATA_REG.NSECT), await io.rd(ATA_REG.LBAL), await io.rd(ATA_REG.LBAM), await io.rd(ATA_REG.LBAH), await io.rd(ATA_REG.ERROR)]).toEqual([1, 1, 0, 0, 1]);
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    await io.wr(ATA_REG.DEVICE, ATA_DEV.OBS);
    await io.wr(ATA_REG.COMMAND, ATA_CMD.IDENTIFY_DEVICE);
    expect(line).toEqual([true]);
    expect(await io.alt()).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ);
    expect(line).toEqual([true]); // ALTERNATE STATUS does not acknowledge
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ);
    expect(line).toEqual([true, false]);
    const id = await readBlock(io);
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    const w = (i: number) => id[2 * i]! | (id[2 * i + 1]! << 8);
    expect(w(0) & 0x8000).toBe(0); // ATA device
    expect(ataString(id, 27, 20)).toBe('PVSIM TEST DISK');
    expect(ataString(id, 10, 10)).toBe('SN42');
    expect(w(49) & 0x0200).toBe(0x0200); // LBA
    expect(w(49) & 0x0100).toBe(0); // no DMA
    expect(w(60) | (w(61) << 16)).toBe(SECTORS);
    expect(w(83) & 0x0400).toBe(0); // no 48-bit
    expect(w(83) & 0x1000).toBe(0x1000); // FLUSH CACHE
    expect(w(64) & 3).toBe(3); // PIO 3, 4
    expect(id[510]).toBe(0xa5);
    expect(id.reduce((a, b) => (a + b) & 0xff, 0)).toBe(0);
  });

  it('writes sectors with DRQ per sector, flushes with fsync, reads them back, and the image holds them', async () => {
    const { io, line, path, flushes, ata } = rig();
    const data = Uint8Array.from({ length: 3 * 512 }, (_, i) => (i * 11 + 3) & 0xff);
    const before = io.exits();
    await issue(io, ATA_CMD.WRITE_SECTORS, 1000, 3);
    expect(line).toEqual([]); // no interrupt before the first block
    for (let s = 0; s < 3; s++) {
      expect(await io.alt()).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ);
      await writeBlock(io, data.subarray(s * 512, (s + 1) * 512));
      expect(line.at(-1)).toBe(true); // after each block, and at the end
      await io.rd(ATA_REG.STATUS);
    }
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    // 7 task-file writes, 3 x (1 + 256 + 1) accesses and a final status read: all exits.
    expect(io.exits() - before).toBe(7 + 3 * 258 + 1);
    await issue(io, ATA_CMD.FLUSH_CACHE);
    expect(flushes()).toBe(1);
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    await issue(io, ATA_CMD.READ_SECTORS, 1000, 3);
    const got = new Uint8Array(3 * 512);
    for (let s = 0; s < 3; s++) {
      expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ);
      got.set(await readBlock(io), s * 512);
    }
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    expect(got).toEqual(data);
    expect(readFileSync(path).subarray(1000 * 512, 1003 * 512).equals(data)).toBe(true);
    expect(ata.stats).toMatchObject({ sectorsRead: 3, sectorsWritten: 3, flushes: 1, aborted: 0 });
  });

  it('reads 256 sectors for a sector count of 0, with 32-bit data accesses as two words', async () => {
    const { io, model } = rig(false, Uint8Array.from({ length: SECTORS * 512 }, (_, i) => (i >> 9) & 0xff));
    await issue(io, ATA_CMD.READ_SECTORS, 0, 0);
    for (let s = 0; s < 256; s++) {
      const v = await model.handle({ addr: BASE, size: 4, dir: 'read', data: 0, count: 1 });
      expect(v).toBe(((s & 0xff) * 0x01010101) >>> 0);
      for (let i = 1; i < 128; i++) await model.handle({ addr: BASE, size: 4, dir: 'read', data: 0, count: 1 });
    }
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
  });

  it('aborts unknown commands, CHS addresses, bad SET FEATURES and writes to a read-only image; IDNF past the end', async () => {
    const image = new Uint8Array(SECTORS * 512).fill(0x77);
    const { io, path } = rig(true, image);
    const expectErr = async (err: number) => {
      expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.ERR);
      expect(await io.rd(ATA_REG.ERROR)).toBe(err);
    };
    await issue(io, 0x55);
    await expectErr(ATA_ERROR.ABRT);
    await issue(io, ATA_CMD.WRITE_SECTORS, 0, 1);
    await expectErr(ATA_ERROR.ABRT);
    await issue(io, ATA_CMD.READ_SECTORS, SECTORS - 1, 2);
    await expectErr(ATA_ERROR.IDNF);
    await issue(io, ATA_CMD.SET_FEATURES, 0, 0x45, 0x03); // UDMA mode 5: not offered
    await expectErr(ATA_ERROR.ABRT);
    await issue(io, ATA_CMD.SET_FEATURES, 0, 0x0c, 0x03); // PIO 4
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    await io.wr(ATA_REG.DEVICE, ATA_DEV.OBS); // no LBA bit: CHS
    await io.wr(ATA_REG.COMMAND, ATA_CMD.READ_SECTORS);
    await expectErr(ATA_ERROR.ABRT);
    expect(readFileSync(path).equals(image)).toBe(true);
  });

  it('masks its line with nIEN, and with device 1 (absent) selected reads status 0 and ignores commands', async () => {
    const { io, line, ata } = rig();
    await io.ctl(ATA_DEVCTL.NIEN);
    await issue(io, ATA_CMD.FLUSH_CACHE);
    expect(line).toEqual([]);
    await io.ctl(0);
    expect(line).toEqual([true]); // INTRQ was pending
    await io.rd(ATA_REG.STATUS);
    await io.wr(ATA_REG.DEVICE, ATA_DEV.OBS | ATA_DEV.DEV1);
    expect(await io.rd(ATA_REG.STATUS)).toBe(0);
    expect(await io.alt()).toBe(0);
    const n = ata.stats.commands;
    await io.wr(ATA_REG.COMMAND, ATA_CMD.IDENTIFY_DEVICE);
    expect(ata.stats.commands).toBe(n);
  });

  it('software reset ends a transfer and restores the signature', async () => {
    const { io } = rig();
    await issue(io, ATA_CMD.READ_SECTORS, 0, 4);
    await io.data();
    await io.ctl(ATA_DEVCTL.SRST);
    expect(await io.alt()).toBe(ATA_STATUS.BSY);
    await io.wr(ATA_REG.COMMAND, ATA_CMD.IDENTIFY_DEVICE); // ignored while in reset
    await io.ctl(0);
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC);
    expect([await io.rd(ATA_REG.NSECT), await io.rd(ATA_REG.LBAL), await io.rd(ATA_REG.ERROR)]).toEqual([1, 1, 1]);
  });

  it('a command in the middle of a transfer, or data without DRQ, gives ERR/ABRT', async () => {
    const { io, ata } = rig();
    await issue(io, ATA_CMD.READ_SECTORS, 0, 2);
    await io.data();
    await io.wr(ATA_REG.COMMAND, ATA_CMD.FLUSH_CACHE);
    expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.ERR);
    expect(await io.rd(ATA_REG.ERROR)).toBe(ATA_ERROR.ABRT);
    expect(await io.data()).toBe(0xffff);
    expect(await io.rd(ATA_REG.STATUS) & ATA_STATUS.ERR).toBe(ATA_STATUS.ERR);
    expect(ata.stats.orderErrors).toBe(2);
  });

  it('survives random register accesses in any order: ERR always comes with ABRT or IDNF, and a reset recovers', async () => {
    const access = fc.record({
      off: fc.oneof(fc.integer({ min: 0, max: 9 }).map((r) => r << ATA_REG_SHIFT), fc.integer({ min: 0, max: 0xfff })),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const),
      write: fc.boolean(),
      value: fc.oneof(fc.constantFrom(...Object.values(ATA_CMD), 0x00, 0x04, 0x02, 0x40, 0x50, 0xe0), fc.integer({ min: 0, max: 0xffff_ffff })),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(access, { maxLength: 300 }), async (ops) => {
        const { io, model, ata } = rig();
        for (const op of ops) {
          const addr = BASE + op.off;
          if (op.write) await model.handle({ addr, size: op.size, dir: 'write', data: op.value, count: 1 });
          else await model.handle({ addr, size: op.size, dir: 'read', data: 0, count: 1 });
          const st = await io.alt();
          if (st & ATA_STATUS.ERR && !(st & ATA_STATUS.BSY)) expect((await io.rd(ATA_REG.ERROR)) & (ATA_ERROR.ABRT | ATA_ERROR.IDNF)).not.toBe(0);
        }
        expect(model.stats.failed).toBe(0);
        // Recovery as libata's softreset: SRST, release, select device 0, then IDENTIFY.
        await io.ctl(ATA_DEVCTL.SRST);
        await io.ctl(0);
        await io.wr(ATA_REG.DEVICE, ATA_DEV.OBS);
        await io.wr(ATA_REG.COMMAND, ATA_CMD.IDENTIFY_DEVICE);
        expect(await io.rd(ATA_REG.STATUS)).toBe(ATA_STATUS.DRDY | ATA_STATUS.DSC | ATA_STATUS.DRQ);
        const id = await readBlock(io);
        expect(id[510]).toBe(0xa5);
        ata.store.close();
      }),
      { numRuns: 60 },
    );
  });
});

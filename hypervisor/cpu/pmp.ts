// Physical memory protection (privileged spec 20211203, section 3.7) for one hart.
//
// Choices (docs/run-bare.md, "PMP and triggers"):
//   * 0 to 16 entries (Hart option pmpEntries): pmpcfg0-3 and pmpaddr0-15 hold them;
//     bytes and pmpaddr registers of unimplemented entries, pmpcfg4-15 and pmpaddr16-63
//     read as zero and ignore writes.
//   * Granularity G = 0 (4 bytes): every pmpaddr bit is writable and NA4 is available.
//     QEMU 7.2 makes the same choice, so the same programs pass on both.
//   * pmpcfg bits 6:5 are reserved and read as zero.
//   * R=0 W=1 is reserved (without Smepmp): a write of that combination to an entry's
//     byte is ignored, the entry keeps its previous configuration (WARL).
//   * Addresses are 34-bit physical addresses (pmpaddr holds bits 33:2), matching Sv32.
//
// Verdicts. `check` evaluates one access of `len` bytes. `pageVerdict` evaluates a whole
// 4 KiB frame at once for the TLB: if the first entry that touches the frame covers all
// of it, every access inside the frame gets that entry's verdict (lower-numbered entries
// do not touch it); otherwise the frame is MIXED and each access must be checked.

/** Kind of access, numbered as mmu.ts numbers them (0 read, 1 write, 2 execute); declared
 * here so that pmp.ts does not import the MMU that uses it. */
export type PmpAccess = 0 | 1 | 2;

export const PMP_MAX_ENTRIES = 16;

export const PMPCFG_R = 0x01;
export const PMPCFG_W = 0x02;
export const PMPCFG_X = 0x04;
export const PMPCFG_A = 0x18;
export const PMPCFG_L = 0x80;
export const PMP_A_OFF = 0;
export const PMP_A_TOR = 1;
export const PMP_A_NA4 = 2;
export const PMP_A_NAPOT = 3;
/** Implemented pmpcfg bits (6:5 are reserved, read-only zero). */
const PMPCFG_WMASK = PMPCFG_R | PMPCFG_W | PMPCFG_X | PMPCFG_A | PMPCFG_L;

export const PMP_ALLOW = 1;
export const PMP_DENY = 0;
export const PMP_MIXED = -1;
export type PmpVerdict = typeof PMP_ALLOW | typeof PMP_DENY | typeof PMP_MIXED;

const PRIV_M = 3;
const FRAME = 4096;

/** Permission bit an access of each kind needs (index = Access: read, write, execute). */
const NEED: readonly number[] = [PMPCFG_R, PMPCFG_W, PMPCFG_X];

export class Pmp {
  /** Number of implemented entries (0..16). */
  readonly entries: number;
  /** pmpNcfg bytes. */
  readonly cfg = new Uint8Array(PMP_MAX_ENTRIES);
  /** pmpaddrN registers (physical address bits 33:2). */
  readonly addr = new Uint32Array(PMP_MAX_ENTRIES);
  /** Decoded range [lo[i], hi[i]) of each entry, in bytes; lo >= hi for entries matching nothing. */
  private readonly lo = new Float64Array(PMP_MAX_ENTRIES);
  private readonly hi = new Float64Array(PMP_MAX_ENTRIES);
  /** Indices of entries with A != OFF, in priority order. */
  private active: number[] = [];

  constructor(entries: number) {
    if (!Number.isInteger(entries) || entries < 0 || entries > PMP_MAX_ENTRIES) {
      throw new RangeError(`pmpEntries must be an integer in 0..${PMP_MAX_ENTRIES}, got ${entries}`);
    }
    this.entries = entries;
  }

  /** pmpcfgN (N = 0..15; on RV32 each holds four entries' bytes). */
  readCfgCsr(n: number): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const i = n * 4 + k;
      if (i < this.entries) v |= this.cfg[i]! << (8 * k);
    }
    return v >>> 0;
  }

  /** Writes pmpcfgN; returns true if anything changed. */
  writeCfgCsr(n: number, v: number): boolean {
    let changed = false;
    for (let k = 0; k < 4; k++) {
      const i = n * 4 + k;
      if (i >= this.entries) break;
      const old = this.cfg[i]!;
      if ((old & PMPCFG_L) !== 0) continue; // locked until reset
      const b = (v >>> (8 * k)) & PMPCFG_WMASK;
      if ((b & (PMPCFG_R | PMPCFG_W)) === PMPCFG_W) continue; // reserved R=0 W=1: keep the old value
      if (b !== old) {
        this.cfg[i] = b;
        changed = true;
      }
    }
    if (changed) this.decode();
    return changed;
  }

  readAddrCsr(i: number): number {
    return i < this.entries ? this.addr[i]! : 0;
  }

  /** Writes pmpaddrI; returns true if it changed. */
  writeAddrCsr(i: number, v: number): boolean {
    if (i >= this.entries || this.addrLocked(i)) return false;
    const nv = v >>> 0;
    if (nv === this.addr[i]) return false;
    this.addr[i] = nv;
    this.decode();
    return true;
  }

  /** pmpaddrI ignores writes when entry I is locked, or entry I+1 is a locked TOR entry. */
  addrLocked(i: number): boolean {
    if ((this.cfg[i]! & PMPCFG_L) !== 0) return true;
    if (i + 1 < this.entries) {
      const next = this.cfg[i + 1]!;
      if ((next & PMPCFG_L) !== 0 && ((next & PMPCFG_A) >>> 3) === PMP_A_TOR) return true;
    }
    return false;
  }

  /** Range of entry i in bytes, [lo, hi); empty when lo >= hi. */
  range(i: number): { lo: number; hi: number } {
    return { lo: this.lo[i]!, hi: this.hi[i]! };
  }

  private decode(): void {
    const active: number[] = [];
    for (let i = 0; i < this.entries; i++) {
      const a = (this.cfg[i]! & PMPCFG_A) >>> 3;
      const addr = this.addr[i]!;
      let lo = 0;
      let hi = 0;
      if (a === PMP_A_TOR) {
        lo = i === 0 ? 0 : this.addr[i - 1]! * 4;
        hi = addr * 4;
      } else if (a === PMP_A_NA4) {
        lo = addr * 4;
        hi = lo + 4;
      } else if (a === PMP_A_NAPOT) {
        // t trailing ones: a 2^(t+3)-byte region; all 32 bits set covers 2^35 bytes.
        let t = 0;
        while (t < 32 && ((addr >>> t) & 1) === 1) t++;
        const size = 2 ** (t + 3);
        lo = t >= 32 ? 0 : (addr - (2 ** t - 1)) * 4;
        hi = lo + size;
      }
      this.lo[i] = lo;
      this.hi[i] = hi;
      if (a !== PMP_A_OFF) active.push(i);
    }
    this.active = active;
  }

  /**
   * Whether an access of kind `acc` from privilege `priv` (the effective one: MPRV for
   * data, S for page-table walks) to the bytes [pa, pa + len) is allowed.
   */
  check(pa: number, len: number, acc: PmpAccess, priv: number): boolean {
    if (this.entries === 0) return true;
    const end = pa + len;
    for (const i of this.active) {
      const lo = this.lo[i]!;
      const hi = this.hi[i]!;
      if (lo >= end || hi <= pa || lo >= hi) continue; // no byte in this entry
      if (lo > pa || hi < end) return false; // only part of the access matches
      return this.permits(i, acc, priv);
    }
    return priv === PRIV_M;
  }

  /** The verdict for every access of kind `acc` from `priv` inside frame `pfn`. */
  pageVerdict(pfn: number, acc: PmpAccess, priv: number): PmpVerdict {
    if (this.entries === 0) return PMP_ALLOW;
    const pa = pfn * FRAME;
    const end = pa + FRAME;
    for (const i of this.active) {
      const lo = this.lo[i]!;
      const hi = this.hi[i]!;
      if (lo >= end || hi <= pa || lo >= hi) continue;
      if (lo > pa || hi < end) return PMP_MIXED;
      return this.permits(i, acc, priv) ? PMP_ALLOW : PMP_DENY;
    }
    return priv === PRIV_M ? PMP_ALLOW : PMP_DENY;
  }

  private permits(i: number, acc: PmpAccess, priv: number): boolean {
    const c = this.cfg[i]!;
    if (priv === PRIV_M && (c & PMPCFG_L) === 0) return true;
    return (c & NEED[acc]!) !== 0;
  }
}

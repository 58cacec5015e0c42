// Debug triggers (RISC-V debug specification 1.0, chapter "Sdtrig") for one hart: the
// Trigger Module CSRs and address/data match triggers of type 2 (mcontrol) whose only
// action is 0, a breakpoint exception. There is no Debug Mode.
//
// Choices (docs/run-bare.md, "PMP and triggers"):
//   * N triggers (Hart option `triggers`), every one of type 2 only; tinfo says so
//     (version 1 = ratified 1.0, info = 1 << 2). tdata3 (textra32) is read-only zero:
//     no extra match conditions. tcontrol, mcontext and scontext (optional) do not exist here.
//   * tselect is WARL 0..N-1: a larger value leaves it unchanged.
//   * tdata1 is WARL: dmode is 0, action is 0, timing is 0 (every trigger fires before
//     the instruction retires; xepc = the instruction), maskmax reads 31 (NAPOT ranges up
//     to 2^31 bytes). A reserved match value becomes 0 (equal). Writing any type other
//     than 2 (including 0) leaves a disabled mcontrol trigger (type 2, no mode or access
//     bits); tdata2 keeps its value. The last trigger's chain bit is read-only zero.
//   * Re-entrancy (Sdtrig "Native Triggers", first solution): triggers do not match in
//     M-mode while mstatus.MIE = 0, nor in S-mode while medeleg[3] = 1 and sstatus.SIE = 0.
//   * The mode bits (m, s, u) compare with the mode the hart executes in (MPRV does not
//     change it). With the H extension, mcontrol's s means S/HS and u means U at V=0 only:
//     type 2 has no vs/vu bits (mcontrol6 has them), so it never fires in VS or VU. Address compare values are every byte address of the access;
//     data compare values are the value zero-extended from the access size.
//   * LR and the read of an AMO are loads; SC (whether it succeeds or not) and the write
//     of an AMO are stores; AMO store data is the value written.
//   * tval of the breakpoint = the virtual address of the access (the pc for execute).
//
// Evaluation happens in two phases so that priorities follow the specification's table:
// chains made of address triggers only are evaluated before the access is translated
// (PHASE_ADDR); chains with a data trigger once the data is known (PHASE_DATA: after the
// fetch or load, before the store).

export const CSR_TSELECT = 0x7a0;
export const CSR_TDATA1 = 0x7a1;
export const CSR_TDATA2 = 0x7a2;
export const CSR_TDATA3 = 0x7a3;
export const CSR_TINFO = 0x7a4;

export const TRIGGER_MAX = 16;

// mcontrol (tdata1 with type = 2) fields, RV32.
export const MCONTROL_TYPE_SHIFT = 28;
export const MCONTROL_DMODE = 1 << 27;
export const MCONTROL_MASKMAX_SHIFT = 21;
export const MCONTROL_HIT = 1 << 20;
export const MCONTROL_SELECT = 1 << 19;
export const MCONTROL_TIMING = 1 << 18;
export const MCONTROL_SIZELO_SHIFT = 16;
export const MCONTROL_ACTION_SHIFT = 12;
export const MCONTROL_CHAIN = 1 << 11;
export const MCONTROL_MATCH_SHIFT = 7;
export const MCONTROL_M = 1 << 6;
export const MCONTROL_S = 1 << 4;
export const MCONTROL_U = 1 << 3;
export const MCONTROL_EXECUTE = 1 << 2;
export const MCONTROL_STORE = 1 << 1;
export const MCONTROL_LOAD = 1 << 0;

export const TRIGGER_TYPE_MCONTROL = 2;
export const MASKMAX = 31;
/** tdata1 of a disabled trigger (also its reset value). */
export const MCONTROL_DISABLED = ((TRIGGER_TYPE_MCONTROL << MCONTROL_TYPE_SHIFT) | (MASKMAX << MCONTROL_MASKMAX_SHIFT)) >>> 0;
/** tinfo: version 1 (ratified Sdtrig 1.0), supports type 2 only. */
export const TINFO_VALUE = ((1 << 24) | (1 << TRIGGER_TYPE_MCONTROL)) >>> 0;

/** Writable mcontrol bits (type, dmode, maskmax, timing and action are fixed). */
const MCONTROL_WMASK =
  MCONTROL_HIT | MCONTROL_SELECT | (3 << MCONTROL_SIZELO_SHIFT) | MCONTROL_CHAIN |
  (15 << MCONTROL_MATCH_SHIFT) | MCONTROL_M | MCONTROL_S | MCONTROL_U |
  MCONTROL_EXECUTE | MCONTROL_STORE | MCONTROL_LOAD;

/** Kinds of event a trigger watches (the mcontrol bits). */
export const TRIG_LOAD = MCONTROL_LOAD;
export const TRIG_STORE = MCONTROL_STORE;
export const TRIG_EXEC = MCONTROL_EXECUTE;
export type TriggerKind = typeof TRIG_LOAD | typeof TRIG_STORE | typeof TRIG_EXEC;

export const PHASE_ADDR = 1;
export const PHASE_DATA = 2;
export const PHASE_ALL = 3;
export type TriggerPhase = typeof PHASE_ADDR | typeof PHASE_DATA | typeof PHASE_ALL;

const PRIV_U = 0;
const PRIV_S = 1;
const PRIV_M = 3;
const MSTATUS_SIE = 1 << 1;
const MSTATUS_MIE = 1 << 3;
const CAUSE_BREAKPOINT = 3;

/** Match values the hardware keeps (others are reserved and become 0). */
const MATCH_LEGAL = new Set([0, 1, 2, 3, 4, 5, 8, 9, 12, 13]);

export class Triggers {
  readonly count: number;
  tselect = 0;
  readonly tdata1: Uint32Array;
  readonly tdata2: Uint32Array;
  /** OR of the kind bits (TRIG_*) of triggers enabled in some mode: which accesses must be watched. */
  armed = 0;

  constructor(count: number) {
    if (!Number.isInteger(count) || count < 0 || count > TRIGGER_MAX) {
      throw new RangeError(`triggers must be an integer in 0..${TRIGGER_MAX}, got ${count}`);
    }
    this.count = count;
    this.tdata1 = new Uint32Array(count).fill(MCONTROL_DISABLED);
    this.tdata2 = new Uint32Array(count);
  }

  static isTriggerCsr(csr: number): boolean {
    return csr >= CSR_TSELECT && csr <= CSR_TINFO;
  }

  readCsr(csr: number): number {
    switch (csr) {
      case CSR_TSELECT: return this.tselect;
      case CSR_TDATA1: return this.tdata1[this.tselect]!;
      case CSR_TDATA2: return this.tdata2[this.tselect]!;
      case CSR_TINFO: return TINFO_VALUE;
      default: return 0; // tdata3
    }
  }

  /** Writes a trigger CSR (WARL). Returns true if what is watched may have changed. */
  writeCsr(csr: number, v: number): boolean {
    switch (csr) {
      case CSR_TSELECT:
        if (v >>> 0 < this.count) this.tselect = v >>> 0;
        return false;
      case CSR_TDATA1:
        this.tdata1[this.tselect] = this.legalize(this.tselect, v);
        this.rearm();
        return true;
      case CSR_TDATA2:
        this.tdata2[this.tselect] = v >>> 0;
        return true;
      default:
        return false; // tdata3, tinfo: read-only
    }
  }

  private legalize(i: number, v: number): number {
    if (v >>> MCONTROL_TYPE_SHIFT !== TRIGGER_TYPE_MCONTROL) return MCONTROL_DISABLED;
    let n = v & MCONTROL_WMASK;
    const match = (n >>> MCONTROL_MATCH_SHIFT) & 15;
    if (!MATCH_LEGAL.has(match)) n &= ~(15 << MCONTROL_MATCH_SHIFT);
    if (i === this.count - 1) n &= ~MCONTROL_CHAIN;
    return (MCONTROL_DISABLED | n) >>> 0;
  }

  private rearm(): void {
    let armed = 0;
    for (const t of this.tdata1) {
      if ((t & (MCONTROL_M | MCONTROL_S | MCONTROL_U)) !== 0) armed |= t & (TRIG_LOAD | TRIG_STORE | TRIG_EXEC);
    }
    this.armed = armed;
  }

  /**
   * Evaluates the chains for one event: an access of kind `kind` by the hart in mode
   * `priv` at virtual address `va`, `size` bytes, with `data` (the value loaded or
   * stored, or the instruction; ignored in PHASE_ADDR). Returns true if a chain fires;
   * its triggers' hit bits are then set. `mstatus`/`medeleg` decide re-entrancy.
   */
  fires(kind: TriggerKind, va: number, size: number, data: number, phase: TriggerPhase,
    priv: number, mstatus: number, medeleg: number, virt = false): boolean {
    if ((this.armed & kind) === 0 || virt) return false;
    if (priv === PRIV_M && (mstatus & MSTATUS_MIE) === 0) return false;
    if (priv === PRIV_S && ((medeleg >>> CAUSE_BREAKPOINT) & 1) !== 0 && (mstatus & MSTATUS_SIE) === 0) return false;
    const modeBit = priv === PRIV_M ? MCONTROL_M : priv === PRIV_S ? MCONTROL_S : priv === PRIV_U ? MCONTROL_U : 0;
    let start = 0;
    while (start < this.count) {
      let end = start;
      while (end < this.count - 1 && (this.tdata1[end]! & MCONTROL_CHAIN) !== 0) end++;
      let hasData = false;
      let all = true;
      for (let i = start; i <= end; i++) {
        const t = this.tdata1[i]!;
        if ((t & MCONTROL_SELECT) !== 0) hasData = true;
      }
      const inPhase = hasData ? (phase & PHASE_DATA) !== 0 : (phase & PHASE_ADDR) !== 0;
      if (inPhase) {
        for (let i = start; i <= end && all; i++) {
          all = this.matches(i, kind, modeBit, va, size, data);
        }
        if (all) {
          for (let i = start; i <= end; i++) this.tdata1[i] = (this.tdata1[i]! | MCONTROL_HIT) >>> 0;
          return true;
        }
      }
      start = end + 1;
    }
    return false;
  }

  /** Whether trigger i alone matches the event. */
  matches(i: number, kind: TriggerKind, modeBit: number, va: number, size: number, data: number): boolean {
    const t = this.tdata1[i]!;
    if ((t & kind) === 0 || (t & modeBit) === 0) return false;
    const sizelo = (t >>> MCONTROL_SIZELO_SHIFT) & 3;
    if (sizelo !== 0 && 1 << (sizelo - 1) !== size) return false;
    const match = (t >>> MCONTROL_MATCH_SHIFT) & 15;
    const t2 = this.tdata2[i]!;
    let hit: boolean;
    if ((t & MCONTROL_SELECT) !== 0) {
      // Data: one compare value; only the low 8*size bits of it and of tdata2 count.
      const mask = size >= 4 ? 0xffffffff : (1 << (8 * size)) - 1;
      hit = compare(match & 7, (data & mask) >>> 0, (t2 & mask) >>> 0);
    } else {
      hit = false;
      for (let k = 0; k < size && !hit; k++) hit = compare(match & 7, (va + k) >>> 0, t2);
    }
    return (match & 8) !== 0 ? !hit : hit;
  }
}

/** One compare value `cv` against tdata2 for the positive match kinds 0-5. */
export function compare(match: number, cv: number, t2: number): boolean {
  switch (match) {
    case 0: return cv === t2;
    case 1: {
      // NAPOT: the bits above tdata2's lowest 0 bit must be equal.
      let t = 0;
      while (t < 32 && ((t2 >>> t) & 1) === 1) t++;
      if (t >= 31) return true;
      const keep = (~0 << (t + 1)) >>> 0;
      return ((cv & keep) >>> 0) === ((t2 & keep) >>> 0);
    }
    case 2: return cv >= t2;
    case 3: return cv < t2;
    case 4: return ((cv & 0xffff) & (t2 >>> 16)) === (t2 & 0xffff);
    default: return ((cv >>> 16) & (t2 >>> 16)) === (t2 & 0xffff); // 5
  }
}

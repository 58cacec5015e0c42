// A bare RV32 machine for `pvsim run-bare`: RAM at 0x80000000, an NS16550A UART at 0x10000000,
// a CLINT at 0x02000000, and the riscv-tests HTIF convention on the ELF's `tohost` symbol.
// Time is derived from retired instructions (1 ns each), so every run is identical.

import { createEngine, Hart, PRIV_M, type EngineKind } from '../cpu/index.ts';
import { ExitReason } from '../cpu/engine.ts';
import { PhysMemory } from '../cpu/memory.ts';
import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { Ns16550, NS16550_SIZE } from '../devices/ns16550.ts';
import { Clint, CLINT_SIZE } from '../devices/clint.ts';
import { ElfError, parseElf } from '../../xenguest/elf.ts';

export const BARE_RAM_BASE = 0x8000_0000;
export const BARE_UART_BASE = 0x1000_0000;
export const BARE_CLINT_BASE = 0x0200_0000;
export const BARE_PMP_ENTRIES = 16;
export const BARE_TRIGGERS = 4;

export interface BareOptions {
  ramBytes?: number;
  maxInstructions?: number;
  /** Give the hart the H extension (misa.H), as QEMU's `-cpu rv32,h=true`. Default false. */
  hExt?: boolean;
  /** Receives every byte the program writes to the UART or the HTIF console. */
  onOutput?: (byte: number) => void;
  /** Before each slice (at most a million instructions): the instructions run so far (`pvsim run-bare`'s progress). */
  onProgress?: (instructions: number) => void;
  /** The engine (`--cpu`); default DEFAULT_ENGINE. */
  cpu?: EngineKind;
  /**
   * Called after every slice with the hart and the engine's exit reason (the differential
   * tests compare both engines slice by slice). Observes only.
   */
  onSlice?: (hart: Hart, mem: PhysMemory, why: ExitReason) => void;
  /**
   * Before each slice: an upper bound on its budget (at least 1; the timer deadline and
   * `maxInstructions` still bound it). The differential tests vary it so that budgets end
   * inside translated blocks and loops. Default 1,000,000.
   */
  sliceCap?: () => number;
}

export type BareOutcome =
  | { kind: 'pass' }
  | { kind: 'fail'; testNumber: number; tohost: bigint }
  | { kind: 'timeout' }
  /** WFI with no interrupt that could ever wake the hart. */
  | { kind: 'stuck'; pc: number };

export interface BareResult {
  outcome: BareOutcome;
  instructions: number;
  hasTohost: boolean;
}

const HTIF_DEV_CONSOLE = 1n;
const HTIF_CMD_PUTCHAR = 1n;

/** Loads `elf` and runs it to completion. Throws ElfError for a bad image. */
export function runBare(elf: Uint8Array, opts: BareOptions = {}): BareResult {
  const ramBytes = opts.ramBytes ?? 64 * 1024 * 1024;
  const maxInstructions = opts.maxInstructions ?? 1_000_000_000;
  const out = opts.onOutput ?? (() => {});
  const img = parseElf(elf);

  const mem = new PhysMemory();
  mem.addRam(BARE_RAM_BASE, ramBytes);
  const ramEnd = BARE_RAM_BASE + ramBytes;
  for (const s of img.segments) {
    if (s.memsz === 0) continue;
    if (s.paddr < BARE_RAM_BASE || s.paddr + s.memsz > ramEnd) {
      throw new ElfError(
        `segment at 0x${s.paddr.toString(16)} (+0x${s.memsz.toString(16)}) lies outside RAM ` +
          `[0x${BARE_RAM_BASE.toString(16)}, 0x${ramEnd.toString(16)})`,
      );
    }
    mem.writeBytes(s.paddr, s.data);
  }

  // A full hart for conformance programs: 16 PMP entries and 4 debug triggers (the
  // hypervisor's harts have neither; see docs/run-bare.md).
  const hart = new Hart(mem, { hartId: 0, pmpEntries: BARE_PMP_ENTRIES, triggers: BARE_TRIGGERS, hExt: opts.hExt ?? false });
  let timeOffset = 0;
  // Time follows instructions retired by this machine (not minstret, which software may
  // write): `executed` before the current slice plus progress within it.
  let executed = 0;
  let sliceBefore = 0;
  hart.timeSource = () => executed + Math.max(0, hart.instret - sliceBefore) + timeOffset;
  // Output only: a bare program's console is stdout (no input, no interrupt line).
  const uart = new Ns16550({ tx: out, rx: () => -1, rxReady: () => false, irq: () => {} });
  const clint = new Clint(hart, () => hart.timeSource());
  mem.addMmio(BARE_UART_BASE, NS16550_SIZE, uart);
  mem.addMmio(BARE_CLINT_BASE, CLINT_SIZE, clint);

  const tohostSym = img.symbols.get('tohost');
  const fromhostSym = img.symbols.get('fromhost');
  const state: { outcome: BareOutcome | null } = { outcome: null };
  if (tohostSym) {
    const tohost = tohostSym.value;
    const fromhost = fromhostSym?.value;
    if (!mem.isBacked(tohost, 8)) throw new ElfError(`tohost symbol at 0x${tohost.toString(16)} is outside RAM`);
    for (let p = Math.floor(tohost / PAGE_SIZE); p <= Math.floor((tohost + 7) / PAGE_SIZE); p++) mem.setWatched(p, true);
    mem.onStore = (pa, size) => {
      if (pa + size <= tohost || pa >= tohost + 8) return false;
      const lo = mem.read32(tohost);
      const hi = mem.read32(tohost + 4);
      // RV32 writes tohost as two words, low first: an odd low word is an exit code by
      // itself; a device command is complete once the high word is written.
      if (lo & 1) {
        const value = (BigInt(hi) << 32n) | BigInt(lo);
        state.outcome = value === 1n ? { kind: 'pass' } : { kind: 'fail', testNumber: Number(value >> 1n), tohost: value };
        return true;
      }
      const touchedHigh = pa + size > tohost + 4;
      if (!touchedHigh || (lo === 0 && hi === 0)) return false;
      const value = (BigInt(hi) << 32n) | BigInt(lo);
      const dev = value >> 56n;
      const cmd = (value >> 48n) & 0xffn;
      if (dev === HTIF_DEV_CONSOLE && cmd === HTIF_CMD_PUTCHAR) out(Number(value & 0xffn));
      mem.write32(tohost, 0);
      mem.write32(tohost + 4, 0);
      if (fromhost !== undefined && mem.isBacked(fromhost, 8)) {
        mem.write32(fromhost, 1);
        mem.write32(fromhost + 4, Number((dev << 24n) | (cmd << 16n)));
      }
      return false;
    };
  }

  hart.pc = img.entry >>> 0;
  hart.priv = PRIV_M;
  const engine = createEngine(opts.cpu);
  while (state.outcome === null) {
    const remaining = maxInstructions - executed;
    if (remaining <= 0) {
      state.outcome = { kind: 'timeout' };
      break;
    }
    opts.onProgress?.(executed);
    // End each slice at the next timer deadline so MTIP is raised on the exact instruction.
    const untilTimer = clint.mtimecmp - hart.timeSource();
    const asked = opts.sliceCap ? Math.floor(opts.sliceCap()) : 1_000_000;
    const cap = asked >= 1 ? Math.min(asked, 1_000_000) : 1; // NaN too
    const budget = Math.max(1, Math.min(remaining, cap, untilTimer > 0 ? untilTimer : 1_000_000));
    const before = hart.retired;
    sliceBefore = hart.instret;
    const why = engine.run(hart, budget);
    // At least one per slice, so that even a wfi that makes no progress ends the run.
    executed += Math.max(1, hart.retired - before);
    sliceBefore = hart.instret;
    opts.onSlice?.(hart, mem, why);
    clint.update();
    if (why === ExitReason.Wfi && state.outcome === null) {
      const now = hart.timeSource();
      const mie = hart.readCsr(0x304);
      if ((mie & (1 << 7)) !== 0 && clint.mtimecmp > now && clint.mtimecmp !== Number.MAX_SAFE_INTEGER) {
        timeOffset += clint.mtimecmp - now; // sleep until the timer fires
        clint.update();
      } else if ((hart.readCsr(0x344) & mie) === 0) {
        state.outcome = { kind: 'stuck', pc: hart.pc };
      }
    }
  }
  return { outcome: state.outcome, instructions: executed, hasTohost: tohostSym !== undefined };
}

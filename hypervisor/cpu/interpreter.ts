// The reference engine: fetch, decode and execute one RV32IMA instruction at a time.
//
// Shape of run(): an outer loop re-derives everything that depends on hart context
// (pending interrupts, which TLB set to use, stop requests, memory generation) and an inner
// loop executes instructions with that context held in locals. Anything that may change the
// context (trap, xRET, CSR write with side effects, sfence.vma, device or watcher callbacks)
// completes its instruction and breaks out to the outer loop. Interrupts are therefore
// checked only at those points, never polled per instruction.
//
// Hot-path rules (style.md 12): registers stay in the hart's Int32Array, the pc and
// counters in locals, loads/stores hit the TLB's cached frame arrays directly, the current
// instruction page is cached so sequential fetch is one array read, and slow paths report
// faults through `mmu.exc` rather than exceptions. Decoded instructions are not cached, so
// self-modifying code needs nothing beyond the store itself.

import { CAUSE_BREAKPOINT, CAUSE_ILLEGAL_INSTRUCTION, CAUSE_INTERRUPT, CAUSE_MISALIGNED_FETCH } from './csr.ts';
import { ExitReason, type Engine } from './engine.ts';
import { PRIV_S, type Hart } from './hart.ts';
import { TLB_MASK, type TlbSet } from './mmu.ts';

const NO_PAGE: Int32Array = new Int32Array(1024);

/**
 * The block translator's hooks into this run loop (jit/index.ts; docs/jit.md). There is one
 * run loop: the translator is this interpreter with a block table. Blocks hold only
 * instructions that never leave the inner loop, so the outer loop runs at exactly the points
 * where it runs without them, and everything a block cannot do is this code's.
 */
export interface BlockTable {
  /** Every outer-loop pass (and so every run() entry): code may have been written since. */
  resync(): void;
  /**
   * At a fetch-page change (a frame that serves more than one instruction): makes `page`,
   * the frame holding virtual `pc`, the current code frame; false when no block may run from it.
   */
  enterFrame(hart: Hart, page: Int32Array, pc: number): boolean;
  /**
   * At `pc` in the current code frame with `left` instructions of budget, before the
   * interpreter executes it: the instructions a translated block retired (> 0; the next pc
   * is `nextPc`), 0 to interpret this instruction, -1 to ask again (a block was compiled).
   */
  dispatch(pc: number, left: number, dset: TlbSet): number;
  /** The pc after the last dispatch that retired instructions. */
  readonly nextPc: number;
}

export class Interpreter implements Engine {
  /** Null for the plain interpreter: then the inner loop's only cost is one null check. */
  protected readonly blocks: BlockTable | null;

  constructor(blocks: BlockTable | null = null) {
    this.blocks = blocks;
  }

  run(hart: Hart, budget: number): ExitReason {
    const blocks = this.blocks;
    const mem = hart.mem;
    const mmu = hart.mmu;
    const x = hart.x;
    if (mem.lastRunner !== hart) {
      if (mem.lastRunner !== null) mmu.resValid = false;
      mem.lastRunner = hart;
    }
    x[0] = 0;
    let left = budget;
    // instret = base + n, where n counts instructions retired in this call.
    let base = hart.instret;
    let n = 0;

    for (;;) {
      // ---- re-sync with hart context ----
      if (blocks !== null) blocks.resync();
      hart.resync = false;
      mmu.attention = false;
      if (hart.stopRequested) {
        hart.stopRequested = false;
        hart.instret = base + n;
        { hart.retired += n; return ExitReason.Stop; }
      }
      if (mem.generation !== mmu.gen) mmu.flushCache();
      else if (mem.watchGeneration !== mmu.wgen) mmu.rewatch();
      if (left <= 0) {
        hart.instret = base + n;
        { hart.retired += n; return ExitReason.Budget; }
      }
      const irq = hart.pendingInterrupt();
      if (irq >= 0) {
        hart.instret = base + n;
        if (hart.takeTrap(irq | CAUSE_INTERRUPT, 0)) { hart.retired += n; return ExitReason.HostTrap; }
        left--;
        continue;
      }

      let pc = hart.pc | 0;
      let exc = -1;
      let tval = 0;
      const dset = mmu.sets[hart.dataSet()]!;
      const rTag = dset.rTag, rWords = dset.rWords, rBytes = dset.rBytes;
      const wTag = dset.wTag, wWords = dset.wWords, wBytes = dset.wBytes;
      const priv = hart.priv;
      let fetchVpn = -1;
      let page = NO_PAGE;
      // Blocks may run from the current fetch page (only ever true with a block table).
      let translated = false;
      if ((pc & 3) !== 0) {
        exc = CAUSE_MISALIGNED_FETCH;
        tval = pc;
        left--;
      } else {
        inner: for (;;) {
          if (left <= 0) break;
          if (pc >>> 12 !== fetchVpn) {
            const p = mmu.fetchPage(pc >>> 0);
            if (p === null) {
              left--; // a failed fetch costs one instruction of budget
              exc = mmu.exc;
              tval = mmu.tval;
              break;
            }
            page = p;
            // A frame PMP splits, or any frame while an execute trigger is armed, serves
            // one instruction only: the next one is checked on the slow path again (and no
            // block runs from it).
            fetchVpn = mmu.fetchOnce ? -1 : pc >>> 12;
            if (blocks !== null) translated = !mmu.fetchOnce && blocks.enterFrame(hart, p, pc);
            if (mmu.attention) {
              // The walk's A-bit update reached a store watcher: honour a stop request or
              // interrupt before executing this instruction (it is refetched afterwards).
              break;
            }
          }
          if (translated) {
            const r = blocks!.dispatch(pc, left, dset);
            if (r !== 0) {
              if (r > 0) {
                n += r;
                left -= r;
                pc = blocks!.nextPc;
              }
              continue;
            }
          }
          left--;
          const inst = page[(pc >>> 2) & 0x3ff]!;
          const rd = (inst >>> 7) & 31;
          const rs1 = (inst >>> 15) & 31;
          let npc = (pc + 4) | 0;

          switch (inst & 0x7f) {
            case 0x13: { // OP-IMM
              const a = x[rs1]!;
              const imm = inst >> 20;
              let v: number;
              switch ((inst >>> 12) & 7) {
                case 0: v = (a + imm) | 0; break;
                case 1:
                  if (inst >>> 25 !== 0) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
                  v = a << (imm & 31);
                  break;
                case 2: v = a < imm ? 1 : 0; break;
                case 3: v = a >>> 0 < imm >>> 0 ? 1 : 0; break;
                case 4: v = a ^ imm; break;
                case 5: {
                  const f7 = inst >>> 25;
                  if (f7 === 0) v = (a >>> (imm & 31)) | 0;
                  else if (f7 === 0x20) v = a >> (imm & 31);
                  else { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
                  break;
                }
                case 6: v = a | imm; break;
                default: v = a & imm; break;
              }
              if (rd !== 0) x[rd] = v;
              break;
            }

            case 0x33: { // OP
              const a = x[rs1]!;
              const b = x[(inst >>> 20) & 31]!;
              let v: number;
              switch ((inst >>> 22) & 0x3f8 | (inst >>> 12) & 7) { // funct7 << 3 | funct3
                case 0x000: v = (a + b) | 0; break;
                case 0x100: v = (a - b) | 0; break;
                case 0x001: v = a << (b & 31); break;
                case 0x002: v = a < b ? 1 : 0; break;
                case 0x003: v = a >>> 0 < b >>> 0 ? 1 : 0; break;
                case 0x004: v = a ^ b; break;
                case 0x005: v = (a >>> (b & 31)) | 0; break;
                case 0x105: v = a >> (b & 31); break;
                case 0x006: v = a | b; break;
                case 0x007: v = a & b; break;
                case 0x008: v = Math.imul(a, b); break; // mul
                case 0x009: v = mulhu(a, b) - (a < 0 ? b : 0) - (b < 0 ? a : 0) | 0; break; // mulh
                case 0x00a: v = mulhu(a, b) - (a < 0 ? b : 0) | 0; break; // mulhsu
                case 0x00b: v = mulhu(a, b); break; // mulhu
                case 0x00c: // div
                  v = b === 0 ? -1 : a === -0x80000000 && b === -1 ? a : (a / b) | 0;
                  break;
                case 0x00d: // divu
                  v = b === 0 ? -1 : ((a >>> 0) / (b >>> 0)) | 0;
                  break;
                case 0x00e: // rem
                  v = b === 0 ? a : a % b | 0;
                  break;
                case 0x00f: // remu
                  v = b === 0 ? a : ((a >>> 0) % (b >>> 0)) | 0;
                  break;
                default: exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner;
              }
              if (rd !== 0) x[rd] = v;
              break;
            }

            case 0x03: { // LOAD
              const f3 = (inst >>> 12) & 7;
              const va = (x[rs1]! + (inst >> 20)) | 0;
              const vpn = va >>> 12;
              const ti = vpn & TLB_MASK;
              let v = 0;
              ld: {
                if (rTag[ti] === vpn) {
                  const off = va & 0xfff;
                  switch (f3) {
                    case 0: v = (rBytes[ti]![off]! << 24) >> 24; break ld;
                    case 4: v = rBytes[ti]![off]!; break ld;
                    case 2:
                      if ((off & 3) === 0) { v = rWords[ti]![off >>> 2]!; break ld; }
                      break;
                    case 1:
                      if ((off & 1) === 0) {
                        const bytes = rBytes[ti]!;
                        v = ((bytes[off]! | (bytes[off + 1]! << 8)) << 16) >> 16;
                        break ld;
                      }
                      break;
                    case 5:
                      if ((off & 1) === 0) {
                        const bytes = rBytes[ti]!;
                        v = bytes[off]! | (bytes[off + 1]! << 8);
                        break ld;
                      }
                      break;
                    default: exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner;
                  }
                }
                if (f3 === 3 || f3 > 5) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
                v = mmu.load(va, 1 << (f3 & 3));
                if (mmu.exc >= 0) { exc = mmu.exc; tval = mmu.tval; mmu.excInst = inst; break inner; }
                if (f3 === 0) v = (v << 24) >> 24;
                else if (f3 === 1) v = (v << 16) >> 16;
                if (mmu.attention) {
                  if (rd !== 0) x[rd] = v;
                  pc = npc; n++;
                  break inner;
                }
              }
              if (rd !== 0) x[rd] = v;
              break;
            }

            case 0x23: { // STORE
              const f3 = (inst >>> 12) & 7;
              const va = (x[rs1]! + (((inst >> 25) << 5) | rd)) | 0;
              const val = x[(inst >>> 20) & 31]!;
              const vpn = va >>> 12;
              const ti = vpn & TLB_MASK;
              st: {
                if (wTag[ti] === vpn) {
                  const off = va & 0xfff;
                  switch (f3) {
                    case 2:
                      if ((off & 3) === 0) { wWords[ti]![off >>> 2] = val; break st; }
                      break;
                    case 0: wBytes[ti]![off] = val; break st;
                    case 1:
                      if ((off & 1) === 0) {
                        const bytes = wBytes[ti]!;
                        bytes[off] = val;
                        bytes[off + 1] = val >> 8;
                        break st;
                      }
                      break;
                    default: exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner;
                  }
                }
                if (f3 > 2) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
                mmu.store(va, 1 << f3, val);
                if (mmu.exc >= 0) { exc = mmu.exc; tval = mmu.tval; mmu.excInst = inst; break inner; }
                if (mmu.attention) { pc = npc; n++; break inner; }
              }
              break;
            }

            case 0x63: { // BRANCH
              const a = x[rs1]!;
              const b = x[(inst >>> 20) & 31]!;
              let taken: boolean;
              switch ((inst >>> 12) & 7) {
                case 0: taken = a === b; break;
                case 1: taken = a !== b; break;
                case 4: taken = a < b; break;
                case 5: taken = a >= b; break;
                case 6: taken = a >>> 0 < b >>> 0; break;
                case 7: taken = a >>> 0 >= b >>> 0; break;
                default: exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner;
              }
              if (taken) {
                const imm = ((inst >> 31) << 12) | ((inst << 4) & 0x800) | ((inst >>> 20) & 0x7e0) | ((inst >>> 7) & 0x1e);
                const target = (pc + imm) | 0;
                if ((target & 3) !== 0) { exc = CAUSE_MISALIGNED_FETCH; tval = target; break inner; }
                npc = target;
              }
              break;
            }

            case 0x6f: { // JAL
              const imm = ((inst >> 31) << 20) | (inst & 0xff000) | ((inst >>> 9) & 0x800) | ((inst >>> 20) & 0x7fe);
              const target = (pc + imm) | 0;
              if ((target & 3) !== 0) { exc = CAUSE_MISALIGNED_FETCH; tval = target; break inner; }
              if (rd !== 0) x[rd] = npc;
              npc = target;
              if (target === pc && rd === 0) {
                // `j .`: a spin with no effect but time. Interrupts were checked on entry and
                // nothing inside the loop can raise one, so retiring the rest of the budget
                // at once is exact (and makes CPU-hog guests cheap to simulate).
                n += left;
                left = 0;
              }
              break;
            }

            case 0x67: { // JALR
              if (((inst >>> 12) & 7) !== 0) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
              const target = ((x[rs1]! + (inst >> 20)) & ~1) | 0;
              if ((target & 3) !== 0) { exc = CAUSE_MISALIGNED_FETCH; tval = target; break inner; }
              if (rd !== 0) x[rd] = npc;
              npc = target;
              break;
            }

            case 0x37: // LUI
              if (rd !== 0) x[rd] = inst & 0xfffff000;
              break;

            case 0x17: // AUIPC
              if (rd !== 0) x[rd] = (pc + (inst & 0xfffff000)) | 0;
              break;

            case 0x2f: { // AMO
              if (((inst >>> 12) & 7) !== 2) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
              const f5 = inst >>> 27;
              const rs2 = (inst >>> 20) & 31;
              const va = x[rs1]!;
              let v: number;
              if (f5 === 0x02) { // lr.w
                if (rs2 !== 0) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
                v = mmu.loadReserved(va);
              } else if (f5 === 0x03) { // sc.w
                v = mmu.storeConditional(va, x[rs2]!);
              } else if (
                f5 === 0x00 || f5 === 0x01 || f5 === 0x04 || f5 === 0x08 || f5 === 0x0c ||
                f5 === 0x10 || f5 === 0x14 || f5 === 0x18 || f5 === 0x1c
              ) {
                v = mmu.amo(va, f5, x[rs2]!);
              } else {
                exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner;
              }
              if (mmu.exc >= 0) { exc = mmu.exc; tval = mmu.tval; mmu.excInst = inst; break inner; }
              if (rd !== 0) x[rd] = v;
              if (mmu.attention) { pc = npc; n++; break inner; }
              break;
            }

            case 0x0f: { // MISC-MEM: fence, fence.i (nothing is cached that they would affect)
              const f3 = (inst >>> 12) & 7;
              if (f3 > 1) { exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner; }
              break;
            }

            case 0x73: { // SYSTEM
              const f3 = (inst >>> 12) & 7;
              if (f3 === 0) {
                switch (inst) {
                  case 0x00000073: // ecall (from VS-mode: cause 10)
                    exc = priv === PRIV_S && hart.virt ? 10 : 8 + priv; tval = 0; break inner;
                  case 0x00100073: // ebreak
                    exc = CAUSE_BREAKPOINT; tval = pc; break inner;
                  case 0x30200073: // mret
                  case 0x10200073: // sret
                    hart.pc = pc >>> 0;
                    // Current for the privilege accounting (notePriv): the xRET retires in the
                    // privilege it leaves (a denied one is rewound before its trap below).
                    hart.instret = base + n + 1;
                    {
                      const denied = inst === 0x30200073 ? hart.mret() : hart.sret();
                      if (denied !== 0) { exc = denied; tval = inst; break inner; }
                    }
                    pc = hart.pc | 0; n++;
                    break inner;
                  case 0x10500073: { // wfi
                    const denied = hart.wfiCheck();
                    if (denied !== 0) { exc = denied; tval = inst; break inner; }
                    if ((hart.mie & hart.mip) !== 0) break; // an enabled interrupt is pending: no wait
                    hart.pc = npc >>> 0;
                    hart.instret = base + n + 1;
                    { hart.retired += n + 1; return ExitReason.Wfi; }
                  }
                  default: {
                    let denied = CAUSE_ILLEGAL_INSTRUCTION;
                    const f7 = inst & 0xfe007fff;
                    if (f7 === 0x12000073) denied = hart.sfenceVma(rs1 !== 0, x[rs1]! >>> 0); // sfence.vma
                    else if (f7 === 0x22000073 || f7 === 0x62000073) denied = hart.hfence(f7 === 0x62000073); // hfence.vvma/gvma
                    if (denied !== 0) { exc = denied; tval = inst; break inner; }
                    pc = npc; n++;
                    break inner;
                  }
                }
                break;
              }
              if (f3 === 4) { // HLV, HLVX, HSV
                const r = hart.execHlsv(inst);
                if (r > 0) { exc = r; tval = inst; break inner; }
                if (r < 0) { exc = mmu.exc; tval = mmu.tval; break inner; }
                if (mmu.attention) { pc = npc; n++; break inner; }
                break;
              }
              hart.instret = base + n;
              {
                const denied = hart.execCsr(inst);
                if (denied !== 0) { exc = denied; tval = inst; break inner; }
              }
              base = hart.instret - n;
              if (hart.resync) { pc = npc; n++; break inner; }
              break;
            }

            default:
              exc = CAUSE_ILLEGAL_INSTRUCTION; tval = inst; break inner;
          }
          pc = npc;
          n++;
        }
      }

      hart.pc = pc >>> 0;
      if (exc >= 0) {
        hart.instret = base + n;
        if (hart.takeTrap(exc, tval)) { hart.retired += n; return ExitReason.HostTrap; }
      }
    }
  }
}

/** High 32 bits of the unsigned 64-bit product of a and b (as int32). Translated blocks call it too. */
export function mulhu(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16;
  const b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  // Every partial product is below 2^32, so >>> 16 is exact; the sum stays below 2^53.
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) | 0;
}

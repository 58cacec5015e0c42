// The differential CPU fuzzer (issue 17, docs/cpufuzz.md): random valid RV32IMA + Zicsr
// programs with loads and stores (aligned, misaligned, across pages, to nothing), branches and
// jumps (forward, and backward ones bounded by a fuel register), traps (ecall, ebreak, illegal
// words, faults) that an M-mode handler returns from, and self-modifying code (with and
// without fence.i). Two engines run the same program on identical harts with the same
// sequence of budgets and host-raised interrupt lines; the whole hart, the LR reservation and
// memory are compared after every `run` call. fast-check shrinks a divergence to a minimal
// program, which `describeCase` prints disassembled with the seed and a replay command.
//
// Reserved registers: x1 (ra: links only, so a fetch fault can return there), x26 (fuel),
// x27/x28 (value and address temporaries of the expansions), x29-x31 (the trap handler's;
// x31 accumulates every trap's cause and tval, so a trap the engines disagree on shows).

import fc from 'fast-check';
import type { Engine } from '../../../hypervisor/cpu/engine.ts';
import { ExitReason } from '../../../hypervisor/cpu/engine.ts';
import { Hart, PRIV_M, PRIV_S, PRIV_U } from '../../../hypervisor/cpu/hart.ts';
import { PhysMemory } from '../../../hypervisor/cpu/memory.ts';
import { listing } from './disasm.ts';

// ---------------------------------------------------------------------------------------
// Layout

export const RAM = 0x8000_0000;
const RAM_PAGES = 18;
const HANDLER = RAM; // P0: the M-mode trap handler (physical, runs with paging off)
const CODE_PA = RAM + 0x1c00; // in P1, so longer programs cross into P2
const DATA_PA = RAM + 0x3000; // P3, P4
const RO_PA = RAM + 0x5000; // P5
const ROOT_A = RAM + 0x6000; // P6 root, P7 level-0 table
const ROOT_B = RAM + 0x8000; // P8 root, P9 level-0 table: the data pages swapped
const WATCH_PA = RAM + 0xa000; // P10: a watched page (a store of an odd word asks to stop)
const MMIO_PA = 0x1000_0000; // a small device (below)
const G_ROOT = RAM + 0xc000; // P12-P15: the G-stage (Sv32x4) root of the V=1 modes, 16 KiB aligned
const G_L0_RAM = RAM + 0x10000; // P16: G-stage level-0 table for RAM
const G_L0_MMIO = RAM + 0x11000; // P17: and for the device
/** Where the program starts, and what code/data addresses are, in each mode. */
const CODE_VA = 0x0001_1c00;
const DATA_VA = 0x0003_0000;
const RO_VA = 0x0004_0000;
const BAD_VA = 0x0005_0000; // unmapped under Sv32
const PTE_VA = 0x0006_0000; // root A's level-0 table, writable: programs remap their own pages
const WATCH_VA = 0x0007_0000;
const MMIO_VA = 0x0008_0000;
/** The pages a `pte` op may remap: code (2), data (2), read-only, watched, device. */
const PTE_SLOTS = [CODE_VA & ~0xfff, (CODE_VA & ~0xfff) + 0x1000, DATA_VA, DATA_VA + 0x1000, RO_VA, WATCH_VA, MMIO_VA];
const BAD_PA = 0x4000_0000; // no memory: access faults with paging off

/** Paging off in M; Sv32 in S or U; at V=1 (H extension) Sv32 over an identity Sv32x4 G-stage in VS or VU. */
export const MODES = ['M', 'S-sv32', 'U-sv32', 'VS-sv32', 'VU-sv32'] as const;
export type Mode = (typeof MODES)[number];

const FUEL = 26, TV = 27, TA = 28;
/** Registers random instructions may write (x0 too: writes must vanish). */
const DEST_REGS = [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];

// ---------------------------------------------------------------------------------------
// Encoding

const rT = (f7: number, rs2: number, rs1: number, f3: number, rd: number, op: number) => ((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const iT = (imm: number, rs1: number, f3: number, rd: number, op: number) => (((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op) >>> 0;
const sT = (imm: number, rs2: number, rs1: number, f3: number) => ((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | 0x23) >>> 0;
const bT = (off: number, rs1: number, rs2: number, f3: number) =>
  ((((off >> 12) & 1) << 31) | (((off >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (((off >> 1) & 0xf) << 8) | (((off >> 11) & 1) << 7) | 0x63) >>> 0;
const jT = (off: number, rd: number) =>
  ((((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) | (((off >> 12) & 0xff) << 12) | (rd << 7) | 0x6f) >>> 0;
const lui = (rd: number, v: number) => ((v & 0xfffff000) | (rd << 7) | 0x37) >>> 0;
const addi = (rd: number, rs1: number, imm: number) => iT(imm, rs1, 0, rd, 0x13);
/** Always two words (lui + addi), so every expansion has a size fixed before layout. */
const li = (rd: number, v: number): number[] => [lui(rd, (v + 0x800) | 0), addi(rd, rd, v & 0xfff)];
const csr = (f3: number, rd: number, num: number, rs1: number) => iT(num, rs1, f3, rd, 0x73);
const CSRRW = 1, CSRRS = 2, CSRRC = 3;

// ---------------------------------------------------------------------------------------
// Programs

/** ALU R-type (funct7 << 3 | funct3) and I-type codes the generator picks from. */
const ALU_R = [0x000, 0x100, 0x001, 0x002, 0x003, 0x004, 0x005, 0x105, 0x006, 0x007, 0x008, 0x009, 0x00a, 0x00b, 0x00c, 0x00d, 0x00e, 0x00f];
const ALU_I = [0, 2, 3, 4, 6, 7, 1, 5, 0x25]; // 1 slli, 5 srli, 0x25 srai (f7 0x20)
/** lr, sc, then the AMOs, by funct5. */
const AMO_F5 = [0x02, 0x03, 0x01, 0x00, 0x04, 0x0c, 0x08, 0x10, 0x14, 0x18, 0x1c];
const REGIONS = ['data', 'cross', 'ro', 'code', 'bad', 'watch', 'mmio'] as const;
type Region = (typeof REGIONS)[number];
const CSR_OPS = ['rdinstret', 'rdcycle', 'rdtime', 'rdminstret', 'wmscratch', 'rmscratch', 'wsscratch', 'rmstatus', 'rmcause', 'satpB', 'satpA', 'wminstret'] as const;
const SYS_OPS = ['ecall', 'ebreak', 'wfi', 'fence', 'fencei', 'mret', 'sret', 'sfence'] as const;

export type Op =
  | { k: 'alu'; f: number; rd: number; rs1: number; rs2: number }
  | { k: 'alui'; f: number; rd: number; rs1: number; imm: number }
  | { k: 'li'; rd: number; v: number }
  | { k: 'upper'; auipc: boolean; rd: number; v: number }
  | { k: 'load'; w: number; rd: number; region: Region; off: number }
  | { k: 'store'; w: number; rs2: number; region: Region; off: number }
  | { k: 'amo'; f: number; rd: number; rs2: number; region: Region; off: number }
  | { k: 'branch'; c: number; rs1: number; rs2: number; target: number }
  | { k: 'jal'; link: boolean; target: number }
  | { k: 'jalr'; link: boolean; target: number; bad: 'no' | 'misaligned' | 'unmapped' }
  | { k: 'smc'; target: number; word: number; fence: boolean }
  | { k: 'sys'; w: (typeof SYS_OPS)[number] }
  | { k: 'csr'; w: (typeof CSR_OPS)[number]; rd: number; rs1: number }
  | { k: 'illegal'; word: number }
  /** A store of a PTE into root A's level-0 table (Sv32 modes): `slot` of the mapped pages onto `frame`. */
  | { k: 'pte'; slot: number; frame: number; flags: number; sfence: boolean };

/** One `run` call: its budget, and an interrupt line the host raises or lowers before it. */
export interface Step {
  budget: number;
  irq: { bit: number; on: boolean } | null;
}

export interface FuzzCase {
  mode: Mode;
  ops: Op[];
  steps: Step[];
  /** Initial values of x2..x25. */
  regs: number[];
}

const reg = fc.constantFrom(...DEST_REGS);
const src = fc.integer({ min: 0, max: 31 });
const interesting = fc.oneof(
  fc.constantFrom(0, 1, -1, 2, -2, 0x7fffffff, -0x80000000, 0x7ff, -0x800, 0x800, 31, 32, 0xffff, 0x8000),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
);
const target = fc.nat({ max: 200 });
/** Offsets: mostly aligned words, sometimes anything (misaligned, page-crossing in 'cross'). */
const offset = fc.oneof(fc.nat({ max: 255 }).map((n) => n * 4), fc.nat({ max: 1023 }));

/** Words that must raise illegal instruction on this hart (no C, F, D, V; reserved encodings). */
const illegalWord = fc.oneof(
  fc.constantFrom(0x00000000, 0xffffffff, 0x0000707b, 0x00003003 /* ld */, 0x00003023 /* sd */, 0x0000001b /* addiw */, 0x02005013 /* srli, bad f7 */, 0x0200d033 /* bad f7 */, 0x00002067 /* jalr f3 */, 0x00002063, 0x00007003, 0x0000302f, 0x00000007, 0x00001073 | (0x7c0 << 20)),
  fc.integer({ min: 0, max: 0x3ffffff }).map((n) => ((n << 7) | 0x0b) >>> 0), // custom-0 opcode
);

/** An instruction self-modifying code writes: an ALU op, or one that traps. */
const smcWord = fc.oneof(
  fc.record({ f: fc.nat({ max: ALU_I.length - 1 }), rd: reg, rs1: src, imm: fc.integer({ min: -2048, max: 2047 }) }).map((o) => encodeAluI(o.f, o.rd, o.rs1, o.imm)),
  fc.record({ f: fc.nat({ max: ALU_R.length - 1 }), rd: reg, rs1: src, rs2: src }).map((o) => encodeAluR(o.f, o.rd, o.rs1, o.rs2)),
  fc.constantFrom(0x00000073, 0x00100073, 0x00000000),
);

export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('alu' as const), f: fc.nat({ max: ALU_R.length - 1 }), rd: reg, rs1: src, rs2: src }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('alui' as const), f: fc.nat({ max: ALU_I.length - 1 }), rd: reg, rs1: src, imm: fc.integer({ min: -2048, max: 2047 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('li' as const), rd: reg, v: interesting }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('upper' as const), auipc: fc.boolean(), rd: reg, v: interesting }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('load' as const), w: fc.nat({ max: 4 }), rd: reg, region: fc.constantFrom(...REGIONS), off: offset }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('store' as const), w: fc.nat({ max: 2 }), rs2: src, region: fc.constantFrom(...REGIONS), off: offset }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('amo' as const), f: fc.nat({ max: AMO_F5.length - 1 }), rd: reg, rs2: src, region: fc.constantFrom(...REGIONS), off: offset }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('branch' as const), c: fc.nat({ max: 5 }), rs1: src, rs2: src, target }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('jal' as const), link: fc.boolean(), target }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('jalr' as const), link: fc.boolean(), target, bad: fc.constantFrom('no' as const, 'no' as const, 'misaligned' as const, 'unmapped' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('smc' as const), target, word: smcWord, fence: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('sys' as const), w: fc.constantFrom(...SYS_OPS) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('csr' as const), w: fc.constantFrom(...CSR_OPS), rd: reg, rs1: src }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('illegal' as const), word: illegalWord }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pte' as const), slot: fc.nat({ max: PTE_SLOTS.length - 1 }), frame: fc.nat({ max: RAM_PAGES + 1 }), flags: fc.nat({ max: 0xff }), sfence: fc.boolean() }) },
);

const IRQ_BITS = [1, 3, 5, 7, 9, 11];
export const stepArb = (maxBudget: number): fc.Arbitrary<Step> =>
  fc.record({
    budget: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: maxBudget })),
    irq: fc.option(fc.record({ bit: fc.constantFrom(...IRQ_BITS), on: fc.boolean() }), { freq: 4 }),
  });

export function caseArb(o: { maxOps?: number; maxSteps?: number; maxBudget?: number; modes?: readonly Mode[] } = {}): fc.Arbitrary<FuzzCase> {
  return fc.record({
    mode: fc.constantFrom(...(o.modes ?? MODES)),
    ops: fc.array(opArb, { minLength: 1, maxLength: o.maxOps ?? 40 }),
    steps: fc.array(stepArb(o.maxBudget ?? 200), { minLength: 1, maxLength: o.maxSteps ?? 12 }),
    regs: fc.array(interesting, { minLength: 24, maxLength: 24 }),
  });
}

function encodeAluR(f: number, rd: number, rs1: number, rs2: number): number {
  const c = ALU_R[f % ALU_R.length]!;
  return rT(c >> 3, rs2, rs1, c & 7, rd, 0x33);
}

function encodeAluI(f: number, rd: number, rs1: number, imm: number): number {
  const c = ALU_I[f % ALU_I.length]!;
  if (c === 1 || c === 5) return iT(imm & 31, rs1, c, rd, 0x13);
  if (c === 0x25) return iT((imm & 31) | 0x400, rs1, 5, rd, 0x13);
  return iT(imm, rs1, c, rd, 0x13);
}

/** Words each op expands to (fixed, so layout is known before encoding). */
function size(op: Op): number {
  switch (op.k) {
    case 'alu': case 'alui': case 'sys': case 'illegal': return 1;
    case 'li': return 2;
    case 'upper': return 1;
    case 'load': case 'store': case 'amo': return 3;
    case 'branch': return 3; // fuel check (2) + branch; the check is a no-op going forwards
    case 'jal': return 3;
    case 'jalr': return 5;
    case 'smc': return 6;
    case 'csr': return 3;
    case 'pte': return 6;
  }
}

interface Layout {
  codeVa: number;
  dataVa: number;
  roVa: number;
  badVa: number;
  pteVa: number;
  watchVa: number;
  mmioVa: number;
}

function layout(mode: Mode): Layout {
  return mode === 'M'
    ? { codeVa: CODE_PA, dataVa: DATA_PA, roVa: RO_PA, badVa: BAD_PA, pteVa: ROOT_A + 0x1000, watchVa: WATCH_PA, mmioVa: MMIO_PA }
    : { codeVa: CODE_VA, dataVa: DATA_VA, roVa: RO_VA, badVa: BAD_VA, pteVa: PTE_VA, watchVa: WATCH_VA, mmioVa: MMIO_VA };
}

/** Assembles the program: ops, then `ebreak; j .` (the end: a trap, then a spin that eats any budget). */
export function assemble(c: FuzzCase): { words: number[]; starts: number[] } {
  const L = layout(c.mode);
  const starts: number[] = [];
  let at = 0;
  for (const op of c.ops) {
    starts.push(at);
    at += size(op);
  }
  starts.push(at); // the end stub
  const n = c.ops.length + 1;
  const addrOf = (t: number) => (L.codeVa + 4 * starts[t % n]!) | 0;
  const regionAddr = (region: Region, off: number): number => {
    switch (region) {
      case 'data': return L.dataVa + (off & 0xfff);
      case 'cross': return L.dataVa + 0x1000 - 4 + (off & 7) - 2; // straddles the two data pages
      case 'ro': return L.roVa + (off & 0xfff);
      case 'code': return addrOf(off) + (off & 3);
      case 'bad': return L.badVa + (off & 0xfff);
      case 'watch': return L.watchVa + (off & 0xfff);
      case 'mmio': return L.mmioVa + (off & 0x7f);
    }
  };
  const words: number[] = [];
  c.ops.forEach((op, i) => {
    const pc = () => (L.codeVa + 4 * words.length) | 0;
    switch (op.k) {
      case 'alu': words.push(encodeAluR(op.f, op.rd, op.rs1, op.rs2)); break;
      case 'alui': words.push(encodeAluI(op.f, op.rd, op.rs1, op.imm)); break;
      case 'li': words.push(...li(op.rd, op.v)); break;
      case 'upper': words.push(((op.v & 0xfffff000) | (op.rd << 7) | (op.auipc ? 0x17 : 0x37)) >>> 0); break;
      case 'load': {
        const a = regionAddr(op.region, op.off);
        const f3 = [0, 1, 2, 4, 5][op.w]!;
        words.push(...li(TA, a - 16), iT(16, TA, f3, op.rd, 0x03));
        break;
      }
      case 'store': {
        const a = regionAddr(op.region, op.off);
        words.push(...li(TA, a + 8), sT(-8, op.rs2, TA, op.w));
        break;
      }
      case 'amo': {
        // Aligned unless the offset says otherwise (a misaligned AMO traps).
        const a = op.off % 5 === 0 ? regionAddr(op.region, op.off) : regionAddr(op.region, op.off) & ~3;
        const f5 = AMO_F5[op.f % AMO_F5.length]!;
        words.push(...li(TA, a), rT((f5 << 2) | (op.off & 3), f5 === 0x02 ? 0 : op.rs2, TA, 2, op.rd, 0x2f));
        break;
      }
      case 'branch': {
        const t = op.target % n;
        const backward = t <= i;
        // Backward: spend one fuel, and fall through once it is gone (loops stay bounded).
        words.push(addi(FUEL, FUEL, backward ? -1 : 0), bT(8, FUEL, 0, 4) /* blt fuel, x0, +8 */);
        words.push(bT(addrOf(t) - pc(), op.rs1, op.rs2, [0, 1, 4, 5, 6, 7][op.c]!));
        break;
      }
      case 'jal': {
        const t = op.target % n;
        words.push(addi(FUEL, FUEL, t <= i ? -1 : 0), bT(8, FUEL, 0, 4));
        words.push(jT(addrOf(t) - pc(), op.link ? 1 : 0));
        break;
      }
      case 'jalr': {
        const t = op.target % n;
        const dest = op.bad === 'misaligned' ? addrOf(t) + 2 : op.bad === 'unmapped' ? L.badVa + 0x40 : addrOf(t);
        words.push(addi(FUEL, FUEL, t <= i && op.bad === 'no' ? -1 : 0), bT(16, FUEL, 0, 4));
        // A jump to nothing always links ra: the handler resumes a fetch fault there.
        words.push(...li(TA, dest - 4), iT(4, TA, 0, op.link || op.bad === 'unmapped' ? 1 : 0, 0x67));
        break;
      }
      case 'smc': {
        words.push(...li(TV, op.word), ...li(TA, addrOf(op.target)), sT(0, TV, TA, 2));
        words.push(op.fence ? 0x0000100f : 0x0000000f); // fence.i, or a plain fence
        break;
      }
      case 'sys': {
        const w = { ecall: 0x00000073, ebreak: 0x00100073, wfi: 0x10500073, fence: 0x0ff0000f, fencei: 0x0000100f, mret: 0x30200073, sret: 0x10200073, sfence: 0x12000073 }[op.w];
        words.push(w);
        break;
      }
      case 'csr': {
        const rd = op.rd;
        const x: Record<(typeof CSR_OPS)[number], number[]> = {
          rdinstret: [csr(CSRRS, rd, 0xc02, 0)],
          rdcycle: [csr(CSRRS, rd, 0xc00, 0)],
          rdtime: [csr(CSRRS, rd, 0xc01, 0)],
          rdminstret: [csr(CSRRS, rd, 0xb02, 0)],
          wmscratch: [csr(CSRRW, rd, 0x340, op.rs1)],
          rmscratch: [csr(CSRRS, rd, 0x340, 0)],
          wsscratch: [csr(CSRRW, rd, 0x140, op.rs1)],
          rmstatus: [csr(CSRRS, rd, 0x300, 0)],
          rmcause: [csr(CSRRS, rd, 0x342, 0)],
          satpB: [...li(TA, satpOf(ROOT_B)), csr(CSRRW, 0, 0x180, TA)],
          satpA: [...li(TA, satpOf(ROOT_A)), csr(CSRRW, 0, 0x180, TA)],
          wminstret: [csr(CSRRW, rd, 0xb02, op.rs1)],
        };
        const seq = x[op.w];
        while (seq.length < 3) seq.push(addi(0, 0, 0));
        words.push(...seq);
        break;
      }
      case 'illegal': words.push(op.word >>> 0); break;
      case 'pte': {
        // Frame RAM_PAGES means the device page, RAM_PAGES + 1 an address with nothing there
        // (no memory; at V=1 a guest-physical address the G-stage does not map); flags: any of D A G U X W R V.
        const pa = op.frame === RAM_PAGES ? MMIO_PA : op.frame > RAM_PAGES ? RAM + 0x40_0000 : RAM + op.frame * 0x1000;
        const slot = PTE_SLOTS[op.slot % PTE_SLOTS.length]!;
        words.push(...li(TV, ((pa >>> 12) << 10) | op.flags), ...li(TA, L.pteVa + ((slot >>> 12) & 0x3ff) * 4), sT(0, TV, TA, 2));
        words.push(op.sfence ? 0x12000073 : addi(0, 0, 0));
        break;
      }
    }
  });
  words.push(0x00100073, jT(0, 0)); // ebreak; j .
  return { words, starts };
}

const satpOf = (root: number) => (0x80000000 | (root >>> 12)) >>> 0;

// ---------------------------------------------------------------------------------------
// Machines

/**
 * The M-mode handler (physical, at HANDLER): x31 accumulates mcause and mtval; interrupts
 * are masked in mie (the line stays up: the host lowers it) and resume where they hit;
 * fetch faults (1, 12) resume at ra; everything else at mepc + 4.
 */
function handlerWords(): number[] {
  const x29 = 29, x30 = 30, x31 = 31;
  return [
    csr(CSRRS, x30, 0x342, 0), // csrr t5, mcause
    iT(5, x31, 1, x29, 0x13), // slli t4, t6, 5
    rT(0x20, x31, x29, 0, x31, 0x33), // sub t6, t4, t6  (t6 *= 31)
    rT(0, x30, x31, 0, x31, 0x33), // add t6, t6, t5
    csr(CSRRS, x29, 0x343, 0), // csrr t4, mtval
    rT(0, x29, x31, 4, x31, 0x33), // xor t6, t6, t4
    bT(4 * 11, x30, 0, 4), // blt t5, zero, irq  (-> index 17)
    addi(x29, 0, 1), // li t4, 1
    bT(4 * 7, x30, x29, 0), // beq t5, t4, fetch (-> index 15)
    addi(x29, 0, 12), // li t4, 12
    bT(4 * 5, x30, x29, 0), // beq t5, t4, fetch
    csr(CSRRS, x29, 0x341, 0), // csrr t4, mepc
    addi(x29, x29, 4),
    csr(CSRRW, 0, 0x341, x29), // csrw mepc, t4
    0x30200073, // mret
    csr(CSRRW, 0, 0x341, 1), // fetch: csrw mepc, ra
    0x30200073, // mret
    addi(x29, 0, 1), // irq: li t4, 1
    rT(0, x30, x29, 1, x29, 0x33), // sll t4, t4, t5 (low 5 bits: the interrupt number)
    csr(CSRRC, 0, 0x304, x29), // csrc mie, t4
    0x30200073, // mret
  ];
}

const V = 1, R = 2, W = 4, X = 8, U = 16;

/** Sv32 tables at `root` (level-0 table in the next page): code, data (maybe swapped), read-only. */
function buildTables(mem: PhysMemory, root: number, user: number, swap: boolean): void {
  const l0 = root + 0x1000;
  mem.write32(root + (CODE_VA >>> 22) * 4, ((l0 >>> 12) << 10) | V);
  const map = (va: number, pa: number, flags: number) => mem.write32(l0 + ((va >>> 12) & 0x3ff) * 4, (((pa >>> 12) << 10) | flags | user) >>> 0);
  map(CODE_VA & ~0xfff, CODE_PA & ~0xfff, V | R | W | X);
  map((CODE_VA & ~0xfff) + 0x1000, (CODE_PA & ~0xfff) + 0x1000, V | R | W | X);
  // The two data pages in the opposite physical order, so a page-crossing access is split.
  map(DATA_VA, swap ? DATA_PA : DATA_PA + 0x1000, V | R | W);
  map(DATA_VA + 0x1000, swap ? DATA_PA + 0x1000 : DATA_PA, V | R | W);
  map(RO_VA, RO_PA, swap ? V | R | W : V | R);
  map(WATCH_VA, WATCH_PA, V | R | W);
  map(MMIO_VA, MMIO_PA, V | R | W);
  // Root A's level-0 table itself (both roots map it): programs rewrite their own PTEs.
  map(PTE_VA, ROOT_A + 0x1000, V | R | W);
}

/** The G-stage: guest-physical = host-physical for every RAM page (the tables too) and the device. */
function buildGStage(mem: PhysMemory): void {
  const gpte = (pa: number, flags: number) => (((pa >>> 12) << 10) | flags) >>> 0;
  mem.write32(G_ROOT + (RAM >>> 22) * 4, gpte(G_L0_RAM, V));
  mem.write32(G_ROOT + (MMIO_PA >>> 22) * 4, gpte(G_L0_MMIO, V));
  // G-stage leaves need U; A and D left clear, so the walks set them (a store the engines must agree on).
  for (let p = 0; p < RAM_PAGES; p++) mem.write32(G_L0_RAM + (((RAM >>> 12) + p) & 0x3ff) * 4, gpte(RAM + p * 0x1000, V | R | W | X | U));
  mem.write32(G_L0_MMIO + ((MMIO_PA >>> 12) & 0x3ff) * 4, gpte(MMIO_PA, V | R | W | U));
}

/**
 * A small device: 32 word registers; reads count (a read has an effect the engines must not
 * repeat); a write to register 16 raises or lowers SEIP with its low bit (an interrupt
 * raised by a store, in the middle of a run).
 */
class FuzzDevice {
  readonly regs = new Int32Array(32);
  reads = 0;
  constructor(private readonly hart: () => Hart | null) {}
  read(offset: number, size: 1 | 2 | 4): number {
    this.reads++;
    const w = (this.regs[(offset >>> 2) & 31]! + this.reads) | 0;
    return (w >>> ((offset & 3) * 8)) & (size === 4 ? -1 : size === 2 ? 0xffff : 0xff);
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    const i = (offset >>> 2) & 31;
    this.regs[i] = size === 4 ? value : (this.regs[i]! & ~((size === 2 ? 0xffff : 0xff) << ((offset & 3) * 8))) | ((value & (size === 2 ? 0xffff : 0xff)) << ((offset & 3) * 8));
    if (i === 16) this.hart()?.setInterruptPending(9, (value & 1) !== 0);
  }
}

const devices = new WeakMap<Hart, FuzzDevice>();

/** A memory pool: PhysMemory costs tens of milliseconds to make, and each run needs two. */
const pool: PhysMemory[] = [];

function memory(): PhysMemory {
  const recycled = pool.pop();
  const mem = recycled ?? new PhysMemory();
  const first = RAM >>> 12;
  if (!recycled) mem.addRam(RAM, RAM_PAGES * 4096);
  // Nothing adds frames: zeroing the RAM, the device and the watcher anew, a new generation.
  else for (let p = first; p < first + RAM_PAGES; p++) mem.frames[p]!.fill(0);
  mem.regions.length = 0;
  // A fresh memory has no frame marked as holding translated code: a mark left by an earlier
  // case would make this case's interpreter run take the translator's store path.
  if (recycled) {
    mem.code.fill(0);
    mem.watchGeneration++;
  }
  mem.setWatched(WATCH_PA >>> 12, true);
  mem.lastRunner = null;
  mem.generation++;
  return mem;
}

export function release(...mems: PhysMemory[]): void {
  pool.push(...mems);
}

/** A hart on a fresh memory with the program, the handler and the tables, ready to run. */
export function setup(c: FuzzCase): Hart {
  const mem = memory();
  const { words, starts } = assemble(c);
  // Straight into the frames: PhysMemory.write32 is the careful path, and slow for thousands of words.
  const put = (pa: number, w: number) => (mem.words[Math.floor(pa / 4096)]![(pa & 0xfff) >>> 2] = w);
  handlerWords().forEach((w, i) => put(HANDLER + 4 * i, w));
  words.forEach((w, i) => put(CODE_PA + 4 * i, w));
  for (let i = 0; i < 2048; i++) put(DATA_PA + 4 * i, Math.imul(i + 1, 0x9e3779b1));
  for (let i = 0; i < 1024; i++) put(RO_PA + 4 * i, 0x5a5a0000 | i);
  const user = c.mode === 'U-sv32' || c.mode === 'VU-sv32' ? U : 0;
  buildTables(mem, ROOT_A, user, false);
  buildTables(mem, ROOT_B, user, true);
  const virt = c.mode === 'VS-sv32' || c.mode === 'VU-sv32';
  if (virt) buildGStage(mem);
  let h: Hart | null = null;
  const dev = new FuzzDevice(() => h);
  mem.addMmio(MMIO_PA, 0x1000, dev);
  // A store of an odd word into the watched page asks the engine to stop (ExitReason.Stop).
  mem.onStore = (pa) => (mem.read32(pa - (pa % 4)) & 1) !== 0;
  const hart = new Hart(mem, { hExt: virt });
  h = hart;
  devices.set(hart, dev);
  c.regs.forEach((v, i) => (hart.x[i + 2] = v));
  hart.x[1] = (layout(c.mode).codeVa + 4 * starts.at(-1)!) | 0; // ra: the end stub
  hart.x[FUEL] = 24;
  hart.mtvec = HANDLER;
  hart.mcounteren = 7;
  hart.scounteren = 7;
  if (c.mode === 'M') {
    hart.mstatus |= 1 << 3; // MIE: the host's interrupts reach M-mode code
  } else if (!virt) {
    hart.writeCsr(0x180, satpOf(ROOT_A));
    hart.priv = c.mode === 'S-sv32' ? PRIV_S : PRIV_U;
  } else {
    hart.writeCsr(0x680, (0x80000000 | (G_ROOT >>> 12)) >>> 0); // hgatp: Sv32x4
    hart.writeCsr(0x280, satpOf(ROOT_A)); // vsatp
    hart.writeCsr(0x606, 7); // hcounteren
    hart.priv = c.mode === 'VS-sv32' ? PRIV_S : PRIV_U;
    hart.setVirt(true);
  }
  hart.pc = layout(c.mode).codeVa >>> 0;
  return hart;
}

// ---------------------------------------------------------------------------------------
// Comparison

/** Hart fields that are host bookkeeping, not state (the engine seam's resync hint). */
const NOT_STATE = new Set(['resync', 'timeSource', 'mem', 'mmu']);

/** Everything a `run` call may change: hart scalars, registers, counters by privilege, the reservation, memory. */
export function snapshot(h: Hart): Record<string, number | boolean | string> {
  const o: Record<string, number | boolean | string> = {};
  h.notePriv();
  for (const [k, v] of Object.entries(h)) {
    if (NOT_STATE.has(k)) continue;
    if (typeof v === 'number' || typeof v === 'boolean') o[k] = v;
  }
  for (let i = 0; i < 32; i++) o[`x${i}`] = h.x[i]!;
  h.retiredByPriv.forEach((n, i) => (o[`retiredByPriv[${i}]`] = n));
  o['mmu.resValid'] = h.mmu.resValid;
  if (h.mmu.resValid) o['mmu.resPa'] = h.mmu.resPa;
  o['mmu.walks'] = h.mmu.walks;
  const dev = devices.get(h);
  if (dev) o['device'] = `${dev.reads}:${Array.from(dev.regs).join(',')}`;
  o['mem'] = memoryHash(h.mem);
  return o;
}

/** The first words (physical address: a vs b) where two memories differ. */
function memoryDiffs(a: PhysMemory, b: PhysMemory, max = 16): { key: string; a: number; b: number }[] {
  const out: { key: string; a: number; b: number }[] = [];
  const first = RAM >>> 12;
  for (let p = first; p < first + RAM_PAGES && out.length < max; p++) {
    const wa = a.words[p]!, wb = b.words[p]!;
    for (let i = 0; i < wa.length && out.length < max; i++) {
      if (wa[i] !== wb[i]) out.push({ key: `mem[0x${(p * 4096 + i * 4).toString(16)}]`, a: wa[i], b: wb[i] });
    }
  }
  return out;
}

function memoryHash(mem: PhysMemory): string {
  let hash = 0x811c9dc5;
  const first = RAM >>> 12;
  for (let p = first; p < first + RAM_PAGES; p++) {
    const w = mem.words[p];
    if (!w) continue;
    for (let i = 0; i < w.length; i++) hash = Math.imul(hash ^ w[i]!, 0x01000193);
  }
  return (hash >>> 0).toString(16);
}

export interface Divergence {
  step: number;
  exits: [ExitReason, ExitReason];
  diffs: { key: string; a: unknown; b: unknown }[];
}

/**
 * Runs `c` under both engines, step by step; the first difference (exit reason or state)
 * after a `run` call, or null when they agree throughout.
 */
export function compare(c: FuzzCase, a: Engine, b: Engine): Divergence | null {
  const ha = setup(c);
  const hb = setup(c);
  try {
    for (let s = 0; s < c.steps.length; s++) {
      const st = c.steps[s]!;
      for (const h of [ha, hb]) {
        if (!st.irq) continue;
        h.setInterruptPending(st.irq.bit, st.irq.on);
        if (st.irq.on) h.mie |= 1 << st.irq.bit;
      }
      const ea = a.run(ha, st.budget);
      const eb = b.run(hb, st.budget);
      const sa = snapshot(ha);
      const sb = snapshot(hb);
      const diffs = Object.keys({ ...sa, ...sb })
        .filter((k) => sa[k] !== sb[k])
        .map((k) => ({ key: k, a: sa[k], b: sb[k] }));
      if (sa['mem'] !== sb['mem']) diffs.push(...memoryDiffs(ha.mem, hb.mem));
      if (ea !== eb || diffs.length > 0) return { step: s, exits: [ea, eb], diffs };
    }
    return null;
  } finally {
    release(ha.mem, hb.mem);
  }
}

const EXIT_NAMES = Object.fromEntries(Object.entries(ExitReason).map(([k, v]) => [v, k]));

/** The minimised case as a reader needs it: the divergence, the program disassembled, the steps. */
export function describeCase(c: FuzzCase, d: Divergence | null, replay?: string): string {
  const { words, starts } = assemble(c);
  const L = layout(c.mode);
  const opAt = new Map(starts.map((s, i) => [(L.codeVa + 4 * s) >>> 0, i < c.ops.length ? c.ops[i]! : null]));
  const lines = [
    `mode ${c.mode}; program at 0x${(L.codeVa >>> 0).toString(16)}, M-mode trap handler at 0x${HANDLER.toString(16)} (resumes at mepc + 4; fetch faults at ra)`,
    listing(words, L.codeVa, (pc) => {
      if (!opAt.has(pc)) return '';
      const op = opAt.get(pc);
      return op ? `    ; ${JSON.stringify(op)}` : '    ; end';
    }),
    `registers x2..x25: ${c.regs.map((v) => `0x${(v >>> 0).toString(16)}`).join(' ')}`,
    `steps: ${c.steps.map((s) => `${s.irq ? `${s.irq.on ? '+' : '-'}irq${s.irq.bit} ` : ''}run(${s.budget})`).join(', ')}`,
  ];
  if (d) {
    lines.push(`diverged after step ${d.step} (run(${c.steps[d.step]!.budget})): exit ${EXIT_NAMES[d.exits[0]]} vs ${EXIT_NAMES[d.exits[1]]}`);
    for (const x of d.diffs) lines.push(`  ${x.key}: ${fmt(x.a)} vs ${fmt(x.b)}`);
  }
  if (replay) lines.push(`replay: ${replay}`);
  return lines.join('\n');
}

const fmt = (v: unknown) => (typeof v === 'number' ? `${v} (0x${(v >>> 0).toString(16)})` : String(v));

export { PRIV_M };

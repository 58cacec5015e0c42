// Block compiler: turns a straight-line run of RV32IM instructions (a superblock: it continues
// past not-taken conditional branches and follows direct jumps inside the page) into one
// JavaScript function. Guest registers live in JS locals inside the function, loaded at entry
// and written back at its single exit.
//
// What a block may contain: OP, OP-IMM, LUI, AUIPC, loads and stores (TLB fast path only),
// BRANCH, JAL, JALR, FENCE/FENCE.I (no-ops, as in the interpreter: nothing a fence would
// order is cached, see docs/jit.md). Everything else (SYSTEM, AMO, illegal encodings,
// `j .`, a jump to a misaligned target) ends the block *before* that instruction, which the
// interpreter then executes. A load or store whose TLB entry misses, or that is misaligned,
// leaves the block before the instruction with nothing changed, so the interpreter redoes it
// on its slow path: translated code never faults, calls a device or a store watcher.
//
// A block is context-free: it depends only on its virtual start pc and the code words it was
// compiled from (loads and stores use the TLB set arrays passed in, so privilege, satp, MPRV
// and V are whatever the caller's data set says). `words` records those code words; the
// translator checks them (blockCurrent) before the first run in each of its epochs.
//
// Return value: the number of instructions retired (0..len on one pass; more with loops),
// `st.pc` = where execution continues. Budget: the caller enters a block only when at least
// `len` (the longest path through it) instructions are left; a self-loop goes round again
// only while that still holds, so a block never retires past the budget.

import { TLB_MASK } from '../mmu.ts';

/** Where a block leaves the next pc. */
export interface BlockState {
  pc: number;
}

export type BlockFn = (
  x: Int32Array, st: BlockState,
  rTag: Int32Array, rWords: Int32Array[], rBytes: Uint8Array[],
  wTag: Int32Array, wWords: Int32Array[], wBytes: Uint8Array[],
  left: number, mulhu: (a: number, b: number) => number,
) => number;

export interface Block {
  /** Virtual address of the first instruction. */
  readonly pc: number;
  /** Longest path through the block in instructions (one pass): the budget it needs on entry. */
  readonly len: number;
  /** Null for a marker: no block can start here (first instruction not translatable). */
  readonly fn: BlockFn | null;
  /** Word index, word value pairs of the code compiled: the block is current while they match. */
  readonly words: Int32Array;
  /** The translator epoch in which the words were last found current (index.ts). */
  seen: number;
}

/** Upper bound on the instructions of one block (one pass). */
export const MAX_BLOCK = 32;

/** Statistics shared by all translators (tests and docs/jit.md read them). */
export const jitStats = { compiled: 0, stale: 0, markers: 0, blockRuns: 0, reused: 0 };

const reg = (r: number): string => (r === 0 ? '0' : `r${r}`);

/** Longest forward skip (instructions) compiled as an if/else inside a block. */
const MAX_SKIP = 8;

/** Opcodes that never transfer control: allowed inside a skipped (if/else) region. */
const SIMPLE = new Set([0x13, 0x33, 0x37, 0x17, 0x03, 0x23, 0x0f]);

/**
 * Compiles the block starting at virtual `pc` from the frame `page` (its code words). Returns
 * a marker (fn null) when the first instruction is not translatable.
 *
 * Shape: instructions in path order ("static index" k). A conditional branch becomes
 *   - a loop: back to an earlier instruction j of the block (a `for (;;)` around j..k), while
 *     the budget still covers the longest path from j to the block's end;
 *   - an if/else: forward over at most MAX_SKIP simple instructions (the taken path subtracts
 *     the skipped count from `it`, so exits keep using static counts);
 *   - an exit otherwise (taken: leave with the target pc).
 * `it` + static index = instructions retired so far, at every point of the block.
 */
export function compileBlock(page: Int32Array, pc: number): Block {
  // The same code at the same pc compiled before (another run, domain or frame with this
  // image): a block's meaning depends only on its pc and the words it records, so its
  // function is reused without generating source again.
  const known = byPc.get(pc | 0);
  if (known !== undefined) {
    for (const b of known) {
      if (blockCurrent(b, page)) {
        jitStats.reused++;
        return { pc: b.pc, len: b.len, fn: b.fn, words: b.words, seen: -1 };
      }
    }
  }
  const b = translate(page, pc);
  if (b.fn !== null) {
    if (known === undefined) {
      if (byPc.size >= BY_PC_MAX) byPc.delete(byPc.keys().next().value!);
      byPc.set(b.pc, [b]);
    } else {
      if (known.length >= 2) known.shift();
      known.push(b);
    }
  }
  return b;
}

/**
 * Compiled blocks by start pc, two variants each, at most BY_PC_MAX pcs (the oldest pc is
 * evicted first): bounds the functions kept alive after their frames are gone.
 */
const byPc = new Map<number, Block[]>();
const BY_PC_MAX = 2048;

function translate(page: Int32Array, pc: number): Block {
  const startPc = pc | 0;
  const pageBase = startPc & ~0xfff;
  const posOf = new Map<number, number>(); // pc -> static index
  const used = new Set<number>();
  const written = new Set<number>();
  const words: number[] = []; // word indices compiled (for the staleness check)
  const code: string[] = [];
  const pre: string[] = [];
  const post: string[] = [];
  const regions: Array<[number, number]> = [];
  const inSkip = new Set<number>();
  let k = 0; // static index of the next instruction
  let cur = startPc;
  let open = true; // the last emitted instruction falls through to `cur`
  const exitTo = (pcv: string, count: number): string => `{ xp = ${pcv}; xn = it + ${count}; break body; }`;
  /** A back edge to static index j may close a loop: j not inside a skip, regions nest. */
  const loopOk = (j: number): boolean => !inSkip.has(j) && regions.every(([a, b]) => b < j || j <= a);
  const emit = (e: Emitted, inst: number, at: number, js: string): void => {
    posOf.set(at, k);
    words.push((at >>> 2) & 0x3ff);
    for (const r of e.reads) if (r !== 0) used.add(r);
    if (e.rd !== 0) { used.add(e.rd); written.add(e.rd); }
    pre[k] ??= '';
    post[k] ??= '';
    code[k] = `// 0x${(at >>> 0).toString(16)}: ${(inst >>> 0).toString(16).padStart(8, '0')}\n` +
      js.replace(/@BEFORE/g, exitTo(String(at), k)).replace(/@K1/g, String(k + 1));
    k++;
  };
  const loopBack = (j: number): string => {
    const label = `L${k}`;
    pre[j] = `${label}: for (;;) {\n` + pre[j]!;
    regions.push([j, k]);
    post[k] = `\nbreak ${label}; }`;
    return `if (left - it - ${k + 1} >= @LEN - ${j}) { it += ${k + 1 - j}; continue ${label}; } `;
  };

  while (k < MAX_BLOCK) {
    if ((cur & ~0xfff) !== pageBase || posOf.has(cur)) break;
    const inst = page[(cur >>> 2) & 0x3ff]!;
    const e = translateOne(inst, cur);
    if (e === null) break;
    const here = cur;
    if (e.branch !== undefined) {
      const { cond, target } = e.branch;
      const j = posOf.get(target);
      if (j !== undefined && loopOk(j)) {
        const back = loopBack(j);
        emit(e, inst, here, `if (${cond}) { ${back}${exitTo(String(target), k + 1)} }`);
        cur = e.next!;
        continue;
      }
      const m = ((target - here) >> 2) - 1;
      const skipped: Array<[number, Emitted]> = [];
      if (j === undefined && m >= 1 && m <= MAX_SKIP && k + 1 + m <= MAX_BLOCK && (target & ~0xfff) === pageBase) {
        for (let q = 1; q <= m; q++) {
          const w = page[((here >>> 2) + q) & 0x3ff]!;
          const se = SIMPLE.has(w & 0x7f) ? translateOne(w, (here + 4 * q) | 0) : null;
          if (se === null) { skipped.length = 0; break; }
          skipped.push([w, se]);
        }
      }
      if (skipped.length === m && m >= 1) {
        emit(e, inst, here, `if (${cond}) { it -= ${m}; } else {`);
        for (let q = 0; q < m; q++) {
          inSkip.add(k);
          emit(skipped[q]![1], skipped[q]![0], (here + 4 * (q + 1)) | 0, skipped[q]![1].js);
        }
        post[k - 1] += '\n}';
        cur = target;
        continue;
      }
      emit(e, inst, here, `if (${cond}) ${exitTo(String(target), k + 1)}`);
      cur = e.next!;
      continue;
    }
    if (e.jump !== undefined) { // JAL: loop back, follow inside the page, or leave
      const j = posOf.get(e.jump);
      if (j !== undefined && loopOk(j)) {
        const back = loopBack(j);
        emit(e, inst, here, `${e.js} ${back}${exitTo(String(e.jump), k + 1)}`);
        open = false;
        break;
      }
      emit(e, inst, here, e.js);
      cur = e.jump;
      continue;
    }
    emit(e, inst, here, e.js);
    if (e.next === null) { open = false; break; }
    cur = e.next;
  }
  if (k === 0) {
    jitStats.markers++;
    return { pc: startPc, len: 1 << 30, fn: null, words: new Int32Array(0), seen: -1 };
  }
  const len = k;
  const check = new Int32Array(words.length * 2);
  words.forEach((w, i) => { check[2 * i] = w; check[2 * i + 1] = page[w]!; });
  const regs = [...used].sort((a, b) => a - b);
  const lines: string[] = [];
  for (let q = 0; q < k; q++) lines.push(pre[q]! + code[q]! + post[q]!);
  if (open) lines.push(exitTo(String(cur), k));
  const src = [
    "'use strict';",
    regs.length ? `let ${regs.map((r) => `r${r} = x[${r}]`).join(', ')};` : '',
    'let it = 0, xp = 0, xn = 0;',
    'body: {',
    ...lines.map((l) => l.replace(/@LEN/g, String(len))),
    '}',
    ...[...written].sort((a, b) => a - b).map((r) => `x[${r}] = r${r};`),
    'st.pc = xp;',
    'return xn;',
  ].join('\n');
  lastSource = src;
  const fn = new Function('x', 'st', 'rTag', 'rWords', 'rBytes', 'wTag', 'wWords', 'wBytes', 'left', 'M', src) as BlockFn;
  jitStats.compiled++;
  return { pc: startPc, len, fn, words: check, seen: -1 };
}

/** True if `page` still holds the words `b` was compiled from. */
export function blockCurrent(b: Block, page: Int32Array): boolean {
  const w = b.words;
  for (let i = 0; i < w.length; i += 2) if (page[w[i]!] !== w[i + 1]) return false;
  return true;
}

/** Compiled functions by source, oldest first (bounded: insertion-order eviction). */
const sourceCache = new Map<string, BlockFn>();
const SOURCE_CACHE_MAX = 8192;

/** Source of the last compiled block (debugging, tests). */
export let lastSource = '';

interface Emitted {
  js: string;
  reads: number[];
  rd: number;
  /** The next pc on the fall-through path, or null when the block ends after this instruction. */
  next: number | null;
  /** A conditional branch: compileBlock decides between loop, if/else and exit. */
  branch?: { cond: string; target: number };
  /** JAL: its target (the link is in `js`). */
  jump?: number;
}

/**
 * One instruction at `pc` as JS, or null if it is not translatable.
 * Placeholders: @BEFORE = leave before this instruction; @K1 = count after it.
 */
function translateOne(inst: number, pc: number): Emitted | null {
  const rd = (inst >>> 7) & 31;
  const rs1 = (inst >>> 15) & 31;
  const rs2 = (inst >>> 20) & 31;
  const f3 = (inst >>> 12) & 7;
  const a = reg(rs1);
  const b = reg(rs2);
  const D = rd === 0 ? null : `r${rd}`;
  const npc = (pc + 4) | 0;
  const set = (v: string): string => (D === null ? '' : `${D} = ${v};`);
  const after = (count: string, pcv: string): string => `{ xp = ${pcv}; xn = it + ${count}; break body; }`;
  switch (inst & 0x7f) {
    case 0x13: { // OP-IMM
      const imm = inst >> 20;
      let v: string;
      switch (f3) {
        case 0: v = `(${a} + ${imm}) | 0`; break;
        case 1: if (inst >>> 25 !== 0) return null; v = `${a} << ${imm & 31}`; break;
        case 2: v = `${a} < ${imm} ? 1 : 0`; break;
        case 3: v = `(${a} >>> 0) < ${imm >>> 0} ? 1 : 0`; break;
        case 4: v = `${a} ^ ${imm}`; break;
        case 5: {
          const f7 = inst >>> 25;
          if (f7 === 0) v = `(${a} >>> ${imm & 31}) | 0`;
          else if (f7 === 0x20) v = `${a} >> ${imm & 31}`;
          else return null;
          break;
        }
        case 6: v = `${a} | ${imm}`; break;
        default: v = `${a} & ${imm}`; break;
      }
      return { js: set(v), reads: [rs1], rd, next: npc };
    }
    case 0x33: { // OP
      let v: string;
      switch (((inst >>> 22) & 0x3f8) | f3) {
        case 0x000: v = `(${a} + ${b}) | 0`; break;
        case 0x100: v = `(${a} - ${b}) | 0`; break;
        case 0x001: v = `${a} << (${b} & 31)`; break;
        case 0x002: v = `${a} < ${b} ? 1 : 0`; break;
        case 0x003: v = `(${a} >>> 0) < (${b} >>> 0) ? 1 : 0`; break;
        case 0x004: v = `${a} ^ ${b}`; break;
        case 0x005: v = `(${a} >>> (${b} & 31)) | 0`; break;
        case 0x105: v = `${a} >> (${b} & 31)`; break;
        case 0x006: v = `${a} | ${b}`; break;
        case 0x007: v = `${a} & ${b}`; break;
        case 0x008: v = `Math.imul(${a}, ${b})`; break;
        case 0x009: v = `(M(${a}, ${b}) - (${a} < 0 ? ${b} : 0) - (${b} < 0 ? ${a} : 0)) | 0`; break;
        case 0x00a: v = `(M(${a}, ${b}) - (${a} < 0 ? ${b} : 0)) | 0`; break;
        case 0x00b: v = `M(${a}, ${b})`; break;
        case 0x00c: v = `${b} === 0 ? -1 : ${a} === -2147483648 && ${b} === -1 ? ${a} : (${a} / ${b}) | 0`; break;
        case 0x00d: v = `${b} === 0 ? -1 : ((${a} >>> 0) / (${b} >>> 0)) | 0`; break;
        case 0x00e: v = `${b} === 0 ? ${a} : (${a} % ${b}) | 0`; break;
        case 0x00f: v = `${b} === 0 ? ${a} : ((${a} >>> 0) % (${b} >>> 0)) | 0`; break;
        default: return null;
      }
      return { js: set(v), reads: [rs1, rs2], rd, next: npc };
    }
    case 0x37: return { js: set(String(inst & 0xfffff000)), reads: [], rd, next: npc }; // LUI
    case 0x17: return { js: set(String((pc + (inst & 0xfffff000)) | 0)), reads: [], rd, next: npc }; // AUIPC
    case 0x03: { // LOAD (fast path only)
      if (f3 === 3 || f3 > 5) return null;
      const head = `{ const va = (${a} + ${inst >> 20}) | 0, vpn = va >>> 12, ti = vpn & ${TLB_MASK};\n` +
        `  if (rTag[ti] !== vpn) @BEFORE\n`;
      let body: string;
      switch (f3) {
        case 0: body = set(`(rBytes[ti][va & 4095] << 24) >> 24`); break;
        case 4: body = set(`rBytes[ti][va & 4095]`); break;
        case 2: body = `  if ((va & 3) !== 0) @BEFORE\n  ` + set(`rWords[ti][(va & 4095) >>> 2]`); break;
        case 1: body = `  if ((va & 1) !== 0) @BEFORE\n  { const q = rBytes[ti], o = va & 4095; ` + set(`((q[o] | (q[o + 1] << 8)) << 16) >> 16`) + ' }'; break;
        default: body = `  if ((va & 1) !== 0) @BEFORE\n  { const q = rBytes[ti], o = va & 4095; ` + set(`q[o] | (q[o + 1] << 8)`) + ' }'; break;
      }
      return { js: head + body + '\n}', reads: [rs1], rd, next: npc };
    }
    case 0x23: { // STORE (fast path only)
      if (f3 > 2) return null;
      const imm = ((inst >> 25) << 5) | rd;
      let body: string;
      switch (f3) {
        case 2: body = `  if ((va & 3) !== 0) @BEFORE\n  wWords[ti][(va & 4095) >>> 2] = ${b};`; break;
        case 0: body = `  wBytes[ti][va & 4095] = ${b};`; break;
        default: body = `  if ((va & 1) !== 0) @BEFORE\n  { const q = wBytes[ti], o = va & 4095; q[o] = ${b}; q[o + 1] = ${b} >> 8; }`; break;
      }
      // No check for stores into code: a frame holding blocks is never cached as writable
      // (PhysMemory.code), so such a store misses here and takes the interpreter's slow path.
      return {
        js: `{ const va = (${a} + ${imm}) | 0, vpn = va >>> 12, ti = vpn & ${TLB_MASK};\n  if (wTag[ti] !== vpn) @BEFORE\n${body}\n}`,
        reads: [rs1, rs2], rd: 0, next: npc,
      };
    }
    case 0x63: { // BRANCH: taken leaves the block (or loops), not taken falls through
      let cond: string;
      switch (f3) {
        case 0: cond = `${a} === ${b}`; break;
        case 1: cond = `${a} !== ${b}`; break;
        case 4: cond = `${a} < ${b}`; break;
        case 5: cond = `${a} >= ${b}`; break;
        case 6: cond = `(${a} >>> 0) < (${b} >>> 0)`; break;
        case 7: cond = `(${a} >>> 0) >= (${b} >>> 0)`; break;
        default: return null;
      }
      const imm = ((inst >> 31) << 12) | ((inst << 4) & 0x800) | ((inst >>> 20) & 0x7e0) | ((inst >>> 7) & 0x1e);
      const target = (pc + imm) | 0;
      if ((target & 3) !== 0) return null; // the interpreter raises the misaligned fetch if taken
      return { js: '', reads: [rs1, rs2], rd: 0, next: npc, branch: { cond, target } };
    }
    case 0x6f: { // JAL: a direct jump inside the page is followed (the caller stops at page end)
      const imm = ((inst >> 31) << 20) | (inst & 0xff000) | ((inst >>> 9) & 0x800) | ((inst >>> 20) & 0x7fe);
      const target = (pc + imm) | 0;
      if ((target & 3) !== 0) return null;
      if (target === pc && rd === 0) return null; // `j .`: the interpreter retires the budget at once
      return { js: set(String(npc)), reads: [], rd, next: null, jump: target };
    }
    case 0x67: { // JALR: ends the block
      if (f3 !== 0) return null;
      const js = `{ const t = ((${a} + ${inst >> 20}) & ~1) | 0;\n  if ((t & 3) !== 0) @BEFORE\n  ${set(String(npc))} ${after('@K1', 't')} }`;
      return { js, reads: [rs1], rd, next: null };
    }
    case 0x0f: // FENCE, FENCE.I: nothing cached that they would order (see the header)
      if (f3 > 1) return null;
      return { js: '', reads: [], rd: 0, next: npc };
    default:
      return null;
  }
}

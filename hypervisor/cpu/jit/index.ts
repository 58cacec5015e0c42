// The block translator (issue 17; design and measurements in docs/jit.md).
//
// `Translator` is the interpreter (interpreter.ts) with a block table (`Blocks`, its
// `BlockTable` hooks): at the top of the interpreter's inner loop, when a translated block
// starts at the pc and the budget covers its longest path, the block runs instead of one
// interpreted instruction. Blocks contain only instructions that never leave the inner loop
// (ALU, branches, jumps, TLB-hit loads and stores, fences), so the outer loop (interrupts,
// stop requests, memory generation, watcher re-marking) runs at exactly the points where the
// interpreter runs it, and every architectural effect, instret and trap is the interpreter's
// own. Anything else (CSRs, traps, atomics, WFI, TLB misses, MMIO, watched frames) is
// executed by the interpreter's code: there is one run loop.
//
// Blocks are cached per physical code frame (its Int32Array: a frame's identity), by word
// offset, and carry their virtual start pc; a pc is translated after HOT visits.
//
// Invalidation (docs/jit.md): a frame blocks were compiled from is marked
// (PhysMemory.markCode), so no TLB caches it as writable and every guest store to it, by any
// hart, takes the MMU's slow path, which raises `Mmu.attention`; the engine then goes round
// its outer loop. The translator's epoch advances at every run() entry and every outer-loop
// pass, and a block whose words have not been checked in the current epoch is checked
// (blockCurrent) before it runs: stale blocks are dropped. Writers outside a run (the
// hypervisor, dom0 backends, DMA, grant copies, other harts) all act between run() calls or
// inside a device callback (attention): no hook in any of them is needed.

import { Interpreter, mulhu, type BlockTable } from '../interpreter.ts';
import type { Hart } from '../hart.ts';
import { TLB_MASK, type TlbSet } from '../mmu.ts';
import { blockCurrent, compileBlock, jitStats, type Block, type BlockState } from './compile.ts';

export { jitStats, MAX_BLOCK } from './compile.ts';

/** Visits of a pc (while interpreted) before a block is compiled from it. */
export const HOT = 64;

/** Translations of one code frame, by word offset. */
interface PageCache {
  /** NO_BLOCKS until the first block of the frame is compiled (a frame never hot costs 1 KiB). */
  blocks: Array<Block | undefined>;
  readonly hits: Uint8Array;
  /** Blocks compiled from this frame so far (then its frame must be marked as code). */
  compiled: number;
}

/**
 * Advances at every run() entry and outer-loop pass of any translator: a block checked in
 * the current epoch is known current (nothing could write code since without an outer pass).
 */
let epoch = 0;

/**
 * Blocks of every frame, shared by all translators: a block depends only on its code words
 * and virtual pc, so harts and domains running the same code share its translation. Weak:
 * a frame that goes away takes its blocks with it.
 */
const caches = new WeakMap<Int32Array, PageCache>();

/** Shared by every frame without blocks: never written. */
const NO_BLOCKS: Array<Block | undefined> = new Array<Block | undefined>(1024).fill(undefined);

const NO_CACHE: PageCache = { blocks: NO_BLOCKS, hits: new Uint8Array(1024), compiled: 0 };

function pageCache(page: Int32Array): PageCache {
  let c = caches.get(page);
  if (c === undefined) {
    c = { blocks: NO_BLOCKS, hits: new Uint8Array(1024), compiled: 0 };
    caches.set(page, c);
  }
  return c;
}

/** Marks `pfn` as holding code and re-marks this hart's write TLB entries at once. */
function markCode(mem: Hart['mem'], mmu: Hart['mmu'], pfn: number): void {
  mem.markCode(pfn);
  mmu.rewatch();
  epoch++;
}

export interface TranslatorOptions {
  /** Interpreted visits of a pc before it is compiled (1..255; default HOT). Tests and the fuzzer use 1-2 so short programs run translated. */
  hot?: number;
}

/** One translator's block table: the frame its hart is fetching from, and that frame's blocks. */
class Blocks implements BlockTable {
  nextPc = 0;
  private readonly st: BlockState = { pc: 0 };
  private cache: PageCache = NO_CACHE;
  private page: Int32Array = new Int32Array(1024);
  private hart: Hart | null = null;
  private x: Int32Array = new Int32Array(32);
  private codePfn = -1;
  /** Virtual page of the current frame. */
  private vpn = -1;

  constructor(private readonly hot: number) {}

  resync(): void {
    epoch++; // code may have been written: check blocks again before running them
  }

  enterFrame(hart: Hart, page: Int32Array, pc: number): boolean {
    const mmu = hart.mmu;
    const xs = mmu.sets[hart.fetchSet()]!;
    const xi = (pc >>> 12) & TLB_MASK;
    // Only a frame the fetch TLB holds: its pfn is what gets marked as code.
    if (xs.xTag[xi] !== pc >>> 12) return false;
    const codePfn = xs.xPfn[xi]!;
    const cache = pageCache(page);
    // The frame may have been freed and reused since its blocks were compiled.
    if (cache.compiled !== 0 && !hart.mem.code[codePfn]) markCode(hart.mem, mmu, codePfn);
    this.cache = cache;
    this.page = page;
    this.hart = hart;
    this.x = hart.x;
    this.codePfn = codePfn;
    this.vpn = pc >>> 12;
    return true;
  }

  dispatch(pc: number, left: number, dset: TlbSet): number {
    // Chaining: while blocks run back to back inside the current frame, go from one to the
    // next here, as the interpreter's loop would (same page, budget left: it would call
    // dispatch again at once), without returning to it.
    let total = 0;
    for (;;) {
      const r = this.one(pc, left, dset);
      if (r <= 0) return total > 0 ? total : r;
      total += r;
      left -= r;
      pc = this.nextPc;
      if (left <= 0 || pc >>> 12 !== this.vpn) return total;
      // Only into a block: a cold pc's visit is counted once, by the run loop's next dispatch.
      const next = this.cache.blocks[(pc >>> 2) & 0x3ff];
      if (next === undefined || next.pc !== pc) return total;
    }
  }

  private one(pc: number, left: number, dset: TlbSet): number {
    const cache = this.cache;
    const idx = (pc >>> 2) & 0x3ff;
    const b: Block | undefined = cache.blocks[idx];
    if (b !== undefined && b.pc === pc) {
      if (b.seen !== epoch) {
        if (blockCurrent(b, this.page)) b.seen = epoch;
        else { // the code changed since it was compiled
          jitStats.stale++;
          cache.blocks[idx] = undefined;
          cache.hits[idx] = 0;
          return 0;
        }
      }
      if (b.len > left) return 0;
      const st = this.st;
      const r = b.fn!(this.x, st, dset.rTag, dset.rWords, dset.rBytes, dset.wTag, dset.wWords, dset.wBytes, left, mulhu);
      if (r > 0) {
        jitStats.blockRuns++;
        this.nextPc = st.pc;
      }
      return r;
    }
    if (++cache.hits[idx]! < this.hot) return 0;
    cache.hits[idx] = 0;
    const nb = compileBlock(this.page, pc);
    if (cache.blocks === NO_BLOCKS) cache.blocks = new Array<Block | undefined>(1024).fill(undefined);
    cache.blocks[idx] = nb;
    if (nb.fn !== null && cache.compiled++ === 0) markCode(this.hart!.mem, this.hart!.mmu, this.codePfn);
    return -1;
  }
}

/** The block translator: the interpreter with a block table (see the top of this file). */
export class Translator extends Interpreter {
  constructor(opts: TranslatorOptions = {}) {
    const hot = opts.hot ?? HOT;
    if (!Number.isInteger(hot) || hot < 1 || hot > 255) throw new RangeError(`Translator: hot must be an integer in 1..255, got ${hot}`);
    super(new Blocks(hot));
  }
}

// Shared fixtures for CPU tests: a machine with RAM, a loader, and an Sv32 page-table builder.

import { afterEach, expect } from 'vitest';
import { ExitReason } from '../../hypervisor/cpu/engine.ts';
import { Hart } from '../../hypervisor/cpu/hart.ts';
import { createEngine } from '../../hypervisor/cpu/engines.ts';
import { MAX_FRAMES, PhysMemory } from '../../hypervisor/cpu/memory.ts';
import { ebreak, ecall, wfi } from './asm.ts';

export const RAM_BASE = 0x80000000;
export const RAM_SIZE = 4 << 20;

// Constructing a PhysMemory costs tens of milliseconds (two 2^20-entry arrays), so tests
// recycle them: every memory handed out during a test returns to the pool after it, and is
// reset (frames zeroed or removed, no MMIO, no watchers) before reuse.
const pool: PhysMemory[] = [];
const inUse: PhysMemory[] = [];
afterEach(() => {
  pool.push(...inUse);
  inUse.length = 0;
});

/** A PhysMemory with exactly [RAM_BASE, RAM_BASE + ramSize) populated with zeroed frames. */
export function freshMemory(ramSize = RAM_SIZE): PhysMemory {
  const recycled = pool.pop();
  const mem = recycled ?? new PhysMemory();
  if (recycled) {
    const first = RAM_BASE >>> 12;
    const last = first + Math.ceil(ramSize / 4096);
    for (let pfn = 0; pfn < MAX_FRAMES; pfn++) {
      const f = mem.frames[pfn];
      if (!f) continue;
      if (pfn < first || pfn >= last) mem.removeFrame(pfn);
      else f.fill(0);
    }
    mem.regions.length = 0;
    mem.watched.fill(0);
    mem.onStore = null;
    mem.lastRunner = null;
    mem.generation++;
  }
  if (ramSize > 0) mem.addRam(RAM_BASE, ramSize);
  inUse.push(mem);
  return mem;
}

export class Machine {
  readonly mem: PhysMemory;
  hart: Hart;
  // The default engine (DEFAULT_ENGINE): the CPU tests follow it when the translator becomes it.
  readonly cpu = createEngine();

  constructor(ramSize = RAM_SIZE) {
    this.mem = freshMemory(ramSize);
    this.hart = new Hart(this.mem);
    this.hart.pc = RAM_BASE;
  }

  /** Replaces the hart with a fresh one (reset state, pc = RAM_BASE) on the same memory. */
  resetHart(): Hart {
    this.hart = new Hart(this.mem);
    this.hart.pc = RAM_BASE;
    return this.hart;
  }

  /** Writes instruction/data words at `addr` (physical). Returns the address after them. */
  load(addr: number, words: Array<number | number[]>): number {
    const flat = words.flat();
    flat.forEach((w, i) => this.mem.write32(addr + 4 * i, w >>> 0));
    return addr + 4 * flat.length;
  }

  run(budget = 10_000): ExitReason {
    return this.cpu.run(this.hart, budget);
  }

  /**
   * Loads `prog` + ebreak at RAM_BASE, runs in M-mode with hostTraps until the ebreak, and
   * checks that it was the ebreak that stopped it.
   */
  exec(prog: Array<number | number[]>, budget = 10_000): Hart {
    const end = this.load(RAM_BASE, [...prog, ebreak()]);
    this.hart.hostTraps = true;
    this.hart.pc = RAM_BASE;
    const r = this.run(budget);
    expect(r).toBe(ExitReason.HostTrap);
    expect({ cause: this.hart.trapCause, pc: this.hart.pc }).toEqual({ cause: 3, pc: end - 4 });
    return this.hart;
  }

  /**
   * Loads `prog` + wfi at RAM_BASE and runs with hostTraps off (traps vector normally)
   * until the wfi exits with nothing pending.
   */
  execToWfi(prog: Array<number | number[]>, budget = 10_000): Hart {
    const end = this.load(RAM_BASE, [...prog, wfi()]);
    this.hart.pc = RAM_BASE;
    expect(this.run(budget)).toBe(ExitReason.Wfi);
    expect(this.hart.pc).toBe(end);
    return this.hart;
  }

  /**
   * Loads `prog` at RAM_BASE and runs it in privilege `priv` with hostTraps on until the
   * first trap into M-mode; returns what the trap was. A trailing ecall is appended, so a
   * clean run ends with cause 8 + priv.
   */
  runAs(priv: number, prog: Array<number | number[]>, budget = 10_000): { cause: number; tval: number; pc: number } {
    this.load(RAM_BASE, [...prog, ecall()]);
    this.hart.priv = priv;
    this.hart.hostTraps = true;
    this.hart.pc = RAM_BASE;
    expect(this.run(budget)).toBe(ExitReason.HostTrap);
    return { cause: this.hart.trapCause, tval: this.hart.trapTval, pc: this.hart.pc };
  }

  /** Register value as unsigned. */
  xu(r: number): number {
    return this.hart.x[r]! >>> 0;
  }
}

/** Sv32 page tables built in physical memory with a bump allocator for tables. */
export class PageTables {
  readonly root: number;
  private next: number;

  constructor(private readonly mem: PhysMemory, tableArea: number) {
    this.root = tableArea;
    this.next = tableArea + 4096;
    this.mem.writeBytes(this.root, new Uint8Array(4096));
  }

  /** satp value (MODE=Sv32) pointing at the root. */
  get satp(): number {
    return (0x80000000 | (this.root >>> 12)) >>> 0;
  }

  private alloc(): number {
    const a = this.next;
    this.next += 4096;
    this.mem.writeBytes(a, new Uint8Array(4096));
    return a;
  }

  /** Sets the root entry for va (a megapage leaf, or anything when flags say so). */
  setL1(va: number, pte: number): void {
    this.mem.write32(this.root + (va >>> 22) * 4, pte >>> 0);
  }

  l1(va: number): number {
    return this.mem.read32(this.root + (va >>> 22) * 4);
  }

  /** Address of the level-0 PTE for va, creating the level-0 table if needed. */
  l0Addr(va: number): number {
    let e = this.l1(va);
    if ((e & 1) === 0) {
      const t = this.alloc();
      e = ((t >>> 12) << 10) | 1;
      this.setL1(va, e);
    }
    return (e >>> 10) * 4096 + ((va >>> 12) & 0x3ff) * 4;
  }

  map(va: number, pa: number, flags: number): void {
    this.mem.write32(this.l0Addr(va), ((Math.floor(pa / 4096) << 10) | flags) >>> 0);
  }

  mapMega(va: number, pa: number, flags: number): void {
    this.setL1(va, ((Math.floor(pa / 4096) << 10) | flags) >>> 0);
  }

  pte(va: number): number {
    return this.mem.read32(this.l0Addr(va));
  }

  setPte(va: number, pte: number): void {
    this.mem.write32(this.l0Addr(va), pte >>> 0);
  }
}

// PTE flag shorthands
export const V = 1, R = 2, W = 4, X = 8, U = 16, G = 32, A = 64, D = 128;

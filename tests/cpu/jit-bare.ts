// A bare machine (the one `pvsim run-bare` builds: RAM, UART, CLINT, HTIF tohost, 16 PMP
// entries, 4 triggers) driven one slice at a time by a given engine, so that two engines can
// run the same program side by side and be compared after every slice. It follows
// hypervisor/bare/machine.ts's runBare loop (time = instructions retired, slices end at the
// next timer deadline); bench/run.ts uses it for jit_mips until runBare takes an engine.

import { Hart, PRIV_M } from '../../hypervisor/cpu/index.ts';
import { ExitReason, type Engine } from '../../hypervisor/cpu/engine.ts';
import { PhysMemory } from '../../hypervisor/cpu/memory.ts';
import { PAGE_SIZE } from '../../protocol/sv32.ts';
import { Ns16550, NS16550_SIZE } from '../../hypervisor/devices/ns16550.ts';
import { Clint, CLINT_SIZE } from '../../hypervisor/devices/clint.ts';
import { parseElf } from '../../xenguest/elf.ts';
import { BARE_CLINT_BASE, BARE_PMP_ENTRIES, BARE_RAM_BASE, BARE_TRIGGERS, BARE_UART_BASE } from '../../hypervisor/bare/machine.ts';

export interface BareSim {
  readonly hart: Hart;
  readonly mem: PhysMemory;
  /** Bytes written to the UART or HTIF console. */
  readonly output: number[];
  /** 'pass', 'fail N', 'stuck', or null while running. */
  outcome: string | null;
  /** Instructions retired (time). */
  executed: number;
  /** One slice of at most `cap` instructions; returns the engine's exit reason. */
  slice(cap: number): ExitReason;
}

export function bareSim(elf: Uint8Array, engine: Engine, opts: { hExt?: boolean; ramBytes?: number } = {}): BareSim {
  const img = parseElf(elf);
  const mem = new PhysMemory();
  mem.addRam(BARE_RAM_BASE, opts.ramBytes ?? 64 * 1024 * 1024);
  for (const s of img.segments) if (s.memsz !== 0) mem.writeBytes(s.paddr, s.data);
  const hart = new Hart(mem, { hartId: 0, pmpEntries: BARE_PMP_ENTRIES, triggers: BARE_TRIGGERS, hExt: opts.hExt ?? false });
  const output: number[] = [];
  let timeOffset = 0;
  let sliceBefore = 0;
  const sim: BareSim = {
    hart, mem, output, outcome: null, executed: 0,
    slice(cap: number): ExitReason {
      const untilTimer = clint.mtimecmp - hart.timeSource();
      const budget = Math.max(1, Math.min(cap, 1_000_000, untilTimer > 0 ? untilTimer : 1_000_000));
      const before = hart.retired;
      sliceBefore = hart.instret;
      const why = engine.run(hart, budget);
      sim.executed += Math.max(1, hart.retired - before);
      sliceBefore = hart.instret;
      clint.update();
      if (why === ExitReason.Wfi && sim.outcome === null) {
        const now = hart.timeSource();
        const mie = hart.readCsr(0x304);
        if ((mie & (1 << 7)) !== 0 && clint.mtimecmp > now && clint.mtimecmp !== Number.MAX_SAFE_INTEGER) {
          timeOffset += clint.mtimecmp - now;
          clint.update();
        } else if ((hart.readCsr(0x344) & mie) === 0) {
          sim.outcome = 'stuck';
        }
      }
      return why;
    },
  };
  hart.timeSource = () => sim.executed + Math.max(0, hart.instret - sliceBefore) + timeOffset;
  const uart = new Ns16550({ tx: (b) => output.push(b), rx: () => -1, rxReady: () => false, irq: () => {} });
  const clint = new Clint(hart, () => hart.timeSource());
  mem.addMmio(BARE_UART_BASE, NS16550_SIZE, uart);
  mem.addMmio(BARE_CLINT_BASE, CLINT_SIZE, clint);
  const tohostSym = img.symbols.get('tohost');
  const fromhost = img.symbols.get('fromhost')?.value;
  if (tohostSym) {
    const tohost = tohostSym.value;
    for (let p = Math.floor(tohost / PAGE_SIZE); p <= Math.floor((tohost + 7) / PAGE_SIZE); p++) mem.setWatched(p, true);
    mem.onStore = (pa, size) => {
      if (pa + size <= tohost || pa >= tohost + 8) return false;
      const lo = mem.read32(tohost);
      const hi = mem.read32(tohost + 4);
      if (lo & 1) {
        sim.outcome = lo === 1 && hi === 0 ? 'pass' : `fail ${lo >>> 1}`;
        return true;
      }
      if (pa + size <= tohost + 4 || (lo === 0 && hi === 0)) return false;
      if (hi >>> 24 === 1 && ((hi >>> 16) & 0xff) === 1) output.push(lo & 0xff);
      mem.write32(tohost, 0);
      mem.write32(tohost + 4, 0);
      if (fromhost !== undefined && mem.isBacked(fromhost, 8)) {
        mem.write32(fromhost, 1);
        mem.write32(fromhost + 4, hi & 0xffff0000);
      }
      return false;
    };
  }
  hart.pc = img.entry >>> 0;
  hart.priv = PRIV_M;
  return sim;
}

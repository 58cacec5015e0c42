// The known shape of the field (issue 14 item 5): claims from the literature, each decided
// from the cells of one run as an ordering (which is faster, by about how much), never as an
// exact number. A claim whose workload or mode is not in the run says "not checked" and why.
// docs/compare.md explains each claim, its source, and where pvsim departs.

import type { CompareCell, CompareMode, CompareOrdering } from './types.ts';
import { formatNs } from './format.ts';

export const SOURCES = {
  barham: 'Barham et al., "Xen and the Art of Virtualization", SOSP 2003',
  adams: 'Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86 Virtualization", ASPLOS 2006',
  bhargava: 'Bhargava et al., "Accelerating Two-Dimensional Page Walks for Virtualized Systems", ASPLOS 2008',
  russell: 'Russell, "virtio: Towards a De-Facto Standard for Virtual I/O Devices", OSR 42(5), 2008',
} as const;

/** Thresholds of the claims (documented in docs/compare.md). */
export const LIMITS = {
  /** "close to native": at most this slowdown. */
  closeToNative: { cpu: 1.1, syscall: 1.25 },
  /** "far slower": trap-and-emulate takes at least this many times PV's time. */
  farSlower: 2,
  /** "a small, batched number of exits per request". */
  fewExitsPerRequest: 32,
  /** "hundreds per sector". */
  legacyExitsPerSector: 100,
  /** "megapages take most of the loss away": hw's excess over native (slowdown - 1) with megapages at most this share of it with 4 KiB pages. */
  megaLossShare: 0.5,
} as const;

const base = (label: string) => label.split(':')[0]!;
const param = (label: string, key: string): string | undefined => {
  const m = new RegExp(`[:,]${key}=([^,]+)`).exec(label);
  return m?.[1];
};

type Decision = { holds: boolean; detail: string } | { missing: string };

/** The cells of one vary combination, looked up by workload and mode. */
class Cells {
  constructor(private readonly cells: CompareCell[]) {}

  /** The cells of workload `w` (its base name) in `mode`, optionally filtered. */
  all(w: string, mode: CompareMode, filter: (c: CompareCell) => boolean = () => true): CompareCell[] {
    return this.cells.filter((c) => base(c.workload) === w && c.mode === mode && filter(c));
  }

  /** Every usable cell (each shadow policy of hvm-trap), or why there is none. */
  each(w: string, mode: CompareMode, filter: (c: CompareCell) => boolean = () => true): CompareCell[] | string {
    const first = this.one(w, mode, filter);
    if (typeof first === 'string') return first;
    return this.all(w, mode, filter).filter((c) => c.ok);
  }

  /** One usable cell, or why there is none. */
  one(w: string, mode: CompareMode, filter?: (c: CompareCell) => boolean): CompareCell | string {
    if (!this.cells.some((c) => base(c.workload) === w)) return `workload ${w} not in this run`;
    const found = this.all(w, mode, filter);
    if (found.length === 0) return `no ${mode} cell of ${w} in this run`;
    const ok = found.find((c) => c.ok);
    if (ok) return ok;
    const err = found[0]!.error ?? 'failed';
    return err.startsWith('workload missing') ? `workload missing (the kernel has no work=${w})` : `${mode} ${w}: ${err}`;
  }
}

const x = (v: number) => `${v.toFixed(2)}×`;
const us = formatNs;

interface OrderingDef {
  claim: string;
  source: string;
  decide(c: Cells): Decision;
}

/** A cell's mode, with hvm-trap's shadow policy: `hvm-trap (wp)`. */
const modeName = (c: CompareCell) => (c.shadow ? `${c.mode} (${c.shadow})` : c.mode);

/** `slow` takes at least `factor` times `fast`'s time, for every shadow policy that ran. */
function slowerThan(w: string, slow: CompareMode, fast: CompareMode, factor: number, filter?: (c: CompareCell) => boolean): (c: Cells) => Decision {
  return (c) => {
    const as = c.each(w, slow, filter);
    const bs = c.each(w, fast, filter);
    if (typeof as === 'string') return { missing: as };
    if (typeof bs === 'string') return { missing: bs };
    let holds = true;
    const parts: string[] = [];
    for (const a of as) {
      for (const b of bs) {
        const r = a.virtualNs / b.virtualNs;
        holds &&= r >= factor;
        parts.push(`${modeName(a)} ${us(a.virtualNs)}, ${modeName(b)} ${us(b.virtualNs)}: ${x(r)}`);
      }
    }
    return { holds, detail: `${w}: ${parts.join('; ')} (needs ≥ ${x(factor)})` };
  };
}

function closeToNative(w: 'cpu' | 'syscall'): (c: Cells) => Decision {
  return (c) => {
    const pv = c.one(w, 'pv');
    const nat = c.one(w, 'native');
    if (typeof pv === 'string') return { missing: pv };
    if (typeof nat === 'string') return { missing: nat };
    const r = pv.virtualNs / nat.virtualNs;
    return { holds: r <= LIMITS.closeToNative[w], detail: `${w}: pv ${us(pv.virtualNs)}, native ${us(nat.virtualNs)}: slowdown ${x(r)} (needs ≤ ${x(LIMITS.closeToNative[w])})` };
  };
}

/** A workload label's bare flag (`tlbwalk:mega`). */
const hasFlag = (label: string, flag: string): boolean => (label.split(':')[1] ?? '').split(',').includes(flag);
const small = (cell: CompareCell) => !hasFlag(cell.workload, 'mega');
const mega = (cell: CompareCell) => hasFlag(cell.workload, 'mega');

/** Exits per request of every ok blk cell on `io` paths, all below or above a bound. */
function exitsPerRequest(ios: string[], bound: number, perSector: boolean): (c: Cells) => Decision {
  return (c) => {
    const modes: CompareMode[] = ['pv', 'hvm-trap', 'hvm-hw', 'native'];
    const cells = modes.flatMap((m) => c.all('blk', m, (x) => x.io !== null && ios.includes(x.io)));
    if (!modes.some((m) => c.all('blk', m).length)) return { missing: 'workload blk not in this run' };
    const ok = cells.filter((x) => x.ok && x.ioStats && x.mode !== 'native');
    if (ok.length === 0) return { missing: cells[0]?.error ?? `no ${ios.join('/')} blk cell in this run` };
    const parts: string[] = [];
    let holds = true;
    // Named by workload too when the run has several blk settings (qd, mode, bs).
    const several = new Set(ok.map((cell) => cell.workload)).size > 1;
    for (const cell of ok) {
      const bs = Number(param(cell.workload, 'bs') ?? cell.result.bs ?? 4096) || 4096;
      const v = perSector ? cell.ioStats!.exitsPerRequest / (bs / 512) : cell.ioStats!.exitsPerRequest;
      holds &&= perSector ? v >= bound : v <= bound;
      parts.push(`${several ? `${cell.workload} ` : ''}${cell.mode}${cell.shadow ? `/${cell.shadow}` : ''} ${cell.io}: ${v.toFixed(1)}`);
    }
    return { holds, detail: `exits per ${perSector ? 'sector' : 'request'}: ${parts.join(', ')} (needs ${perSector ? '≥' : '≤'} ${bound})` };
  };
}

export const ORDERINGS: readonly OrderingDef[] = [
  { claim: 'PV runs compute (cpu) close to native', source: SOURCES.barham, decide: closeToNative('cpu') },
  { claim: 'PV runs null system calls (syscall) close to native', source: SOURCES.barham, decide: closeToNative('syscall') },
  { claim: 'trap-and-emulate is far slower than PV on PTE writes (pt)', source: SOURCES.barham, decide: slowerThan('pt', 'hvm-trap', 'pv', LIMITS.farSlower) },
  { claim: 'trap-and-emulate is far slower than PV on page faults (pgfault)', source: SOURCES.barham, decide: slowerThan('pgfault', 'hvm-trap', 'pv', LIMITS.farSlower) },
  { claim: 'trap-and-emulate is far slower than PV on fork+exit+wait (fork)', source: SOURCES.barham, decide: slowerThan('fork', 'hvm-trap', 'pv', LIMITS.farSlower) },
  { claim: 'hardware-assisted beats trap-and-emulate on system calls (syscall)', source: SOURCES.adams, decide: slowerThan('syscall', 'hvm-trap', 'hvm-hw', 1) },
  { claim: 'hardware-assisted beats trap-and-emulate on interrupt masking (irq)', source: SOURCES.adams, decide: slowerThan('irq', 'hvm-trap', 'hvm-hw', 1) },
  {
    claim: 'two-stage translation loses to native and to shadow paging on a TLB-miss-bound walk over 4 KiB pages (tlbwalk)',
    source: SOURCES.bhargava,
    decide: (c) => {
      const hw = c.one('tlbwalk', 'hvm-hw', small);
      const traps = c.each('tlbwalk', 'hvm-trap', small);
      const nat = c.one('tlbwalk', 'native', small);
      if (typeof hw === 'string') return { missing: hw };
      if (typeof traps === 'string') return { missing: traps };
      if (typeof nat === 'string') return { missing: nat };
      const holds = hw.virtualNs > nat.virtualNs && traps.every((t) => hw.virtualNs > t.virtualNs);
      return { holds, detail: `tlbwalk (4 KiB): hvm-hw ${us(hw.virtualNs)} (${hw.mmu.refsPerWalk.toFixed(1)} refs/walk), ${traps.map((t) => `${modeName(t)} ${us(t.virtualNs)}`).join(', ')}, native ${us(nat.virtualNs)} (needs hvm-hw slowest)` };
    },
  },
  {
    claim: 'megapages take most of that loss away (tlbwalk:mega: hvm-hw\'s excess over native at most half of that with 4 KiB pages)',
    source: SOURCES.bhargava,
    decide: (c) => {
      const k4 = c.one('tlbwalk', 'hvm-hw', small);
      const m4 = c.one('tlbwalk', 'hvm-hw', mega);
      if (typeof k4 === 'string') return { missing: k4 };
      if (typeof m4 === 'string') return { missing: m4.replace(/^no hvm-hw cell of tlbwalk/, 'no hvm-hw cell of tlbwalk:mega') };
      if (m4.result.pages !== '4m') return { missing: `the kernel walked ${m4.result.pages ?? '?'} pages, not 4 MiB megapages (pages= of its result line)` };
      if (k4.slowdown === null || m4.slowdown === null) return { missing: 'no native tlbwalk cells (4 KiB and mega) to measure slowdowns against' };
      const limit = LIMITS.megaLossShare * (k4.slowdown - 1);
      return { holds: m4.slowdown - 1 <= limit, detail: `hvm-hw slowdown: 4 KiB ${x(k4.slowdown)}, 4 MiB ${x(m4.slowdown)} (needs ≤ ${x(1 + limit)})` };
    },
  },
  { claim: 'PV split drivers and virtio need a small, batched number of exits per block request', source: `${SOURCES.barham}; ${SOURCES.russell}`, decide: exitsPerRequest(['pv', 'virtio', 'pvhvm'], LIMITS.fewExitsPerRequest, false) },
  { claim: 'the legacy (ATA PIO) disk needs hundreds of exits per sector', source: SOURCES.adams, decide: exitsPerRequest(['legacy'], LIMITS.legacyExitsPerSector, true) },
];

/**
 * The orderings, decided on the cells of each vary combination (one set when nothing is
 * varied; with --vary, one per combination, named after its values).
 */
export function computeOrderings(cells: CompareCell[], combos: Record<string, number>[]): CompareOrdering[] {
  const out: CompareOrdering[] = [];
  const same = (a: Record<string, number>, b: Record<string, number>) => JSON.stringify(a) === JSON.stringify(b);
  for (const combo of combos.length ? combos : [{}]) {
    const c = new Cells(cells.filter((cell) => same(cell.vary, combo)));
    const suffix = Object.keys(combo).length ? ` [${Object.entries(combo).map(([k, v]) => `cost.${k}=${v}`).join(', ')}]` : '';
    for (const o of ORDERINGS) {
      const d = o.decide(c);
      if ('missing' in d) out.push({ claim: o.claim + suffix, source: o.source, checked: false, holds: false, detail: `not checked: ${d.missing}` });
      else out.push({ claim: o.claim + suffix, source: o.source, checked: true, holds: d.holds, detail: d.holds ? d.detail : `${d.detail}; departs from the source (docs/compare.md)` });
    }
  }
  return out;
}

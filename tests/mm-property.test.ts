// Property tests of Xen's type/reference invariants: random sequences of pin, unpin, map,
// unmap, entry updates, L2 hooks and base-pointer switches over a few frames never leave a
// frame that is both a page table in use and mapped writable, never leave a reference count
// that the page tables do not explain, and everything returns to the starting counts when
// the sequence is undone.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { FrameType } from '../hypervisor/mm/frame_table.ts';
import { doMmuUpdate } from '../hypervisor/mm/mmu_update.ts';
import { pinTable, setBaseptr, unpinTable } from '../hypervisor/mm/mmuext.ts';
import { finishMm, mmContext } from '../hypervisor/mm/page_types.ts';
import { auditFrames } from '../hypervisor/mm/domain_mm.ts';
import { DOMID } from '../protocol/xen/xen.ts';
import { MiB, MmGuest, RO, RW, SPARE_VA, pte, PTE_V } from './mm_helpers.ts';

const POOL = 5; // frames the sequences play with
const SLOTS = 3; // bootstrap L1 slots they may remap
const HOOKS = 2; // L2 slots (above the bootstrap mapping) they may point at L1s

type Cmd =
  | { op: 'pin'; level: 1 | 2; f: number }
  | { op: 'unpin'; f: number }
  | { op: 'map'; slot: number; f: number; writable: boolean }
  | { op: 'unmap'; slot: number }
  | { op: 'entry'; table: number; index: number; target: number; kind: 'rw' | 'ro' | 'ptr' | 'none' }
  | { op: 'hook'; slot: number; f: number }
  | { op: 'unhook'; slot: number }
  | { op: 'base'; f: number }
  | { op: 'base-back' };

const f = fc.integer({ min: 0, max: POOL - 1 });
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('pin' as const), level: fc.constantFrom(1 as const, 2 as const), f }),
  fc.record({ op: fc.constant('unpin' as const), f }),
  fc.record({ op: fc.constant('map' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }), f, writable: fc.boolean() }),
  fc.record({ op: fc.constant('unmap' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }) }),
  fc.record({ op: fc.constant('entry' as const), table: f, index: fc.integer({ min: 0, max: 3 }), target: f, kind: fc.constantFrom('rw' as const, 'ro' as const, 'ptr' as const, 'none' as const) }),
  fc.record({ op: fc.constant('hook' as const), slot: fc.integer({ min: 0, max: HOOKS - 1 }), f }),
  fc.record({ op: fc.constant('unhook' as const), slot: fc.integer({ min: 0, max: HOOKS - 1 }) }),
  fc.record({ op: fc.constant('base' as const), f }),
  fc.record({ op: fc.constant('base-back' as const) }),
);

function world() {
  const hv = new Hypervisor({ machineMemoryBytes: 24 * MiB });
  const g = MmGuest.create(hv);
  const pool = Array.from({ length: POOL }, (_, i) => g.freeMfn(i));
  const slotVa = (s: number) => SPARE_VA + s * 4096;
  const hookVa = (s: number) => g.layout.virtBase + (1 + s) * 4 * MiB;
  const original = Array.from({ length: SLOTS }, (_, s) => g.readPhys32(g.ptePa(slotVa(s))));
  return { hv, g, pool, slotVa, hookVa, original };
}

type World = ReturnType<typeof world>;

/** One command, through the same functions the hypercalls use; returns the errno (ignored: refusals are fine). */
function apply(w: World, c: Cmd): number {
  const { hv, g, pool } = w;
  const ctx = mmContext(hv);
  const update = (ptr: number, val: number) => doMmuUpdate(ctx, g.vcpu, 1, DOMID.SELF, () => ({ ptrLo: ptr, ptrHi: 0, valLo: val, valHi: 0 })).rc;
  let rc = 0;
  switch (c.op) {
    case 'pin':
      rc = pinTable(ctx, g.domain, pool[c.f]!, c.level === 1 ? FrameType.L1PageTable : FrameType.L2PageTable);
      break;
    case 'unpin':
      rc = unpinTable(ctx, g.domain, pool[c.f]!);
      break;
    case 'map':
      rc = update(g.ptePa(w.slotVa(c.slot)), pte(pool[c.f]!, c.writable ? RW : RO));
      break;
    case 'unmap':
      rc = update(g.ptePa(w.slotVa(c.slot)), 0);
      break;
    case 'entry': {
      const val = c.kind === 'none' ? 0 : pte(pool[c.target]!, c.kind === 'rw' ? RW : c.kind === 'ro' ? RO : PTE_V);
      rc = update(pool[c.table]! * 4096 + c.index * 4, val);
      break;
    }
    case 'hook':
      rc = update(g.l2ePa(w.hookVa(c.slot)), pte(pool[c.f]!, PTE_V));
      break;
    case 'unhook':
      rc = update(g.l2ePa(w.hookVa(c.slot)), 0);
      break;
    case 'base':
      rc = setBaseptr(ctx, g.vcpu, pool[c.f]!);
      break;
    case 'base-back':
      rc = setBaseptr(ctx, g.vcpu, g.l2Mfn);
      break;
  }
  finishMm(ctx);
  return rc;
}

/** Undoes whatever a sequence did: base back, every pin dropped, hooks removed, slots restored. */
function undo(w: World): void {
  const { hv, g, pool } = w;
  const ctx = mmContext(hv);
  expect(setBaseptr(ctx, g.vcpu, g.l2Mfn)).toBe(0);
  for (const m of pool) if (hv.frames.isPinned(m)) expect(unpinTable(ctx, g.domain, m)).toBe(0);
  const update = (ptr: number, val: number) => doMmuUpdate(ctx, g.vcpu, 1, DOMID.SELF, () => ({ ptrLo: ptr, ptrHi: 0, valLo: val, valHi: 0 })).rc;
  for (let s = 0; s < HOOKS; s++) expect(update(g.l2ePa(w.hookVa(s)), 0)).toBe(0);
  for (let s = 0; s < SLOTS; s++) expect(update(g.ptePa(w.slotVa(s)), w.original[s]!)).toBe(0);
  finishMm(ctx);
}

function counts(hv: Hypervisor, mfns: Iterable<number>): string[] {
  return [...mfns].map((m) => `${m}:${hv.frames.typeCount(m)}:${hv.frames.refCount(m)}:${hv.frames.isPinned(m)}`);
}

describe('type and reference invariants under random sequences', () => {
  it('hold after every step, and every count returns when the sequence is undone', () => {
    fc.assert(
      fc.property(fc.array(cmd, { minLength: 1, maxLength: 40 }), (cmds) => {
        const w = world();
        const all = [...w.g.domain.p2m, w.g.domain.sharedInfoMfn];
        const start = counts(w.hv, all);
        for (const c of cmds) {
          apply(w, c);
          const problems = auditFrames(w.hv.frames, w.hv.domains.values());
          if (problems.length) throw new Error(`after ${JSON.stringify(c)}: ${problems.join('; ')}`);
        }
        undo(w);
        expect(auditFrames(w.hv.frames, w.hv.domains.values())).toEqual([]);
        expect(counts(w.hv, all)).toEqual(start);
        for (const m of w.pool) expect([w.hv.frames.typeCount(m), w.hv.frames.refCount(m)]).toEqual([0, 1]);
      }),
      { numRuns: 100 },
    );
  });

  it('a sequence that builds a full second address space and tears it down', () => {
    // A deterministic companion to the random runs, exercising every kind of entry at once.
    const w = world();
    const seq: Cmd[] = [
      { op: 'entry', table: 0, index: 0, target: 2, kind: 'rw' },
      { op: 'entry', table: 0, index: 1, target: 3, kind: 'ro' },
      { op: 'entry', table: 1, index: 0, target: 0, kind: 'ptr' },
      { op: 'pin', level: 2, f: 1 },
      { op: 'entry', table: 0, index: 2, target: 0, kind: 'rw' }, // its own table writable: refused
      { op: 'map', slot: 0, f: 0, writable: true }, // a table writable: refused
      { op: 'map', slot: 0, f: 0, writable: false },
      { op: 'hook', slot: 0, f: 0 },
      { op: 'base', f: 1 },
      { op: 'unpin', f: 1 },
    ];
    const rcs = seq.map((c) => apply(w, c));
    expect(rcs).toEqual([0, 0, 0, 0, -16, -16, 0, 0, 0, 0]);
    expect(w.hv.frames.typeCount(w.pool[0]!)).toBe(2); // referenced by both L2s
    expect(auditFrames(w.hv.frames, w.hv.domains.values())).toEqual([]);
    undo(w);
    for (const m of w.pool) expect([w.hv.frames.typeCount(m), w.hv.frames.refCount(m)]).toEqual([0, 1]);
  });
});

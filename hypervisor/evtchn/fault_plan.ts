// A domain's event-channel fault plan (the scenario key `faults`): its data only, no imports,
// so Domain can hold one without an import cycle; faults.ts acts on it.

export type EvtchnFaultKind = 'lose-notify' | 'delay-notify' | 'dup-notify' | 'spurious' | 'stall';
export type EvtchnFaultWhen = { every: number } | { at: number } | { prob: number };
/** Which notifications: the frontend's to its backend, the backend's to the frontend, or both. */
export type EvtchnFaultDir = 'to-backend' | 'to-frontend' | 'both';

export interface EvtchnFault {
  kind: EvtchnFaultKind;
  when: EvtchnFaultWhen;
  dir: EvtchnFaultDir;
  /** delay-notify: ns of virtual time. */
  delayNs: number;
  /** stall: ns the backend hears nothing from the frontend (held sends arrive as one at its end). */
  windowNs: number;
}

export interface EvtchnFaultStats { sends: number; lost: number; delayed: number; duplicated: number; spurious: number; stalled: number }

export interface EvtchnFaultPlan {
  faults: EvtchnFault[];
  /** Seeded from the scenario's seed: [0, 1). */
  random: () => number;
  /** Runs `fn` at virtual time `at` (the hypervisor's event queue). */
  schedule: (at: number, fn: () => void) => void;
  stats: EvtchnFaultStats;
  /** Per fault: sends on the channel it has seen (for `every`), and whether `at` fired. */
  seen: number[];
  fired: boolean[];
  /** A stall's held notification to the backend. */
  held: boolean;
}

export function newFaultPlan(faults: EvtchnFault[], random: () => number, schedule: (at: number, fn: () => void) => void): EvtchnFaultPlan {
  return { faults, random, schedule, stats: { sends: 0, lost: 0, delayed: 0, duplicated: 0, spurious: 0, stalled: 0 }, seen: faults.map(() => 0), fired: faults.map(() => false), held: false };
}


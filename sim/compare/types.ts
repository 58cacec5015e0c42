// The data of one `pvsim compare` run: what the runner measures, the terminal table and the
// HTML report draw, and `--json` writes. One home for the shape, so every side agrees on it.

/** How a workload runs: bare on the board, or as a domain of one kind. */
export const COMPARE_MODES = ['native', 'pv', 'hvm-trap', 'hvm-hw'] as const;
export type CompareMode = (typeof COMPARE_MODES)[number];

/** The I/O path of an I/O workload (PV split drivers, virtio-mmio, the legacy ATA disk, PV drivers on HVM). */
export const COMPARE_IO_PATHS = ['pv', 'virtio', 'legacy', 'pvhvm'] as const;
export type CompareIoPath = (typeof COMPARE_IO_PATHS)[number];

export type CompareShadow = 'wp' | 'lazy';

/** One line of a `perf kvm stat`-like table. Times are virtual ns. */
export interface ExitStat {
  reason: string;
  count: number;
  /** count / all exits of the cell (0..1). */
  share: number;
  /** time in this reason / time in all exits (0..1). */
  timeShare: number;
  minNs: number;
  avgNs: number;
  maxNs: number;
}

export interface CompareMmu {
  pageWalks: number;
  /** Memory references per walk (2 for Sv32, up to 15 for two-stage Sv32 over Sv32x4). */
  refsPerWalk: number;
  tlbMisses: number;
  shadowFills: number;
  /** Shadow flushes by cause (satp write, sfence.vma, write-protect, ...). */
  shadowFlushes: Record<string, number>;
  wpFaults: number;
  mmuUpdateCalls: number;
  /** PTEs per mmu_update hypercall (PV batching); 0 when there were none. */
  ptesPerMmuUpdate: number;
}

export interface CompareIo {
  requests: number;
  exitsPerRequest: number;
  notificationsPerRequest: number;
  interruptsPerRequest: number;
  grantOpsPerRequest: number;
  bytesCopiedPerRequest: number;
  dom0NsPerRequest: number;
  latencyP50Ns: number;
  latencyP99Ns: number;
  /** Latency distribution: upper bound of each bucket (ns) and its count. */
  latencyHistogram: { ns: number; count: number }[];
  /** How the latency figures were obtained, when they are not a measured distribution. */
  latencyNote?: string;
  throughput: number;
  /** e.g. "IOPS", "Mbit/s", "pings/s". */
  throughputUnit: string;
}

/** One workload run in one combination (mode, I/O path, shadow policy, varied cost keys). */
export interface CompareCell {
  workload: string;
  mode: CompareMode;
  /** null for workloads that do no I/O. */
  io: CompareIoPath | null;
  /** null outside hvm-trap. */
  shadow: CompareShadow | null;
  /** The cost-model keys varied for this cell (`--vary`), empty otherwise. */
  vary: Record<string, number>;
  ok: boolean;
  error?: string;
  /** The checksum the workload printed; equal across modes for the same workload. */
  checksum: string;
  /** The workload's result line, as key=value fields. */
  result: Record<string, string>;
  /** Operations the workload did (system calls, faults, requests, ...), from its result line. */
  ops?: number;
  /** Exits (all reasons) per operation, over the measured section. */
  exitsPerOp?: number;
  /** What to know when reading this cell (e.g. counters that cover the whole run). */
  note?: string;
  /** Virtual time of the measured section (ns). */
  virtualNs: number;
  /** virtualNs / the native cell's virtualNs (same workload, io, vary); null without one. */
  slowdown: number | null;
  instructions: { guestUser: number; guestKernel: number; hypervisor: number; dom0: number };
  /**
   * Where virtual time went, for the stacked chart (ns; sums to about virtualNs). Counters are
   * taken over the measured section (from the guest's last console line before it to its
   * result line); idle is what the counted parts leave of virtualNs.
   */
  timeNs: { guestUser: number; guestKernel: number; hypervisor: number; dom0: number; idle: number };
  exits: ExitStat[];
  /** Illegal-instruction exits by the instruction emulated (csrrw satp, sret, wfi, ...). */
  illegalInsn: { insn: string; count: number }[];
  hypercalls: { nr: number; name: string; count: number }[];
  mmu: CompareMmu;
  /** Per-request I/O figures, for I/O workloads. */
  ioStats?: CompareIo;
}

/** A claim from the literature, checked against this run. */
export interface CompareOrdering {
  claim: string;
  source: string;
  /** False when the run lacks what the claim needs (a workload, a mode): then holds is false too. */
  checked: boolean;
  holds: boolean;
  /** The figures it was decided on, or why it could not be checked. */
  detail: string;
}

export interface CompareReport {
  version: 1;
  seed: number;
  /** The cost model's values used (before any --vary). */
  costModel: Record<string, number>;
  workloads: string[];
  modes: CompareMode[];
  ioPaths: CompareIoPath[];
  shadows: CompareShadow[];
  /** `--vary cost.KEY=V1,V2`: each key and its values, in the order given. */
  varied: { key: string; values: number[] }[];
  cells: CompareCell[];
  orderings: CompareOrdering[];
}

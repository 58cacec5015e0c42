// Per-domain and per-vCPU scheduling parameters, apart from the scheduler interface so that
// Domain and Vcpu can hold them without importing the scheduler (which names Vcpu).

/** Per-domain scheduling parameters (xl sched-credit / sched-credit2: weight and cap; xl.cfg cpus=, cpus_soft=). */
export interface SchedParams {
  weight: number;
  /** Percent of one pCPU; 0 = no cap. */
  cap: number;
  /** Hard affinity (xl.cfg cpus=): the pCPUs its vCPUs may run on, ascending; null = all. */
  hardAffinity: readonly number[] | null;
  /** Soft affinity (xl.cfg cpus_soft=): the pCPUs its vCPUs prefer; null = no preference. */
  softAffinity: readonly number[] | null;
  /** The id of the cpupool it is in (0: Pool-0). */
  cpupool: number;
}

export const DEFAULT_SCHED_PARAMS: Readonly<SchedParams> = { weight: 256, cap: 0, hardAffinity: null, softAffinity: null, cpupool: 0 };

/** A vCPU's RTDS server (xl sched-rtds -p -b -e): budget every period, in microseconds. */
export interface RtdsParams {
  periodUs: number;
  budgetUs: number;
  /** May run beyond its budget in time no reserved vCPU wants (at a lower priority level). */
  extratime: boolean;
}

/** rt.c: RTDS_DEFAULT_PERIOD 10 ms, RTDS_DEFAULT_BUDGET 4 ms; a new vCPU has extratime set. */
export const DEFAULT_RTDS_PARAMS: Readonly<RtdsParams> = { periodUs: 10_000, budgetUs: 4_000, extratime: true };

/** rt.c: RTDS_MIN_PERIOD and RTDS_MIN_BUDGET are 10 us; the budget is at most the period. */
export const RTDS_LIMITS = { minPeriodUs: 10, minBudgetUs: 10, maxPeriodUs: 2 ** 31 - 1 } as const;

/** Whether pCPU `cpu` is in `mask` (null: every pCPU). */
export function inMask(mask: readonly number[] | null, cpu: number): boolean {
  return mask === null || mask.includes(cpu);
}

// Per-domain scheduling parameters, apart from the scheduler interface so that Domain can
// hold them without importing the scheduler (which names Vcpu).

/** Per-domain scheduling parameters (xl sched-credit: weight and cap). */
export interface SchedParams {
  weight: number;
  /** Percent of one pCPU; 0 = no cap. */
  cap: number;
}

export const DEFAULT_SCHED_PARAMS: Readonly<SchedParams> = { weight: 256, cap: 0 };

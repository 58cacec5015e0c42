// The scheduler's boot parameters, read from the hypervisor's command line under Xen's own
// names (docs/misc/xen-command-line.pandoc), so a scenario or `pvsim hypervisor` sets them
// as a Xen user would: `sched=credit2 sched_ratelimit_us=500 credit2_runqueue=all`.

export const SCHEDULER_NAMES = ['credit', 'credit2', 'rtds', 'null', 'rr'] as const;
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];

/** Xen's default scheduler since 4.12 (sched= default). */
export const DEFAULT_SCHEDULER: SchedulerName = 'credit2';

export const CREDIT2_RUNQUEUE = ['cpu', 'core', 'socket', 'node', 'all'] as const;
export type Credit2Runqueue = (typeof CREDIT2_RUNQUEUE)[number];

export interface SchedOptions {
  /** sched=: the scheduler, when the command line names one. */
  sched?: SchedulerName;
  /** sched_ratelimit_us (default 1000; 0 disables), credit and credit2. */
  ratelimitUs: number;
  /** sched_credit_tslice_ms (default 30). */
  creditTsliceMs: number;
  /** load-balance-ratelimit, us (default 1000; 0 disables), credit. */
  loadBalanceRatelimitUs: number;
  /**
   * pvsim's own, off by default: credit1 also marks a vCPU active when it wakes (pvsim's
   * behaviour before it followed Xen, which samples activity only at ticks).
   */
  creditWakeActive: boolean;
  /**
   * pvsim's own, on by default (Xen has no switch for it): credit1 BOOSTs a vCPU that wakes
   * with credit left. sched_credit_boost=0 turns it off, as Ongaro, Cox and Rixner (VEE 2008)
   * compared Xen with and without it.
   */
  creditBoost: boolean;
  /** credit2_runqueue (default socket). */
  credit2Runqueue: Credit2Runqueue;
  /** sched_credit2_max_cpus_runqueue (default 16). */
  credit2MaxCpusRunqueue: number;
  /** credit2_cap_period_ms (default 10). */
  credit2CapPeriodMs: number;
  /** sched_credit2_migrate_resist, us (default 500). */
  credit2MigrateResistUs: number;
}

export const DEFAULT_SCHED_OPTIONS: Readonly<SchedOptions> = {
  ratelimitUs: 1000,
  creditTsliceMs: 30,
  loadBalanceRatelimitUs: 1000,
  creditWakeActive: false,
  creditBoost: true,
  credit2Runqueue: 'socket',
  credit2MaxCpusRunqueue: 16,
  credit2CapPeriodMs: 10,
  credit2MigrateResistUs: 500,
};

/** The parameters parseSchedOptions reads (with '-' written '_', as it compares them). */
export const SCHED_PARAMS = [
  'sched', 'sched_ratelimit_us', 'sched_credit_tslice_ms', 'load_balance_ratelimit', 'sched_credit_wake_active', 'sched_credit_boost',
  'credit2_runqueue', 'sched_credit2_max_cpus_runqueue', 'credit2_cap_period_ms', 'sched_credit2_migrate_resist',
] as const;

export class SchedOptionError extends Error {
  override readonly name = 'SchedOptionError';
}

function int(key: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new SchedOptionError(`${key}=${v}: expected an integer ${min}..${max}`);
  return Number(v);
}

function bool(key: string, v: string | undefined): boolean {
  // Xen's boolean parameters: a bare key, or 1/0, yes/no, true/false, on/off, enable/disable.
  if (v === undefined) return true;
  if (/^(1|yes|true|on|enable)$/.test(v)) return true;
  if (/^(0|no|false|off|disable)$/.test(v)) return false;
  throw new SchedOptionError(`${key}=${v}: expected a boolean`);
}

/**
 * The scheduler parameters a Xen command line sets; other words are left to whoever reads
 * them. A bad value of a scheduler parameter is an error (Xen would ignore it with a warning
 * in its log; a simulation that silently ran with another value would mislead).
 */
export function parseSchedOptions(cmdline: string): SchedOptions {
  const o: SchedOptions = { ...DEFAULT_SCHED_OPTIONS };
  for (const word of cmdline.split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=');
    const key = (eq < 0 ? word : word.slice(0, eq)).replaceAll('-', '_');
    const v = eq < 0 ? undefined : word.slice(eq + 1);
    const need = (): string => {
      if (v === undefined) throw new SchedOptionError(`${key} needs a value`);
      return v;
    };
    switch (key) {
      case 'sched': {
        const s = need();
        if (!(SCHEDULER_NAMES as readonly string[]).includes(s)) throw new SchedOptionError(`sched=${s}: expected one of ${SCHEDULER_NAMES.join(', ')}`);
        o.sched = s as SchedulerName;
        break;
      }
      case 'sched_ratelimit_us':
        o.ratelimitUs = int(key, need(), 0, 500_000); // XEN_SYSCTL_SCHED_RATELIMIT_MAX
        break;
      case 'sched_credit_tslice_ms':
        o.creditTsliceMs = int(key, need(), 1, 1000); // XEN_SYSCTL_CSCHED_TSLICE_MIN..MAX
        break;
      case 'load_balance_ratelimit':
        o.loadBalanceRatelimitUs = int(key, need(), 0, 1_000_000);
        break;
      case 'sched_credit_wake_active':
        o.creditWakeActive = bool(key, v);
        break;
      case 'sched_credit_boost':
        o.creditBoost = bool(key, v);
        break;
      case 'credit2_runqueue': {
        const r = need();
        if (!(CREDIT2_RUNQUEUE as readonly string[]).includes(r)) throw new SchedOptionError(`credit2_runqueue=${r}: expected one of ${CREDIT2_RUNQUEUE.join(', ')}`);
        o.credit2Runqueue = r as Credit2Runqueue;
        break;
      }
      case 'sched_credit2_max_cpus_runqueue':
        o.credit2MaxCpusRunqueue = int(key, need(), 1, 256);
        break;
      case 'credit2_cap_period_ms':
        o.credit2CapPeriodMs = int(key, need(), 1, 1000);
        break;
      case 'sched_credit2_migrate_resist':
        o.credit2MigrateResistUs = int(key, need(), 0, 1_000_000);
        break;
      default:
        break;
    }
  }
  return o;
}

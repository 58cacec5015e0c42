// Every scheduler runs every example scenario (examples/*.json), over a short stretch of
// virtual time: the scenario builds, its domains run, and the run is deterministic.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';
import { SCHEDULER_NAMES } from '../hypervisor/sched/options.ts';

const EXAMPLES = join(process.cwd(), 'examples');
/** Domains a scenario builds. */
const domainCount = (name: string) => (JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as { domains: { count?: number }[] }).domains.reduce((n, d) => n + (d.count ?? 1), 0);
// scale-10000.json builds 10,000 domains (minutes per scheduler): it is the bench's
// (run_10000_domains_s); tests/scale.test.ts runs hundreds of domains.
const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json') && domainCount(f) <= 1000).sort();

describe('every scheduler runs every example', () => {
  for (const f of files) {
    it(f, { timeout: 60_000 }, async () => {
      const data = JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')) as Record<string, unknown>;
      for (const scheduler of SCHEDULER_NAMES) {
        const s = validateScenario({ ...data, scheduler, until: '40ms' }, join(EXAMPLES, f));
        const r = await runScenario(s, { baseDir: EXAMPLES });
        expect(r.scheduler).toBe(scheduler);
        expect(r.domains.length).toBeGreaterThan(0);
        // Someone ran (null's waiters aside, every scheduler gives CPU to the first domain).
        expect(r.domains.some((d) => d.cpuNs > 0)).toBe(true);
        expect(r.domains.every((d) => !d.state.startsWith('crashed'))).toBe(true);
      }
    });
  }

  it('a scenario that names no scheduler runs credit2, or the sched= of its xen_cmdline', () => {
    const base = { domains: [{ name: 'x', image: 'guests/build/work.elf' }] };
    expect(validateScenario(base, 't.json').scheduler).toBe('credit2');
    expect(validateScenario({ ...base, xen_cmdline: 'sched=rtds' }, 't.json').scheduler).toBe('rtds');
    expect(validateScenario({ ...base, scheduler: 'null', xen_cmdline: 'sched=rtds' }, 't.json').scheduler).toBe('null');
    expect(() => validateScenario({ ...base, xen_cmdline: 'sched_ratelimit_us=-1' }, 't.json')).toThrow(/t\.json: xen_cmdline: sched_ratelimit_us=-1/);
    expect(() => validateScenario({ pcpus: 2, domains: [{ name: 'x', image: 'guests/build/work.elf', cpus: '0-3' }] }, 't.json')).toThrow(/t\.json: domains\[0\]\.cpus: pCPU 2 does not exist/);
    expect(() => validateScenario({ domains: [{ name: 'x', image: 'guests/build/work.elf', cpus_soft: 'nodes:0' }] }, 't.json')).toThrow(/domains\[0\]\.cpus_soft: .*not a pCPU/);
  });
});

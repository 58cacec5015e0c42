// Cpupools (issue 15, item 3): pCPUs split into pools, each with its own scheduler; a
// domain runs only on its pool's pCPUs under its pool's policy, and moves with
// cpupool-migrate as Xen's sched_move_domain moves it.

import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import { CpupoolError } from '../hypervisor/sched/core.ts';
import { ControlService } from '../hypervisor/control/service.ts';
import { spinKernel } from './helpers/test_guests.ts';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario, ScenarioError } from '../sim/scenario/schema.ts';
import { writeTestGuests } from './helpers/test_guests.ts';

const MS = 1_000_000;
const MiB = 1024 * 1024;

function machine() {
  const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB, pcpus: 4, scheduler: 'credit2', cpupools: [{ name: 'rt', scheduler: 'rtds', cpus: [2, 3] }] });
  const mk = (name: string, cpupool: number, weight = 256) => {
    const d = hv.createPvDomain(spinKernel(), { name, memoryBytes: 2 * MiB, cpupool, weight }).domain;
    hv.unpause(d);
    return d;
  };
  return { hv, mk };
}

/** Steps the machine and records on which pCPUs each domain was seen running. */
function seen(hv: Hypervisor, doms: Domain[], from: number, until: number): Map<string, Set<number>> {
  const where = new Map(doms.map((d) => [d.name, new Set<number>()]));
  for (let t = from + MS / 4; t <= until; t += MS / 4) {
    hv.run({ until: t });
    for (const p of hv.pcpus) if (p.current) where.get(p.current.domain.name)?.add(p.id);
  }
  return where;
}

describe('cpupools', () => {
  it('run each domain only on its pool\'s pCPUs, under the pool\'s scheduler', () => {
    const { hv, mk } = machine();
    expect(hv.cpupools.map((p) => [p.id, p.name, p.policy.name, [...p.cpus]])).toEqual([[0, 'Pool-0', 'credit2', [0, 1]], [1, 'rt', 'rtds', [2, 3]]]);
    const doms = [mk('a', 0), mk('b', 0), mk('c', 0), mk('r1', 1), mk('r2', 1), mk('r3', 1)];
    const where = seen(hv, doms, 0, 60 * MS);
    for (const n of ['a', 'b', 'c']) expect([...where.get(n)!].every((c) => c < 2), n).toBe(true);
    for (const n of ['r1', 'r2', 'r3']) expect([...where.get(n)!].every((c) => c >= 2), n).toBe(true);
    // Three hogs on two pCPUs in each pool: each pool's pCPUs are all busy.
    const run = (d: Domain) => hv.runstateTimes(d.vcpus[0]!)[0]!;
    const pool0 = run(doms[0]!) + run(doms[1]!) + run(doms[2]!);
    const rt = run(doms[3]!) + run(doms[4]!) + run(doms[5]!);
    expect(pool0 / (2 * 60 * MS)).toBeGreaterThan(0.97);
    expect(rt / (2 * 60 * MS)).toBeGreaterThan(0.97);
    expect(hv.domainSchedulerId(doms[0]!)).toBe(6);
    expect(hv.domainSchedulerId(doms[3]!)).toBe(8);
  });

  it('cpupool-migrate moves a domain: it runs on the new pool\'s pCPUs from then on', () => {
    const { hv, mk } = machine();
    const doms = [mk('a', 0), mk('b', 0), mk('r1', 1)];
    hv.run({ until: 20 * MS });
    expect(hv.cpupoolMigrate(doms[0]!, 'rt').name).toBe('rt');
    expect(doms[0]!.sched.cpupool).toBe(1);
    const where = seen(hv, doms, 20 * MS, 80 * MS);
    expect([...where.get('a')!].every((c) => c >= 2)).toBe(true);
    expect(where.get('a')!.size).toBeGreaterThan(0);
    // b is alone in Pool-0 now; a and r1 share the rt pool's two pCPUs.
    const before = hv.runstateTimes(doms[1]!.vcpus[0]!)[0]!;
    hv.run({ until: 120 * MS });
    expect(hv.runstateTimes(doms[1]!.vcpus[0]!)[0]! - before).toBeGreaterThan(39 * MS);
    expect(hv.cpupoolMigrate(doms[0]!, 0).name).toBe('Pool-0');
    expect(() => hv.cpupoolMigrate(doms[0]!, 'nope')).toThrowError(CpupoolError);
    expect(() => hv.cpupoolMigrate(doms[0]!, 'nope')).toThrowError(/unknown cpupool 'nope'/);
  });

  it('cpupool-cpu-remove frees a pCPU (its work moves to the pool\'s others); cpupool-create takes free pCPUs only', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB, pcpus: 3, scheduler: 'credit' });
    const doms = ['a', 'b', 'c'].map((name) => {
      const d = hv.createPvDomain(spinKernel(), { name, memoryBytes: 2 * MiB }).domain;
      hv.unpause(d);
      return d;
    });
    hv.run({ until: 10 * MS });
    expect(() => hv.cpupoolCreate('rt', 'rtds', [2])).toThrowError(/cpu 2 illegal or not free/);
    hv.cpupoolCpuRemove('Pool-0', 2);
    expect(hv.freeCpus).toEqual([2]);
    const where = seen(hv, doms, 10 * MS, 40 * MS);
    for (const d of doms) expect([...where.get(d.name)!].every((c) => c < 2), d.name).toBe(true);
    const rt = hv.cpupoolCreate('rt', 'rtds', [2]);
    expect([rt.id, rt.name, [...rt.cpus]]).toEqual([1, 'rt', [2]]);
    expect(hv.freeCpus).toEqual([]);
    expect(() => hv.cpupoolCreate('rt', 'rtds', [])).toThrowError(/Pool name "rt" already exists/);
    hv.cpupoolMigrate(doms[2]!, 'rt');
    const after = seen(hv, doms, 40 * MS, 80 * MS);
    expect([...after.get('c')!]).toEqual([2]);
    for (const d of doms.slice(0, 2)) expect([...after.get(d.name)!].every((c) => c < 2)).toBe(true);
    expect(() => hv.cpupoolCpuRemove('rt', 2)).toThrowError(/last pCPU of cpupool rt/);
    const empty = hv.cpupoolCreate('empty', 'credit2', []);
    expect(() => hv.cpupoolMigrate(doms[0]!, empty.name)).toThrowError(/has no pCPU/);
  });

  it('scheduler parameters go to the domain\'s pool\'s scheduler', () => {
    const { hv, mk } = machine();
    const a = mk('a', 0);
    const r = mk('r', 1);
    const cs = new ControlService(hv, { pages: 'shared', serve: () => {} });
    expect(() => cs.schedOp(r, { domain: { domid: r.domid }, set: true, weight: 512, cap: 0xffff, scheduler: 'credit2' })).toThrowError(/runs the rtds scheduler, not credit2/);
    expect(cs.schedOp(a, { domain: { domid: a.domid }, set: true, weight: 512, cap: 0xffff, scheduler: 'credit2' }).weight).toBe(512);
  });

  it('refuses pools that overlap, name missing pCPUs or leave Pool-0 none', () => {
    const make = (cpupools: { name: string; scheduler: 'rtds'; cpus: number[] }[]) => () => new Hypervisor({ pcpus: 2, cpupools });
    expect(make([{ name: 'x', scheduler: 'rtds', cpus: [1] }, { name: 'y', scheduler: 'rtds', cpus: [1] }])).toThrowError(/pCPU 1 is already in cpupool x/);
    expect(make([{ name: 'x', scheduler: 'rtds', cpus: [5] }])).toThrowError(/pCPU 5 does not exist/);
    expect(make([{ name: 'x', scheduler: 'rtds', cpus: [0, 1] }])).toThrowError(/Pool-0 would have no pCPU left/);
  });
});

describe('a scenario\'s pools', () => {
  const guests = writeTestGuests();
  const base = {
    pcpus: 4,
    until: '60ms',
    pools: [{ name: 'rt', scheduler: 'rtds', cpus: '2-3' }],
    domains: [
      { name: 'hog', image: guests.spin, memory: 4, count: 2 },
      { name: 'rthog', image: guests.spin, memory: 4, count: 3, pool: 'rt' },
    ],
  };

  it('creates the pools and puts each domain in its own; the report names them', async () => {
    const r = await runScenario(validateScenario(base, 'p.json'), { baseDir: '/' });
    expect(r.pools).toEqual([{ name: 'Pool-0', scheduler: 'credit2', cpus: [0, 1] }, { name: 'rt', scheduler: 'rtds', cpus: [2, 3] }]);
    expect(r.domains.map((d) => d.pool)).toEqual(['Pool-0', 'Pool-0', 'rt', 'rt', 'rt']);
    // Two hogs on Pool-0's two pCPUs: one each.
    for (const d of r.domains.filter((x) => x.pool === 'Pool-0')) expect(d.cpuShare).toBeGreaterThan(0.97);
  });

  it('refuses bad pools with the file and field named', () => {
    const bad: [object, RegExp][] = [
      [{ pools: [{ name: 'rt', scheduler: 'rtds', cpus: '4' }] }, /p\.json: pools\[0\]\.cpus: pCPU 4 does not exist/],
      [{ pools: [{ name: 'rt', scheduler: 'rtds', cpus: '0-3' }] }, /leave Pool-0 at least one/],
      [{ pools: [{ name: 'a', scheduler: 'rtds', cpus: '1-2' }, { name: 'rt', scheduler: 'null', cpus: '2-3' }] }, /pools\[1\]\.cpus: pCPU 2 is already in pool a/],
      [{ pools: [{ name: 'Pool-0', scheduler: 'rtds', cpus: '3' }, { name: 'rt', scheduler: 'rtds', cpus: '2' }] }, /pools\[0\]\.name: "Pool-0" is the pool of the pCPUs left over/],
      [{ pools: [{ name: 'rt', scheduler: 'cfs', cpus: '3' }] }, /pools\[0\]\.scheduler: Invalid option/],
      [{ pools: [] }, /domains\[1\]\.pool: no pool "rt" \(Pool-0\)/],
    ];
    for (const [extra, msg] of bad) {
      expect(() => validateScenario({ ...base, ...extra }, 'p.json')).toThrowError(ScenarioError);
      expect(() => validateScenario({ ...base, ...extra }, 'p.json')).toThrowError(msg);
    }
    expect(() => validateScenario({ ...base, domains: [{ ...base.domains[1], cpus: '0' }] }, 'p.json')).toThrowError(/domains\[0\]\.cpus: names no pCPU of pool rt \(2,3\)/);
  });
});

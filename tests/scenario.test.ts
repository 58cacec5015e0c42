// pvsim run: scenario validation, the report, and determinism of the trace hash.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../sim/scenario/runner.ts';
import { validateScenario, ScenarioError } from '../sim/scenario/schema.ts';
import { writeTestGuests } from './helpers/test_guests.ts';
import { PV_BASE } from './helpers/pv_image.ts';
import { readStartInfo } from '../protocol/xen/start_info.ts';

const guests = writeTestGuests();

function scenario(extra: object = {}) {
  return validateScenario(
    {
      pcpus: 2,
      until: '200ms',
      domains: [
        { name: 'hog', image: guests.spin, memory: 4, count: 2 },
        { name: 'io', image: guests.io1ms, memory: 4, weight: 512 },
      ],
      ...extra,
    },
    'test.json',
  );
}

describe('scenario files', () => {
  it('names the file and the field in every schema error', () => {
    const bad = [
      [{ domains: [] }, /test\.json: domains: Too small/],
      [{ domains: [{ name: 'x', image: 'a', weight: 0 }] }, /test\.json: domains\[0\]\.weight: 0 is out of range \(1-65535\)$/],
      [{ domains: [{ name: 'x', image: 'a', memry: 4 }] }, /test\.json: domains\[0\]: Unrecognized key: "memry"/],
      [{ domains: [{ name: 'x' }] }, /test\.json: domains\[0\]\.image/],
      [{ until: 'soon', domains: [{ name: 'x', image: 'a' }] }, /test\.json: until: "soon" is not a duration/],
      [{ scheduler: 'cfs', domains: [{ name: 'x', image: 'a' }] }, /test\.json: scheduler: Invalid option/],
    ] as const;
    for (const [data, msg] of bad) {
      expect(() => validateScenario(data, 'test.json')).toThrowError(ScenarioError);
      expect(() => validateScenario(data, 'test.json')).toThrowError(msg);
    }
  });

  it('refuses copies of a domain sharing one writable disk, and gives each its own with {index}', async () => {
    const shared = validateScenario({ domains: [{ name: 'w', image: guests.spin, memory: 4, count: 2, disk: ['file:/tmp/pvsim-shared.img,xvda,w'] }] }, 'test.json');
    await expect(runScenario(shared, { baseDir: '/' })).rejects.toThrow(/domain w-1: disk\[0\]: the 2 domains of "w" would share the writable image \/tmp\/pvsim-shared\.img: put \{index\} or \{name\} in its path/);
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-scn-'));
    const own = validateScenario({ until: '1ms', domains: [{ name: 'w', image: guests.spin, memory: 4, count: 2, disk: [`file:${dir}/w{index}.img,xvda,w`], vif: [''] }] }, 'test.json');
    const r = await runScenario(own, { baseDir: '/' });
    expect(r.domains.map((d) => d.name)).toEqual(['w-1', 'w-2']);
    expect(readdirSync(dir).sort()).toEqual(['w1.img', 'w2.img']); // created sparse by blkback, one each
  });

  it('substitutes {domid} with the id each domain was given (dom0 is domain 0, the first guest 1)', async () => {
    const sc = validateScenario({ until: '1ms', domains: [{ name: 'g', image: guests.spin, memory: 4, count: 2, cmdline: 'id={domid} n={index}' }, { name: 'h', image: guests.spin, memory: 4, cmdline: '{domid}{domid}' }] }, 'test.json');
    const r = await runScenario(sc, { baseDir: '/' });
    const seen = [...r.hv.domains.values()].filter((d) => d.vcpus.length > 0).map((d) => {
      // start_info as the guest finds it: its virtual address in the bootstrap mapping at PV_BASE.
      const page = r.hv.frames.frameStorage(d.p2m[(d.startInfoVa - PV_BASE) / 4096]!);
      return [d.domid, d.name, readStartInfo(page).cmdLine];
    });
    expect(seen).toEqual([[1, 'g-1', 'id=1 n=1'], [2, 'g-2', 'id=2 n=2'], [3, 'h', '33']]);
  });

  it('expands count into numbered domains and applies weights', async () => {
    const r = await runScenario(scenario(), { baseDir: '/' });
    expect(r.domains.map((d) => d.name)).toEqual(['hog-1', 'hog-2', 'io']);
    expect(r.domains[2]!.weight).toBe(512);
    expect(r.domains[2]!.hypercalls).toBeGreaterThan(150); // ~200 wake-ups in 200 ms
    // Two hogs on two pCPUs (the I/O domain takes little): nearly a pCPU each.
    for (const d of r.domains.slice(0, 2)) expect(d.cpuShare).toBeGreaterThan(0.9);
  });
});

describe('determinism', () => {
  it('gives the same trace hash and figures for the same scenario and seed', async () => {
    const a = await runScenario(scenario(), { baseDir: '/' });
    const b = await runScenario(scenario(), { baseDir: '/' });
    expect(a.traceHash).toBe(b.traceHash);
    expect(a.domains.map((d) => [d.cpuNs, d.hypercalls])).toEqual(b.domains.map((d) => [d.cpuNs, d.hypercalls]));
    expect(a.hv.traceBuffer.written).toBeGreaterThan(100);
  });

  it('may differ with another seed', async () => {
    const a = await runScenario(scenario(), { baseDir: '/', seed: 1 });
    const b = await runScenario(scenario(), { baseDir: '/', seed: 2 });
    expect(a.traceHash).not.toBe(b.traceHash);
  });
});

describe('pvsim run', () => {
  const file = join(guests.dir, 'sc.json');
  writeFileSync(file, JSON.stringify({ pcpus: 1, until: '50ms', domains: [{ name: 'hog', image: 'spin.elf', memory: 4 }, { name: 'io', image: 'io-1ms.elf', memory: 4 }] }));
  const run = (...args: string[]) => spawnSync(process.execPath, ['bin/pvsim.js', 'run', ...args], { encoding: 'utf8', timeout: 60_000 });

  it('prints the per-domain table and ends with the trace hash', () => {
    const r = run(file, '--seed', '3');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/scenario .*: 2 domains, 1 pCPU\(s\), scheduler credit2, seed 3, 50\.000 ms virtual/);
    expect(lines[1]).toMatch(/domid\s+name\s+vcpus\s+weight\s+cap\s+state\s+cpu\(s\)\s+cpu%/);
    expect(lines.at(-1)).toMatch(/^trace-hash: [0-9a-f]{16}$/);
    expect(run(file, '--seed', '3').stdout).toBe(r.stdout);
  });

  it('writes traces that Perfetto and jq can read', () => {
    const chrome = join(guests.dir, 't.json');
    const jsonl = join(guests.dir, 't.jsonl');
    expect(run(file, '--trace', chrome).status).toBe(0);
    expect(run(file, '--trace', jsonl, '--json').status).toBe(0);
    const ct = JSON.parse(readFileSync(chrome, 'utf8'));
    // pCPU slices are named as xenalyze names vCPUs; the domain's process carries its name.
    expect(ct.traceEvents.some((e: { ph: string; name: string }) => e.ph === 'X' && /^d\d+v0$/.test(e.name))).toBe(true);
    expect(ct.traceEvents.some((e: { ph: string; name: string; args?: { name?: string } }) => e.ph === 'M' && e.name === 'process_name' && /^d\d+ hog$/.test(e.args?.name ?? ''))).toBe(true);
    const lines = readFileSync(jsonl, 'utf8').trim().split('\n').map((l: string) => JSON.parse(l));
    expect(lines.some((l: { name: string }) => l.name === 'sched_switch')).toBe(true);
  });

  it('rejects a bad scenario with the file and field named', () => {
    const bad = join(guests.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ domains: [{ name: 'x', image: 'spin.elf', vcpus: 99 }] }));
    const r = run(bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${bad}: domains[0].vcpus: 99 is out of range (1-32)`);
    const missing = join(guests.dir, 'missing.json');
    writeFileSync(missing, JSON.stringify({ domains: [{ name: 'x', image: 'nope.elf' }] }));
    expect(run(missing).stderr).toMatch(/image nope\.elf: cannot read .*ENOENT/);
    expect(run(file, '--until', 'forever').stderr).toMatch(/--until: "forever" is not a duration/);
  });
});

describe('realtime mode', () => {
  it('paces virtual time to wall time', async () => {
    const { runScenarioRealtime } = await import('../sim/scenario/runner.ts');
    const t0 = performance.now();
    const r = await runScenarioRealtime(scenario({ until: '300ms' }), { baseDir: '/' });
    const wall = performance.now() - t0;
    expect(wall).toBeGreaterThan(280);
    expect(r.domains[2]!.hypercalls).toBeGreaterThan(200); // the I/O domain still wakes every ms
  });
});

describe('a scenario domain is xl.cfg settings', () => {
  const hello = join(process.cwd(), 'guests/build/hello.elf');

  it('tells each guest its real domid through {domid}', async () => {
    const s = validateScenario({ until: '20ms', domains: [{ name: 'h', image: hello, memory: 4, count: 2, cmdline: 'id={domid} n={index}' }] }, 'test.json');
    const r = await runScenario(s, { baseDir: '/' });
    expect(r.domains.map((d) => d.domid)).toEqual([1, 2]);
    for (const d of r.domains) expect(d.console).toContain(`cmdline="id=${d.domid} n=${d.name.slice(2)}"`);
  });

  it('is checked by the toolstack rules, with their limits and messages', () => {
    const err = (dom: object, machineMemory?: number) => {
      try {
        validateScenario({ ...(machineMemory ? { machineMemory } : {}), domains: [{ name: 'x', image: 'a', ...dom }] }, 't.json');
      } catch (e) {
        expect(e).toBeInstanceOf(ScenarioError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    // The same messages xl.cfg (tests/xlcfg.test.ts) and a create request (tests/hostile/toolstack.test.ts) get.
    expect(err({ cap: 150 })).toBe('t.json: domains[0].cap: 150 is out of range (0-100, 100 x vcpus; 0 = no cap)');
    expect(err({ vcpus: 2, cap: 150 })).toBe('accepted');
    expect(err({ memory: 300 }, 256)).toBe("t.json: domains[0].memory: 300 MiB is out of range (1-256 MiB, the machine's memory)");
    expect(err({ memory: 8, maxmem: 4 })).toBe('t.json: domains[0].maxmem: 4 MiB is below memory = 8 MiB');
    expect(err({ memory: '16' })).toBe('accepted'); // xl.cfg reads memory = "16" too
    expect(err({ memory: 'lots' })).toBe('t.json: domains[0].memory: expected an integer number of MiB, got "lots"');
    expect(err({ cmdline: 'x'.repeat(1024) })).toBe('t.json: domains[0].cmdline: the command line is 1024 bytes; start_info holds at most 1023');
    expect(err({ name: '007' })).toBe('t.json: domains[0].name: "007" is all digits, which xl commands would read as a domid');
    expect(err({ name: 'x'.repeat(62), count: 10 })).toMatch(/^t\.json: domains\[0\]\.name: "x{62}-10" is not a domain name/);
    expect(err({ image: '' })).toBe('t.json: domains[0].image: empty path');
    expect(err({ disk: ['img,raw,xvda', 'img2,raw,xvda'] })).toBe('t.json: domains[0].disk[1]: vdev xvda (device 51712) is already used by disk[0]');
    expect(err({ vif: ['mac=01:00:5e:00:00:01'] })).toBe('t.json: domains[0].vif[0]: mac 01:00:5e:00:00:01 is a multicast address; a NIC\'s address must be unicast (in "mac=01:00:5e:00:00:01")');
  });
});

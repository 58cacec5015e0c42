// The engine switch (issue 17, items 4 and 5b; docs/cpufuzz.md): every example scenario gives
// the same trace hash and per-domain figures under --cpu interp and --cpu jit; the scenario's
// cpu, a domain's cpu_engine and --cpu pick the engine, with --cpu over both; the hypervisor
// refuses an unknown engine in a create request; the CLI passes --cpu through the hypervisor
// process.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENGINE, ENGINE_KINDS, type EngineKind } from '../hypervisor/cpu/engines.ts';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { ControlService } from '../hypervisor/control/service.ts';
import { HypervisorServer } from '../hypervisor/server/server.ts';
import { connect } from '../protocol/session.ts';
import { buildDomain } from '../dom0/toolstack/builder.ts';
import { runScenario, type ScenarioResult } from '../sim/scenario/runner.ts';
import { validateScenario } from '../sim/scenario/schema.ts';

const ROOT = process.cwd();
const EXAMPLES = join(ROOT, 'examples');
const domainCount = (name: string) => (JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as { domains: { count?: number }[] }).domains.reduce((n, d) => n + (d.count ?? 1), 0);
// scale-10000.json: 10,000 domains (the bench's); the rest build in well under a second.
const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json') && domainCount(f) <= 1000).sort();

/** What must not depend on the engine: the hash and each domain's figures. */
function figures(r: ScenarioResult): unknown {
  return { hash: r.traceHash, domains: r.domains.map((d) => ({ name: d.name, state: d.state, cpuNs: d.cpuNs })) };
}

async function run(file: string, cpu: EngineKind | undefined, until = '10ms'): Promise<ScenarioResult> {
  const data = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8')) as Record<string, unknown>;
  const s = validateScenario({ ...data, until }, join(EXAMPLES, file));
  return runScenario(s, { baseDir: EXAMPLES, ...(cpu ? { cpu } : {}) });
}

describe('every example scenario: the same trace hash under both engines', () => {
  it.each(files)('%s', { timeout: 60_000 }, async (file) => {
    const a = await run(file, 'interp');
    const b = await run(file, 'jit');
    expect(figures(b)).toEqual(figures(a));
    expect(a.hv.loop.totalInstructions).toBeGreaterThan(0);
    expect(b.hv.loop.totalInstructions).toBe(a.hv.loop.totalInstructions);
  });
});

describe('choosing the engine', () => {
  const domains = [
    { name: 'a', image: join(ROOT, 'guests/build/hello.elf') },
    { name: 'b', image: join(ROOT, 'guests/build/hello.elf'), cpu_engine: 'jit' },
    { name: 'c', image: join(ROOT, 'guests/build/hello.elf'), cpu_engine: 'interp' },
  ];
  const kinds = (r: ScenarioResult) => [...r.hv.domains.values()].filter((d) => d.domid !== 0).map((d) => `${d.name}:${r.hv.loop.engineKind(d)}`);

  it('scenario cpu, domain cpu_engine, and --cpu over both', async () => {
    const s = (cpu?: string) => validateScenario({ ...(cpu ? { cpu } : {}), until: '1ms', domains }, join(EXAMPLES, 't.json'));
    expect(kinds(await runScenario(s(), { baseDir: EXAMPLES }))).toEqual([`a:${DEFAULT_ENGINE}`, 'b:jit', 'c:interp']);
    expect(kinds(await runScenario(s('interp'), { baseDir: EXAMPLES }))).toEqual(['a:interp', 'b:jit', 'c:interp']);
    expect(kinds(await runScenario(s('jit'), { baseDir: EXAMPLES }))).toEqual(['a:jit', 'b:jit', 'c:interp']);
    expect(kinds(await runScenario(s('jit'), { baseDir: EXAMPLES, cpu: 'interp' }))).toEqual(['a:interp', 'b:interp', 'c:interp']);
    expect(kinds(await runScenario(s(), { baseDir: EXAMPLES, cpu: 'jit' }))).toEqual(['a:jit', 'b:jit', 'c:jit']);
  });

  it('refuses unknown engines with a message naming the choices', () => {
    expect(() => validateScenario({ cpu: 'qemu', domains }, 't.json')).toThrow(/t\.json: cpu: expected one of interp, jit, got "qemu"/);
    expect(() => validateScenario({ domains: [{ ...domains[0]!, cpu_engine: 'fast' }] }, 't.json')).toThrow(/t\.json: domains\[0\]\.cpu_engine: unknown cpu_engine "fast"; expected one of interp, jit/);
  });

  it('the hypervisor takes cpu_engine from a create request and refuses a bad one (EINVAL, nothing created)', () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 << 20 });
    const svc = new ControlService(hv, { pages: 'shared', serve: () => {} });
    const kernel = readFileSync(join(ROOT, 'guests/build/hello.elf'));
    const d = svc.createDomain({ name: 'j', kernel, memoryMib: 4, cpuEngine: 'jit', paused: true });
    expect(d.cpuEngine).toBe('jit');
    expect(hv.loop.engineKind(d)).toBe('jit');
    const e = svc.createEmptyDomain({ name: 'e', nrPages: 16, cpuEngine: 'interp' });
    expect(e.cpuEngine).toBe('interp');
    const before = hv.domains.size;
    expect(() => svc.createDomain({ name: 'x', kernel, memoryMib: 4, cpuEngine: 'tcg' })).toThrow(/unknown cpu_engine "tcg" \(interp or jit\)/);
    expect(() => svc.createEmptyDomain({ name: 'y', nrPages: 16, cpuEngine: 'tcg' })).toThrow(/unknown cpu_engine/);
    expect(hv.domains.size).toBe(before);
    expect([...ENGINE_KINDS]).toEqual(['interp', 'jit']);
  });

  it("cpu_engine crosses the wire: dom0's builder (PV and HVM) to the hypervisor process's domain", async () => {
    const server = new HypervisorServer({ token: 'tok', manual: true, machineMemoryBytes: 256 << 20 });
    const h = await server.start();
    const { peer } = await connect(h.url, 'dom0', 'tok', () => ({ rc: 0 }));
    try {
      await server.waitForDom0();
      const pv = await buildDomain(peer, { name: 'p', kernel: readFileSync(join(ROOT, 'guests/build/hello.elf')), memoryMib: 8, paused: true, cpuEngine: 'interp' });
      const hvm = await buildDomain(peer, { name: 'h', kernel: readFileSync(join(ROOT, 'guests/build/native.elf')), memoryMib: 16, paused: true, type: 'hvm', hvmMode: 'hw', cpuEngine: 'jit' });
      const plain = await buildDomain(peer, { name: 'n', kernel: readFileSync(join(ROOT, 'guests/build/hello.elf')), memoryMib: 8, paused: true });
      const bad = await buildDomain(peer, { name: 'b', kernel: readFileSync(join(ROOT, 'guests/build/hello.elf')), memoryMib: 8, paused: true, cpuEngine: 'fast' });
      const kind = (r: typeof pv) => server.hv.loop.engineKind(server.hv.domain(r.domain!.domid)!);
      expect([kind(pv), kind(hvm), kind(plain)]).toEqual(['interp', 'jit', DEFAULT_ENGINE]);
      expect(bad.rc).toBeLessThan(0);
      expect(bad.error).toMatch(/unknown cpu_engine "fast"/);
      expect([...server.hv.domains.values()].some((d) => d.name === 'b')).toBe(false);
    } finally {
      peer.close();
      await h.close();
    }
  });

  it('pvsim run --cpu jit (hypervisor and dom0 processes) gives the in-process interp hash; --cpu bogus exits 2', { timeout: 60_000 }, async () => {
    const file = join(EXAMPLES, 'weights.json');
    const want = (await run('weights.json', 'interp', '10ms')).traceHash;
    // A private TMPDIR for the processes' sockets and token files.
    const tmp = mkdtempSync(join(tmpdir(), 'pvsim-cpu-'));
    try {
      const env = { ...process.env, TMPDIR: tmp };
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/pvsim.js'), 'run', file, '--until', '10ms', '--cpu', 'jit', '--no-progress'], { cwd: ROOT, env, encoding: 'utf8', timeout: 50_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`trace-hash: ${want}`);
      const bad = spawnSync(process.execPath, [join(ROOT, 'bin/pvsim.js'), 'run', file, '--cpu', 'bogus'], { cwd: ROOT, env, encoding: 'utf8', timeout: 20_000 });
      expect(bad.status).toBe(2);
      expect(bad.stderr).toMatch(/'bogus' is invalid\. Allowed choices are interp, jit/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

// dom0's placement does not change a run: every scenario in examples/ gives the same trace
// hash with dom0 as its own process (`pvsim run`) and inside the hypervisor's process
// (`pvsim run --in-process`). The hot path (one batch each way per dispatch, hot_wire.ts)
// and dom0's cost model (its work charged to its vCPU, its sends at the end of that work)
// must give both homes the same virtual instants. net-pair covers block and network,
// hvm-devices the device model's ioreqs, pvhvm PV drivers on HVM domains; two
// more scenarios made here load each path: 32 block requests in flight (a pass's writes'
// data in one batch, its reads' data riding in the dispatch's answer, hot_wire.ts
// WRITE_IF_FAILED), and a UDP stream with pings between two guests (netback's rx copies in
// the answer).

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processTag } from './helpers/procs.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-placement-'));
const tag = processTag('placement');

interface Spec {
  domains: { image: string; disk?: string[]; [k: string]: unknown }[];
  [k: string]: unknown;
}

/** Scenarios that load the block and the network path (written next to the examples' copies). */
const LOADS: Record<string, Spec> = {
  'load-blk-qd32.json': {
    name: 'load-blk-qd32',
    pcpus: 2,
    seed: 3,
    until: '2s',
    domains: [{ name: 'blk', image: resolve('guests/build/work.elf'), cmdline: 'work=blk mode=rand bs=4096 qd=32 n=256 region=8192', memory: 16, disk: ['file:load-blk.img,xvda,w'] }],
  },
  // Event-channel faults (hypervisor/evtchn/faults.ts) decide at the same virtual instants in both homes.
  'load-blk-faults.json': {
    name: 'load-blk-faults',
    pcpus: 2,
    seed: 6,
    until: '200ms',
    domains: [{
      name: 'blk', image: resolve('guests/build/work.elf'), cmdline: 'work=blk mode=rand bs=4096 qd=16 n=64', memory: 16, disk: ['file:load-blk-faults.img,xvda,w'],
      faults: [
        { device: 'vbd/51712', kind: 'dup-notify', when: { every: 3 } },
        { device: 'vbd/51712', kind: 'delay-notify', when: { prob: 0.3 }, by: '200us' },
        { device: 'vbd/51712', kind: 'spurious', when: { prob: 0.2 } },
        { device: 'vbd/51712', kind: 'stall', when: { at: '0ms' }, window: '5ms' },
      ],
    }],
  },
  // Shared-ring faults (hypervisor/evtchn/ring_faults.ts): the hypervisor rewrites the ring
  // around dom0's dispatches and restarts a backend through dom0, the same in both homes
  // (examples/faults.json has them on two devices of one domain).
  'load-blk-ring-faults.json': {
    name: 'load-blk-ring-faults',
    pcpus: 2,
    seed: 9,
    until: '200ms',
    domains: [{
      name: 'blk', image: resolve('guests/build/work.elf'), cmdline: 'work=blk mode=rand bs=4096 qd=16 n=64 persistent=0', memory: 16, disk: ['file:load-blk-ring-faults.img,xvda,w'],
      faults: [
        { device: 'vbd/51712', kind: 'publish-late', when: { prob: 0.4 }, by: '150us' },
        { device: 'vbd/51712', kind: 'reorder-notify', when: { every: 3 }, after: 2 },
        { device: 'vbd/51712', kind: 'revoke-grant', when: { every: 40 } },
        { device: 'vbd/51712', kind: 'crash-backend', point: 'response-written', when: { every: 7 } },
      ],
    }],
  },
  // The request direction (ring_faults.ts reqView): dom0 is shown another view of the ring
  // for a dispatch (req_prod held back, stale slots) and the guest's bytes come back after;
  // a mirroring dom0 gets the view with the dispatch and the guest's bytes with the next.
  'load-blk-req-faults.json': {
    name: 'load-blk-req-faults',
    pcpus: 2,
    seed: 12,
    until: '200ms',
    domains: [{
      name: 'blk', image: resolve('guests/build/work.elf'), cmdline: 'work=blk mode=rand bs=4096 qd=16 n=64', memory: 16, disk: ['file:load-blk-req-faults.img,xvda,w'],
      faults: [
        { device: 'vbd/51712', kind: 'req-publish-late', when: { prob: 0.5 }, by: '200us' },
        { device: 'vbd/51712', kind: 'req-publish-late', when: { every: 3 } },
        { device: 'vbd/51712', kind: 'req-publish-early', when: { at: '1500us' } },
      ],
    }],
  },
  'load-net-req-faults.json': {
    name: 'load-net-req-faults',
    pcpus: 2,
    seed: 4,
    until: '1s',
    domains: [
      {
        name: 'a', image: resolve('guests/build/work.elf'), cmdline: 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=10 udp=0', memory: 16, vif: ['mac=00:16:3e:00:00:01,bridge=xenbr0'],
        faults: [
          { device: 'vif/0', kind: 'req-publish-late', ring: 'tx', when: { every: 2 }, by: '100us' },
          { device: 'vif/0', kind: 'req-publish-early', ring: 'rx', when: { every: 40 }, by: '1s' },
        ],
      },
      { name: 'b', image: resolve('guests/build/work.elf'), cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=10 udp=400 size=256', memory: 16, vif: ['mac=00:16:3e:00:00:02,bridge=xenbr0'] },
    ],
  },
  'load-net-udp.json': {
    name: 'load-net-udp',
    pcpus: 2,
    seed: 4,
    until: '2s',
    domains: [
      { name: 'a', image: resolve('guests/build/work.elf'), cmdline: 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=20 udp=300 size=1472', memory: 16, vif: ['mac=00:16:3e:00:00:01,bridge=xenbr0'] },
      { name: 'b', image: resolve('guests/build/work.elf'), cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=20 udp=0', memory: 16, vif: ['mac=00:16:3e:00:00:02,bridge=xenbr0'] },
    ],
  },
};

/** The example with absolute image paths and its disk images in this test's directory. */
function privateCopy(name: string): string {
  const src = resolve('examples', name);
  const spec = (LOADS[name] ? structuredClone(LOADS[name]) : JSON.parse(readFileSync(src, 'utf8'))) as Spec;
  for (const d of spec.domains) {
    if (!isAbsolute(d.image)) d.image = resolve(dirname(src), d.image);
    d.disk = d.disk?.map((s) => s.replace(/^file:([^,]+)/, (_m, p: string) => `file:${join(dir, `${name}-${p.replace(/[^\w.-]/g, '_')}`)}`));
  }
  const out = join(dir, name);
  writeFileSync(out, JSON.stringify(spec));
  return out;
}

/** Runs `pvsim run` (bounded); its trace hash. */
function traceHash(scenario: string, ...args: string[]): Promise<string> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [PVSIM, 'run', scenario, ...args], { env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '', ...tag.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 90_000 });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (err += b.toString()));
    p.on('close', (code) => {
      const h = /trace-hash: ([0-9a-f]{16})/.exec(out)?.[1];
      if (code !== 0 || !h) rej(new Error(`pvsim run ${scenario} ${args.join(' ')}: exit ${code}\n${err.slice(-2000)}`));
      else res(h);
    });
  });
}

/** Domains a scenario builds. */
const domainCount = (name: string) => (JSON.parse(readFileSync(resolve('examples', name), 'utf8')) as { domains: { count?: number }[] }).domains.reduce((n, d) => n + (d.count ?? 1), 0);
// scale-10000.json takes minutes per home: it is the bench's (run_10000_domains_s); both
// homes were checked to give it one hash when it was added (docs/scheduling.md, "Scale").
const examples = [...readdirSync('examples').filter((f) => f.endsWith('.json') && domainCount(f) <= 1000).sort(), ...Object.keys(LOADS)];

describe('dom0 in its own process or in-process: one trace hash', () => {
  it('has scenarios to run', () => {
    // net-pair: PV block and network; hvm-devices: emulated virtio-blk, ATA and virtio-net
    // (every register access an ioreq: the IOREQ frame across processes); pvhvm: PV drivers
    // on HVM domains and xen_platform_pci = 0.
    expect(examples).toEqual(expect.arrayContaining(['net-pair.json', 'hvm-devices.json', 'pvhvm.json']));
  });

  it.each(examples)('%s gives the same trace hash in both homes', async (name) => {
    const scenario = privateCopy(name);
    // A separate disk image per home: the two runs go side by side.
    const inProcess = privateCopy(name).replace(/\.json$/, '') + '-local.json';
    const spec = JSON.parse(readFileSync(scenario, 'utf8')) as Spec;
    for (const d of spec.domains) d.disk = d.disk?.map((s) => s.replace(/^file:([^,]+)/, 'file:$1-local'));
    writeFileSync(inProcess, JSON.stringify(spec));
    const [split, local] = await Promise.all([traceHash(scenario), traceHash(inProcess, '--in-process')]);
    expect(split).toBe(local);
    expect(tag.left()).toEqual([]);
  }, 120_000);
});

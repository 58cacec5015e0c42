// The driver kit end to end (docs/ringkit.md): dom0 loads the example device's backend
// (examples/echodev/echodev.ts, written against pvsim/driver) for device type `echo`, the
// example's C frontend (built out of tree with the guest SDK) connects and gets every
// request answered; backends that throw or hang fail only their own device, in bounded
// time, and dom0 goes on serving the others.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { addDevice } from '../dom0/toolstack/devices.ts';
import type { Dom0Daemons } from '../dom0/daemons.ts';

const MiB = 1024 * 1024;
const FRONT = readFileSync('examples/echodev/build/echofront.elf');
const ECHO = join(import.meta.dirname, '..', 'examples', 'echodev', 'echodev.ts');
const fixture = (name: string) => join(import.meta.dirname, 'fixtures', 'ringkit', `${name}.ts`);

function domainWithDevice(hv: Hypervisor, daemons: Dom0Daemons, type: string, cmdline: string) {
  const d = hv.createPvDomain(FRONT, { name: `fe-${type}`, memoryBytes: 8 * MiB, cmdline: `type=${type} ${cmdline}` }).domain;
  const added = addDevice(daemons.xs, d.domid, { kind: type, devid: 0, backend: {}, frontend: {} });
  expect(added.ok).toBe(true);
  return d;
}

/** What each domain printed: on console_io (the hypervisor's log) and on its console ring. */
const consoles = new Map<number, string>();
const onConsole = (d: { domid: number }, bytes: Uint8Array) => consoles.set(d.domid, (consoles.get(d.domid) ?? '') + new TextDecoder().decode(bytes));
const log = (hv: Hypervisor, domid: number) =>
  hv
    .dmesg()
    .filter((l) => l.startsWith(`(d${domid})`))
    .join('\n') + (consoles.get(domid) ?? '');
const read = (daemons: Dom0Daemons, path: string) => new TextDecoder().decode(daemons.xenstored.store.read({ domid: 0, privileged: true }, path));

describe('ring kit: a user backend loaded by dom0', () => {
  it('serves the example device: every echo and grant-copy sum request answered and checked by the C frontend', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    consoles.clear();
    const daemons = startLocalDom0(hv, { onConsole });
    const driver = await daemons.loadUserBackend('echo', ECHO);
    const d = domainWithDevice(hv, daemons, 'echo', 'n=300 qd=16');
    hv.unpause(d);
    await hv.runAsync();
    expect(log(hv, d.domid)).toMatch(/echofront: connected, ring-size 64, feature-sum 1/);
    expect(log(hv, d.domid)).toMatch(/echofront: sent 300 answered 300 errors 0/);
    expect(d.shutdownReason).toBe('poweroff');
    expect(read(daemons, `/local/domain/0/backend/echo/${d.domid}/0/feature-sum`)).toBe('1');
    expect(driver.connected).toBe(0); // the frontend closed: grants unmapped, port closed
  });

  it('refuses a module that is no backend, one of another type, and types pvsim serves itself', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 16 * MiB });
    const daemons = startLocalDom0(hv);
    await expect(daemons.loadUserBackend('echo', join(import.meta.dirname, 'fixtures', 'ringkit', 'nope.ts'))).rejects.toThrow(/cannot load/);
    await expect(daemons.loadUserBackend('other', ECHO)).rejects.toThrow(/serves type "echo", not "other"/);
    await expect(daemons.loadUserBackend('vbd', ECHO)).rejects.toThrow(/reserved for Xen's own backends/);
    await expect(daemons.loadUserBackend('Bad/Type', ECHO)).rejects.toThrow(/not 1-16 of a-z/);
    await daemons.loadUserBackend('echo', ECHO);
    await expect(daemons.loadUserBackend('echo', fixture('throwing'))).rejects.toThrow(/already served/);
  });

  it('contains backends that throw, spin, stall or fail in an event handler: each fails its own device, bounded, and dom0 serves the next', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 128 * MiB });
    const lines: string[] = [];
    consoles.clear();
    const daemons = startLocalDom0(hv, { log: (l) => lines.push(l), onConsole });
    const bounds = { syncBoundMs: 300, asyncBoundMs: 500 };
    const cases = [
      ['echo-throw', 'throwing', /this backend always throws/],
      ['echo-spin', 'spinning', /connect\(\) ran over 300 ms/],
      ['echo-stall', 'stalling', /connect\(\) did not finish within 500 ms/],
      ['echo-evthrow', 'handlerThrows', /event handler: threw not even an Error/],
    ] as const;
    const doms = [];
    for (const [type, file] of cases) {
      await daemons.loadUserBackend(type, fixture(file), bounds);
      doms.push(domainWithDevice(hv, daemons, type, 'n=4'));
    }
    const good = domainWithDevice(hv, daemons, 'echo', 'n=20');
    await daemons.loadUserBackend('echo', ECHO);
    const t0 = Date.now();
    for (const d of [...doms, good]) hv.unpause(d);
    await hv.runAsync();
    expect(Date.now() - t0).toBeLessThan(20_000);
    for (const [i, [type, , why]] of cases.entries()) {
      const d = doms[i]!;
      // The frontend read the backend's error node when it went Closed, and gave up.
      expect(log(hv, d.domid), type).toMatch(why);
      expect(d.shutdownReason).toBe('crash');
      expect(lines.some((l) => l.includes(`backend/${type}/${d.domid}/0`) && why.test(l)), type).toBe(true);
    }
    expect(log(hv, good.domid)).toMatch(/echofront: sent 20 answered 20 errors 0/);
    expect(good.shutdownReason).toBe('poweroff');
    expect(daemons.userBackends.get('echo-evthrow')!.driver.connected).toBe(0); // its grant and port released
    // The stalled backend, resuming after its device was released, cannot touch the page.
    const { lateTouches } = await import('./fixtures/ringkit/broken.ts');
    await expect.poll(() => lateTouches.length, { timeout: 5000 }).toBe(1);
    expect(lateTouches[0]).toMatch(/no longer mapped/);
  }, 30_000);
});

describe('ring kit across a dom0 restart', () => {
  it("loads the user backends its predecessor served, from the devices' driver key", async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { Dom0Daemons } = await import('../dom0/daemons.ts');
    const { LocalPlatform } = await import('../sim/local_platform.ts');
    const file = join(mkdtempSync(join(tmpdir(), 'pvsim-ringkit-')), 'xs.json');
    const hv = new Hypervisor({ machineMemoryBytes: 16 * MiB });
    const a = new Dom0Daemons(new LocalPlatform(hv), { stateFile: file });
    expect(a.xs.write('/local/domain/0/backend/echo/7/0/driver', ECHO).ok).toBe(true);
    expect(a.xs.write('/local/domain/0/backend/gone/7/0/driver', '/nowhere/gone.ts').ok).toBe(true);
    a.close();
    const lines: string[] = [];
    const b = new Dom0Daemons(new LocalPlatform(hv), { stateFile: file, log: (l) => lines.push(l) });
    await b.userBackendsReloaded;
    expect(b.userBackends.get('echo')?.path).toBe(ECHO);
    expect(b.backends.has('echo')).toBe(true);
    expect(lines.some((l) => /device type gone: .*cannot load.*stay unserved/.test(l))).toBe(true);
    b.close();
  });
});

describe("xl.cfg's vdev", () => {
  it('parses type, driver (relative to the config), devid and backend keys; numbers a type\'s devices in order', async () => {
    const { parseXlCfg } = await import('../dom0/toolstack/xlcfg/index.ts');
    const { configDevices } = await import('../dom0/toolstack/devices.ts');
    const cfg = parseXlCfg(`name = "x"\nkernel = "k.elf"\nmemory = 8\nvdev = [ 'type=echo,driver=./e.ts,greeting=hi', 'type=echo,driver=./e.ts', 'type=other,driver=/abs/o.ts,devid=7,backend=0' ]\n`, '/cfgs/x.cfg');
    expect(cfg.vdevs.map((v) => [v.type, v.devid, v.driverPath, v.keys])).toEqual([
      ['echo', 0, '/cfgs/e.ts', { greeting: 'hi' }],
      ['echo', 1, '/cfgs/e.ts', {}],
      ['other', 7, '/abs/o.ts', {}],
    ]);
    expect(configDevices(cfg).map((d) => [d.kind, d.devid, d.backend])).toEqual([
      ['echo', 0, { greeting: 'hi', driver: '/cfgs/e.ts' }],
      ['echo', 1, { driver: '/cfgs/e.ts' }],
      ['other', 7, { driver: '/abs/o.ts' }],
    ]);
  });

  it('refuses what it cannot serve, naming the entry', async () => {
    const { parseXlCfg } = await import('../dom0/toolstack/xlcfg/index.ts');
    const parse = (v: string) => () => parseXlCfg(`name = "x"\nkernel = "k.elf"\nvdev = [ ${v} ]\n`, '/c/x.cfg');
    expect(parse(`'driver=./e.ts'`)).toThrow(/vdev\[0\].*no type=/);
    expect(parse(`'type=echo'`)).toThrow(/no driver=/);
    expect(parse(`'type=vif,driver=./e.ts'`)).toThrow(/reserved for Xen's own backends/);
    expect(parse(`'type=echo,driver=./e.ts,backend=1'`)).toThrow(/from dom0 only/);
    expect(parse(`'type=echo,driver=./e.ts,state=4'`)).toThrow(/written by the toolstack/);
    expect(parse(`'type=echo,driver=./e.ts,devid=0', 'type=echo,driver=./e.ts,devid=0'`)).toThrow(/vdev\[1\].*already vdev\[0\]/);
    expect(parse(`'type=echo,driver=./a.ts', 'type=echo,driver=./b.ts'`)).toThrow(/one driver per type/);
  });
});

// xl.cfg for PV drivers on HVM: an HVM domain's disks are offered both emulated and as PV
// vbds, its vifs (type=ioemu, the default) both as virtio-net and as PV vifs, type=vif is PV
// only, and xen_platform_pci = 0 takes the PV side (and the /hypervisor node) away. The
// example examples/pvhvm.json runs end to end (dom0 in-process here; tests/dom0-placement
// runs it in both homes).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseXlCfg } from '../dom0/toolstack/xlcfg/index.ts';
import { configDevices } from '../dom0/toolstack/devices.ts';
import { deviceEmulation, validateCreateDomain } from '../dom0/toolstack/validate.ts';
import { planHvmDomain } from '../xenguest/hvm_image.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-pvhvm-xl-'));
const NATIVE = readFileSync('guests/build/native.elf');

const cfg = (body: string) => parseXlCfg(`name = "h"\ntype = "hvm"\nkernel = "k.elf"\nmemory = 16\n${body}`, '/cfg/h.cfg');
const shape = (devs: ReturnType<typeof configDevices>) => devs.map((d) => `${d.kind} ${d.devid} ${deviceEmulation(d) ?? 'pv'}`);

describe('xl.cfg: PV disks and vifs for HVM domains, xen_platform_pci', () => {
  it('offers each disk emulated and as a PV vbd, and an ioemu vif as virtio-net and a PV vif', () => {
    const c = cfg(`disk = [ '/d/a.img,raw,xvda,w', '/d/b.img,raw,hdb,w,devtype=legacy' ]\nvif = [ 'mac=00:16:3e:00:00:01', 'mac=00:16:3e:00:00:02,type=vif' ]\n`);
    expect(c.xenPlatformPci).toBe(true);
    const devs = configDevices(c);
    expect(shape(devs)).toEqual(['vbd 51712 virtio', 'vbd 51712 pv', 'vbd 832 ata', 'vbd 832 pv', 'vif 0 virtio', 'vif 0 pv', 'vif 1 pv']);
    // Both sides of a disk are the same image; the toolstack's validator takes the list.
    expect(devs[0]!.backend.params).toBe(devs[1]!.backend.params);
    expect(() => validateCreateDomain({ name: 'h', kernel: new Uint8Array(8), memoryMib: 16, type: 'hvm', devices: devs }, 1024)).not.toThrow();
  });

  it('with xen_platform_pci = 0: emulated devices only, no /hypervisor node, and a PV-only vif is refused', () => {
    const c = cfg(`xen_platform_pci = 0\ndisk = [ '/d/a.img,raw,xvda,w' ]\nvif = [ 'mac=00:16:3e:00:00:01' ]\n`);
    expect(c.xenPlatformPci).toBe(false);
    expect(shape(configDevices(c))).toEqual(['vbd 51712 virtio', 'vif 0 virtio']);
    expect(() => cfg(`xen_platform_pci = 0\nvif = [ 'type=vif' ]\n`)).toThrow(/vif\[0\].*type=vif is a PV vif: it needs xen_platform_pci = 1/);
    expect(() => parseXlCfg(`name = "p"\nkernel = "k.elf"\nxen_platform_pci = 1\n`, '/cfg/p.cfg')).toThrow(/xen_platform_pci.*applies to type = "hvm" domains only/);
    expect(() => cfg(`xen_platform_pci = "yes"\n`)).toThrow(/xen_platform_pci.*expected a boolean/);
    // The device tree: the node Linux's xen_early_init looks for, only with the platform.
    const tree = (xenPlatform: boolean) => Buffer.from(planHvmDomain(NATIVE, { memoryBytes: 16 << 20, cmdline: '', vcpus: 1, xenPlatform }).dtb).toString('latin1');
    expect(tree(true)).toContain('xen,xen');
    expect(tree(false)).not.toContain('xen,xen');
  });

  it('runs examples/pvhvm.json: blkfront over the PV twin, netfront over a type=vif, nothing PV without the platform', async () => {
    const { validateScenario } = await import('../sim/scenario/schema.ts');
    const { runScenario } = await import('../sim/scenario/runner.ts');
    const spec = JSON.parse(readFileSync('examples/pvhvm.json', 'utf8')) as { domains: { image: string; disk?: string[] }[] };
    for (const d of spec.domains) {
      d.image = resolve('examples', d.image);
      d.disk = d.disk?.map((s) => s.replace(/^file:([^,]+)/, (_m, p: string) => `file:${join(dir, p)}`));
    }
    const file = join(dir, 'pvhvm.json');
    writeFileSync(file, JSON.stringify(spec));
    const a = await runScenario(validateScenario(spec, file), { baseDir: dir });
    const con = (name: string) => a.domains.find((d) => d.name === name)!.console ?? '';
    expect(con('h1')).toMatch(/work=blk mode=rand bs=4096 qd=8 n=12 writes=12 reads=12 errors=0/);
    expect(con('h0')).toMatch(/work=blk: no vbd device/);
    expect(con('hn')).toMatch(/work=net .*pings=3 replies=3 lost=0 .*udp_rx=5 /);
    expect(con('pn')).toMatch(/work=net .*pings=3 replies=3 lost=0 .*udp_rx=5 /);
  }, 60_000);
});

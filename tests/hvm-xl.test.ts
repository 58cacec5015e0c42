// HVM domains with real processes: `pvsim up`, then `pvsim xl create` of a type = "hvm"
// config, xl list, xl console (the guest's UART through dom0's console backend), xl destroy;
// an emulated disk over the ioreq wire, and the errors a user gets for what is wrong.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startUp, hvmCfg, upChildren, xl } from './helpers/pvsim_up.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-hvm-xl-'));
const children = upChildren();

const cfg = (name: string, extra: string) => hvmCfg(dir, name, extra);

describe('xl and HVM domains', { timeout: 90_000 }, () => {
  it('creates, lists, shows the console of, and destroys an HVM domain in trap mode (both shadow policies)', async () => {
    const u = await startUp(['--pcpus', '2'], { tmpdir: dir, children });
    const a = xl(u, 'create', cfg('hvm-wp', 'cmdline = "work=syscall n=100"\n'));
    expect(a.err).toBe('');
    expect(a.out).toContain('Domain 1 (hvm-wp) created');
    const b = xl(u, 'create', cfg('hvm-lazy', 'cmdline = "work=pt n=30"\nshadow_sync = "lazy"\nhvm_mode = "trap"\n'));
    expect(b.out).toContain('Domain 2 (hvm-lazy) created');
    expect(xl(u, 'list').out).toMatch(/hvm-wp\s+1\s+16\s+1/);
    // xl console follows until the domain shuts down (on_poweroff = "preserve" keeps it listed).
    const con = xl(u, 'console', 'hvm-wp');
    expect(con.out).toContain('native: hart 0, SBI 2.0');
    expect(con.out).toMatch(/work=syscall .*result=0x7ab0b047/);
    expect(xl(u, 'console', 'hvm-lazy').out).toMatch(/work=pt .*result=0x/);
    // Exit counts per domain and reason, over the control query (what `pvsim compare` reads).
    const stats = JSON.parse(xl(u, 'hvm-stats', '--json').out) as { name: string; mode: string; shadow_sync: string; exits: Record<string, { count: number; ns: number }> }[];
    expect(stats.map((d) => [d.name, d.mode, d.shadow_sync])).toEqual([['hvm-wp', 'trap', 'wp'], ['hvm-lazy', 'trap', 'lazy']]);
    expect(stats[0]!.exits.world_switch!.count).toBeGreaterThan(1000);
    expect(stats[0]!.exits.csr!.ns).toBe(stats[0]!.exits.csr!.count * 100);
    expect(stats[1]!.exits.wp_fault!.count).toBe(0);
    expect(xl(u, 'destroy', 'hvm-wp').status).toBe(0);
    const list = xl(u, 'list').out;
    expect(list).not.toMatch(/hvm-wp/);
    expect(list).toMatch(/hvm-lazy\s+2\s+16\s+1\s+---s--/); // shut down, preserved

    // Mistakes: clear errors, nothing created.
    const bad = xl(u, 'create', cfg('hvm-vmx', 'hvm_mode = "vmx"\n'));
    expect(bad.status).not.toBe(0);
    expect(bad.err).toMatch(/hvm_mode: unknown hvm_mode "vmx"/);
    expect(bad.out).not.toContain('created');
    // Emulated devices with dom0 as its own process: the ioreq wire (tests/hvm-devices-processes.test.ts runs I/O over it).
    const emu = xl(u, 'create', cfg('hvm-disk', `cmdline = "work=blk n=2"\ndisk = [ '${join(dir, 'd.img')},raw,xvda,w' ]\n`));
    expect(emu.err).toBe('');
    expect(xl(u, 'console', 'hvm-disk').out).toMatch(/work=blk mode=seq bs=4096 qd=1 n=2 writes=2 reads=2 errors=0/);
    // PVHVM through xl: the same disk's PV twin over blkfront, and xen_platform_pci = 0
    // (carried to dom0's builder as CreateDomain.no_xen_platform): no node, no PV vbd.
    expect(xl(u, 'create', cfg('hvm-pv', `cmdline = "work=blk n=2 dev=pv"\ndisk = [ '${join(dir, 'p.img')},raw,xvda,w' ]\n`)).err).toBe('');
    expect(xl(u, 'console', 'hvm-pv').out).toMatch(/work=blk mode=seq bs=4096 qd=1 n=2 writes=2 reads=2 errors=0/);
    expect(xl(u, 'create', cfg('hvm-nopv', `xen_platform_pci = 0\ncmdline = "work=blk n=2 dev=pv"\ndisk = [ '${join(dir, 'q.img')},raw,xvda,w' ]\n`)).err).toBe('');
    expect(xl(u, 'console', 'hvm-nopv').out).toMatch(/work=blk: no vbd device/);
    // Destroying a domain with a device model: gone from the list, the rest stays.
    expect(xl(u, 'destroy', 'hvm-disk').status).toBe(0);
    expect(xl(u, 'list').out).not.toMatch(/hvm-disk/);
    expect(xl(u, 'list').out).toMatch(/hvm-pv/);
    u.proc.kill('SIGTERM');
    expect(await u.exited).toBe(0);
  });
});

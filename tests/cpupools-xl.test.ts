// xl's cpupool commands against `pvsim up` (hypervisor and dom0 as processes): cpupool-list
// as xl 4.17 prints it, cpupool-cpu-remove, cpupool-create on the freed pCPUs with another
// scheduler, cpupool-migrate, and the errors xl gives.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startUp, upChildren, xl } from './helpers/pvsim_up.ts';

const dir = mkdtempSync(join(tmpdir(), 'pvsim-cpupool-xl-'));
const children = upChildren();

describe('xl cpupool-*', { timeout: 90_000 }, () => {
  it('lists, frees pCPUs, creates a pool with its own scheduler and moves a domain into it', async () => {
    const u = await startUp(['--pcpus', '4'], { tmpdir: dir, children });
    const cfg = join(dir, 'hog.cfg');
    writeFileSync(cfg, `name = "hog"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\ncmdline = "work=spin"\nmemory = 4\n`);
    expect(xl(u, 'create', cfg).out).toContain('(hog) created');
    expect(xl(u, 'cpupool-list').out).toBe('Name               CPUs   Sched     Active   Domain count\nPool-0               4   credit2       y          2\n');
    expect(xl(u, 'cpupool-create', 'name=rt', 'sched=rtds', 'cpus=2-3').err).toMatch(/cpu 2 illegal or not free\nerror on creating cpupool/);
    expect(xl(u, 'cpupool-cpu-remove', 'Pool-0', '2-3').status).toBe(0);
    const created = xl(u, 'cpupool-create', 'name=rt', 'sched=rtds', 'cpus=2-3');
    expect(created.status, created.err).toBe(0);
    expect(created.out).toBe('Using config file "command line"\ncpupool name:   rt\nscheduler:      rtds\nnumber of cpus: 2\n');
    expect(xl(u, 'cpupool-migrate', 'hog', 'rt').status).toBe(0);
    expect(xl(u, 'cpupool-list').out).toBe(
      'Name               CPUs   Sched     Active   Domain count\nPool-0               2   credit2       y          1\nrt                   2      rtds       y          1\n',
    );
    expect(xl(u, 'cpupool-list', '-c').out).toBe('Name               CPU list\nPool-0             0,1\nrt                 2,3\n');
    // The domain's scheduler is now RTDS: sched-rtds answers for it, sched-credit2 does not.
    expect(xl(u, 'sched-rtds', '-d', 'hog').out).toMatch(/^Cpupool rt: sched=RTDS\n.*\nhog\s+1\s+10000\s+4000\s+yes\n$/);
    expect(xl(u, 'sched-credit2', '-d', 'hog').err).toMatch(/runs the rtds scheduler, not credit2/);
    // Listing every domain, each scheduler shows the domains of its own pools.
    expect(xl(u, 'sched-rtds').out).toMatch(/^Cpupool rt: sched=RTDS\n.*\nhog /);
    expect(xl(u, 'sched-credit2').out).toMatch(/^Cpupool Pool-0: ratelimit=1000us\n.*\nDomain-0 /);
    expect(xl(u, 'sched-credit2').out).not.toContain('hog');
    // xl.cfg's pool=: created in the pool named; a pool that does not exist is refused.
    const inRt = join(dir, 'rt2.cfg');
    writeFileSync(inRt, `name = "rt2"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\ncmdline = "work=spin"\nmemory = 4\npool = "rt"\n`);
    expect(xl(u, 'create', inRt).out).toContain('(rt2) created');
    expect(xl(u, 'cpupool-list', 'rt').out).toMatch(/^rt\s+2\s+rtds\s+y\s+2$/m);
    writeFileSync(inRt, `name = "rt3"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nmemory = 4\npool = "nope"\n`);
    expect(xl(u, 'create', inRt).err).toMatch(/cpupool "nope" does not exist/);
    expect(xl(u, 'list').out).not.toContain('rt3');
    // Mistakes.
    expect(xl(u, 'cpupool-migrate', 'hog', 'nope').err).toMatch(/unknown cpupool 'nope'/);
    expect(xl(u, 'cpupool-list', 'nope').err).toMatch(/Pool 'nope' does not exist/);
    expect(xl(u, 'cpupool-create', 'sched=rtds').err).toMatch(/Missing cpupool name!/);
    expect(xl(u, 'cpupool-create', 'name=x', 'sched=cfs').err).toMatch(/unknown scheduler "cfs"/);
    expect(xl(u, 'cpupool-cpu-remove', 'rt', '2-3').err).toMatch(/last pCPU of cpupool rt/);
  });
});

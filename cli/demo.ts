// `pvsim demo` (what `npm start` runs): the hypervisor and dom0 as processes, two PV guests
// on one bridge. alice writes, flushes and verifies her disk, then both ping each other and
// stream UDP; the run ends with a xentop table of both and exits 0 if every check passed.

import { existsSync, rmSync, unlinkSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dom0Args, newRunFiles, readToken } from './runtime.ts';
import { start, stopChild, type Child } from './up.ts';
import { PACKAGE_ROOT } from './self.ts';
import { connect, type Peer } from '../protocol/session.ts';
import type { CreateDomain, Response } from '../protocol/wire.ts';
import { vbdDevice, vifDevice } from '../dom0/toolstack/devices.ts';
import { formatXentop, sampleXentop } from '../dom0/toolstack/xentop.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';

const WORK_ELF = join(PACKAGE_ROOT, 'guests/build/work.elf');
const FINISH_TIMEOUT_MS = 120_000;

export interface DemoOptions {
  pcap?: string;
  /** Pings each guest sends. */
  pings: number;
  /** UDP datagrams each guest streams. */
  udp: number;
}

function ok(r: Response, what: string): Response {
  if (r.rc !== 0) throw new Error(`${what}: ${r.error ?? `error ${r.rc}`}`);
  return r;
}

export async function demoCommand(o: DemoOptions): Promise<number> {
  const files = newRunFiles();
  const children: Child[] = [];
  const say = (s: string) => process.stdout.write(s + '\n');
  let client: Peer | null = null;
  try {
    say('pvsim demo: starting the hypervisor and dom0 as processes');
    const hv = await start('hypervisor', ['hypervisor', '--token-file', files.hvToken, '--pcpus', '2', '--memory', '256'], {}, ['PVSIM_HYPERVISOR_URL']);
    children.push(hv.child);
    const d0 = await start('dom0', dom0Args(hv.vars.PVSIM_HYPERVISOR_URL!, files, { pcap: o.pcap }), {}, ['PVSIM_URL']);
    children.push(d0.child);
    client = (await connect(d0.vars.PVSIM_URL!, 'client', readToken(files.clientToken))).peer;

    const kernel = new Uint8Array(readFileSync(WORK_ELF));
    const disk = join(files.dir, 'alice.img');
    const net = (ip: string, peer: string) => `ip=${ip} peer=${peer} ping=${o.pings} udp=${o.udp} size=1024`;
    const guests: CreateDomain[] = [
      {
        name: 'alice',
        kernel,
        memoryMib: 16,
        cmdline: `work=blk,net mode=seq bs=4096 qd=8 n=256 ${net('10.0.0.1', '10.0.0.2')}`,
        onPoweroff: 'preserve', // kept for the table; destroyed at the end
        devices: [vbdDevice({ devid: 51712, path: disk, access: 'w', vdev: 'xvda' }), vifDevice({ devid: 0, mac: '00:16:3e:00:00:01' })],
      },
      {
        name: 'bob',
        kernel,
        memoryMib: 16,
        cmdline: `work=net ${net('10.0.0.2', '10.0.0.1')}`,
        onPoweroff: 'preserve',
        devices: [vifDevice({ devid: 0, mac: '00:16:3e:00:00:02' })],
      },
    ];
    for (const g of guests) {
      const r = ok(await client.request('createDomain', g), `create ${g.name}`);
      say(`  created d${r.domain!.domid} ${g.name}: ${g.cmdline}`);
    }
    const first = await sampleXentop(client);

    // Both guests power off when their work is done.
    const deadline = Date.now() + FINISH_TIMEOUT_MS;
    let last = first;
    while (last.domains.some((d) => !(d.flags & XEN_DOMINF.shutdown))) {
      if (Date.now() > deadline) throw new Error(`the guests did not finish within ${FINISH_TIMEOUT_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 200));
      last = await sampleXentop(client);
    }

    const dmesg = ok(await client.request('dmesg', {}), 'dmesg').lines?.lines ?? [];
    const results = dmesg.filter((l) => /^\(d\d+\) (work=|work failed|blkfront:|netfront:)/.test(l));
    say('\nguest results (xl dmesg):');
    for (const l of results) say(`  ${l}`);
    say('\nxentop:');
    process.stdout.write(formatXentop(last, first));

    const problems: string[] = [];
    const blk = results.find((l) => l.includes('work=blk'));
    if (!blk || !/errors=0 /.test(blk)) problems.push('alice: the disk did not read back as written');
    for (const [i, g] of guests.entries()) {
      const line = results.find((l) => l.startsWith(`(d${i + 1}) work=net`));
      const m = line && /pings=(\d+) replies=(\d+).* udp_rx_bytes=(\d+) tx_errors=(\d+)/.exec(line);
      if (!m) problems.push(`${g.name}: no network result`);
      else if (m[1] !== m[2] || m[4] !== '0' || Number(m[3]) !== o.udp * 1024) problems.push(`${g.name}: ${m[2]}/${m[1]} ping replies, ${m[3]} UDP bytes received, ${m[4]} tx errors`);
    }
    for (const d of last.domains) {
      const reason = (d.flags >>> XEN_DOMINF.shutdownshift) & XEN_DOMINF.shutdownmask;
      if (reason !== 0) problems.push(`${d.name}: shut down with reason ${reason}, not poweroff`);
    }
    if (o.pcap) say(`\ncapture: ${o.pcap} (try: tshark -r ${o.pcap})`);
    for (const d of last.domains) await client.request('destroyDomain', { domid: d.domid });
    if (problems.length) {
      say(`\npvsim demo: FAILED\n  ${problems.join('\n  ')}`);
      return 1;
    }
    say('\npvsim demo: ok — disk written, flushed and verified; pings answered and UDP delivered both ways');
    return 0;
  } catch (e) {
    process.stderr.write(`pvsim demo: ${(e as Error).message}\n`);
    return 1;
  } finally {
    client?.close();
    for (const c of children.reverse()) await stopChild(c);
    if (existsSync(files.xsPath)) unlinkSync(files.xsPath);
    rmSync(files.dir, { recursive: true, force: true });
  }
}

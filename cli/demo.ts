// `pvsim demo` (what `npm start` runs): the hypervisor and dom0 as processes, two PV guests
// on one bridge. alice writes, flushes and verifies her disk, then both ping each other and
// stream UDP; the run ends with a xentop table of both and a short `pvsim compare` of a few
// workloads in every mode, and exits 0 if every check passed.

import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { dom0Args, newRunFiles, readToken } from './runtime.ts';
import { startPair, stopChild, type Child } from './up.ts';
import { PACKAGE_ROOT } from './self.ts';
import { connect, type Peer } from '../protocol/session.ts';
import type { CreateDomain, Response } from '../protocol/wire.ts';
import { vbdDevice, vifDevice } from '../dom0/toolstack/devices.ts';
import { formatXentop, sampleXentop, type XentopSample } from '../dom0/toolstack/xentop.ts';
import { encodeXsMessage, XsFrameDecoder, xsJoinStrings, XS_TYPE } from '../protocol/xen/xs_wire.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';

const WORK_ELF = join(PACKAGE_ROOT, 'guests/build/work.elf');
const FINISH_TIMEOUT_MS = 120_000;

export interface DemoOptions {
  pcap?: string;
  /** End with a short `pvsim compare` (commander's --no-compare sets false). */
  compare?: boolean;
  /** Pings each guest sends. */
  pings: number;
  /** UDP datagrams each guest streams. */
  udp: number;
}

function ok(r: Response, what: string): Response {
  if (r.rc !== 0) throw new Error(`${what}: ${r.error ?? `error ${r.rc}`}`);
  return r;
}

const isShutDown = (d: { flags: number }) => (d.flags & XEN_DOMINF.shutdown) !== 0;

/**
 * Resolves with a xentop sample once every domain has shut down. As xl does, it watches
 * XenStore's @releaseDomain, which dom0's xenstored fires when a domain shuts down (and once
 * when the watch is set, which covers shutdowns that came before it), and looks at the
 * domains at each firing: no polling. Rejects after `timeoutMs`.
 */
async function whenAllShutDown(client: Peer, xenstoredPath: string, timeoutMs: number): Promise<XentopSample> {
  const conn = createConnection(xenstoredPath);
  try {
    return await new Promise<XentopSample>((resolve, reject) => {
      const fail = (e: Error) => {
        clearTimeout(timer);
        reject(e);
      };
      const timer = setTimeout(() => fail(new Error(`the guests did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
      // Firings that come while a look is under way fold into one more look after it.
      let looking = false;
      let again = false;
      const look = async () => {
        if (looking) return void (again = true);
        looking = true;
        try {
          do {
            again = false;
            const s = await sampleXentop(client);
            if (s.domains.every(isShutDown)) {
              clearTimeout(timer);
              return resolve(s);
            }
          } while (again);
        } catch (e) {
          fail(e as Error);
        } finally {
          looking = false;
        }
      };
      const dec = new XsFrameDecoder();
      conn.on('data', (chunk: Buffer) => {
        for (const m of dec.push(new Uint8Array(chunk))) {
          if (m.type === XS_TYPE.WATCH_EVENT) void look();
          else if (m.type === XS_TYPE.ERROR) fail(new Error(`xenstored refused the @releaseDomain watch: ${new TextDecoder().decode(m.payload)}`));
        }
      });
      conn.on('error', (e) => fail(new Error(`xenstored at ${xenstoredPath}: ${e.message}`)));
      conn.on('close', () => fail(new Error('xenstored closed the connection')));
      conn.on('connect', () => conn.write(encodeXsMessage({ type: XS_TYPE.WATCH, reqId: 1, txId: 0, payload: xsJoinStrings(['@releaseDomain', 'pvsim-demo']) })));
    });
  } finally {
    conn.destroy();
  }
}

export async function demoCommand(o: DemoOptions): Promise<number> {
  const status = await demoGuests(o);
  if (o.compare === false) return status;
  return Math.max(status, await demoComparison());
}

/** The workloads of the demo's closing comparison: a few, small, a few seconds in all. */
export const DEMO_COMPARE_WORKLOADS = ['syscall', 'pgfault', 'pt', 'blk:n=8'];

/**
 * The short comparison the demo ends with: a few workloads in every mode, the table, and
 * the HTML report written to a fresh directory under TMPDIR, its path named.
 */
async function demoComparison(): Promise<number> {
  const { realFailures, runComparison } = await import('./compare.ts');
  const { renderCompareHtml } = await import('../sim/compare/html.ts');
  const { parseCompareArgs, checksumDisagreements } = await import('../sim/compare/report.ts');
  const { formatCompareTable } = await import('../sim/compare/table.ts');
  const say = (s: string) => process.stdout.write(s + '\n');
  say(`\npvsim demo: the same workloads natively, as PV and as HVM (pvsim compare ${DEMO_COMPARE_WORKLOADS.join(' ')} --io pv,virtio,legacy)`);
  const req = parseCompareArgs({ workloads: DEMO_COMPARE_WORKLOADS, io: 'pv,virtio,legacy' });
  const report = await runComparison(req, { jobs: availableParallelism(), timeoutMs: 300_000 });
  process.stdout.write(formatCompareTable(report));
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-compare-'));
  const file = join(dir, 'compare.html');
  writeFileSync(file, renderCompareHtml(report));
  say(`\ncomparison report: ${file}`);
  const failures = realFailures(report);
  const bad = checksumDisagreements(report);
  if (failures.length || bad.length) {
    say(`pvsim demo: the comparison FAILED\n  ${[...failures, ...bad.map((b) => `${b.workload}: checksums differ (${b.values.join(' vs ')})`)].join('\n  ')}`);
    return 1;
  }
  return 0;
}

async function demoGuests(o: DemoOptions): Promise<number> {
  const files = newRunFiles();
  const children: Child[] = [];
  const say = (s: string) => process.stdout.write(s + '\n');
  let client: Peer | null = null;
  try {
    say('pvsim demo: starting the hypervisor and dom0 as processes');
    const hvArgs = ['hypervisor', '--token-file', files.hvToken, '--pcpus', '2', '--memory', '256'];
    const vars = await startPair(hvArgs, (url) => dom0Args(url, files, { pcap: o.pcap }), ['PVSIM_URL', 'XENSTORED_PATH'], children);
    client = (await connect(vars.dom0.PVSIM_URL!, 'client', readToken(files.clientToken))).peer;

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

    // Both guests power off when their work is done; each shutdown is an event to wait on.
    const last = await whenAllShutDown(client, vars.dom0.XENSTORED_PATH!, FINISH_TIMEOUT_MS);

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

// The guest's netfront and network stack (guests/lib/netfront.c, lib/net.c, driven by
// work=net) against dom0's netback and bridge, in one process: two guests from work.elf,
// each with a vif on xenbr0, ping each other, stream UDP to each other's discard port and
// finish with the "done" handshake; what one sent is what the other counted, and netback's
// counters agree. Also: one guest that writes its disk and then pings (work=blk,net), and
// a clear failure when no backend serves the vif.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { Dom0Daemons } from '../dom0/daemons.ts';
import { LocalPlatform } from '../sim/local_platform.ts';
import { attachDom0Hooks } from '../hypervisor/domain/dom0_hooks.ts';
import { addDevice, vbdDevice, vifDevice } from '../dom0/toolstack/devices.ts';

const MiB = 1024 * 1024;
const image = readFileSync('guests/build/work.elf');
const dir = mkdtempSync(join(tmpdir(), 'pvsim-netguest-'));

interface Guest {
  name: string;
  cmdline: string;
  mac: string;
  disk?: string;
}

async function run(guests: Guest[]) {
  const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
  const daemons = startLocalDom0(hv);
  const doms = guests.map((g) => {
    const d = hv.createPvDomain(image, { name: g.name, memoryBytes: 16 * MiB, cmdline: g.cmdline }).domain;
    addDevice(daemons.xs, d.domid, vifDevice({ devid: 0, mac: g.mac }));
    if (g.disk) addDevice(daemons.xs, d.domid, vbdDevice({ devid: 51712, path: g.disk, access: 'w', vdev: 'xvda' }));
    return d;
  });
  for (const d of doms) hv.unpause(d);
  await hv.runAsync();
  const logs = doms.map((d) => hv.dmesg().filter((l) => l.startsWith(`(d${d.domid})`)).join('\n'));
  return { hv, daemons, doms, logs };
}

const field = (line: string, key: string) => {
  const m = new RegExp(`\\b${key}=(\\S+)`).exec(line);
  if (!m) throw new Error(`no ${key}= in ${line}`);
  return m[1]!;
};
const num = (line: string, key: string) => Number(field(line, key));
const result = (log: string) => {
  const m = /work=net ip=.*/.exec(log);
  if (!m) throw new Error(`no result line in:\n${log}`);
  return m[0];
};

/** An Ethernet/IPv4/UDP frame with correct checksums and a patterned payload. */
function udpFrame(dst: string, src: string, sip: number[], dip: number[], dport: number, len: number): Uint8Array {
  const f = new Uint8Array(42 + len);
  const mac = (m: string) => m.split(':').map((h) => parseInt(h, 16));
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  f[12] = 0x08;
  const put16 = (o: number, v: number) => {
    f[o] = (v >> 8) & 0xff;
    f[o + 1] = v & 0xff;
  };
  const sum = (from: number, to: number, acc = 0) => {
    for (let i = from; i < to; i += 2) acc += (f[i]! << 8) | (i + 1 < to ? f[i + 1]! : 0);
    while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
    return acc;
  };
  f[14] = 0x45;
  put16(16, 20 + 8 + len);
  f[22] = 64;
  f[23] = 17;
  f.set(sip, 26);
  f.set(dip, 30);
  put16(24, ~sum(14, 34) & 0xffff);
  put16(34, 4444);
  put16(36, dport);
  put16(38, 8 + len);
  for (let i = 0; i < len; i++) f[42 + i] = (i * 7 + 3) & 0xff;
  const pseudo = sip[0]! * 256 + sip[1]! + sip[2]! * 256 + sip[3]! + dip[0]! * 256 + dip[1]! + dip[2]! * 256 + dip[3]! + 17 + 8 + len;
  const c = ~sum(34, 42 + len, pseudo) & 0xffff;
  put16(40, c === 0 ? 0xffff : c);
  return f;
}

describe('guest netfront and network stack', () => {
  it('two guests ping each other and stream UDP both ways through netback and the bridge', async () => {
    const { doms, logs, daemons } = await run([
      { name: 'a', cmdline: 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=10 udp=100 size=1024', mac: '00:16:3e:00:00:01' },
      { name: 'b', cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=10 udp=100 size=1000', mac: '00:16:3e:00:00:02' },
    ]);
    for (const d of doms) expect(d.shutdownReason).toBe('poweroff');
    const [a, b] = logs.map(result) as [string, string];
    for (const r of [a, b]) {
      expect(num(r, 'pings')).toBe(10);
      expect(num(r, 'replies')).toBe(10);
      expect(num(r, 'lost')).toBe(0);
      expect(num(r, 'rtt_ns_avg')).toBeGreaterThan(0);
      expect(num(r, 'udp_tx')).toBe(100);
      expect(num(r, 'tx_errors')).toBe(0);
      expect(num(r, 'ns')).toBeGreaterThan(0);
    }
    expect(num(a, 'udp_tx_bytes')).toBe(102400);
    expect(num(b, 'udp_tx_bytes')).toBe(100000);
    expect(num(b, 'udp_rx')).toBe(num(a, 'udp_tx'));
    expect(num(b, 'udp_rx_bytes')).toBe(num(a, 'udp_tx_bytes'));
    expect(num(a, 'udp_rx')).toBe(num(b, 'udp_tx'));
    expect(num(a, 'udp_rx_bytes')).toBe(num(b, 'udp_tx_bytes'));
    // The guests' MACs and rings as netfront reported them.
    expect(logs[0]).toMatch(/net: vif 0, mac 00:16:3e:00:00:01, backend \/local\/domain\/0\/backend\/vif\/\d+\/0 \(domain 0\).* sg 1; ip 10\.0\.0\.1, peer 10\.0\.0\.2/);
    // netback saw the UDP datagrams as 2-slot packets and no errors.
    for (const d of doms) {
      const s = daemons.netback!.statsFor(d.domid);
      expect(s.tx_errors).toBe(0);
      expect(s.rx_errors).toBe(0);
      expect(s.rx_dropped).toBe(0);
      expect(s.tx_packets).toBeGreaterThanOrEqual(100 + 10 + 10);
    }
    console.log(`a: ${a}\nb: ${b}`);
  }, 300_000);

  it('runs workloads in sequence: work=blk,net writes and verifies the disk, then pings', async () => {
    const { doms, logs } = await run([
      { name: 'a', cmdline: 'work=blk,net mode=seq bs=4096 qd=4 n=32 ip=10.0.0.1 peer=10.0.0.2 ping=3 udp=5 size=200', mac: '00:16:3e:00:00:0a', disk: join(dir, 'a.img') },
      { name: 'b', cmdline: 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=3 udp=5 size=300', mac: '00:16:3e:00:00:0b' },
    ]);
    for (const d of doms) expect(d.shutdownReason).toBe('poweroff');
    expect(logs[0]).toMatch(/work=blk mode=seq bs=4096 qd=4 n=32 writes=32 reads=32 errors=0/);
    const [a, b] = logs.map(result) as [string, string];
    expect(logs[0]!.indexOf('work=blk ')).toBeLessThan(logs[0]!.indexOf('work=net '));
    expect(num(a, 'replies')).toBe(3);
    expect(num(b, 'replies')).toBe(3);
    expect(num(b, 'udp_rx_bytes')).toBe(1000);
    expect(num(a, 'udp_rx_bytes')).toBe(1500);
  }, 300_000);

  it('waits for a peer that boots later, resolving it with repeated ARP requests', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
    const daemons = startLocalDom0(hv);
    const mk = (name: string, cmdline: string, mac: string) => {
      const d = hv.createPvDomain(image, { name, memoryBytes: 16 * MiB, cmdline }).domain;
      addDevice(daemons.xs, d.domid, vifDevice({ devid: 0, mac }));
      return d;
    };
    const a = mk('early', 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=3 udp=5 size=500', '00:16:3e:00:00:21');
    const b = mk('late', 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=3 udp=5 size=500', '00:16:3e:00:00:22');
    hv.unpause(a);
    await hv.runAsync({ until: 500e6 }); // half a virtual second alone
    hv.unpause(b);
    await hv.runAsync();
    const logOf = (domid: number) => hv.dmesg().filter((l) => l.startsWith(`(d${domid})`)).join('\n');
    expect(a.shutdownReason).toBe('poweroff');
    expect(b.shutdownReason).toBe('poweroff');
    const waited = Number(/net: peer 10\.0\.0\.2 is at 00:16:3e:00:00:22 after (\d+) us/.exec(logOf(a.domid))?.[1]);
    expect(waited).toBeGreaterThan(300_000);
    expect(waited).toBeLessThan(1_000_000);
    for (const r of [result(logOf(a.domid)), result(logOf(b.domid))]) {
      expect(num(r, 'replies')).toBe(3);
      expect(num(r, 'udp_rx_bytes')).toBe(2500);
    }
  }, 300_000);

  it('reassembles a frame the backend spreads over several rx slots (NETRXF_more_data)', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
    const daemons = startLocalDom0(hv);
    const doms = [
      ['a', 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=5 udp=20 size=1000', '00:16:3e:00:00:31'],
      ['b', 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=5 udp=20 size=1000', '00:16:3e:00:00:32'],
    ].map(([name, cmdline, mac]) => {
      const d = hv.createPvDomain(image, { name: name!, memoryBytes: 16 * MiB, cmdline: cmdline! }).domain;
      addDevice(daemons.xs, d.domid, vifDevice({ devid: 0, mac: mac! }));
      hv.unpause(d);
      return d;
    });
    // Run until b's vif is connected, then hand netback a 9000-byte UDP frame for b to port 9
    // (3 rx slots: 4096 + 4096 + 808), as if 10.0.0.1 had sent it.
    let vif: { deliver(f: Uint8Array): Promise<void> } | undefined;
    for (let t = 1e6; !vif && t < 5e9; t += 1e6) {
      await hv.runAsync({ until: t });
      vif = [...daemons.netback!.attached.values()].find((x) => x.vif.domid === doms[1]!.domid)?.vif;
    }
    expect(vif).toBeDefined();
    const payload = 9000 - 42;
    await vif!.deliver(udpFrame('00:16:3e:00:00:32', '00:16:3e:00:00:31', [10, 0, 0, 1], [10, 0, 0, 2], 9, payload));
    await hv.runAsync();
    const log = hv.dmesg().filter((l) => l.startsWith(`(d${doms[1]!.domid})`)).join('\n');
    expect(doms[1]!.shutdownReason).toBe('poweroff');
    const r = result(log);
    expect(num(r, 'udp_rx')).toBe(21);
    expect(num(r, 'udp_rx_bytes')).toBe(20 * 1000 + payload);
    // netfront took the frame's 3 slots as one packet; every other packet took one slot.
    const rx = /netfront tx .* rx (\d+) packets (\d+) slots (\d+) errors/.exec(log)!;
    expect(Number(rx[2])).toBe(Number(rx[1]) + 2);
    expect(Number(rx[3])).toBe(0);
  }, 300_000);

  it('reconnects when the backend loses the device mid-run (as after a dom0 restart): pings resume, the handshake completes', async () => {
    const hv = new Hypervisor({ machineMemoryBytes: 256 * MiB });
    const daemons = startLocalDom0(hv);
    // 150 pings 20 ms apart (3 s of virtual time) each way, then a short UDP stream.
    const doms = [
      ['a', 'work=net ip=10.0.0.1 peer=10.0.0.2 ping=150 interval_ms=20 udp=20 size=500 verbose', '00:16:3e:00:00:41'],
      ['b', 'work=net ip=10.0.0.2 peer=10.0.0.1 ping=150 interval_ms=20 udp=20 size=500 verbose', '00:16:3e:00:00:42'],
    ].map(([name, cmdline, mac]) => {
      const d = hv.createPvDomain(image, { name: name!, memoryBytes: 16 * MiB, cmdline: cmdline! }).domain;
      addDevice(daemons.xs, d.domid, vifDevice({ devid: 0, mac: mac! }));
      hv.unpause(d);
      return d;
    });
    const [a, b] = doms as [(typeof doms)[0], (typeof doms)[0]];
    const logOf = (domid: number) => hv.dmesg().filter((l) => l.startsWith(`(d${domid})`)).join('\n');
    // Both pinging, then a's vif loses its ring, as when dom0 dies: netback lets go of it
    // (its mappings and port gone; the guest is not told), XenStore still says Connected.
    for (let t = 10e6; t < 5e9 && !/ping seq 10 rtt/.test(logOf(b.domid)); t += 10e6) await hv.runAsync({ until: t });
    expect(logOf(b.domid)).toMatch(/ping seq 10 rtt/);
    const vifs = daemons.backends.get('vif')!;
    const path = `/local/domain/0/backend/vif/${a.domid}/0`;
    const outage = hv.now();
    await daemons.netback!.disconnect(vifs.devices.get(path)!);
    await hv.runAsync({ until: outage + 1.5e9 });
    // 1.5 s later "dom0 is back": the restart rule for that device says Closed.
    const back = hv.now();
    await vifs.restartDevice(path);
    await hv.runAsync();
    console.log(`outage of ${path}: ${(outage / 1e6).toFixed(1)} ms .. ${(back / 1e6).toFixed(1)} ms virtual`);

    for (const d of doms) expect(d.shutdownReason).toBe('poweroff');
    const [la, lb] = [logOf(a.domid), logOf(b.domid)];
    expect(la).toMatch(new RegExp(`netfront: backend ${path} lost the device \\(state Closed\\); reconnecting with \\d+ tx packet\\(s\\) in flight`));
    expect(la).toMatch(new RegExp(`netfront: reconnected to ${path}: tx-ring-ref \\d+, rx-ring-ref \\d+, port \\d+, sg 1; \\d+ tx packet\\(s\\) lost`));
    expect(lb).not.toMatch(/lost the device/);
    const [ra, rb] = [result(la), result(lb)];
    for (const [log, r] of [[la, ra], [lb, rb]] as const) {
      expect(num(r, 'pings')).toBe(150);
      expect(num(r, 'lost')).toBe(150 - num(r, 'replies'));
      // The pings of the outage (1 s timeout each, 1.5 s outage) are lost, and only those.
      expect(num(r, 'lost')).toBeGreaterThanOrEqual(1);
      expect(num(r, 'lost')).toBeLessThanOrEqual(4);
      const failed = [...log.matchAll(/net: ping seq (\d+): -110 \(ETIMEDOUT\)/g)].map((m) => Number(m[1]));
      expect(failed.length).toBe(num(r, 'lost'));
      // Replies again after the outage: every later ping answered.
      const answered = [...log.matchAll(/net: ping seq (\d+) rtt/g)].map((m) => Number(m[1]));
      expect(answered.filter((s) => s > Math.max(...failed)).length).toBe(150 - Math.max(...failed));
      expect(num(r, 'udp_tx')).toBe(20);
    }
    // What a sent into the dead ring came back as lost tx packets, counted as tx errors.
    const stats = /(\d+) reconnects (\d+) tx lost/.exec(la)!;
    expect(Number(stats[1])).toBe(1);
    expect(Number(stats[2])).toBeGreaterThan(0);
    expect(num(ra, 'tx_errors')).toBe(Number(stats[2]));
    expect(num(rb, 'tx_errors')).toBe(0);
    // The reconnect happened after the outage, and a's pings after it were answered.
    const reconnectedAt = la.indexOf('netfront: reconnected');
    expect(la.slice(reconnectedAt)).toMatch(/net: ping seq \d+ rtt/);
    // UDP after the reconnect arrived whole both ways; the finish handshake completed.
    expect(num(ra, 'udp_rx_bytes')).toBe(10000);
    expect(num(rb, 'udp_rx_bytes')).toBe(10000);
    expect(la + lb).not.toMatch(/did not finish/);
    console.log(`a: ${ra}\nb: ${rb}`);
    console.log((la + '\n' + lb).split('\n').filter((l) => /netfront:|ping seq \d+: /.test(l)).join('\n'));
  }, 300_000);

  it('fails clearly, within its bounded wait, when no backend serves the vif', async () => {
    // dom0 without netback (as startLocalDom0 builds it, with netBackend off): the vif's
    // backend directory exists but stays Initialising.
    const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
    const daemons = new Dom0Daemons(new LocalPlatform(hv), { netBackend: false });
    attachDom0Hooks(hv, (info) => daemons.domainCreated(info), (domid) => daemons.domainDestroyed(domid));
    const d = hv.createPvDomain(image, { name: 'lonely', memoryBytes: 16 * MiB, cmdline: 'work=net' }).domain;
    addDevice(daemons.xs, d.domid, vifDevice({ devid: 0, mac: '00:16:3e:00:00:0c' }));
    hv.unpause(d);
    await hv.runAsync();
    const log = hv.dmesg().filter((l) => l.startsWith(`(d${d.domid})`)).join('\n');
    expect(d.shutdownReason).toBe('crash');
    expect(log).toMatch(/netfront: backend \/local\/domain\/0\/backend\/vif\/1\/0 did not reach InitWait within 10000 ms \(state Initialising\)/);
    expect(log).toMatch(/work=net: FAILED: netfront_init = -110 \(ETIMEDOUT\) while waiting for the backend's InitWait/);
    expect(hv.now()).toBeGreaterThanOrEqual(10e9);
  }, 120_000);
});

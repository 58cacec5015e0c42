// Two domains on xenbr0, a (10.0.0.1) sending and b (10.0.0.2) answering, dom0 in-process
// with the bridge captured: what the PV network bench (bench/run.ts) and the virtio one
// (bench/devicemodel.ts) share. How each domain is made (PV + netfront, HVM + virtio-net)
// is the caller's.

import { performance } from 'node:perf_hooks';
import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { Dom0Daemons } from '../dom0/daemons.ts';
import { parsePcap, type PcapPacket } from '../dom0/backends/net/pcap.ts';

/** Makes one domain running work=net at `ip` towards `peer`, with `extra` on its command line. */
export type MakeNetDomain = (name: string, ip: string, peer: string, mac: string, extra: string) => Domain;

/** Makes a (sending as `aExtra` says) and b (only answering), runs both to the end, then stops dom0's daemons. */
export async function runNetPair(hv: Hypervisor, daemons: Dom0Daemons, mk: MakeNetDomain, aExtra: string): Promise<{ a: Domain; b: Domain; seconds: number }> {
  const a = mk('a', '10.0.0.1', '10.0.0.2', '00:16:3e:00:00:01', aExtra);
  const b = mk('b', '10.0.0.2', '10.0.0.1', '00:16:3e:00:00:02', 'ping=0 udp=0');
  hv.unpause(a);
  hv.unpause(b);
  const t0 = performance.now();
  await hv.runAsync();
  const seconds = (performance.now() - t0) / 1000;
  daemons.close();
  return { a, b, seconds };
}

/** IPv4 frames from a (10.0.0.1) in the capture: ICMP echo requests ('ping'), or UDP to the discard port ('udp'). */
export function framesFromA(pcapFile: Uint8Array, kind: 'ping' | 'udp'): PcapPacket[] {
  return parsePcap(pcapFile).packets.filter((p) => {
    const f = p.data;
    if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x00 || f[29] !== 1) return false; // from 10.0.0.1
    const proto = f[23];
    return kind === 'ping' ? proto === 1 && f[34] === 8 : proto === 17 && f[36] === 0 && f[37] === 9;
  });
}

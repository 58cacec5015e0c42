// `npm start`: the demo with real processes. Both guests' results are checked by the demo
// itself (exit 0); here also its xentop table, the capture, read by tshark, and the short
// comparison it ends with.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePcap } from '../dom0/backends/net/pcap.ts';

const PVSIM = join(process.cwd(), 'bin/pvsim.js');
const HAVE_TSHARK = existsSync('/usr/bin/tshark');
if (!HAVE_TSHARK && process.env.CI) throw new Error('CI needs tshark');

describe('pvsim demo (npm start)', () => {
  it('runs dom0 and two guests, verifies disk and network, prints a xentop table, exits 0; the capture reads in tshark', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-demo-'));
    const pcap = join(dir, 'demo.pcap');
    const r = spawnSync(process.execPath, [PVSIM, 'demo', '--pcap', pcap], { encoding: 'utf8', timeout: 90_000, env: { ...process.env, TMPDIR: dir, XDG_RUNTIME_DIR: '' } });
    expect(r.stderr).not.toMatch(/FAILED|pvsim demo: /);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/work=blk mode=seq bs=4096 qd=8 n=256 writes=256 reads=256 errors=0/);
    // xentop's 19 columns; VBD_RSECT/VBD_WSECT: 256 requests of 8 sectors each way.
    expect(r.stdout).toMatch(/NAME\s+STATE\s+CPU\(sec\)\s+CPU\(%\)\s+MEM\(k\)\s+MEM\(%\)\s+MAXMEM\(k\)\s+MAXMEM\(%\)\s+VCPUS\s+NETS\s+NETTX\(k\)\s+NETRX\(k\)\s+VBDS\s+VBD_OO\s+VBD_RD\s+VBD_WR\s+VBD_RSECT\s+VBD_WSECT\s+SSID/);
    expect(r.stdout).toMatch(/alice\s+-s----\s+\d+\s+[\d.]+\s+16384\s+[\d.]+\s+\d+\s+[\d.]+\s+1\s+1\s+\d+\s+\d+\s+1\s+0\s+256\s+256\s+2048\s+2048\s+0\n/);
    expect(r.stdout).toMatch(/bob\s+-s----\s+\d+\s+[\d.]+\s+16384\s+[\d.]+\s+\d+\s+[\d.]+\s+1\s+1\s+\d+\s+\d+\s+0\s+0\s+0\s+0\s+0\s+0\s+0\n/);
    // It ends with a short pvsim compare and names the report it wrote under TMPDIR.
    expect(r.stdout).toMatch(/^syscall\s+hvm-trap\s+-\s+wp\s+[\d.]+ ms/m);
    expect(r.stdout).toMatch(/holds\s+trap-and-emulate is far slower than PV on page faults \(pgfault\)/);
    const report = /^comparison report: (\S+)$/m.exec(r.stdout)?.[1];
    expect(report?.startsWith(dir)).toBe(true);
    expect(report).toMatch(/compare\.html$/);
    expect(readFileSync(report!, 'utf8')).toMatch(/^<!DOCTYPE html>[\s\S]*id="pvsim-report-data"/i);
    const cap = parsePcap(readFileSync(pcap));
    expect(cap.linktype).toBe(1);
    expect(cap.packets.length).toBeGreaterThan(200); // 2 x (10 pings + 10 replies + 100 datagrams) and ARP
    if (HAVE_TSHARK) {
      const t = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.protocols', '-e', 'ip.src', '-e', 'ip.dst'], { encoding: 'utf8', timeout: 30_000 });
      expect(t.status).toBe(0);
      const lines = t.stdout.trim().split('\n');
      expect(lines.filter((l) => l.startsWith('eth:ethertype:arp')).length).toBeGreaterThanOrEqual(2);
      expect(lines.filter((l) => /^eth:ethertype:ip:icmp(:data)?\t10\.0\.0\.1\t10\.0\.0\.2/.test(l)).length).toBeGreaterThanOrEqual(20); // requests and replies one way
      expect(lines.filter((l) => /^eth:ethertype:ip:udp:data\t10\.0\.0\.2\t10\.0\.0\.1/.test(l)).length).toBeGreaterThanOrEqual(100);
      // tshark finds no malformed packets or bad checksums (the work's ports, 9 and 5001, are
      // plain data: dissectors tshark guesses for them would call them malformed).
      const bad = spawnSync('tshark', ['-r', pcap, '--disable-protocol', 'tapa', '--disable-protocol', 'cpfi', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'icmp.check_checksum:TRUE', '-Y', '_ws.malformed || _ws.expert.severity >= warning'], { encoding: 'utf8', timeout: 30_000 });
      expect(bad.stdout.trim()).toBe('');
    }
  }, 120_000);
});

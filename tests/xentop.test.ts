// xentop's formatting (dom0/toolstack/xentop.ts) and keys (cli/xl_top.ts) on made-up
// samples: state letters in xentop's order, widths that grow, the sort order S cycles
// through, the vCPU, vif and vbd lines, the summary, and the key handling.

import { describe, expect, it } from 'vitest';
import type { DeviceStats, DomainInfo, VcpuInfo } from '../protocol/wire.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';
import { defaultView, formatXentop, XENTOP_FIELDS, XENTOP_HEADER, xentopBatch, xentopState, xentopSummary, type XentopSample } from '../dom0/toolstack/xentop.ts';
import { drawScreen, handleKeys, type KeyState } from '../cli/xl_top.ts';

const dom = (domid: number, name: string, flags: number, cpuS: number, pages = 2048, maxPages = pages): DomainInfo => ({ domid, name, flags, totPages: pages, maxPages, cpuTimeNs: cpuS * 1e9, onlineVcpus: 1, maxVcpuId: 0, weight: 256, cap: 0 });
const vcpu = (domid: number, n: number, cpuS: number): VcpuInfo => ({ domain: '', domid, vcpu: n, pcpu: 0, state: 0, cpuTimeNs: cpuS * 1e9, online: true, hardAffinity: [], softAffinity: [] });
const devs = (domid: number, o: Partial<DeviceStats>): DeviceStats => ({ domid, vbds: 0, vbdReads: 0, vbdWrites: 0, vbdFlushes: 0, vbdErrors: 0, nets: 0, netTxPackets: 0, netTxBytes: 0, netRxPackets: 0, netRxBytes: 0, netRxDropped: 0, ...o });

function sample(nowS: number, cpu: [number, number, number]): XentopSample {
  return {
    domains: [dom(0, 'Domain-0', XEN_DOMINF.running, cpu[0], 0, 0xffffffff), dom(1, 'web', XEN_DOMINF.blocked, cpu[1]), dom(2, 'Batch', XEN_DOMINF.running, cpu[2], 4096)],
    devices: [
      devs(1, {
        nets: 1,
        netTxBytes: 123456789012,
        vif: [{ devid: 0, rxBytes: 1, rxPackets: 2, rxErrs: 3, rxDrop: 4, txBytes: 123456789012, txPackets: 6, txErrs: 7, txDrop: 0 }],
        vbds: 1,
        vbd: [{ devid: 51712, rdReqs: 10, wrReqs: 20, rdSect: 80, wrSect: 160, ooReqs: 0, flushes: 1, errors: 0 }],
      }),
    ],
    nowNs: nowS * 1e9,
    totalKb: 1 << 20,
    node: { xenVersion: '4.17.0-pvsim', nrCpus: 2, cpuMhz: 1000, totalKb: 1 << 20, freeKb: 1000 },
    vcpus: [vcpu(1, 0, 1), ...[0, 1, 2, 3, 4, 5].map((n) => vcpu(2, n, n))],
    wallMs: 0,
  };
}

const names = (t: string) => t.split('\n').filter((l) => /^\s*\S+ [-dsbcpr]{6} /.test(l)).map((l) => l.trim().split(/\s+/)[0]);

describe('xentop formatting', () => {
  it('prints state letters in xentop order (d s b c p r), a crash as c and not s', () => {
    expect(xentopState(XEN_DOMINF.running)).toBe('-----r');
    expect(xentopState(XEN_DOMINF.blocked | XEN_DOMINF.paused)).toBe('--b-p-');
    expect(xentopState(XEN_DOMINF.shutdown | (0 << 16))).toBe('-s----');
    expect(xentopState(XEN_DOMINF.shutdown | (3 << 16))).toBe('---c--'); // SHUTDOWN_crash
    expect(xentopState(XEN_DOMINF.dying)).toBe('d-----');
  });

  it('prints the batch table: xentop headers and widths, CPU(%) from two samples, no limit, grown columns', () => {
    const t = xentopBatch(sample(10, [0, 1, 5]), sample(8, [0, 1, 3]), defaultView());
    const lines = t.trimEnd().split('\n');
    expect(lines[0]).toBe(XENTOP_HEADER.replace('NETTX(k)', ' NETTX(k)')); // 120563270 KiB: one wider
    expect(XENTOP_FIELDS).toHaveLength(19);
    expect(names(t)).toEqual(['Batch', 'Domain-0', 'web']); // by name, case-insensitive
    expect(lines[1]).toBe('     Batch -----r          5  100.0      16384    1.6      16384       1.6     1    0         0        0    0        0        0        0          0          0    0');
    expect(lines[2]).toMatch(/^ {2}Domain-0 -----r +0 +0\.0 +0 +0\.0 +no limit +n\/a /);
    expect(lines[3]).toMatch(/^ +web --b--- +1 +0\.0 +8192 +0\.8 +8192 +0\.8 +1 +1 +120563270 +0 +1 +0 +10 +20 +80 +160 +0$/);
    // The first frame (no earlier sample): 0.0, as xentop.
    expect(formatXentop(sample(10, [0, 1, 5]))).toMatch(/Batch -----r +5 +0\.0 /);
  });

  it('sorts by each field S reaches, Domain-0 first with -z; repeats the header with -r', () => {
    const now = sample(10, [0, 1, 5]);
    const before = sample(8, [0, 1, 3]);
    const by = (sortField: number, o = {}) => names(xentopBatch(now, before, { ...defaultView(), sortField, ...o }));
    expect(by(3)).toEqual(['Batch', 'Domain-0', 'web']); // CPU(%) highest first (ties by domid)
    expect(by(2)).toEqual(['Batch', 'web', 'Domain-0']); // CPU(sec)
    expect(by(1)).toEqual(['web', 'Domain-0', 'Batch']); // STATE: b before r
    expect(by(10)).toEqual(['web', 'Domain-0', 'Batch']); // NETTX(k)
    expect(by(10, { dom0First: true })).toEqual(['Domain-0', 'web', 'Batch']);
    expect(xentopBatch(now, before, { ...defaultView(), repeatHeader: true }).match(/NAME/g)).toHaveLength(3);
    expect(names(xentopBatch(now, before, { ...defaultView(), firstDomain: 1 }))).toEqual(['Domain-0', 'web']);
  });

  it('prints vCPU lines five a row, and one line per vif and per vbd, as xentop -v -n -x', () => {
    const t = xentopBatch(sample(10, [0, 1, 5]), undefined, { ...defaultView(), showVcpus: true, showNetworks: true, showVbds: true });
    expect(t).toContain('VCPUs(sec):   0:          0s  1:          1s  2:          2s  3:          3s  4:          4s\n          5:          5s\n');
    expect(t).toContain('Net0 RX:        1bytes        2pkts        3err        4drop  TX: 123456789012bytes        6pkts        7err        0drop\n');
    expect(t).toContain('VBD BlkBack 51712 [ca: 0]  OO:        0   RD:       10   WR:       20   RSECT:         80   WSECT:        160\n');
  });

  it('prints the summary: clock and version, domains by state, memory and CPUs', () => {
    expect(xentopSummary(sample(1, [0, 0, 0]), () => '12:34:56')).toEqual([
      'xentop - 12:34:56   Xen 4.17.0-pvsim',
      '3 domains: 2 running, 1 blocked, 0 paused, 0 crashed, 0 dying, 0 shutdown ',
      'Mem: 1048576k total, 1047576k used, 1000k free    CPUs: 2 @ 1000MHz',
    ]);
  });
});

describe('xentop keys', () => {
  const state = (): KeyState => ({ view: defaultView(), delayS: 3, prompt: null });
  it('toggles and cycles as xentop handle_key; q, Q, Esc and Ctrl-C quit; arrows scroll', () => {
    const st = state();
    expect(handleKeys(st, 'nbrvS')).toBe(true);
    expect(st.view).toMatchObject({ showNetworks: true, showVbds: true, repeatHeader: true, showVcpus: true, sortField: 1 });
    expect(handleKeys(st, 'N'.repeat(2) + 's'.repeat(18))).toBe(true);
    expect(st.view).toMatchObject({ showNetworks: true, sortField: 0 }); // 19 fields: back to NAME
    expect(handleKeys(st, '\x1b[B\x1b[B\x1b[A')).toBe(true);
    expect(st.view.firstDomain).toBe(1);
    for (const k of ['q', 'Q', '\x1b', '\x03']) expect(handleKeys(state(), k)).toBe(false);
  });

  it('D opens the delay prompt: Enter sets a positive delay, anything else keeps it; Esc cancels', () => {
    const st = state();
    handleKeys(st, 'd1.5\r');
    expect(st).toMatchObject({ delayS: 1.5, prompt: null });
    handleKeys(st, 'dx\r');
    expect(st.delayS).toBe(1.5);
    handleKeys(st, 'd9\x7f2');
    expect(st.prompt).toBe('2');
    expect(handleKeys(st, '\x1b')).toBe(true); // leaves the prompt, not the program
    expect(st).toMatchObject({ delayS: 1.5, prompt: null });
  });

  it('draws within the terminal: wrapped at its width, the key line on its last row', () => {
    const s = drawScreen(sample(10, [0, 1, 5]), undefined, defaultView(), null, 80, 6);
    const rows = [...s.matchAll(/\x1b\[(\d+);(\d+)H/g)].map((m) => Number(m[1]));
    expect(Math.max(...rows)).toBe(6);
    expect(s).toContain('\x1b[6;3H');
    // eslint-disable-next-line no-control-regex
    const text = s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '\n');
    for (const l of text.split('\n')) expect(l.length).toBeLessThanOrEqual(80);
    expect(drawScreen(sample(10, [0, 1, 5]), undefined, defaultView(), 'Delay(sec): 4', 80, 6)).toContain('\x1b[6;3HDelay(sec): 4');
  });
});

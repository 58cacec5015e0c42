// xl's output layouts, column for column: xl list (and its state letters for every flag
// combination), xl vcpu-list, xl sched-credit and xl info, with xl's C printf rounding.

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CREDIT_POOL,
  XL_LIST_HEADER,
  XL_VCPU_LIST_HEADER,
  cFixed,
  domainStateString,
  formatCpuMap,
  formatInfo,
  formatList,
  formatSchedCredit,
  formatSchedCredit2,
  formatSchedRtds,
  formatVcpuList,
  type XlInfo,
} from '../dom0/toolstack/format.ts';
import { XEN_DOMINF } from '../protocol/xen/domctl.ts';
import { SHUTDOWN } from '../protocol/xen/hypercall.ts';

const S = 1e9;
const reason = (r: number) => XEN_DOMINF.shutdown | (r << XEN_DOMINF.shutdownshift);

describe('xl list', () => {
  it('prints xl header (tabs) and rows (spaces) in its widths', () => {
    const text = formatList([
      { name: 'Domain-0', domid: 0, memMiB: 1024, vcpus: 1, flags: XEN_DOMINF.running, cpuTimeNs: 55555 * S },
      { name: 'web01', domid: 1, memMiB: 512.9, vcpus: 2, flags: XEN_DOMINF.blocked, cpuTimeNs: 99.3 * S },
      { name: 'crashed-one', domid: 12, memMiB: 16, vcpus: 1, flags: reason(SHUTDOWN.crash), cpuTimeNs: 0 },
    ]);
    expect(text).toBe(
      'Name                                        ID   Mem VCPUs\tState\tTime(s)\n' +
        'Domain-0                                     0  1024     1     r-----   55555.0\n' +
        'web01                                        1   512     2     -b----      99.3\n' +
        'crashed-one                                 12    16     1     ---sc-       0.0\n',
    );
    expect(XL_LIST_HEADER).toBe('Name                                        ID   Mem VCPUs\tState\tTime(s)');
  });

  it('lets long names and numbers push the columns, as printf does', () => {
    const name = 'n'.repeat(45);
    expect(formatList([{ name, domid: 123456, memMiB: 123456, vcpus: 1, flags: 0, cpuTimeNs: 123456789 * S }]).split('\n')[1]).toBe(
      `${name} 123456 123456     1     ------  123456790.5`,
    );
  });

  it('shows cpu time through a C float with one decimal, ties to even', () => {
    const t = (ns: number) => formatList([{ name: 'd', domid: 1, memMiB: 1, vcpus: 1, flags: 0, cpuTimeNs: ns }]).split('\n')[1]!.slice(71);
    expect(t(0.25 * S)).toBe('     0.2');
    expect(t(0.75 * S)).toBe('     0.8');
    expect(t(1.25 * S)).toBe('     1.2');
    expect(t(0.35 * S)).toBe('     0.3');
    expect(t(0.04999 * S)).toBe('     0.0');
    // 16777217e9 ns is not a float: the nearest is 16777217.073741824 s.
    expect(t(16777217 * S)).toBe('16777217.1');
    expect(t(123456789 * S)).toBe('123456790.5');
  });

  it('builds the six state letters from XEN_DOMINF flags for every combination', () => {
    const bits = [XEN_DOMINF.running, XEN_DOMINF.blocked, XEN_DOMINF.paused, XEN_DOMINF.shutdown, XEN_DOMINF.dying];
    const reasonLetters: Record<number, string> = {
      [SHUTDOWN.poweroff]: '-',
      [SHUTDOWN.reboot]: 'r',
      [SHUTDOWN.suspend]: 's',
      [SHUTDOWN.crash]: 'c',
      [SHUTDOWN.watchdog]: 'w',
      [SHUTDOWN.soft_reset]: 'S',
      6: '?',
      255: '?',
    };
    for (let m = 0; m < 32; m++) {
      for (const r of [0, 1, 2, 3, 4, 5, 6, 255]) {
        let flags = r << XEN_DOMINF.shutdownshift;
        bits.forEach((b, i) => {
          if (m & (1 << i)) flags |= b;
        });
        const shut = (m & 8) !== 0;
        const want = `${m & 1 ? 'r' : '-'}${m & 2 ? 'b' : '-'}${m & 4 ? 'p' : '-'}${shut ? 's' : '-'}${shut ? reasonLetters[r] : '-'}${m & 16 ? 'd' : '-'}`;
        expect(domainStateString(flags), `flags ${flags.toString(16)}`).toBe(want);
      }
    }
  });

  it('ignores flags xl does not show', () => {
    expect(domainStateString(XEN_DOMINF.hvm_guest | XEN_DOMINF.debugged | XEN_DOMINF.hap | XEN_DOMINF.xs_domain)).toBe('------');
    expect(domainStateString(XEN_DOMINF.paused | reason(SHUTDOWN.reboot) | XEN_DOMINF.dying)).toBe('--psrd');
  });
});

describe('xl vcpu-list', () => {
  it('prints xl header and rows, the CPU value one column left of its heading as in xl', () => {
    const text = formatVcpuList(
      [
        { name: 'Domain-0', domid: 0, vcpu: 0, cpu: 0, online: true, running: true, blocked: false, cpuTimeNs: 12.5 * S },
        { name: 'Domain-0', domid: 0, vcpu: 1, cpu: 3, online: true, running: false, blocked: true, cpuTimeNs: 206.3 * S },
        { name: 'guest', domid: 7, vcpu: 0, cpu: 2, online: true, running: false, blocked: false, cpuTimeNs: 0.05 * S, hardAffinity: [2] },
        { name: 'guest', domid: 7, vcpu: 1, cpu: 1, online: false, running: false, blocked: false, cpuTimeNs: 0, hardAffinity: [0, 1, 3], softAffinity: [] },
      ],
      4,
    );
    expect(text).toBe(
      'Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)\n' +
        'Domain-0                             0     0    0   r--      12.5  all / all\n' +
        'Domain-0                             0     1    3   -b-     206.3  all / all\n' +
        'guest                                7     0    2   ---       0.1  2 / all\n' +
        'guest                                7     1    -   --p       0.0  0-1,3 / none\n',
    );
    expect(XL_VCPU_LIST_HEADER).toBe('Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)');
  });

  it('formats cpu maps as xl print_bitmap does', () => {
    expect(formatCpuMap(undefined, 4)).toBe('all');
    expect(formatCpuMap([0, 1, 2, 3], 4)).toBe('all');
    expect(formatCpuMap([0, 1, 2, 3, 9], 4)).toBe('all');
    expect(formatCpuMap([1, 2, 3], 4)).toBe('1-3');
    expect(formatCpuMap([0, 1, 2], 4)).toBe('0-2');
    expect(formatCpuMap([0, 2, 4, 5, 6, 9], 10)).toBe('0,2,4-6,9');
    expect(formatCpuMap([3], 4)).toBe('3');
    expect(formatCpuMap([], 4)).toBe('none');
    expect(formatCpuMap([0], 1)).toBe('all');
    expect(formatCpuMap(undefined, 0)).toBe('none');
  });
});

describe('xl sched-credit', () => {
  it('prints the pool line and the domains in xl widths', () => {
    expect(
      formatSchedCredit([
        { name: 'Domain-0', domid: 0, weight: 256, cap: 0 },
        { name: 'hog', domid: 3, weight: 65535, cap: 50 },
      ]),
    ).toBe(
      'Cpupool Pool-0: tslice=30ms ratelimit=1000us migration-delay=0us\n' +
        'Name                                ID Weight  Cap\n' +
        'Domain-0                             0    256    0\n' +
        'hog                                  3  65535   50\n',
    );
  });

  it('prints another pool parameters', () => {
    expect(formatSchedCredit([], { ...DEFAULT_CREDIT_POOL, name: 'fast', tsliceMs: 5, ratelimitUs: 0, migrationDelayUs: 100 })).toBe(
      'Cpupool fast: tslice=5ms ratelimit=0us migration-delay=100us\nName                                ID Weight  Cap\n',
    );
  });
});

describe('xl sched-credit2 and sched-rtds', () => {
  it('credit2: the ratelimit pool line, then sched-credit\'s columns (xl_sched.c widths)', () => {
    expect(formatSchedCredit2([{ name: 'vm1', domid: 2, weight: 512, cap: 50 }], { name: 'Pool-0', ratelimitUs: 1000 })).toBe(
      'Cpupool Pool-0: ratelimit=1000us\n' + 'Name                                ID Weight  Cap\n' + 'vm1                                  2    512   50\n',
    );
  });

  it('rtds: per domain, and per vCPU with -v', () => {
    const rows = [
      { name: 'vm1', domid: 2, vcpu: 0, periodUs: 300, budgetUs: 150, extratime: true },
      { name: 'vm1', domid: 2, vcpu: 1, periodUs: 10000, budgetUs: 4000, extratime: false },
    ];
    expect(formatSchedRtds([rows[0]!], 'Pool-0', false)).toBe(
      'Cpupool Pool-0: sched=RTDS\n' +
        'Name                                ID    Period    Budget  Extratime\n' +
        'vm1                                  2       300       150        yes\n',
    );
    expect(formatSchedRtds(rows, 'Pool-0', true)).toBe(
      'Cpupool Pool-0: sched=RTDS\n' +
        'Name                                ID VCPU    Period    Budget  Extratime\n' +
        'vm1                                  2    0       300       150        yes\n' +
        'vm1                                  2    1     10000      4000         no\n',
    );
  });
});

describe('xl info', () => {
  const info: XlInfo = {
    host: 'sim',
    release: '0.1.0',
    version: 'pvsim',
    machine: 'riscv32',
    nrCpus: 4,
    maxCpuId: 3,
    nrNodes: 1,
    coresPerSocket: 4,
    threadsPerCore: 1,
    cpuKhz: 1000000,
    virtCaps: ['hvm', 'pv', 'gnttab-v1'],
    pageSize: 4096,
    totalPages: 2097152,
    freePages: 1800000,
    freeCpus: 0,
    xenMajor: 4,
    xenMinor: 17,
    xenExtra: '.0-pvsim',
    xenCaps: 'xen-3.0-riscv32',
    xenScheduler: 'credit',
    xenCommandline: 'sched=credit',
    ccCompiler: 'tsx',
    ccCompileBy: 'pvsim',
    ccCompileDomain: 'local',
    ccCompileDate: '2025-01-01',
  };

  it('prints xl keys, in xl order and widths', () => {
    expect(formatInfo(info)).toBe(
      [
        'host                   : sim',
        'release                : 0.1.0',
        'version                : pvsim',
        'machine                : riscv32',
        'nr_cpus                : 4',
        'max_cpu_id             : 3',
        'nr_nodes               : 1',
        'cores_per_socket       : 4',
        'threads_per_core       : 1',
        'cpu_mhz                : 1000.000',
        'hw_caps                : 00000000:00000000:00000000:00000000:00000000:00000000:00000000:00000000',
        'virt_caps              : pv hvm gnttab-v1',
        'total_memory           : 8192',
        'free_memory            : 7031',
        'sharing_freed_memory   : 0',
        'sharing_used_memory    : 0',
        'outstanding_claims     : 0',
        'free_cpus              : 0',
        'xen_major              : 4',
        'xen_minor              : 17',
        'xen_extra              : .0-pvsim',
        'xen_version            : 4.17.0-pvsim',
        'xen_caps               : xen-3.0-riscv32',
        'xen_scheduler          : credit',
        'xen_pagesize           : 4096',
        'platform_params        : virt_start=0x0',
        'xen_changeset          : ',
        'xen_commandline        : sched=credit',
        'cc_compiler            : tsx',
        'cc_compile_by          : pvsim',
        'cc_compile_domain      : local',
        'cc_compile_date        : 2025-01-01',
        'build_id               : ',
        'xend_config_format     : 4',
        '',
      ].join('\n'),
    );
  });

  it('prints cpu_mhz from kHz with three decimals, claims off free memory, and hw_caps in hex', () => {
    const t = formatInfo({ ...info, cpuKhz: 2394567, outstandingPages: 256, hwCaps: [0xdeadbeef, 1], virtCaps: [] });
    expect(t).toContain('cpu_mhz                : 2394.567\n');
    expect(t).toContain('free_memory            : 7030\n');
    expect(t).toContain('outstanding_claims     : 1\n');
    expect(t).toContain('hw_caps                : deadbeef:00000001:00000000:');
    expect(t).toContain('virt_caps              :\n');
  });

  it('prints only the values of keys starting with the name given, as `xl info <name>`', () => {
    expect(formatInfo(info, 'xen_version')).toBe('4.17.0-pvsim\n');
    expect(formatInfo(info, 'xen_m')).toBe('4\n17\n');
    expect(formatInfo(info, 'virt_caps')).toBe('pv hvm gnttab-v1\n');
    expect(formatInfo({ ...info, virtCaps: [] }, 'virt_caps')).toBe('');
    expect(formatInfo(info, 'nonsense')).toBe('');
  });
});

describe('cFixed', () => {
  it('rounds as glibc printf does', () => {
    expect([cFixed(0.5, 0), cFixed(1.5, 0), cFixed(2.5, 0), cFixed(-0.25, 1), cFixed(0.125, 2), cFixed(0.375, 2), cFixed(1.05, 1), cFixed(0, 1)]).toEqual([
      '0',
      '2',
      '2',
      '-0.2',
      '0.12',
      '0.38',
      '1.1',
      '0.0',
    ]);
  });
});

// Pins pvsim's Xen layouts and constants to Xen's own public headers (libxen-dev),
// compiled for RV32 ilp32. In CI the oracle must be present (.ci/run installs it).

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import { START_INFO, MAX_GUEST_CMDLINE, SIF } from '../protocol/xen/start_info.ts';
import { CONSOLEIO, HYPERVISOR, SCHEDOP, SHUTDOWN, XENVER } from '../protocol/xen/hypercall.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { XEN_ELFNOTE } from '../xenguest/elf.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

describe.skipIf(!available)('Xen ABI oracle (riscv64-unknown-elf-gcc -mabi=ilp32 against /usr/include/xen)', () => {
  it('start_info_t field offsets and size match', () => {
    const fields: [keyof typeof START_INFO, string][] = [
      ['magic', 'offsetof(start_info_t, magic)'],
      ['nr_pages', 'offsetof(start_info_t, nr_pages)'],
      ['shared_info', 'offsetof(start_info_t, shared_info)'],
      ['flags', 'offsetof(start_info_t, flags)'],
      ['store_mfn', 'offsetof(start_info_t, store_mfn)'],
      ['store_evtchn', 'offsetof(start_info_t, store_evtchn)'],
      ['console_mfn', 'offsetof(start_info_t, console.domU.mfn)'],
      ['console_evtchn', 'offsetof(start_info_t, console.domU.evtchn)'],
      ['pt_base', 'offsetof(start_info_t, pt_base)'],
      ['nr_pt_frames', 'offsetof(start_info_t, nr_pt_frames)'],
      ['mfn_list', 'offsetof(start_info_t, mfn_list)'],
      ['mod_start', 'offsetof(start_info_t, mod_start)'],
      ['mod_len', 'offsetof(start_info_t, mod_len)'],
      ['cmd_line', 'offsetof(start_info_t, cmd_line)'],
      ['first_p2m_pfn', 'offsetof(start_info_t, first_p2m_pfn)'],
      ['nr_p2m_frames', 'offsetof(start_info_t, nr_p2m_frames)'],
      ['SIZE', 'sizeof(start_info_t)'],
    ];
    const got = evalXenExpressions(['xen/xen.h'], [...fields.map((f) => f[1]), 'MAX_GUEST_CMDLINE', 'SIF_PRIVILEGED', 'SIF_INITDOMAIN']);
    const expected = [...fields.map((f) => START_INFO[f[0]]), MAX_GUEST_CMDLINE, SIF.PRIVILEGED, SIF.INITDOMAIN];
    expect(got).toEqual(expected);
  });

  it('hypercall numbers match __HYPERVISOR_*', () => {
    const names = Object.keys(HYPERVISOR) as (keyof typeof HYPERVISOR)[];
    const got = evalXenExpressions(['xen/xen.h'], names.map((n) => `__HYPERVISOR_${n}`));
    expect(Object.fromEntries(names.map((n, i) => [n, got[i]]))).toEqual(HYPERVISOR);
  });

  it('console_io, sched_op, shutdown and xen_version sub-ops match', () => {
    const groups: [string, Record<string, number>, string][] = [
      ['CONSOLEIO_', CONSOLEIO, 'xen/xen.h'],
      ['SCHEDOP_', SCHEDOP, 'xen/sched.h'],
      ['SHUTDOWN_', SHUTDOWN, 'xen/sched.h'],
      ['XENVER_', XENVER, 'xen/version.h'],
    ];
    for (const [prefix, table, header] of groups) {
      const names = Object.keys(table);
      const got = evalXenExpressions(['xen/xen.h', header], names.map((n) => prefix + n));
      expect(Object.fromEntries(names.map((n, i) => [n, got[i]])), prefix).toEqual(table);
    }
  });

  it('errno values match xen/errno.h', () => {
    const names = Object.keys(XEN_ERRNO) as (keyof typeof XEN_ERRNO)[];
    const got = evalXenExpressions(['xen/errno.h'], names.map((n) => `XEN_${n}`));
    expect(Object.fromEntries(names.map((n, i) => [n, got[i]]))).toEqual(XEN_ERRNO);
  });

  it('ELF note types match xen/elfnote.h', () => {
    const names = Object.keys(XEN_ELFNOTE) as (keyof typeof XEN_ELFNOTE)[];
    const got = evalXenExpressions(['xen/elfnote.h'], names.map((n) => `XEN_ELFNOTE_${n}`));
    expect(Object.fromEntries(names.map((n, i) => [n, got[i]]))).toEqual(XEN_ELFNOTE);
  });
});

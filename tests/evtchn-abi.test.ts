// Event channel numbers and argument layouts, pinned to Xen's headers (RV32 ilp32).

import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import * as EC from '../protocol/xen/event_channel.ts';
import { DOMID } from '../protocol/xen/xen.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs riscv64-unknown-elf-gcc and libxen-dev for the Xen ABI oracle');

const HEADERS = ['xen/xen.h', 'xen/event_channel.h'];

function constants(prefix: string, table: Record<string, number>) {
  const names = Object.keys(table);
  const got = evalXenExpressions(HEADERS, names.map((n) => prefix + n));
  expect(Object.fromEntries(names.map((n, i) => [n, got[i]])), prefix).toEqual(table);
}

/** offsetof/sizeof for a struct evtchn_* table; `u_x_y` keys name `u.x.y`. */
function layout(struct: string, table: Record<string, number>) {
  const keys = Object.keys(table);
  const field = (k: string) => (k.startsWith('u_') ? `u.${k.slice(2).replace('_', '.')}` : k);
  const exprs = keys.map((k) => (k === 'SIZE' ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${field(k)})`));
  const got = evalXenExpressions(HEADERS, exprs);
  expect(Object.fromEntries(keys.map((k, i) => [k, got[i]])), struct).toEqual(table);
}

describe.skipIf(!available)('event channel ABI (RV32 ilp32 against /usr/include/xen)', () => {
  it('EVTCHNOP_*, EVTCHNSTAT_*, VIRQ_*, NR_VIRQS, DOMID_SELF, BIND_PIRQ__WILL_SHARE', () => {
    constants('EVTCHNOP_', EC.EVTCHNOP);
    constants('EVTCHNSTAT_', EC.EVTCHNSTAT);
    constants('VIRQ_', EC.VIRQ);
    const got = evalXenExpressions(HEADERS, ['NR_VIRQS', 'DOMID_SELF', 'DOMID_FIRST_RESERVED', 'BIND_PIRQ__WILL_SHARE', 'sizeof(evtchn_port_t)', 'sizeof(domid_t)']);
    expect(got).toEqual([EC.NR_VIRQS, DOMID.SELF, DOMID.FIRST_RESERVED, EC.BIND_PIRQ__WILL_SHARE, 4, 2]);
  });

  it('struct evtchn_* offsets and sizes', () => {
    layout('evtchn_alloc_unbound', EC.EVTCHN_ALLOC_UNBOUND);
    layout('evtchn_bind_interdomain', EC.EVTCHN_BIND_INTERDOMAIN);
    layout('evtchn_bind_virq', EC.EVTCHN_BIND_VIRQ);
    layout('evtchn_bind_pirq', EC.EVTCHN_BIND_PIRQ);
    layout('evtchn_bind_ipi', EC.EVTCHN_BIND_IPI);
    layout('evtchn_close', EC.EVTCHN_CLOSE);
    layout('evtchn_send', EC.EVTCHN_SEND);
    layout('evtchn_status', EC.EVTCHN_STATUS);
    layout('evtchn_bind_vcpu', EC.EVTCHN_BIND_VCPU);
    layout('evtchn_unmask', EC.EVTCHN_UNMASK);
    layout('evtchn_reset', EC.EVTCHN_RESET);
    layout('evtchn_init_control', EC.EVTCHN_INIT_CONTROL);
    layout('evtchn_expand_array', EC.EVTCHN_EXPAND_ARRAY);
    layout('evtchn_set_priority', EC.EVTCHN_SET_PRIORITY);
  });
});

describe('event channel tables', () => {
  it('every EVTCHNOP has an argument size, and per-vCPU VIRQs are exactly Xen\'s four', () => {
    for (const cmd of Object.values(EC.EVTCHNOP)) expect(EC.EVTCHNOP_ARG_SIZE.get(cmd)).toBeGreaterThan(0);
    const perVcpu = Array.from({ length: EC.NR_VIRQS }, (_, v) => v).filter((v) => !EC.virqIsGlobal(v));
    expect(perVcpu).toEqual([EC.VIRQ.TIMER, EC.VIRQ.DEBUG, EC.VIRQ.XENOPROF, EC.VIRQ.XENPMU]);
  });
});

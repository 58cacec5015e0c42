import { describe, expect, it } from 'vitest';
import { evalXenExpressions, oracleAvailable } from './helpers/xen_oracle.ts';
import * as D from '../protocol/xen/domctl.ts';

const available = oracleAvailable();
if (!available && process.env.CI) throw new Error('CI needs the Xen ABI oracle');

function pairs(struct: string, table: Record<string, number>): [number, string][] {
  return Object.entries(table).map(([k, v]) => [v, k === 'SIZE' ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${k})`]);
}

describe.skipIf(!available)('domctl/sysctl layouts match Xen', () => {
  it('numbers, offsets and sizes', () => {
    const checks: [number, string][] = [
      [D.XEN_DOMCTL_INTERFACE_VERSION, 'XEN_DOMCTL_INTERFACE_VERSION'],
      [D.XEN_SYSCTL_INTERFACE_VERSION, 'XEN_SYSCTL_INTERFACE_VERSION'],
      [D.XEN_DOMCTL_HDR.u, 'offsetof(struct xen_domctl, u)'],
      [D.XEN_DOMCTL_HDR.SIZE, 'sizeof(struct xen_domctl)'],
      [D.XEN_DOMCTL_HDR.domain, 'offsetof(struct xen_domctl, domain)'],
      [D.XEN_SYSCTL_HDR.u, 'offsetof(struct xen_sysctl, u)'],
      [D.XEN_SYSCTL_HDR.SIZE, 'sizeof(struct xen_sysctl)'],
      ...Object.entries(D.XEN_DOMCTL).map(([k, v]) => [v, `XEN_DOMCTL_${k}`] as [number, string]),
      ...Object.entries(D.XEN_SYSCTL).map(([k, v]) => [v, `XEN_SYSCTL_${k}`] as [number, string]),
      ...Object.entries(D.XEN_DOMINF).map(([k, v]) => [v, `XEN_DOMINF_${k}`] as [number, string]),
      ...pairs('xen_domctl_getdomaininfo', D.GETDOMAININFO),
      [D.DOMCTL_SCHEDULER_OP.cmd, 'offsetof(struct xen_domctl_scheduler_op, cmd)'],
      [D.DOMCTL_SCHEDULER_OP.credit_weight, 'offsetof(struct xen_domctl_scheduler_op, u.credit.weight)'],
      [D.DOMCTL_SCHEDULER_OP.credit_cap, 'offsetof(struct xen_domctl_scheduler_op, u.credit.cap)'],
      [D.DOMCTL_SCHEDULER_OP.SIZE, 'sizeof(struct xen_domctl_scheduler_op)'],
      [D.XEN_DOMCTL_SCHEDOP.putinfo, 'XEN_DOMCTL_SCHEDOP_putinfo'],
      [D.XEN_DOMCTL_SCHEDOP.getinfo, 'XEN_DOMCTL_SCHEDOP_getinfo'],
      [D.XEN_SCHEDULER_CREDIT, 'XEN_SCHEDULER_CREDIT'],
      ...pairs('xen_sysctl_getdomaininfolist', D.SYSCTL_GETDOMAININFOLIST),
      ...pairs('xen_sysctl_physinfo', D.SYSCTL_PHYSINFO),
    ];
    const got = evalXenExpressions(['xen/xen.h', 'xen/domctl.h', 'xen/sysctl.h'], checks.map((c) => c[1]));
    expect(Object.fromEntries(checks.map((c, i) => [c[1], got[i]]))).toEqual(Object.fromEntries(checks.map((c) => [c[1], c[0]])));
  });
});

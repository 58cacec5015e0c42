// xl.cfg vif specs (docs/misc/xl-network-configuration): one string per NIC, as in
// `vif = [ 'mac=00:16:3e:00:00:01,bridge=xenbr0' ]`; a NIC without a mac gets one derived
// from the domain's name. The mac and bridge rules are the toolstack's (validate.ts).

import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { bridgeProblem, macProblem } from '../validate.ts';
import { q, specPairs, XlSpecError } from './syntax.ts';

/** xl.cfg type=; a vif's default type follows it (ioemu for hvm). */
export type XlDomainType = 'pv' | 'pvh' | 'hvm';

/**
 * xl's defaults for a vif spec's keys. An hvm domain's NIC model defaults to virtio (pvsim's
 * device model emulates virtio-net only; xl's default there is rtl8139).
 */
export const VIF_DEFAULTS = { bridge: 'xenbr0', nicModel: 'rtl8139', hvmNicModel: 'virtio' } as const;

export interface XlVif {
  spec: string;
  line: number;
  /** Index in the vif list, which is the device id, as in xl. */
  devid: number;
  /** Lower-case aa:bb:cc:dd:ee:ff. */
  mac: string;
  /** True when the config gave no mac and pvsim derived one from the domain name and devid. */
  macGenerated: boolean;
  bridge: string;
  /** One or more addresses, space-separated, as written; null if none. */
  ip: string | null;
  /** Accepted for compatibility; pvsim runs no hotplug scripts. */
  script: string | null;
  model: string;
  type: 'vif' | 'ioemu';
  backend: string;
  vifname: string | null;
}

const VIF_PARAMS_UNSUPPORTED = new Set(['rate', 'gatewaydev', 'netdev', 'devid', 'mtu', 'accel', 'forwarddev']);

/** A MAC in Xen's OUI (00:16:3e) derived from the domain name and devid, as libxl's random one is laid out. */
export function generatedMac(domainName: string, devid: number): string {
  const h = createHash('sha256').update(`${domainName}\0${devid}`).digest();
  const bytes = [0x00, 0x16, 0x3e, h[0]! & 0x7f, h[1]!, h[2]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses one vif spec: comma-separated key=value pairs, all optional ('' is a default vif). */
export function parseVifSpec(spec: string, ctx: { domainName: string; devid: number; domainType: XlDomainType }): Omit<XlVif, 'line'> {
  const err = (msg: string): never => {
    throw new XlSpecError(msg);
  };
  let mac: string | null = null;
  let bridge: string = VIF_DEFAULTS.bridge;
  let ip: string | null = null;
  let script: string | null = null;
  let model: string = ctx.domainType === 'hvm' ? VIF_DEFAULTS.hvmNicModel : VIF_DEFAULTS.nicModel;
  let type: 'vif' | 'ioemu' = ctx.domainType === 'hvm' ? 'ioemu' : 'vif';
  let backend = '0';
  let vifname: string | null = null;

  // As xl: split on commas (empty pieces vanish), drop leading spaces; a later key wins.
  for (const [k, v] of specPairs(spec)) {
    switch (k) {
      case 'mac': {
        if (!/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(v)) err(`mac ${q(v)} is not six colon-separated hex bytes, e.g. 00:16:3e:12:34:56`);
        mac = v
          .split(':')
          .map((b) => b.toLowerCase().padStart(2, '0'))
          .join(':');
        // Multicast or zero cannot be a NIC's address: the toolstack refuses them too.
        const problem = macProblem(mac);
        if (problem) err(problem);
        break;
      }
      case 'bridge': {
        const problem = bridgeProblem(v);
        if (problem) err(problem);
        bridge = v;
        break;
      }
      case 'ip':
        for (const a of v.split(/\s+/).filter(Boolean)) if (isIP(a) === 0) err(`ip ${q(a)} is not an IPv4 or IPv6 address`);
        ip = v.trim() === '' ? null : v;
        break;
      case 'script':
        script = v;
        break;
      case 'model':
        if (v === '') err('empty model');
        model = v;
        break;
      case 'type':
        if (v !== 'vif' && v !== 'ioemu') err(`invalid type ${q(v)} (vif or ioemu)`);
        type = v as 'vif' | 'ioemu';
        break;
      case 'backend':
        if (v === '') err('empty backend domain');
        backend = v;
        break;
      case 'vifname':
        vifname = v;
        break;
      default:
        if (VIF_PARAMS_UNSUPPORTED.has(k) || k.startsWith('colo_')) err(`parameter ${q(k)} is not supported by pvsim`);
        err(`unrecognized argument ${q(`${k}=${v}`)}`); // the piece (leading spaces dropped)
    }
  }
  return {
    spec,
    devid: ctx.devid,
    mac: mac ?? generatedMac(ctx.domainName, ctx.devid),
    macGenerated: mac === null,
    bridge,
    ip,
    script,
    model,
    type,
    backend,
    vifname,
  };
}

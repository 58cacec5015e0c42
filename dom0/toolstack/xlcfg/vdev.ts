// xl.cfg `vdev` specs: a split device served by a user backend (pvsim/driver), one string
// per device, in xl's device-spec syntax (comma-separated key=value, as vif and vdispl):
//
//   vdev = [ 'type=echo,driver=./echodev.ts,devid=0,greeting=hello' ]
//
// Xen has no generic device list (each PV protocol has its own key: vif, vdispl, vsnd...),
// so the key is pvsim's; the keys inside follow libxl: `type` is the xenbus device type
// (backend/<type>/<domid>/<devid>), `devid` the device id, `backend` the backend domain
// (only dom0 here), and `driver` — like a vif's `script`, a dom0 host path, relative to
// the config file — the backend module dom0 loads. Every other key is written to the
// backend directory for the backend to read.

import { isAbsolute, resolve } from 'node:path';
import { deviceTypeProblem } from '../../driver/index.ts';
import { q, specPairs, XlSpecError } from './syntax.ts';

export interface XlVdev {
  spec: string;
  line: number;
  type: string;
  devid: number;
  /** The backend module, an absolute host path. */
  driverPath: string;
  /** Keys for the backend directory. */
  keys: Record<string, string>;
}

const KEY_RE = /^[A-Za-z0-9_-]{1,64}$/;
const OWN_KEYS = new Set(['frontend', 'frontend-id', 'backend-id', 'online', 'state', 'driver']);

/** Parses one vdev spec; `devid` is null when the spec gives none (the caller numbers the type's devices). */
export function parseVdevSpec(spec: string, ctx: { baseDir: string }): Omit<XlVdev, 'line' | 'devid'> & { devid: number | null } {
  const err = (msg: string): never => {
    throw new XlSpecError(msg);
  };
  let type: string | null = null;
  let driver: string | null = null;
  let devid: number | null = null;
  const keys: Record<string, string> = {};
  for (const [k, v] of specPairs(spec)) {
    switch (k) {
      case 'type': {
        const bad = deviceTypeProblem(v);
        if (bad) err(bad);
        type = v;
        break;
      }
      case 'driver':
        if (v === '') err('empty driver path');
        driver = isAbsolute(v) ? v : resolve(ctx.baseDir, v);
        break;
      case 'devid':
        if (!/^[0-9]{1,9}$/.test(v)) err(`devid ${q(v)} is not a number (0-999999999)`);
        devid = Number(v);
        break;
      case 'backend':
        if (v !== '0' && v !== 'Domain-0') err(`backend ${q(v)}: pvsim serves user devices from dom0 only (backend=0)`);
        break;
      default:
        if (!KEY_RE.test(k)) err(`key ${q(k)} is not a XenStore name (1-64 of A-Z a-z 0-9 _ -)`);
        if (OWN_KEYS.has(k)) err(`key ${q(k)} is written by the toolstack itself`);
        keys[k] = v;
    }
  }
  if (type === null) err('no type= (the device type, e.g. type=echo)');
  if (driver === null) err('no driver= (the backend module dom0 loads, e.g. driver=./echodev.ts)');
  return { spec, type: type!, devid, driverPath: driver!, keys };
}

// dom0's daemons inside the hypervisor's process (pvsim boot, pvsim run): Dom0Daemons on
// a LocalPlatform. Domain creation and destruction reach them as dom0 dispatches, exactly
// as they reach a dom0 process, so both give the same virtual-time behaviour.

import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import { LocalPlatform } from './local_platform.ts';
import { Dom0Daemons } from '../dom0/daemons.ts';
import { attachDom0Hooks } from '../hypervisor/domain/dom0_hooks.ts';

export interface LocalDom0Options {
  /** Console ring output of a guest, as it is drained. */
  onConsole?: (domain: Domain, bytes: Uint8Array) => void;
  log?: (line: string) => void;
  /** Capture every frame crossing dom0's bridges to this pcap file. */
  pcap?: string;
}

export function startLocalDom0(hv: Hypervisor, opts: LocalDom0Options = {}): Dom0Daemons {
  const platform = new LocalPlatform(hv);
  const daemons = new Dom0Daemons(platform, {
    log: opts.log,
    pcap: opts.pcap,
    onConsole: (domid, bytes) => {
      const d = hv.domain(domid);
      if (d) opts.onConsole?.(d, bytes);
    },
  });
  attachDom0Hooks(hv, (info) => daemons.domainCreated(info), (domid) => daemons.domainDestroyed(domid), (domid, kind, devid) => daemons.restartDevice(domid, kind, devid));
  return daemons;
}


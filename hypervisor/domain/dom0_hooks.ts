// How the hypervisor tells dom0 (in its process or another) about domains: each one built
// or destroyed becomes a dom0 dispatch, so dom0 sets a domain up before it first runs.

import type { Hypervisor } from '../hypervisor.ts';
import type { Device } from '../../protocol/wire.ts';

/** What dom0's toolstack needs to serve a new domain's store and console rings. */
export interface Dom0DomainInfo {
  domid: number;
  name: string;
  memoryKb: number;
  vcpus: number;
  storeMfn: number;
  storePort: number;
  consoleMfn: number;
  consolePort: number;
  /** Devices to announce in XenStore before the domain runs (a scenario's disks and vifs). */
  devices: readonly Device[];
}

/** Tells dom0 (here or remote) about every domain built or destroyed, as dispatches. */
export function attachDom0Hooks(
  hv: Hypervisor,
  created: (info: Dom0DomainInfo) => Promise<void>,
  destroyed: (domid: number) => void | Promise<void>,
  restartDevice?: (domid: number, kind: string, devid: number) => Promise<void>,
): void {
  hv.dom0RestartDevice = restartDevice ?? null;
  hv.onDomainCreated = (d) => {
    if (d.domid === 0) return;
    const info = {
      domid: d.domid,
      name: d.name,
      memoryKb: d.nrPages * 4,
      vcpus: d.vcpus.length,
      storeMfn: d.storeMfn,
      storePort: d.storeEvtchn,
      consoleMfn: d.consoleMfn,
      consolePort: d.consoleEvtchn,
      devices: d.dom0Devices,
    };
    // No delay: dom0 sets a domain up before it can run (it is created paused). If it
    // cannot (a device did not come up), whoever asked for the domain is told. A domain
    // destroyed before the dispatch runs is not announced: dom0 was told of its end already.
    hv.dispatch(
      () =>
        hv.domain(d.domid) !== d
          ? undefined
          : created(info).catch((e: unknown) => {
              const reason = e instanceof Error ? e.message : String(e);
              hv.printk(`dom0 could not set up d${d.domid} ${d.name}: ${reason}`);
              hv.onDom0SetupFailed?.(d, reason);
            }),
      0,
    );
  };
  hv.onDomainDestroyed = (d) => {
    if (d.domid !== 0) void destroyed(d.domid);
  };
}

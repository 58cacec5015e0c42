// Xen's XenStore layout for a domain, as libxl writes it when it creates one:
// /local/domain/<domid>/{name, domid, vm, memory/target, memory/static-max, cpu/N/availability,
// device, control, data, console/{ring-ref, port, type}, store/{ring-ref, port}} and
// /vm/<domid>/name. Written through the toolstack's XenStore handle (dom0's connection to
// xenstored), each domain's layout in one transaction as libxl's domain creation does.

import type { XsHandle, XsOps, XsResult } from '../xenstore/index.ts';

export interface DomainLayout {
  domid: number;
  name: string;
  memoryKb: number;
  vcpus: number;
  storeMfn?: number;
  storePort?: number;
  consoleMfn?: number;
  consolePort?: number;
}

/** dom0's own entries, written once when xenstored starts without a saved store. */
export function writeDom0Layout(xs: XsHandle): XsResult<void> {
  return xs.transaction((w) => {
    w.write('/local/domain/0/name', 'Domain-0');
    w.write('/local/domain/0/domid', '0');
    w.mkdir('/local/domain/0/backend');
    w.mkdir('/vm');
  });
}

/** A new domain's entries, all or none (a failure is returned, nothing is left behind). */
export function writeDomainLayout(xs: XsHandle, d: DomainLayout): XsResult<void> {
  return xs.transaction((w) => writeLayoutIn(w, d));
}

function writeLayoutIn(w: XsOps, d: DomainLayout): void {
  const base = `/local/domain/${d.domid}`;
  // Permissions first, as libxl does, so every node below inherits them: dom0 owns the
  // directory and the guest may read it; the guest owns (may write) data, device, control.
  w.mkdir(base);
  w.setPerms(base, ['n0', `r${d.domid}`]);
  for (const sub of ['device', 'control', 'data']) {
    w.mkdir(`${base}/${sub}`);
    w.setPerms(`${base}/${sub}`, [`n${d.domid}`]);
  }
  w.write(`${base}/name`, d.name);
  w.write(`${base}/domid`, String(d.domid));
  w.write(`${base}/vm`, `/vm/${d.domid}`);
  w.write(`${base}/memory/target`, String(d.memoryKb));
  w.write(`${base}/memory/static-max`, String(d.memoryKb));
  for (let i = 0; i < d.vcpus; i++) w.write(`${base}/cpu/${i}/availability`, i === 0 ? 'online' : 'offline');
  if (d.storeMfn !== undefined) {
    w.write(`${base}/store/ring-ref`, String(d.storeMfn));
    w.write(`${base}/store/port`, String(d.storePort ?? 0));
  }
  if (d.consoleMfn !== undefined) {
    w.write(`${base}/console/ring-ref`, String(d.consoleMfn));
    w.write(`${base}/console/port`, String(d.consolePort ?? 0));
    w.write(`${base}/console/type`, 'xenconsoled');
  }
  w.write(`/vm/${d.domid}/name`, d.name);
}

/** Removes a domain's entries; one already gone is not an error (the result is the first failure). */
export function removeDomainLayout(xs: XsHandle, domid: number): XsResult<void> {
  const a = xs.rm(`/local/domain/${domid}`);
  const b = xs.rm(`/vm/${domid}`);
  return a.ok ? b : a;
}

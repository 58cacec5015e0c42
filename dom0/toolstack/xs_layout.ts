// Xen's XenStore layout for a domain, as libxl writes it when it creates one:
// /local/domain/<domid>/{name, domid, vm, memory/target, memory/static-max, cpu/N/availability,
// device, control, data, console/{ring-ref, port, type}, store/{ring-ref, port}} and
// /vm/<domid>/name. Written straight into the store (synchronously), as dom0's toolstack.

import type { Xenstored } from '../xenstore/index.ts';
import { parsePerms, type Caller } from '../xenstore/index.ts';

const DOM0: Caller = { domid: 0, privileged: true };
const enc = new TextEncoder();

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

function writer(xs: Xenstored) {
  return {
    write: (path: string, value: string) => xs.fire(xs.store.write(DOM0, path, enc.encode(value))),
    mkdir: (path: string) => xs.fire(xs.store.mkdir(DOM0, path)),
    perms: (path: string, perms: string[]) => xs.fire(xs.store.setPerms(DOM0, path, parsePerms(perms)!)),
    rm: (path: string) => {
      try {
        xs.fire(xs.store.rm(DOM0, path));
      } catch {
        // already gone
      }
    },
  };
}

export function writeDom0Layout(xs: Xenstored): void {
  const w = writer(xs);
  w.write('/local/domain/0/name', 'Domain-0');
  w.write('/local/domain/0/domid', '0');
  w.mkdir('/local/domain/0/backend');
  w.mkdir('/vm');
}

export function writeDomainLayout(xs: Xenstored, d: DomainLayout): void {
  const w = writer(xs);
  const base = `/local/domain/${d.domid}`;
  // Permissions first, as libxl does, so every node below inherits them: dom0 owns the
  // directory and the guest may read it; the guest owns (may write) data, device, control.
  w.mkdir(base);
  w.perms(base, ['n0', `r${d.domid}`]);
  for (const sub of ['device', 'control', 'data']) {
    w.mkdir(`${base}/${sub}`);
    w.perms(`${base}/${sub}`, [`n${d.domid}`]);
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

export function removeDomainLayout(xs: Xenstored, domid: number): void {
  const w = writer(xs);
  w.rm(`/local/domain/${domid}`);
  w.rm(`/vm/${domid}`);
}

// The deterministic sequence of XenStore changes the persistence tests make: change i
// writes, removes, re-permissions or introduces/releases, over a few hundred paths.

import type { Xenstored } from '../../dom0/xenstore/index.ts';

const DOM0 = { domid: 0, privileged: true };

export function persistChange(xsd: Xenstored, i: number): void {
  const k = (i * 7919) % 300;
  const path = `/data/d${k % 17}/k${k}`;
  switch (i % 10) {
    case 3:
      xsd.store.rm(DOM0, `/data/d${k % 17}`);
      break;
    case 5:
      xsd.store.write(DOM0, path, new TextEncoder().encode(`v${i}`));
      xsd.store.setPerms(DOM0, path, [{ domid: 0, mode: 'n' }, { domid: (i % 5) + 1, mode: 'r' }]);
      break;
    case 7: {
      const domid = (i % 40) + 1;
      if (xsd.isIntroduced(domid)) xsd.releaseDomain(domid);
      else xsd.introduceDomain(domid, 1000 + i, 1 + (i % 9));
      break;
    }
    default:
      xsd.store.write(DOM0, path, new TextEncoder().encode(`value ${i} `.repeat(1 + (i % 20))));
  }
}

/** The store and introduced domains as comparable JSON. */
export function stateOf(xsd: Xenstored): string {
  const nodes = [...xsd.store.paths()].sort().map((p) => {
    const n = xsd.store.node(p)!;
    return [p, Buffer.from(n.value).toString('base64'), n.perms, n.children];
  });
  const domains = xsd.saveDomains().sort((a, b) => a.domid - b.domid).map((d) => [d.domid, d.mfn, d.port]);
  return JSON.stringify({ nodes, domains });
}

// A domain's event channels and grant table as the hypervisor holds them: what Xen's 'e' and
// 'g' debug keys print, as data for `pvsim up --web` and other tools. Read-only: nothing here
// changes a domain, so asking never moves a trace hash.

import type { Domain } from '../domain/domain.ts';
import type { GnttabMem } from '../gnttab/table.ts';
import { ECS } from '../evtchn/state.ts';
import { portIsMasked, portIsPending } from '../evtchn/port.ts';
import type { DomainTables, EvtchnInfo, GrantInfo } from '../../protocol/wire.ts';

const STATE_NAMES: Record<number, string> = {
  [ECS.RESERVED]: 'reserved',
  [ECS.UNBOUND]: 'unbound',
  [ECS.INTERDOMAIN]: 'interdomain',
  [ECS.PIRQ]: 'pirq',
  [ECS.VIRQ]: 'virq',
  [ECS.IPI]: 'ipi',
};

/** Most entries of each kind one answer carries (a domain may have 2^17 ports). */
export const TABLES_LIMIT = 512;

export function domainTables(ctx: GnttabMem, d: Domain, limit = TABLES_LIMIT): DomainTables {
  let truncated = 0;
  const evtchns: EvtchnInfo[] = [];
  const e = d.evtchn;
  if (e) {
    for (let port = 1; port < e.validPorts; port++) {
      const st = e.state[port]!;
      if (st === ECS.FREE) continue;
      if (evtchns.length >= limit) {
        truncated++;
        continue;
      }
      evtchns.push({
        port,
        state: STATE_NAMES[st] ?? String(st),
        vcpu: e.notifyVcpu[port]!,
        remoteDomid: st === ECS.UNBOUND || st === ECS.INTERDOMAIN ? e.remoteDomid[port]! : 0,
        remotePort: st === ECS.INTERDOMAIN ? e.remotePort[port]! : 0,
        virq: st === ECS.VIRQ ? e.virq[port]! : 0,
        pending: portIsPending(e, port),
        masked: portIsMasked(e, port),
      });
    }
  }
  const grants: GrantInfo[] = [];
  const gt = d.gnttab;
  let maptrackUsed = 0;
  if (gt) {
    for (let ref = 0; ref < gt.nrEntries; ref++) {
      const ent = gt.readEntry(ctx, ref);
      if (ent.flags === 0) continue;
      if (grants.length >= limit) {
        truncated++;
        continue;
      }
      grants.push({ ref, flags: ent.flags, domid: ent.domid, frame: ent.frame, pin: gt.active.get(ref)?.pin ?? 0 });
    }
    for (const m of gt.maptrack) if (m) maptrackUsed++;
  }
  return {
    domid: d.domid,
    evtchnAbi: e?.fifo ? 'fifo' : '2-level',
    evtchns,
    grantFrames: gt?.nrFrames ?? 0,
    grants,
    maptrackUsed,
    evtchnSends: e?.stats.sends ?? 0,
    truncated,
  };
}

// The XenStore suite's frontend direction: a guest's XenStore client (any PV kernel; pvsim's
// hello.elf by default) against dom0's xenstored behind a checking view of the ring page.
// At each of the server's looks the guest must not have put more than XENSTORE_RING_SIZE
// bytes ahead of req_cons, nor written req_cons or rsp_prod (the server's); every message
// it sends must have a known type and a payload within XENSTORE_PAYLOAD_MAX. Hostile: a
// server that jumps rsp_prod, sets the ring's error, floods notifications.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hypervisor } from '../../../hypervisor/hypervisor.ts';
import { attachDom0Hooks } from '../../../hypervisor/domain/dom0_hooks.ts';
import { Dom0Daemons } from '../../../dom0/daemons.ts';
import type { Dom0Platform } from '../../../dom0/platform.ts';
import type { GuestMemory } from '../../../protocol/guest_memory.ts';
import { XENSTORE_DOMAIN_INTERFACE as XDI, XENSTORE_ERROR_COMM, XENSTORE_SERVER_FEATURE_RECONNECTION, XENSTORE_PAYLOAD_MAX, XENSTORE_RING_SIZE, XSD_SOCKMSG, XS_TYPE, XS_TYPE_COUNT } from '../../../protocol/xen/xs_wire.ts';
import { LocalPlatform } from '../../local_platform.ts';
import { expectThat, runConformance, type ConformanceCase, type ConformanceResult } from './common.ts';
import type { FrontendSubject } from './blkfront.ts';

const MiB = 1024 * 1024;

export interface XsBehaviour {
  /** At the n-th look, rsp_prod is published this far past rsp_cons. */
  rspProdJump?: number;
  /** At the first look, the ring's error is set to XENSTORE_ERROR_COMM. */
  error?: boolean;
  /** Spurious notifications to the guest at each look. */
  storm?: number;
  /** At the n-th look, these bytes (a message of the server's) are put on rsp[] and published. */
  inject?: { atLook: number; bytes: Uint8Array };
  /** Before the guest starts, all four indices are here (a ring found mid-stream, wrapping at 2^32). */
  startAt?: number;
  /** Before the guest starts, the page past the interface is 0xa5. */
  garbageTail?: boolean;
  /** At each look, rsp[] bytes the guest has consumed (behind rsp_cons) are overwritten. */
  rewriteConsumed?: boolean;
  /** At the 3rd look, rsp_prod is moved this far behind rsp_cons. */
  rspProdBack?: number;
  /** The server's features are published as 0 (no reconnection, no error field), and the error field set anyway. */
  noFeatures?: boolean;
}

/** A message as the server would put it on rsp[]: xsd_sockmsg and its payload. */
export function xsMessage(type: number, reqId: number, payload: string | Uint8Array, len?: number): Uint8Array {
  const body = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  const m = new Uint8Array(XSD_SOCKMSG.SIZE + body.length);
  const dv = new DataView(m.buffer);
  dv.setUint32(XSD_SOCKMSG.type, type, true);
  dv.setUint32(XSD_SOCKMSG.req_id, reqId, true);
  dv.setUint32(XSD_SOCKMSG.tx_id, 0, true);
  dv.setUint32(XSD_SOCKMSG.len, len ?? body.length, true);
  m.set(body, XSD_SOCKMSG.SIZE);
  return m;
}

export interface XsRun {
  out: string;
  reason: string | null;
  violations: string[];
  looks: number;
  messages: number;
  /** What the hostile server did (injections, bytes rewritten). */
  hostileActs?: number;
}

/** The server's view of the ring page: checks the guest's requests at each look, acts out `b`. */
export function xsCheckingView(mem: GuestMemory, b: XsBehaviour, run: XsRun, notifyGuest: () => void): GuestMemory {
  let reqCons = mem.u32le(XDI.req_cons);
  let rspProd = mem.u32le(XDI.rsp_prod);
  let rspConsSeen = mem.u32le(XDI.rsp_cons);
  let features = mem.u32le(XDI.server_features);
  let seen = reqCons; // bytes of req[] parsed so far (free-running)
  let pending: number[] = [];
  const violation = (v: string) => run.violations.length < 10 && run.violations.push(v);
  const parse = (target: GuestMemory, prod: number) => {
    for (; seen !== prod; seen = (seen + 1) >>> 0) pending.push(target.u8(XDI.req + (seen & (XENSTORE_RING_SIZE - 1))));
    while (pending.length >= XSD_SOCKMSG.SIZE) {
      const h = new DataView(Uint8Array.from(pending.slice(0, XSD_SOCKMSG.SIZE)).buffer);
      const type = h.getUint32(XSD_SOCKMSG.type, true);
      const len = h.getUint32(XSD_SOCKMSG.len, true);
      if (len > XENSTORE_PAYLOAD_MAX) {
        violation(`a message announcing ${len} bytes (past XENSTORE_PAYLOAD_MAX)`);
        pending = [];
        return;
      }
      if (type >= XS_TYPE_COUNT || type === XS_TYPE.WATCH_EVENT || type === XS_TYPE.ERROR) violation(`a message of type ${type}`);
      if (pending.length < XSD_SOCKMSG.SIZE + len) return;
      pending = pending.slice(XSD_SOCKMSG.SIZE + len);
      run.messages++;
    }
  };
  return new Proxy(mem, {
    get(target, prop, receiver) {
      if (prop === 'u32le')
        return (off: number) => {
          const v = target.u32le(off);
          if (off === XDI.req_cons && v !== reqCons) violation(`the guest moved req_cons from ${reqCons} to ${v}`);
          if (off === XDI.rsp_prod && v !== rspProd) violation(`the guest moved rsp_prod from ${rspProd} to ${v}`);
          if (off === XDI.server_features && v !== features) violation(`the guest wrote server_features (${v})`);
          if (off !== XDI.req_prod) return v;
          run.looks++;
          if (target.u32le(XDI.connection) !== 0 && !(features & XENSTORE_SERVER_FEATURE_RECONNECTION)) violation('the guest asked for a reconnection the server does not offer');
          const cons = target.u32le(XDI.rsp_cons);
          if (((rspProd - cons) >>> 0) <= XENSTORE_RING_SIZE && ((cons - rspConsSeen) >>> 0) <= XENSTORE_RING_SIZE) {
            if (b.rewriteConsumed)
              for (let i = rspConsSeen; i !== cons; i = (i + 1) >>> 0) {
                target.setU8(XDI.rsp + (i & (XENSTORE_RING_SIZE - 1)), 0xee);
                run.hostileActs = (run.hostileActs ?? 0) + 1;
              }
            rspConsSeen = cons;
          }
          if (b.inject && run.looks === b.inject.atLook) {
            const m = b.inject.bytes;
            const prod = target.u32le(XDI.rsp_prod);
            if (((prod - cons) >>> 0) + m.length <= XENSTORE_RING_SIZE) {
              m.forEach((x, k) => target.setU8(XDI.rsp + ((prod + k) & (XENSTORE_RING_SIZE - 1)), x));
              target.setU32le(XDI.rsp_prod, (rspProd = (prod + m.length) >>> 0));
              run.hostileActs = (run.hostileActs ?? 0) + 1;
              notifyGuest();
            } else b.inject = { ...b.inject, atLook: run.looks + 1 }; // no room yet: at the next look
          }
          if (b.rspProdBack !== undefined && run.looks === 3) target.setU32le(XDI.rsp_prod, (rspProd = (cons - b.rspProdBack) >>> 0));
          if (run.looks === 1 && b.error) target.setU32le(XDI.error, XENSTORE_ERROR_COMM);
          if (b.rspProdJump !== undefined && run.looks === 3) target.setU32le(XDI.rsp_prod, (rspProd = (target.u32le(XDI.rsp_cons) + b.rspProdJump) >>> 0));
          for (let i = 0; i < (b.storm ?? 0); i++) notifyGuest();
          if (((v - reqCons) >>> 0) > XENSTORE_RING_SIZE) violation(`req_prod ${v} is more than the ring past req_cons ${reqCons}`);
          else parse(target, v);
          return v;
        };
      if (prop === 'setU32le')
        return (off: number, v: number) => {
          if (off === XDI.req_cons) reqCons = v >>> 0;
          if (off === XDI.rsp_prod) rspProd = v >>> 0;
          if (off === XDI.server_features) {
            // The features are the server's to give; withheld, the error field is set too (meaningless without them).
            features = b.noFeatures ? 0 : v >>> 0;
            if (b.noFeatures) target.setU32le(XDI.error, XENSTORE_ERROR_COMM);
            return target.setU32le(off, features);
          }
          return target.setU32le(off, v);
        };
      const x = Reflect.get(target, prop, receiver) as unknown;
      return typeof x === 'function' ? (x as (...a: unknown[]) => unknown).bind(target) : x;
    },
  }) as GuestMemory;
}

async function runGuest(fe: FrontendSubject, b: XsBehaviour): Promise<XsRun> {
  const run: XsRun = { out: '', reason: null, violations: [], looks: 0, messages: 0 };
  const hv = new Hypervisor({ machineMemoryBytes: 32 * MiB });
  const platform = new LocalPlatform(hv);
  const storeMfn = new Map<number, number>();
  const ports: number[] = [];
  const proxied: Dom0Platform = Object.create(platform) as Dom0Platform;
  proxied.mapForeign = async (domid: number, mfn: number) => {
    const page = await platform.mapForeign(domid, mfn);
    if (storeMfn.get(domid) !== mfn) return page;
    if (b.startAt !== undefined) for (const off of [XDI.req_cons, XDI.req_prod, XDI.rsp_cons, XDI.rsp_prod]) page.mem.setU32le(off, b.startAt);
    if (b.garbageTail) page.mem.fill(XDI.SIZE, 4096 - XDI.SIZE, 0xa5);
    return { ...page, mem: xsCheckingView(page.mem, b, run, () => ports.forEach((p) => void platform.notify(p))) };
  };
  const realBind = platform.bindInterdomain.bind(platform);
  proxied.bindInterdomain = async (domid: number, remote: number) => {
    const p = await realBind(domid, remote);
    ports.push(p);
    return p;
  };
  const chunks: string[] = [];
  const daemons = new Dom0Daemons(proxied, { blockBackend: false, netBackend: false, onConsole: (_d, bytes) => chunks.push(new TextDecoder().decode(bytes)) });
  attachDom0Hooks(
    hv,
    async (info) => {
      storeMfn.set(info.domid, info.storeMfn);
      await daemons.domainCreated(info);
    },
    (domid) => daemons.domainDestroyed(domid),
  );
  const d = hv.createPvDomain(fe.image, { name: 'xsfront', memoryBytes: 8 * MiB, cmdline: fe.cmdline }).domain;
  hv.unpause(d);
  const r = await hv.runAsync({ until: fe.untilNs ?? 1_000_000_000 });
  run.out = chunks.join('') + '\n' + hv.dmesg().filter((l) => l.startsWith(`(d${d.domid})`)).join('\n');
  run.reason = d.shutdownReason ?? (r.kind === 'time' ? 'still running at the time bound' : 'blocked');
  return run;
}

export interface XsfrontCtx {
  fe: FrontendSubject;
  go(b: XsBehaviour): Promise<XsRun>;
}

const clean = (r: XsRun) => {
  expectThat(r.violations.length === 0, `the guest broke the XenStore ring: ${r.violations.slice(0, 2).join('; ')}`);
  expectThat(r.messages > 0, 'the guest sent no XenStore message');
};
const finished = (r: XsRun) => {
  clean(r);
  expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}: ${r.out.trim().split('\n').slice(-2).join(' | ')}`);
};
/** The server's message reached the guest, and it went on as before. */
const shrugged = (r: XsRun, what: string): string => {
  expectThat((r.hostileActs ?? 0) > 0, `${what}: the server never got to act`);
  expectThat(r.violations.length === 0, `the guest broke the XenStore ring: ${r.violations.slice(0, 2).join('; ')}`);
  expectThat(r.reason === 'poweroff', `${what}: the guest ended ${r.reason}: ${r.out.trim().split('\n').slice(-2).join(' | ')}`);
  return 'ignored; the guest went on';
};
const noFault = (r: XsRun, what: string): string => {
  expectThat(r.reason !== 'still running at the time bound', `${what}: the guest ran on without end`);
  if (r.reason === 'crash') expectThat(/panic/.test(r.out), `${what}: the guest crashed without a diagnosis`);
  return `the guest ended ${r.reason}`;
};

export const XSFRONT_CASES: readonly ConformanceCase<XsfrontCtx>[] = [
  {
    name: 'xenstore front: well-formed requests, never past the ring, the server indices never written',
    run: async (c) => {
      const r = await c.go({});
      clean(r);
      expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}`);
      return `${r.messages} messages`;
    },
  },
  {
    name: 'xenstore front: a notification storm changes nothing',
    run: async (c) => {
      const r = await c.go({ storm: 20 });
      clean(r);
      expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'xenstore front: rsp_prod far past rsp_cons: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ rspProdJump: 0x7000_0000 }), 'rsp_prod jump'),
  },
  {
    name: 'xenstore front: the ring error set (XENSTORE_ERROR_COMM): no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ error: true }), 'ring error'),
  },
  {
    name: 'xenstore front: a ring found mid-stream (indices 16 bytes short of 2^32): used from there, across the wrap',
    run: async (c) => {
      const r = await c.go({ startAt: 0xffff_fff0 });
      finished(r);
      return `${r.messages} messages`;
    },
  },
  {
    name: 'xenstore front: garbage in the page past the interface is ignored',
    run: async (c) => finished(await c.go({ garbageTail: true })),
  },
  {
    name: 'xenstore front: replies rewritten after the guest consumed them change nothing',
    run: async (c) => {
      const r = await c.go({ rewriteConsumed: true });
      finished(r);
      expectThat((r.hostileActs ?? 0) > 0, 'no reply consumed');
      return `${r.hostileActs} consumed bytes rewritten`;
    },
  },
  {
    name: 'xenstore front: no server features: the error field means nothing, no reconnection asked',
    run: async (c) => finished(await c.go({ noFeatures: true })),
  },
  {
    name: 'xenstore front: a WATCH_EVENT for a token never registered is ignored',
    hostile: true,
    run: async (c) => shrugged(await c.go({ inject: { atLook: 2, bytes: xsMessage(XS_TYPE.WATCH_EVENT, 0, 'some/path\0no-such-token\0') } }), 'stray watch event'),
  },
  {
    name: 'xenstore front: a WATCH_EVENT without its NULs is ignored',
    hostile: true,
    run: async (c) => shrugged(await c.go({ inject: { atLook: 2, bytes: xsMessage(XS_TYPE.WATCH_EVENT, 0, 'nonulsatall') } }), 'malformed watch event'),
  },
  {
    name: 'xenstore front: a reply for a request never made (unknown req_id) is ignored',
    hostile: true,
    run: async (c) => shrugged(await c.go({ inject: { atLook: 2, bytes: xsMessage(XS_TYPE.READ, 0xdead_beef, 'not yours') } }), 'reply for no request'),
  },
  {
    name: 'xenstore front: an ERROR with an unknown errno name for no request is ignored',
    hostile: true,
    run: async (c) => shrugged(await c.go({ inject: { atLook: 2, bytes: xsMessage(XS_TYPE.ERROR, 0xdead_beef, 'EWHATEVER\0') } }), 'stray error'),
  },
  {
    name: 'xenstore front: a message of a type that does not exist is ignored',
    hostile: true,
    run: async (c) => shrugged(await c.go({ inject: { atLook: 2, bytes: xsMessage(999, 0xdead_beef, 'x\0') } }), 'unknown type'),
  },
  {
    name: 'xenstore front: a header announcing more than XENSTORE_PAYLOAD_MAX: no overrun, no fault',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ inject: { atLook: 2, bytes: xsMessage(XS_TYPE.READ, 0xdead_beef, 'x', XENSTORE_PAYLOAD_MAX + 1) } });
      expectThat((r.hostileActs ?? 0) > 0, 'the server never got to act');
      return noFault(r, 'oversized header');
    },
  },
  {
    name: 'xenstore front: rsp_prod moved behind rsp_cons: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ rspProdBack: 5 }), 'rsp_prod behind'),
  },
];

export async function xsfrontConformance(fe: FrontendSubject, only?: string): Promise<ConformanceResult[]> {
  return runConformance(XSFRONT_CASES, async () => ({ ctx: { fe, go: (b) => runGuest(fe, b) }, gaveUp: () => null, close: async () => null }), only);
}

/** pvsim's hello.elf: reads its name and domid, writes data/hello. */
export function pvsimXsfront(cmdline = ''): FrontendSubject {
  return { image: readFileSync(join(import.meta.dirname, '..', '..', '..', 'guests', 'build', 'hello.elf')), cmdline };
}

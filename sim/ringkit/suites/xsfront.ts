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
import { XENSTORE_DOMAIN_INTERFACE as XDI, XENSTORE_ERROR_COMM, XENSTORE_PAYLOAD_MAX, XENSTORE_RING_SIZE, XSD_SOCKMSG, XS_TYPE, XS_TYPE_COUNT } from '../../../protocol/xen/xs_wire.ts';
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
}

export interface XsRun {
  out: string;
  reason: string | null;
  violations: string[];
  looks: number;
  messages: number;
}

/** The server's view of the ring page: checks the guest's requests at each look, acts out `b`. */
export function xsCheckingView(mem: GuestMemory, b: XsBehaviour, run: XsRun, notifyGuest: () => void): GuestMemory {
  let reqCons = mem.u32le(XDI.req_cons);
  let rspProd = mem.u32le(XDI.rsp_prod);
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
          if (off !== XDI.req_prod) return v;
          run.looks++;
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
];

export async function xsfrontConformance(fe: FrontendSubject, only?: string): Promise<ConformanceResult[]> {
  return runConformance(XSFRONT_CASES, async () => ({ ctx: { fe, go: (b) => runGuest(fe, b) }, gaveUp: () => null, close: async () => null }), only);
}

/** pvsim's hello.elf: reads its name and domid, writes data/hello. */
export function pvsimXsfront(cmdline = ''): FrontendSubject {
  return { image: readFileSync(join(import.meta.dirname, '..', '..', '..', 'guests', 'build', 'hello.elf')), cmdline };
}

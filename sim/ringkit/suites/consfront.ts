// The console suite's frontend direction: a guest's console ring driver (any PV kernel that
// writes to the ring; pvsim's hello.elf by default) against dom0's console backend behind a
// checking view of the page: the guest must never put more than OUT_SIZE bytes ahead of
// out_cons, never write the backend's indices (out_cons, in_prod), and survive a backend
// that stalls, corrupts its indices, floods input or notifications.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hypervisor } from '../../../hypervisor/hypervisor.ts';
import { attachDom0Hooks } from '../../../hypervisor/domain/dom0_hooks.ts';
import { Dom0Daemons } from '../../../dom0/daemons.ts';
import type { Dom0Platform } from '../../../dom0/platform.ts';
import type { GuestMemory } from '../../../protocol/guest_memory.ts';
import { XENCONS } from '../../../protocol/xen/console.ts';
import { LocalPlatform } from '../../local_platform.ts';
import { expectThat, runConformance, type ConformanceCase, type ConformanceResult } from './common.ts';
import type { FrontendSubject } from './blkfront.ts';

const MiB = 1024 * 1024;
const ECHO = 'pvsim-ringtest-echo';

export interface ConsoleBehaviour {
  /** The backend sees no output for its first n looks. */
  stallLooks?: number;
  /** At the first look, in_prod is published this far past in_cons. */
  inProdJump?: number;
  /** At the first look, out_cons is published this far past out_prod. */
  outConsJump?: number;
  /** Input typed before the guest starts. */
  input?: Uint8Array;
  /** Spurious notifications to the guest at each look. */
  storm?: number;
  /** Before the guest starts, all four indices are here (a ring found mid-stream, wrapping at 2^32). */
  startAt?: number;
  /** Before the guest starts, the page past the interface is 0xa5. */
  garbageTail?: boolean;
  /** At each look, `out` bytes the backend took and `in` bytes the guest consumed are overwritten. */
  rewriteConsumed?: boolean;
  /** At the 2nd look, out_cons is published this far behind where it was (backwards). */
  outConsBack?: number;
}

export interface ConsRun {
  out: string;
  reason: string | null;
  violations: string[];
  looks: number;
  /** Bytes the hostile backend rewrote. */
  hostileActs?: number;
}

/** The backend's view of the console page: checks the guest at each look, and acts out `b`. */
export function checkingView(mem: GuestMemory, b: ConsoleBehaviour, run: ConsRun, notifyGuest: () => void): GuestMemory {
  let outCons = mem.u32le(XENCONS.out_cons);
  let inProd = mem.u32le(XENCONS.in_prod);
  let first = true;
  let inConsSeen = mem.u32le(XENCONS.in_cons);
  const violation = (v: string) => run.violations.length < 10 && run.violations.push(v);
  return new Proxy(mem, {
    get(target, prop, receiver) {
      if (prop === 'u32le')
        return (off: number) => {
          const v = target.u32le(off);
          if (off === XENCONS.out_cons && v !== outCons) violation(`the guest moved out_cons from ${outCons} to ${v}`);
          if (off === XENCONS.in_prod && v !== inProd) violation(`the guest moved in_prod from ${inProd} to ${v}`);
          if (off !== XENCONS.out_prod) return v;
          // The backend's look at the guest's producer: one look per service.
          run.looks++;
          const inCons = target.u32le(XENCONS.in_cons);
          if (((inCons - inConsSeen) >>> 0) > XENCONS.IN_SIZE || (((inProd - inCons) >>> 0) > XENCONS.IN_SIZE && b.inProdJump === undefined))
            violation(`the guest moved in_cons from ${inConsSeen} to ${inCons} (in_prod ${inProd})`);
          else if (b.rewriteConsumed) {
            for (let i = inConsSeen; i !== inCons; i = (i + 1) >>> 0) target.setU8(XENCONS.in + (i & (XENCONS.IN_SIZE - 1)), 0xee);
            run.hostileActs = (run.hostileActs ?? 0) + ((inCons - inConsSeen) >>> 0);
          }
          inConsSeen = inCons;
          if (b.outConsBack !== undefined && run.looks === 2) target.setU32le(XENCONS.out_cons, (outCons = (outCons - b.outConsBack) >>> 0));
          if (first) {
            first = false;
            if (b.inProdJump !== undefined) target.setU32le(XENCONS.in_prod, (inProd = (target.u32le(XENCONS.in_cons) + b.inProdJump) >>> 0));
            if (b.outConsJump !== undefined) target.setU32le(XENCONS.out_cons, (outCons = (v + b.outConsJump) >>> 0));
          }
          for (let i = 0; i < (b.storm ?? 0); i++) notifyGuest();
          if (((v - outCons) >>> 0) > XENCONS.OUT_SIZE && b.outConsJump === undefined) violation(`out_prod ${v} is more than OUT_SIZE past out_cons ${outCons}`);
          if (b.stallLooks !== undefined && run.looks <= b.stallLooks) return outCons; // "nothing new"
          return v;
        };
      if (prop === 'setU32le')
        return (off: number, v: number) => {
          if (off === XENCONS.out_cons && b.rewriteConsumed) {
            // What the backend has just taken: the guest must not look at it again.
            for (let i = outCons; i !== v >>> 0 && ((v - i) >>> 0) <= XENCONS.OUT_SIZE; i = (i + 1) >>> 0) target.setU8(XENCONS.out + (i & (XENCONS.OUT_SIZE - 1)), 0xee);
            run.hostileActs = (run.hostileActs ?? 0) + 1;
          }
          if (off === XENCONS.out_cons) outCons = v >>> 0;
          if (off === XENCONS.in_prod) inProd = v >>> 0;
          return target.setU32le(off, v);
        };
      const x = Reflect.get(target, prop, receiver) as unknown;
      return typeof x === 'function' ? (x as (...a: unknown[]) => unknown).bind(target) : x;
    },
  }) as GuestMemory;
}

async function runGuest(fe: FrontendSubject, b: ConsoleBehaviour): Promise<ConsRun> {
  const run: ConsRun = { out: '', reason: null, violations: [], looks: 0 };
  const hv = new Hypervisor({ machineMemoryBytes: 32 * MiB });
  const platform = new LocalPlatform(hv);
  const consoleMfn = new Map<number, number>();
  let guestPort = 0;
  const proxied: Dom0Platform = Object.create(platform) as Dom0Platform;
  proxied.mapForeign = async (domid: number, mfn: number) => {
    const page = await platform.mapForeign(domid, mfn);
    if (consoleMfn.get(domid) !== mfn) return page;
    if (b.startAt !== undefined) for (const off of [XENCONS.in_cons, XENCONS.in_prod, XENCONS.out_cons, XENCONS.out_prod]) page.mem.setU32le(off, b.startAt);
    if (b.garbageTail) page.mem.fill(XENCONS.SIZE, 4096 - XENCONS.SIZE, 0xa5);
    return { ...page, mem: checkingView(page.mem, b, run, () => guestPort && void platform.notify(guestPort)) };
  };
  const realBind = platform.bindInterdomain.bind(platform);
  proxied.bindInterdomain = async (domid: number, remote: number) => {
    const p = await realBind(domid, remote);
    if (domid !== 0) guestPort = guestPort || p; // the console's port is bound before any device's
    return p;
  };
  const chunks: string[] = [];
  const daemons = new Dom0Daemons(proxied, { blockBackend: false, netBackend: false, onConsole: (_domid, bytes) => chunks.push(new TextDecoder().decode(bytes)) });
  attachDom0Hooks(
    hv,
    async (info) => {
      consoleMfn.set(info.domid, info.consoleMfn);
      await daemons.domainCreated(info);
      // A line is always typed: a guest that reads one (hello's echo) gets it and goes on.
      await daemons.consoles.get(info.domid)?.input(b.input ?? new TextEncoder().encode(`${ECHO}\n`)).catch(() => {});
    },
    (domid) => daemons.domainDestroyed(domid),
  );
  const d = hv.createPvDomain(fe.image, { name: 'consfront', memoryBytes: 8 * MiB, cmdline: fe.cmdline }).domain;
  hv.unpause(d);
  const r = await hv.runAsync({ until: fe.untilNs ?? 1_000_000_000 });
  run.out = chunks.join('') + '\n' + hv.dmesg().filter((l) => l.startsWith(`(d${d.domid})`)).join('\n');
  run.reason = d.shutdownReason ?? (r.kind === 'time' ? 'still running at the time bound' : 'blocked');
  return run;
}

export interface ConsfrontCtx {
  fe: FrontendSubject;
  go(b: ConsoleBehaviour): Promise<ConsRun>;
}

const clean = (r: ConsRun) => expectThat(r.violations.length === 0, `the guest broke the console ring: ${r.violations.slice(0, 2).join('; ')}`);
const noFault = (r: ConsRun, what: string): string => {
  expectThat(r.reason !== 'still running at the time bound', `${what}: the guest ran on without end`);
  if (r.reason === 'crash') expectThat(/panic/.test(r.out), `${what}: the guest crashed without a diagnosis`);
  return `the guest ended ${r.reason}`;
};

export const CONSFRONT_CASES: readonly ConformanceCase<ConsfrontCtx>[] = [
  {
    name: 'console front: output through the ring, the backend indices never written',
    run: async (c) => {
      const r = await c.go({});
      clean(r);
      expectThat(r.looks > 0, 'the guest never used the console ring');
      expectThat(r.reason === 'poweroff' || r.reason === 'blocked', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'console front: a line of input read from `in` (echo)',
    run: async (c) => {
      const r = await c.go({});
      clean(r);
      expectThat(r.out.includes(`echo: ${ECHO}`), `no echo of the input: ${r.out.slice(-200)}`);
    },
  },
  {
    name: 'console front: a backend that takes nothing for a while: the guest waits or drops, never overruns',
    run: async (c) => {
      const r = await c.go({ stallLooks: 20 });
      clean(r);
      return noFault(r, 'stalled backend');
    },
  },
  {
    name: 'console front: a notification storm changes nothing',
    run: async (c) => {
      const r = await c.go({ storm: 50 });
      clean(r);
      expectThat(r.reason === 'poweroff' || r.reason === 'blocked', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'console front: in_prod far past in_cons: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ inProdJump: 0x7000_0000, input: new TextEncoder().encode('x\n') }), 'in_prod jump'),
  },
  {
    name: 'console front: out_cons published past out_prod: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ outConsJump: 0x1000 }), 'out_cons jump'),
  },
  {
    name: 'console front: input of every byte value: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ input: Uint8Array.from({ length: 600 }, (_, i) => (i * 37) & 0xff) }), 'binary input'),
  },
  {
    name: 'console front: a ring found mid-stream (indices 40 bytes short of 2^32): output and input across the wrap',
    run: async (c) => {
      const r = await c.go({ startAt: 0xffff_ffd8 });
      clean(r);
      expectThat(r.out.includes(`echo: ${ECHO}`), `no echo of the input across the wrap: ${r.out.slice(-200)}`);
    },
  },
  {
    name: 'console front: garbage in the page past the interface is ignored',
    run: async (c) => {
      const r = await c.go({ garbageTail: true });
      clean(r);
      expectThat(r.out.includes(`echo: ${ECHO}`), `no echo: ${r.out.slice(-200)}`);
    },
  },
  {
    name: 'console front: output and input rewritten after they were consumed change nothing',
    run: async (c) => {
      const r = await c.go({ rewriteConsumed: true });
      clean(r);
      expectThat((r.hostileActs ?? 0) > 0, 'nothing consumed to rewrite');
      expectThat(r.out.includes(`echo: ${ECHO}`), `the echo changed: ${r.out.slice(-200)}`);
    },
  },
  {
    name: 'console front: exactly IN_SIZE bytes of input at once: read without overrun',
    run: async (c) => {
      const line = new TextEncoder().encode('y'.repeat(XENCONS.IN_SIZE - 1) + '\n');
      const r = await c.go({ input: line });
      clean(r);
      return noFault(r, 'a full input ring');
    },
  },
  {
    name: 'console front: input of lone CR and NUL bytes: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ input: Uint8Array.from([13, 0, 13, 0, 0, 13, 10, 0, 10]) }), 'CR/NUL input'),
  },
  {
    name: 'console front: a stalled backend and a notification storm together: no overrun',
    run: async (c) => {
      const r = await c.go({ stallLooks: 10, storm: 20 });
      clean(r);
      return noFault(r, 'stall and storm');
    },
  },
  {
    name: 'console front: out_cons moved backwards by the backend: no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ outConsBack: 100 }), 'out_cons backwards'),
  },
  {
    name: 'console front: in_prod published past IN_SIZE ahead of in_cons (just past the ring): no fault',
    hostile: true,
    run: async (c) => noFault(await c.go({ inProdJump: XENCONS.IN_SIZE + 1, input: new TextEncoder().encode('x\n') }), 'in_prod one past the ring'),
  },
];

export async function consfrontConformance(fe: FrontendSubject, only?: string): Promise<ConformanceResult[]> {
  return runConformance(CONSFRONT_CASES, async () => ({ ctx: { fe, go: (b) => runGuest(fe, b) }, gaveUp: () => null, close: async () => null }), only);
}

/** pvsim's hello.elf with `echo`: says its name through the ring, echoes a line of input. */
export function pvsimConsfront(cmdline = 'echo'): FrontendSubject {
  return { image: readFileSync(join(import.meta.dirname, '..', '..', '..', 'guests', 'build', 'hello.elf')), cmdline };
}

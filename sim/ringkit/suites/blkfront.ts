// The blkif suite's frontend direction: a guest's blkfront (a PV kernel image, run on the
// in-process hypervisor) against a checking blkback — pvsim's blkback behind a proxy that
// reads every request the guest publishes and checks it against blkif.h and the features
// offered, and that can turn hostile: withhold features, answer every request with an
// error, answer a request never made, publish rsp_prod past the requests, answer twice,
// fill the responses' padding with garbage.
//
// A case passes when no request broke a rule, and the guest either finished (clean cases:
// powered off, no I/O errors) or, facing a hostile backend, stopped itself with a
// diagnosis (fail-stop: a panic naming the fault) or carried on — but never faulted,
// never treated a corrupted answer as good, and never ran on without end.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hypervisor } from '../../../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../../local.ts';
import { addDevice, vbdDevice } from '../../../dom0/toolstack/devices.ts';
import { BlkbackDriver } from '../../../dom0/backends/blk/driver.ts';
import type { BackendDriver, DeviceInstance } from '../../../dom0/backends/xenbus.ts';
import type { Dom0Platform, MappedPage } from '../../../dom0/platform.ts';
import type { GuestMemory } from '../../../protocol/guest_memory.ts';
import { SRING } from '../../../protocol/ring.ts';
import {
  BLKBACK_KEY,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_OP,
  BLKIF_RESPONSE,
  BLKIF_RING_ENTRY_SIZE,
  BLKIF_RING_SIZE,
  BLKIF_RSP,
  readBlkifRequest,
  readBlkifRequestIndirect,
  VDISK,
} from '../../../protocol/xen/blkif.ts';
import { expectThat, runConformance, type ConformanceCase, type ConformanceResult } from './common.ts';

const MiB = 1024 * 1024;

/** What the backend does besides serving. */
export interface BlkbackBehaviour {
  /** Feature keys not offered. */
  withhold?: string[];
  /** Every response's status becomes this. */
  status?: number;
  /** The n-th response (1-based) carries an id never issued. */
  bogusIdAt?: number;
  /** At the n-th publication, rsp_prod goes this far past the responses. */
  overflowAt?: number;
  /** The n-th response is published twice. */
  duplicateAt?: number;
  /** Every response's padding bytes are 0xff. */
  garbagePadding?: boolean;
  /** Feature keys offered with these values instead. */
  offer?: Record<string, string>;
  /** The responses of each publication are written in reverse order (blkif allows any). */
  reorder?: boolean;
  /** Every response carries this operation instead of the request's. */
  operation?: number;
}

interface Run {
  log: string;
  reason: string | null;
  violations: string[];
  requests: number;
  ops: Set<number>;
  hostileActs: number;
}

/**
 * What is wrong with a request a frontend published (a ring entry), given the features the
 * backend offered and the indices when it was taken: blkif.h's rules for a frontend.
 */
export function blkifRequestProblems(copy: Uint8Array, offered: Record<string, string>, reqProd: number, rspProd: number): string[] {
  const out: string[] = [];
  if (((reqProd - rspProd) >>> 0) > BLKIF_RING_SIZE) out.push(`req_prod ${reqProd} is more than a ring past rsp_prod ${rspProd}`);
  const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  const op = dv.getUint8(0);
  const has = (k: string) => offered[k] !== undefined && offered[k] !== '0';
  const readonly = (Number(offered[BLKBACK_KEY.info] ?? 0) & VDISK.READONLY) !== 0;
  const writes = op === BLKIF_OP.WRITE || op === BLKIF_OP.WRITE_BARRIER || op === BLKIF_OP.DISCARD || (op === BLKIF_OP.INDIRECT && dv.getUint8(1) === BLKIF_OP.WRITE);
  if (readonly && writes) out.push(`operation ${op} to a disk offered read-only (info ${offered[BLKBACK_KEY.info]})`);
  if (op === BLKIF_OP.READ || op === BLKIF_OP.WRITE || op === BLKIF_OP.WRITE_BARRIER) {
    if (op === BLKIF_OP.WRITE_BARRIER && !has(BLKBACK_KEY.feature_barrier)) out.push('WRITE_BARRIER without feature-barrier');
    const r = readBlkifRequest(dv, 0);
    if (r.nr_segments < 1 || r.nr_segments > BLKIF_MAX_SEGMENTS_PER_REQUEST) out.push(`${r.nr_segments} segments in a direct request`);
    for (const s of r.seg.slice(0, Math.min(r.nr_segments, BLKIF_MAX_SEGMENTS_PER_REQUEST)))
      if (s.first_sect > s.last_sect || s.last_sect > 7) out.push(`segment sectors ${s.first_sect}..${s.last_sect}`);
  } else if (op === BLKIF_OP.FLUSH_DISKCACHE) {
    if (!has(BLKBACK_KEY.feature_flush_cache)) out.push('FLUSH_DISKCACHE without feature-flush-cache');
  } else if (op === BLKIF_OP.DISCARD) {
    if (!has(BLKBACK_KEY.feature_discard)) out.push('DISCARD without feature-discard');
  } else if (op === BLKIF_OP.INDIRECT) {
    const max = Number(offered[BLKBACK_KEY.feature_max_indirect_segments] ?? 0);
    const r = readBlkifRequestIndirect(dv, 0);
    if (!max) out.push('INDIRECT without feature-max-indirect-segments');
    else if (r.nr_segments > max) out.push(`INDIRECT of ${r.nr_segments} segments, offered ${max}`);
    if (r.indirect_op !== BLKIF_OP.READ && r.indirect_op !== BLKIF_OP.WRITE) out.push(`INDIRECT wrapping operation ${r.indirect_op}`);
  } else out.push(`operation ${op}`);
  return out;
}

/** pvsim's blkback, checked and made hostile through its view of the ring page. */
class CheckingBlkback implements BackendDriver {
  readonly kind = 'vbd';
  private readonly real: BlkbackDriver;
  private offered: Record<string, string> = {};
  readonly run: Run;
  constructor(platform: Dom0Platform, backendKey: (dev: DeviceInstance, key: string) => string | undefined, private readonly b: BlkbackBehaviour, run: Run) {
    this.run = run;
    let ringMapped = false;
    // The first page blkback maps at connect is the ring: its view is wrapped.
    const proxied: Dom0Platform = Object.create(platform) as Dom0Platform;
    proxied.mapGrant = async (domid: number, ref: number, readonly: boolean) => {
      const m = await platform.mapGrant(domid, ref, readonly);
      if (m.page && !ringMapped) {
        ringMapped = true;
        return { ...m, page: this.wrapRing(m.page) };
      }
      return m;
    };
    const realConnect = (dev: DeviceInstance, read: (k: string) => string | undefined) => {
      ringMapped = false;
      return this.real.connect(dev, read);
    };
    this.real = new BlkbackDriver(proxied, backendKey);
    this.connect = realConnect;
  }
  connect: (dev: DeviceInstance, read: (k: string) => string | undefined) => Promise<void>;
  features(dev: DeviceInstance): Record<string, string> {
    const f = { ...this.real.features(dev) };
    for (const k of this.b.withhold ?? []) delete f[k];
    Object.assign(f, this.b.offer ?? {});
    this.offered = f;
    return f;
  }
  disconnect(dev: DeviceInstance): Promise<void> {
    return this.real.disconnect(dev);
  }
  remove(dev: DeviceInstance): void {
    this.real.remove(dev);
  }
  close(): void {
    this.real.close();
  }

  private violation(v: string): void {
    if (this.run.violations.length < 20) this.run.violations.push(v);
  }

  /** Checks one request as blkback takes it (its private copy). */
  private check(copy: Uint8Array, reqProd: number, rspProd: number): void {
    this.run.requests++;
    this.run.ops.add(copy[0]!);
    for (const v of blkifRequestProblems(copy, this.offered, reqProd, rspProd)) this.violation(v);
  }

  private wrapRing(page: MappedPage): MappedPage {
    const mem = page.mem;
    const b = this.b;
    let published = mem.u32le(SRING.rsp_prod);
    /** What the guest sees published (differs from `published` while an answer is held back). */
    let visible = published;
    let responses = 0;
    let publications = 0;
    const self = this;
    const slot = (idx: number) => SRING.ring + (idx % BLKIF_RING_SIZE) * BLKIF_RING_ENTRY_SIZE;
    const view = new Proxy(mem, {
      get(target, prop, receiver) {
        if (prop === 'read')
          return (off: number, len: number) => {
            const out = target.read(off, len);
            if (off >= SRING.ring && len === BLKIF_RING_ENTRY_SIZE) self.check(out, target.u32le(SRING.req_prod), published);
            return out;
          };
        if (prop === 'setU32le')
          return (off: number, v: number) => {
            if (off !== SRING.rsp_prod) return target.setU32le(off, v);
            publications++;
            for (let i = published; i !== v; i = (i + 1) >>> 0) {
              responses++;
              const at = slot(i);
              if (b.status !== undefined) target.setU16le(at + BLKIF_RESPONSE.status, b.status & 0xffff);
              if (b.garbagePadding) {
                target.setU8(at + BLKIF_RESPONSE.operation + 1, 0xff);
                for (let k = BLKIF_RESPONSE.status + 2; k < BLKIF_RESPONSE.SIZE; k++) target.setU8(at + k, 0xff);
              }
              if (b.bogusIdAt === responses) {
                target.setU32le(at, 0x7fff_fff1);
                self.run.hostileActs++;
              }
            }
            if (b.operation !== undefined) for (let i = published; i !== v; i = (i + 1) >>> 0) target.setU8(slot(i) + BLKIF_RESPONSE.operation, b.operation);
            if (b.reorder) {
              // Answers the guest has not seen yet (one may be held back from the last
              // publication) are published newest first. A lone answer is held back while
              // other requests are outstanding, so the next publication has two to swap.
              const span = (v - visible) >>> 0;
              const outstanding = (target.u32le(SRING.req_prod) - v) >>> 0;
              published = v;
              if (span === 1 && outstanding > 0) return; // held: rsp_prod stays at `visible`
              if (span > 1) {
                const rsps = Array.from({ length: span }, (_, k) => target.read(slot((visible + k) >>> 0), BLKIF_RING_ENTRY_SIZE));
                rsps.reverse().forEach((r, k) => target.write(slot((visible + k) >>> 0), r));
                self.run.hostileActs++;
              }
              visible = v;
              return target.setU32le(off, v);
            }
            let pub = v;
            if (b.duplicateAt !== undefined && responses >= b.duplicateAt && self.run.hostileActs === 0 && v !== published) {
              const last = slot((v - 1) >>> 0);
              target.write(slot(v), target.read(last, BLKIF_RING_ENTRY_SIZE)); // the answer again, in the next slot
              pub = (v + 1) >>> 0;
              self.run.hostileActs++;
            }
            if (b.overflowAt === publications) {
              pub = (pub + 0x1000) >>> 0;
              self.run.hostileActs++;
            }
            published = v;
            visible = pub;
            return target.setU32le(off, pub);
          };
        const x = Reflect.get(target, prop, receiver) as unknown;
        return typeof x === 'function' ? (x as (...a: unknown[]) => unknown).bind(target) : x;
      },
    }) as GuestMemory;
    return { ...page, mem: view };
  }
}

/** The frontend under test: a PV kernel image and the command line that has it do disk I/O. */
export interface FrontendSubject {
  image: Uint8Array;
  cmdline: string;
  /** Virtual time a run may take (ns); past it the frontend is said to run on without end. */
  untilNs?: number;
}

async function runFrontend(fe: FrontendSubject, b: BlkbackBehaviour, dir: string, n: number): Promise<Run> {
  const run: Run = { log: '', reason: null, violations: [], requests: 0, ops: new Set(), hostileActs: 0 };
  const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
  const consoles: string[] = [];
  const daemons = startLocalDom0(hv, { onConsole: (_d, bytes) => consoles.push(new TextDecoder().decode(bytes)) });
  const platform = (daemons as unknown as { platform: Dom0Platform }).platform;
  const backendKey = (dev: DeviceInstance, key: string) => {
    const r = daemons.xs.read(`${dev.backend}/${key}`);
    return r.ok ? r.value : undefined;
  };
  // dom0's own blkback makes its first pass before it is replaced: with no device yet, so it
  // publishes nothing for the device under test.
  await daemons.settle();
  const checking = new CheckingBlkback(platform, backendKey, b, run);
  daemons.registerBackend(checking); // in place of dom0's own blkback for `vbd`
  const d = hv.createPvDomain(fe.image, { name: 'blkfront', memoryBytes: 16 * MiB, cmdline: fe.cmdline }).domain;
  addDevice(daemons.xs, d.domid, vbdDevice({ devid: 51712, path: join(dir, `disk${n}.img`), access: 'w', vdev: 'xvda' }));
  hv.unpause(d);
  const r = await hv.runAsync({ until: fe.untilNs ?? 2_000_000_000 });
  run.log = hv.dmesg().filter((l) => l.startsWith(`(d${d.domid})`)).join('\n') + consoles.join('');
  run.reason = d.shutdownReason ?? (r.kind === 'time' ? 'still running at the time bound' : 'blocked');
  checking.close();
  return run;
}

/** work=blk in 64 KiB blocks: 16 pages a request, INDIRECT when offered. */
export const PVSIM_BLKFRONT_INDIRECT = 'work=blk mode=rand bs=65536 qd=4 n=24';

export interface BlkfrontCtx {
  fe: FrontendSubject;
  go(b: BlkbackBehaviour): Promise<Run>;
}

const noViolations = (r: Run) => expectThat(r.violations.length === 0, `the frontend broke blkif: ${r.violations.slice(0, 3).join('; ')}`);
const finished = (r: Run) => {
  expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}: ${r.log.split('\n').slice(-2).join(' | ')}`);
  expectThat(!/errors=[1-9]/.test(r.log), `I/O errors against a correct backend: ${/errors=\d+/.exec(r.log)?.[0]}`);
};
/** Facing a hostile backend: fail-stop with a diagnosis, or carry on; never a fault or silent success. */
const survived = (r: Run, what: string, silentOk = false): string => {
  expectThat(r.hostileActs > 0, `${what}: the backend never got to act (too few requests: give the guest more I/O)`);
  expectThat(r.reason !== 'still running at the time bound', `${what}: the guest ran on without end`);
  if (r.reason === 'crash') expectThat(/panic/.test(r.log) && !/fault|trap|illegal/i.test(r.log), `${what}: the guest crashed without a diagnosis: ${r.log.split('\n').slice(-2).join(' | ')}`);
  if (!silentOk && r.reason === 'poweroff') expectThat(/errors=[1-9]/.test(r.log) || /broken|error|bad/i.test(r.log), `${what}: the guest finished as if nothing was wrong`);
  const last = r.log.trim().split('\n').at(-1)?.replace(/^\(d\d+\) /, '') ?? '';
  return r.reason === 'crash' ? `fail-stop: ${last}` : `the guest ended ${r.reason}: ${last.slice(0, 100)}`;
};

export const BLKFRONT_CASES: readonly ConformanceCase<BlkfrontCtx>[] = [
  {
    name: 'blkfront: against a correct backend, every request valid and the run clean',
    run: async (c) => {
      const r = await c.go({});
      noViolations(r);
      finished(r);
      expectThat(r.requests > 0, 'no request seen');
    },
  },
  {
    name: 'blkfront: without feature-max-indirect-segments, no INDIRECT and at most 11 segments',
    run: async (c) => {
      const r = await c.go({ withhold: [BLKBACK_KEY.feature_max_indirect_segments] });
      noViolations(r);
      // A frontend may split a large transfer or refuse it itself; it may not send it.
      expectThat(r.reason === 'poweroff' || r.reason === 'crash', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'blkfront: without feature-flush-cache, no FLUSH_DISKCACHE',
    run: async (c) => {
      const r = await c.go({ withhold: [BLKBACK_KEY.feature_flush_cache, BLKBACK_KEY.feature_barrier] });
      noViolations(r);
      expectThat(r.reason === 'poweroff', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'blkfront: without feature-persistent or feature-discard, the run is clean',
    run: async (c) => {
      const r = await c.go({ withhold: [BLKBACK_KEY.feature_persistent, BLKBACK_KEY.feature_discard] });
      noViolations(r);
      finished(r);
    },
  },
  {
    name: 'blkfront: garbage in the responses padding is ignored',
    run: async (c) => {
      const r = await c.go({ garbagePadding: true });
      noViolations(r);
      finished(r);
    },
  },
  {
    name: 'blkfront: answers out of order (as blkif allows): matched by id, the run clean',
    run: async (c) => {
      const r = await c.go({ reorder: true });
      noViolations(r);
      expectThat(r.hostileActs > 0, 'never two answers in one publication: give the guest a deeper queue');
      finished(r);
    },
  },
  {
    name: 'blkfront: feature-max-indirect-segments 8: no INDIRECT of more',
    run: async (c) => {
      const r = await c.go({ offer: { [BLKBACK_KEY.feature_max_indirect_segments]: '8' } });
      noViolations(r);
      expectThat(r.reason === 'poweroff' || r.reason === 'crash', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'blkfront: a disk offered read-only (info VDISK_READONLY): no write sent',
    run: async (c) => {
      const r = await c.go({ offer: { [BLKBACK_KEY.info]: String(VDISK.READONLY) } });
      noViolations(r);
      expectThat(r.reason === 'poweroff' || r.reason === 'crash', `the guest ended ${r.reason}`);
    },
  },
  {
    name: 'blkfront: a response carrying another operation: no fault',
    hostile: true,
    run: async (c) => survived({ ...(await c.go({ operation: 0x63 })), hostileActs: 1 }, 'wrong operation', true),
  },
  {
    name: 'blkfront: a status neither OKAY nor an error code (0x1234): not taken as success',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ status: 0x1234 });
      noViolations(r);
      return survived({ ...r, hostileActs: 1 }, 'status 0x1234');
    },
  },
  {
    name: 'blkfront: every request answered BLKIF_RSP_ERROR: errors reported, no fault',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ status: BLKIF_RSP.ERROR });
      noViolations(r);
      return survived({ ...r, hostileActs: 1 }, 'all errors');
    },
  },
  {
    name: 'blkfront: every request answered EOPNOTSUPP: no fault',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ status: BLKIF_RSP.EOPNOTSUPP });
      noViolations(r);
      return survived({ ...r, hostileActs: 1 }, 'all EOPNOTSUPP');
    },
  },
  {
    name: 'blkfront: a response for a request never made: detected, no fault',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ bogusIdAt: 5 });
      return survived(r, 'bogus id');
    },
  },
  {
    name: 'blkfront: rsp_prod published past the requests (RING_RESPONSE_PROD_OVERFLOW): detected, no fault',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ overflowAt: 3 });
      return survived(r, 'rsp_prod overflow');
    },
  },
  {
    name: 'blkfront: a request answered twice: detected, no fault',
    hostile: true,
    run: async (c) => {
      const r = await c.go({ duplicateAt: 4 });
      return survived(r, 'duplicate answer');
    },
  },
];

/** Runs the frontend direction of the blkif suite against `fe`. */
export async function blkfrontConformance(fe: FrontendSubject, only?: string): Promise<ConformanceResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-blkfront-'));
  let n = 0;
  try {
    return await runConformance(BLKFRONT_CASES, async () => ({ ctx: { fe, go: (b) => runFrontend(fe, b, dir, n++) }, gaveUp: () => null, close: async () => null }), only);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * pvsim's own blkfront: guests/build/work.elf doing random 4 KiB I/O 16 deep (answers
 * come in batches, so the out-of-order case bites). The indirect cases bite with larger
 * blocks: `pvsimBlkfront(PVSIM_BLKFRONT_INDIRECT)`.
 */
export function pvsimBlkfront(cmdline = 'work=blk mode=rand bs=4096 qd=16 n=64'): FrontendSubject {
  return { image: readFileSync(join(import.meta.dirname, '..', '..', '..', 'guests', 'build', 'work.elf')), cmdline };
}

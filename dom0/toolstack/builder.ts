// dom0's PV domain builder (libxc's job in Xen): it plans the bootstrap region, asks the
// hypervisor for an empty domain (XEN_DOMCTL_createdomain with its memory populated),
// writes the image, the mfn list, the page tables and start_info itself, and hands the
// pages and vCPU 0's start to the hypervisor, which validates and pins the tables.

import type { Peer } from '../../protocol/session.ts';
import type { RequestOps, Response } from '../../protocol/wire.ts';
import { BuildError, planPvDomain, pvBoot, writePvBootstrap } from '../../xenguest/pv_bootstrap.ts';
import { ElfError } from '../../xenguest/elf.ts';
import { deviceEmulation } from './validate.ts';
import { planHvmDomain, writeHvmImage, type HvmPlan } from '../../xenguest/hvm_image.ts';

const MiB = 1024 * 1024;

type CreateDomain = RequestOps['createDomain'];
type EmptyDomain = NonNullable<Response['emptyDomain']>;

/** A plan, or the EINVAL answer a kernel that cannot be built gets. */
function planOrEinval<T>(plan: () => T): T | Omit<Response, 'id'> {
  try {
    return plan();
  } catch (e) {
    if (e instanceof BuildError || e instanceof ElfError) return { rc: -22, error: e.message };
    throw e;
  }
}

/** XEN_DOMCTL_createdomain with `nrPages` populated: the empty domain, or the refusal. */
async function createEmpty(hv: Peer, c: CreateDomain, nrPages: number, onDomain?: (domid: number) => void, superpages = false): Promise<EmptyDomain | Omit<Response, 'id'>> {
  const created = await hv.request('domainCreateEmpty', {
    name: c.name,
    nrPages,
    weight: c.weight || 0,
    cap: c.cap || 0,
    maxmemPages: c.maxmemMib ? c.maxmemMib * 256 : 0,
    cpus: c.cpus ?? [],
    cpusSoft: c.cpusSoft ?? [],
    superpages,
    pool: c.pool ?? '',
    cpuEngine: c.cpuEngine ?? '',
  });
  const e = created.emptyDomain;
  if (created.rc !== 0 || !e) return { rc: created.rc || -5, error: created.error || 'no domain' };
  onDomain?.(e.domid);
  return e;
}

/** The pages a builder writes, by pfn (zero-filled on first touch), and as domainBuild takes them. */
function pageSink(): { page(pfn: number): Uint8Array; toBuild(p2m: Uint32Array): { mfn: number; offset: number; data: Uint8Array }[] } {
  const pages = new Map<number, Uint8Array>();
  return {
    page(pfn) {
      let page = pages.get(pfn);
      if (!page) pages.set(pfn, (page = new Uint8Array(4096)));
      return page;
    },
    toBuild: (p2m) => [...pages].map(([pfn, data]) => ({ mfn: p2m[pfn]!, offset: 0, data })),
  };
}

/**
 * Builds the domain `c` describes. `onDomain` hears the domid as soon as the hypervisor has
 * made the domain, so a caller can destroy it if anything after that fails. A build the
 * hypervisor refuses (rc != 0) leaves no domain: the hypervisor destroys what it made.
 */
export async function buildDomain(hv: Peer, c: CreateDomain, onDomain?: (domid: number) => void): Promise<Omit<Response, 'id'>> {
  if (c.type === 'hvm') return buildHvmDomain(hv, c, onDomain);
  const plan = planOrEinval(() => planPvDomain(c.kernel, { memoryBytes: c.memoryMib * MiB, cmdline: c.cmdline ?? '', vcpus: c.vcpus || 1 }));
  if ('rc' in plan) return plan;
  const e = await createEmpty(hv, c, plan.nrPages, onDomain);
  if ('rc' in e) return e;
  const p2m = Uint32Array.from(e.p2m);
  const sink = pageSink();
  writePvBootstrap(plan, p2m, e.sharedInfoMfn, { store: e.storePort, console: e.consolePort }, (pfn) => sink.page(pfn));
  const boot = pvBoot(plan, p2m);
  const r = await hv.request('domainBuild', {
    domid: e.domid,
    pages: sink.toBuild(p2m),
    ...boot,
    virtBase: plan.layout.virtBase,
    storeVa: plan.layout.storeVa,
    consoleVa: plan.layout.consoleVa,
    paused: c.paused ?? false,
  });
  const { id: _id, ...rest } = r;
  return rest;
}

/**
 * An HVM domain: RAM (memory MiB at guest-physical 0x80000000, the domain's frames), the
 * kernel loaded at its physical addresses and the device tree near the top of RAM, written
 * here as libxl writes an ARM guest's tree; the hypervisor makes the board and vCPU 0.
 */
async function buildHvmDomain(hv: Peer, c: CreateDomain, onDomain?: (domid: number) => void): Promise<Omit<Response, 'id'>> {
  const plan: HvmPlan | Omit<Response, 'id'> = planOrEinval(() => planHvmDomain(c.kernel, { memoryBytes: c.memoryMib * MiB, cmdline: c.cmdline ?? '', vcpus: c.vcpus || 1, ata: (c.devices ?? []).some((dev) => deviceEmulation(dev) === 'ata'), xenPlatform: !c.noXenPlatform }));
  if ('rc' in plan) return plan;
  // HVM RAM in 4 MiB extents where free (libxc's superpage populate): G-stage megapages.
  const e = await createEmpty(hv, c, plan.nrPages, onDomain, true);
  if ('rc' in e) return e;
  const p2m = Uint32Array.from(e.p2m);
  const sink = pageSink();
  writeHvmImage(plan, (pfn) => sink.page(pfn));
  const r = await hv.request('domainBuild', {
    domid: e.domid,
    pages: sink.toBuild(p2m),
    entry: plan.entry,
    startInfoVa: 0,
    stackTop: 0,
    l2Mfn: 0,
    vcpus: plan.vcpus,
    virtBase: 0,
    storeVa: 0,
    consoleVa: 0,
    paused: c.paused ?? false,
    hvmMode: c.hvmMode || 'trap',
    shadowSync: c.shadowSync || 'wp',
    dtbAddr: plan.dtbAddr,
  });
  const { id: _id, ...rest } = r;
  return rest;
}

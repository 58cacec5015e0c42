// The hypervisor core: machine memory, the domain table, and the loop that runs vCPUs and
// serves what they trap for. For now one simulated pCPU runs every vCPU round-robin in
// fixed slices; the credit scheduler replaces that loop.

import { Interpreter } from './cpu/index.ts';
import { ExitReason, type Engine } from './cpu/engine.ts';
import { PhysMemory } from './cpu/memory.ts';
import {
  CAUSE_FETCH_ACCESS,
  CAUSE_FETCH_PAGE_FAULT,
  CAUSE_ILLEGAL_INSTRUCTION,
  CAUSE_INTERRUPT,
  CAUSE_SUPERVISOR_ECALL,
  CSR_STVEC,
} from './cpu/csr.ts';
import { FrameTable } from './mm/frame_table.ts';
import { Domain, Vcpu } from './domain/domain.ts';
import { buildPvDomain, type PvLayout } from './domain/builder.ts';
import { dispatchHypercall, type HypervisorServices } from './hypercall/index.ts';
import type { FrameWatcher } from './hypercall/types.ts';
import type { ShutdownReason } from '../protocol/xen/hypercall.ts';

export interface HypervisorOptions {
  /** Machine memory in bytes (frames are only populated when a domain takes them). */
  machineMemoryBytes?: number;
  commandLine?: string;
  /** Instructions a vCPU runs before the next one gets the pCPU. */
  sliceInstructions?: number;
  /** Lines kept in the hypervisor log (`xl dmesg`). */
  logLines?: number;
}

export interface CreateDomainOptions {
  name: string;
  memoryBytes: number;
  cmdline?: string;
  privileged?: boolean;
}

export type RunResult =
  /** No domain has a runnable vCPU left. */
  | { kind: 'idle' }
  /** The instruction limit was reached first. */
  | { kind: 'limit' };

/** Machine frames start at 2 GiB, so a machine address never looks like a small integer. */
const FIRST_MFN = 0x80000;
const WFI_ENCODING = 0x1050_0073;

export class Hypervisor implements HypervisorServices {
  readonly mem = new PhysMemory();
  readonly frames: FrameTable;
  readonly domains = new Map<number, Domain>();
  readonly commandLine: string;
  /** Virtual time in ns: one instruction costs 1 ns until the cost model arrives. */
  private now_ = 0;
  totalInstructions = 0;
  /** Guest console output as it arrives (raw bytes), e.g. for `pvsim boot` to print. */
  onConsole: ((domain: Domain, bytes: Uint8Array) => void) | null = null;
  /** Called when a domain shuts down or is crashed. */
  onShutdown: ((domain: Domain) => void) | null = null;

  private readonly log: string[] = [];
  private readonly logLimit: number;
  private readonly slice: number;
  private readonly engine: Engine = new Interpreter();
  private nextDomid = 1;
  private yieldRequested = false;
  private readonly consoleInput: number[] = [];
  private readonly watchers = new Map<number, FrameWatcher>();

  constructor(opts: HypervisorOptions = {}) {
    const bytes = opts.machineMemoryBytes ?? 1024 * 1024 * 1024;
    this.frames = new FrameTable(this.mem, FIRST_MFN, Math.floor(bytes / 4096));
    this.commandLine = opts.commandLine ?? '';
    this.slice = opts.sliceInstructions ?? 100_000;
    this.logLimit = opts.logLines ?? 10_000;
    this.printk(`Xen-compatible pvsim hypervisor, ${bytes >> 20} MiB machine memory`);
    this.mem.onStore = (pa, size) => {
      const w = this.watchers.get(Math.floor(pa / 4096));
      return w ? w(pa, size) : false;
    };
  }

  /** Appends a line to the hypervisor log, dropping the oldest beyond the limit. */
  printk(line: string): void {
    this.log.push(`(XEN) ${line}`);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  dmesg(): readonly string[] {
    return this.log;
  }

  createPvDomain(image: Uint8Array, opts: CreateDomainOptions): { domain: Domain; layout: PvLayout } {
    const domid = opts.privileged ? 0 : this.nextDomid++;
    const built = buildPvDomain(this.frames, image, { domid, ...opts });
    this.domains.set(domid, built.domain);
    this.printk(`d${domid}: built PV domain "${opts.name}", ${built.domain.nrPages} pages`);
    return built;
  }

  unpause(domain: Domain): void {
    if (domain.state === 'paused') domain.state = 'running';
  }

  pause(domain: Domain): void {
    if (domain.state === 'running') domain.state = 'paused';
  }

  destroyDomain(domain: Domain): void {
    domain.state = 'dying';
    for (const mfn of domain.p2m) this.frames.release(mfn);
    this.frames.release(domain.sharedInfoMfn);
    domain.p2m = new Uint32Array(0);
    this.domains.delete(domain.domid);
    this.printk(`d${domain.domid}: destroyed`);
  }

  // --- HypervisorServices -------------------------------------------------------------

  now(): number {
    return this.now_;
  }

  domain(domid: number): Domain | undefined {
    return this.domains.get(domid);
  }

  watchFrame(mfn: number, watcher: FrameWatcher): void {
    this.watchers.set(mfn, watcher);
    this.mem.setWatched(mfn, true);
  }

  unwatchFrame(mfn: number): void {
    this.watchers.delete(mfn);
    this.mem.setWatched(mfn, false);
  }

  blockVcpu(vcpu: Vcpu): void {
    vcpu.blocked = true;
    this.yieldRequested = true;
  }

  wakeVcpu(vcpu: Vcpu): void {
    vcpu.blocked = false;
  }

  consoleWrite(domain: Domain, bytes: Uint8Array): void {
    this.onConsole?.(domain, bytes);
    // Like Xen, the log keeps printable text only, one "(dN)" line per guest line.
    let text = domain.consolePartial;
    for (const b of bytes) {
      if (b === 0x0a) {
        this.log.push(`(d${domain.domid}) ${text}`);
        text = '';
      } else if ((b >= 0x20 && b < 0x7f) || b === 0x09) {
        text += String.fromCharCode(b);
      }
    }
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
    domain.consolePartial = text.slice(-4096);
  }

  consoleRead(max: number): Uint8Array {
    return Uint8Array.from(this.consoleInput.splice(0, max));
  }

  /** Queues bytes for CONSOLEIO_read. */
  consoleInputPush(bytes: Uint8Array): void {
    for (const b of bytes) this.consoleInput.push(b);
  }

  shutdownDomain(domain: Domain, reason: ShutdownReason): void {
    if (!domain.isAlive) return;
    domain.shutdownReason = reason;
    domain.state = reason === 'crash' ? 'crashed' : 'shutdown';
    this.printk(`d${domain.domid}: shutdown, reason ${reason}`);
    this.onShutdown?.(domain);
  }

  yieldVcpu(_vcpu: Vcpu): void {
    this.yieldRequested = true;
  }

  /** Crashes a domain for something it did that cannot be reflected back to it. */
  crashDomain(domain: Domain, why: string): void {
    domain.crashMessage = why;
    this.printk(`d${domain.domid}: crashed: ${why}`);
    this.shutdownDomain(domain, 'crash');
  }

  // --- Running ------------------------------------------------------------------------

  private runnable(): Vcpu[] {
    const out: Vcpu[] = [];
    for (const d of this.domains.values()) {
      if (d.state !== 'running') continue;
      for (const v of d.vcpus) if (v.online && !v.blocked) out.push(v);
    }
    return out;
  }

  /** Runs every runnable vCPU until none is left or `maxInstructions` have retired. */
  run(maxInstructions = Number.MAX_SAFE_INTEGER): RunResult {
    const limit = this.totalInstructions + maxInstructions;
    for (;;) {
      const vcpus = this.runnable();
      if (vcpus.length === 0) return { kind: 'idle' };
      for (const vcpu of vcpus) {
        if (vcpu.domain.state !== 'running') continue;
        const left = limit - this.totalInstructions;
        if (left <= 0) return { kind: 'limit' };
        this.runSlice(vcpu, Math.min(this.slice, left));
      }
    }
  }

  private runSlice(vcpu: Vcpu, budget: number): void {
    const hart = vcpu.hart;
    this.yieldRequested = false;
    let left = budget;
    while (left > 0 && vcpu.domain.state === 'running' && !this.yieldRequested) {
      const before = hart.instret;
      const why = this.engine.run(hart, left);
      const ran = hart.instret - before;
      left -= ran;
      this.account(ran);
      if (why === ExitReason.HostTrap) {
        this.handleTrap(vcpu);
        left--; // a trap costs at least an instruction's worth, so a trap storm still ends
        this.account(1);
      } else if (why === ExitReason.Wfi) {
        break;
      }
    }
  }

  private account(instructions: number): void {
    this.totalInstructions += instructions;
    this.now_ += instructions;
  }

  private handleTrap(vcpu: Vcpu): void {
    const hart = vcpu.hart;
    const cause = hart.trapCause >>> 0;
    vcpu.stats.traps.set(cause, (vcpu.stats.traps.get(cause) ?? 0) + 1);
    if (cause === CAUSE_SUPERVISOR_ECALL) {
      vcpu.stats.hypercalls++;
      const x = hart.x;
      const result = dispatchHypercall({ hv: this, vcpu }, x[17]! >>> 0, x[10]!, x[11]!, x[12]!, x[13]!, x[14]!);
      x[10] = result | 0;
      hart.pc = (hart.pc + 4) >>> 0;
      return;
    }
    if (cause === CAUSE_ILLEGAL_INSTRUCTION && hart.trapTval >>> 0 === WFI_ENCODING) {
      // mstatus.TW makes wfi trap: idling is the scheduler's decision. With no event
      // sources yet, an idle vCPU simply gives up the pCPU.
      hart.pc = (hart.pc + 4) >>> 0;
      this.yieldRequested = true;
      return;
    }
    if (cause & CAUSE_INTERRUPT) {
      this.printk(`d${vcpu.domain.domid}v${vcpu.vcpuId}: unexpected M-level interrupt ${cause & 0x7fffffff}`);
      return;
    }
    if (cause === CAUSE_FETCH_PAGE_FAULT || cause === CAUSE_FETCH_ACCESS) {
      const stvec = hart.readCsr(CSR_STVEC) & ~3;
      if (stvec === 0 || hart.pc >>> 0 === stvec >>> 0) {
        this.crashDomain(
          vcpu.domain,
          `instruction fault (cause ${cause}) at 0x${(hart.pc >>> 0).toString(16)} with ` +
            (stvec === 0 ? 'no trap vector set' : 'the fault at its own trap vector'),
        );
        return;
      }
    }
    // Everything else is the guest kernel's to handle, as if it had been delegated.
    hart.deliverToSupervisor(cause, hart.trapTval);
  }
}

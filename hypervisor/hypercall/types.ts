// What a hypercall handler may ask of the hypervisor. Handlers never throw for guest
// mistakes: they return a negative Xen errno.

import type { Domain, Vcpu } from '../domain/domain.ts';
import type { ShutdownReason } from '../../protocol/xen/hypercall.ts';

export interface HypervisorServices {
  /** Appends guest console_io output to the hypervisor log (what `xl dmesg` shows). */
  consoleWrite(domain: Domain, bytes: Uint8Array): void;
  /** Bytes waiting in the hypervisor's console input, for CONSOLEIO_read by dom0. */
  consoleRead(max: number): Uint8Array;
  shutdownDomain(domain: Domain, reason: ShutdownReason): void;
  /** Ends the vCPU's current slice after this hypercall. */
  yieldVcpu(vcpu: Vcpu): void;
  /** The hypervisor's own command line (XENVER_commandline). */
  readonly commandLine: string;
}

export interface HypercallContext {
  hv: HypervisorServices;
  vcpu: Vcpu;
}

/** A handler gets the five argument registers a0..a4 as unsigned 32-bit numbers. */
export type HypercallHandler = (ctx: HypercallContext, a0: number, a1: number, a2: number, a3: number, a4: number) => number;

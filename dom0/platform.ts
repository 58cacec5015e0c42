// What dom0's daemons (xenstored's rings, the console backend, later blkback and netback)
// need from the hypervisor, as one interface. LocalPlatform serves it in the hypervisor's
// process (pvsim boot, pvsim run); RemotePlatform serves it across the process boundary
// (pvsim up), mirroring mapped pages as section 7 of the design describes.

import type { GuestMemory } from '../protocol/guest_memory.ts';
import type { Ioreq } from './devicemodel/ioreq.ts';

export interface Dom0Platform {
  /**
   * Maps a frame of domain `domid` into dom0 (a privileged foreign mapping). The returned
   * view is the page as dom0 sees it; what dom0 stores through it reaches the guest before
   * dom0's next notification (exactly the bytes stored: no caller marks pages by hand).
   */
  mapForeign(domid: number, mfn: number): Promise<MappedPage>;
  /** Binds a dom0 port to `remotePort` of `domid` (EVTCHNOP_bind_interdomain); returns it. */
  bindInterdomain(domid: number, remotePort: number): Promise<number>;
  /** Routes notifications on a dom0 port to `handler` (run as a dom0 dispatch). */
  onEvent(port: number, handler: () => void | Promise<void>): void;
  /** Notifies the other end of a dom0 port (EVTCHNOP_send), after dom0's pending writes. */
  notify(port: number): void | Promise<void>;
  closePort(port: number): void | Promise<void>;
  /**
   * Maps grant `ref` of domain `domid` into dom0 (GNTTABOP_map_grant_ref, a device
   * mapping). Resolves with the GNTST status and, when it is GNTST_okay, the page and the
   * handle to unmap it with.
   */
  mapGrant(domid: number, ref: number, readonly: boolean): Promise<{ status: number; handle: number; page: MappedPage | null }>;
  unmapGrant(handle: number): Promise<number>;
  /** GNTTABOP_copy from dom0's bytes into a granted page; resolves with the GNTST status. */
  copyToGrant(domid: number, ref: number, offset: number, data: Uint8Array): Promise<number>;
  /** GNTTABOP_copy out of a granted page into dom0. */
  copyFromGrant(domid: number, ref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }>;
  /**
   * GNTTABOP_copy with a batch of entries, as Xen takes them (one hypercall, one status
   * each, carried out in order): across the process boundary, one round trip for the batch.
   */
  copyGrants(ops: readonly GrantCopyOp[]): Promise<GrantCopyResult[]>;
  /**
   * GNTTABOP_copy of dom0's bytes into granted pages whose statuses dom0 does not wait for:
   * across the process boundary the entries travel with dom0's next batch or its dispatch
   * answer (no round trip of their own), in order with its stores and sends; in-process they
   * are made at once. A backend writes its ring response as if the copies succeeded and
   * names, with the ticket's onFail, the status bytes to store if one did not. Optional: a
   * platform without it is served by copyGrants (dom0/backends/copy_out.ts).
   */
  copyToGrantsLater?(ops: readonly GrantCopyToOp[]): CopyOutTicket;
  /**
   * Asks that the data of new requests on `ring` (dom0's writable mapping of `domid`'s
   * shared ring, a blkif or a netif tx ring) travel with the dispatches of `port`, read at
   * the dispatch's instant: copyGrants then finds them without a round trip of its own
   * (hot_wire.ts PREFETCH_RING). Only a speed-up: what it does not find is copied as ever.
   * Ends when the port closes. Optional: in-process there is no round trip to spare.
   */
  prefetchRing?(port: number, domid: number, ring: MappedPage, layout: 'blkif' | 'netifTx'): void;
  /**
   * Virtual time in ns of the dispatch dom0 is serving (the hypervisor's clock in-process;
   * the time carried by the last dispatch across the socket). For timestamps that must be
   * the same whichever home dom0 has (pcap captures); never wall time.
   */
  now(): number;
  /**
   * What the device model needs to emulate an HVM domain's devices (Xen's ioreq server and
   * dm_op calls): in-process (sim/local_ioreq.ts) and across the socket (the IOREQ hot frame,
   * dom0/remote_platform.ts). A platform without it makes dom0 refuse emulated devices.
   */
  readonly ioreq?: IoreqHost;
}

/** The hypervisor's side of an HVM domain's device model (XEN_DMOP_*, privcmd by gfn). */
export interface IoreqHost {
  /** The domain's guest-physical RAM, or null when `domid` is not a live HVM domain. */
  hvmRam(domid: number): Promise<{ base: number; bytes: number } | null>;
  /**
   * Maps `count` guest frames of an HVM domain from `gfn` into dom0 (privcmd maps an HVM
   * guest by gfn), in order; rejects if any is not the domain's RAM (nothing stays mapped).
   */
  mapGuestFrames(domid: number, gfn: number, count: number): Promise<MappedPage[]>;
  /**
   * XEN_DMOP_map_io_range_to_ioreq_server: the guest's accesses to [base, base + size) become
   * calls to `handle`, whose answer completes the access (a load's value). Replaces an empty
   * slot the board had there (or the range of a previous dom0's device model). Resolves once
   * the hypervisor has it.
   */
  addIoreqServer(domid: number, base: number, size: number, handle: (req: Ioreq) => Promise<number>): Promise<void>;
  /** XEN_DMOP_set_irq_level: a device's line into the board's PLIC (level-triggered). */
  setIrqLevel(domid: number, source: number, level: boolean): void;
  /** Optional: the devices moved `bytes` to or from the domain's RAM (counted in its Domain.perf; no effect on time). */
  noteDma?(domid: number, bytes: number): void;
  /** The domain's device model is gone: dom0 forgets its ranges (the hypervisor's go with the domain). */
  release?(domid: number): void;
}

/** One GNTTABOP_copy entry: dom0's bytes into a granted page, or `len` bytes out of one. */
export type GrantCopyOp =
  | { to: true; domid: number; ref: number; offset: number; data: Uint8Array }
  | { to: false; domid: number; ref: number; offset: number; len: number };

export type GrantCopyToOp = Omit<Extract<GrantCopyOp, { to: true }>, 'to'>;

/** What dom0 knows of copies it did not wait for (Dom0Platform.copyToGrantsLater). */
export interface CopyOutTicket {
  /** Whether one of the copies failed, or null while they travel with dom0's answer. */
  readonly failed: boolean | null;
  /**
   * Stores `data` at `offset` of `mem` (a page dom0 has mapped writable), in order after
   * dom0's stores so far, if one of the copies failed; nothing otherwise.
   */
  onFail(mem: GuestMemory, offset: number, data: Uint8Array): void;
  /**
   * Hears whether one of the copies failed once dom0 knows: at once in-process; with dom0 as
   * a process, when the hypervisor's next dispatch reports it (for dom0's counters only:
   * the guest saw the outcome through onFail's store).
   */
  onSettled(cb: (failed: boolean) => void): void;
}

/** A GNTST status, and for a copy out of a grant its bytes (empty unless GNTST_okay). */
export interface GrantCopyResult {
  status: number;
  data: Uint8Array;
}

export interface MappedPage {
  /** The page, read and written through a view (the frame itself, or a mirror that records dom0's stores). */
  readonly mem: GuestMemory;
  unmap(): void;
}

// pvsim/driver: the public API for writing a split-device backend that dom0 loads for a
// device type named in xl.cfg (`vdev = [ 'type=echo,driver=./echo.ts' ]`). A backend is a
// module whose default export is `defineBackend({...})`; dom0 runs the XenbusState handshake
// for it and hands it, per device, a context with the frontend's keys, grant mapping and
// copy, event channels and the ring library. docs/ringkit.md is the tutorial.
//
// Trust: a backend is the user's own code, run inside dom0 like a QEMU device model is run
// by the toolstack. dom0 contains its failures (a throw, a hang, a refused grant fails that
// one device, bounded in time) but does not sandbox it: it can do what dom0's process can.

import type { GuestMemory } from '../../protocol/guest_memory.ts';

export * from '../../protocol/ring.ts';
export { ByteMemory, type GuestMemory } from '../../protocol/guest_memory.ts';
export { XenbusState } from '../../protocol/xen/xenbus.ts';
export { GNTST } from '../../protocol/xen/grant_table.ts';

/** Marks an object made by defineBackend (a registered symbol, so it survives two copies of this module). */
export const BACKEND_BRAND: unique symbol = Symbol.for('pvsim.driver.backend') as never;

/** Which device a call is about. */
export interface DeviceInfo {
  /** The device type (xenbus kind): the backend directory is /local/domain/0/backend/<type>/<domid>/<devid>. */
  readonly type: string;
  readonly domid: number;
  readonly devid: number;
  /** XenStore paths of the backend's and the frontend's directories. */
  readonly backendPath: string;
  readonly frontendPath: string;
  /** A key of the backend directory (the xl.cfg spec's keys are written there). */
  backend(key: string): string | undefined;
}

/** A page mapped from the guest (GNTTABOP_map_grant_ref); unmapped with the device at the latest. */
export interface GrantMapping {
  readonly ref: number;
  readonly mem: GuestMemory;
  unmap(): Promise<void>;
}

/** A bound interdomain event channel; closed with the device at the latest. */
export interface EventChannel {
  /** dom0's local port. */
  readonly port: number;
  /** EVTCHNOP_send to the frontend. */
  notify(): Promise<void>;
  close(): Promise<void>;
}

/** What a connecting device offers: everything a backend needs, all released at disconnect. */
export interface DeviceContext extends DeviceInfo {
  /** A key the frontend wrote in its directory (ring-ref, event-channel, ...). */
  frontend(key: string): string | undefined;
  /** A frontend key that must be a number in [min, max]; anything else fails the device with a clear message. */
  frontendNumber(key: string, min?: number, max?: number): number;
  /** Maps grant `ref` of the frontend's domain; a refusal (GNTST status) fails the call. */
  mapGrant(ref: number, opts?: { readonly?: boolean }): Promise<GrantMapping>;
  /** GNTTABOP_copy out of a granted page; a refusal fails the call. */
  copyFromGrant(ref: number, offset: number, len: number): Promise<Uint8Array>;
  /** GNTTABOP_copy into a granted page; a refusal fails the call. */
  copyToGrant(ref: number, offset: number, data: Uint8Array): Promise<void>;
  /**
   * Binds the frontend's unbound port `remotePort`; `handler` runs on each notification, one
   * run at a time (a notification during a run asks for one more run after it). A handler
   * that throws or overruns its bound fails the device.
   */
  bindEvent(remotePort: number, handler: () => void | Promise<void>): Promise<EventChannel>;
  /** dom0's log, prefixed with the device and rate-limited. */
  log(line: string): void;
  /** Gives up on the device: its error node says `message`, it goes Closed. */
  fail(message: string): void;
}

/** What connect() may return: called at disconnect, before dom0 releases the device's grants and ports. */
export interface Connection {
  disconnect?(): void | Promise<void>;
}

export interface BackendDefinition {
  /** The device type this backend serves (xl.cfg's `type=`): 1-16 of a-z 0-9 -, starting with a letter. */
  readonly type: string;
  /** Keys published in the backend directory before InitWait (features, sizes). */
  features?(dev: DeviceInfo): Record<string, string>;
  /** The frontend is Initialised: map its ring, bind its channel, start serving. Throw to fail the device. */
  connect(dev: DeviceContext): void | Connection | Promise<void | Connection>;
}

export interface Backend extends BackendDefinition {
  readonly [BACKEND_BRAND]: true;
}

/** Xen's own device types (pvsim's backends serve vbd, vif and console): a user backend cannot take them. */
export const RESERVED_DEVICE_TYPES: readonly string[] = ['vbd', 'vif', 'console', 'vkbd', 'vfb', 'qdisk', 'pci'];

const TYPE_RE = /^[a-z][a-z0-9-]{0,15}$/;

/** Why `type` cannot name a user device type, or null. */
export function deviceTypeProblem(type: string): string | null {
  if (!TYPE_RE.test(type)) return `device type ${JSON.stringify(type)} is not 1-16 of a-z 0-9 -, starting with a letter`;
  if (RESERVED_DEVICE_TYPES.includes(type)) return `device type ${type} is reserved for Xen's own backends`;
  return null;
}

/** Declares a backend: the default export of a backend module. */
export function defineBackend(def: BackendDefinition): Backend {
  const bad = deviceTypeProblem(def.type);
  if (bad) throw new TypeError(bad);
  if (typeof def.connect !== 'function') throw new TypeError(`backend ${def.type}: connect must be a function`);
  return { ...def, [BACKEND_BRAND]: true };
}

/** Whether `v` was made by defineBackend (by any copy of this module). */
export function isBackend(v: unknown): v is Backend {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BACKEND_BRAND] === true && typeof (v as Backend).connect === 'function' && typeof (v as Backend).type === 'string';
}

/**
 * A ring protocol's shape, for pvsim's ring conformance cases (`pvsim ringtest backend`,
 * sim/ringkit/harness.ts): a backend module may export one as `protocol`.
 */
export interface RingProtocol {
  /** Bytes of one ring slot (the larger of request and response). */
  entryBytes: number;
  /** A valid request carrying `id` (entryBytes long); `grant` grants a page of the frontend's when the request needs one. */
  request(id: number, grant: (page: Uint8Array, readonly: boolean) => number): Uint8Array;
  /** The id a response slot carries. */
  responseId(slot: Uint8Array): number;
  /**
   * Responses come in request order (a frontend that matches them by slot, as Linux's
   * netfront does for netif rx); without it, in any order, matched by id (blkif, echoif).
   */
  inOrder?: boolean;
  /** Frontend keys besides ring-ref and event-channel. */
  frontendKeys?: Record<string, string>;
  /** Backend keys (as xl.cfg's vdev would write them). */
  backendKeys?: Record<string, string>;
}

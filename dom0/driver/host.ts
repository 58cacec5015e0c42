// dom0's side of pvsim/driver: loads a user backend module and serves its device type as
// a xenbus BackendDriver (dom0/backends/xenbus.ts does the handshake), with every call into
// the user's code contained:
//
//   - a throw fails that one device (xenbus_dev_fatal: error node, Closed), never dom0;
//   - the synchronous part of each call runs under a watchdog (node:vm's timeout, which
//     interrupts any JavaScript running, so a `for (;;) {}` is cut off after SYNC_BOUND_MS);
//   - a returned promise must settle within ASYNC_BOUND_MS, or the device fails and its
//     grants and ports are released (the promise is abandoned);
//   - whatever the device mapped or bound through its context is released at disconnect,
//     whatever the user's code did.
//
// Not bounded: a loop of awaits that never ends (each step is short, so no watchdog sees
// it) and code at the module's top level, which runs once, when dom0 loads the module.
// The user's code runs in dom0's process with its rights: see docs/ringkit.md "Trust".

import vm from 'node:vm';
import { resolve } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import type { Dom0Platform, MappedPage } from '../platform.ts';
import type { GuestMemory } from '../../protocol/guest_memory.ts';
import type { BackendDriver, DeviceInstance } from '../backends/xenbus.ts';
import { GNTST } from '../../protocol/xen/grant_table.ts';
import { RateLimitedLog } from '../backends/ratelimit.ts';
import { isBackend, type Backend, type Connection, type DeviceContext, type DeviceInfo, type EventChannel, type GrantMapping } from './index.ts';

export interface UserBackendOptions {
  log?: (line: string) => void;
  /** Bound on the synchronous part of one call into the backend (ms). */
  syncBoundMs?: number;
  /** Bound on a promise the backend returns (ms of wall time: user code may wait on the host). */
  asyncBoundMs?: number;
  /** Called when an event handler fails a connected device (the xenbus layer then closes it). */
  onFatal?: (dev: DeviceInstance, message: string) => void;
}

export const SYNC_BOUND_MS = 2_000;
export const ASYNC_BOUND_MS = 10_000;

export class BackendLoadError extends Error {
  override readonly name = 'BackendLoadError';
}

/**
 * Loads a backend module (TypeScript or JavaScript, through tsx) and checks its default
 * export is a defineBackend() object of `type`. Module loading is bounded by asyncBoundMs.
 */
export async function loadBackendModule(path: string, type: string, asyncBoundMs = ASYNC_BOUND_MS): Promise<Backend> {
  const { backend } = await loadBackendNamespace(path, asyncBoundMs);
  if (backend.type !== type) throw new BackendLoadError(`backend ${type}: ${resolve(path)} serves type ${JSON.stringify(backend.type)}, not ${JSON.stringify(type)}`);
  return backend;
}

/** Loads a backend module whatever its type: its backend and its other exports (a `protocol`, say). */
export async function loadBackendNamespace(path: string, asyncBoundMs = ASYNC_BOUND_MS): Promise<{ backend: Backend; exports: Record<string, unknown> }> {
  const abs = resolve(path);
  let mod: { default?: unknown };
  try {
    // tsImport, not import(): the module is the user's, outside the layered tree.
    mod = (await bounded(tsImport(abs, import.meta.url) as Promise<{ default?: unknown }>, asyncBoundMs, `loading ${abs}`)) as { default?: unknown };
  } catch (e) {
    // asError: a module may throw anything at import (`throw 42` said "undefined").
    throw new BackendLoadError(`cannot load ${abs}: ${asError(e).message}`);
  }
  const def = mod.default;
  if (!isBackend(def)) throw new BackendLoadError(`${abs} has no default export made by defineBackend() from pvsim/driver`);
  return { backend: def, exports: mod as Record<string, unknown> };
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    // Not unref'd: someone awaits this bound. A CLI (pvsim ringtest) whose only pending work
    // is a user promise that never settles would otherwise exit at once, silently (status 13).
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/** Runs user code: its synchronous part under the vm watchdog, a returned promise bounded too. */
class Watchdog {
  private readonly ctx = vm.createContext({ __call: null as null | (() => unknown) });
  private readonly script = new vm.Script('__call()');

  constructor(
    private readonly syncMs: number,
    private readonly asyncMs: number,
  ) {}

  async run<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
    let r: T | Promise<T>;
    this.ctx.__call = fn;
    try {
      r = this.script.runInContext(this.ctx, { timeout: this.syncMs }) as T | Promise<T>;
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new Error(`${what} ran over ${this.syncMs} ms without returning`);
      throw asError(e);
    } finally {
      this.ctx.__call = null;
    }
    if (r instanceof Promise || (typeof r === 'object' && r !== null && typeof (r as { then?: unknown }).then === 'function')) {
      try {
        return await bounded(Promise.resolve(r), this.asyncMs, what);
      } catch (e) {
        throw asError(e);
      }
    }
    return r as T;
  }
}

/** Whatever was thrown, as an Error (user code may throw anything). */
function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  let s: string;
  try {
    s = String(e);
  } catch {
    s = '(an unprintable value)';
  }
  return new Error(`threw ${s.slice(0, 200)}`);
}

/**
 * A mapped page as the user's code sees it: every access checks the mapping is still held.
 * A backend whose stalled promise resumes after its device was released must not touch a
 * frame that may since have gone back to the guest, or to another domain.
 */
class RevocableMemory implements GuestMemory {
  constructor(
    private readonly mem: GuestMemory,
    private readonly held: () => boolean,
    private readonly ref: number,
  ) {}
  private m(): GuestMemory {
    if (!this.held()) throw new Error(`grant ${this.ref} is no longer mapped`);
    return this.mem;
  }
  get length(): number {
    return this.mem.length;
  }
  read(offset: number, len: number): Uint8Array {
    return this.m().read(offset, len);
  }
  u8(offset: number): number {
    return this.m().u8(offset);
  }
  u16le(offset: number): number {
    return this.m().u16le(offset);
  }
  u32le(offset: number): number {
    return this.m().u32le(offset);
  }
  write(offset: number, data: Uint8Array): void {
    this.m().write(offset, data);
  }
  fill(offset: number, len: number, value: number): void {
    this.m().fill(offset, len, value);
  }
  setU8(offset: number, v: number): void {
    this.m().setU8(offset, v);
  }
  setU16le(offset: number, v: number): void {
    this.m().setU16le(offset, v);
  }
  setU32le(offset: number, v: number): void {
    this.m().setU32le(offset, v);
  }
}

/** What a connected device holds, released at disconnect whatever the user's code did. */
interface Held {
  ctx: DeviceContext;
  conn: Connection | null;
  maps: Set<number>;
  ports: Set<number>;
  dead: boolean;
}

export class UserBackendDriver implements BackendDriver {
  readonly kind: string;
  private readonly held = new Map<string, Held>();
  private readonly dog: Watchdog;
  private readonly log: RateLimitedLog | null;

  constructor(
    private readonly def: Backend,
    private readonly platform: Dom0Platform,
    private readonly backendKey: (dev: DeviceInstance, key: string) => string | undefined,
    private readonly opts: UserBackendOptions = {},
  ) {
    this.kind = def.type;
    this.dog = new Watchdog(opts.syncBoundMs ?? SYNC_BOUND_MS, opts.asyncBoundMs ?? ASYNC_BOUND_MS);
    this.log = opts.log ? new RateLimitedLog(opts.log) : null;
  }

  /** Devices connected now. */
  get connected(): number {
    return this.held.size;
  }

  private info(dev: DeviceInstance): DeviceInfo {
    return {
      type: dev.kind,
      domid: dev.domid,
      devid: dev.devid,
      backendPath: dev.backend,
      frontendPath: dev.frontend,
      backend: (key) => this.backendKey(dev, key),
    };
  }

  features(dev: DeviceInstance): Record<string, string> {
    const f = this.def.features;
    if (!f) return {};
    // features() is synchronous in the xenbus layer: the watchdog bounds it, a promise is refused.
    let out: unknown;
    const ctx = this.info(dev);
    try {
      out = vm.runInContext('__f()', vm.createContext({ __f: () => f.call(this.def, ctx) }), { timeout: this.opts.syncBoundMs ?? SYNC_BOUND_MS });
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw new Error(`${this.kind} features() ran over its bound`);
      throw asError(e);
    }
    if (typeof out !== 'object' || out === null || out instanceof Promise) throw new Error(`${this.kind} features() must return an object of strings`);
    const keys: Record<string, string> = {};
    for (const [k, v] of Object.entries(out)) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(k) || typeof v !== 'string' || v.length > 1024) throw new Error(`${this.kind} features(): key ${JSON.stringify(k).slice(0, 70)} is not a XenStore key with a string value`);
      keys[k] = v;
    }
    return keys;
  }

  async connect(dev: DeviceInstance, read: (key: string) => string | undefined): Promise<void> {
    const h: Held = { ctx: null as unknown as DeviceContext, conn: null, maps: new Set(), ports: new Set(), dead: false };
    h.ctx = this.context(dev, read, h);
    this.held.set(dev.backend, h);
    try {
      const r = await this.dog.run(`${this.kind} connect()`, () => this.def.connect(h.ctx));
      h.conn = r && typeof r === 'object' ? r : null;
    } catch (e) {
      await this.release(dev.backend);
      throw e;
    }
  }

  async disconnect(dev: DeviceInstance): Promise<void> {
    const h = this.held.get(dev.backend);
    if (!h) return;
    const conn = h.conn;
    h.dead = true;
    if (conn?.disconnect) {
      try {
        await this.dog.run(`${this.kind} disconnect()`, () => conn.disconnect!());
      } catch (e) {
        this.say(dev, `disconnect: ${(e as Error).message}`);
      }
    }
    await this.release(dev.backend);
  }

  remove(dev: DeviceInstance): void {
    void this.release(dev.backend);
  }

  /** Lets go of every grant mapping and port the device holds. */
  private async release(backend: string): Promise<void> {
    const h = this.held.get(backend);
    if (!h) return;
    this.held.delete(backend);
    h.dead = true;
    for (const port of h.ports) await Promise.resolve(this.platform.closePort(port)).catch(() => {});
    h.ports.clear();
    for (const handle of h.maps) await this.platform.unmapGrant(handle).catch(() => 0);
    h.maps.clear();
  }

  private say(dev: DeviceInstance, line: string): void {
    this.log?.log(`${this.kind} d${dev.domid}/${dev.devid}: ${line}`);
  }

  /** A handler or the backend itself gave up on a connected device. */
  private fatal(dev: DeviceInstance, h: Held, message: string): void {
    if (h.dead) return;
    h.dead = true;
    this.say(dev, message);
    if (this.opts.onFatal) this.opts.onFatal(dev, message);
    else void this.release(dev.backend);
  }

  private context(dev: DeviceInstance, read: (key: string) => string | undefined, h: Held): DeviceContext {
    const platform = this.platform;
    const domid = dev.domid;
    const alive = (what: string) => {
      if (h.dead) throw new Error(`${what}: the device is disconnected`);
    };
    return {
      ...this.info(dev),
      frontend: (key) => read(key),
      frontendNumber: (key, min = 0, max = 0xffff_ffff) => {
        const raw = read(key);
        const n = raw !== undefined && /^[0-9]{1,10}$/.test(raw) ? Number(raw) : NaN;
        if (!(n >= min && n <= max)) throw new Error(`frontend key ${key} is ${raw === undefined ? 'missing' : JSON.stringify(raw.slice(0, 64))}, not a number in [${min}, ${max}]`);
        return n;
      },
      mapGrant: async (ref, opts) => {
        alive('mapGrant');
        const m = await platform.mapGrant(domid, ref >>> 0, opts?.readonly ?? false);
        if (!m.page || m.status !== GNTST.okay) throw new Error(`grant ${ref}: map status ${m.status}`);
        const page: MappedPage = m.page;
        if (h.dead) {
          await platform.unmapGrant(m.handle); // disconnected while mapping
          throw new Error('mapGrant: the device is disconnected');
        }
        h.maps.add(m.handle);
        const mapping: GrantMapping = {
          ref,
          mem: new RevocableMemory(page.mem, () => !h.dead && h.maps.has(m.handle), ref),
          unmap: async () => {
            if (!h.maps.delete(m.handle)) return;
            await platform.unmapGrant(m.handle);
          },
        };
        return mapping;
      },
      copyFromGrant: async (ref, offset, len) => {
        alive('copyFromGrant');
        const r = await platform.copyFromGrant(domid, ref >>> 0, offset, len);
        if (r.status !== GNTST.okay) throw new Error(`grant ${ref}: copy status ${r.status}`);
        return r.data;
      },
      copyToGrant: async (ref, offset, data) => {
        alive('copyToGrant');
        const st = await platform.copyToGrant(domid, ref >>> 0, offset, data);
        if (st !== GNTST.okay) throw new Error(`grant ${ref}: copy status ${st}`);
      },
      bindEvent: async (remotePort, handler) => {
        alive('bindEvent');
        const port = await platform.bindInterdomain(domid, remotePort >>> 0);
        if (h.dead) {
          await platform.closePort(port);
          throw new Error('bindEvent: the device is disconnected');
        }
        h.ports.add(port);
        // One run at a time; a notification meanwhile asks for one more run after it.
        let running = false;
        let again = false;
        const deliver = async (): Promise<void> => {
          if (h.dead) return;
          if (running) {
            again = true;
            return;
          }
          running = true;
          try {
            do {
              again = false;
              await this.dog.run(`${this.kind} event handler`, handler);
            } while (again && !h.dead);
          } catch (e) {
            this.fatal(dev, h, `event handler: ${(e as Error).message}`);
          } finally {
            running = false;
          }
        };
        platform.onEvent(port, deliver);
        const ch: EventChannel = {
          port,
          notify: async () => {
            if (!h.dead) await platform.notify(port);
          },
          close: async () => {
            if (!h.ports.delete(port)) return;
            await platform.closePort(port);
          },
        };
        return ch;
      },
      log: (line) => this.say(dev, line),
      fail: (message) => this.fatal(dev, h, String(message).slice(0, 500)),
    };
  }
}

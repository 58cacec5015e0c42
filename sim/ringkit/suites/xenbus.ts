// The xenbus handshake, for any backend driver (blkback, netback, a user's pvsim/driver
// backend), through dom0's real xenstored and XenbusBackend: every order Xen's xenbus
// protocol (xen/io/xenbus.h) lets a frontend take, closing, and reconnecting after Closed.
// The frontend is a XenStore client with the guest's permissions; grants and ports are the
// bench's (FakePlatform), so the backend maps a real ring page.

import { Dom0Daemons } from '../../../dom0/daemons.ts';
import { XsClient } from '../../../dom0/xenstore/index.ts';
import { addDevice, backendPath, frontendPath } from '../../../dom0/toolstack/devices.ts';
import type { BackendDriver, DeviceInstance } from '../../../dom0/backends/xenbus.ts';
import { UserBackendDriver } from '../../../dom0/driver/host.ts';
import { isBackend } from '../../../dom0/driver/index.ts';
import { XenbusState as S } from '../../../protocol/xen/xenbus.ts';
import { FakePlatform, type BackendUnderTest } from '../harness.ts';
import { expectThat, type ConformanceCase, type Opened } from './common.ts';

const FRONT_DOMID = 1; // the bench's frontend domain

/** What a handshake needs of a protocol: the keys a good frontend writes, with its grants. */
export interface XenbusSubject {
  def: BackendUnderTest;
  /** Keys of the backend directory (the toolstack's: params, mode, mac, ...). */
  backendKeys: Record<string, string>;
  /** The frontend's keys (ring refs granted on `platform`, ports). */
  frontendKeys(platform: FakePlatform): Record<string, string>;
}

export interface HandshakeCtx {
  daemons: Dom0Daemons;
  guest: XsClient;
  platform: FakePlatform;
  be: string;
  fe: string;
  subject: XenbusSubject;
  failed: string | null;
  beState(): Promise<number>;
  feWrite(keys: Record<string, string>): Promise<void>;
  feState(s: S): Promise<void>;
  settle(): Promise<void>;
}

export async function openHandshake(subject: XenbusSubject): Promise<Opened<HandshakeCtx>> {
  const platform = new FakePlatform();
  const daemons = new Dom0Daemons(platform, { blockBackend: false, netBackend: false });
  const backendKey = (_d: DeviceInstance, k: string) => subject.backendKeys[k];
  const ctx = { failed: null as string | null } as HandshakeCtx;
  const driver: BackendDriver = isBackend(subject.def)
    ? new UserBackendDriver(subject.def, platform, backendKey, { syncBoundMs: 300, asyncBoundMs: 1000, onFatal: (_d, m) => (ctx.failed = m) })
    : subject.def.make(platform, backendKey);
  daemons.registerBackend(driver);
  const kind = driver.kind;
  const devid = 0;
  const added = addDevice(daemons.xs, FRONT_DOMID, { kind, devid, backend: { ...subject.backendKeys }, frontend: {} });
  if (!added.ok) throw new Error(`addDevice: ${added.problem ?? added.error}`);
  const guest = new XsClient(daemons.xenstored, { domid: FRONT_DOMID, privileged: false });
  Object.assign(ctx, {
    daemons,
    guest,
    platform,
    subject,
    be: backendPath(kind, FRONT_DOMID, devid),
    fe: frontendPath(kind, FRONT_DOMID, devid),
    beState: async () => Number(await guest.read(`${ctx.be}/state`)),
    feWrite: async (keys: Record<string, string>) => {
      for (const [k, v] of Object.entries(keys)) await guest.write(`${ctx.fe}/${k}`, v);
    },
    feState: (s: S) => guest.write(`${ctx.fe}/state`, String(s)),
    settle: async () => {
      for (let i = 0; i < 3; i++) await daemons.settle();
    },
  });
  return {
    ctx,
    gaveUp: () => ctx.failed,
    close: async () => {
      await guest.write(`${ctx.fe}/state`, String(S.Closed)).catch(() => {});
      await ctx.settle();
      const held = platform.maps.size + platform.ports.size;
      return held ? `${held} grant mappings or ports still held after the frontend closed` : null;
    },
  };
}

const connectedNow = async (c: HandshakeCtx, what: string) => {
  await c.settle();
  const st = await c.beState();
  expectThat(st === S.Connected, `${what}: backend state ${st}, not Connected (4)`);
  expectThat(c.platform.maps.size > 0, `${what}: Connected without mapping the ring`);
};

export const HANDSHAKE_CASES: readonly ConformanceCase<HandshakeCtx>[] = [
  {
    name: 'handshake: features, then InitWait, before the frontend acts',
    run: async (c) => {
      await c.settle();
      expectThat((await c.beState()) === S.InitWait, `backend state ${await c.beState()}, not InitWait (2)`);
    },
  },
  {
    name: 'handshake: frontend Initialised after InitWait -> Connected',
    run: async (c) => {
      await c.settle();
      await c.feWrite(c.subject.frontendKeys(c.platform));
      await c.feState(S.Initialised);
      await connectedNow(c, 'Initialised after InitWait');
    },
  },
  {
    name: 'handshake: frontend Initialised before the backend looked -> Connected',
    run: async (c) => {
      await c.feWrite(c.subject.frontendKeys(c.platform));
      await c.feState(S.Initialised);
      await connectedNow(c, 'Initialised first');
    },
  },
  {
    name: 'handshake: frontend straight to Connected -> Connected',
    run: async (c) => {
      await c.settle();
      await c.feWrite(c.subject.frontendKeys(c.platform));
      await c.feState(S.Connected);
      await connectedNow(c, 'frontend Connected');
    },
  },
  {
    name: 'handshake: frontend Closing -> backend Closed, ring released',
    run: async (c) => {
      await c.feWrite(c.subject.frontendKeys(c.platform));
      await c.feState(S.Initialised);
      await connectedNow(c, 'before closing');
      await c.feState(S.Closing);
      await c.settle();
      const st = await c.beState();
      expectThat(st === S.Closed || st === S.Closing, `backend state ${st} after the frontend's Closing`);
      expectThat(c.platform.maps.size + c.platform.ports.size === 0, 'the ring or port still held after Closing');
    },
  },
  {
    name: 'handshake: reconnect after Closed (Initialising -> InitWait -> Connected)',
    run: async (c) => {
      await c.feWrite(c.subject.frontendKeys(c.platform));
      await c.feState(S.Connected);
      await connectedNow(c, 'first connection');
      await c.feState(S.Closing);
      await c.settle();
      await c.feState(S.Closed);
      await c.settle();
      await c.feState(S.Initialising);
      await c.settle();
      expectThat((await c.beState()) === S.InitWait, `backend state ${await c.beState()} after the frontend came back, not InitWait`);
      await c.feWrite(c.subject.frontendKeys(c.platform)); // a new ring, new grants
      await c.feState(S.Initialised);
      await connectedNow(c, 'second connection');
      expectThat(c.platform.maps.size <= 3, `${c.platform.maps.size} mappings: the first connection's were not released`);
    },
  },
  {
    name: 'handshake: frontend Closed without Closing -> backend lets go',
    run: async (c) => {
      await c.feWrite(c.subject.frontendKeys(c.platform));
      await c.feState(S.Initialised);
      await connectedNow(c, 'before');
      await c.feState(S.Closed);
      await c.settle();
      expectThat(c.platform.maps.size + c.platform.ports.size === 0, 'the ring or port still held after the frontend went Closed');
    },
  },
  {
    name: 'handshake: Initialised with no ring keys -> Closed with an error node',
    hostile: true,
    run: async (c) => {
      await c.settle();
      await c.feState(S.Initialised);
      await c.settle();
      const st = await c.beState();
      expectThat(st === S.Closed || st === S.Closing, `backend state ${st}: connected to a frontend that published no ring`);
      const err = await c.guest.read(`${c.be}/error`).catch(() => undefined);
      expectThat(err !== undefined && err.length > 0, 'no error node for the guest to read');
    },
  },
];

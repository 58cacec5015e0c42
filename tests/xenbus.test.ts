// The XenbusState handshake between a backend in dom0 and a frontend in a guest, through
// dom0's real xenstored. The frontend is played by a XenStore client acting as the guest
// (with the guest's permissions); the backend's data path is a recording test driver.

import { describe, expect, it } from 'vitest';
import { Dom0Daemons } from '../dom0/daemons.ts';
import { XsClient, openXsHandle } from '../dom0/xenstore/index.ts';
import { addDevice, backendErrorPath, backendPath, frontendPath } from '../dom0/toolstack/devices.ts';
import { XENSTORE_PAYLOAD_MAX, XS_TYPE, xsJoinStrings } from '../protocol/xen/xs_wire.ts';
import { XenbusState as S } from '../protocol/xen/xenbus.ts';
import { XenbusBackend, type BackendDriver, type DeviceInstance } from '../dom0/backends/xenbus.ts';
import type { Dom0Platform } from '../dom0/platform.ts';

const noPlatform = {} as Dom0Platform; // the handshake needs no hypervisor

function setup() {
  const d = new Dom0Daemons(noPlatform, { blockBackend: false });
  const log: string[] = [];
  const driver: BackendDriver = {
    kind: 'vbd',
    features: () => ({ 'feature-flush-cache': '1', sectors: '2048', 'sector-size': '512', info: '0' }),
    connect: (dev: DeviceInstance, read) => {
      const ref = read('ring-ref');
      const port = read('event-channel');
      if (!ref || !/^\d+$/.test(ref) || !port) throw new Error(`bad frontend: ring-ref=${ref} event-channel=${port}`);
      log.push(`connect ${dev.domid}/${dev.devid} ring-ref=${ref} port=${port}`);
    },
    disconnect: (dev) => void log.push(`disconnect ${dev.domid}/${dev.devid}`),
  };
  d.registerBackend(driver);
  addDevice(d.xs, 5, { kind: 'vbd', devid: 51712, backend: { params: '/tmp/disk.img', mode: 'w' }, frontend: { 'virtual-device': '51712' } });
  const guest = new XsClient(d.xenstored, { domid: 5, privileged: false });
  const be = backendPath('vbd', 5, 51712);
  const fe = frontendPath('vbd', 5, 51712);
  const state = async (path: string) => Number(await guest.read(`${path}/state`));
  return { d, guest, be, fe, state, log };
}

describe('XenbusState handshake', () => {
  it('goes Initialising -> InitWait -> Connected as the frontend publishes its ring', async () => {
    const { d, guest, be, fe, state, log } = setup();
    await d.settle();
    expect(await state(be)).toBe(S.InitWait);
    expect(await guest.read(`${be}/sectors`)).toBe('2048'); // features before InitWait
    expect(await guest.read(`${fe}/backend`)).toBe(be);
    await guest.write(`${fe}/ring-ref`, '8');
    await guest.write(`${fe}/event-channel`, '4');
    await guest.write(`${fe}/state`, String(S.Initialised));
    await d.settle();
    expect(await state(be)).toBe(S.Connected);
    expect(log).toEqual(['connect 5/51712 ring-ref=8 port=4']);
  });

  it('closes when the frontend closes, and can be offered again', async () => {
    const { d, guest, be, fe, state, log } = setup();
    await d.settle();
    await guest.write(`${fe}/ring-ref`, '8');
    await guest.write(`${fe}/event-channel`, '4');
    await guest.write(`${fe}/state`, String(S.Connected));
    await d.settle();
    await guest.write(`${fe}/state`, String(S.Closing));
    await d.settle();
    expect(await state(be)).toBe(S.Closed);
    expect(log.at(-1)).toBe('disconnect 5/51712');
    await guest.write(`${fe}/state`, String(S.Initialising));
    await d.settle();
    expect(await state(be)).toBe(S.InitWait);
  });

  it('answers a frontend that publishes nonsense with an error and Closed, not a crash', async () => {
    const { d, guest, be, fe, state } = setup();
    await d.settle();
    await guest.write(`${fe}/ring-ref`, 'not-a-number');
    await guest.write(`${fe}/state`, String(S.Initialised));
    await d.settle();
    expect(await state(be)).toBe(S.Closed);
    expect(await guest.read(`${be}/error`)).toMatch(/bad frontend/);
  });

  it("keeps the guest out of the backend's directory and dom0 able to read the frontend's", async () => {
    const { guest, be } = setup();
    await expect(guest.write(`${be}/state`, '4')).rejects.toThrow(/EACCES/);
  });

  it('tears the devices down when the domain is destroyed: online 0, Closing, Closed, then gone', async () => {
    const { d, be } = setup();
    await d.settle();
    // Every write dom0 makes to the device's backend directory, in order.
    const seen: string[] = [];
    const store = d.xenstored.store;
    const write = store.write.bind(store);
    store.write = (caller, path, value, tx) => {
      if (path.startsWith(be)) seen.push(`${path.slice(be.length + 1)}=${new TextDecoder().decode(value)}`);
      return write(caller, path, value, tx);
    };
    await d.domainDestroyed(5);
    await d.settle();
    expect(() => d.xenstored.store.read({ domid: 0, privileged: true }, `${be}/state`)).toThrow();
    expect(seen).toEqual(['online=0', `state=${S.Closing}`, `state=${S.Closed}`]);
  });
});

// dom0's toolstack and backends reach XenStore through XsHandle: requests served by the
// daemon's dispatch (its transactions and limits), failures returned as results.
describe('XenStore access of the toolstack and backends', () => {
  it("announces a device in one transaction: a watcher's first event already sees both directories whole", () => {
    const d = new Dom0Daemons(noPlatform, { blockBackend: false, netBackend: false });
    const be = backendPath('vif', 3, 0);
    const fe = frontendPath('vif', 3, 0);
    const seen: { be: boolean; fe: boolean }[] = [];
    // A watcher that looks at the store the moment each event is queued to it.
    const conn = d.xenstored.connect({
      domid: 0,
      label: 'watcher',
      transport: {
        outputReady: (c) => {
          for (let f = c.takeOutput(); f; f = c.takeOutput()) {
            if (new DataView(f.buffer, f.byteOffset).getUint32(0, true) !== XS_TYPE.WATCH_EVENT) continue;
            seen.push({ be: d.xenstored.store.node(`${be}/state`) !== undefined, fe: d.xenstored.store.node(`${fe}/state`) !== undefined });
          }
        },
        closed: () => {},
      },
    });
    conn.receive({ type: XS_TYPE.WATCH, reqId: 1, txId: 0, payload: xsJoinStrings(['/local/domain', 'w']) });
    seen.length = 0; // the watch's initial event
    const before = d.xs.requests;
    const r = addDevice(d.xs, 3, { kind: 'vif', devid: 0, backend: { mac: '00:16:3e:00:00:01' }, frontend: { mac: '00:16:3e:00:00:01' } });
    expect(r).toEqual({ ok: true, value: undefined });
    expect(seen.length).toBeGreaterThan(10); // each change is still reported, in order
    expect(seen.every((s) => s.be && s.fe)).toBe(true);
    // Every access went through the daemon as requests of the toolstack's connection.
    expect(d.xs.requests - before).toBeGreaterThan(seen.length);
  });

  it('returns a failed write (E2BIG) as a result and leaves nothing of the device', () => {
    const d = new Dom0Daemons(noPlatform, { blockBackend: false, netBackend: false });
    const r = addDevice(d.xs, 4, { kind: 'vbd', devid: 51712, backend: { params: '/tmp/x.img', mode: 'w' }, frontend: { big: 'x'.repeat(XENSTORE_PAYLOAD_MAX) } });
    expect(r).toMatchObject({ ok: false, error: 'E2BIG' });
    expect(d.xenstored.store.node(backendPath('vbd', 4, 51712))).toBeUndefined();
    expect(d.xenstored.store.node('/local/domain/4')).toBeUndefined();
    expect(d.xs.read(`${backendPath('vbd', 4, 51712)}/state`)).toEqual({ ok: false, error: 'ENOENT' });
  });

  it("fails a device whose backend's XenStore write fails (E2BIG), and the pass goes on to the others", async () => {
    const d = new Dom0Daemons(noPlatform, { blockBackend: false, netBackend: false });
    const lines: string[] = [];
    // A driver whose feature for domain 6 does not fit in a XenStore message.
    const driver: BackendDriver = {
      kind: 'vbd',
      features: (dev) => ({ sectors: dev.domid === 6 ? '9'.repeat(XENSTORE_PAYLOAD_MAX) : '2048' }),
      connect: () => {},
      disconnect: () => {},
    };
    for (const domid of [6, 7]) expect(addDevice(d.xs, domid, { kind: 'vbd', devid: 51712, backend: {}, frontend: {} }).ok).toBe(true);
    const b = new XenbusBackend(openXsHandle(d.xenstored, { label: 'test-backend' }), driver, (l) => lines.push(l));
    await expect(b.scan()).resolves.toBeUndefined();
    const read = (p: string) => d.xs.read(p);
    expect(read(`${backendPath('vbd', 6, 51712)}/state`)).toEqual({ ok: true, value: String(S.Closed) });
    expect(read(`${backendErrorPath('vbd', 6, 51712)}/error`)).toEqual({ ok: true, value: '7 publishing features: E2BIG' });
    expect(read(`${backendPath('vbd', 6, 51712)}/sectors`)).toMatchObject({ ok: false }); // nothing of the failed switch
    expect(lines.some((l) => l.includes('publishing features: E2BIG'))).toBe(true);
    expect(read(`${backendPath('vbd', 7, 51712)}/state`)).toEqual({ ok: true, value: String(S.InitWait) });
    expect(read(`${backendPath('vbd', 7, 51712)}/sectors`)).toEqual({ ok: true, value: '2048' });
  });

  it('tears nothing down when its connection is gone (EIO is not "no devices")', async () => {
    const d = new Dom0Daemons(noPlatform, { blockBackend: false, netBackend: false });
    const removed: string[] = [];
    const driver: BackendDriver = { kind: 'vbd', features: () => ({}), connect: () => {}, disconnect: () => {}, remove: (dev) => void removed.push(dev.backend) };
    expect(addDevice(d.xs, 8, { kind: 'vbd', devid: 51712, backend: {}, frontend: {} }).ok).toBe(true);
    const h = openXsHandle(d.xenstored, { label: 'test-backend' });
    const lines: string[] = [];
    const b = new XenbusBackend(h, driver, (l) => lines.push(l));
    await b.scan();
    expect(b.devices.size).toBe(1);
    h.close(); // as xenstored's closeAll does when dom0 stops
    expect(h.read('/local/domain/0/name')).toEqual({ ok: false, error: 'EIO' });
    await b.scan();
    expect(b.devices.size).toBe(1);
    expect(removed).toEqual([]);
    expect(lines.some((l) => l.includes('cannot list the devices'))).toBe(true);
  });
});

// The XenbusState handshake between a backend in dom0 and a frontend in a guest, through
// dom0's real xenstored. The frontend is played by a XenStore client acting as the guest
// (with the guest's permissions); the backend's data path is a recording test driver.

import { describe, expect, it } from 'vitest';
import { Dom0Daemons } from '../dom0/daemons.ts';
import { XsClient } from '../dom0/xenstore/index.ts';
import { addDevice, backendPath, frontendPath } from '../dom0/toolstack/devices.ts';
import { XenbusState as S } from '../protocol/xen/xenbus.ts';
import type { BackendDriver, DeviceInstance } from '../dom0/backends/xenbus.ts';
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

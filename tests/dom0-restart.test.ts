// What lets dom0 restart under running guests (docs/architecture.md, "dom0 restart"):
// XenStore saved to a file and restored with the domains' watches, each restored watch
// firing once when its ring is served again; and a backend that finds a device
// Connected without a ring of its own closing it, so the frontend reconnects.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Xenstored, XsError } from '../dom0/xenstore/index.ts';
import { XenstoreStateFile } from '../dom0/xenstore/persist.ts';
import { XenbusBackend, type BackendDriver } from '../dom0/backends/xenbus.ts';
import { addDevice } from '../dom0/toolstack/devices.ts';
import { XenbusState } from '../protocol/xen/xenbus.ts';
import { DomainConfigs } from '../dom0/toolstack/configs.ts';
import { FakeGuest } from './helpers/xs_fake_guest.ts';

const DOM0 = { domid: 0, privileged: true };
const enc = new TextEncoder();
const dec = new TextDecoder();
const dir = mkdtempSync(join(tmpdir(), 'pvsim-restart-'));
let n = 0;

describe('XenStore across a dom0 restart', () => {
  it('restores nodes, permissions and introduced domains, and re-fires each ring watch once when the ring is served again', () => {
    const file = join(dir, `xs${n++}.json`);
    const a = new Xenstored();
    const saveA = new XenstoreStateFile(file, a);
    saveA.track();
    a.introduceDomain(5, 0x1234, 3);
    a.store.mkdir(DOM0, '/local/domain/5');
    a.store.setPerms(DOM0, '/local/domain/5', [{ domid: 5, mode: 'n' }]);
    a.store.write(DOM0, '/local/domain/0/backend/vbd/5/1/state', enc.encode('4'));
    const g = new FakeGuest().attach(a, 5);
    expect(g.write('/local/domain/5/data', 'kept')).toMatch(/^\d+:OK$/);
    expect(g.call(4 /* XS_WATCH */, ['/local/domain/0/backend/vbd/5/1/state', 'tok'])).toMatch(/OK/);
    g.consume();
    expect(g.events).toEqual([['/local/domain/0/backend/vbd/5/1/state', 'tok']]); // the initial event
    saveA.flush();
    expect(JSON.parse(readFileSync(file, 'utf8')).domains[0].watches).toHaveLength(1);

    // A new daemon (the restarted dom0) from the file.
    const b = new Xenstored();
    expect(new XenstoreStateFile(file, b).restore()).toBe(true);
    expect(dec.decode(b.store.read(DOM0, '/local/domain/5/data'))).toBe('kept');
    expect(b.store.getPerms(DOM0, '/local/domain/5')).toEqual([{ domid: 5, mode: 'n' }]);
    expect(() => b.store.read({ domid: 6, privileged: false }, '/local/domain/5/data')).toThrow(XsError);
    expect(b.isIntroduced(5)).toBe(true);
    // A change made before the ring is served again reaches no one...
    b.store.write(DOM0, '/local/domain/0/backend/vbd/5/1/state', enc.encode('6'));
    g.events.length = 0;
    // ...so the watch fires once when it is, on the same page, where the guest left it.
    g.attach(b, 5);
    g.transport.kick();
    g.consume();
    expect(g.events).toEqual([['/local/domain/0/backend/vbd/5/1/state', 'tok']]);
    expect(g.read('/local/domain/5/data')).toMatch(/kept/);
  });

  it('says there is nothing to restore without a file, and refuses a corrupt one clearly', () => {
    expect(new XenstoreStateFile(join(dir, 'none.json'), new Xenstored()).restore()).toBe(false);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version": 1, "nodes": [');
    expect(() => new XenstoreStateFile(bad, new Xenstored()).restore()).toThrow(/unreadable/);
  });

  it('keeps domain configurations (kernel bytes included) for the restarted toolstack', () => {
    const d = join(dir, 'configs');
    const a = new DomainConfigs(d);
    a.set(3, { name: 'x', kernel: new Uint8Array([1, 2, 3]), memoryMib: 8, onPoweroff: 'destroy' } as never);
    const b = new DomainConfigs(d);
    expect(b.get(3)?.kernel).toEqual(new Uint8Array([1, 2, 3]));
    expect(b.byName('x')).toBe(3);
    b.delete(3);
    expect(new DomainConfigs(d).get(3)).toBeUndefined();
  });
});

describe('a backend that restarts', () => {
  it('closes a device it finds Connected without a ring, then offers it again when the frontend starts over', async () => {
    const xs = new Xenstored();
    const calls: string[] = [];
    const driver: BackendDriver = { kind: 'vbd', features: () => ({ 'feature-x': '1' }), connect: () => void calls.push('connect'), disconnect: () => void calls.push('disconnect') };
    addDevice(xs, 7, { kind: 'vbd', devid: 51712, backend: {}, frontend: {} });
    const be = '/local/domain/0/backend/vbd/7/51712';
    const fe = '/local/domain/7/device/vbd/51712';
    const put = (p: string, v: string) => xs.fire(xs.store.write(DOM0, p, enc.encode(v)));
    const state = (p: string) => Number(dec.decode(xs.store.read(DOM0, `${p}/state`)));
    // What a dead dom0 left: both ends Connected, a ring-ref nobody maps any more.
    put(`${be}/state`, String(XenbusState.Connected));
    put(`${fe}/state`, String(XenbusState.Connected));
    put(`${fe}/ring-ref`, '8');
    const b = new XenbusBackend(xs, driver);
    await b.scan();
    expect(state(be)).toBe(XenbusState.Closed);
    expect(calls).toEqual([]); // the old ring is not trusted
    put(`${fe}/state`, String(XenbusState.Initialising));
    await b.scan();
    expect(state(be)).toBe(XenbusState.InitWait);
    put(`${fe}/ring-ref`, '9');
    put(`${fe}/state`, String(XenbusState.Initialised));
    await b.scan();
    expect(state(be)).toBe(XenbusState.Connected);
    expect(calls).toEqual(['connect']);
  });
});

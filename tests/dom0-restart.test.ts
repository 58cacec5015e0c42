// What lets dom0 restart under running guests (docs/architecture.md, "dom0 restart"):
// XenStore saved to a file and restored with the domains' watches, each restored watch
// firing once when its ring is served again; and a backend that finds a device
// Connected without a ring of its own closing it, so the frontend reconnects.

import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Xenstored, XsError, openXsHandle } from '../dom0/xenstore/index.ts';
import { XenstoreStateFile } from '../dom0/xenstore/persist.ts';
import { XenbusBackend, type BackendDriver } from '../dom0/backends/xenbus.ts';
import { addDevice } from '../dom0/toolstack/devices.ts';
import { XenbusState } from '../protocol/xen/xenbus.ts';
import { DomainConfigs } from '../dom0/toolstack/configs.ts';
import { FakeGuest } from './helpers/xs_fake_guest.ts';
import { encodeXsMessage, XS_TYPE, xsJoinStrings } from '../protocol/xen/xs_wire.ts';
import { PcapWriter, parsePcap, pcapRecord } from '../dom0/backends/net/pcap.ts';

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
    expect(XenstoreStateFile.read(file)!.domains.get(5)!.watches).toHaveLength(1);

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
    // A transaction the old daemon had open: EAGAIN, so the guest starts it over.
    expect(g.call(7 /* XS_TRANSACTION_END */, ['T'], 3)).toBe('ERROR:EAGAIN');
  });

  it('continues a capture a killed dom0 left with a half-written record, dropping the half', () => {
    const file = join(dir, `cap${n++}.pcap`);
    const w = new PcapWriter(file, () => 1000);
    w.write(new Uint8Array(60).fill(1));
    w.close();
    const whole = readFileSync(file);
    writeFileSync(file, Buffer.concat([whole, Buffer.from(pcapRecord(2000, new Uint8Array(60).fill(2)).subarray(0, 30))]));
    const again = new PcapWriter(file, () => 3000, true);
    again.write(new Uint8Array(60).fill(3));
    again.close();
    const cap = parsePcap(readFileSync(file));
    expect(cap.packets.map((p) => [p.timeNs, p.data[0]])).toEqual([
      [1000, 1],
      [3000, 3],
    ]);
  });

  it('carries a request half read and a reply half written across the restart, byte for byte', () => {
    const file = join(dir, `xs${n++}.json`);
    const a = new Xenstored();
    const saveA = new XenstoreStateFile(file, a);
    saveA.track();
    a.introduceDomain(5, 0x1234, 3);
    a.store.write(DOM0, '/local/domain/5', new Uint8Array(0));
    a.store.setPerms(DOM0, '/local/domain/5', [{ domid: 5, mode: 'b' }]);
    a.store.write(DOM0, '/local/domain/5/big', new Uint8Array(3000).fill(0x61));
    const g = new FakeGuest().attach(a, 5);
    // A read whose 3000-byte reply cannot fit the 1 KiB ring: part is written, the rest waits.
    g.produce(encodeXsMessage({ type: XS_TYPE.READ, reqId: 77, txId: 0, payload: xsJoinStrings(['/local/domain/5/big']) }));
    g.transport.kick();
    // And a write, only its first 20 bytes published yet.
    const write = encodeXsMessage({ type: XS_TYPE.WRITE, reqId: 78, txId: 0, payload: new Uint8Array([...new TextEncoder().encode('/local/domain/5/w\0'), 0x7a]) });
    g.consume(); // the guest takes the first 1 KiB of the reply
    g.produce(write.subarray(0, 20));
    g.transport.kick();
    saveA.flush(); // dom0 dies here
    const b = new Xenstored();
    new XenstoreStateFile(file, b).restore();
    g.attach(b, 5);
    g.produce(write.subarray(20));
    for (let i = 0; i < 10; i++) {
      g.transport.kick();
      g.consume();
    }
    const byId = (id: number) => g.replies.find((m) => m.reqId === id);
    expect(byId(77)?.payload.length).toBe(3000);
    expect(byId(77)?.payload.every((x) => x === 0x61)).toBe(true);
    expect(byId(78)?.type).toBe(XS_TYPE.WRITE);
    expect(dec.decode(b.store.read(DOM0, '/local/domain/5/w'))).toBe('z');
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

  it('keeps one copy of a kernel that many domains were made from, in memory and on disk, until the last of them goes', () => {
    const d = join(dir, 'configs-shared');
    const a = new DomainConfigs(d);
    const kernel = () => new Uint8Array(256 * 1024).fill(7); // a new array per request, as each create decodes its own
    for (let id = 1; id <= 50; id++) a.set(id, { name: `g${id}`, kernel: kernel(), memoryMib: 8 } as never);
    a.set(51, { name: 'other', kernel: new Uint8Array([9, 9]), memoryMib: 8 } as never);
    expect(a.kernelCount).toBe(2);
    expect(a.get(1)!.kernel).toBe(a.get(50)!.kernel); // one array, not fifty
    expect(readdirSync(join(d, 'kernels'))).toHaveLength(2);
    expect(readdirSync(d).filter((f) => f.startsWith('domain-'))).toHaveLength(51);
    // A restarted toolstack finds them all, still sharing one copy.
    const b = new DomainConfigs(d);
    expect(b.kernelCount).toBe(2);
    expect(Buffer.from(b.get(7)!.kernel).equals(kernel())).toBe(true);
    expect(b.get(7)!.kernel).toBe(b.get(8)!.kernel);
    for (let id = 1; id <= 49; id++) b.delete(id);
    expect(readdirSync(join(d, 'kernels'))).toHaveLength(2);
    b.delete(50);
    b.delete(51);
    expect(b.kernelCount).toBe(0);
    expect(readdirSync(join(d, 'kernels'))).toHaveLength(0);
  });
});

describe('a backend that restarts', () => {
  it('closes a device it finds Connected without a ring, then offers it again when the frontend starts over', async () => {
    const xs = new Xenstored();
    const calls: string[] = [];
    let featureX = '1';
    const driver: BackendDriver = { kind: 'vbd', features: () => ({ 'feature-x': featureX }), connect: () => void calls.push('connect'), disconnect: () => void calls.push('disconnect') };
    const handle = openXsHandle(xs);
    addDevice(handle, 7, { kind: 'vbd', devid: 51712, backend: {}, frontend: {} });
    const be = '/local/domain/0/backend/vbd/7/51712';
    const fe = '/local/domain/7/device/vbd/51712';
    const put = (p: string, v: string) => xs.fire(xs.store.write(DOM0, p, enc.encode(v)));
    const state = (p: string) => Number(dec.decode(xs.store.read(DOM0, `${p}/state`)));
    // What a dead dom0 left: both ends Connected, a ring-ref nobody maps any more.
    put(`${be}/state`, String(XenbusState.Connected));
    put(`${fe}/state`, String(XenbusState.Connected));
    put(`${fe}/ring-ref`, '8');
    const b = new XenbusBackend(handle, driver);
    await b.scan();
    expect(state(be)).toBe(XenbusState.Closed);
    expect(calls).toEqual([]); // the old ring is not trusted
    featureX = '2'; // this dom0 offers something else than its predecessor
    put(`${fe}/state`, String(XenbusState.Initialising));
    await b.scan();
    expect(state(be)).toBe(XenbusState.InitWait);
    expect(dec.decode(xs.store.read(DOM0, `${be}/feature-x`))).toBe('2');
    put(`${fe}/ring-ref`, '9');
    put(`${fe}/state`, String(XenbusState.Initialised));
    await b.scan();
    expect(state(be)).toBe(XenbusState.Connected);
    expect(calls).toEqual(['connect']);
  });
});

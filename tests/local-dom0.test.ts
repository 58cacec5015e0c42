// dom0's daemons in the hypervisor's process: the store and console channels a domain is
// born with, xenstored answering on the guest's store ring, the console backend draining
// the guest's console ring and feeding it input. The guest side is played here by writing
// its ring pages and notifying its ports, as a PV kernel would.

import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../sim/local.ts';
import { evtchnSend } from '../hypervisor/evtchn/ops.ts';
import { isPortPending } from '../hypervisor/evtchn/index.ts';
import { readStartInfo } from '../protocol/xen/start_info.ts';
import { copyFromGuest } from '../hypervisor/mm/guest_access.ts';
import { XENSTORE_DOMAIN_INTERFACE as XSI, XS_TYPE } from '../protocol/xen/xs_wire.ts';
import { XENCONS } from '../protocol/xen/console.ts';
import { pvImage, SPIN } from './helpers/pv_image.ts';

const MiB = 1024 * 1024;

async function setup() {
  const hv = new Hypervisor({ machineMemoryBytes: 64 * MiB });
  const output: string[] = [];
  const dom0 = startLocalDom0(hv, { onConsole: (_d, b) => output.push(new TextDecoder().decode(b)) });
  const { domain, layout } = hv.createPvDomain(pvImage(SPIN), { name: 'guest1', memoryBytes: 4 * MiB });
  hv.unpause(domain);
  await hv.runAsync({ until: 1_000 }); // dom0 sets the new domain up (a dispatch at once)
  const si = readStartInfo(copyFromGuest(domain.vcpus[0]!.hart, layout.startInfoVa, 4096)!);
  const page = (mfn: number) => hv.mem.frames[mfn]!;
  return { hv, dom0, domain, si, page, output };
}

function xsRequest(ring: Uint8Array, type: number, payload: string, reqId: number): void {
  const dv = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
  const body = new TextEncoder().encode(payload);
  const msg = new Uint8Array(16 + body.length);
  const mdv = new DataView(msg.buffer);
  mdv.setUint32(0, type, true);
  mdv.setUint32(4, reqId, true);
  mdv.setUint32(12, body.length, true);
  msg.set(body, 16);
  let prod = dv.getUint32(XSI.req_prod, true);
  for (const b of msg) ring[XSI.req + (prod++ & 1023)] = b;
  dv.setUint32(XSI.req_prod, prod, true);
}

function xsResponse(ring: Uint8Array): { type: number; reqId: number; payload: string } | null {
  const dv = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
  let cons = dv.getUint32(XSI.rsp_cons, true);
  const prod = dv.getUint32(XSI.rsp_prod, true);
  if (prod - cons < 16) return null;
  const hdr = new Uint8Array(16);
  for (let i = 0; i < 16; i++) hdr[i] = ring[XSI.rsp + ((cons + i) & 1023)]!;
  const h = new DataView(hdr.buffer);
  const len = h.getUint32(12, true);
  const body = new Uint8Array(len);
  for (let i = 0; i < len; i++) body[i] = ring[XSI.rsp + ((cons + 16 + i) & 1023)]!;
  cons += 16 + len;
  dv.setUint32(XSI.rsp_cons, cons, true);
  return { type: h.getUint32(0, true), reqId: h.getUint32(4, true), payload: new TextDecoder().decode(body) };
}

describe('in-process dom0', () => {
  it('gives each domain store and console channels to dom0 and writes its XenStore layout', async () => {
    const { dom0, domain, si } = await setup();
    expect(si.storeEvtchn).toBe(domain.storeEvtchn);
    expect(si.consoleEvtchn).toBe(domain.consoleEvtchn);
    expect(si.storeEvtchn).toBeGreaterThan(0);
    expect(si.consoleEvtchn).not.toBe(si.storeEvtchn);
    const read = (p: string) => new TextDecoder().decode(dom0.xenstored.store.read({ domid: 0, privileged: true }, p));
    expect(read('/local/domain/1/name')).toBe('guest1');
    expect(read('/local/domain/1/memory/target')).toBe('4096');
    expect(read('/local/domain/1/store/port')).toBe(String(si.storeEvtchn));
    expect(read('/local/domain/1/console/ring-ref')).toBe(String(si.consoleMfn));
    expect(dom0.xenstored.isIntroduced(1)).toBe(true);
  });

  it("answers requests on the guest's store ring after dom0's dispatch latency, in virtual time", async () => {
    const { hv, domain, si, page } = await setup();
    const ring = page(si.storeMfn);
    xsRequest(ring, XS_TYPE.READ, 'name\0', 7);
    xsRequest(ring, XS_TYPE.WRITE, 'data/x\0hello', 8);
    expect(evtchnSend(hv, domain, si.storeEvtchn)).toBe(0);
    expect(xsResponse(ring)).toBeNull(); // not before dom0 has run
    await hv.runAsync({ until: hv.now() + 1_000_000 });
    expect(xsResponse(ring)).toEqual({ type: XS_TYPE.READ, reqId: 7, payload: 'guest1' });
    expect(xsResponse(ring)).toEqual({ type: XS_TYPE.WRITE, reqId: 8, payload: 'OK\0' });
    expect(isPortPending(domain, si.storeEvtchn)).toBe(true); // dom0 notified the guest
    // The guest may not write outside its own area.
    xsRequest(ring, XS_TYPE.WRITE, '/local/domain/1/name\0evil', 9);
    evtchnSend(hv, domain, si.storeEvtchn);
    await hv.runAsync({ until: hv.now() + 1_000_000 });
    expect(xsResponse(ring)).toEqual({ type: XS_TYPE.ERROR, reqId: 9, payload: 'EACCES\0' });
  });

  it('drains console output and feeds console input', async () => {
    const { hv, dom0, domain, si, page, output } = await setup();
    const ring = page(si.consoleMfn);
    const dv = new DataView(ring.buffer, ring.byteOffset, ring.byteLength);
    const text = new TextEncoder().encode('hi from the ring\n');
    ring.set(text, XENCONS.out);
    dv.setUint32(XENCONS.out_prod, text.length, true);
    evtchnSend(hv, domain, si.consoleEvtchn);
    await hv.runAsync({ until: hv.now() + 1_000_000 });
    expect(output.join('')).toBe('hi from the ring\n');
    expect(dv.getUint32(XENCONS.out_cons, true)).toBe(text.length);
    expect(new TextDecoder().decode(dom0.consoles.get(1)!.read().bytes)).toBe('hi from the ring\n');
    dom0.consoles.get(1)!.input(new TextEncoder().encode('ls\n'));
    expect(dv.getUint32(XENCONS.in_prod, true)).toBe(3);
    expect(new TextDecoder().decode(ring.subarray(XENCONS.in, XENCONS.in + 3))).toBe('ls\n');
    expect(isPortPending(domain, si.consoleEvtchn)).toBe(true);
  });

  it('survives corrupt console indices without reading past the ring', async () => {
    const { hv, domain, si, page, output } = await setup();
    const ring = page(si.consoleMfn);
    new DataView(ring.buffer, ring.byteOffset).setUint32(XENCONS.out_prod, 0xfffff000, true);
    evtchnSend(hv, domain, si.consoleEvtchn);
    await hv.runAsync({ until: hv.now() + 1_000_000 });
    expect(output).toEqual([]);
  });

  it('releases the domain from xenstored and removes its layout when it is destroyed', async () => {
    const { hv, dom0, domain } = await setup();
    hv.destroyDomain(domain);
    expect(dom0.xenstored.isIntroduced(1)).toBe(false);
    expect(() => dom0.xenstored.store.read({ domid: 0, privileged: true }, '/local/domain/1/name')).toThrow();
    expect(dom0.consoles.has(1)).toBe(false);
  });
});

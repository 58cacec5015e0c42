// The learning bridge on its own: ageing and the per-port bound on learned addresses.

import { describe, expect, it } from 'vitest';
import { AGEING_NS, Bridge, MAX_LEARNED_PER_PORT, type BridgePort } from '../dom0/backends/net/bridge.ts';

function port(name: string): BridgePort & { got: number } {
  const p = { name, got: 0, deliver: () => void p.got++ };
  return p;
}

function frame(dst: number[], src: number[]): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  return f;
}

const mac = (n: number) => [0x00, 0x16, 0x3e, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

describe('bridge', () => {
  it('ages learned addresses out after 300 s without a frame from them (then floods again)', async () => {
    let t = 0;
    const br = new Bridge('xenbr0', () => t);
    const [a, b, c] = [port('a'), port('b'), port('c')];
    for (const p of [a, b, c]) br.attach(p);
    await br.forward(b, frame(mac(1), mac(2))); // b is learned at mac(2)
    await br.forward(a, frame(mac(2), mac(1)));
    expect([b.got, c.got]).toEqual([1, 1]); // the first frame flooded; this one went to b only
    t = AGEING_NS + 1;
    await br.forward(a, frame(mac(2), mac(1)));
    expect([b.got, c.got]).toEqual([2, 2]); // aged out: flooded
    expect(br.lookup('00:16:3e:00:00:02')).toBeUndefined();
  });

  it('learns at most MAX_LEARNED_PER_PORT addresses per port; its frames still flow, and other ports still learn', async () => {
    const br = new Bridge('xenbr0', () => 0);
    const [a, b] = [port('a'), port('b')];
    br.attach(a);
    br.attach(b);
    for (let i = 0; i < MAX_LEARNED_PER_PORT + 100; i++) await br.forward(a, frame(mac(0xffff), mac(0x10000 + i)));
    expect(br.table().length).toBe(MAX_LEARNED_PER_PORT);
    expect(b.got).toBe(MAX_LEARNED_PER_PORT + 100);
    await br.forward(b, frame(mac(0x10000), mac(7)));
    expect(br.lookup('00:16:3e:00:00:07')).toBe(b);
    br.detach(a);
    expect(br.table()).toEqual([['00:16:3e:00:00:07', 'b']]);
  });
});

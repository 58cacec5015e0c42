// A request's time-out (protocol/session.ts): one timer serves every outstanding request's
// deadline, so each must still fail at its own, in deadline order, whatever order they were
// made in, and an answered one must not fail later.

import { afterEach, describe, expect, it } from 'vitest';
import { connect, serve, ProtocolError } from '../protocol/session.ts';

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

describe('request deadlines', () => {
  it('fails each unanswered request at its own time-out and keeps answered ones answered', async () => {
    // `info` is answered at once, `listDomains` never.
    const s = await serve({
      role: 'client',
      token: 't',
      name: 'test',
      now: () => 0,
      onPeer: () => {},
      handler: (req) => (req.info ? { rc: 0 } : new Promise(() => {})),
    });
    closers.push(s.close);
    const { peer } = await connect(s.url, 'client', 't');
    closers.push(() => peer.close());
    const order: number[] = [];
    const t0 = performance.now();
    const at: Record<number, number> = {};
    const fail = (ms: number) =>
      peer.request('listDomains', {}, ms).then(
        () => expect.unreachable('an unanswered request resolved'),
        (e: unknown) => {
          expect(e).toBeInstanceOf(ProtocolError);
          expect((e as Error).message).toContain(`within ${ms} ms`);
          order.push(ms);
          at[ms] = performance.now() - t0;
        },
      );
    const answered = peer.request('info', {}, 60);
    const all = [fail(400), fail(150), fail(40), fail(250)];
    expect((await answered).rc).toBe(0);
    await Promise.all(all);
    expect(order).toEqual([40, 150, 250, 400]);
    for (const ms of [40, 150, 250, 400]) expect(at[ms]!).toBeGreaterThanOrEqual(ms - 2);
    // The connection is still good after its requests timed out.
    expect((await peer.request('info', {}, 5_000)).rc).toBe(0);
  });
});

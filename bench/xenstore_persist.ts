// What persistence costs a XenStore client: a store of 15,000 nodes saved to a state file
// (as dom0 keeps it), one socket client writing a node while another reads one. Each
// figure is the median round trip in ms over `rounds` pairs.

import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startXenstored, Xenstored } from '../dom0/xenstore/index.ts';
import { XenstoreStateFile } from '../dom0/xenstore/persist.ts';
import { encodeXsMessage, latin1ToBytes, XS_TYPE, XsFrameDecoder } from '../protocol/xen/xs_wire.ts';

function client(path: string): Promise<{ call(type: number, payload: string): Promise<number>; close(): void }> {
  return new Promise((resolve) => {
    const s: Socket = connect(path, () => {
      const dec = new XsFrameDecoder();
      const waiting: (() => void)[] = [];
      s.on('data', (b: Buffer) => {
        for (const _m of dec.push(b)) waiting.shift()?.();
      });
      resolve({
        call(type, payload) {
          const t0 = performance.now();
          return new Promise<number>((done) => {
            waiting.push(() => done(performance.now() - t0));
            s.write(encodeXsMessage({ type, reqId: 0, txId: 0, payload: latin1ToBytes(payload) }));
          });
        },
        close: () => s.destroy(),
      });
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function xenstorePersistMs(nodes = 15_000, rounds = 200): Promise<{ writeMs: number; readMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-bench-xs-'));
  const daemon = new Xenstored();
  const state = new XenstoreStateFile(join(dir, 'xenstore.json'), daemon);
  const dom0 = { domid: 0, privileged: true };
  const value = new TextEncoder().encode('x'.repeat(40));
  for (let i = 0; i < nodes; i++) daemon.store.write(dom0, `/local/domain/${i % 200}/data/n${i}`, value);
  state.track();
  state.flush();
  const xsd = await startXenstored({ socketPath: join(dir, 'xs.sock'), daemon });
  const a = await client(xsd.socketPath);
  const b = await client(xsd.socketPath);
  const writes: number[] = [];
  const reads: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const w = a.call(XS_TYPE.WRITE, `/local/domain/1/data/w${i % 50}\0v${i}`);
      const r = b.call(XS_TYPE.READ, `/local/domain/2/data/n2\0`);
      writes.push(await w);
      reads.push(await r);
    }
  } finally {
    a.close();
    b.close();
    await xsd.close();
    state.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { writeMs: median(writes), readMs: median(reads) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  void xenstorePersistMs().then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}

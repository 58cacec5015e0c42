// The PV console ring conformance suite (xen/io/console.h: struct xencons_interface) for a
// console backend (xenconsoled's job): output drained in order across the wrap and at a
// full ring, input fed without overrunning `in`, each side touching only its own indices,
// and hostile indices. The guest's end is played here on the raw page.

import { XENCONS } from '../../../protocol/xen/console.ts';
import { ByteMemory } from '../../../protocol/guest_memory.ts';
import { FakePlatform } from '../harness.ts';
import { expectThat, runConformance, turns, type ConformanceCase, type ConformanceResult } from './common.ts';

/** A console backend for one guest page. */
export interface ConsoleSubject {
  attach(page: Uint8Array, notify: () => void): {
    /** The guest's notification. */
    kick(): void | Promise<void>;
    /** Bytes typed at the console (resolves when they are all in the ring or queued). */
    input(bytes: Uint8Array): Promise<void> | void;
    /** Everything the backend has taken from `out` so far. */
    output(): Uint8Array;
    close(): void;
  };
}

export class ConsoleGuest {
  readonly dv: DataView;
  notified = 0;
  server!: ReturnType<ConsoleSubject['attach']>;
  constructor(readonly page: Uint8Array) {
    this.dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  }
  u32(off: number): number {
    return this.dv.getUint32(off, true);
  }
  set(off: number, v: number): void {
    this.dv.setUint32(off, v >>> 0, true);
  }
  async kick(): Promise<void> {
    await this.server.kick();
    await turns(2);
  }
  /** Writes as much of `bytes` as fits into `out` (as the guest's console driver does); returns the count. */
  write(bytes: Uint8Array): number {
    const prod = this.u32(XENCONS.out_prod);
    const room = XENCONS.OUT_SIZE - ((prod - this.u32(XENCONS.out_cons)) >>> 0);
    const n = Math.min(room, bytes.length);
    for (let i = 0; i < n; i++) this.page[XENCONS.out + ((prod + i) & (XENCONS.OUT_SIZE - 1))] = bytes[i]!;
    this.set(XENCONS.out_prod, prod + n);
    return n;
  }
  /** Takes every byte in `in`. */
  read(): Uint8Array {
    const cons = this.u32(XENCONS.in_cons);
    const n = (this.u32(XENCONS.in_prod) - cons) >>> 0;
    expectThat(n <= XENCONS.IN_SIZE, `in_prod is ${n} bytes past in_cons: more than the ring`);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.page[XENCONS.in + ((cons + i) & (XENCONS.IN_SIZE - 1))]!;
    this.set(XENCONS.in_cons, cons + n);
    return out;
  }
  /** Writes all of `bytes`, kicking as the ring fills. */
  async writeAll(bytes: Uint8Array): Promise<void> {
    for (let off = 0, stuck = 0; off < bytes.length; ) {
      const n = this.write(bytes.subarray(off));
      off += n;
      expectThat(n > 0 || stuck++ < 3, `out stayed full: the backend stopped consuming at byte ${off}`);
      await this.kick();
    }
  }
}

const pattern = (n: number, seed = 0) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);
const show = (a: Uint8Array) => `${a.length} bytes`;

export const CONSOLE_CASES: readonly ConformanceCase<ConsoleGuest>[] = [
  {
    name: 'console: output is taken and out_cons moved to out_prod',
    run: async (c) => {
      c.write(new TextEncoder().encode('hello\n'));
      await c.kick();
      expectThat(new TextDecoder().decode(c.server.output()) === 'hello\n', `output ${JSON.stringify(new TextDecoder().decode(c.server.output()))}`);
      expectThat(c.u32(XENCONS.out_cons) === c.u32(XENCONS.out_prod), 'out_cons not moved to out_prod');
    },
  },
  {
    name: 'console: a full out ring (OUT_SIZE bytes) is taken whole',
    run: async (c) => {
      const p = pattern(XENCONS.OUT_SIZE);
      expectThat(c.write(p) === XENCONS.OUT_SIZE, 'the ring did not take OUT_SIZE bytes');
      await c.kick();
      expectThat(same(c.server.output(), p), `output ${show(c.server.output())} of ${p.length}`);
    },
  },
  {
    name: 'console: output across the ring wrap and the 2^32 index wrap keeps its order',
    run: async (c) => {
      const p = pattern(5 * XENCONS.OUT_SIZE + 333, 3);
      await c.writeAll(p);
      expectThat(same(c.server.output(), p), `output ${show(c.server.output())} of ${p.length}, or out of order`);
      expectThat(c.u32(XENCONS.out_prod) < 0x10000, 'the bench did not cross 2^32');
    },
  },
  {
    name: 'console: every byte value passes unchanged',
    run: async (c) => {
      const p = Uint8Array.from({ length: 256 }, (_, i) => i);
      c.write(p);
      await c.kick();
      expectThat(same(c.server.output(), p), 'bytes changed on the way');
    },
  },
  {
    name: 'console: the backend notifies the guest after taking output (a writer waiting for room wakes)',
    run: async (c) => {
      c.write(pattern(100));
      const before = c.notified;
      await c.kick();
      expectThat(c.notified > before, 'no notification after out_cons moved');
    },
  },
  {
    name: 'console: a spurious notification takes nothing',
    run: async (c) => {
      for (let i = 0; i < 50; i++) await c.kick();
      expectThat(c.server.output().length === 0, 'output with nothing written');
    },
  },
  {
    name: 'console: a notification storm with one byte delivers it once',
    run: async (c) => {
      c.write(Uint8Array.of(0x41));
      await Promise.all(Array.from({ length: 200 }, () => c.server.kick()));
      await turns(4);
      expectThat(same(c.server.output(), Uint8Array.of(0x41)), `output ${show(c.server.output())}`);
    },
  },
  {
    name: 'console: input lands in `in` at in_prod, with a notification',
    run: async (c) => {
      const before = c.notified;
      await c.server.input(new TextEncoder().encode('ls\n'));
      await c.kick();
      expectThat(new TextDecoder().decode(c.read()) === 'ls\n', 'input not in the ring');
      expectThat(c.notified > before, 'no notification for input');
    },
  },
  {
    name: 'console: input of exactly IN_SIZE fills the ring, never more',
    run: async (c) => {
      const p = pattern(XENCONS.IN_SIZE, 9);
      await c.server.input(p);
      await c.kick();
      expectThat(((c.u32(XENCONS.in_prod) - c.u32(XENCONS.in_cons)) >>> 0) <= XENCONS.IN_SIZE, 'in overrun');
      expectThat(same(c.read(), p), 'input of IN_SIZE not whole');
    },
  },
  {
    name: 'console: input larger than the ring waits for the guest to read, then arrives in order',
    run: async (c) => {
      const p = pattern(3 * XENCONS.IN_SIZE + 17, 5);
      const done = Promise.resolve(c.server.input(p));
      const got: number[] = [];
      for (let i = 0; i < 20 && got.length < p.length; i++) {
        await c.kick();
        expectThat(((c.u32(XENCONS.in_prod) - c.u32(XENCONS.in_cons)) >>> 0) <= XENCONS.IN_SIZE, 'in overrun');
        got.push(...c.read());
      }
      await done;
      expectThat(same(Uint8Array.from(got), p), `input ${got.length} bytes of ${p.length}, or out of order`);
    },
  },
  {
    name: 'console: output and input both move on one notification',
    run: async (c) => {
      await c.server.input(Uint8Array.of(1, 2, 3));
      c.read();
      c.write(Uint8Array.of(9, 9));
      await c.server.input(Uint8Array.of(4, 5));
      await c.kick();
      expectThat(same(c.server.output(), Uint8Array.of(9, 9)), 'output not taken');
      expectThat(same(c.read(), Uint8Array.of(4, 5)), 'input not given');
    },
  },
  {
    name: "console: the backend writes only out_cons and in_prod, never the guest's indices",
    run: async (c) => {
      c.write(pattern(10));
      const outProd = c.u32(XENCONS.out_prod);
      const inCons = c.u32(XENCONS.in_cons);
      await c.server.input(pattern(10));
      await c.kick();
      expectThat(c.u32(XENCONS.out_prod) === outProd && c.u32(XENCONS.in_cons) === inCons, "the backend moved the guest's out_prod or in_cons");
    },
  },
  {
    name: 'console: garbage past the indices is ignored and never written',
    run: async (c) => {
      c.page.fill(0xa5, XENCONS.SIZE);
      c.write(pattern(40));
      await c.server.input(pattern(40));
      await c.kick();
      expectThat(c.server.output().length === 40, 'output lost');
      expectThat(c.page.subarray(XENCONS.SIZE).every((x) => x === 0xa5), 'the backend wrote past struct xencons_interface');
    },
  },
  {
    name: 'console: out_prod more than a ring past out_cons: no read past the ring',
    hostile: true,
    run: async (c) => {
      c.set(XENCONS.out_prod, c.u32(XENCONS.out_cons) + 0x7000_0000);
      await c.kick();
      expectThat(c.server.output().length <= XENCONS.OUT_SIZE, `took ${c.server.output().length} bytes from a 2048-byte ring`);
      c.set(XENCONS.out_prod, c.u32(XENCONS.out_cons)); // the guest recovers
      c.write(Uint8Array.of(7));
      await c.kick();
      expectThat(c.server.output().at(-1) === 7, 'the console did not go on after the bad index');
    },
  },
  {
    name: 'console: out_prod moved backwards: no read past the ring',
    hostile: true,
    run: async (c) => {
      c.write(pattern(10));
      await c.kick();
      c.set(XENCONS.out_prod, c.u32(XENCONS.out_prod) - 5);
      await c.kick();
      expectThat(c.server.output().length <= 10 + XENCONS.OUT_SIZE, 'read past the ring');
    },
  },
  {
    name: 'console: in_cons set past in_prod: input never overruns `in` nor touches `out`',
    hostile: true,
    run: async (c) => {
      c.page.fill(0x5c, XENCONS.out, XENCONS.out + XENCONS.OUT_SIZE);
      c.set(XENCONS.in_cons, c.u32(XENCONS.in_prod) + 0x100);
      await c.server.input(pattern(3000));
      await c.kick();
      expectThat(c.page.subarray(XENCONS.out, XENCONS.out + XENCONS.OUT_SIZE).every((x) => x === 0x5c), 'input written into `out`');
      expectThat(c.page.subarray(XENCONS.SIZE).every((x) => x === 0), 'input written past the struct');
    },
  },
  {
    name: 'console: the guest rewriting consumed output does not change what was taken',
    hostile: true,
    run: async (c) => {
      const p = pattern(64, 1);
      c.write(p);
      await c.kick();
      c.page.fill(0xee, XENCONS.out, XENCONS.out + XENCONS.OUT_SIZE);
      await c.kick();
      expectThat(same(c.server.output(), p), 'output changed after it was taken');
    },
  },
];

/** Runs the suite: each case on a fresh page whose indices start 100 bytes short of 2^32. */
export async function consoleConformance(s: ConsoleSubject, only?: string): Promise<ConformanceResult[]> {
  return runConformance(
    CONSOLE_CASES,
    async () => {
      const page = new Uint8Array(4096);
      const g = new ConsoleGuest(page);
      const start = 0x1_0000_0000 - 100;
      for (const k of [XENCONS.in_cons, XENCONS.in_prod, XENCONS.out_cons, XENCONS.out_prod]) g.set(k, start);
      g.server = s.attach(page, () => void g.notified++);
      return { ctx: g, gaveUp: () => null, close: async () => (g.server.close(), null) };
    },
    only,
  );
}

/** pvsim's console backend (dom0/backends/console) as the subject, on the bench's platform. */
export async function pvsimConsole(): Promise<ConsoleSubject> {
  const { ConsoleBackend } = await import('../../../dom0/backends/console/backend.ts');
  return {
    attach(page, notify) {
      const platform = new FakePlatform();
      const remote = 5;
      let port = 0;
      const ready = platform.bindInterdomain(1, remote).then((p) => (port = p));
      const realNotify = platform.notify.bind(platform);
      platform.notify = (p: number) => {
        realNotify(p);
        notify();
      };
      let be: InstanceType<typeof ConsoleBackend> | null = null;
      // One backend however many calls race to the first (the port is bound asynchronously).
      const made = ready.then(() => (be = new ConsoleBackend(platform, 1, { mem: new ByteMemory(page), unmap: () => {} }, port)));
      const backend = () => made;
      return {
        kick: async () => {
          await backend();
          await platform.kick(remote);
        },
        input: async (bytes) => {
          await (await backend()).input(bytes);
        },
        output: () => be?.read(0).bytes ?? new Uint8Array(0),
        close: () => be?.close(),
      };
    },
  };
}

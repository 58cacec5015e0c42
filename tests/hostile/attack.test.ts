// An adversarial review of issue 9's fixes (items 1, 3, 7, 8, 10, 12): the cases that broke
// when they were attacked, each with the fix it needed. In-process servers on loopback
// sockets (the code paths are the ones pvsim's processes run); every server is closed.

import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HypervisorServer } from '../../hypervisor/server/server.ts';
import { startDom0 } from '../../dom0/dom0.ts';
import { XEN_DOMINF } from '../../protocol/xen/domctl.ts';
import { ElfError, parseElf } from '../../xenguest/elf.ts';
import { connect, LOGIN_DEADLINE_MS, MAX_OUTSTANDING, MAX_PENDING, serve, type Peer } from '../../protocol/session.ts';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of closers) await c();
});

describe('one connection carrying the requests of many callers (dom0 forwarding its clients to the hypervisor)', { timeout: 20_000 }, () => {
  it(`keeps at most ${MAX_OUTSTANDING} requests unanswered on the wire, so the peer never cuts it off`, async () => {
    // The hypervisor's side: answers only once released, as a busy one would.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let most = 0;
    let now = 0;
    const server = await serve({
      role: 'dom0',
      token: 't',
      name: 'hv',
      now: () => 0,
      onPeer: () => {},
      handler: async () => {
        most = Math.max(most, ++now);
        await gate;
        now--;
        return { rc: 0 };
      },
    });
    closers.push(server.close);
    const { peer } = await connect(server.url, 'dom0', 't');
    let lost = '';
    (peer as Peer).onClose = (why) => (lost = why);
    // Three clients of dom0, each within its own limit, 600 requests in all.
    const all = Array.from({ length: 600 }, () => peer.request('info', {}, 15_000));
    await new Promise((r) => setTimeout(r, 200));
    release();
    const rs = await Promise.all(all);
    expect(lost).toBe('');
    expect(rs.every((r) => r.rc === 0)).toBe(true);
    expect(most).toBe(MAX_OUTSTANDING);
    peer.close();
  });
});

describe('connections that never log in', { timeout: 20_000 }, () => {
  it(`cannot lock a real client out by holding ${MAX_PENDING} idle connections (no token needed)`, async () => {
    const server = await serve({ role: 'client', token: 't', name: 'dom0', now: () => 0, onPeer: () => {}, handler: () => ({ rc: 0 }) });
    closers.push(server.close);
    const port = Number(new URL(server.url).port);
    const idle: Socket[] = await Promise.all(
      Array.from({ length: MAX_PENDING }, () => new Promise<Socket>((res, rej) => {
        const s = tcpConnect(port, '127.0.0.1', () => res(s));
        s.on('error', rej);
      })),
    );
    const closedIdle = idle.map((s) => new Promise<number>((res) => s.once('close', () => res(Date.now()))));
    for (const s of idle) s.on('error', () => {});
    const t0 = Date.now();
    // Well inside the login deadline: the idle ones all still hold their places.
    for (let i = 0; i < 3; i++) {
      const { peer } = await connect(server.url, 'client', 't');
      expect((await peer.request('info', {})).rc).toBe(0);
      peer.close();
    }
    expect(Date.now() - t0).toBeLessThan(LOGIN_DEADLINE_MS);
    // Each login took the place of the oldest idle connection, no more.
    const gone = idle.filter((s) => s.destroyed || s.readyState === 'closed').length;
    expect(gone).toBeLessThanOrEqual(3);
    for (const s of idle) s.destroy();
    await Promise.all(closedIdle);
  });
});

describe('a client asking to destroy, pause or shut down Domain-0', { timeout: 30_000 }, () => {
  it('is refused (EINVAL) by domid and by name, and Domain-0 stays running', async () => {
    const token = 'hv-attack';
    const server = new HypervisorServer({ token, pcpus: 1, machineMemoryBytes: 64 * 1024 * 1024 });
    const h = await server.start();
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-attack-'));
    const dom0 = await startDom0({ hypervisorUrl: h.url, hypervisorToken: token, clientToken: 'c', xenstoredPath: join(dir, 'xs.sock'), stateFile: join(dir, 'xs.json') });
    closers.push(async () => {
      await dom0.close();
      await h.close();
    });
    const { peer } = await connect(dom0.url, 'client', 'c');
    const cases = [
      ['destroyDomain', { domid: 0 }],
      ['destroyDomain', { name: 'Domain-0' }],
      ['pauseDomain', { domid: 0 }],
      ['unpauseDomain', { domid: 0 }],
      ['shutdownDomain', { domain: { domid: 0 }, reason: 0 }],
    ] as const;
    for (const [op, arg] of cases) {
      const r = await peer.request(op, arg as never);
      expect(r.rc, op).toBe(-22);
      expect(r.error).toMatch(/domain 0 \(Domain-0\) is the control domain/);
    }
    expect(server.hv.domain(0)?.state).toBe('running');
    const d0 = (await peer.request('listDomains', {})).domains!.domains.find((d) => d.domid === 0)!;
    expect(d0.flags & XEN_DOMINF.running).toBeTruthy();
    peer.close();
  });
});

// --- kernel images whose headers point at the same bytes many times -----------------------

/** An ELF32 RISC-V executable header of `size` bytes with `phnum` program headers at 52. */
function elfHeader(size: number, o: { phnum: number; shoff?: number; shnum?: number }): { b: Uint8Array; dv: DataView } {
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1], 0);
  dv.setUint16(16, 2, true); // ET_EXEC
  dv.setUint16(18, 243, true); // EM_RISCV
  dv.setUint32(24, 0x80000000, true);
  dv.setUint32(28, 52, true);
  dv.setUint32(32, o.shoff ?? 0, true);
  dv.setUint16(42, 32, true);
  dv.setUint16(44, o.phnum, true);
  dv.setUint16(46, 40, true);
  dv.setUint16(48, o.shnum ?? 0, true);
  return { b, dv };
}
function phdr(dv: DataView, i: number, p: { type: number; offset: number; vaddr: number; filesz: number; memsz: number }): void {
  const o = 52 + i * 32;
  dv.setUint32(o, p.type, true);
  dv.setUint32(o + 4, p.offset, true);
  dv.setUint32(o + 8, p.vaddr, true);
  dv.setUint32(o + 12, p.vaddr, true);
  dv.setUint32(o + 16, p.filesz, true);
  dv.setUint32(o + 20, p.memsz, true);
  dv.setUint32(o + 24, 5, true);
}

describe('kernel images whose headers repeat (a config author\'s or a client\'s kernel, parsed in dom0)', () => {
  it('256 PT_LOAD segments over the same 1 MiB are not 256 copies of it', () => {
    const size = 1 << 20;
    const { b, dv } = elfHeader(size, { phnum: 256 });
    for (let i = 0; i < 256; i++) phdr(dv, i, { type: 1, offset: 0, vaddr: 0x80000000 + i * size, filesz: size, memsz: size });
    const before = process.memoryUsage().arrayBuffers;
    const img = parseElf(b);
    const grew = process.memoryUsage().arrayBuffers - before;
    expect(img.segments).toHaveLength(256);
    expect(grew).toBeLessThan(16 * size);
  });

  it('20 PT_NOTE segments over the same 256 KiB of empty notes are refused, not parsed 20 times', () => {
    const size = 256 * 1024;
    const { b, dv } = elfHeader(size, { phnum: 21 });
    phdr(dv, 0, { type: 1, offset: 0, vaddr: 0x80000000, filesz: 64, memsz: 64 });
    const start = 52 + 21 * 32;
    const len = size - start - ((size - start) % 12);
    for (let i = 1; i <= 20; i++) phdr(dv, i, { type: 4, offset: start, vaddr: 0, filesz: len, memsz: 0 });
    expect(() => parseElf(b)).toThrow(ElfError);
    expect(() => parseElf(b)).toThrow(/point at the same bytes over and over/);
  });

  it('symbol names that all run to the end of a NUL-free string table are refused, not read again for each', () => {
    const size = 128 * 1024;
    const { b, dv } = elfHeader(size, { phnum: 1, shoff: 84, shnum: 2 });
    b.fill(0x41, 4096);
    phdr(dv, 0, { type: 1, offset: 0, vaddr: 0x80000000, filesz: 64, memsz: 64 });
    const half = (size - 4096) / 2;
    const sh = (i: number, type: number, offset: number, sz: number, link: number) => {
      const o = 84 + i * 40;
      dv.setUint32(o + 4, type, true);
      dv.setUint32(o + 16, offset, true);
      dv.setUint32(o + 20, sz, true);
      dv.setUint32(o + 24, link, true);
      dv.setUint32(o + 36, 16, true);
    };
    sh(0, 2, 4096, half, 1); // SHT_SYMTAB, its strings in section 1
    sh(1, 3, 4096 + half, half, 0); // SHT_STRTAB
    for (let p = 4096, k = 1; p + 16 <= 4096 + half; p += 16, k++) dv.setUint32(p, k, true);
    const t0 = Date.now();
    expect(() => parseElf(b)).toThrow(/symbol table 0: the image's headers point at the same bytes/);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('a disk image that is a FIFO or a device (an xl.cfg disk= line)', () => {
  it('is refused at once, in a separate process since a blocking open would hang the test too', () => {
    const d = mkdtempSync(join(tmpdir(), 'pvsim-hostile-attack-disk-'));
    const fifo = join(d, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const script = `
      import { FileBlockStore } from ${JSON.stringify(join(process.cwd(), 'dom0/backends/blk/store.ts'))};
      for (const [p, ro] of [[${JSON.stringify(fifo)}, true], [${JSON.stringify(fifo)}, false], ['/dev/zero', true]]) {
        try { new FileBlockStore(p, ro); console.log('opened ' + p); } catch (e) { console.log(e.name + ': ' + e.message); }
      }`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
    expect(r.signal, 'the open blocked').toBeNull();
    expect(r.stdout.trim().split('\n')).toEqual([
      `BlockStoreError: cannot open ${fifo}: EINVAL (not a regular file: a file: disk is an image file)`,
      `BlockStoreError: cannot open ${fifo}: EINVAL (not a regular file: a file: disk is an image file)`,
      'BlockStoreError: cannot open /dev/zero: EINVAL (not a regular file: a file: disk is an image file)',
    ]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});

describe('a client writing XenStore through dom0', { timeout: 30_000 }, () => {
  it('is held to one xenstored message (4096 bytes), as on xenstored\'s socket: a 20 MiB value is refused, not stored', async () => {
    const token = 'hv-attack-xs';
    const server = new HypervisorServer({ token, pcpus: 1, machineMemoryBytes: 64 * 1024 * 1024 });
    const h = await server.start();
    const dir = mkdtempSync(join(tmpdir(), 'pvsim-hostile-attack-'));
    const stateFile = join(dir, 'xs.json');
    const dom0 = await startDom0({ hypervisorUrl: h.url, hypervisorToken: token, clientToken: 'c', xenstoredPath: join(dir, 'xs.sock'), stateFile });
    closers.push(async () => {
      await dom0.close();
      await h.close();
    });
    const { peer } = await connect(dom0.url, 'client', 'c');
    const big = await peer.request('xenstore', { op: 'write', path: '/local/domain/0/big', value: new Uint8Array(20 * 1024 * 1024).fill(65) });
    expect(big.rc).toBe(-7);
    expect(big.error).toMatch(/^E2BIG: a xenstore write of 20971540 bytes; one message carries at most 4096$/);
    expect((await peer.request('xenstore', { op: 'read', path: '/local/domain/0/big' })).rc).toBe(-2);
    const perms = await peer.request('xenstore', { op: 'set-perms', path: '/local/domain/0', perms: Array.from({ length: 2000 }, (_, i) => `r${i}`) });
    expect(perms.rc).toBe(-7);
    // A value that fits is fine.
    const ok = await peer.request('xenstore', { op: 'write', path: '/local/domain/0/small', value: new Uint8Array(4000).fill(66) });
    expect(ok.rc, ok.error).toBe(0);
    expect((await peer.request('xenstore', { op: 'read', path: '/local/domain/0/small' })).xenstore?.value?.length).toBe(4000);
    peer.close();
  });
});

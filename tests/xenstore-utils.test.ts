// Debian's xenstore-utils (the real libxenstore clients) against pvsim's xenstored on a
// Unix socket, pointed there with XENSTORED_PATH. Skipped only when the tools are absent
// outside CI; in CI they must be installed and these tests run.

import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XENSTORE_PAYLOAD_MAX, XS_TYPE } from '../protocol/xen/xs_wire.ts';
import { startXenstored, XsClient, type XenstoredServer } from '../dom0/xenstore/index.ts';

const haveUtils = existsSync('/usr/bin/xenstore-ls');
const TOOL_TIMEOUT_MS = 5000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!haveUtils && !process.env.CI)('xenstore-utils against the Unix socket', () => {
  let dir = '';
  let sock = '';
  let server: XenstoredServer;
  let xs: XsClient;

  /** Runs a tool with XENSTORED_PATH set; never waits more than TOOL_TIMEOUT_MS. */
  const run = (tool: string, ...args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile(tool, args, { env: { ...process.env, XENSTORED_PATH: sock }, timeout: TOOL_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      });
    });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pvsim-xs-'));
    sock = join(dir, 'socket');
    server = await startXenstored({ socketPath: sock });
    xs = new XsClient(server.daemon);
  });

  afterAll(async () => {
    xs?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates the socket 0600 and refuses to take over a live one', async () => {
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    await expect(startXenstored({ socketPath: sock })).rejects.toThrow(/already listens/);
  });

  it('xenstore-write / xenstore-read / xenstore-exists', async () => {
    expect(await run('xenstore-write', '/local/domain/1/name', 'guest1', '/local/domain/1/data/x', 'hello world')).toMatchObject({ code: 0 });
    expect(await xs.read('/local/domain/1/data/x')).toBe('hello world');
    expect(await run('xenstore-read', '/local/domain/1/name')).toEqual({ code: 0, stdout: 'guest1\n', stderr: '' });
    expect((await run('xenstore-read', '-p', '/local/domain/1/data/x')).stdout).toBe('/local/domain/1/data/x: hello world\n');
    const missing = await run('xenstore-read', '/local/domain/1/nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/couldn't read path/);
    expect((await run('xenstore-exists', '/local/domain/1/name')).code).toBe(0);
    expect((await run('xenstore-exists', '/local/domain/1/nope')).code).toBe(1);
    // A relative path from dom0's socket is relative to /local/domain/0.
    expect((await run('xenstore-write', 'vm', '/vm/1234')).code).toBe(0);
    expect(await xs.read('/local/domain/0/vm')).toBe('/vm/1234');
  });

  it('xenstore-list and xenstore-ls print the tree', async () => {
    await xs.write('/ls/a/b', '1');
    await xs.write('/ls/a/c', 'two');
    await xs.write('/ls/d', '');
    expect((await run('xenstore-list', '/ls/a')).stdout).toBe('b\nc\n');
    expect((await run('xenstore-ls', '/ls')).stdout).toBe(['a = ""', ' b = "1"', ' c = "two"', 'd = ""', ''].join('\n'));
    expect((await run('xenstore-ls', '-f', '/ls')).stdout).toBe(['/ls/a = ""', '/ls/a/b = "1"', '/ls/a/c = "two"', '/ls/d = ""', ''].join('\n'));
    const whole = await run('xenstore-ls');
    expect(whole.code).toBe(0);
    expect(whole.stdout.split('\n').slice(0, 2)).toEqual(['tool = ""', ' xenstored = ""']);
  });

  it('xenstore-chmod sets permissions (and -r recursively); xenstore-ls -p shows them', async () => {
    await xs.write('/perm/x/y', 'v');
    expect((await run('xenstore-chmod', '/perm', 'n1', 'r2')).code).toBe(0);
    expect(await xs.getPerms('/perm')).toEqual(['n1', 'r2']);
    expect(await xs.getPerms('/perm/x')).toEqual(['n0']);
    expect((await run('xenstore-chmod', '-r', '/perm', 'b3')).code).toBe(0);
    expect(await xs.getPerms('/perm/x/y')).toEqual(['b3']);
    const ls = await run('xenstore-ls', '-p', '/perm');
    expect(ls.stdout.split('\n').filter(Boolean).map((l) => l.replace(/[ .]+\(/, ' (').trim())).toEqual(['x = "" (b3)', 'y = "v" (b3)']);
  });

  it('xenstore-rm removes recursively; -t also removes emptied parents', async () => {
    await xs.write('/rm/a/b/c', '1');
    await xs.write('/rm/keep', 'k');
    expect((await run('xenstore-rm', '/rm/a/b')).code).toBe(0);
    expect(await xs.directory('/rm/a')).toEqual([]);
    expect((await run('xenstore-rm', '-t', '/rm/a')).code).toBe(0);
    expect(await xs.directory('/rm')).toEqual(['keep']);
    await xs.write('/tidy/only/child', '1');
    expect((await run('xenstore-rm', '-t', '/tidy/only/child')).code).toBe(0);
    expect(await xs.exists('/tidy')).toBe(false);
  });

  it('lists a directory too large for one message (DIRECTORY_PART)', async () => {
    const names = Array.from({ length: 300 }, (_, i) => `a-rather-long-child-name-${String(i).padStart(4, '0')}`);
    for (const n of names) await xs.mkdir(`/wide/${n}`);
    const types: number[] = [];
    const d = server.daemon;
    const dispatch = d.dispatch.bind(d);
    d.dispatch = (conn, msg) => {
      types.push(msg.type);
      dispatch(conn, msg);
    };
    try {
      const r = await run('xenstore-list', '/wide');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(names.map((n) => `${n}\n`).join(''));
    } finally {
      d.dispatch = dispatch;
    }
    // libxenstore got E2BIG for DIRECTORY and read the list in parts.
    expect(types).toContain(XS_TYPE.DIRECTORY);
    expect(types.filter((t) => t === XS_TYPE.DIRECTORY_PART).length).toBeGreaterThan(2);
  });

  it('xenstore-watch reports the initial event and later changes, then exits after -n events', async () => {
    await xs.mkdir('/watched');
    const child = spawn('xenstore-watch', ['-n', '3', '/watched'], { env: { ...process.env, XENSTORED_PATH: sock } });
    let out = '';
    const killer = setTimeout(() => child.kill('SIGKILL'), TOOL_TIMEOUT_MS);
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    // The watch is set once the daemon holds it.
    for (let i = 0; i < 100 && !server.daemon.connections.some((c) => c.watches.some((w) => w.path === '/watched')); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await xs.write('/watched/a', '1');
    await xs.write('/unrelated', '1');
    await xs.rm('/watched');
    const code = await exited;
    clearTimeout(killer);
    expect(code).toBe(0);
    expect(out).toBe('/watched\n/watched/a\n/watched\n');
  });

  it('disconnects a socket client announcing an oversized payload, and only that client', async () => {
    const bad = connect(sock);
    const closed = new Promise<void>((resolve) => bad.on('close', () => resolve()));
    bad.on('error', () => {});
    await new Promise<void>((resolve) => bad.on('connect', () => resolve()));
    const header = Buffer.alloc(16);
    header.writeUInt32LE(XS_TYPE.READ, 0);
    header.writeUInt32LE(XENSTORE_PAYLOAD_MAX + 1, 12);
    bad.write(header);
    await closed;
    expect((await run('xenstore-read', '/local/domain/1/name')).stdout).toBe('guest1\n');
  });

  it('recovers a stale socket file left by a dead daemon', async () => {
    const stale = join(dir, 'stale');
    await new Promise<void>((resolve) => {
      const p = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      p.on('close', () => resolve());
    });
    expect(existsSync(stale)).toBe(true);
    const s2 = await startXenstored({ socketPath: stale });
    try {
      const r = await new Promise<Run>((resolve) =>
        execFile('xenstore-read', ['/tool/xenstored'], { env: { ...process.env, XENSTORED_PATH: stale }, timeout: TOOL_TIMEOUT_MS }, (err, stdout, stderr) =>
          resolve({ code: err ? 1 : 0, stdout, stderr }),
        ),
      );
      expect(r).toEqual({ code: 0, stdout: '\n', stderr: '' });
    } finally {
      await s2.close();
    }
    expect(existsSync(stale)).toBe(false);
  });
});

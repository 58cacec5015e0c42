// The dom0 Unix socket transport: every accepted socket is a privileged dom0 connection,
// the way cxenstored serves its socket to the toolstack. Debian's xenstore-utils reach it
// with XENSTORED_PATH=<socket> in their environment (xenstore-ls, -read, -write, ...).
//
// Flow control: replies and events are written to the socket as they are produced; while
// more than SOCKET_PAUSE_BYTES wait in the socket's buffer the daemon stops reading that
// client's requests, and a client with more than the daemon's output limit unread is
// disconnected.

import { existsSync, lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { XsFrameDecoder, XENSTORE_PAYLOAD_MAX } from '../../protocol/xen/xs_wire.ts';
import type { Connection, ConnectionTransport } from './connection.ts';
import type { Store } from './store.ts';
import { DEFAULT_MAX_OUTPUT_BYTES, Xenstored, type XenstoredOptions } from './xenstored.ts';

const SOCKET_PAUSE_BYTES = 16 * (XENSTORE_PAYLOAD_MAX + 16);

export interface XenstoredServer {
  /** The daemon (connections, domains, attachRing's first argument). */
  readonly daemon: Xenstored;
  readonly store: Store;
  readonly socketPath: string;
  /** Stops listening, closes every connection and removes the socket file. */
  close(): Promise<void>;
}

export interface StartXenstoredOptions extends XenstoredOptions {
  socketPath: string;
  /** Serve an existing daemon instead of creating one. */
  daemon?: Xenstored;
}

/** Whether something accepts connections at `path`. */
function socketAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (alive: boolean) => {
      s.destroy();
      resolve(alive);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(1000, () => done(false));
  });
}

/** Accepts `socket` as a privileged dom0 connection of `daemon`. */
export function serveSocket(daemon: Xenstored, socket: Socket, label = 'socket', maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES): Connection {
  const decoder = new XsFrameDecoder();
  let paused = false;
  const transport: ConnectionTransport = {
    outputReady(c) {
      for (let f = c.takeOutput(); f; f = c.takeOutput()) socket.write(f);
      if (socket.writableLength > maxOutputBytes) {
        c.close(`socket client has ${socket.writableLength} bytes unread`);
      } else if (!paused && socket.writableLength > SOCKET_PAUSE_BYTES) {
        paused = true;
        socket.pause();
      }
    },
    closed() {
      socket.destroy();
    },
  };
  const conn = daemon.connect({ domid: 0, privileged: true, transport, label });
  socket.on('data', (chunk: Buffer) => {
    for (const msg of decoder.push(chunk)) {
      if (conn.closed) return;
      conn.receive(msg);
    }
    if (decoder.error) conn.close(`bad frame: payload of ${decoder.error.len} bytes`);
  });
  socket.on('drain', () => {
    if (paused) {
      paused = false;
      socket.resume();
    }
  });
  socket.on('error', () => conn.close('socket error'));
  socket.on('close', () => conn.close('socket closed'));
  return conn;
}

/**
 * Starts xenstored on a Unix socket: removes a stale socket file (refusing if a live
 * daemon answers there), listens, and restricts the socket to its owner (0600).
 */
export async function startXenstored(opts: StartXenstoredOptions): Promise<XenstoredServer> {
  const { socketPath } = opts;
  const daemon = opts.daemon ?? new Xenstored(opts);
  if (existsSync(socketPath)) {
    if (!lstatSync(socketPath).isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
    if (await socketAlive(socketPath)) throw new Error(`a xenstored already listens on ${socketPath}`);
    unlinkSync(socketPath);
  }
  const sockets = new Set<Socket>();
  let n = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveSocket(daemon, socket, `socket#${++n}`, opts.maxOutputBytes);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  let closing: Promise<void> | null = null;
  return {
    daemon,
    store: daemon.store,
    socketPath,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        daemon.closeAll();
        for (const s of sockets) s.destroy();
        try {
          unlinkSync(socketPath);
        } catch {
          // already gone
        }
      });
      return closing;
    },
  };
}

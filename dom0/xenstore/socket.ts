// The dom0 Unix socket transport: every accepted socket is a privileged dom0 connection,
// the way cxenstored serves its socket to the toolstack. Debian's xenstore-utils reach it
// with XENSTORED_PATH=<socket> in their environment (xenstore-ls, -read, -write, ...).
//
// Flow control, as cxenstored: requests are served in order, one at a time; while more than
// SOCKET_PAUSE_BYTES of replies wait in the socket's buffer the daemon serves no further
// request of that client and stops reading it, and carries on when the client has read
// them ('drain'). So a client may pipeline any number of requests. Only watch events piling
// up past the daemon's output limit (a client that reads nothing) end the connection.

import { existsSync, lstatSync, unlinkSync, chmodSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { XsFrameDecoder, XENSTORE_PAYLOAD_MAX, type XsMessage } from '../../protocol/xen/xs_wire.ts';
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
  // Requests read but not yet served: at most what one chunk held, as the socket is
  // paused while any wait. Served in order, one at a time, as cxenstored does.
  let backlog: XsMessage[] = [];
  let paused = false;
  const full = () => socket.writableLength > SOCKET_PAUSE_BYTES;
  const pause = () => {
    if (paused) return;
    paused = true;
    socket.pause();
  };
  // Serves waiting requests until the replies not yet taken by the client fill the budget.
  const serve = () => {
    let i = 0;
    while (i < backlog.length && !conn.closed && !full()) conn.receive(backlog[i++]!);
    backlog = i === backlog.length ? [] : backlog.slice(i);
    if (conn.closed) return;
    if (backlog.length > 0 || full()) pause();
    else if (paused) {
      paused = false;
      socket.resume();
    }
  };
  const transport: ConnectionTransport = {
    outputReady(c) {
      daemon.beforeReplyVisible?.(); // what the reply acknowledges is saved first
      for (let f = c.takeOutput(); f; f = c.takeOutput()) socket.write(f);
      // Replies cannot get here (reading stops at the budget): only watch events for a
      // client that reads none of them, which is what the limit is for.
      if (socket.writableLength > maxOutputBytes) c.close(`socket client has ${socket.writableLength} bytes unread`);
    },
    closed() {
      socket.destroy();
    },
  };
  const conn = daemon.connect({ domid: 0, privileged: true, transport, label });
  socket.on('data', (chunk: Buffer) => {
    if (conn.closed) return;
    for (const msg of decoder.push(chunk)) backlog.push(msg);
    serve();
    if (decoder.error && !conn.closed) conn.close(`bad frame: payload of ${decoder.error.len} bytes`);
  });
  socket.on('drain', serve);
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

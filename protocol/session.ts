// The transport between pvsim's processes: WebSocket binary frames carrying protocol
// Frames, a versioned handshake with a per-run token, request/response correlation, and
// bounds on everything a peer can make us hold (frame size, outstanding requests, unsent
// output). This is the only module that imports ws.

import { timingSafeEqual } from 'node:crypto';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  decodeFrame,
  encodeFrame,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  WireError,
  type Frame,
  type Notice,
  type OpName,
  type PageUpdate,
  type Request,
  type RequestOps,
  type Response,
} from './wire.ts';

/** Requests a peer may have outstanding before it is cut off. */
export const MAX_OUTSTANDING = 256;
/** Unsent output we keep for a peer that does not read before closing it. */
export const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
export const HANDSHAKE_TIMEOUT_MS = 5_000;

export type RequestHandler = (req: Request) => Promise<Omit<Response, 'id'>> | Omit<Response, 'id'>;

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** One authenticated connection, either end. */
export class Peer {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Response) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private inFlight = 0;
  closed = false;
  onNotice: ((n: Notice) => void) | null = null;
  onClose: ((why: string) => void) | null = null;

  constructor(private readonly ws: WebSocket, private readonly handler: RequestHandler | null) {
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('close', (code, reason) => this.shutdown(`connection closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
    ws.on('error', (e) => this.shutdown(`connection error: ${e.message}`));
  }

  /** Sends a request and resolves with its response (rc may be a negative errno). */
  request<K extends OpName>(op: K, arg: RequestOps[K], timeoutMs = 60_000, writes?: PageUpdate[]): Promise<Response> {
    if (this.closed) return Promise.reject(new ProtocolError('connection is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError(`no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ request: { id, ...(writes && writes.length ? { writes } : {}), [op]: arg } as Request });
    });
  }

  notify(notice: Notice): void {
    this.send({ notice });
  }

  close(reason = 'bye'): void {
    if (this.closed) return;
    this.ws.close(1000, reason.slice(0, 120));
    this.shutdown(reason);
  }

  private send(frame: Frame): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.fail(1008, 'peer is not reading its output');
      return;
    }
    this.ws.send(encodeFrame(frame), { binary: true });
  }

  private fail(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason.slice(0, 120));
    this.shutdown(reason);
  }

  private shutdown(why: string): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new ProtocolError(why));
    }
    this.pending.clear();
    this.onClose?.(why);
  }

  private receive(data: RawData, isBinary: boolean): void {
    let frame: Frame;
    try {
      if (!isBinary) throw new WireError('text frames are not part of the protocol');
      frame = decodeFrame(toBytes(data));
    } catch (e) {
      this.fail(1002, e instanceof Error ? e.message : String(e));
      return;
    }
    if (frame.response) {
      const p = this.pending.get(frame.response.id);
      if (!p) return; // late answer to a timed-out request
      this.pending.delete(frame.response.id);
      clearTimeout(p.timer);
      p.resolve(frame.response);
    } else if (frame.request) {
      void this.serve(frame.request);
    } else if (frame.notice) {
      this.onNotice?.(frame.notice);
    } else {
      this.fail(1002, 'unexpected frame after the handshake');
    }
  }

  private async serve(req: Request): Promise<void> {
    if (!this.handler) {
      this.send({ response: { id: req.id, rc: -38, error: 'this side serves no requests' } });
      return;
    }
    if (++this.inFlight > MAX_OUTSTANDING) {
      this.fail(1008, `more than ${MAX_OUTSTANDING} outstanding requests`);
      return;
    }
    try {
      const r = await this.handler(req);
      this.send({ response: { ...r, id: req.id } });
    } catch (e) {
      this.send({ response: { id: req.id, rc: -5, error: `internal error: ${(e as Error).message}` } });
    } finally {
      this.inFlight--;
    }
  }
}

export interface ServeOptions {
  host?: string;
  port?: number;
  /** The role a client must claim, and the token it must present. */
  role: string;
  token: string;
  name: string;
  now: () => number;
  /** A peer passed the handshake; returns its request handler. */
  onPeer: (peer: Peer) => void;
  handler: RequestHandler;
}

/** Listens on loopback (by default) and authenticates every client before serving it. */
export async function serve(opts: ServeOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, maxPayload: MAX_FRAME_BYTES });
  await new Promise<void>((res, rej) => {
    wss.once('listening', res);
    wss.once('error', rej);
  });
  wss.on('connection', (ws) => {
    let done = false;
    const refuse = (reason: string) => {
      done = true;
      try {
        ws.send(encodeFrame({ refused: { reason } }), { binary: true });
      } finally {
        ws.close(1008, reason.slice(0, 120));
      }
    };
    const timer = setTimeout(() => !done && refuse('no hello within the handshake time-out'), HANDSHAKE_TIMEOUT_MS);
    ws.once('message', (data, isBinary) => {
      clearTimeout(timer);
      let frame: Frame;
      try {
        if (!isBinary) throw new WireError('text frames are not part of the protocol');
        frame = decodeFrame(toBytes(data));
      } catch (e) {
        refuse((e as Error).message);
        return;
      }
      const h = frame.hello;
      if (!h) return refuse('the first frame must be hello');
      if (h.version !== PROTOCOL_VERSION) return refuse(`protocol version ${h.version} is not supported (this is ${PROTOCOL_VERSION})`);
      if (!tokensEqual(h.token, opts.token) || h.role !== opts.role) return refuse('authentication failed');
      done = true;
      ws.send(encodeFrame({ welcome: { version: PROTOCOL_VERSION, server: opts.name, nowNs: Math.floor(opts.now()) } }), { binary: true });
      opts.onPeer(new Peer(ws, opts.handler));
    });
  });
  const addr = wss.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `ws://${opts.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((res) => {
        for (const c of wss.clients) c.close(1001, 'server stopping');
        wss.close(() => res());
      }),
  };
}

/** Connects and authenticates; rejects with the server's reason if refused. */
export async function connect(url: string, role: string, token: string, handler: RequestHandler | null = null): Promise<{ peer: Peer; welcome: NonNullable<Frame['welcome']> }> {
  const ws = new WebSocket(url, { maxPayload: MAX_FRAME_BYTES });
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', (e) => rej(new ProtocolError(`cannot connect to ${url}: ${e.message}`)));
  });
  ws.send(encodeFrame({ hello: { version: PROTOCOL_VERSION, role, token } }), { binary: true });
  return await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new ProtocolError('no answer to hello')), HANDSHAKE_TIMEOUT_MS);
    ws.once('message', (data) => {
      clearTimeout(timer);
      let first: Frame;
      try {
        first = decodeFrame(toBytes(data));
      } catch (e) {
        ws.close();
        rej(e);
        return;
      }
      if (first.refused) {
        ws.close();
        rej(new ProtocolError(`refused by ${url}: ${first.refused.reason}`));
        return;
      }
      if (!first.welcome) {
        ws.close();
        rej(new ProtocolError('the server did not answer hello with welcome'));
        return;
      }
      // The peer takes over at once: a request right behind the welcome (same read) must
      // find its listener, not fall between this handler and the next.
      res({ peer: new Peer(ws, handler), welcome: first.welcome });
    });
    ws.once('close', () => rej(new ProtocolError(`${url} closed the connection during the handshake`)));
  });
}

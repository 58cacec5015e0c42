// The transport between pvsim's processes: WebSocket binary frames carrying protocol
// Frames, a versioned handshake with a per-run token, request/response correlation, and
// bounds on everything a peer can make us hold (frame size, outstanding requests, unsent
// output). This is the only module that imports ws.

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
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
import { wallNs, wireStats } from './wire_stats.ts';
import { decodeHot, encodeHot, isHotFrame, HOT_ANSWER, type HotFrame } from './hot_wire.ts';

/** Requests a peer may have outstanding before it is cut off. */
export const MAX_OUTSTANDING = 256;
/** Unsent output we keep for a peer that does not read before closing it. */
export const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/** How long a client waits for the answer to its hello. */
export const HANDSHAKE_TIMEOUT_MS = 5_000;

export type RequestHandler = (req: Request) => Promise<Omit<Response, 'id'>> | Omit<Response, 'id'>;
/** A hot request (protocol/hot_wire.ts: a dispatch or a batch) and what answers it. */
export type HotRequest = Extract<HotFrame, { kind: 'dispatch' | 'batch' | 'ioreq' }>;
export type HotReply<R extends HotRequest> = R extends { kind: 'dispatch' } ? Extract<HotFrame, { kind: 'dispatchDone' }> : R extends { kind: 'ioreq' } ? Extract<HotFrame, { kind: 'ioreqDone' }> : Extract<HotFrame, { kind: 'batchDone' }>;
export type HotHandler = (req: HotRequest) => Promise<HotFrame> | HotFrame;
type Answer = Response | HotFrame;

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
  private readonly pending = new Map<number, { resolve: (r: Answer) => void; reject: (e: Error) => void; deadline: number; timeoutMs: number; op: string; t0: number; hot: string | null }>();
  /**
   * One timer for the earliest deadline of our requests, not one per request (a timer set
   * and cleared per dispatch cost more than the rest of its bookkeeping): when it fires,
   * every request past its deadline fails and the timer is set for the next.
   */
  private deadlineTimer: NodeJS.Timeout | null = null;
  private deadlineAt = Infinity;
  private inFlight = 0;
  /**
   * Our requests not yet sent because MAX_OUTSTANDING of ours are unanswered: the peer
   * closes a connection with more, and one Peer may carry the requests of many callers
   * (dom0 forwards every client's to the hypervisor), so the window is kept here, by the
   * sender. Its length is bounded by the callers (each client of dom0 has at most
   * MAX_OUTSTANDING itself); each entry waits at most its own time-out.
   */
  private readonly waiting: { id: number; bytes: Uint8Array }[] = [];
  closed = false;
  onNotice: ((n: Notice) => void) | null = null;
  /** Serves hot requests (dispatches, batches); without one they are answered with an error. */
  hotHandler: HotHandler | null = null;
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
      // Encoded now, so a request that cannot be encoded fails its caller, not a later send.
      const e0 = wireStats ? wallNs() : 0;
      const bytes = encodeFrame({ request: { id, ...(writes && writes.length ? { writes } : {}), [op]: arg } as Request });
      if (wireStats) {
        wireStats.encodeNs += wallNs() - e0;
        wireStats.out(`req:${op}`, bytes.length);
      }
      this.pending.set(id, { resolve: resolve as (r: Answer) => void, reject, deadline: this.deadline(timeoutMs), timeoutMs, op, t0: wireStats ? wallNs() : 0, hot: null });
      this.waiting.push({ id, bytes });
      this.sendWaiting();
    });
  }

  /**
   * Sends a hot request (protocol/hot_wire.ts) and resolves with its answer. Hot requests
   * share the id space, the window of MAX_OUTSTANDING and the time-out with the others.
   */
  requestHot<R extends HotRequest>(req: Omit<R, 'id'>, timeoutMs = 60_000): Promise<HotReply<R>> {
    if (this.closed) return Promise.reject(new ProtocolError('connection is closed'));
    const id = this.nextId++;
    const e0 = wireStats ? wallNs() : 0;
    let bytes: Uint8Array;
    try {
      bytes = encodeHot({ ...req, id } as unknown as HotFrame);
    } catch (e) {
      return Promise.reject(e);
    }
    if (wireStats) {
      wireStats.encodeNs += wallNs() - e0;
      wireStats.out(`hot:${req.kind}`, bytes.length);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: Answer) => void, reject, deadline: this.deadline(timeoutMs), timeoutMs, op: req.kind, t0: wireStats ? wallNs() : 0, hot: HOT_ANSWER[req.kind] });
      this.waiting.push({ id, bytes });
      this.sendWaiting();
    });
  }

  /** The wall-clock deadline of a request made now, with the timer set for it if it is the earliest. */
  private deadline(timeoutMs: number): number {
    const at = performance.now() + timeoutMs;
    if (at < this.deadlineAt) {
      if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
      this.deadlineAt = at;
      // Unref'd: the open socket keeps the process alive while an answer is due, and an
      // answered request's deadline does not hold up the process's exit.
      this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, timeoutMs)).unref();
    }
    return at;
  }

  /** Fails every request past its deadline; sets the timer for the earliest left. */
  private expire(): void {
    this.deadlineTimer = null;
    this.deadlineAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const [id, p] of [...this.pending]) {
      if (p.deadline > now) {
        next = Math.min(next, p.deadline);
        continue;
      }
      // A request still waiting is dropped; one sent keeps its place in the window until
      // the peer answers it, since the peer counts it until then.
      const w = this.waiting.findIndex((x) => x.id === id);
      if (w >= 0) this.waiting.splice(w, 1);
      this.pending.delete(id);
      p.reject(new ProtocolError(`no answer to ${p.op} within ${p.timeoutMs} ms`));
    }
    if (next !== Infinity) {
      this.deadlineAt = next;
      this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, next - now)).unref();
    }
  }

  /** Ids of our requests sent and not yet answered (or timed out). */
  private readonly sent = new Set<number>();

  private sendWaiting(): void {
    while (this.waiting.length > 0 && this.sent.size < MAX_OUTSTANDING && !this.closed) {
      const w = this.waiting.shift()!;
      this.sent.add(w.id);
      this.sendBytes(w.bytes);
    }
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
    if (!wireStats) return this.sendBytes(encodeFrame(frame));
    const e0 = wallNs();
    const bytes = encodeFrame(frame);
    wireStats.encodeNs += wallNs() - e0;
    wireStats.out(frame.response ? 'rsp' : 'notice', bytes.length);
    this.sendBytes(bytes);
  }

  private sendBytes(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.fail(1008, 'peer is not reading its output');
      return;
    }
    if (!wireStats) return void this.ws.send(bytes, { binary: true });
    const s0 = wallNs();
    this.ws.send(bytes, { binary: true });
    wireStats.sendNs += wallNs() - s0;
  }

  private fail(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.close(code, reason.slice(0, 120));
    this.shutdown(reason);
  }

  private shutdown(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.waiting.length = 0;
    this.sent.clear();
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.deadlineAt = Infinity;
    for (const p of this.pending.values()) p.reject(new ProtocolError(why));
    this.pending.clear();
    this.onClose?.(why);
  }

  private receive(data: RawData, isBinary: boolean): void {
    let frame: Frame;
    try {
      if (!isBinary) throw new WireError('text frames are not part of the protocol');
      const raw = toBytes(data);
      if (isHotFrame(raw)) return this.receiveHot(raw);
      const d0 = wireStats ? wallNs() : 0;
      const bytes = toBytes(data);
      frame = decodeFrame(bytes);
      if (wireStats) {
        wireStats.decodeNs += wallNs() - d0;
        wireStats.in(frame.request ? `req:${Object.keys(frame.request).find((k) => k !== 'id' && k !== 'writes')}` : frame.response ? 'rsp' : 'other', bytes.length);
      }
    } catch (e) {
      this.fail(1002, e instanceof Error ? e.message : String(e));
      return;
    }
    if (frame.response) {
      // Only an answer to a request we sent counts (not one to a request still waiting: a
      // peer that guesses ids). A late answer to a timed-out one frees its place and no more.
      if (!this.sent.delete(frame.response.id)) return;
      this.sendWaiting();
      const p = this.pending.get(frame.response.id);
      if (!p) return;
      this.pending.delete(frame.response.id);
      if (p.hot) {
        this.fail(1002, `a response answers the ${p.op} request ${frame.response.id}`);
        return;
      }
      if (wireStats) {
        wireStats.roundTrips++;
        wireStats.roundTripNs += wallNs() - p.t0;
      }
      p.resolve(frame.response);
    } else if (frame.request) {
      void this.serve(frame.request);
    } else if (frame.notice) {
      this.onNotice?.(frame.notice);
    } else {
      this.fail(1002, 'unexpected frame after the handshake');
    }
  }

  private receiveHot(raw: Uint8Array): void {
    let f: HotFrame;
    try {
      const d0 = wireStats ? wallNs() : 0;
      f = decodeHot(raw);
      if (wireStats) {
        wireStats.decodeNs += wallNs() - d0;
        wireStats.in(`hot:${f.kind}`, raw.length);
      }
    } catch (e) {
      this.fail(1002, e instanceof Error ? e.message : String(e));
      return;
    }
    if (f.kind === 'dispatch' || f.kind === 'batch' || f.kind === 'ioreq') {
      void this.serveHot(f);
      return;
    }
    if (!this.sent.delete(f.id)) return;
    this.sendWaiting();
    const p = this.pending.get(f.id);
    if (!p) return;
    if (p.hot !== f.kind) {
      this.fail(1002, `a ${f.kind} answers the ${p.op} request ${f.id}`);
      return;
    }
    this.pending.delete(f.id);
    if (wireStats) {
      wireStats.roundTrips++;
      wireStats.roundTripNs += wallNs() - p.t0;
    }
    p.resolve(f);
  }

  private async serveHot(req: HotRequest): Promise<void> {
    if (++this.inFlight > MAX_OUTSTANDING) {
      this.fail(1008, `more than ${MAX_OUTSTANDING} outstanding requests`);
      return;
    }
    // An ioreq nobody serves reads all ones (Xen's answer for an address no server claims).
    const refuse = (error: string): HotFrame => (req.kind === 'dispatch' ? { kind: 'dispatchDone', id: req.id, ops: [] } : req.kind === 'ioreq' ? { kind: 'ioreqDone', id: req.id, value: 0xffffffff, ops: [] } : { kind: 'batchDone', id: req.id, rc: -38, error, results: [] });
    let reply: HotFrame;
    try {
      reply = this.hotHandler ? await this.hotHandler(req) : refuse('this side serves no hot requests');
    } catch (e) {
      reply = req.kind !== 'batch' ? refuse('') : { kind: 'batchDone', id: req.id, rc: -5, error: `internal error: ${(e as Error).message}`, results: [] };
    } finally {
      this.inFlight--;
    }
    reply = { ...reply, id: req.id };
    const e0 = wireStats ? wallNs() : 0;
    let bytes: Uint8Array;
    try {
      bytes = encodeHot(reply);
    } catch (e) {
      bytes = encodeHot(req.kind !== 'batch' ? refuse('') : { kind: 'batchDone', id: req.id, rc: -5, error: `internal error: ${(e as Error).message}`, results: [] });
    }
    if (wireStats) {
      wireStats.encodeNs += wallNs() - e0;
      wireStats.out(`hot:${reply.kind}`, bytes.length);
    }
    this.sendBytes(bytes);
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

/** Bytes an unauthenticated peer may send after its upgrade: room for a hello, nothing more. */
export const PRELOGIN_BYTES = 4096;
/** Connections not yet authenticated (TCP accepted, no welcome yet); a new one beyond closes the oldest. */
export const MAX_PENDING = 256;
/** Time from TCP accept to an accepted hello before the server closes the connection. */
export const LOGIN_DEADLINE_MS = 3_000;

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

/**
 * Listens on loopback (by default) and authenticates every client before serving it.
 * Anyone who can reach the port can send anything, so until a peer has logged in it is
 * held to little: error listeners on every socket from accept on (no byte ends the
 * process), PRELOGIN_BYTES after the upgrade, MAX_PENDING such connections at once, and
 * LOGIN_DEADLINE_MS to finish. Only a logged-in peer may send frames up to MAX_FRAME_BYTES.
 */
export async function serve(opts: ServeOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const http = createServer();
  // ws's server-side perMessageDeflate is off by default; stated here because a compressed
  // frame would let a small input become a large one.
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
  wss.on('error', () => {}); // errors belong to single connections, handled below
  /** Connections not yet logged in, and their WebSocket once upgraded. */
  const pending = new Map<Socket, { ws: WebSocket | null; loggedIn: () => void }>();

  http.on('connection', (socket: Socket) => {
    // From the first moment: a reset or garbage ends this connection, never the process.
    socket.on('error', () => socket.destroy());
    // Full: the oldest pending connection makes room, preferring one that has not even sent
    // its upgrade (a real client sends it at once). Refusing the newcomer instead would let
    // anyone who can connect (no token needed) keep MAX_PENDING idle connections open and
    // lock every client, and a restarted dom0, out; this way a flood must open MAX_PENDING
    // connections during a real client's login to stop it.
    if (pending.size >= MAX_PENDING) {
      let victim: Socket | undefined;
      for (const [s, st] of pending) {
        if (st.ws === null) {
          victim = s;
          break;
        }
      }
      victim ??= pending.keys().next().value as Socket;
      pending.delete(victim);
      victim.destroy();
    }
    const deadline = setTimeout(() => {
      if (state.ws) refuse(state.ws, 'no hello within the handshake time-out');
      else socket.destroy();
    }, LOGIN_DEADLINE_MS);
    socket.once('close', () => {
      clearTimeout(deadline);
      pending.delete(socket);
    });
    // Logged in: the deadline and the pending slot no longer apply.
    const loggedIn = () => {
      clearTimeout(deadline);
      pending.delete(socket);
    };
    const state: { ws: WebSocket | null; loggedIn: () => void } = { ws: null, loggedIn };
    pending.set(socket, state);
  });
  // Plain HTTP is not part of the protocol.
  http.on('request', (_req, res) => {
    res.writeHead(426, { Connection: 'close', 'Content-Type': 'text/plain' }).end('pvsim speaks WebSocket only\n');
  });
  http.on('upgrade', (req: IncomingMessage, duplex: Duplex, head: Buffer) => {
    const socket = duplex as Socket;
    const state = pending.get(socket);
    if (!state) return void socket.destroy();
    // ws holds a frame until it is complete, up to maxPayload, and maxPayload is per
    // server: so the pre-login limit is kept here, on the raw bytes, before ws sees them
    // (ws re-emits `head` as data, so it is counted too).
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
      if (received > PRELOGIN_BYTES) socket.destroy();
    };
    socket.on('data', count);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {}); // ws closes the connection itself; the error is only news
      state.ws = ws;
      login(ws, () => {
        socket.removeListener('data', count);
        state.loggedIn();
      });
    });
  });

  const refuse = (ws: WebSocket, reason: string) => {
    if (ws.readyState !== WebSocket.OPEN) return void ws.terminate();
    ws.send(encodeFrame({ refused: { reason } }), { binary: true });
    ws.close(1008, reason.slice(0, 120));
    // A peer that does not answer the close is not waited for (ws would wait 30 s).
    setTimeout(() => ws.terminate(), 1_000).unref();
  };

  const login = (ws: WebSocket, loggedIn: () => void) => {
    ws.once('message', (data, isBinary) => {
      let frame: Frame;
      try {
        if (!isBinary) throw new WireError('text frames are not part of the protocol');
        frame = decodeFrame(toBytes(data));
      } catch (e) {
        refuse(ws, (e as Error).message);
        return;
      }
      const h = frame.hello;
      if (!h) return refuse(ws, 'the first frame must be hello');
      if (h.version !== PROTOCOL_VERSION) return refuse(ws, `protocol version ${h.version} is not supported (this is ${PROTOCOL_VERSION})`);
      if (!tokensEqual(h.token, opts.token) || h.role !== opts.role) return refuse(ws, 'authentication failed');
      loggedIn();
      ws.send(encodeFrame({ welcome: { version: PROTOCOL_VERSION, server: opts.name, nowNs: Math.floor(opts.now()) } }), { binary: true });
      opts.onPeer(new Peer(ws, opts.handler));
    });
  };

  await new Promise<void>((res, rej) => {
    http.once('error', rej);
    http.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      http.removeListener('error', rej);
      res();
    });
  });
  http.on('error', () => {}); // after listen, nothing the server can report ends the process
  const addr = http.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `ws://${opts.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((res) => {
        for (const s of pending.keys()) s.destroy();
        for (const c of wss.clients) c.close(1001, 'server stopping');
        // Peers that do not answer the close handshake are not waited for.
        const t = setTimeout(() => {
          for (const c of wss.clients) c.terminate();
        }, 1_000);
        http.close(() => {
          clearTimeout(t);
          res();
        });
        wss.close();
      }),
  };
}

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/** Connects and authenticates; rejects with the server's reason if refused. */
export async function connect(url: string, role: string, token: string, handler: RequestHandler | null = null): Promise<{ peer: Peer; welcome: NonNullable<Frame['welcome']> }> {
  // A zero masking key: RFC 6455 has clients mask every frame against caching proxies that
  // misread WebSocket traffic as HTTP; pvsim's peers talk over loopback or a private socket
  // behind a token, and masking in JavaScript cost more than the rest of a 20 KB frame's
  // send (ws then skips the XOR on both ends: 20 KB echo round trips 4-6k/s -> 28k/s).
  // handshakeTimeout: a server that accepts the connection and never answers the upgrade (a
  // stopped dom0) must fail the client, not hold it for ever.
  const ws = new WebSocket(url, { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, generateMask: zeroMask, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
  // Listening for errors from the start and for good: a second error (a reset during the
  // handshake, say) must not find no listener and end the process.
  let failed: ((e: Error) => void) | null = null;
  ws.on('error', (e) => failed?.(e));
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    failed = (e) => rej(new ProtocolError(`cannot connect to ${url}: ${e.message}`));
  });
  failed = null;
  ws.send(encodeFrame({ hello: { version: PROTOCOL_VERSION, role, token } }), { binary: true });
  return await new Promise((res, rej) => {
    const timer = setTimeout(() => {
      // Closed too: an open socket left behind would keep the client's process alive.
      ws.terminate();
      rej(new ProtocolError('no answer to hello'));
    }, HANDSHAKE_TIMEOUT_MS);
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

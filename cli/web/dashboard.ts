// `pvsim up --web`: a live dashboard of the running machine, served by `pvsim up` itself on
// the loopback interface. The page is static (it holds no data and is the same for everyone);
// what it shows arrives over one WebSocket that needs the run's client token, the page's own
// origin and a loopback Host (no other site's page, and no DNS-rebound name, can read the
// machine or press its buttons). While at least one page is open, the server samples the
// machine through dom0 as `xl` does — domains, vCPUs, split-device counters, event channels
// and grant tables, the backends' rings — and pushes each sample; the page never polls. An
// action from the page (pause, unpause, shutdown, destroy) goes to dom0 as `xl`'s request
// would, and a fresh sample follows its answer at once.

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import type { Peer } from '../../protocol/session.ts';
import type { OpName, RequestOps, Response } from '../../protocol/wire.ts';
import { SHUTDOWN } from '../../protocol/xen/hypercall.ts';
import { domainStateString } from '../../dom0/toolstack/format.ts';
import { sampleXentop } from '../../dom0/toolstack/xentop.ts';
import { dashboardPage } from './page.ts';

/** Pages open at once; more are refused (each costs a sample stream). */
export const MAX_VIEWERS = 8;
/** Plain HTTP connections open at once (a page load, a refused upgrade); more push out the oldest. */
export const MAX_HTTP_CONNECTIONS = 64;
/** Largest message a page may send (an action is about 60 bytes). */
export const MAX_MESSAGE_BYTES = 1024;
/** Actions one page may have waiting for an answer. */
export const MAX_ACTIONS_IN_FLIGHT = 4;
/** A viewer this far behind (bytes queued to it) misses samples until it catches up. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** A sample that takes longer than this is abandoned (dom0 busy or gone); the next one retries. */
const SAMPLE_TIMEOUT_MS = 10_000;

export interface DashboardOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** The run's client token (what `xl` presents to dom0). */
  token: string;
  /** A client session to dom0 (made again after dom0 restarts). */
  connect: () => Promise<Peer>;
  /** Milliseconds between samples while a page is open. */
  intervalMs?: number;
  log?: (line: string) => void;
  /** How long a connection may take to send its request's headers, or sit idle (default 10 s). */
  headersTimeoutMs?: number;
}

export interface Dashboard {
  /** http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  close(): Promise<void>;
}

const Action = z.strictObject({
  id: z.number().int().nonnegative().max(2 ** 31),
  op: z.enum(['pause', 'unpause', 'shutdown', 'destroy']),
  domid: z.number().int().min(1).max(0x7fef),
});
type Action = z.infer<typeof Action>;

/** What one sample carries (the wire's own records, as dom0 answered them). */
export interface DashboardSample {
  type: 'sample';
  seq: number;
  nowNs: number;
  totalKb: number;
  freeKb: number;
  nrCpus: number;
  /** With xl's state letters (r b p s c d), as `xl list` prints them. */
  domains: (NonNullable<Response['domains']>['domains'][number] & { state: string })[];
  vcpus: NonNullable<Response['vcpus']>['vcpus'];
  devices: NonNullable<Response['deviceStats']>['domains'];
  tables: NonNullable<Response['domainTables']>['domains'];
  rings: NonNullable<Response['backendRings']>['rings'];
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const log = o.log ?? (() => {});
  const intervalMs = Math.max(100, o.intervalMs ?? 1000);
  let port = 0;
  const hosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const page = () => dashboardPage(port);

  // Slow or idle clients cannot hold sockets open for long. Given at creation: the check of
  // headersTimeout runs on connectionsCheckingInterval, whose timer is made with the server
  // (set afterwards, a socket that sends nothing, or a header a second, was held for ever and
  // 64 of them shut the page out). `timeout` ends a socket that sends no byte at all.
  const headersMs = o.headersTimeoutMs ?? 10_000;
  const http = createServer({ headersTimeout: headersMs, requestTimeout: headersMs, connectionsCheckingInterval: Math.min(1000, headersMs) }, (req: IncomingMessage, res: ServerResponse) => {
    const host = req.headers.host ?? '';
    if (!hosts().has(host)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('pvsim dashboard: wrong Host (open it as http://127.0.0.1:PORT/)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/' && path !== '/index.html') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const p = page();
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': p.csp,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : p.html);
  });
  http.timeout = headersMs;
  // At most MAX_HTTP_CONNECTIONS plain HTTP connections; when full, the oldest makes room.
  // Refusing the newcomer instead (maxConnections) let any local process hold that many
  // slow connections and keep the page out; this way it must open them faster than a
  // page loads. A connection leaves the count once upgraded to a page's WebSocket.
  const plain = new Set<Socket>();
  http.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    if (plain.size >= MAX_HTTP_CONNECTIONS) {
      const oldest = plain.values().next().value as Socket;
      plain.delete(oldest);
      oldest.destroy();
    }
    plain.add(socket);
    socket.once('close', () => plain.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
  const viewers = new Set<WebSocket>();

  const refuse = (socket: Duplex, status: number, why: string) => {
    socket.end(`HTTP/1.1 ${status} ${why}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    socket.destroy();
  };
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    plain.delete(socket as Socket);
    const host = req.headers.host ?? '';
    if (!hosts().has(host)) return refuse(socket, 421, 'Misdirected Request');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://${host}`);
    } catch {
      return refuse(socket, 400, 'Bad Request');
    }
    if (url.pathname !== '/ws') return refuse(socket, 404, 'Not Found');
    // Only our own page: a page from any other origin (or a forged Host) cannot connect.
    if (req.headers.origin !== `http://${host}`) return refuse(socket, 403, 'Forbidden');
    if (!sameSecret(url.searchParams.get('token') ?? '', o.token)) return refuse(socket, 403, 'Forbidden');
    if (viewers.size >= MAX_VIEWERS) return refuse(socket, 503, 'Service Unavailable');
    wss.handleUpgrade(req, socket, head, (ws) => onViewer(ws));
  });

  // ---- the machine, through dom0 ----
  let peer: Peer | null = null;
  let connecting: Promise<Peer> | null = null;
  const session = async (): Promise<Peer> => {
    if (peer && !peer.closed) return peer;
    connecting ??= o.connect().then(
      (p) => {
        peer = p;
        connecting = null;
        // Pages hear at once that dom0 went away (killed, restarting), not at the next sample.
        p.onClose = (why: string) => {
          if (peer === p) peer = null;
          if (!closed) broadcast({ type: 'status', error: `the connection to dom0 closed (${why}); reconnecting` });
        };
        return p;
      },
      (e: unknown) => {
        connecting = null;
        throw e;
      },
    );
    return connecting;
  };
  const ask = async <K extends OpName>(op: K, arg: RequestOps[K]): Promise<Response> => {
    const p = await session();
    const r = await withTimeout(p.request(op, arg, SAMPLE_TIMEOUT_MS), SAMPLE_TIMEOUT_MS, op);
    if (r.rc !== 0) throw new Error(`${op}: ${r.error ?? `error ${r.rc}`}`);
    return r;
  };

  let seq = 0;
  // xentop's sample (Domain-0 included, every vCPU) and the two tables only the page shows.
  const sample = async (): Promise<DashboardSample> => {
    const p = await session();
    const [x, tables, rings] = await Promise.all([
      withTimeout(sampleXentop(p, { dom0: true, vcpus: true }), SAMPLE_TIMEOUT_MS, 'xentop sample'),
      ask('domainTables', {}),
      ask('backendRings', {}),
    ]);
    return {
      type: 'sample',
      seq: ++seq,
      nowNs: x.nowNs,
      totalKb: x.totalKb,
      freeKb: x.node?.freeKb ?? 0,
      nrCpus: x.node?.nrCpus ?? 0,
      domains: x.domains.map((d) => ({ ...d, state: domainStateString(d.flags) })),
      vcpus: [...(x.vcpus ?? [])],
      devices: [...x.devices],
      tables: tables.domainTables?.domains ?? [],
      rings: rings.backendRings?.rings ?? [],
    };
  };

  const broadcast = (msg: object) => {
    const text = JSON.stringify(msg);
    for (const ws of viewers) if (ws.readyState === ws.OPEN && ws.bufferedAmount < MAX_BACKLOG_BYTES) ws.send(text);
  };

  // One sampling loop, running only while a page is open; `soon()` asks for a sample now
  // (after an action) without ever running two at once.
  let timer: NodeJS.Timeout | null = null;
  let sampling = false;
  let again = false;
  let closed = false;
  let lastError = '';
  const tick = async () => {
    timer = null;
    if (closed || viewers.size === 0) return;
    if (sampling) {
      again = true;
      return;
    }
    sampling = true;
    try {
      broadcast(await sample());
      lastError = '';
    } catch (e) {
      const why = (e as Error).message;
      if (why !== lastError) log(`dashboard: sample failed: ${why}`);
      lastError = why;
      broadcast({ type: 'status', error: why });
      if (peer?.closed) peer = null;
    } finally {
      sampling = false;
    }
    if (closed || viewers.size === 0) return;
    if (again) {
      again = false;
      void tick();
    } else timer = setTimeout(() => void tick(), intervalMs);
  };
  const soon = () => {
    if (timer) clearTimeout(timer);
    void tick();
  };

  const act = async (a: Action): Promise<Response> => {
    const p = await session();
    const ref = { domid: a.domid };
    const r =
      a.op === 'pause' ? p.request('pauseDomain', ref)
      : a.op === 'unpause' ? p.request('unpauseDomain', ref)
      : a.op === 'destroy' ? p.request('destroyDomain', ref)
      : p.request('shutdownDomain', { domain: ref, reason: SHUTDOWN.poweroff });
    return withTimeout(r, SAMPLE_TIMEOUT_MS, a.op);
  };

  const onViewer = (ws: WebSocket) => {
    viewers.add(ws);
    let inFlight = 0;
    ws.on('error', () => {});
    ws.on('close', () => {
      viewers.delete(ws);
    });
    ws.on('message', (data, isBinary) => {
      // A page that sends and never reads its answers would queue them here without end:
      // past the backlog it is cut off (the page reconnects; its next sample is fresh).
      const reply = (m: object) => {
        if (ws.readyState !== ws.OPEN) return;
        if (ws.bufferedAmount >= MAX_BACKLOG_BYTES) return void ws.terminate();
        ws.send(JSON.stringify(m));
      };
      let parsed: unknown;
      try {
        parsed = isBinary ? undefined : JSON.parse(data.toString());
      } catch {
        parsed = undefined;
      }
      const a = Action.safeParse(parsed);
      if (!a.success) {
        reply({ type: 'result', id: null, rc: -22, error: 'not an action: expected {"id": N, "op": "pause"|"unpause"|"shutdown"|"destroy", "domid": N}' });
        return;
      }
      if (inFlight >= MAX_ACTIONS_IN_FLIGHT) {
        reply({ type: 'result', id: a.data.id, rc: -16, error: 'busy: too many actions waiting' });
        return;
      }
      inFlight++;
      void act(a.data)
        .then(
          (r) => reply({ type: 'result', id: a.data.id, op: a.data.op, domid: a.data.domid, rc: r.rc, error: r.error ?? '' }),
          (e: unknown) => reply({ type: 'result', id: a.data.id, op: a.data.op, domid: a.data.domid, rc: -5, error: (e as Error).message }),
        )
        .finally(() => {
          inFlight--;
          soon();
        });
    });
    soon();
  };

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port, '127.0.0.1', () => {
      http.off('error', reject);
      resolve();
    });
  });
  port = (http.address() as { port: number }).port;
  http.on('error', (e) => log(`dashboard: ${e.message}`));

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const ws of viewers) ws.terminate();
      viewers.clear();
      wss.close();
      peer?.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}

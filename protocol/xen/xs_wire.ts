// XenStore's wire protocol (xen/io/xs_wire.h): message types, the 16-byte header, the
// error names, payload limits, and the xenstore_domain_interface ring page. Both ends use
// this file: dom0/xenstore (the daemon), the in-process client, and tests that play a
// guest. tests/xenstore-wire.test.ts pins every number here to Xen's header.
//
// A message, in either direction, is a header followed by `len` payload bytes:
//
//   offset 0  u32 type     XS_TYPE.*
//          4  u32 req_id   chosen by the client, echoed in the reply
//          8  u32 tx_id    transaction id, 0 outside a transaction
//         12  u32 len      payload bytes that follow, at most XENSTORE_PAYLOAD_MAX
//
// All fields little endian. Payloads are mostly NUL-terminated strings; a reply has the
// request's type, or XS_TYPE.ERROR with the error's name ("ENOENT\0"). Watch events are
// unsolicited XS_TYPE.WATCH_EVENT messages with req_id = tx_id = 0 and `path\0token\0`.
//
// Ring page (one 4 KiB frame per domain, named by start_info.store_mfn):
//
//   0     req[1024]   guest -> daemon byte stream     (guest writes data and req_prod,
//   1024  rsp[1024]   daemon -> guest byte stream      daemon writes req_cons;
//   2048  req_cons    free-running u32 indices;        the reverse for rsp)
//   2052  req_prod    byte x of a stream lives at x mod 1024
//   2056  rsp_cons
//   2060  rsp_prod
//   2064  server_features  XENSTORE_SERVER_FEATURE_* (daemon-written, never cleared)
//   2068  connection       XENSTORE_CONNECTED / XENSTORE_RECONNECT (guest sets 1, daemon 0)
//   2072  error            XENSTORE_ERROR_* (daemon-written when it stops serving a ring)

/** enum xsd_sockmsg_type. */
export const XS_TYPE = {
  CONTROL: 0,
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  INTRODUCE: 8,
  RELEASE: 9,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESUME: 18,
  SET_TARGET: 19,
  // 20 was XS_RESTRICT, removed from Xen.
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
} as const;

/** XS_DEBUG is Xen's older name for XS_CONTROL. */
export const XS_DEBUG = XS_TYPE.CONTROL;
/** Number of type values (XS_TYPE_COUNT); types at or above it are unknown. */
export const XS_TYPE_COUNT = 23;
/** A type value Xen guarantees never to assign (XS_INVALID). */
export const XS_INVALID = 0xffff;

const TYPE_NAMES: string[] = [];
for (const [name, value] of Object.entries(XS_TYPE)) TYPE_NAMES[value] = name;

/** The XS_TYPE name of `type`, or `UNKNOWN(n)`. */
export function xsTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `UNKNOWN(${type >>> 0})`;
}

/**
 * The names in Xen's xsd_errors table, in its order. Errors travel as XS_TYPE.ERROR with
 * the NUL-terminated name; the daemon answers EINVAL for anything outside this table.
 */
export const XSD_ERRORS = [
  'EINVAL',
  'EACCES',
  'EEXIST',
  'EISDIR',
  'ENOENT',
  'ENOMEM',
  'ENOSPC',
  'EIO',
  'ENOTEMPTY',
  'ENOSYS',
  'EROFS',
  'EBUSY',
  'EAGAIN',
  'EISCONN',
  'E2BIG',
  'EPERM',
] as const;

export type XsErrorName = (typeof XSD_ERRORS)[number];

export function isXsErrorName(s: string): s is XsErrorName {
  return (XSD_ERRORS as readonly string[]).includes(s);
}

/** struct xsd_sockmsg, byte offsets. */
export const XSD_SOCKMSG = {
  type: 0,
  req_id: 4,
  tx_id: 8,
  len: 12,
  SIZE: 16,
} as const;

/** Longest payload in either direction; a client that sends more is disconnected. */
export const XENSTORE_PAYLOAD_MAX = 4096;
/** Longest absolute path; longer ones are answered with EINVAL. */
export const XENSTORE_ABS_PATH_MAX = 3072;
/** Longest relative path a client should use. */
export const XENSTORE_REL_PATH_MAX = 2048;

/** enum xs_watch_type: index of each string in a watch event's payload. */
export const XS_WATCH_PATH = 0;
export const XS_WATCH_TOKEN = 1;

/** Bytes in each direction of the ring page. */
export const XENSTORE_RING_SIZE = 1024;

/** struct xenstore_domain_interface, byte offsets. */
export const XENSTORE_DOMAIN_INTERFACE = {
  req: 0, // char[XENSTORE_RING_SIZE]
  rsp: 1024, // char[XENSTORE_RING_SIZE]
  req_cons: 2048,
  req_prod: 2052,
  rsp_cons: 2056,
  rsp_prod: 2060,
  server_features: 2064,
  connection: 2068,
  error: 2072,
  SIZE: 2076,
} as const;

/** server_features bits. */
export const XENSTORE_SERVER_FEATURE_RECONNECTION = 1;
export const XENSTORE_SERVER_FEATURE_ERROR = 2;

/** Values of the `connection` field. */
export const XENSTORE_CONNECTED = 0;
export const XENSTORE_RECONNECT = 1;

/** Values of the `error` field. */
export const XENSTORE_ERROR_NONE = 0;
export const XENSTORE_ERROR_COMM = 1; // communication problem
export const XENSTORE_ERROR_RINGIDX = 2; // inconsistent producer or consumer index
export const XENSTORE_ERROR_PROTO = 3; // protocol violation (payload too long)

/** MASK_XENSTORE_IDX: the ring offset of free-running index `idx`. */
export function maskXenstoreIdx(idx: number): number {
  return idx & (XENSTORE_RING_SIZE - 1);
}

/** Bytes between two free-running u32 indices (prod - cons, modulo 2^32). */
export function ringDistance(prod: number, cons: number): number {
  return (prod - cons) >>> 0;
}

/** One message: a decoded header plus its payload. */
export interface XsMessage {
  type: number;
  reqId: number;
  txId: number;
  payload: Uint8Array;
}

/** The frame (header + payload) for `msg`. Throws if the payload is over `maxPayload`. */
export function encodeXsMessage(msg: XsMessage, maxPayload = XENSTORE_PAYLOAD_MAX): Uint8Array {
  const len = msg.payload.length;
  if (len > maxPayload) throw new RangeError(`xenstore payload of ${len} bytes exceeds ${maxPayload}`);
  const frame = new Uint8Array(XSD_SOCKMSG.SIZE + len);
  const dv = new DataView(frame.buffer);
  dv.setUint32(XSD_SOCKMSG.type, msg.type >>> 0, true);
  dv.setUint32(XSD_SOCKMSG.req_id, msg.reqId >>> 0, true);
  dv.setUint32(XSD_SOCKMSG.tx_id, msg.txId >>> 0, true);
  dv.setUint32(XSD_SOCKMSG.len, len, true);
  frame.set(msg.payload, XSD_SOCKMSG.SIZE);
  return frame;
}

/** Why a byte stream stopped being decodable. */
export interface XsDecodeError {
  kind: 'payload-too-long';
  /** The header that announced it. */
  type: number;
  reqId: number;
  txId: number;
  len: number;
}

/**
 * Splits a byte stream into messages. Bytes may arrive in any chunking; at most one header
 * and one payload (XENSTORE_PAYLOAD_MAX) are buffered. A header announcing more than the
 * maximum is never trusted: the decoder records the error, drops what it holds and
 * refuses further input (the caller closes or resets the connection, as Xen does).
 */
export class XsFrameDecoder {
  private readonly header = new Uint8Array(XSD_SOCKMSG.SIZE);
  private headerUsed = 0;
  private payload: Uint8Array | null = null;
  private payloadUsed = 0;
  private type = 0;
  private reqId = 0;
  private txId = 0;
  private failure: XsDecodeError | null = null;

  constructor(private readonly maxPayload = XENSTORE_PAYLOAD_MAX) {}

  /** The error that stopped decoding, or null. */
  get error(): XsDecodeError | null {
    return this.failure;
  }

  /**
   * Bytes that complete the current header or payload: feeding exactly this many at a
   * time yields messages one by one (a transport that wants to stop between messages).
   */
  get wanted(): number {
    return this.payload === null ? XSD_SOCKMSG.SIZE - this.headerUsed : this.payload.length - this.payloadUsed;
  }

  /** Bytes of an incomplete message held so far. */
  get buffered(): number {
    return this.headerUsed + this.payloadUsed;
  }

  /** Feeds `chunk`; returns the messages it completed (those before an error, if any). */
  push(chunk: Uint8Array): XsMessage[] {
    const out: XsMessage[] = [];
    let pos = 0;
    while (pos < chunk.length && this.failure === null) {
      if (this.payload === null) {
        const n = Math.min(XSD_SOCKMSG.SIZE - this.headerUsed, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + n), this.headerUsed);
        this.headerUsed += n;
        pos += n;
        if (this.headerUsed < XSD_SOCKMSG.SIZE) break;
        const dv = new DataView(this.header.buffer);
        this.type = dv.getUint32(XSD_SOCKMSG.type, true);
        this.reqId = dv.getUint32(XSD_SOCKMSG.req_id, true);
        this.txId = dv.getUint32(XSD_SOCKMSG.tx_id, true);
        const len = dv.getUint32(XSD_SOCKMSG.len, true);
        if (len > this.maxPayload) {
          this.failure = { kind: 'payload-too-long', type: this.type, reqId: this.reqId, txId: this.txId, len };
          this.headerUsed = 0;
          break;
        }
        this.payload = new Uint8Array(len);
        this.payloadUsed = 0;
      }
      const n = Math.min(this.payload.length - this.payloadUsed, chunk.length - pos);
      this.payload.set(chunk.subarray(pos, pos + n), this.payloadUsed);
      this.payloadUsed += n;
      pos += n;
      if (this.payloadUsed === this.payload.length) {
        out.push({ type: this.type, reqId: this.reqId, txId: this.txId, payload: this.payload });
        this.payload = null;
        this.payloadUsed = 0;
        this.headerUsed = 0;
      }
    }
    return out;
  }

  /** The bytes of the incomplete message held so far (feeding them to a new decoder restores this one). */
  pendingBytes(): Uint8Array {
    const out = new Uint8Array(this.buffered);
    out.set(this.header.subarray(0, this.headerUsed), 0);
    if (this.payload) out.set(this.payload.subarray(0, this.payloadUsed), this.headerUsed);
    return out;
  }

  /** Drops any partial message and a recorded error (a ring reconnection). */
  reset(): void {
    this.headerUsed = 0;
    this.payload = null;
    this.payloadUsed = 0;
    this.failure = null;
  }
}

// Payload strings. Paths are ASCII and tokens and values arbitrary bytes, so strings map
// bytes 1:1 to char codes 0..255 (ISO-8859-1): every byte sequence round-trips exactly.

/** Bytes as a string of char codes 0..255. */
export function bytesToLatin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 8192)));
  }
  return s;
}

/** A string of char codes 0..255 as bytes (higher codes keep their low byte). */
export function latin1ToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/**
 * The NUL-terminated strings of a payload, in order. Bytes after the last NUL are not a
 * string (Xen's get_strings ignores them too).
 */
export function xsStrings(payload: Uint8Array): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < payload.length; i++) {
    if (payload[i] === 0) {
      out.push(bytesToLatin1(payload.subarray(start, i)));
      start = i + 1;
    }
  }
  return out;
}

/** Each string followed by a NUL. */
export function xsJoinStrings(strings: readonly string[]): Uint8Array {
  let len = 0;
  for (const s of strings) len += s.length + 1;
  const out = new Uint8Array(len);
  let pos = 0;
  for (const s of strings) {
    for (let i = 0; i < s.length; i++) out[pos++] = s.charCodeAt(i) & 0xff;
    out[pos++] = 0;
  }
  return out;
}

/** The payload of a watch event. */
export function xsWatchEventPayload(path: string, token: string): Uint8Array {
  return xsJoinStrings([path, token]);
}

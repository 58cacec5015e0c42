// Xen's paravirtual network interface (xen/io/netif.h) as compiled for RV32 ilp32.
// tests/xen-abi-io.test.ts pins every number and offset below to Xen's headers.
//
// A vif has two rings, each one granted page with the shared-ring header of xen/io/ring.h
// (SRING in protocol/ring.ts):
//
//   tx ring  guest -> backend packets. The frontend grants the frame holding a packet
//            fragment and queues a netif_tx_request { gref, offset, size, flags, id };
//            the backend copies/maps it out and answers netif_tx_response { id, status }.
//            A packet spanning several slots sets NETTXF_more_data on all but the last;
//            the first slot's `size` is the whole packet's length. NETTXF_extra_info means
//            the next slot holds a netif_extra_info (GSO, multicast, hash) instead.
//   rx ring  backend -> guest packets. The frontend posts empty granted frames as
//            netif_rx_request { id, gref }; the backend copies a packet in (request-rx-copy)
//            and answers netif_rx_response { id, offset, flags, status }, where a
//            non-negative status is the byte count and a negative one NETIF_RSP_*.
//
// All structures contain only 8/16/32-bit fields, so the layout is the same on every
// 32- and 64-bit ABI; RV32 ilp32 has no surprise here.

import { SRING, ringSize } from '../ring.ts';
import { PAGE_SIZE } from './xen.ts';

// ---------------------------------------------------------------------------------------
// Constants.

/** Slots per packet a backend must accept (the historic MAX_SKB_FRAGS + 1 guarantee). */
export const XEN_NETIF_NR_SLOTS_MIN = 18;
/** Largest packet a tx request's `size` can describe. */
export const XEN_NETIF_MAX_TX_SIZE = 0xffff;

/** netif_tx_request.flags. */
export const NETTXF = {
  /** The protocol checksum field is blank; the backend must fill it in. */
  csum_blank: 1 << 0,
  /** The packet's checksum has already been validated. */
  data_validated: 1 << 1,
  /** The packet continues in the next slot. */
  more_data: 1 << 2,
  /** The next slot holds a netif_extra_info. */
  extra_info: 1 << 3,
} as const;

/** netif_rx_response.flags. */
export const NETRXF = {
  /** The packet's checksum has been validated. */
  data_validated: 1 << 0,
  /** The protocol checksum field is blank (partial checksum, to be completed). */
  csum_blank: 1 << 1,
  /** The packet continues in the next response. */
  more_data: 1 << 2,
  /** The next response slot holds a netif_extra_info. */
  extra_info: 1 << 3,
  /** This slot is a GSO prefix descriptor, not packet data (feature-gso-tcpv4-prefix). */
  gso_prefix: 1 << 4,
} as const;

/** Statuses (int16_t) of tx and rx responses; rx's non-negative status is a length. */
export const NETIF_RSP = {
  /** The packet was dropped (e.g. no buffer, filtered). */
  DROPPED: -2,
  ERROR: -1,
  OKAY: 0,
  /** No response: a tx slot that carried a netif_extra_info. */
  NULL: 1,
} as const;

/** netif_extra_info.type. */
export const XEN_NETIF_EXTRA_TYPE = { NONE: 0, GSO: 1, MCAST_ADD: 2, MCAST_DEL: 3, HASH: 4, MAX: 5 } as const;
/** netif_extra_info.flags: another extra-info slot follows. */
export const XEN_NETIF_EXTRA_FLAG_MORE = 1 << 0;
/** netif_extra_info.u.gso.type. */
export const XEN_NETIF_GSO_TYPE = { NONE: 0, TCPV4: 1, TCPV6: 2 } as const;

// ---------------------------------------------------------------------------------------
// Structures.

/** struct netif_tx_request { grant_ref_t gref; uint16_t offset; uint16_t flags; uint16_t id; uint16_t size; } */
export const NETIF_TX_REQUEST = { gref: 0, offset: 4, flags: 6, id: 8, size: 10, SIZE: 12 } as const;

/** struct netif_tx_response { uint16_t id; int16_t status; } */
export const NETIF_TX_RESPONSE = { id: 0, status: 2, SIZE: 4 } as const;

/** struct netif_rx_request { uint16_t id; uint16_t pad; grant_ref_t gref; } */
export const NETIF_RX_REQUEST = { id: 0, pad: 2, gref: 4, SIZE: 8 } as const;

/** struct netif_rx_response { uint16_t id; uint16_t offset; uint16_t flags; int16_t status; } */
export const NETIF_RX_RESPONSE = { id: 0, offset: 2, flags: 4, status: 6, SIZE: 8 } as const;

/**
 * struct netif_extra_info { uint8_t type; uint8_t flags; union { gso { u16 size; u8 type;
 * u8 pad; u16 features; }; mcast { u8 addr[6]; }; hash { u8 type; u8 algorithm; u8 value[4]; };
 * u16 pad[3]; } u; }  — 2 + 6 = 8 bytes; it occupies a whole tx/rx slot when used.
 */
export const NETIF_EXTRA_INFO = {
  type: 0,
  flags: 1,
  u: 2,
  gso_size: 2,
  gso_type: 4,
  gso_features: 6,
  mcast_addr: 2,
  hash_type: 2,
  hash_algorithm: 3,
  hash_value: 4,
  SIZE: 8,
} as const;

/** union netif_tx_sring_entry: max(tx request 12, tx response 4). */
export const NETIF_TX_RING_ENTRY_SIZE = Math.max(NETIF_TX_REQUEST.SIZE, NETIF_TX_RESPONSE.SIZE);
/** union netif_rx_sring_entry: max(rx request 8, rx response 8). */
export const NETIF_RX_RING_ENTRY_SIZE = Math.max(NETIF_RX_REQUEST.SIZE, NETIF_RX_RESPONSE.SIZE);
/** __CONST_RING_SIZE(netif_tx, 4096): (4096 - 64) / 12 = 336, rounded down to 256. */
export const NET_TX_RING_SIZE = ringSize(PAGE_SIZE, NETIF_TX_RING_ENTRY_SIZE);
/** __CONST_RING_SIZE(netif_rx, 4096): (4096 - 64) / 8 = 504, rounded down to 256. */
export const NET_RX_RING_SIZE = ringSize(PAGE_SIZE, NETIF_RX_RING_ENTRY_SIZE);

/** Byte offset of tx ring slot `idx` (free-running) within the tx ring page. */
export function netifTxRingSlot(idx: number): number {
  return SRING.ring + (idx & (NET_TX_RING_SIZE - 1)) * NETIF_TX_RING_ENTRY_SIZE;
}

/** Byte offset of rx ring slot `idx` (free-running) within the rx ring page. */
export function netifRxRingSlot(idx: number): number {
  return SRING.ring + (idx & (NET_RX_RING_SIZE - 1)) * NETIF_RX_RING_ENTRY_SIZE;
}

// ---------------------------------------------------------------------------------------
// Typed read/write helpers.

export interface NetifTxRequest {
  gref: number;
  offset: number;
  flags: number;
  id: number;
  size: number;
}

export interface NetifTxResponse {
  id: number;
  status: number;
}

export interface NetifRxRequest {
  id: number;
  gref: number;
}

export interface NetifRxResponse {
  id: number;
  offset: number;
  flags: number;
  status: number;
}

export type NetifExtraInfo =
  | { type: typeof XEN_NETIF_EXTRA_TYPE.GSO; flags: number; gso: { size: number; type: number; features: number } }
  | { type: typeof XEN_NETIF_EXTRA_TYPE.MCAST_ADD | typeof XEN_NETIF_EXTRA_TYPE.MCAST_DEL; flags: number; mcast: { addr: Uint8Array } }
  | { type: typeof XEN_NETIF_EXTRA_TYPE.HASH; flags: number; hash: { type: number; algorithm: number; value: Uint8Array } }
  /** Any other type: the union's 6 raw bytes. */
  | { type: number; flags: number; raw: Uint8Array };

export function readNetifTxRequest(dv: DataView, off: number): NetifTxRequest {
  return {
    gref: dv.getUint32(off + NETIF_TX_REQUEST.gref, true),
    offset: dv.getUint16(off + NETIF_TX_REQUEST.offset, true),
    flags: dv.getUint16(off + NETIF_TX_REQUEST.flags, true),
    id: dv.getUint16(off + NETIF_TX_REQUEST.id, true),
    size: dv.getUint16(off + NETIF_TX_REQUEST.size, true),
  };
}

export function writeNetifTxRequest(dv: DataView, off: number, r: NetifTxRequest): void {
  dv.setUint32(off + NETIF_TX_REQUEST.gref, r.gref >>> 0, true);
  dv.setUint16(off + NETIF_TX_REQUEST.offset, r.offset, true);
  dv.setUint16(off + NETIF_TX_REQUEST.flags, r.flags, true);
  dv.setUint16(off + NETIF_TX_REQUEST.id, r.id, true);
  dv.setUint16(off + NETIF_TX_REQUEST.size, r.size, true);
}

export function readNetifTxResponse(dv: DataView, off: number): NetifTxResponse {
  return { id: dv.getUint16(off + NETIF_TX_RESPONSE.id, true), status: dv.getInt16(off + NETIF_TX_RESPONSE.status, true) };
}

export function writeNetifTxResponse(dv: DataView, off: number, r: NetifTxResponse): void {
  dv.setUint16(off + NETIF_TX_RESPONSE.id, r.id, true);
  dv.setInt16(off + NETIF_TX_RESPONSE.status, r.status, true);
}

export function readNetifRxRequest(dv: DataView, off: number): NetifRxRequest {
  return { id: dv.getUint16(off + NETIF_RX_REQUEST.id, true), gref: dv.getUint32(off + NETIF_RX_REQUEST.gref, true) };
}

export function writeNetifRxRequest(dv: DataView, off: number, r: NetifRxRequest): void {
  dv.setUint16(off + NETIF_RX_REQUEST.id, r.id, true);
  dv.setUint16(off + NETIF_RX_REQUEST.pad, 0, true);
  dv.setUint32(off + NETIF_RX_REQUEST.gref, r.gref >>> 0, true);
}

export function readNetifRxResponse(dv: DataView, off: number): NetifRxResponse {
  return {
    id: dv.getUint16(off + NETIF_RX_RESPONSE.id, true),
    offset: dv.getUint16(off + NETIF_RX_RESPONSE.offset, true),
    flags: dv.getUint16(off + NETIF_RX_RESPONSE.flags, true),
    status: dv.getInt16(off + NETIF_RX_RESPONSE.status, true),
  };
}

export function writeNetifRxResponse(dv: DataView, off: number, r: NetifRxResponse): void {
  dv.setUint16(off + NETIF_RX_RESPONSE.id, r.id, true);
  dv.setUint16(off + NETIF_RX_RESPONSE.offset, r.offset, true);
  dv.setUint16(off + NETIF_RX_RESPONSE.flags, r.flags, true);
  dv.setInt16(off + NETIF_RX_RESPONSE.status, r.status, true);
}

const bytes = (dv: DataView, off: number, n: number) => new Uint8Array(dv.buffer.slice(dv.byteOffset + off, dv.byteOffset + off + n));

export function readNetifExtraInfo(dv: DataView, off: number): NetifExtraInfo {
  const type = dv.getUint8(off + NETIF_EXTRA_INFO.type);
  const flags = dv.getUint8(off + NETIF_EXTRA_INFO.flags);
  switch (type) {
    case XEN_NETIF_EXTRA_TYPE.GSO:
      return {
        type,
        flags,
        gso: {
          size: dv.getUint16(off + NETIF_EXTRA_INFO.gso_size, true),
          type: dv.getUint8(off + NETIF_EXTRA_INFO.gso_type),
          features: dv.getUint16(off + NETIF_EXTRA_INFO.gso_features, true),
        },
      };
    case XEN_NETIF_EXTRA_TYPE.MCAST_ADD:
    case XEN_NETIF_EXTRA_TYPE.MCAST_DEL:
      return { type, flags, mcast: { addr: bytes(dv, off + NETIF_EXTRA_INFO.mcast_addr, 6) } };
    case XEN_NETIF_EXTRA_TYPE.HASH:
      return {
        type,
        flags,
        hash: {
          type: dv.getUint8(off + NETIF_EXTRA_INFO.hash_type),
          algorithm: dv.getUint8(off + NETIF_EXTRA_INFO.hash_algorithm),
          value: bytes(dv, off + NETIF_EXTRA_INFO.hash_value, 4),
        },
      };
    default:
      return { type, flags, raw: bytes(dv, off + NETIF_EXTRA_INFO.u, 6) };
  }
}

/** Writes an extra-info slot (all 8 bytes; unused union bytes zeroed). */
export function writeNetifExtraInfo(dv: DataView, off: number, e: NetifExtraInfo): void {
  dv.setUint8(off + NETIF_EXTRA_INFO.type, e.type);
  dv.setUint8(off + NETIF_EXTRA_INFO.flags, e.flags);
  for (let i = 0; i < 6; i++) dv.setUint8(off + NETIF_EXTRA_INFO.u + i, 0);
  const put = (at: number, src: Uint8Array, n: number) => {
    for (let i = 0; i < Math.min(n, src.length); i++) dv.setUint8(off + at + i, src[i]!);
  };
  if ('gso' in e) {
    dv.setUint16(off + NETIF_EXTRA_INFO.gso_size, e.gso.size, true);
    dv.setUint8(off + NETIF_EXTRA_INFO.gso_type, e.gso.type);
    dv.setUint16(off + NETIF_EXTRA_INFO.gso_features, e.gso.features, true);
  } else if ('mcast' in e) {
    put(NETIF_EXTRA_INFO.mcast_addr, e.mcast.addr, 6);
  } else if ('hash' in e) {
    dv.setUint8(off + NETIF_EXTRA_INFO.hash_type, e.hash.type);
    dv.setUint8(off + NETIF_EXTRA_INFO.hash_algorithm, e.hash.algorithm);
    put(NETIF_EXTRA_INFO.hash_value, e.hash.value, 4);
  } else {
    put(NETIF_EXTRA_INFO.u, e.raw, 6);
  }
}

// ---------------------------------------------------------------------------------------
// XenStore nodes. Frontend nodes live under /local/domain/<domU>/device/vif/<n>/,
// backend nodes under /local/domain/<backend>/backend/vif/<domU>/<n>/.

/** Nodes the frontend (or the toolstack, in its directory) writes. */
export const NETFRONT_KEY = {
  /** Grant reference of the tx ring page. */
  tx_ring_ref: 'tx-ring-ref',
  /** Grant reference of the rx ring page. */
  rx_ring_ref: 'rx-ring-ref',
  /** Event channel port for both rings (when not split). */
  event_channel: 'event-channel',
  /** Event channel port for the tx ring (with feature-split-event-channels). */
  event_channel_tx: 'event-channel-tx',
  /** Event channel port for the rx ring (with feature-split-event-channels). */
  event_channel_rx: 'event-channel-rx',
  /** Boolean: the backend must copy received packets into the posted frames (not flip pages). */
  request_rx_copy: 'request-rx-copy',
  /** Boolean: the frontend sets rsp_event on the rx ring, so the backend may queue packets. */
  feature_rx_notify: 'feature-rx-notify',
  /** Boolean: the frontend accepts multi-slot (scatter-gather) rx packets. */
  feature_sg: 'feature-sg',
  /** Boolean: the frontend accepts TCPv4 GSO packets. */
  feature_gso_tcpv4: 'feature-gso-tcpv4',
  /** Boolean: the frontend accepts TCPv6 GSO packets. */
  feature_gso_tcpv6: 'feature-gso-tcpv6',
  /** Boolean: "1" turns IPv4 TCP/UDP checksum offload off (default on). */
  feature_no_csum_offload: 'feature-no-csum-offload',
  /** Boolean: IPv6 TCP/UDP checksum offload on (default off). */
  feature_ipv6_csum_offload: 'feature-ipv6-csum-offload',
  /** Number of queues the frontend uses (each under queue-N/). */
  multi_queue_num_queues: 'multi-queue-num-queues',
  /** Boolean: the backend should filter multicast by the frontend's list. */
  request_multicast_control: 'request-multicast-control',
  /** Grant reference of the control ring page. */
  ctrl_ring_ref: 'ctrl-ring-ref',
  /** Event channel port of the control ring. */
  event_channel_ctrl: 'event-channel-ctrl',
  /** Toolstack: the vif's MAC address, "aa:bb:cc:dd:ee:ff". */
  mac: 'mac',
  /** Toolstack: MTU in octets (default 1500). */
  mtu: 'mtu',
  /** Toolstack: boolean, "0" = the frontend should not trust the backend. */
  trusted: 'trusted',
} as const;

/** Nodes the backend (or the toolstack, in its directory) writes. */
export const NETBACK_KEY = {
  /** Toolstack: the vif's index within the domain. */
  handle: 'handle',
  /** Toolstack: the vif's MAC address (the frontend's copy is in its own directory). */
  mac: 'mac',
  /** Boolean: the backend can copy into rx frames (request-rx-copy may be set). */
  feature_rx_copy: 'feature-rx-copy',
  /** Boolean: the backend can flip pages into rx frames (legacy). */
  feature_rx_flip: 'feature-rx-flip',
  /** Boolean: the backend accepts multi-slot (scatter-gather) tx packets. */
  feature_sg: 'feature-sg',
  /** Boolean: the backend accepts TCPv4 GSO packets. */
  feature_gso_tcpv4: 'feature-gso-tcpv4',
  /** Boolean: the backend accepts TCPv6 GSO packets. */
  feature_gso_tcpv6: 'feature-gso-tcpv6',
  /** Boolean: IPv6 TCP/UDP checksum offload supported. */
  feature_ipv6_csum_offload: 'feature-ipv6-csum-offload',
  /** Boolean: separate tx and rx event channels supported. */
  feature_split_event_channels: 'feature-split-event-channels',
  /** Most queues the backend supports. */
  multi_queue_max_queues: 'multi-queue-max-queues',
  /** Boolean: multicast filtering, sampled when the frontend connects. */
  feature_multicast_control: 'feature-multicast-control',
  /** Boolean: multicast filtering, re-sampled on every change of request-multicast-control. */
  feature_dynamic_multicast_control: 'feature-dynamic-multicast-control',
  /** Boolean: the backend serves a control ring. */
  feature_ctrl_ring: 'feature-ctrl-ring',
  /** Link state: "1" carrier up, "0" down; absent = up. */
  carrier: 'carrier',
} as const;

// Checksum completion for frames a frontend sent with NETTXF_csum_blank (checksum offload,
// on unless the frontend writes feature-no-csum-offload=1). As with Linux's
// CHECKSUM_PARTIAL, the TCP or UDP checksum field then holds the folded sum of the
// pseudo-header only; summing the segment as it stands, folding and inverting gives the
// real checksum. netback completes it before the frame enters the bridge, so receivers
// (told NETRXF_data_validated) and the pcap capture see a correct frame.

const ETH_P_IPV4 = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** Where the transport segment and its checksum field are, or null if this is no TCP/UDP frame we can complete. */
export function l4Location(f: Uint8Array): { start: number; end: number; field: number; udp: boolean } | null {
  const be16 = (o: number) => ((f[o] ?? 0) << 8) | (f[o + 1] ?? 0);
  let l3 = 14;
  let type = be16(12);
  while ((type === ETH_P_8021Q || type === ETH_P_8021AD) && l3 + 4 <= f.length) {
    type = be16(l3 + 2);
    l3 += 4;
  }
  let proto: number;
  let start: number;
  let end: number;
  if (type === ETH_P_IPV4) {
    if (l3 + 20 > f.length || (f[l3]! >> 4) !== 4) return null;
    const ihl = (f[l3]! & 0xf) * 4;
    const total = be16(l3 + 2);
    if (ihl < 20 || total < ihl || l3 + total > f.length) return null;
    if ((be16(l3 + 6) & 0x3fff) !== 0) return null; // a fragment: the checksum spans the datagram
    proto = f[l3 + 9]!;
    start = l3 + ihl;
    end = l3 + total;
  } else if (type === ETH_P_IPV6) {
    if (l3 + 40 > f.length || (f[l3]! >> 4) !== 6) return null;
    proto = f[l3 + 6]!; // no extension headers
    start = l3 + 40;
    end = start + be16(l3 + 4);
    if (end > f.length) return null;
  } else return null;
  if (proto === IPPROTO_TCP && end - start >= 20) return { start, end, field: start + 16, udp: false };
  if (proto === IPPROTO_UDP && end - start >= 8) return { start, end, field: start + 6, udp: true };
  return null;
}

/** One's complement sum of f[start, end) as big-endian 16-bit words, folded to 16 bits. */
export function onesSum(f: Uint8Array, start: number, end: number, initial = 0): number {
  let s = initial;
  let i = start;
  for (; i + 1 < end; i += 2) s += (f[i]! << 8) | f[i + 1]!;
  if (i < end) s += f[i]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Completes a partial checksum in place; returns false if the frame is not one it can complete. */
export function completePartialChecksum(f: Uint8Array): boolean {
  const l = l4Location(f);
  if (!l) return false;
  let c = ~onesSum(f, l.start, l.end) & 0xffff;
  if (l.udp && c === 0) c = 0xffff; // UDP: 0 means "no checksum"
  f[l.field] = c >> 8;
  f[l.field + 1] = c & 0xff;
  return true;
}

// Classic pcap capture (the libpcap file format, as tcpdump -w writes it) of the frames
// crossing dom0's bridges. Nanosecond-resolution variant (magic 0xa1b23c4d), version 2.4,
// snaplen 65535, LINKTYPE_ETHERNET, little-endian. Timestamps are the simulation's virtual
// time, so a deterministic run captures a byte-identical file. Each record is written with
// one write as it happens, so tshark can read the file while the run goes on.

import { closeSync, existsSync, openSync, readFileSync, statSync, truncateSync, writeSync } from 'node:fs';

export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_SNAPLEN = 65535;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;

/** struct pcap_file_header: magic, version 2.4, thiszone 0, sigfigs 0, snaplen, linktype. */
export function pcapFileHeader(): Uint8Array {
  const b = new Uint8Array(PCAP_HEADER_BYTES);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, PCAP_MAGIC_NS, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, PCAP_SNAPLEN, true);
  dv.setUint32(20, LINKTYPE_ETHERNET, true);
  return b;
}

/** One record: ts_sec, ts_nsec, caplen, len, then the captured bytes. */
export function pcapRecord(timeNs: number, frame: Uint8Array): Uint8Array {
  const cap = Math.min(frame.length, PCAP_SNAPLEN);
  const b = new Uint8Array(PCAP_RECORD_HEADER_BYTES + cap);
  const dv = new DataView(b.buffer);
  const t = Math.max(0, Math.floor(timeNs));
  dv.setUint32(0, Math.floor(t / 1e9) >>> 0, true);
  dv.setUint32(4, t % 1e9, true);
  dv.setUint32(8, cap, true);
  dv.setUint32(12, frame.length, true);
  b.set(frame.subarray(0, cap), PCAP_RECORD_HEADER_BYTES);
  return b;
}

export interface PcapPacket {
  timeNs: number;
  origLen: number;
  data: Uint8Array;
}

/** Reads a capture (either magic, either byte order): for tests and tools. */
export function parsePcap(file: Uint8Array): { nanosecond: boolean; snaplen: number; linktype: number; packets: PcapPacket[] } {
  if (file.length < PCAP_HEADER_BYTES) throw new Error('not a pcap file: too short');
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let le = true;
  let magic = dv.getUint32(0, true);
  if (magic !== PCAP_MAGIC_NS && magic !== PCAP_MAGIC_US) {
    le = false;
    magic = dv.getUint32(0, false);
  }
  if (magic !== PCAP_MAGIC_NS && magic !== PCAP_MAGIC_US) throw new Error(`not a pcap file: magic 0x${dv.getUint32(0, true).toString(16)}`);
  const nanosecond = magic === PCAP_MAGIC_NS;
  const packets: PcapPacket[] = [];
  let off = PCAP_HEADER_BYTES;
  while (off + PCAP_RECORD_HEADER_BYTES <= file.length) {
    const sec = dv.getUint32(off, le);
    const frac = dv.getUint32(off + 4, le);
    const cap = dv.getUint32(off + 8, le);
    const len = dv.getUint32(off + 12, le);
    if (off + PCAP_RECORD_HEADER_BYTES + cap > file.length) break; // a record still being written
    packets.push({ timeNs: sec * 1e9 + frac * (nanosecond ? 1 : 1000), origLen: len, data: file.slice(off + 16, off + 16 + cap) });
    off += PCAP_RECORD_HEADER_BYTES + cap;
  }
  return { nanosecond, snaplen: dv.getUint32(16, le), linktype: dv.getUint32(20, le), packets };
}

/** Bytes of `file` up to the end of its last complete record. */
function completeLength(file: Uint8Array): number {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const le = dv.getUint32(0, true) === PCAP_MAGIC_NS || dv.getUint32(0, true) === PCAP_MAGIC_US;
  let off = PCAP_HEADER_BYTES;
  while (off + PCAP_RECORD_HEADER_BYTES <= file.length) {
    const next = off + PCAP_RECORD_HEADER_BYTES + dv.getUint32(off + 8, le);
    if (next > file.length) break;
    off = next;
  }
  return off;
}

export class PcapWriter {
  private fd: number | null;
  packets = 0;

  constructor(
    readonly path: string,
    /** Virtual time, ns, for each record. */
    private readonly clock: () => number,
    /** Continue a capture that has its file header already (dom0 restarted). */
    append = false,
  ) {
    const continuing = append && existsSync(path) && statSync(path).size >= PCAP_HEADER_BYTES;
    // A record half written by a dom0 that was killed would misalign every later one.
    if (continuing) truncateSync(path, completeLength(readFileSync(path)));
    this.fd = openSync(path, continuing ? 'a' : 'w', 0o644);
    if (!continuing) this.put(pcapFileHeader());
  }

  private put(b: Uint8Array): void {
    for (let off = 0; off < b.length; ) off += writeSync(this.fd!, b, off, b.length - off);
  }

  write(frame: Uint8Array): void {
    if (this.fd === null) return;
    this.put(pcapRecord(this.clock(), frame));
    this.packets++;
  }

  close(): void {
    if (this.fd === null) return;
    closeSync(this.fd);
    this.fd = null;
  }
}

// Where the dom0 boundary spends its wall time and bytes: a profile kept only when
// PVSIM_WIRE_PROFILE names a directory (the bench sets it for its children). Off, `wireStats`
// is null and every hook is one `?.` on a null, so the hot path pays nothing. On, each
// process writes `<dir>/<role>-<pid>.json` when it exits; bench/run.ts adds them up per
// block request and per ping (docs/benchmarks.md, "The dom0 boundary").

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

export interface WireProfile {
  role: string;
  /** Frames sent and received, by kind ("req:<op>", "rsp:<op>", "hot:<kind>"...). */
  framesOut: Record<string, number>;
  framesIn: Record<string, number>;
  bytesOut: Record<string, number>;
  bytesIn: Record<string, number>;
  /** Wall ns in encoding and decoding frames. */
  encodeNs: number;
  decodeNs: number;
  /** Wall ns in ws.send (framing, masking, the socket write). */
  sendNs: number;
  /** Guest stores to mirrored pages sent with dispatches: updates and bytes. */
  pageUpdatesOut: number;
  pageBytesOut: number;
  /** dom0's stores applied to frames: updates and bytes. */
  pageWritesIn: number;
  pageBytesIn: number;
  /** Grant-copy payload bytes, each way. */
  grantCopyToBytes: number;
  grantCopyFromBytes: number;
  grantCopies: number;
  /** Dispatches, and the wall ns the machine stood still waiting for them. */
  dispatches: number;
  dispatchWaitNs: number;
  /** dom0: wall ns inside dispatch handlers, and of that, waiting on the hypervisor. */
  handlerNs: number;
  handlerAwaitNs: number;
  /** Turns of the hypervisor's realtime loop (each gives the event loop a turn). */
  loopTurns: number;
  /** Requests that waited for an answer: their count and the sum of their wall latency. */
  roundTrips: number;
  roundTripNs: number;
  /** CPU ns (user + system) of this process from its first hot frame to its exit. */
  cpuNs: number;
  /** dom0: copies out taken from a dispatch's prefetched bytes, and those sent for (PREFETCH_RING). */
  prefetchHits: number;
  prefetchMisses: number;
  /** The hypervisor: prefetched spans sent with dispatches, and their bytes. */
  prefetchedOut: number;
  prefetchedBytesOut: number;
}

export class WireStats implements WireProfile {
  role = 'unknown';
  framesOut: Record<string, number> = {};
  framesIn: Record<string, number> = {};
  bytesOut: Record<string, number> = {};
  bytesIn: Record<string, number> = {};
  encodeNs = 0;
  decodeNs = 0;
  sendNs = 0;
  pageUpdatesOut = 0;
  pageBytesOut = 0;
  pageWritesIn = 0;
  pageBytesIn = 0;
  grantCopyToBytes = 0;
  grantCopyFromBytes = 0;
  grantCopies = 0;
  dispatches = 0;
  dispatchWaitNs = 0;
  handlerNs = 0;
  handlerAwaitNs = 0;
  loopTurns = 0;
  roundTrips = 0;
  roundTripNs = 0;
  cpuNs = 0;
  prefetchHits = 0;
  prefetchMisses = 0;
  prefetchedOut = 0;
  prefetchedBytesOut = 0;
  /** process.cpuUsage() at the first hot frame (start-up and set-up are not the boundary's). */
  private cpuMark: NodeJS.CpuUsage | null = null;

  private mark(kind: string): void {
    if (this.cpuMark === null && kind.startsWith('hot:')) this.cpuMark = process.cpuUsage();
  }

  /** Closes the CPU count (at exit). */
  finish(): void {
    if (!this.cpuMark) return;
    const u = process.cpuUsage(this.cpuMark);
    this.cpuNs = (u.user + u.system) * 1000;
  }

  out(kind: string, bytes: number): void {
    this.mark(kind);
    this.framesOut[kind] = (this.framesOut[kind] ?? 0) + 1;
    this.bytesOut[kind] = (this.bytesOut[kind] ?? 0) + bytes;
  }

  in(kind: string, bytes: number): void {
    this.mark(kind);
    this.framesIn[kind] = (this.framesIn[kind] ?? 0) + 1;
    this.bytesIn[kind] = (this.bytesIn[kind] ?? 0) + bytes;
  }
}

/** The wall clock in ns, for the profile's timings. */
export const wallNs = (): number => performance.now() * 1e6;

const dir = process.env.PVSIM_WIRE_PROFILE;

/** This process's profile, or null when profiling is off (the default). */
export const wireStats: WireStats | null = dir ? new WireStats() : null;

if (wireStats && dir) {
  process.on('exit', () => {
    try {
      wireStats.finish();
      writeFileSync(join(dir, `${wireStats.role}-${process.pid}.json`), JSON.stringify(wireStats));
    } catch {
      // A profile that cannot be written is lost; the process's own exit is not disturbed.
    }
  });
}

// The block backend's data path for one frontend: it consumes blkif requests from the
// shared ring, moves data between the guest's granted pages and the disk image with grant
// copies (no mappings to leak), and answers each request. A bad request gets an error
// response for that request only; nothing else changes.

import { OnePassAtATime } from '../one_pass.ts';
import { BackRing, SharedRing } from '../../../protocol/ring.ts';
import {
  BLKIF_OP,
  BLKIF_REQUEST_SEGMENT,
  BLKIF_RING_ENTRY_SIZE,
  BLKIF_RESPONSE,
  BLKIF_RSP,
  BLKIF_SECTOR_BYTES,
  BLKIF_SEGMENTS_PER_INDIRECT_FRAME,
  readBlkifSegment,
  writeBlkifResponse,
  type BlkifRequest,
  type BlkifRequestDiscard,
  type BlkifRequestIndirect,
} from '../../../protocol/xen/blkif.ts';
import { writeStruct } from '../../../protocol/guest_memory.ts';
import { GNTST } from '../../../protocol/xen/grant_table.ts';
import type { CopyOutTicket, Dom0Platform, GrantCopyOp, GrantCopyToOp, MappedPage } from '../../platform.ts';
import { copyOut, int16le } from '../copy_out.ts';
import { checkDiscard, checkIndirect, checkRequest, MAX_INDIRECT_SEGMENTS } from './validate.ts';
import { parseRequest, type BlkbackRequest } from './request.ts';
import { BlockStoreError, describeHostError, type BlockStore } from './store.ts';

export { MAX_INDIRECT_SEGMENTS };

/** A validated request of a batch (its index `i`), as blkback will carry it out. */
type Step = { kind: 'discard'; req: BlkifRequestDiscard } | { kind: 'flush' } | { kind: 'read' | 'write'; req: BlkifRequest };
type Plan = Step & { i: number };

/** Grants kept mapped for a frontend using feature-persistent (Linux blkback's default
 * max_persistent_grants); segments beyond it are served by grant copy. */
export const MAX_PERSISTENT_GRANTS = 1056;

export interface BlkbackStats {
  requests: number;
  errors: number;
  reads: number;
  writes: number;
  flushes: number;
  discards: number;
  /** Requests the host failed (I/O errors), answered BLKIF_RSP_ERROR. */
  hostErrors: number;
  /** 512-byte sectors read and written by the requests counted in reads/writes (xentop's VBD_RSECT/VBD_WSECT). */
  rdSect: number;
  wrSect: number;
}

/** Sectors a read or write request moves: the sum of its segments' first..last_sect. */
function requestSectors(req: BlkifRequest): number {
  let n = 0;
  for (const s of req.seg) n += s.last_sect - s.first_sect + 1;
  return n;
}

export class BlkbackRing {
  readonly back: BackRing;
  readonly stats: BlkbackStats = { requests: 0, errors: 0, reads: 0, writes: 0, flushes: 0, discards: 0, hostErrors: 0, rdSect: 0, wrSect: 0 };
  lastError = '';
  /** Set when the frontend broke the ring's rules; the ring is served no more (as Xen's blkback). */
  halted = false;
  /** Set when the device disconnects: no further request is taken (see stop). */
  private stopped = false;
  /** feature-persistent, both ends agreeing: data grants are mapped once and kept until disconnect. */
  private readonly persistentMaps = new Map<number, { handle: number; page: MappedPage }>();

  constructor(
    private readonly platform: Dom0Platform,
    readonly domid: number,
    private readonly ringPage: MappedPage,
    private readonly port: number,
    private readonly disk: BlockStore,
    readonly persistent = false,
    private readonly opts: {
      /** The device's id (xenbus devid), for log lines. */
      devid?: number;
      /** Where a host I/O error is reported (one line each, rate-limited by the caller). */
      log?: (line: string) => void;
    } = {},
  ) {
    this.back = new BackRing(new SharedRing(ringPage.mem, BLKIF_RING_ENTRY_SIZE));
    // Writes' data with the dispatch (dom0 as a process); persistent grants need no copies.
    if (!persistent) platform.prefetchRing?.(port, domid, ringPage, 'blkif');
  }

  private readonly passes = new OnePassAtATime(() => this.servicePass());

  /**
   * Serves every request the frontend has published. An event that arrives while a pass
   * awaits a grant operation asks for one more pass instead of starting a second one,
   * which would take the same unconsumed request again.
   */
  service(): Promise<void> {
    return this.passes.run();
  }

  /**
   * One pass: takes every request published, carries them out as one batch (their grant
   * copies in one GNTTABOP_copy batch each way, as Linux's netback batches its copies), answers
   * them in ring order, and loops until the final check finds no more requests. Across the
   * process boundary a pass costs a round trip for the writes' data and one for the reads'
   * data, however many requests it serves.
   */
  private async servicePass(): Promise<void> {
    for (;;) {
      if (this.halted || this.stopped) return;
      if (this.back.requestProdOverflow()) {
        this.halted = true;
        this.lastError = `frontend published req_prod ${this.back.sring.reqProd} past the ring; halting it`;
        return;
      }
      const batch: BlkbackRequest[] = [];
      while (!this.stopped && this.back.unconsumedRequests() > 0) {
        // The one read of this slot: from here on only the private copy is looked at.
        batch.push(parseRequest(this.back.copyRequest()));
        this.back.consumed();
      }
      if (batch.length) {
        const { status: statuses, pending } = await this.carryOutAll(batch);
        const patches: (() => void)[] = [];
        for (let i = 0; i < batch.length; i++) {
          const req = batch[i]!;
          const status = statuses[i]!;
          const rspOff = this.back.nextResponse();
          writeStruct(this.ringPage.mem, rspOff, BLKIF_RESPONSE.SIZE, (dv) => writeBlkifResponse(dv, 0, { id: req.id, operation: req.op, status }));
          // A read whose data copies travel with the answer: its status becomes an error
          // there if one of them fails (the patches go after all the responses, so these
          // travel as one span).
          const t = pending.get(i);
          if (t) patches.push(() => t.onFail(this.ringPage.mem, rspOff + BLKIF_RESPONSE.status, int16le(BLKIF_RSP.ERROR)));
          this.back.produced();
          this.stats.requests++;
          if (status !== BLKIF_RSP.OKAY) this.stats.errors++;
        }
        for (const p of patches) p();
      }
      const notify = this.back.pushResponsesAndCheckNotify();
      if (notify) await this.platform.notify(this.port);
      const more = this.back.finalCheckForRequests();
      if (!more) return;
    }
  }

  /**
   * Validates and carries out a batch of requests (private copies) in ring order; the status
   * to answer each. A host I/O error (ENOSPC, EIO, ...), or anything else thrown while
   * carrying out a request, fails that request only.
   */
  private async carryOutAll(batch: readonly BlkbackRequest[]): Promise<{ status: number[]; pending: Map<number, CopyOutTicket> }> {
    const status: number[] = batch.map(() => BLKIF_RSP.OKAY);
    const plans: Plan[] = [];
    // 1. Validation (and an indirect request's segment pages, each grant-copied once).
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!;
      try {
        const p = await this.plan(r);
        if (typeof p === 'number') status[i] = p;
        else plans.push({ ...p, i });
      } catch (e) {
        status[i] = this.hostError(r, e);
      }
    }
    // 2. The writes' data: every segment of every write, one copy batch.
    const fromOps: GrantCopyOp[] = [];
    const writeParts = new Map<number, { seg: number; page: MappedPage | null; gref: number; offset: number; len: number; copy: number }[]>();
    for (const p of plans) {
      if (p.kind !== 'write') continue;
      const parts = [];
      for (const s of p.req.seg) {
        const offset = s.first_sect * BLKIF_SECTOR_BYTES;
        const len = (s.last_sect - s.first_sect + 1) * BLKIF_SECTOR_BYTES;
        const page = await this.persistentPage(s.gref).catch((e: unknown) => e as Error);
        if (page instanceof Error) {
          status[p.i] = this.hostError(batch[p.i]!, page);
          break;
        }
        if (typeof page === 'number') {
          status[p.i] = this.fail(`grant ${s.gref}: status ${page}`);
          break;
        }
        parts.push({ seg: parts.length, page, gref: s.gref, offset, len, copy: page ? -1 : fromOps.length });
        if (!page) fromOps.push({ to: false, domid: this.domid, ref: s.gref, offset, len });
      }
      writeParts.set(p.i, parts);
    }
    let fromResults: { status: number; data: Uint8Array }[] = [];
    try {
      fromResults = await this.platform.copyGrants(fromOps);
    } catch (e) {
      for (const p of plans) if (p.kind === 'write' && status[p.i] === BLKIF_RSP.OKAY) status[p.i] = this.hostError(batch[p.i]!, e);
    }
    // 3. The disk, in ring order; the reads' data gathered for one copy batch.
    const readCopies = new Map<number, GrantCopyToOp[]>();
    const readSectors = new Map<number, number>();
    for (const p of plans) {
      if (status[p.i] !== BLKIF_RSP.OKAY) continue;
      try {
        if (p.kind === 'discard') {
          this.disk.discard(Number(p.req.sector_number), Number(p.req.nr_sectors));
          this.stats.discards++;
        } else if (p.kind === 'flush') {
          this.disk.flush(); // fsync before OK: acknowledged data is on the disk
          this.stats.flushes++;
        } else if (p.kind === 'write') {
          // Gather every segment first: a write whose grants are not all good writes nothing.
          const parts: Uint8Array[] = [];
          let bad = false;
          for (const w of writeParts.get(p.i) ?? []) {
            if (w.page) {
              parts.push(w.page.mem.read(w.offset, w.len));
              continue;
            }
            const r = fromResults[w.copy]!;
            if (r.status !== GNTST.okay) {
              status[p.i] = this.fail(`grant ${w.gref}: status ${r.status}`);
              bad = true;
              break;
            }
            parts.push(r.data);
          }
          if (bad) continue;
          let sector = Number(p.req.sector_number);
          for (const part of parts) {
            this.disk.write(sector, part);
            sector += part.length / BLKIF_SECTOR_BYTES;
          }
          this.stats.writes++;
          this.stats.wrSect += requestSectors(p.req);
        } else {
          let sector = Number(p.req.sector_number);
          const copies: GrantCopyToOp[] = [];
          for (const s of p.req.seg) {
            const bytes = (s.last_sect - s.first_sect + 1) * BLKIF_SECTOR_BYTES;
            const data = this.disk.read(sector, bytes);
            sector += bytes / BLKIF_SECTOR_BYTES;
            const page = await this.persistentPage(s.gref);
            if (typeof page === 'number') {
              status[p.i] = this.fail(`grant ${s.gref}: status ${page}`);
              break;
            }
            if (page) page.mem.write(s.first_sect * BLKIF_SECTOR_BYTES, data);
            else copies.push({ domid: this.domid, ref: s.gref, offset: s.first_sect * BLKIF_SECTOR_BYTES, data });
          }
          readCopies.set(p.i, copies);
          readSectors.set(p.i, requestSectors(p.req));
        }
      } catch (e) {
        status[p.i] = this.hostError(batch[p.i]!, e);
      }
    }
    // 4. The reads' data into the guest's pages: copies whose statuses are not waited for
    // (with dom0 as a process they travel with the dispatch's answer, one round trip for
    // the pass); a failed one turns its response's status into an error where it lands.
    const pending = new Map<number, CopyOutTicket>();
    for (const [i, copies] of readCopies) {
      if (status[i] !== BLKIF_RSP.OKAY) continue;
      try {
        const t = await copyOut(this.platform, copies);
        if (t.failed === true) status[i] = this.fail(`a data grant of request ${batch[i]!.id}: copy failed`);
        else {
          const sectors = readSectors.get(i) ?? 0;
          if (t.failed === null) {
            pending.set(i, t);
            const id = batch[i]!.id;
            t.onSettled((failed) => {
              if (!failed) return;
              this.stats.reads--;
              this.stats.rdSect -= sectors;
              this.stats.errors++;
              this.fail(`a data grant of request ${id}: copy failed`);
            });
          }
          this.stats.reads++;
          this.stats.rdSect += sectors;
        }
      } catch (e) {
        status[i] = this.hostError(batch[i]!, e);
      }
    }
    return { status, pending };
  }

  /** What a request asks for once validated (an indirect one expanded), or the status to answer. */
  private async plan(r: BlkbackRequest): Promise<Step | number> {
    if (r.kind === 'discard') {
      const bad = checkDiscard(r.req, this.disk);
      if (bad) return this.fail(bad.why, bad.status);
      return { kind: 'discard', req: r.req };
    }
    let req: BlkifRequest;
    let maxSegments: number | undefined;
    if (r.kind === 'indirect') {
      const bad = checkIndirect(r.req);
      if (bad) return this.fail(bad.why, bad.status);
      const expanded = await this.expandIndirect(r.req);
      if (typeof expanded === 'number') return expanded;
      req = expanded;
      maxSegments = MAX_INDIRECT_SEGMENTS;
    } else req = r.req;
    const bad = checkRequest(req, this.disk, maxSegments);
    if (bad) return this.fail(bad.why, bad.status);
    if (req.operation === BLKIF_OP.FLUSH_DISKCACHE) return { kind: 'flush' };
    return { kind: req.operation === BLKIF_OP.READ ? 'read' : 'write', req };
  }

  /**
   * An indirect request's segments, read from the pages its indirect_grefs name. Each page
   * is grant-copied once into dom0 (one batch); the segments are taken from that copy only.
   */
  private async expandIndirect(ind: BlkifRequestIndirect): Promise<BlkifRequest | number> {
    const seg = [];
    const ops: GrantCopyOp[] = [];
    const counts: number[] = [];
    for (let p = 0; p * BLKIF_SEGMENTS_PER_INDIRECT_FRAME < ind.nr_segments; p++) {
      const count = Math.min(BLKIF_SEGMENTS_PER_INDIRECT_FRAME, ind.nr_segments - p * BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
      counts.push(count);
      ops.push({ to: false, domid: this.domid, ref: ind.indirect_grefs[p]!, offset: 0, len: count * BLKIF_REQUEST_SEGMENT.SIZE });
    }
    const results = await this.platform.copyGrants(ops);
    for (let p = 0; p < counts.length; p++) {
      const r = results[p]!;
      if (r.status !== GNTST.okay) return this.fail(`indirect page grant ${ind.indirect_grefs[p]}: status ${r.status}`);
      const dv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      for (let i = 0; i < counts[p]!; i++) seg.push(readBlkifSegment(dv, i * BLKIF_REQUEST_SEGMENT.SIZE));
    }
    return { operation: ind.indirect_op, nr_segments: ind.nr_segments, handle: ind.handle, id: ind.id, sector_number: ind.sector_number, seg };
  }

  /** Grants mapped persistently now. */
  get persistentGrants(): number {
    return this.persistentMaps.size;
  }

  /** The kept mapping of `gref` (made on first use), a GNTST status, or null to copy instead. */
  private async persistentPage(gref: number): Promise<MappedPage | number | null> {
    if (!this.persistent) return null;
    const kept = this.persistentMaps.get(gref);
    if (kept) return kept.page;
    if (this.persistentMaps.size >= MAX_PERSISTENT_GRANTS) return null;
    // Writable: a persistent grant carries reads and writes alike.
    const m = await this.platform.mapGrant(this.domid, gref, false);
    if (!m.page) return m.status;
    this.persistentMaps.set(gref, { handle: m.handle, page: m.page });
    return m.page;
  }

  /**
   * The device is disconnecting: takes no further request and resolves once the pass under
   * way (if any) is done, its response written while the ring is still mapped. Unmapping
   * under a pass that awaits a grant copy would let it write to a page dom0 no longer maps
   * (another domain's, once freed; or a stale write that fails dom0's next request).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.passes.idle();
  }

  /** Lets go of every persistent mapping (the frontend disconnected). */
  async releasePersistent(): Promise<void> {
    const kept = [...this.persistentMaps.values()];
    this.persistentMaps.clear();
    for (const k of kept) await this.platform.unmapGrant(k.handle);
  }

  /** A request the host could not carry out: BLKIF_RSP_ERROR, and one log line. */
  private hostError(req: BlkbackRequest, e: unknown): number {
    const op = req.op;
    const what = op === BLKIF_OP.READ ? 'read' : op === BLKIF_OP.WRITE ? 'write' : op === BLKIF_OP.FLUSH_DISKCACHE ? 'flush' : op === BLKIF_OP.DISCARD ? 'discard' : `operation ${op}`;
    const d = describeHostError(e);
    const why = e instanceof BlockStoreError ? e.message : `${d.code} (${d.reason})`;
    const msg = `${what} at sector ${req.sector_number} failed: ${why}`;
    this.stats.hostErrors++;
    this.opts.log?.(`blkback: d${this.domid} vbd ${this.opts.devid ?? '?'}: ${msg}`);
    return this.fail(msg);
  }

  private fail(why: string, status: number = BLKIF_RSP.ERROR): number {
    this.lastError = why;
    return status;
  }
}

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
  type BlkifRequestIndirect,
} from '../../../protocol/xen/blkif.ts';
import { writeStruct } from '../../../protocol/guest_memory.ts';
import { GNTST } from '../../../protocol/xen/grant_table.ts';
import type { Dom0Platform, MappedPage } from '../../platform.ts';
import { checkDiscard, checkIndirect, checkRequest, MAX_INDIRECT_SEGMENTS } from './validate.ts';
import { parseRequest, type BlkbackRequest } from './request.ts';
import { BlockStoreError, describeHostError, type BlockStore } from './store.ts';

export { MAX_INDIRECT_SEGMENTS };

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
}

export class BlkbackRing {
  readonly back: BackRing;
  readonly stats: BlkbackStats = { requests: 0, errors: 0, reads: 0, writes: 0, flushes: 0, discards: 0, hostErrors: 0 };
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

  /** One pass: loops until the final check finds no more requests. */
  private async servicePass(): Promise<void> {
    for (;;) {
      if (this.halted || this.stopped) return;
      if (this.back.requestProdOverflow()) {
        this.halted = true;
        this.lastError = `frontend published req_prod ${this.back.sring.reqProd} past the ring; halting it`;
        return;
      }
      while (!this.stopped && this.back.unconsumedRequests() > 0) {
        // The one read of this slot: from here on only the private copy is looked at.
        const req = parseRequest(this.back.copyRequest());
        // A host I/O error (ENOSPC, EIO, ...) fails this request only; so does anything
        // else thrown while carrying it out: the ring is answered and served on.
        const status = await this.carryOut(req).catch((e: unknown) => this.hostError(req, e));
        this.back.consumed();
        const rspOff = this.back.nextResponse();
        writeStruct(this.ringPage.mem, rspOff, BLKIF_RESPONSE.SIZE, (dv) => writeBlkifResponse(dv, 0, { id: req.id, operation: req.op, status }));
        this.back.produced();
        this.stats.requests++;
        if (status !== BLKIF_RSP.OKAY) this.stats.errors++;
      }
      const notify = this.back.pushResponsesAndCheckNotify();
      if (notify) await this.platform.notify(this.port);
      const more = this.back.finalCheckForRequests();
      if (!more) return;
    }
  }

  /** Validates the request (the private copy) and carries it out; the status to answer. */
  private async carryOut(r: BlkbackRequest): Promise<number> {
    if (r.kind === 'discard') {
      const bad = checkDiscard(r.req, this.disk);
      if (bad) return this.fail(bad.why, bad.status);
      this.disk.discard(Number(r.req.sector_number), Number(r.req.nr_sectors));
      this.stats.discards++;
      return BLKIF_RSP.OKAY;
    }
    if (r.kind === 'indirect') {
      const bad = checkIndirect(r.req);
      if (bad) return this.fail(bad.why, bad.status);
      const expanded = await this.expandIndirect(r.req);
      if (typeof expanded === 'number') return expanded;
      return this.transfer(expanded, MAX_INDIRECT_SEGMENTS);
    }
    return this.transfer(r.req, undefined);
  }

  /**
   * An indirect request's segments, read from the pages its indirect_grefs name. Each page
   * is grant-copied once into dom0; the segments are taken from that copy only.
   */
  private async expandIndirect(ind: BlkifRequestIndirect): Promise<BlkifRequest | number> {
    const seg = [];
    for (let p = 0; p * BLKIF_SEGMENTS_PER_INDIRECT_FRAME < ind.nr_segments; p++) {
      const count = Math.min(BLKIF_SEGMENTS_PER_INDIRECT_FRAME, ind.nr_segments - p * BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
      const r = await this.platform.copyFromGrant(this.domid, ind.indirect_grefs[p]!, 0, count * BLKIF_REQUEST_SEGMENT.SIZE);
      if (r.status !== GNTST.okay) return this.fail(`indirect page grant ${ind.indirect_grefs[p]}: status ${r.status}`);
      const dv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      for (let i = 0; i < count; i++) seg.push(readBlkifSegment(dv, i * BLKIF_REQUEST_SEGMENT.SIZE));
    }
    return { operation: ind.indirect_op, nr_segments: ind.nr_segments, handle: ind.handle, id: ind.id, sector_number: ind.sector_number, seg };
  }

  /** A READ, WRITE or FLUSH (direct, or indirect once expanded): validated, then carried out. */
  private async transfer(req: BlkifRequest, maxSegments: number | undefined): Promise<number> {
    const bad = checkRequest(req, this.disk, maxSegments);
    if (bad) return this.fail(bad.why, bad.status);
    if (req.operation === BLKIF_OP.FLUSH_DISKCACHE) {
      this.disk.flush(); // fsync before OK: acknowledged data is on the disk
      this.stats.flushes++;
      return BLKIF_RSP.OKAY;
    }
    const start = Number(req.sector_number);
    if (req.operation === BLKIF_OP.READ) {
      let sector = start;
      for (const s of req.seg) {
        const bytes = (s.last_sect - s.first_sect + 1) * BLKIF_SECTOR_BYTES;
        const st = await this.toSegment(s.gref, s.first_sect * BLKIF_SECTOR_BYTES, this.disk.read(sector, bytes));
        if (st !== GNTST.okay) return this.fail(`grant ${s.gref}: status ${st}`);
        sector += bytes / BLKIF_SECTOR_BYTES;
      }
    } else {
      // Gather every segment first: a write whose grants are not all good writes nothing.
      const parts: Uint8Array[] = [];
      for (const s of req.seg) {
        const r = await this.fromSegment(s.gref, s.first_sect * BLKIF_SECTOR_BYTES, (s.last_sect - s.first_sect + 1) * BLKIF_SECTOR_BYTES);
        if (r.status !== GNTST.okay) return this.fail(`grant ${s.gref}: status ${r.status}`);
        parts.push(r.data);
      }
      let sector = start;
      for (const p of parts) {
        this.disk.write(sector, p);
        sector += p.length / BLKIF_SECTOR_BYTES;
      }
    }
    if (req.operation === BLKIF_OP.READ) this.stats.reads++;
    else this.stats.writes++;
    return BLKIF_RSP.OKAY;
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

  private async toSegment(gref: number, offset: number, data: Uint8Array): Promise<number> {
    const page = await this.persistentPage(gref);
    if (typeof page === 'number') return page;
    if (!page) return this.platform.copyToGrant(this.domid, gref, offset, data);
    page.mem.write(offset, data);
    return GNTST.okay;
  }

  private async fromSegment(gref: number, offset: number, len: number): Promise<{ status: number; data: Uint8Array }> {
    const page = await this.persistentPage(gref);
    if (typeof page === 'number') return { status: page, data: new Uint8Array(0) };
    if (!page) return this.platform.copyFromGrant(this.domid, gref, offset, len);
    return { status: GNTST.okay, data: page.mem.read(offset, len) };
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

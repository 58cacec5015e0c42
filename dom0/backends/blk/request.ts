// One blkif request as blkback holds it: parsed from the private copy that
// BackRing.copyRequest made of its ring slot, never from the shared page. The frontend can
// rewrite a slot it published at any moment; blkback reads the slot once, so the request it
// validates (validate.ts) is the request it carries out and answers (XSA-155).

import {
  BLKIF_OP,
  BLKIF_REQUEST,
  readBlkifRequest,
  readBlkifRequestDiscard,
  readBlkifRequestIndirect,
  type BlkifRequest,
  type BlkifRequestDiscard,
  type BlkifRequestIndirect,
} from '../../../protocol/xen/blkif.ts';

interface Answer {
  /** The id the response carries. */
  id: bigint;
  /** The operation the response carries (an indirect request's is the one it wraps, as Xen's blkback). */
  op: number;
  /** Where the request starts, for log lines. */
  sector_number: bigint;
}

export type BlkbackRequest =
  | (Answer & { kind: 'direct'; req: BlkifRequest })
  | (Answer & { kind: 'discard'; req: BlkifRequestDiscard })
  | (Answer & { kind: 'indirect'; req: BlkifRequestIndirect });

/** Parses a request from `copy` (one ring entry, private to blkback). */
export function parseRequest(copy: Uint8Array): BlkbackRequest {
  const dv = new DataView(copy.buffer, copy.byteOffset, copy.byteLength);
  const operation = dv.getUint8(BLKIF_REQUEST.operation);
  if (operation === BLKIF_OP.DISCARD) {
    const req = readBlkifRequestDiscard(dv, 0);
    return { kind: 'discard', id: req.id, op: operation, sector_number: req.sector_number, req };
  }
  if (operation === BLKIF_OP.INDIRECT) {
    const req = readBlkifRequestIndirect(dv, 0);
    return { kind: 'indirect', id: req.id, op: req.indirect_op, sector_number: req.sector_number, req };
  }
  const req = readBlkifRequest(dv, 0);
  return { kind: 'direct', id: req.id, op: operation, sector_number: req.sector_number, req };
}

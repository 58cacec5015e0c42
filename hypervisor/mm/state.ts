// Per-domain PV MMU state, kept apart from the operations (mmuext.ts) so that Domain can
// name it without importing them.

/** Per-domain PV MMU state: the table each vCPU's satp holds a reference on. */
export class DomainMm {
  /** vCPU id -> mfn of the L2 its satp uses and holds a type reference on (0 = none). */
  readonly base: number[];
  constructor(nrVcpus: number) {
    this.base = new Array<number>(nrVcpus).fill(0);
  }
}

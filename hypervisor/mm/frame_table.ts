// Machine frames: who owns each one and what it is used for. Frames are created in
// PhysMemory only when allocated, so an idle machine costs nothing per unused frame.

import { PhysMemory } from '../cpu/memory.ts';

export const DOMID_XEN = 0x7ff2;
export const DOMID_INVALID = 0x7ff4;

/** What a frame is used as (Xen's PGT_* types, plus our own bookkeeping kinds). */
export const FrameType = {
  Free: 0,
  Writable: 1,
  L1PageTable: 2,
  L2PageTable: 3,
  SharedInfo: 4,
  GrantTable: 5,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export class OutOfMemoryError extends Error {
  override readonly name = 'OutOfMemoryError';
}

export class FrameTable {
  private readonly owner: Uint16Array;
  private readonly type: Uint8Array;
  private readonly free: number[] = [];
  private next: number;
  private used = 0;

  /** Manages machine frames [firstMfn, firstMfn + nrFrames). */
  constructor(readonly mem: PhysMemory, readonly firstMfn: number, readonly nrFrames: number) {
    this.owner = new Uint16Array(nrFrames).fill(DOMID_INVALID);
    this.type = new Uint8Array(nrFrames);
    this.next = firstMfn;
  }

  get allocated(): number {
    return this.used;
  }

  /** Allocates a zeroed frame for `domid`. Throws OutOfMemoryError when machine memory is exhausted. */
  alloc(domid: number, type: FrameType = FrameType.Writable): number {
    let mfn = this.free.pop();
    if (mfn === undefined) {
      if (this.next >= this.firstMfn + this.nrFrames) {
        throw new OutOfMemoryError(`out of machine memory (${this.nrFrames} frames)`);
      }
      mfn = this.next++;
    }
    this.mem.ensureFrame(mfn).fill(0);
    const i = mfn - this.firstMfn;
    this.owner[i] = domid;
    this.type[i] = type;
    this.used++;
    return mfn;
  }

  release(mfn: number): void {
    if (!this.isValid(mfn) || this.type[mfn - this.firstMfn] === FrameType.Free) return;
    const i = mfn - this.firstMfn;
    this.owner[i] = DOMID_INVALID;
    this.type[i] = FrameType.Free;
    this.mem.removeFrame(mfn);
    this.free.push(mfn);
    this.used--;
  }

  isValid(mfn: number): boolean {
    return Number.isInteger(mfn) && mfn >= this.firstMfn && mfn < this.firstMfn + this.nrFrames;
  }

  ownerOf(mfn: number): number {
    return this.isValid(mfn) ? this.owner[mfn - this.firstMfn]! : DOMID_INVALID;
  }

  typeOf(mfn: number): FrameType {
    return this.isValid(mfn) ? (this.type[mfn - this.firstMfn]! as FrameType) : FrameType.Free;
  }

  setType(mfn: number, type: FrameType): void {
    if (this.isValid(mfn)) this.type[mfn - this.firstMfn] = type;
  }
}

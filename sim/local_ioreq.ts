// The device model's ioreq path inside the hypervisor's process (Dom0Platform.ioreq for
// LocalPlatform): the HVM board's ranges are handed to dom0's device model, each request
// served as a dom0 dispatch (the machine stands still while dom0 answers, a dispatch
// latency after the access, as every other piece of dom0 work), the answer completing the
// vCPU's access; device lines go straight to the board's PLIC. Across the socket the same
// is done by the IOREQ hot frame (hypervisor/server/dom0_bridge.ts, dom0/remote_platform.ts),
// served at the same virtual instants, so both homes give one trace hash.

import type { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { IoreqHost, MappedPage } from '../dom0/platform.ts';
import type { Ioreq } from '../dom0/devicemodel/ioreq.ts';
import { HVM_BOARD } from '../xenguest/hvm_image.ts';
import { PAGE_SIZE } from '../protocol/sv32.ts';

export class LocalIoreqHost implements IoreqHost {
  constructor(
    private readonly hv: Hypervisor,
    private readonly mapForeign: (domid: number, mfn: number) => Promise<MappedPage>,
  ) {}

  private board(domid: number): { d: Domain; board: HvmBoard } | null {
    const d = this.hv.domain(domid);
    const board = (d?.hvm ?? null) as HvmBoard | null;
    return d && board ? { d, board } : null;
  }

  hvmRam(domid: number): Promise<{ base: number; bytes: number } | null> {
    const b = this.board(domid);
    return Promise.resolve(b ? { base: HVM_BOARD.ramBase, bytes: b.d.nrPages * PAGE_SIZE } : null);
  }

  async mapGuestFrames(domid: number, gfn: number, count: number): Promise<MappedPage[]> {
    const b = this.board(domid);
    const mfns: number[] = [];
    for (let i = 0; i < count; i++) {
      const mfn = b ? b.board.gfnToMfn(gfn + i) : -1;
      if (mfn < 0) throw new RangeError(`d${domid} has no guest frame 0x${(gfn + i).toString(16)}`);
      mfns.push(mfn);
    }
    const pages: MappedPage[] = [];
    for (const mfn of mfns) pages.push(await this.mapForeign(domid, mfn));
    return pages;
  }

  async addIoreqServer(domid: number, base: number, size: number, handle: (req: Ioreq) => Promise<number>): Promise<void> {
    const b = this.board(domid);
    if (!b) throw new RangeError(`d${domid} is not an HVM domain`);
    const { d, board } = b;
    board.addIoreqServer(base, size, {
      send: (req, complete) => {
        // The dispatch's modelled cost is its latency (the device model's own work is free):
        // counted as dom0's time for this domain (Domain.perf), with no effect on time.
        d.perf.dom0Ns += this.hv.costs.dom0DispatchNs;
        this.hv.dispatch(async () => {
          if (this.hv.domain(domid) !== d) return; // gone: nobody waits
          complete(await handle({ addr: req.addr, size: req.size, dir: req.dir, data: req.data, count: 1 }));
        });
      },
    }, true);
  }

  noteDma(domid: number, bytes: number): void {
    const b = this.board(domid);
    if (b) b.d.perf.bytesCopied += bytes;
  }

  setIrqLevel(domid: number, source: number, level: boolean): void {
    this.board(domid)?.board.plic.setIrq(source, level);
  }
}

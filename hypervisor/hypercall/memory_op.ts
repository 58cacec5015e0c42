// HYPERVISOR_memory_op(cmd, arg) (xen/common/memory.c do_memory_op): reservations
// (hypervisor/mm/reservation.ts) and the reservation queries.
//
// increase_reservation / decrease_reservation / populate_physmap take a struct
// xen_memory_reservation and return the number of extents done; as in Xen, a bad argument
// (unreadable struct, unknown domain, no privilege over it, an extent order beyond the
// limit) means none done, not an errno. current_reservation / maximum_reservation take a
// domid_t and return tot_pages / max_pages. maximum_ram_page returns the machine's top frame.

import type { Domain } from '../domain/domain.ts';
import { copyFromGuest, guestHandleOkay, readGuestU32, writeGuestU32 } from '../mm/guest_access.ts';
import { mayActOn } from '../mm/mmu_update.ts';
import { finishMm, mmContext } from '../mm/page_types.ts';
import { currentReservation, decreaseReservation, increaseReservation, populatePhysmap, type ExtentList } from '../mm/reservation.ts';
import { DOMID } from '../../protocol/xen/xen.ts';
import { MEMOP_CMD_MASK, MEMOP_EXTENT_SHIFT, XENMEM, XEN_MEMORY_RESERVATION, XENMEMF } from '../../protocol/xen/memory.ts';
import { xenErr } from '../../protocol/xen/errno.ts';
import type { HypercallHandler } from './types.ts';

const PFN_SIZE = 4; // xen_pfn_t on RV32

export const memoryOp: HypercallHandler = (ctx, cmd, arg) => {
  const { hv, vcpu } = ctx;
  const caller = vcpu.domain;
  const hart = vcpu.hart;
  const op = cmd & MEMOP_CMD_MASK;
  const start = cmd >>> MEMOP_EXTENT_SHIFT;
  const byAnyId = (domid: number): Domain | undefined => (domid === DOMID.SELF ? caller : hv.domain(domid));
  switch (op) {
    case XENMEM.increase_reservation:
    case XENMEM.decrease_reservation:
    case XENMEM.populate_physmap: {
      const r = copyFromGuest(hart, arg, XEN_MEMORY_RESERVATION.SIZE);
      if (r === null) return start;
      const dv = new DataView(r.buffer);
      const listVa = dv.getUint32(XEN_MEMORY_RESERVATION.extent_start, true);
      const nr = dv.getUint32(XEN_MEMORY_RESERVATION.nr_extents, true);
      const order = dv.getUint32(XEN_MEMORY_RESERVATION.extent_order, true);
      const memFlags = dv.getUint32(XEN_MEMORY_RESERVATION.mem_flags, true);
      const domid = dv.getUint16(XEN_MEMORY_RESERVATION.domid, true);
      // Too many extents to encode a continuation, or nothing left to do.
      if (nr > 0xffff_ffff >>> MEMOP_EXTENT_SHIFT || start >= nr) return start;
      const d = byAnyId(domid);
      if (!d || !mayActOn(caller, d)) return start;
      const addressBits = memFlags & XENMEMF.address_bits_mask;
      if (addressBits !== 0 && addressBits < 12) return start;
      let list: ExtentList | null = null;
      if (listVa !== 0 || op !== XENMEM.increase_reservation) {
        // Xen's guest_handle_subrange_okay(extent_start, start, nr - 1).
        if (!guestHandleOkay(listVa, nr, PFN_SIZE)) return start;
        list = {
          read: (i) => readGuestU32(hart, listVa + i * PFN_SIZE),
          write: (i, v) => writeGuestU32(hart, listVa + i * PFN_SIZE, v),
        };
      }
      const mm = mmContext(hv);
      const args = { list, nrExtents: nr, extentOrder: order, start, addressBits };
      const done =
        op === XENMEM.increase_reservation
          ? increaseReservation(mm, caller, d, args)
          : op === XENMEM.decrease_reservation
            ? decreaseReservation(mm, caller, d, args)
            : populatePhysmap(mm, caller, d, args);
      finishMm(mm);
      return done;
    }
    case XENMEM.current_reservation:
    case XENMEM.maximum_reservation: {
      const b = copyFromGuest(hart, arg, 2);
      if (b === null) return xenErr('EFAULT');
      const d = byAnyId(b[0]! | (b[1]! << 8));
      if (!d) return xenErr('ESRCH');
      if (!mayActOn(caller, d)) return xenErr('EPERM');
      return op === XENMEM.current_reservation ? currentReservation(mmContext(hv), d) : d.maxPages;
    }
    case XENMEM.maximum_ram_page:
      return hv.frames.firstMfn + hv.frames.nrFrames;
    default:
      return xenErr('ENOSYS');
  }
};

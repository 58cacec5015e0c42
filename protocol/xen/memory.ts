// HYPERVISOR_memory_op(cmd, arg): sub-operation numbers and struct xen_memory_reservation
// (xen/memory.h), as compiled for RV32 ilp32. tests/mm-abi.test.ts pins them to Xen's headers.
//
// `cmd` carries the sub-op in its low MEMOP_EXTENT_SHIFT bits and, above them, the extent
// to start from (how a preempted call resumes; guests normally pass 0).

export const XENMEM = {
  increase_reservation: 0,
  decrease_reservation: 1,
  maximum_ram_page: 2,
  current_reservation: 3,
  maximum_reservation: 4,
  machphys_mfn_list: 5,
  populate_physmap: 6,
  exchange: 11,
  machphys_mapping: 12,
  maximum_gpfn: 14,
} as const;

export const MEMOP_EXTENT_SHIFT = 6;
export const MEMOP_CMD_MASK = (1 << MEMOP_EXTENT_SHIFT) - 1;

/**
 * struct xen_memory_reservation { XEN_GUEST_HANDLE(xen_pfn_t) extent_start;
 * xen_ulong_t nr_extents; unsigned int extent_order; unsigned int mem_flags; domid_t domid; }
 */
export const XEN_MEMORY_RESERVATION = {
  extent_start: 0,
  nr_extents: 4,
  extent_order: 8,
  mem_flags: 12,
  domid: 16,
  SIZE: 20,
} as const;

/** mem_flags: the low 8 bits are XENMEMF_address_bits (0 = no limit). */
export const XENMEMF = {
  address_bits_mask: 0xff,
  populate_on_demand: 1 << 16,
  exact_node_request: 1 << 17,
  vnode: 1 << 18,
} as const;

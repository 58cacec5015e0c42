import { PAGE_SIZE } from './xen.ts';
// Grant tables, version 1 (xen/grant_table.h), as compiled for RV32 ilp32.
// tests/gnttab-abi.test.ts pins every number and offset below to Xen's headers.
//
// A domain shares a frame by writing a grant entry into its own grant table (frames it got
// from GNTTABOP_setup_table, 512 entries of 8 bytes per frame):
//
//   granter writes  { frame, domid }, then flags = GTF_permit_access [| GTF_readonly]
//   hypervisor sets  GTF_reading [| GTF_writing] while the grant is mapped or copied
//   granter revokes  by clearing flags, once GTF_reading/GTF_writing are clear
//
// The grantee maps it (GNTTABOP_map_grant_ref: a PTE at `host_addr` and/or a bus address),
// unmaps it by handle, or copies to/from it (GNTTABOP_copy). Per-op results are GNTST_*
// statuses in the op structs; the hypercall itself returns 0 unless the array is unreadable.

export const GNTTABOP = {
  map_grant_ref: 0,
  unmap_grant_ref: 1,
  setup_table: 2,
  dump_table: 3,
  transfer: 4,
  copy: 5,
  query_size: 6,
  unmap_and_replace: 7,
  set_version: 8,
  get_status_frames: 9,
  get_version: 10,
  swap_grant_ref: 11,
  cache_flush: 12,
} as const;

/** do_grant_table_op: bits of `cmd` above the command are continuation state. */
export const GNTTABOP_CMD_MASK = (1 << 12) - 1;

/** Grant entry flags (grant_entry_v1.flags). */
export const GTF = {
  invalid: 0,
  permit_access: 1,
  accept_transfer: 2,
  transitive: 3,
  type_mask: 3,
  readonly: 1 << 2,
  reading: 1 << 3,
  writing: 1 << 4,
  PWT: 1 << 5,
  PCD: 1 << 6,
  PAT: 1 << 7,
  sub_page: 1 << 8,
  transfer_committed: 1 << 2,
  transfer_completed: 1 << 3,
} as const;

/** gnttab_map_grant_ref.flags. */
export const GNTMAP = {
  device_map: 1 << 0,
  host_map: 1 << 1,
  readonly: 1 << 2,
  application_map: 1 << 3,
  contains_pte: 1 << 4,
} as const;

/** Statuses (int16_t) written to the op structs. */
export const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
  no_space: -13,
} as const;

export const GNTCOPY = { source_gref: 1 << 0, dest_gref: 1 << 1 } as const;

/** The first entries are reserved for the toolstack (console, xenstore). */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
export const GNTTAB_RESERVED_CONSOLE = 0;
export const GNTTAB_RESERVED_XENSTORE = 1;

/** struct grant_entry_v1 { uint16_t flags; domid_t domid; uint32_t frame; } */
export const GRANT_ENTRY_V1 = { flags: 0, domid: 2, frame: 4, SIZE: 8 } as const;
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1.SIZE;

/** struct gnttab_setup_table { domid_t dom; uint32_t nr_frames; int16_t status; XEN_GUEST_HANDLE(xen_pfn_t) frame_list; } */
export const GNTTAB_SETUP_TABLE = { dom: 0, nr_frames: 4, status: 8, frame_list: 12, SIZE: 16 } as const;

/** struct gnttab_query_size { domid_t dom; uint32_t nr_frames; uint32_t max_nr_frames; int16_t status; } */
export const GNTTAB_QUERY_SIZE = { dom: 0, nr_frames: 4, max_nr_frames: 8, status: 12, SIZE: 16 } as const;

/**
 * struct gnttab_map_grant_ref { uint64_t host_addr; uint32_t flags; grant_ref_t ref; domid_t dom;
 * int16_t status; grant_handle_t handle; uint64_t dev_bus_addr; }
 */
export const GNTTAB_MAP_GRANT_REF = { host_addr: 0, flags: 8, ref: 12, dom: 16, status: 18, handle: 20, dev_bus_addr: 24, SIZE: 32 } as const;

/** struct gnttab_unmap_grant_ref { uint64_t host_addr; uint64_t dev_bus_addr; grant_handle_t handle; int16_t status; } */
export const GNTTAB_UNMAP_GRANT_REF = { host_addr: 0, dev_bus_addr: 8, handle: 16, status: 20, SIZE: 24 } as const;

/**
 * struct gnttab_copy { struct gnttab_copy_ptr { union { grant_ref_t ref; xen_pfn_t gmfn; } u;
 * domid_t domid; uint16_t offset; } source, dest; uint16_t len; uint16_t flags; int16_t status; }
 */
export const GNTTAB_COPY = {
  source_u: 0,
  source_domid: 4,
  source_offset: 6,
  dest_u: 8,
  dest_domid: 12,
  dest_offset: 14,
  len: 16,
  flags: 18,
  status: 20,
  SIZE: 24,
} as const;

/** struct gnttab_set_version { uint32_t version; } */
export const GNTTAB_SET_VERSION = { version: 0, SIZE: 4 } as const;
/** struct gnttab_get_version { domid_t dom; uint16_t pad; uint32_t version; } */
export const GNTTAB_GET_VERSION = { dom: 0, version: 4, SIZE: 8 } as const;

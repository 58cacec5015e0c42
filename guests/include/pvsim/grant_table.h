/*
 * Grant tables, version 1 (grant_table.h) for RV32 ilp32: the shared entry
 * layout, the GTF_* flags a granting domain writes, and the GNTTABOP_*
 * sub-operations of HYPERVISOR_grant_table_op(cmd, ops, count). Each op has
 * its own int16 `status` (GNTST_*); the hypercall's own result only says
 * whether the batch could be read at all.
 *
 * PV semantics: a v1 entry's `frame` is the machine frame being granted; a
 * host mapping (GNTMAP_host_map) writes the L1 entry of `host_addr` in the
 * mapper's current address space, and unmapping clears it.
 */
#ifndef PVSIM_GRANT_TABLE_H
#define PVSIM_GRANT_TABLE_H

#include <pvsim/xen_types.h>

#define GNTTABOP_map_grant_ref      0
#define GNTTABOP_unmap_grant_ref    1
#define GNTTABOP_setup_table        2
#define GNTTABOP_dump_table         3
#define GNTTABOP_transfer           4
#define GNTTABOP_copy               5
#define GNTTABOP_query_size         6
#define GNTTABOP_unmap_and_replace  7
#define GNTTABOP_set_version        8
#define GNTTABOP_get_status_frames  9
#define GNTTABOP_get_version       10

/* grant_entry_v1.flags: the type ... */
#define GTF_invalid          0U
#define GTF_permit_access    1U     /* domid may map or copy `frame` */
#define GTF_accept_transfer  2U
#define GTF_transitive       3U
#define GTF_type_mask        3U
/* ... and the sub-flags. */
#define GTF_readonly         (1U << 2)  /* granter: read-only access only */
#define GTF_reading          (1U << 3)  /* hypervisor: the grantee has it mapped/copying, reading */
#define GTF_writing          (1U << 4)  /* hypervisor: ... writable */
#define GTF_PWT              (1U << 5)
#define GTF_PCD              (1U << 6)
#define GTF_PAT              (1U << 7)
#define GTF_sub_page         (1U << 8)

/* gnttab_map_grant_ref.flags */
#define GNTMAP_device_map       (1U << 0)
#define GNTMAP_host_map         (1U << 1)   /* map at host_addr (a VA with an L1 entry) */
#define GNTMAP_readonly         (1U << 2)
#define GNTMAP_application_map  (1U << 3)
#define GNTMAP_contains_pte     (1U << 4)   /* host_addr is the machine address of the PTE */

/* gnttab_copy.flags */
#define GNTCOPY_source_gref     (1U << 0)   /* source.u.ref is a grant of source.domid */
#define GNTCOPY_dest_gref       (1U << 1)   /* dest.u.ref is a grant of dest.domid */

/* Per-operation status. */
#define GNTST_okay               0
#define GNTST_general_error     (-1)
#define GNTST_bad_domain        (-2)
#define GNTST_bad_gntref        (-3)
#define GNTST_bad_handle        (-4)
#define GNTST_bad_virt_addr     (-5)
#define GNTST_bad_dev_addr      (-6)
#define GNTST_no_device_space   (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page          (-9)
#define GNTST_bad_copy_arg     (-10)
#define GNTST_address_too_big  (-11)
#define GNTST_eagain           (-12)
#define GNTST_no_space         (-13)

/* Refs Linux keeps for the toolstack (xenstore, console): the first free is 8. */
#define GNTTAB_NR_RESERVED_ENTRIES 8

struct grant_entry_v1 {
    uint16_t flags;             /* GTF_*; written last by the granter */
    domid_t domid;              /* who may use it */
    uint32_t frame;             /* machine frame (PV) */
};
typedef struct grant_entry_v1 grant_entry_v1_t;
PV_CHECK_OFFSET(struct grant_entry_v1, domid, 2);
PV_CHECK_OFFSET(struct grant_entry_v1, frame, 4);
PV_CHECK_SIZE(struct grant_entry_v1, 8);

#define GNTTAB_ENTRIES_PER_FRAME (4096 / sizeof(struct grant_entry_v1))

struct gnttab_map_grant_ref {
    uint64_t host_addr;         /* IN */
    uint32_t flags;             /* IN: GNTMAP_* */
    grant_ref_t ref;            /* IN */
    domid_t dom;                /* IN: the granting domain */
    int16_t status;             /* OUT: GNTST_* */
    grant_handle_t handle;      /* OUT: for unmap */
    uint64_t dev_bus_addr;      /* OUT */
};
PV_CHECK_OFFSET(struct gnttab_map_grant_ref, flags, 8);
PV_CHECK_OFFSET(struct gnttab_map_grant_ref, ref, 12);
PV_CHECK_OFFSET(struct gnttab_map_grant_ref, dom, 16);
PV_CHECK_OFFSET(struct gnttab_map_grant_ref, status, 18);
PV_CHECK_OFFSET(struct gnttab_map_grant_ref, handle, 20);
PV_CHECK_OFFSET(struct gnttab_map_grant_ref, dev_bus_addr, 24);
PV_CHECK_SIZE(struct gnttab_map_grant_ref, 32);

struct gnttab_unmap_grant_ref {
    uint64_t host_addr;         /* IN */
    uint64_t dev_bus_addr;      /* IN */
    grant_handle_t handle;      /* IN */
    int16_t status;             /* OUT */
};
PV_CHECK_OFFSET(struct gnttab_unmap_grant_ref, dev_bus_addr, 8);
PV_CHECK_OFFSET(struct gnttab_unmap_grant_ref, handle, 16);
PV_CHECK_OFFSET(struct gnttab_unmap_grant_ref, status, 20);
PV_CHECK_SIZE(struct gnttab_unmap_grant_ref, 24);

struct gnttab_setup_table {
    domid_t dom;                /* IN: DOMID_SELF */
    uint32_t nr_frames;         /* IN */
    int16_t status;             /* OUT */
    PV_GUEST_HANDLE(xen_pfn_t) frame_list;  /* OUT: the frames' mfns (PV) */
};
PV_CHECK_OFFSET(struct gnttab_setup_table, nr_frames, 4);
PV_CHECK_OFFSET(struct gnttab_setup_table, status, 8);
PV_CHECK_OFFSET(struct gnttab_setup_table, frame_list, 12);
PV_CHECK_SIZE(struct gnttab_setup_table, 16);

struct gnttab_copy_ptr {
    union {
        grant_ref_t ref;        /* with GNTCOPY_*_gref */
        xen_pfn_t gmfn;         /* otherwise: a frame of domid (PV: mfn) */
    } u;
    domid_t domid;
    uint16_t offset;
};
PV_CHECK_OFFSET(struct gnttab_copy_ptr, domid, 4);
PV_CHECK_OFFSET(struct gnttab_copy_ptr, offset, 6);
PV_CHECK_SIZE(struct gnttab_copy_ptr, 8);

struct gnttab_copy {
    struct gnttab_copy_ptr source, dest;    /* IN */
    uint16_t len;               /* IN: bytes; neither side may cross its page */
    uint16_t flags;             /* IN: GNTCOPY_* */
    int16_t status;             /* OUT */
};
PV_CHECK_OFFSET(struct gnttab_copy, dest, 8);
PV_CHECK_OFFSET(struct gnttab_copy, len, 16);
PV_CHECK_OFFSET(struct gnttab_copy, flags, 18);
PV_CHECK_OFFSET(struct gnttab_copy, status, 20);
PV_CHECK_SIZE(struct gnttab_copy, 24);

struct gnttab_query_size {
    domid_t dom;                /* IN */
    uint32_t nr_frames;         /* OUT */
    uint32_t max_nr_frames;     /* OUT */
    int16_t status;             /* OUT */
};
PV_CHECK_OFFSET(struct gnttab_query_size, nr_frames, 4);
PV_CHECK_OFFSET(struct gnttab_query_size, max_nr_frames, 8);
PV_CHECK_OFFSET(struct gnttab_query_size, status, 12);
PV_CHECK_SIZE(struct gnttab_query_size, 16);

#endif

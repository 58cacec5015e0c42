/*
 * Grant-table client for PV kernels (lib/gnttab.c), version 1.
 *
 * gnttab_init() asks for the table with GNTTABOP_setup_table and maps its
 * frames read-write at fixed kernel addresses. Refs 0-7 are reserved, as in
 * Linux (xenstore and console use fixed ones), so the first ref handed out
 * is GNTTAB_NR_RESERVED_ENTRIES (8).
 *
 * Granting: write frame and domid, a write barrier, then flags (the entry
 * becomes valid with its flags). Ending: atomically clear the flags unless
 * the hypervisor marked the entry GTF_reading/GTF_writing (still in use).
 */
#ifndef PVSIM_GNTTAB_H
#define PVSIM_GNTTAB_H

#include <pvsim/grant_table.h>

#define GNTTAB_NR_FRAMES  2U    /* frames asked for: 1024 v1 entries (blkfront at qd 32 with 64 KiB requests holds 544) */

/* Panics if the table cannot be set up or mapped. Idempotent. */
void gnttab_init(void);

/* Grants domid access to machine frame mfn. Returns the ref (>= 8) or -errno. */
int gnttab_grant_access(domid_t domid, xen_pfn_t mfn, bool readonly);
/* The same for a given ref (reserved ones included). */
int gnttab_grant_access_ref(grant_ref_t ref, domid_t domid, xen_pfn_t mfn, bool readonly);
/* Revokes the grant: 0, or -XEN_EBUSY while the grantee still uses it. */
int gnttab_end_access(grant_ref_t ref);
/* gnttab_end_access, then returns the ref to the free pool. */
int gnttab_free_access(grant_ref_t ref);

/* Maps dom's grant ref at kernel address va (GNTMAP_host_map; va must have
 * an L1 entry, e.g. a kmap_va() slot). Both return the hypercall's result
 * (< 0: the op was not even read) and put the op's GNTST_* in *status; the
 * map worked if both are 0. */
int gnttab_map(domid_t dom, grant_ref_t ref, void *va, bool readonly,
               grant_handle_t *handle, int *status);
int gnttab_unmap(void *va, grant_handle_t handle, int *status);

/* GNTTABOP_copy of n ops; returns the hypercall result (0: look at each
 * op's status). */
int gnttab_copy(struct gnttab_copy *ops, unsigned int n);

/* "okay", "bad_gntref", ... for a GNTST_* value. */
const char *gntst_name(int status);

#endif

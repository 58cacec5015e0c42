/*
 * Basic Xen interface types as they are sized on pvsim's RV32 (ilp32) port:
 * unsigned long, xen_ulong_t, xen_pfn_t and guest handles are all 32 bits;
 * 64-bit fields keep their natural 8-byte alignment.
 */
#ifndef PVSIM_XEN_TYPES_H
#define PVSIM_XEN_TYPES_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <pvsim/compiler.h>

typedef uint32_t xen_ulong_t;
typedef uint32_t xen_pfn_t;
typedef uint16_t domid_t;
typedef uint32_t evtchn_port_t;
typedef uint32_t grant_ref_t;
typedef uint32_t grant_handle_t;

/* Special domain ids (xen.h). */
#define DOMID_FIRST_RESERVED ((domid_t)0x7FF0U)
#define DOMID_SELF           ((domid_t)0x7FF0U)  /* the calling domain */
#define DOMID_IO             ((domid_t)0x7FF1U)
#define DOMID_XEN            ((domid_t)0x7FF2U)
#define DOMID_COW            ((domid_t)0x7FF3U)
#define DOMID_INVALID        ((domid_t)0x7FF4U)
#define DOMID_IDLE           ((domid_t)0x7FFFU)

/* A guest handle on RV32 is a plain 32-bit guest virtual address. */
#define PV_GUEST_HANDLE(type) type *

_Static_assert(sizeof(unsigned long) == 4, "pvsim guests are ilp32");
_Static_assert(sizeof(void *) == 4, "pvsim guests are ilp32");
_Static_assert(_Alignof(uint64_t) == 8, "64-bit fields are 8-aligned");

#endif

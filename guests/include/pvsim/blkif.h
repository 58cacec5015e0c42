/*
 * Xen's block-device ring protocol (io/blkif.h with io/ring.h's
 * DEFINE_RING_TYPES(blkif, ...)), as RV32 lays it out: 64-bit fields are
 * 8-aligned, so the layout is x86_64's ("x86_64-abi"). Pinned to Xen's
 * headers by `make abi-check`.
 */
#ifndef PVSIM_BLKIF_H
#define PVSIM_BLKIF_H

#include <pvsim/xen_types.h>
#include <pvsim/ring.h>

typedef uint16_t blkif_vdev_t;
typedef uint64_t blkif_sector_t;

#define BLKIF_OP_READ              0
#define BLKIF_OP_WRITE             1
#define BLKIF_OP_WRITE_BARRIER     2
#define BLKIF_OP_FLUSH_DISKCACHE   3
#define BLKIF_OP_DISCARD           5
#define BLKIF_OP_INDIRECT          6

#define BLKIF_MAX_SEGMENTS_PER_REQUEST 11
#define BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST 8

#define BLKIF_RSP_EOPNOTSUPP  -2
#define BLKIF_RSP_ERROR       -1
#define BLKIF_RSP_OKAY         0

#define VDISK_CDROM     0x1
#define VDISK_REMOVABLE 0x2
#define VDISK_READONLY  0x4

#define BLKIF_SECTOR_SIZE 512U

struct blkif_request_segment {
    grant_ref_t gref;           /* the data page's grant */
    uint8_t first_sect, last_sect;  /* 512-byte sectors of that page, inclusive */
};

struct blkif_request {
    uint8_t operation;          /* BLKIF_OP_* */
    uint8_t nr_segments;
    blkif_vdev_t handle;        /* only for read/write requests */
    uint64_t id;                /* private guest value, echoed in the response */
    blkif_sector_t sector_number;
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

struct blkif_request_discard {
    uint8_t operation;          /* BLKIF_OP_DISCARD */
    uint8_t flag;
    blkif_vdev_t handle;
    uint64_t id;
    blkif_sector_t sector_number;
    uint64_t nr_sectors;
};

/* Segments live in granted pages (indirect_grefs), 512 per page; offered by a
 * backend's feature-max-indirect-segments. Padded as Xen's __i386__ layout. */
struct blkif_request_indirect {
    uint8_t operation;          /* BLKIF_OP_INDIRECT */
    uint8_t indirect_op;        /* BLKIF_OP_READ or BLKIF_OP_WRITE */
    uint16_t nr_segments;
    uint32_t _pad1;
    uint64_t id;
    blkif_sector_t sector_number;
    blkif_vdev_t handle;
    uint16_t _pad2;
    grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    uint64_t _pad3;
};

struct blkif_response {
    uint64_t id;
    uint8_t operation;
    int16_t status;             /* BLKIF_RSP_* */
};

/* (4096 - 64) / 112, rounded down to a power of 2 */
#define BLKIF_RING_SIZE 32U

PVSIM_DEFINE_SRING(blkif, struct blkif_request, struct blkif_response, BLKIF_RING_SIZE);
_Static_assert(BLKIF_RING_SIZE == PVSIM_CONST_RING_SIZE(sizeof(union blkif_sring_entry)),
               "blkif ring size");

#endif

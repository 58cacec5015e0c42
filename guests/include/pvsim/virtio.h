/*
 * virtio for the native kernel (lib/virtio.c, lib/virtio_blk.c,
 * lib/virtio_net.c): the virtio 1.2 specification's MMIO transport
 * (version 2 only: section 4.2.2), split virtqueues (2.7) and the block
 * (5.2) and network (5.1) devices. Constants and layouts are the spec's;
 * the code is pvsim's.
 *
 * A transport slot is a `virtio,mmio` node of the device tree. Device
 * memory is little-endian; RV32 is too, so fields are plain loads and
 * stores, and guest-physical = kernel-virtual (the native kernel maps RAM
 * 1:1), so buffer addresses go to the device as they are.
 */
#ifndef PVSIM_VIRTIO_H
#define PVSIM_VIRTIO_H

#include <stdint.h>
#include <stdbool.h>
#include <stddef.h>

/* MMIO registers (4.2.2), offsets from the slot's base. */
#define VIRTIO_MMIO_MAGIC_VALUE         0x000   /* "virt" */
#define VIRTIO_MMIO_VERSION             0x004   /* 2; 1 is the legacy interface */
#define VIRTIO_MMIO_DEVICE_ID           0x008   /* 0: no device */
#define VIRTIO_MMIO_VENDOR_ID           0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES     0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES     0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL           0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX       0x034
#define VIRTIO_MMIO_QUEUE_NUM           0x038
#define VIRTIO_MMIO_QUEUE_READY         0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY        0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS    0x060
#define VIRTIO_MMIO_INTERRUPT_ACK       0x064
#define VIRTIO_MMIO_STATUS              0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW      0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH     0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW    0x090   /* the available ring */
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH   0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW    0x0a0   /* the used ring */
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH   0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION   0x0fc
#define VIRTIO_MMIO_CONFIG              0x100   /* device-specific configuration */

#define VIRTIO_MMIO_MAGIC               0x74726976U
#define VIRTIO_MMIO_INT_VRING           (1U << 0)   /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG          (1U << 1)   /* configuration change */

/* Device status (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE       1U
#define VIRTIO_STATUS_DRIVER            2U
#define VIRTIO_STATUS_DRIVER_OK         4U
#define VIRTIO_STATUS_FEATURES_OK       8U
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64U
#define VIRTIO_STATUS_FAILED            128U

/* Device IDs (5). */
#define VIRTIO_ID_NET                   1U
#define VIRTIO_ID_BLOCK                 2U

/* Reserved feature bits (6). */
#define VIRTIO_F_RING_INDIRECT_DESC     28
#define VIRTIO_F_RING_EVENT_IDX         29
#define VIRTIO_F_VERSION_1              32
#define VIRTIO_F_ACCESS_PLATFORM        33
#define VIRTIO_F_RING_PACKED            34

/* Split virtqueues (2.7). */
#define VIRTQ_DESC_F_NEXT               1U
#define VIRTQ_DESC_F_WRITE              2U  /* device writes (otherwise reads) */
#define VIRTQ_DESC_F_INDIRECT           4U
#define VIRTQ_AVAIL_F_NO_INTERRUPT      1U
#define VIRTQ_USED_F_NO_NOTIFY          1U

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];            /* then used_event (VIRTIO_F_RING_EVENT_IDX) */
};

struct virtq_used_elem {
    uint32_t id;                /* head of the chain */
    uint32_t len;               /* bytes written into the chain's device-writable part */
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];  /* then avail_event (VIRTIO_F_RING_EVENT_IDX) */
};

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem");

/* 2.7.10: must the other side be told, having moved from old to new_idx
 * while it asked to hear at event? */
static inline bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/* virtio-blk (5.2). */
#define VIRTIO_BLK_F_SIZE_MAX           1
#define VIRTIO_BLK_F_SEG_MAX            2
#define VIRTIO_BLK_F_RO                 5
#define VIRTIO_BLK_F_BLK_SIZE           6
#define VIRTIO_BLK_F_FLUSH              9
#define VIRTIO_BLK_CFG_CAPACITY         0x00    /* le64, 512-byte sectors */
#define VIRTIO_BLK_CFG_SIZE_MAX         0x08    /* le32 */
#define VIRTIO_BLK_CFG_SEG_MAX          0x0c    /* le32 */
#define VIRTIO_BLK_T_IN                 0U
#define VIRTIO_BLK_T_OUT                1U
#define VIRTIO_BLK_T_FLUSH              4U
#define VIRTIO_BLK_T_GET_ID             8U
#define VIRTIO_BLK_S_OK                 0U
#define VIRTIO_BLK_S_IOERR              1U
#define VIRTIO_BLK_S_UNSUPP             2U
#define VIRTIO_BLK_ID_BYTES             20U

struct virtio_blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio_blk_req header");

/* virtio-net (5.1). */
#define VIRTIO_NET_F_MAC                5
#define VIRTIO_NET_F_STATUS             16
#define VIRTIO_NET_CFG_MAC              0x00    /* 6 bytes */
#define VIRTIO_NET_RX_QUEUE             0U      /* receiveq1 */
#define VIRTIO_NET_TX_QUEUE             1U      /* transmitq1 */

/* With VIRTIO_F_VERSION_1 the header always has num_buffers: 12 bytes. */
struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
_Static_assert(sizeof(struct virtio_net_hdr) == 12, "virtio_net_hdr");

/* ---- the driver side (lib/virtio.c) ---- */

#define VIRTQ_MAX_SIZE 256U     /* queues are cut to this: each ring fits a page */

struct virtq {
    uint16_t size;              /* QueueNum */
    uint16_t index;             /* queue number within the device */
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint16_t free_head;         /* free descriptors, linked through next */
    uint16_t nr_free;
    uint16_t avail_idx;         /* our copy of avail->idx */
    uint16_t last_used;         /* used entries consumed */
    uint16_t kicked_idx;        /* avail_idx at the last notify decision */
    uint32_t bad_used;          /* used entries naming no chain in flight (ignored) */
    void *cookie[VIRTQ_MAX_SIZE];   /* per head: what the chain was for */
};

struct virtio_dev {
    uintptr_t base;
    uint32_t irq;               /* PLIC source, 0: none (polling) */
    uint32_t device_id;
    uint64_t features;          /* negotiated */
    bool event_idx, indirect;
    uint32_t notifies, interrupts;  /* queue notifications sent; interrupts taken */
};

/* One buffer of a chain: device-readable, or writable with `write`. */
struct virtq_buf {
    void *addr;
    uint32_t len;
    bool write;
};

/* Finds the first slot holding device_id (after skipping `skip` of them),
 * resets it and negotiates: VIRTIO_F_VERSION_1 required (-XEN_EOPNOTSUPP
 * without, and for a version 1 slot), INDIRECT_DESC and EVENT_IDX taken
 * when offered, plus `wanted` device features as offered. Status is left at
 * FEATURES_OK; set up queues, then virtio_driver_ok. -XEN_ENODEV: none. */
int virtio_probe(struct virtio_dev *dev, uint32_t device_id, uint64_t wanted);
/* Queue `index`: its size is QueueNumMax capped at VIRTQ_MAX_SIZE and at
 * max_size; rings in fresh zeroed pages. */
int virtio_queue_setup(struct virtio_dev *dev, struct virtq *q, unsigned int index,
                       unsigned int max_size);
void virtio_driver_ok(struct virtio_dev *dev);
/* Sets FAILED (the driver gives up on the device). */
void virtio_fail(struct virtio_dev *dev);
uint32_t virtio_status(struct virtio_dev *dev);
uint8_t virtio_config8(struct virtio_dev *dev, unsigned int off);
uint32_t virtio_config32(struct virtio_dev *dev, unsigned int off);
uint64_t virtio_config64(struct virtio_dev *dev, unsigned int off);

/* Whether the device has set DEVICE_NEEDS_RESET (or the driver FAILED). */
bool virtio_broken(struct virtio_dev *dev);
/* Places a chain of n buffers (readable ones first) as one available entry:
 * as an indirect table (table: 16 bytes per buffer, device-readable memory
 * the caller keeps until completion) when given and negotiated, else as
 * n ring descriptors. Returns the head, or -XEN_EAGAIN without room. Does
 * not notify. */
int virtq_add(struct virtq *q, const struct virtq_buf *bufs, unsigned int n, void *cookie,
              struct virtq_desc *table, struct virtio_dev *dev);
/* Notifies the device of new entries, unless it asked not to be (EVENT_IDX:
 * avail_event; else VIRTQ_USED_F_NO_NOTIFY). */
void virtq_kick(struct virtio_dev *dev, struct virtq *q);
/* Takes one used entry: its cookie (NULL if none, or if the entry names no
 * chain in flight: counted in bad_used) and the written length. Cookies
 * must not be NULL. */
void *virtq_get(struct virtq *q, uint32_t *len);
/* Whether a used entry is waiting. */
bool virtq_has_used(struct virtq *q);
/* Acknowledges the device's interrupt (InterruptStatus -> InterruptACK). */
void virtio_ack(struct virtio_dev *dev);

/* ---- devices ---- */

/* virtio-blk (lib/virtio_blk.c): the first block device. */
struct virtio_blk_info {
    struct virtio_dev dev;
    uint64_t sectors;
    bool flush;                 /* VIRTIO_BLK_F_FLUSH negotiated */
    bool ro;
    uint32_t size_max, seg_max; /* 0: not given */
    uint16_t queue_size;
    unsigned int max_inflight;  /* requests that fit at once */
    char id[VIRTIO_BLK_ID_BYTES + 1];   /* GET_ID, "" if refused */
};
extern struct virtio_blk_info virtio_blk;
int virtio_blk_init(void);
/* Asynchronous requests: a tag, or -XEN_EBUSY (max_inflight outstanding),
 * -XEN_EINVAL, -XEN_ENOSPC past the end, -XEN_EROFS. write false: read. */
int virtio_blk_submit(bool write, uint64_t sector, void *buf, unsigned int nsect);
/* 0, -XEN_EIO (IOERR, or the device needs a reset), -XEN_EOPNOTSUPP, or
 * -XEN_ETIMEDOUT after VIRTIO_BLK_TIMEOUT_NS (the request stays the device's). */
#define VIRTIO_BLK_TIMEOUT_NS 30000000000ULL
int virtio_blk_wait(int tag);
int virtio_blk_flush(void);

/* virtio-net (lib/virtio_net.c): the first network device. */
struct virtio_net_info {
    struct virtio_dev dev;
    uint8_t mac[6];
    bool mac_from_device;       /* VIRTIO_NET_F_MAC */
    uint16_t rx_size, tx_size;
};
struct virtio_net_stats {
    uint32_t tx_packets, tx_busy, rx_packets, rx_errors;
};
extern struct virtio_net_info virtio_net;
extern struct virtio_net_stats virtio_net_stats;
typedef void (*virtio_net_rx_fn)(const uint8_t *frame, size_t len);
int virtio_net_init(virtio_net_rx_fn rx);
/* One frame of n pieces, copied: 0, -XEN_EAGAIN (no free tx buffer),
 * -XEN_EINVAL (empty or over 1514 bytes). */
struct net_buf;
int virtio_net_send(const struct net_buf *pieces, unsigned int n);
/* Sleeps until a frame arrives or deadline_ns; with deliver, passes the
 * received frames to rx; reclaims tx buffers. */
void virtio_net_wait(uint64_t deadline_ns, bool deliver);

#endif

/*
 * The virtio-mmio transport and split virtqueues for the native kernel (see
 * pvsim/virtio.h): virtio 1.2, 4.2.3 (driver initialization over MMIO),
 * 3.1 (the status handshake) and 2.7 (split virtqueues).
 */
#include <pvsim/virtio.h>
#include <pvsim/native.h>
#include <pvsim/mm.h>
#include <pvsim/string.h>
#include <pvsim/console.h>
#include <pvsim/xen_errno.h>

static inline uint32_t rd(const struct virtio_dev *d, unsigned int off)
{
    return *(volatile uint32_t *)(d->base + off);
}

static inline void wr(const struct virtio_dev *d, unsigned int off, uint32_t v)
{
    *(volatile uint32_t *)(d->base + off) = v;
}

static inline void mb(void)
{
    __asm__ volatile("fence rw, rw" ::: "memory");
}

uint32_t virtio_status(struct virtio_dev *dev)
{
    return rd(dev, VIRTIO_MMIO_STATUS);
}

static void set_status(struct virtio_dev *dev, uint32_t bits)
{
    wr(dev, VIRTIO_MMIO_STATUS, rd(dev, VIRTIO_MMIO_STATUS) | bits);
}

bool virtio_broken(struct virtio_dev *dev)
{
    return (rd(dev, VIRTIO_MMIO_STATUS) &
            (VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)) != 0;
}

void virtio_fail(struct virtio_dev *dev)
{
    set_status(dev, VIRTIO_STATUS_FAILED);
}

uint8_t virtio_config8(struct virtio_dev *dev, unsigned int off)
{
    return *(volatile uint8_t *)(dev->base + VIRTIO_MMIO_CONFIG + off);
}

uint32_t virtio_config32(struct virtio_dev *dev, unsigned int off)
{
    return rd(dev, VIRTIO_MMIO_CONFIG + off);
}

/* A 64-bit field is read as two words; ConfigGeneration tells a torn read (4.2.2.2). */
uint64_t virtio_config64(struct virtio_dev *dev, unsigned int off)
{
    uint32_t gen, lo, hi;

    do {
        gen = rd(dev, VIRTIO_MMIO_CONFIG_GENERATION);
        lo = rd(dev, VIRTIO_MMIO_CONFIG + off);
        hi = rd(dev, VIRTIO_MMIO_CONFIG + off + 4);
    } while (gen != rd(dev, VIRTIO_MMIO_CONFIG_GENERATION));
    return (uint64_t)hi << 32 | lo;
}

static uint64_t device_features(struct virtio_dev *dev)
{
    uint32_t lo, hi;

    wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    lo = rd(dev, VIRTIO_MMIO_DEVICE_FEATURES);
    wr(dev, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    hi = rd(dev, VIRTIO_MMIO_DEVICE_FEATURES);
    return (uint64_t)hi << 32 | lo;
}

static int negotiate(struct virtio_dev *dev, uint64_t wanted)
{
    uint64_t offered, take;

    /* 3.1.1: reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK, check it stuck. */
    wr(dev, VIRTIO_MMIO_STATUS, 0);
    while (rd(dev, VIRTIO_MMIO_STATUS) != 0)
        ;
    set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(dev, VIRTIO_STATUS_DRIVER);
    offered = device_features(dev);
    if (!(offered & (1ULL << VIRTIO_F_VERSION_1))) {
        virtio_fail(dev);
        return -XEN_EOPNOTSUPP;
    }
    take = offered & (wanted | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_RING_INDIRECT_DESC |
                      1ULL << VIRTIO_F_RING_EVENT_IDX);
    wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)take);
    wr(dev, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    wr(dev, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(take >> 32));
    set_status(dev, VIRTIO_STATUS_FEATURES_OK);
    if (!(rd(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        virtio_fail(dev);
        return -XEN_EOPNOTSUPP;
    }
    dev->features = take;
    dev->event_idx = (take >> VIRTIO_F_RING_EVENT_IDX) & 1;
    dev->indirect = (take >> VIRTIO_F_RING_INDIRECT_DESC) & 1;
    return 0;
}

int virtio_probe(struct virtio_dev *dev, uint32_t device_id, uint64_t wanted)
{
    const struct board_info *b = &native_board;
    int rc = -XEN_ENODEV;

    for (unsigned int i = 0; i < b->nr_virtio; i++) {
        const struct fdt_device *s = &b->virtio[i];

        if (s->size < VIRTIO_MMIO_CONFIG || native_ioremap(s->base, s->size) < 0)
            continue;
        memset(dev, 0, sizeof(*dev));
        dev->base = (uintptr_t)s->base;
        dev->irq = s->irq;
        if (rd(dev, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC)
            continue;
        dev->device_id = rd(dev, VIRTIO_MMIO_DEVICE_ID);
        if (dev->device_id != device_id)
            continue;                   /* 0 is an empty slot */
        if (rd(dev, VIRTIO_MMIO_VERSION) != 2) {
            /* The legacy interface (version 1) is not the spec's transport.
             * QEMU offers it by default: -global virtio-mmio.force-legacy=false. */
            printf("virtio: slot 0x%08lx: device %lu has MMIO version %lu, not 2; skipped\n",
                   (unsigned long)dev->base, (unsigned long)device_id,
                   (unsigned long)rd(dev, VIRTIO_MMIO_VERSION));
            rc = -XEN_EOPNOTSUPP;
            continue;
        }
        rc = negotiate(dev, wanted);
        if (rc == 0)
            return 0;
    }
    return rc;
}

static void *zeroed_page(void)
{
    xen_pfn_t pfn = page_alloc();

    clear_frame(pfn);
    return pfn_to_virt(pfn);
}

int virtio_queue_setup(struct virtio_dev *dev, struct virtq *q, unsigned int index,
                       unsigned int max_size)
{
    uint32_t max;
    uintptr_t desc, avail, used;

    wr(dev, VIRTIO_MMIO_QUEUE_SEL, index);
    if (rd(dev, VIRTIO_MMIO_QUEUE_READY) != 0)
        return -XEN_EBUSY;
    max = rd(dev, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0)
        return -XEN_ENODEV;
    if (max > VIRTQ_MAX_SIZE)
        max = VIRTQ_MAX_SIZE;
    if (max > max_size)
        max = max_size;
    memset(q, 0, sizeof(*q));
    q->size = (uint16_t)max;
    q->index = (uint16_t)index;
    /* One page each: 16 x 256 descriptors; 6 + 2 x 256 avail; 6 + 8 x 256 used. */
    q->desc = zeroed_page();
    q->avail = zeroed_page();
    q->used = zeroed_page();
    for (unsigned int i = 0; i < q->size; i++)
        q->desc[i].next = (uint16_t)(i + 1);
    q->free_head = 0;
    q->nr_free = q->size;
    desc = (uintptr_t)q->desc;
    avail = (uintptr_t)q->avail;
    used = (uintptr_t)q->used;
    wr(dev, VIRTIO_MMIO_QUEUE_NUM, q->size);
    wr(dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
    wr(dev, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
    wr(dev, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
    wr(dev, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)used);
    wr(dev, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
    mb();
    wr(dev, VIRTIO_MMIO_QUEUE_READY, 1);
    return 0;
}

void virtio_driver_ok(struct virtio_dev *dev)
{
    mb();
    set_status(dev, VIRTIO_STATUS_DRIVER_OK);
}

static volatile uint16_t *used_event(struct virtq *q)
{
    return &q->avail->ring[q->size];
}

static volatile uint16_t *avail_event(struct virtq *q)
{
    return (volatile uint16_t *)&q->used->ring[q->size];
}

int virtq_add(struct virtq *q, const struct virtq_buf *bufs, unsigned int n, void *cookie,
              struct virtq_desc *table, struct virtio_dev *dev)
{
    bool indirect = table != NULL && dev->indirect && n > 1;
    unsigned int need = indirect ? 1 : n;
    uint16_t head, d;

    if (n == 0 || n > q->size)
        return -XEN_EINVAL;
    if (q->nr_free < need)
        return -XEN_EAGAIN;
    head = q->free_head;
    if (indirect) {
        for (unsigned int i = 0; i < n; i++) {
            table[i].addr = (uintptr_t)bufs[i].addr;
            table[i].len = bufs[i].len;
            table[i].flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
                                        (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
            table[i].next = (uint16_t)(i + 1);
        }
        q->desc[head].addr = (uintptr_t)table;
        q->desc[head].len = (uint32_t)(n * sizeof(struct virtq_desc));
        q->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
        q->free_head = q->desc[head].next;
    } else {
        d = head;
        for (unsigned int i = 0; i < n; i++) {
            q->desc[d].addr = (uintptr_t)bufs[i].addr;
            q->desc[d].len = bufs[i].len;
            q->desc[d].flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
                                          (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
            if (i + 1 < n)
                d = q->desc[d].next;
        }
        q->free_head = q->desc[d].next;
    }
    q->nr_free = (uint16_t)(q->nr_free - need);
    q->cookie[head] = cookie;
    q->avail->ring[q->avail_idx % q->size] = head;
    mb();                       /* the entry before the index (2.7.13) */
    q->avail_idx++;
    q->avail->idx = q->avail_idx;
    return head;
}

void virtq_kick(struct virtio_dev *dev, struct virtq *q)
{
    uint16_t old = q->kicked_idx, now = q->avail_idx;
    bool notify;

    mb();                       /* the index before reading the device's wish (2.7.13.4) */
    if (dev->event_idx)
        notify = virtq_need_event(*avail_event(q), now, old);
    else
        notify = !(q->used->flags & VIRTQ_USED_F_NO_NOTIFY);
    q->kicked_idx = now;
    if (notify && old != now) {
        wr(dev, VIRTIO_MMIO_QUEUE_NOTIFY, q->index);
        dev->notifies++;
    }
}

bool virtq_has_used(struct virtq *q)
{
    return q->used->idx != q->last_used;
}

void *virtq_get(struct virtq *q, uint32_t *len)
{
    volatile struct virtq_used_elem *e;
    uint16_t head, d;
    void *cookie;

    if (!virtq_has_used(q))
        return NULL;
    mb();                       /* the index before the entry */
    e = &q->used->ring[q->last_used % q->size];
    head = (uint16_t)e->id;
    if (len != NULL)
        *len = e->len;
    q->last_used++;
    if (head >= q->size || q->cookie[head] == NULL) {
        q->bad_used++;          /* a broken device: not a chain of ours; ignored */
        return NULL;
    }
    /* Back onto the free list: the chain's descriptors (one if indirect). */
    d = head;
    q->nr_free++;
    while (q->desc[d].flags & VIRTQ_DESC_F_NEXT) {
        d = q->desc[d].next;
        q->nr_free++;
    }
    q->desc[d].next = q->free_head;
    q->free_head = head;
    cookie = q->cookie[head];
    q->cookie[head] = NULL;
    /* Ask for an interrupt at the next used entry (EVENT_IDX). */
    *used_event(q) = q->last_used;
    mb();
    return cookie;
}

void virtio_ack(struct virtio_dev *dev)
{
    uint32_t s = rd(dev, VIRTIO_MMIO_INTERRUPT_STATUS);

    if (s != 0) {
        wr(dev, VIRTIO_MMIO_INTERRUPT_ACK, s);
        dev->interrupts++;
    }
}

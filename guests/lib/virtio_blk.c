/*
 * virtio-blk driver for the native kernel (virtio 1.2, 5.2): one request
 * queue; a request is a chain of header (readable), data (readable for OUT,
 * writable for IN) and a status byte (writable), as one indirect descriptor
 * when VIRTIO_F_RING_INDIRECT_DESC is negotiated (then as many requests fit
 * as the queue has entries), else three ring descriptors each. Completions
 * come as used entries; the PLIC interrupt (or polling without one) wakes
 * the waiter.
 */
#include <pvsim/virtio.h>
#include <pvsim/native.h>
#include <pvsim/trap.h>
#include <pvsim/time.h>
#include <pvsim/string.h>
#include <pvsim/console.h>
#include <pvsim/xen_errno.h>

#define VBLK_SLOTS      128U    /* requests the driver tracks at once */
#define VBLK_MAX_SEGS   8U      /* data descriptors of one request (size_max splits) */
#define SECTOR          512U

struct virtio_blk_info virtio_blk;

static struct virtq rq;
static bool polling;
static struct slot {
    struct virtio_blk_req_hdr hdr;
    struct virtq_desc table[VBLK_MAX_SEGS + 2];
    volatile uint8_t status;
    bool busy, done;
} slots[VBLK_SLOTS] __attribute__((aligned(16)));

static void vblk_irq(void *arg)
{
    (void)arg;
    virtio_ack(&virtio_blk.dev);
}

/* Marks every completed request done. */
static void reap(void)
{
    void *c;

    /* No InterruptStatus read here: the interrupt handler acknowledges
     * (one MMIO exit fewer per wake-up on a hypervisor). */
    while (virtq_has_used(&rq)) {
        c = virtq_get(&rq, NULL);
        if (c != NULL)
            ((struct slot *)c)->done = true;
    }
}

static int submit(uint32_t type, uint64_t sector, void *buf, uint32_t len, bool dev_writes)
{
    struct virtq_buf bufs[VBLK_MAX_SEGS + 2];
    unsigned int n = 0, tag;
    struct slot *s = NULL;
    uint32_t seg = virtio_blk.size_max != 0 ? virtio_blk.size_max : len;
    int head;

    for (tag = 0; tag < virtio_blk.max_inflight; tag++)
        if (!slots[tag].busy) {
            s = &slots[tag];
            break;
        }
    if (s == NULL)
        return -XEN_EBUSY;
    s->hdr.type = type;
    s->hdr.reserved = 0;
    s->hdr.sector = sector;
    s->status = 0xFF;
    bufs[n++] = (struct virtq_buf){ &s->hdr, sizeof(s->hdr), false };
    for (uint32_t off = 0; off < len; off += seg) {
        if (n == VBLK_MAX_SEGS + 1)
            return -XEN_EINVAL;
        bufs[n++] = (struct virtq_buf){ (uint8_t *)buf + off, len - off < seg ? len - off : seg,
                                        dev_writes };
    }
    bufs[n++] = (struct virtq_buf){ (void *)&s->status, 1, true };
    head = virtq_add(&rq, bufs, n, s, s->table, &virtio_blk.dev);
    if (head < 0)
        return head == -XEN_EAGAIN ? -XEN_EBUSY : head;
    s->busy = true;
    s->done = false;
    virtq_kick(&virtio_blk.dev, &rq);
    return (int)tag;
}

int virtio_blk_submit(bool write, uint64_t sector, void *buf, unsigned int nsect)
{
    if (nsect == 0 || buf == NULL || ((uintptr_t)buf & (SECTOR - 1)) != 0)
        return -XEN_EINVAL;
    if (sector >= virtio_blk.sectors || nsect > virtio_blk.sectors - sector)
        return -XEN_ENOSPC;
    if (write && virtio_blk.ro)
        return -XEN_EROFS;
    return submit(write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, sector, buf, nsect * SECTOR,
                  !write);
}

int virtio_blk_wait(int tag)
{
    struct slot *s;
    unsigned long flags;
    uint64_t end, check, now;
    uint8_t st;

    if (tag < 0 || (unsigned int)tag >= virtio_blk.max_inflight || !slots[tag].busy)
        return -XEN_EINVAL;
    s = &slots[tag];
    check = time_now_ns() + 10000000ULL;
    end = check - 10000000ULL + VIRTIO_BLK_TIMEOUT_NS;
    flags = local_irq_save();
    for (;;) {
        reap();
        if (s->done)
            break;
        /* Read the status (an exit on a hypervisor) only once a wait drags on. */
        now = time_now_ns();
        if (now >= check && (now >= end || virtio_broken(&virtio_blk.dev))) {
            /* The buffers stay the device's: the slot is never reused. */
            local_irq_restore(flags);
            return virtio_broken(&virtio_blk.dev) ? -XEN_EIO : -XEN_ETIMEDOUT;
        }
        if (!polling)
            native_idle(end);
    }
    local_irq_restore(flags);
    st = s->status;
    s->busy = false;
    if (st == VIRTIO_BLK_S_OK)
        return 0;
    return st == VIRTIO_BLK_S_UNSUPP ? -XEN_EOPNOTSUPP : -XEN_EIO;
}

int virtio_blk_flush(void)
{
    int tag;

    if (!virtio_blk.flush)
        return 0;               /* no FLUSH offered: the device writes through */
    tag = submit(VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false);
    return tag < 0 ? tag : virtio_blk_wait(tag);
}

int virtio_blk_init(void)
{
    struct virtio_dev *dev = &virtio_blk.dev;
    static char id[VIRTIO_BLK_ID_BYTES] __attribute__((aligned(16)));
    int rc, tag;

    if (virtio_blk.sectors != 0)
        return 0;
    rc = virtio_probe(dev, VIRTIO_ID_BLOCK,
                      1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_RO |
                      1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
                      1ULL << VIRTIO_BLK_F_BLK_SIZE);
    if (rc < 0)
        return rc;
    virtio_blk.flush = (dev->features >> VIRTIO_BLK_F_FLUSH) & 1;
    virtio_blk.ro = (dev->features >> VIRTIO_BLK_F_RO) & 1;
    if ((dev->features >> VIRTIO_BLK_F_SIZE_MAX) & 1)
        virtio_blk.size_max = virtio_config32(dev, VIRTIO_BLK_CFG_SIZE_MAX) & ~(SECTOR - 1);
    if ((dev->features >> VIRTIO_BLK_F_SEG_MAX) & 1)
        virtio_blk.seg_max = virtio_config32(dev, VIRTIO_BLK_CFG_SEG_MAX);
    rc = virtio_queue_setup(dev, &rq, 0, VIRTQ_MAX_SIZE);
    if (rc < 0) {
        virtio_fail(dev);
        return rc;
    }
    virtio_blk.queue_size = rq.size;
    /* Indirect: one ring entry per request; direct: header, data, status. */
    virtio_blk.max_inflight = dev->indirect ? rq.size : rq.size / 3;
    if (virtio_blk.max_inflight > VBLK_SLOTS)
        virtio_blk.max_inflight = VBLK_SLOTS;
    if (dev->irq == 0 || native_irq_register(dev->irq, vblk_irq, NULL) < 0)
        polling = true;
    virtio_driver_ok(dev);
    virtio_blk.sectors = virtio_config64(dev, VIRTIO_BLK_CFG_CAPACITY);
    if (virtio_blk.sectors == 0)
        virtio_blk.sectors = 1;     /* an empty disk: every request is past its end */

    /* GET_ID: the serial (20 bytes, NUL-padded); a device may refuse it. */
    tag = submit(VIRTIO_BLK_T_GET_ID, 0, id, sizeof(id), true);
    if (tag >= 0 && virtio_blk_wait(tag) == 0) {
        memcpy(virtio_blk.id, id, sizeof(id));
        virtio_blk.id[sizeof(id)] = 0;
        for (char *p = virtio_blk.id; *p; p++)
            if (*p < ' ' || *p > '~')
                *p = '?';
    }
    return 0;
}

/*
 * virtio-net driver for the native kernel (virtio 1.2, 5.1): receiveq1 kept
 * full of 2 KiB buffers (header and a whole frame: no mergeable buffers,
 * no offloads negotiated), transmitq1 with 2 KiB buffers into which each
 * frame is copied behind a zeroed 12-byte virtio_net_hdr. The MAC comes
 * from the config space (VIRTIO_NET_F_MAC), else a fixed locally
 * administered one. Frames are handed up from the main flow
 * (virtio_net_wait), never from the interrupt, as netfront does.
 */
#include <pvsim/virtio.h>
#include <pvsim/native.h>
#include <pvsim/net.h>
#include <pvsim/mm.h>
#include <pvsim/trap.h>
#include <pvsim/time.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>

#define VNET_BUF       2048U
#define VNET_RX_BUFS   64U
#define VNET_TX_BUFS   32U
#define VNET_HDR       sizeof(struct virtio_net_hdr)
#define VNET_FRAME_MAX (ETH_HLEN + NET_MTU)

struct virtio_net_info virtio_net;
struct virtio_net_stats virtio_net_stats;

static struct virtq rxq, txq;
static bool polling;
static virtio_net_rx_fn rx_fn;
static uint8_t *rx_buf[VNET_RX_BUFS], *tx_buf[VNET_TX_BUFS];
static bool tx_busy[VNET_TX_BUFS];
static unsigned int nr_rx, nr_tx;

static void vnet_irq(void *arg)
{
    (void)arg;
    virtio_ack(&virtio_net.dev);
}

/* Two buffers per page. */
static uint8_t *buf_alloc(unsigned int i)
{
    static uint8_t *page;

    if (i % 2 == 0)
        page = pfn_to_virt(page_alloc());
    return page + (i % 2) * VNET_BUF;
}

static void rx_post(uint8_t *b)
{
    struct virtq_buf vb = { b, VNET_BUF, true };

    (void)virtq_add(&rxq, &vb, 1, b, NULL, &virtio_net.dev);
}

static void tx_reclaim(void)
{
    void *c;

    while (virtq_has_used(&txq)) {
        c = virtq_get(&txq, NULL);
        for (unsigned int i = 0; i < nr_tx; i++)
            if (tx_buf[i] == c)
                tx_busy[i] = false;
    }
}

/* Hands received frames up and reposts their buffers; returns how many. */
static unsigned int rx_deliver(void)
{
    unsigned int n = 0;
    uint32_t len;
    uint8_t *b;

    while (virtq_has_used(&rxq)) {
        b = virtq_get(&rxq, &len);
        if (b == NULL)
            continue;
        if (len < VNET_HDR + ETH_HLEN || len > VNET_BUF) {
            virtio_net_stats.rx_errors++;
        } else {
            virtio_net_stats.rx_packets++;
            if (rx_fn != NULL)
                rx_fn(b + VNET_HDR, len - VNET_HDR);
        }
        rx_post(b);
        n++;
    }
    if (n != 0)
        virtq_kick(&virtio_net.dev, &rxq);
    return n;
}

static bool tx_free(void)
{
    for (unsigned int i = 0; i < nr_tx; i++)
        if (!tx_busy[i])
            return true;
    return false;
}

int virtio_net_send(const struct net_buf *pieces, unsigned int n)
{
    size_t len = 0;
    unsigned int i;
    struct virtq_buf vb;
    uint8_t *b;
    int rc;

    for (unsigned int p = 0; p < n; p++)
        len += pieces[p].len;
    if (len == 0 || len > VNET_FRAME_MAX)
        return -XEN_EINVAL;
    tx_reclaim();
    for (i = 0; i < nr_tx && tx_busy[i]; i++)
        ;
    if (i == nr_tx) {
        virtio_net_stats.tx_busy++;
        return -XEN_EAGAIN;
    }
    b = tx_buf[i];
    memset(b, 0, VNET_HDR);
    len = VNET_HDR;
    for (unsigned int p = 0; p < n; p++) {
        memcpy(b + len, pieces[p].data, pieces[p].len);
        len += pieces[p].len;
    }
    vb = (struct virtq_buf){ b, (uint32_t)len, false };
    rc = virtq_add(&txq, &vb, 1, b, NULL, &virtio_net.dev);
    if (rc < 0) {
        virtio_net_stats.tx_busy++;
        return -XEN_EAGAIN;
    }
    tx_busy[i] = true;
    virtio_net_stats.tx_packets++;
    virtq_kick(&virtio_net.dev, &txq);
    return 0;
}

void virtio_net_wait(uint64_t deadline_ns, bool deliver)
{
    unsigned long flags = local_irq_save();

    for (;;) {
        tx_reclaim();
        /* deliver: a received frame; otherwise (a send waiting) a free tx buffer. */
        if (deliver ? virtq_has_used(&rxq) : tx_free())
            break;
        if (time_now_ns() >= deadline_ns)
            break;
        if (!polling)
            native_idle(deadline_ns);
    }
    local_irq_restore(flags);
    if (deliver)
        (void)rx_deliver();
}

int virtio_net_init(virtio_net_rx_fn rx)
{
    struct virtio_dev *dev = &virtio_net.dev;
    int rc;

    rx_fn = rx;
    if (virtio_net.rx_size != 0)
        return 0;
    rc = virtio_probe(dev, VIRTIO_ID_NET, 1ULL << VIRTIO_NET_F_MAC);
    if (rc < 0)
        return rc;
    if ((rc = virtio_queue_setup(dev, &rxq, VIRTIO_NET_RX_QUEUE, VNET_RX_BUFS)) < 0 ||
        (rc = virtio_queue_setup(dev, &txq, VIRTIO_NET_TX_QUEUE, VNET_TX_BUFS)) < 0) {
        virtio_fail(dev);
        return rc;
    }
    virtio_net.rx_size = rxq.size;
    virtio_net.tx_size = txq.size;
    virtio_net.mac_from_device = (dev->features >> VIRTIO_NET_F_MAC) & 1;
    if (virtio_net.mac_from_device) {
        for (unsigned int i = 0; i < ETH_ALEN; i++)
            virtio_net.mac[i] = virtio_config8(dev, VIRTIO_NET_CFG_MAC + i);
    } else {
        static const uint8_t dflt[ETH_ALEN] = { 0x02, 0x50, 0x56, 0x00, 0x00, 0x01 };
        memcpy(virtio_net.mac, dflt, ETH_ALEN);
    }
    nr_rx = rxq.size;
    nr_tx = txq.size;
    for (unsigned int i = 0; i < nr_rx; i++)
        rx_buf[i] = buf_alloc(i);
    for (unsigned int i = 0; i < nr_tx; i++)
        tx_buf[i] = buf_alloc(i);
    if (dev->irq == 0 || native_irq_register(dev->irq, vnet_irq, NULL) < 0)
        polling = true;
    virtio_driver_ok(dev);
    /* 5.1.6.3: fill receiveq1 (the device may drop frames while it is empty). */
    for (unsigned int i = 0; i < nr_rx; i++)
        rx_post(rx_buf[i]);
    virtq_kick(dev, &rxq);
    return 0;
}

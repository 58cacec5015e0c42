/* work/platform.h's block and network devices for the native kernel:
 * virtio-blk or the legacy ATA disk (dev=virtio|legacy; default the first
 * found, virtio first), and virtio-net. */
#include <pvsim/virtio.h>
#include <pvsim/ata.h>
#include <pvsim/native.h>
#include <pvsim/net.h>
#include <pvsim/cmdline.h>
#include <pvsim/format.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include <pvsim/time.h>
#include "work.h"

static enum { DISK_NONE, DISK_VIRTIO, DISK_ATA, DISK_PV } disk;
static bool net_pv;

/* PVHVM (dev=pv): blkfront and netfront over the Xen platform, work/dev_pv.c. */
int pv_blk_open(struct plat_blk *d);
int pv_blk_submit(bool write, uint64_t sector, void *buf, unsigned int nsect);
int pv_blk_wait(int tag);
int pv_blk_flush(void);
int pv_net_open(struct plat_net *n, void (*rx)(const uint8_t *frame, size_t len),
                const char *ip, const char *peer);
void pv_net_report(uint64_t rtt_min, uint64_t rtt_max);
unsigned long pv_net_tx_errors(void);

static int open_pv(struct plat_blk *d)
{
    int rc = pv_blk_open(d);

    if (rc == 0)
        disk = DISK_PV;
    return rc;
}

static int open_virtio(struct plat_blk *d)
{
    int rc = virtio_blk_init();

    d->kind = "virtio-blk";
    if (rc < 0) {
        snprintf(d->error, sizeof(d->error), "virtio_blk_init = %d (%s)", rc, xen_errstr(rc));
        return rc;
    }
    disk = DISK_VIRTIO;
    d->sectors = virtio_blk.sectors;
    d->max_qd = virtio_blk.max_inflight;
    printf("blk: virtio-blk at 0x%08lx, irq %lu%s, %llu sectors, queue %u, max-inflight %u, "
           "features 0x%08lx%08lx (indirect %d, event-idx %d, flush %d), id \"%s\"\n",
           (unsigned long)virtio_blk.dev.base, (unsigned long)virtio_blk.dev.irq,
           virtio_blk.dev.irq ? "" : " (polled)", (unsigned long long)virtio_blk.sectors,
           virtio_blk.queue_size, virtio_blk.max_inflight,
           (unsigned long)(virtio_blk.dev.features >> 32), (unsigned long)virtio_blk.dev.features,
           virtio_blk.dev.indirect, virtio_blk.dev.event_idx, virtio_blk.flush, virtio_blk.id);
    return 0;
}

static int open_ata(struct plat_blk *d)
{
    int rc = ata_init();

    d->kind = "ata";
    if (rc < 0) {
        snprintf(d->error, sizeof(d->error), "ata_init = %d (%s), status 0x%02x error 0x%02x",
                 rc, xen_errstr(rc), ata.last_status, ata.last_error);
        return rc;
    }
    disk = DISK_ATA;
    d->sectors = ata.sectors;
    d->max_qd = ATA_MAX_TAGS;
    printf("blk: ata at 0x%08llx (control 0x%08llx, reg-shift %u), PIO, polled, %llu sectors, "
           "lba48 %d, model \"%s\", serial \"%s\"\n",
           (unsigned long long)ata.base, (unsigned long long)ata.ctl_base, ata.reg_shift,
           (unsigned long long)ata.sectors, ata.lba48, ata.model, ata.serial);
    return 0;
}

int plat_blk_open(struct plat_blk *d)
{
    const char *dev = cmdline_get("dev");
    int rc;

    memset(d, 0, sizeof(*d));
    if (dev == NULL || *dev == 0 || strcmp(dev, "auto") == 0) {
        rc = open_virtio(d);
        if (rc != -XEN_ENODEV)
            return rc;
        rc = open_ata(d);
        if (rc == -XEN_ENODEV)
            d->kind = "disk (virtio-blk or ata)";
        return rc;
    }
    if (strcmp(dev, "virtio") == 0)
        return open_virtio(d);
    if (strcmp(dev, "legacy") == 0 || strcmp(dev, "ata") == 0)
        return open_ata(d);
    if (strcmp(dev, "pv") == 0)
        return open_pv(d);
    snprintf(d->error, sizeof(d->error), "dev=%s: expected virtio, legacy, pv or auto", dev);
    return -XEN_EINVAL;
}

int plat_blk_submit(bool write, uint64_t sector, void *buf, unsigned int nsect)
{
    if (disk == DISK_PV)
        return pv_blk_submit(write, sector, buf, nsect);
    if (disk == DISK_VIRTIO)
        return virtio_blk_submit(write, sector, buf, nsect);
    if (disk == DISK_ATA)
        return ata_submit(write, sector, buf, nsect);
    return -XEN_ENODEV;
}

int plat_blk_wait(int tag)
{
    if (disk == DISK_PV)
        return pv_blk_wait(tag);
    if (disk == DISK_VIRTIO)
        return virtio_blk_wait(tag);
    if (disk == DISK_ATA)
        return ata_wait(tag);
    return -XEN_ENODEV;
}

int plat_blk_flush(void)
{
    if (disk == DISK_PV)
        return pv_blk_flush();
    if (disk == DISK_VIRTIO)
        return virtio_blk_flush();
    if (disk == DISK_ATA)
        return ata_flush();
    return -XEN_ENODEV;
}

static const struct net_link link = {
    .send = virtio_net_send,
    .wait = virtio_net_wait,
    .now = time_now_ns,
};

int plat_net_open(struct plat_net *n, void (*rx)(const uint8_t *frame, size_t len),
                  const char *ip, const char *peer)
{
    const char *dev = cmdline_get("dev");
    int rc;

    if (dev != NULL && strcmp(dev, "pv") == 0) {
        rc = pv_net_open(n, rx, ip, peer);
        net_pv = rc == 0;
        return rc;
    }
    memset(n, 0, sizeof(*n));
    n->kind = "virtio-net";
    rc = virtio_net_init(rx);
    if (rc == -XEN_ENODEV)
        return rc;
    if (rc < 0) {
        snprintf(n->error, sizeof(n->error), "virtio_net_init = %d (%s)", rc, xen_errstr(rc));
        return rc;
    }
    memcpy(n->mac, virtio_net.mac, sizeof(n->mac));
    n->link = &link;
    printf("net: virtio-net at 0x%08lx, irq %lu%s, mac %02x:%02x:%02x:%02x:%02x:%02x%s, rx queue "
           "%u, tx queue %u, features 0x%08lx%08lx (event-idx %d); ip %s, peer %s\n",
           (unsigned long)virtio_net.dev.base, (unsigned long)virtio_net.dev.irq,
           virtio_net.dev.irq ? "" : " (polled)", n->mac[0], n->mac[1], n->mac[2], n->mac[3],
           n->mac[4], n->mac[5], virtio_net.mac_from_device ? "" : " (default)",
           virtio_net.rx_size, virtio_net.tx_size,
           (unsigned long)(virtio_net.dev.features >> 32), (unsigned long)virtio_net.dev.features,
           virtio_net.dev.event_idx, ip, peer);
    return 0;
}

void plat_net_report(uint64_t rtt_min, uint64_t rtt_max)
{
    if (net_pv) {
        pv_net_report(rtt_min, rtt_max);
        return;
    }
    printf("net: rtt_ns min %llu max %llu; virtio-net tx %lu packets %lu busy, rx %lu packets "
           "%lu errors, %lu interrupts %lu notifies; stack rx %lu frames, %lu echo requests "
           "answered, %lu arp replies, %lu dropped tx\n",
           (unsigned long long)rtt_min, (unsigned long long)rtt_max,
           (unsigned long)virtio_net_stats.tx_packets, (unsigned long)virtio_net_stats.tx_busy,
           (unsigned long)virtio_net_stats.rx_packets, (unsigned long)virtio_net_stats.rx_errors,
           (unsigned long)virtio_net.dev.interrupts, (unsigned long)virtio_net.dev.notifies,
           (unsigned long)net_stats.rx_frames, (unsigned long)net_stats.echo_requests,
           (unsigned long)net_stats.arp_replies_sent, (unsigned long)net_stats.tx_dropped);
}

unsigned long plat_net_tx_errors(void)
{
    if (net_pv)
        return pv_net_tx_errors();
    return (unsigned long)net_stats.tx_errors;
}

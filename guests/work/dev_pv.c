/* work/platform.h's block and network devices for the PV kernel: the vbd
 * and vif frontends (lib/blkfront.c, lib/netfront.c). The native kernel
 * builds the same file as its PVHVM devices (dev=pv), called by
 * dev_native.c under the names below. */
#ifdef PVSIM_NATIVE
#define plat_blk_open pv_blk_open
#define plat_blk_submit pv_blk_submit
#define plat_blk_wait pv_blk_wait
#define plat_blk_flush pv_blk_flush
#define plat_net_open pv_net_open
#define plat_net_report pv_net_report
#define plat_net_tx_errors pv_net_tx_errors
#endif
#include <pvsim/blkfront.h>
#include <pvsim/netfront.h>
#include <pvsim/net.h>
#include <pvsim/cons_ring.h>
#include <pvsim/cmdline.h>
#include <pvsim/format.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include <pvsim/time.h>
#include "work.h"

_Static_assert(BLK_MAX_BYTES == WORK_BLK_MAX_BYTES, "work=blk's largest request is blkfront's");

int plat_blk_open(struct plat_blk *d)
{
    const char *console = cmdline_get("console");
    int rc;

    memset(d, 0, sizeof(*d));
    d->kind = "vbd";
    blkfront_want_persistent = param("persistent", 1) != 0;
    rc = blkfront_init();
    if (rc == -XEN_ENODEV)
        return rc;
    if (rc < 0) {
        snprintf(d->error, sizeof(d->error), "blkfront_init = %d (%s) while %s", rc,
                 xen_errstr(rc), blkfront_step);
        return rc;
    }
#ifndef PVSIM_NATIVE
    if (console != NULL && strcmp(console, "ring") == 0) {
        rc = cons_ring_setup();
        if (rc < 0) {
            snprintf(d->error, sizeof(d->error), "cons_ring_setup = %d (%s)", rc,
                     xen_errstr(rc));
            return rc;
        }
    }
#else
    (void)console;
#endif
    d->sectors = blkfront.sectors;
    d->max_qd = BLKIF_RING_SIZE;
    printf("blk: vbd %u, backend %s (domain %u), %llu sectors, ring-ref %lu, port %lu, "
           "persistent %d, max-indirect %lu\n",
           blkfront.devid, blkfront.backend, blkfront.backend_id,
           (unsigned long long)blkfront.sectors, (unsigned long)blkfront.ring_ref,
           (unsigned long)blkfront.port, blkfront.persistent, blkfront.max_indirect);
    return 0;
}

int plat_blk_submit(bool write, uint64_t sector, void *buf, unsigned int nsect)
{
    return blk_submit(write ? BLKIF_OP_WRITE : BLKIF_OP_READ, sector, buf, nsect);
}

int plat_blk_wait(int tag)
{
    return blk_wait(tag);
}

int plat_blk_flush(void)
{
    return blk_flush();
}

static void (*net_rx)(const uint8_t *frame, size_t len);

static int link_send(const struct net_buf *pieces, unsigned int n)
{
    struct netfront_piece p[NET_MAX_PIECES];

    for (unsigned int i = 0; i < n; i++) {
        p[i].data = pieces[i].data;
        p[i].len = pieces[i].len;
    }
    return netfront_send(p, n);
}

static void link_wait(uint64_t deadline_ns, bool deliver)
{
    (void)netfront_wait(deadline_ns, deliver);
}

static const struct net_link link = {
    .send = link_send,
    .wait = link_wait,
    .now = time_now_ns,
};

static void rx_frame(const uint8_t *frame, size_t len, void *arg)
{
    (void)arg;
    net_rx(frame, len);
}

int plat_net_open(struct plat_net *n, void (*rx)(const uint8_t *frame, size_t len),
                  const char *ip, const char *peer)
{
    const char *vif = cmdline_get("vif");
    int rc;

    memset(n, 0, sizeof(*n));
    n->kind = "vif";
    rc = netfront_init(vif != NULL && *vif != 0 ? (int)param("vif", 0) : -1);
    if (rc == -XEN_ENODEV)
        return rc;
    if (rc < 0) {
        snprintf(n->error, sizeof(n->error), "netfront_init = %d (%s) while %s", rc,
                 xen_errstr(rc), netfront_step);
        return rc;
    }
    printf("net: vif %u, mac %02x:%02x:%02x:%02x:%02x:%02x, backend %s (domain %u), tx-ring-ref %lu, "
           "rx-ring-ref %lu, port %lu, sg %d; ip %s, peer %s\n",
           netfront.devid, netfront.mac[0], netfront.mac[1], netfront.mac[2], netfront.mac[3],
           netfront.mac[4], netfront.mac[5], netfront.backend, netfront.backend_id,
           (unsigned long)netfront.tx_ring_ref, (unsigned long)netfront.rx_ring_ref,
           (unsigned long)netfront.port, netfront.sg, ip, peer);
    memcpy(n->mac, netfront.mac, sizeof(n->mac));
    n->link = &link;
    net_rx = rx;
    netfront_set_rx_handler(rx_frame, NULL);
    return 0;
}

void plat_net_report(uint64_t rtt_min, uint64_t rtt_max)
{
    printf("net: rtt_ns min %llu max %llu; netfront tx %lu packets %lu slots %lu busy, rx %lu "
           "packets %lu slots %lu errors, %lu events %lu notifies, %lu reconnects %lu tx lost; stack rx "
           "%lu frames, %lu echo requests answered, %lu arp replies, %lu dropped tx\n",
           (unsigned long long)rtt_min, (unsigned long long)rtt_max,
           (unsigned long)netfront_stats.tx_packets, (unsigned long)netfront_stats.tx_slots,
           (unsigned long)netfront_stats.tx_busy, (unsigned long)netfront_stats.rx_packets,
           (unsigned long)netfront_stats.rx_slots, (unsigned long)netfront_stats.rx_errors, (unsigned long)netfront_stats.events,
           (unsigned long)netfront_stats.notifies, (unsigned long)netfront_stats.reconnects,
           (unsigned long)netfront_stats.tx_lost, (unsigned long)net_stats.rx_frames,
           (unsigned long)net_stats.echo_requests, (unsigned long)net_stats.arp_replies_sent,
           (unsigned long)net_stats.tx_dropped);
}

unsigned long plat_net_tx_errors(void)
{
    return (unsigned long)(netfront_stats.tx_errors + net_stats.tx_errors);
}

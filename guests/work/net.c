/*
 * work=net: IPv4 with the tiny stack (lib/net.c) over work/platform.h's
 * network device (PV: the vif frontend, lib/netfront.c; native: virtio-net,
 * lib/virtio_net.c), against a peer doing the same.
 *
 *   ip=<a.b.c.d>     this guest's address (default 10.0.0.1)
 *   peer=<a.b.c.d>   the other guest's (default 10.0.0.2)
 *   ping=<n>         echo requests to the peer (default 10; 56 bytes of data)
 *   udp=<n>          datagrams streamed to the peer's discard port 9 (default 100)
 *   size=<bytes>     their payload, at most 1472 (default 1024)
 *   interval_ms=<ms> from the start of one ping to the next (default 0:
 *                    back to back)
 *   vif=<devid>      which vif (PV; default: the first of device/vif)
 *   wait_ms=<ms>     bound on waiting for the peer: its ARP answer and its
 *                    "done" (virtual ms, default 30000)
 *
 * First the peer's address is resolved (ARP, retried every 100 ms: the
 * peer may boot later), then the pings go out one at a time (1 s timeout
 * each: a lost one counts as no reply, and one that could not be sent
 * still takes its second, so a link that is down does not use up the
 * pings at once), then the UDP stream, each datagram
 * as two tx slots (headers, payload). All along, the stack answers the
 * peer's ARP requests and pings and counts what arrives on port 9. Then
 * both sides finish with a handshake on UDP port WORK_NET_DONE_PORT: each
 * sends "done" every 20 ms until the peer answers "ack", answers every
 * "done" it hears with "ack" (whenever it arrives), and stops once it has
 * both its ack and the peer's done; then it lingers 60 ms, still answering,
 * in case its last ack was lost. So both finish whichever is first. The
 * result line's udp_rx/udp_rx_bytes count port 9 (the peer's stream),
 * udp_tx/udp_tx_bytes our stream, rtt_ns_avg the guest clock from sending
 * a request to handling its reply, ns everything from the ARP wait to the
 * end of the handshake, lost = pings - replies. Without a vif (no
 * xenstore, or no device/vif) it says so and powers off.
 *
 * If the backend loses the device meanwhile (dom0 restarted), netfront
 * reconnects from inside the waits (lib/netfront.c); what was in flight is
 * lost and the pings of the outage time out, the rest goes on.
 */
#include <pvsim/net.h>
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include <pvsim/time.h>
#include "work.h"

#define WORK_NET_DONE_PORT 5001
#define WORK_NET_SRC_PORT  5000
#define PING_DATA          56
#define PING_TIMEOUT_NS    1000000000ULL
#define DONE_INTERVAL_NS   20000000ULL
#define LINGER_NS          60000000ULL
#define MS                 1000000ULL

static struct {
    uint32_t ip, peer;
    bool peer_done;             /* heard the peer's "done" */
    bool acked;                 /* heard the peer's "ack": it has heard ours */
    uint8_t payload[NET_UDP_MAX];
} w;

static void rx_frame(const uint8_t *frame, size_t len)
{
    net_input(frame, len);
}

static void send_msg(const char *msg)
{
    (void)net_udp_send(w.peer, WORK_NET_DONE_PORT, WORK_NET_DONE_PORT, msg, strlen(msg));
}

static void done_rx(uint32_t src, uint16_t src_port, const uint8_t *data, size_t len, void *arg)
{
    (void)src_port;
    (void)arg;
    if (src != w.peer)
        return;
    if (len == 4 && memcmp(data, "done", 4) == 0) {
        w.peer_done = true;
        send_msg("ack");
    } else if (len == 3 && memcmp(data, "ack", 3) == 0) {
        w.acked = true;
    }
}

static uint32_t param_ip(const char *key, const char *dflt)
{
    const char *v = cmdline_get(key);
    uint32_t ip;

    if (v == NULL || *v == 0)
        v = dflt;
    if (net_parse_ip(v, &ip) < 0)
        work_fail("%s=%s: expected a dotted-quad IPv4 address", key, v);
    return ip;
}

void work_net(void)
{
    unsigned long pings = param("ping", 10), udp = param("udp", 100), size = param("size", 1024);
    uint64_t wait_ns = (uint64_t)param("wait_ms", 30000) * MS;
    uint64_t interval_ns = (uint64_t)param("interval_ms", 0) * MS;
    struct plat_net dev;
    unsigned long replies = 0, udp_tx = 0, udp_tx_bytes = 0;
    uint64_t rtt_sum = 0, rtt_min = UINT64_MAX, rtt_max = 0, end;
    uint32_t check;
    char ipbuf[16], peerbuf[16];
    uint8_t mac[ETH_ALEN];
    struct measure m;
    int rc;

    w.ip = param_ip("ip", "10.0.0.1");
    w.peer = param_ip("peer", "10.0.0.2");
    if (size > NET_UDP_MAX)
        work_fail("size=%lu: at most %u bytes of UDP payload", size, NET_UDP_MAX);
    net_format_ip(w.ip, ipbuf);
    net_format_ip(w.peer, peerbuf);

    rc = plat_net_open(&dev, rx_frame, ipbuf, peerbuf);
    if (rc == -XEN_ENODEV) {
        printf("work=net: no %s device\n", dev.kind);
        return;
    }
    if (rc < 0)
        work_fail("%s", dev.error);
    net_init(dev.link, dev.mac, w.ip);
    rc = net_udp_bind(WORK_NET_DONE_PORT, done_rx, NULL);
    if (rc < 0)
        work_fail("net_udp_bind(%u) = %d (%s)", WORK_NET_DONE_PORT, rc, xen_errstr(rc));

    lat_reset();
    measure_start(&m);
    rc = net_arp_resolve(w.peer, mac, wait_ns);
    if (rc < 0)
        work_fail("peer %s did not answer ARP within %llu ms", peerbuf,
                  (unsigned long long)(wait_ns / MS));
    printf("net: peer %s is at %02x:%02x:%02x:%02x:%02x:%02x after %llu us\n", peerbuf, mac[0],
           mac[1], mac[2], mac[3], mac[4], mac[5],
           (unsigned long long)((time_now_ns() - m.t0) / 1000));

    for (unsigned long i = 0; i < pings; i++) {
        uint64_t start = time_now_ns(), rtt;
        rc = net_ping(w.peer, (uint16_t)(i + 1), PING_DATA, PING_TIMEOUT_NS, &rtt);
        if (rc < 0) {
            printf("net: ping seq %lu: %d (%s)\n", i + 1, rc, xen_errstr(rc));
            net_serve_until(start + PING_TIMEOUT_NS);  /* a lost ping takes its timeout */
        } else {
            replies++;
            if (flag("verbose"))
                printf("net: ping seq %lu rtt %llu ns\n", i + 1, (unsigned long long)rtt);
            rtt_sum += rtt;
            lat_add(rtt);
            rtt_min = rtt < rtt_min ? rtt : rtt_min;
            rtt_max = rtt > rtt_max ? rtt : rtt_max;
        }
        if (interval_ns != 0 && i + 1 < pings)
            net_serve_until(start + interval_ns);
    }

    for (unsigned long i = 0; i < udp; i++) {
        for (unsigned long b = 0; b < size; b++)
            w.payload[b] = (uint8_t)(i * 7 + b);
        uint64_t give_up = 0;
        for (;;) {
            rc = net_udp_send(w.peer, WORK_NET_SRC_PORT, NET_DISCARD_PORT, w.payload, size);
            if (rc != -XEN_EAGAIN && rc != -XEN_ENOTCONN)
                break;
            /* The device is busy, or reconnecting: serve (a reconnect happens
             * there), then retry, for at most wait_ms. */
            if (give_up == 0)
                give_up = time_now_ns() + wait_ns;
            else if (time_now_ns() >= give_up)
                break;
            net_wait(time_now_ns() + MS);
        }
        if (rc < 0)
            work_fail("net_udp_send(#%lu, %lu bytes) = %d (%s)", i, size, rc, xen_errstr(rc));
        udp_tx++;
        udp_tx_bytes += size;
        net_wait(0);            /* serve what has arrived meanwhile, without sleeping */
    }

    end = time_now_ns() + wait_ns;
    while (!(w.acked && w.peer_done) && time_now_ns() < end) {
        uint64_t next = time_now_ns() + DONE_INTERVAL_NS;
        if (!w.acked)
            send_msg("done");
        if (next > end)
            next = end;
        while (!(w.acked && w.peer_done) && time_now_ns() < next)
            net_wait(next);
    }
    measure_stop(&m);
    if (!(w.acked && w.peer_done))
        printf("net: peer %s did not finish within %llu ms (its done %s, our done %s)\n", peerbuf,
               (unsigned long long)(wait_ns / MS), w.peer_done ? "heard" : "not heard",
               w.acked ? "acknowledged" : "not acknowledged");
    net_serve_until(time_now_ns() + LINGER_NS);

    plat_net_report(replies ? rtt_min : 0, rtt_max);
    /* What arrived and was sent, not when: equal on every path when nothing is lost. */
    check = WORK_FOLD_INIT;
    check = work_fold(check, (uint32_t)pings);
    check = work_fold(check, (uint32_t)replies);
    check = work_fold(check, (uint32_t)udp_tx);
    check = work_fold(check, (uint32_t)udp_tx_bytes);
    check = work_fold(check, (uint32_t)net_stats.discard_rx);
    check = work_fold(check, (uint32_t)net_stats.discard_rx_bytes);
    printf("work=net ip=%s peer=%s pings=%lu replies=%lu lost=%lu rtt_ns_avg=%llu udp_tx=%lu "
           "udp_tx_bytes=%lu udp_rx=%lu udp_rx_bytes=%lu tx_errors=%lu ns=%llu ",
           ipbuf, peerbuf, pings, replies, pings - replies, (unsigned long long)per(rtt_sum, replies), udp_tx,
           udp_tx_bytes, (unsigned long)net_stats.discard_rx,
           (unsigned long)net_stats.discard_rx_bytes,
           plat_net_tx_errors(),
           (unsigned long long)m.ns);
    lat_print_fields();         /* the ping round trips */
    printf(" check=0x%08lx\n", (unsigned long)check);
}

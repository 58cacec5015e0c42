/*
 * Host-side test of lib/net.c (built by `make host-test`): the stack runs
 * against a fake link that records every frame sent, keeps a fake clock,
 * and can play a peer (answering ARP requests and pings after a delay).
 * Frames fed to the stack and the checks of frames it sends use this
 * file's own checksum code, not net.c's.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <pvsim/net.h>
#include <pvsim/xen_errno.h>

#include "host_check.h"

static const uint8_t MY_MAC[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, 0x01 };
static const uint8_t PEER_MAC[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, 0x02 };
static const uint8_t OTHER_MAC[6] = { 0x00, 0x16, 0x3e, 0x00, 0x00, 0x03 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
#define MY_IP   NET_IP(10, 0, 0, 1)
#define PEER_IP NET_IP(10, 0, 0, 2)
#define OTHER_IP NET_IP(10, 0, 0, 3)

/* ---- an independent checksum and frame builder ---------------------------- */

static uint16_t ref_csum(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i < len; i++)
        sum += (i & 1) ? p[i] : (uint32_t)p[i] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t ref_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

static size_t build_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = (uint8_t)(type >> 8);
    f[13] = (uint8_t)type;
    return 14;
}

static size_t build_arp(uint8_t *f, uint16_t op, const uint8_t *eth_dst, const uint8_t *sha,
                        uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
    uint8_t *a = f + build_eth(f, eth_dst, sha, ETH_P_ARP);
    net_put16(a, 1);
    net_put16(a + 2, ETH_P_IP);
    a[4] = 6;
    a[5] = 4;
    net_put16(a + 6, op);
    memcpy(a + 8, sha, 6);
    net_put32(a + 14, spa);
    memcpy(a + 18, tha, 6);
    net_put32(a + 24, tpa);
    return 14 + 28;
}

/* An IPv4 packet with a correct header checksum around l4 (len bytes). */
static size_t build_ip(uint8_t *f, const uint8_t *eth_dst, const uint8_t *eth_src, uint32_t src,
                       uint32_t dst, uint8_t proto, const uint8_t *l4, size_t len)
{
    uint8_t *ip = f + build_eth(f, eth_dst, eth_src, ETH_P_IP);
    memset(ip, 0, 20);
    ip[0] = 0x45;
    net_put16(ip + 2, (uint16_t)(20 + len));
    net_put16(ip + 4, 0x1234);
    ip[8] = 64;
    ip[9] = proto;
    net_put32(ip + 12, src);
    net_put32(ip + 16, dst);
    net_put16(ip + 10, ref_csum(ip, 20, 0));
    memcpy(ip + 20, l4, len);
    return 14 + 20 + len;
}

static size_t build_icmp(uint8_t *m, uint8_t type, uint16_t id, uint16_t seq, const uint8_t *data,
                         size_t len)
{
    m[0] = type;
    m[1] = 0;
    net_put16(m + 2, 0);
    net_put16(m + 4, id);
    net_put16(m + 6, seq);
    memcpy(m + 8, data, len);
    net_put16(m + 2, ref_csum(m, 8 + len, 0));
    return 8 + len;
}

static size_t build_udp(uint8_t *u, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        const uint8_t *data, size_t len, bool csum)
{
    net_put16(u, sport);
    net_put16(u + 2, dport);
    net_put16(u + 4, (uint16_t)(8 + len));
    net_put16(u + 6, 0);
    memcpy(u + 8, data, len);
    if (csum) {
        uint16_t c = ref_csum(u, 8 + len, ref_pseudo(src, dst, 17, (uint16_t)(8 + len)));
        net_put16(u + 6, c == 0 ? 0xffff : c);
    }
    return 8 + len;
}

/* ---- the fake link ---------------------------------------------------------- */

#define MAX_SENT 64
static struct {
    uint64_t clock;
    uint8_t frame[MAX_SENT][2048];
    size_t len[MAX_SENT];
    unsigned int pieces[MAX_SENT];
    size_t piece0[MAX_SENT];
    unsigned int nsent;
    int busy;                   /* send answers -XEN_EAGAIN this many times */
    unsigned int waits, nodeliver_waits;
    /* the peer */
    int arp_answer_after;       /* answer the n-th ARP request for PEER_IP (0: never) */
    unsigned int arp_requests;
    bool echo;                  /* answer echo requests */
    uint64_t echo_delay;
    uint16_t echo_seq_offset;   /* answer with seq + this (a stray reply) */
    bool pending;
    uint64_t pending_at;
    uint8_t pending_frame[2048];
    size_t pending_len;
} L;

static uint8_t last_seen[2048];
static size_t last_seen_len;

static int fake_send(const struct net_buf *p, unsigned int n)
{
    size_t len = 0;
    uint8_t *f;

    if (L.busy > 0) {
        L.busy--;
        return -XEN_EAGAIN;
    }
    if (L.nsent == MAX_SENT)
        return -XEN_ENOBUFS;
    f = L.frame[L.nsent];
    for (unsigned int i = 0; i < n; i++) {
        memcpy(f + len, p[i].data, p[i].len);
        len += p[i].len;
    }
    L.len[L.nsent] = len;
    L.pieces[L.nsent] = n;
    L.piece0[L.nsent] = p[0].len;
    L.nsent++;

    /* The peer's reactions. */
    if (net_get16(f + 12) == ETH_P_ARP && net_get16(f + 20) == ARP_OP_REQUEST &&
        net_get32(f + 38) == PEER_IP) {
        L.arp_requests++;
        if (L.arp_answer_after > 0 && (int)L.arp_requests >= L.arp_answer_after) {
            L.pending_len = build_arp(L.pending_frame, ARP_OP_REPLY, MY_MAC, PEER_MAC, PEER_IP,
                                      MY_MAC, MY_IP);
            L.pending = true;
            L.pending_at = L.clock + 1000;
        }
    }
    if (L.echo && net_get16(f + 12) == ETH_P_IP && f[23] == IPPROTO_ICMP &&
        net_get32(f + 30) == PEER_IP && f[34] == ICMP_ECHO_REQUEST) {
        uint8_t m[1600];
        size_t mlen = build_icmp(m, ICMP_ECHO_REPLY, net_get16(f + 38),
                                 (uint16_t)(net_get16(f + 40) + L.echo_seq_offset), f + 42,
                                 len - 42);
        L.pending_len = build_ip(L.pending_frame, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP,
                                 m, mlen);
        L.pending = true;
        L.pending_at = L.clock + L.echo_delay;
    }
    return 0;
}

static void fake_wait(uint64_t deadline, bool deliver)
{
    L.waits++;
    if (!deliver) {
        /* A send waiting for room: a tx response comes back 1 ms later. */
        L.nodeliver_waits++;
        L.clock = L.clock + 1000000 < deadline ? L.clock + 1000000 : deadline;
        return;
    }
    if (L.pending && L.pending_at <= deadline) {
        if (L.clock < L.pending_at)
            L.clock = L.pending_at;
        if (deliver) {
            L.pending = false;
            net_input(L.pending_frame, L.pending_len);
        }
        return;
    }
    if (deadline != NET_NO_DEADLINE && deadline > L.clock)
        L.clock = deadline;
}

static uint64_t fake_now(void)
{
    return L.clock;
}

static const struct net_link fake = { fake_send, fake_wait, fake_now };

static void reset(void)
{
    memset(&L, 0, sizeof(L));
    L.clock = 1000000;
    net_init(&fake, MY_MAC, MY_IP);
}

static const uint8_t *last(void)
{
    memcpy(last_seen, L.frame[L.nsent - 1], L.len[L.nsent - 1]);
    last_seen_len = L.len[L.nsent - 1];
    return last_seen;
}

/* Makes the peer known (it asks for us). */
static void learn_peer(void)
{
    uint8_t f[64];
    size_t n = build_arp(f, ARP_OP_REQUEST, BCAST, PEER_MAC, PEER_IP, (const uint8_t[6]){ 0 }, MY_IP);
    net_input(f, n);
}

/* ---- tests ----------------------------------------------------------------- */

static void test_checksums_and_parsing(void)
{
    static const uint8_t hdr[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                                     0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    static const uint8_t odd[3] = { 0x01, 0x02, 0x03 };
    uint8_t buf[1501], mac[6];
    uint32_t ip;
    char s[16];

    expect(net_csum_fold(net_csum_add(0, hdr, 20)) == 0xb861, "IPv4 header checksum (0xb861)");
    expect(net_csum_add(0, odd, 3) == 0x0402, "odd length pads the last byte");
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 31 + 7);
    expect(net_csum_fold(net_csum_add(0, buf, sizeof(buf))) == ref_csum(buf, sizeof(buf), 0),
           "1501 bytes agree with the reference");
    expect(net_csum_fold(net_csum_add(net_csum_add(0, buf, 600), buf + 600, 901)) ==
               ref_csum(buf, sizeof(buf), 0),
           "a sum in two chunks (even first) agrees");
    memset(buf, 0xff, 64);
    expect(net_csum_fold(net_csum_add(0, buf, 64)) == 0, "all ones folds to 0");

    expect(net_parse_mac("00:16:3E:0a:ff:01", mac) == 0 && mac[2] == 0x3e && mac[3] == 0x0a &&
               mac[4] == 0xff && mac[5] == 0x01,
           "parse a MAC");
    expect(net_parse_mac("00:16:3e:0a:ff", mac) < 0 && net_parse_mac("00:16:3e:0a:ff:01:", mac) < 0 &&
               net_parse_mac("00-16-3e-0a-ff-01", mac) < 0 && net_parse_mac("0g:16:3e:0a:ff:01", mac) < 0,
           "bad MACs refused");
    expect(net_parse_ip("10.0.0.2", &ip) == 0 && ip == PEER_IP, "parse an address");
    expect(net_parse_ip("255.255.255.255", &ip) == 0 && ip == 0xffffffffU, "parse the broadcast");
    expect(net_parse_ip("10.0.0", &ip) < 0 && net_parse_ip("10.0.0.256", &ip) < 0 &&
               net_parse_ip("10.0.0.1.", &ip) < 0 && net_parse_ip("10..0.1", &ip) < 0 &&
               net_parse_ip("1000.0.0.1", &ip) < 0,
           "bad addresses refused");
    expect(strcmp(net_format_ip(NET_IP(192, 168, 10, 0), s), "192.168.10.0") == 0, "format an address");
}

static void test_arp(void)
{
    uint8_t f[64], mac[6];
    const uint8_t *r;
    size_t n;

    reset();
    learn_peer();
    expect(L.nsent == 1, "an ARP request for us is answered");
    r = last();
    expect(last_seen_len == 42 && memcmp(r, PEER_MAC, 6) == 0 && memcmp(r + 6, MY_MAC, 6) == 0 &&
               net_get16(r + 12) == ETH_P_ARP,
           "the reply goes to the asker");
    expect(net_get16(r + 20) == ARP_OP_REPLY && memcmp(r + 22, MY_MAC, 6) == 0 &&
               net_get32(r + 28) == MY_IP && memcmp(r + 32, PEER_MAC, 6) == 0 &&
               net_get32(r + 38) == PEER_IP,
           "the reply's sender and target fields");
    expect(net_arp_lookup(PEER_IP, mac) && memcmp(mac, PEER_MAC, 6) == 0, "the asker is learnt");
    expect(net_stats.arp_replies_sent == 1, "arp_replies_sent");

    n = build_arp(f, ARP_OP_REQUEST, BCAST, OTHER_MAC, OTHER_IP, (const uint8_t[6]){ 0 },
                  NET_IP(10, 0, 0, 9));
    net_input(f, n);
    expect(L.nsent == 1 && !net_arp_lookup(OTHER_IP, mac), "a request for another address: no reply, not learnt");

    /* A known sender's new MAC replaces the old one. */
    n = build_arp(f, ARP_OP_REQUEST, BCAST, OTHER_MAC, PEER_IP, (const uint8_t[6]){ 0 },
                  NET_IP(10, 0, 0, 9));
    net_input(f, n);
    expect(net_arp_lookup(PEER_IP, mac) && memcmp(mac, OTHER_MAC, 6) == 0, "a known entry is refreshed");

    /* The cache keeps NET_ARP_CACHE entries, replacing the oldest. */
    for (unsigned int i = 0; i < NET_ARP_CACHE + 2; i++) {
        uint8_t m[6] = { 0x02, 0, 0, 0, 0, (uint8_t)i };
        n = build_arp(f, ARP_OP_REPLY, MY_MAC, m, NET_IP(10, 0, 1, i), MY_MAC, MY_IP);
        net_input(f, n);
    }
    expect(!net_arp_lookup(NET_IP(10, 0, 1, 0), mac) && !net_arp_lookup(NET_IP(10, 0, 1, 1), mac) &&
               net_arp_lookup(NET_IP(10, 0, 1, NET_ARP_CACHE + 1), mac) && mac[5] == NET_ARP_CACHE + 1,
           "the oldest entries make room");
}

static void test_icmp(void)
{
    uint8_t m[600], f[700], data[100];
    const uint8_t *r;
    size_t n;

    reset();
    learn_peer();
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ 0x5a);
    n = build_icmp(m, ICMP_ECHO_REQUEST, 0x4242, 7, data, 99);   /* odd length */
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, n);
    net_input(f, n);
    expect(L.nsent == 2 && net_stats.echo_requests == 1, "an echo request is answered");
    r = last();
    expect(last_seen_len == 14 + 20 + 8 + 99 && L.pieces[1] == 2 && L.piece0[1] == 42,
           "the reply: headers and data in two pieces");
    expect(memcmp(r, PEER_MAC, 6) == 0 && net_get32(r + 26) == MY_IP && net_get32(r + 30) == PEER_IP &&
               r[23] == IPPROTO_ICMP && net_get16(r + 16) == 20 + 8 + 99,
           "the reply's addresses and length");
    expect(ref_csum(r + 14, 20, 0) == 0, "the reply's IP checksum");
    expect(r[34] == ICMP_ECHO_REPLY && net_get16(r + 38) == 0x4242 && net_get16(r + 40) == 7 &&
               memcmp(r + 42, data, 99) == 0 && ref_csum(r + 34, 8 + 99, 0) == 0,
           "the reply's type, id, seq, data and checksum");

    /* Drops: a bad ICMP checksum, a bad IP checksum, another address, a fragment, another MAC. */
    m[2] ^= 1;
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, 8 + 99);
    net_input(f, n);
    expect(L.nsent == 2 && net_stats.icmp_bad == 1, "bad ICMP checksum dropped");
    m[2] ^= 1;
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, 8 + 99);
    f[24] ^= 0x10;
    net_input(f, n);
    expect(L.nsent == 2 && net_stats.ip_bad == 1, "bad IP checksum dropped");
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, OTHER_IP, IPPROTO_ICMP, m, 8 + 99);
    net_input(f, n);
    expect(L.nsent == 2 && net_stats.ip_other_dst == 1, "another destination dropped");
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, 8 + 99);
    f[20] = 0x20;               /* MF */
    net_put16(f + 24, 0);
    net_put16(f + 24, ref_csum(f + 14, 20, 0));
    net_input(f, n);
    expect(L.nsent == 2 && net_stats.ip_fragments == 1, "a fragment dropped");
    n = build_ip(f, OTHER_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, 8 + 99);
    net_input(f, n);
    expect(L.nsent == 2 && net_stats.rx_not_for_us == 1, "another MAC ignored");
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, 8 + 99);
    net_input(f, n - 10);       /* the IP length says more than arrived */
    expect(L.nsent == 2 && net_stats.ip_bad == 2, "a truncated packet dropped");
    f[14 + 20 + 8 + 99] = 0xee; /* Ethernet padding after the IP packet is ignored */
    net_input(f, n + 1);
    expect(L.nsent == 3 && net_stats.echo_requests == 2, "trailing padding ignored");
}

static unsigned int bound_calls;
static uint32_t bound_src;
static uint16_t bound_sport;
static size_t bound_len;
static uint8_t bound_data[64];

static void bound_fn(uint32_t src, uint16_t sport, const uint8_t *data, size_t len, void *arg)
{
    (void)arg;
    bound_calls++;
    bound_src = src;
    bound_sport = sport;
    bound_len = len;
    memcpy(bound_data, data, len < sizeof(bound_data) ? len : sizeof(bound_data));
}

static void test_udp(void)
{
    uint8_t u[1600], f[1700], data[1472], mac[6];
    const uint8_t *r;
    uint64_t t0;
    size_t n;
    int rc;

    reset();
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13);
    n = build_udp(u, PEER_IP, MY_IP, 1234, 9, data, 1001, true);
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_UDP, u, n);
    net_input(f, n);
    expect(net_stats.discard_rx == 1 && net_stats.discard_rx_bytes == 1001, "port 9 counts the bytes");
    n = build_udp(u, PEER_IP, MY_IP, 1234, 9, data, 100, false);
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_UDP, u, n);
    net_input(f, n);
    expect(net_stats.discard_rx == 2 && net_stats.discard_rx_bytes == 1101, "checksum 0: not checked");
    n = build_udp(u, PEER_IP, MY_IP, 1234, 9, data, 100, true);
    u[8 + 50] ^= 0x40;
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_UDP, u, n);
    net_input(f, n);
    expect(net_stats.discard_rx == 2 && net_stats.udp_bad == 1, "bad UDP checksum dropped");

    expect(net_udp_bind(5001, bound_fn, NULL) == 0, "bind");
    expect(net_udp_bind(5001, bound_fn, NULL) == -XEN_EADDRINUSE, "bind twice");
    expect(net_udp_bind(9, bound_fn, NULL) == -XEN_EINVAL && net_udp_bind(0, bound_fn, NULL) == -XEN_EINVAL,
           "ports 0 and 9 cannot be bound");
    n = build_udp(u, PEER_IP, MY_IP, 4321, 5001, (const uint8_t *)"done1", 5, true);
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_UDP, u, n);
    net_input(f, n);
    expect(bound_calls == 1 && bound_src == PEER_IP && bound_sport == 4321 && bound_len == 5 &&
               memcmp(bound_data, "done1", 5) == 0,
           "a bound port's handler gets the datagram");
    n = build_udp(u, PEER_IP, MY_IP, 4321, 5002, data, 10, true);
    n = build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_UDP, u, n);
    net_input(f, n);
    expect(net_stats.udp_no_port == 1 && bound_calls == 1, "an unbound port drops");

    /* Sending: the destination must be known. */
    rc = net_udp_send(PEER_IP, 5000, 9, data, 1024);
    expect(rc == -XEN_EADDRNOTAVAIL && L.nsent == 1 && net_get16(L.frame[0] + 12) == ETH_P_ARP,
           "an unknown destination: ARP request, EADDRNOTAVAIL");
    learn_peer();
    expect(net_arp_lookup(PEER_IP, mac), "learnt");
    n = L.nsent;
    rc = net_udp_send(PEER_IP, 5000, 9, data, 1023);
    expect(rc == 0 && L.nsent == n + 1 && L.pieces[n] == 2 && L.piece0[n] == 42,
           "a datagram goes as headers + payload");
    r = last();
    expect(last_seen_len == 42 + 1023 && memcmp(r, PEER_MAC, 6) == 0 && ref_csum(r + 14, 20, 0) == 0 &&
               net_get16(r + 16) == 20 + 8 + 1023 && (net_get16(r + 20) & 0x4000),
           "its IP header (length, checksum, DF)");
    expect(net_get16(r + 34) == 5000 && net_get16(r + 36) == 9 && net_get16(r + 38) == 8 + 1023 &&
               ref_csum(r + 34, 8 + 1023, ref_pseudo(MY_IP, PEER_IP, 17, 8 + 1023)) == 0 &&
               memcmp(r + 42, data, 1023) == 0,
           "its UDP header, checksum and payload");
    expect(net_stats.udp_tx == 1 && net_stats.udp_tx_bytes == 1023, "udp_tx counters");
    expect(net_udp_send(PEER_IP, 5000, 9, data, NET_UDP_MAX + 1) == -XEN_EMSGSIZE, "too large");

    /* A busy device: the send waits (without delivering) and retries. */
    L.busy = 2;
    n = L.nsent;
    rc = net_udp_send(PEER_IP, 5000, 9, data, 10);
    expect(rc == 0 && L.nsent == n + 1 && L.nodeliver_waits == 2, "busy twice, then sent");
    L.busy = 1000000;
    n = net_stats.tx_dropped;
    t0 = L.clock;
    rc = net_udp_send(PEER_IP, 5000, 9, data, 10);
    expect(rc == -XEN_EAGAIN && net_stats.tx_dropped == n + 1 && L.clock - t0 == NET_TX_BUSY_NS,
           "busy for NET_TX_BUSY_NS: dropped");
    L.busy = 0;
}

/* RFC 1122: only requests to our own address are answered (3.2.2.6), and
 * datagrams from an invalid source are dropped (3.2.1.3). */
static void test_bad_addresses(void)
{
    static const uint32_t bad_src[] = { NET_IP(255, 255, 255, 255), NET_IP(0, 0, 0, 0),
                                        NET_IP(224, 0, 0, 1), NET_IP(239, 255, 255, 255) };
    uint8_t m[64], u[64], f[128], data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint32_t ip_rx;
    size_t n;

    reset();
    learn_peer();
    expect(L.nsent == 1, "ARP answered");
    n = build_icmp(m, ICMP_ECHO_REQUEST, 0x4242, 1, data, sizeof(data));

    /* Echo requests to a broadcast: not answered. */
    net_input(f, build_ip(f, BCAST, PEER_MAC, PEER_IP, NET_IP(255, 255, 255, 255), IPPROTO_ICMP, m, n));
    expect(L.nsent == 1 && net_stats.echo_requests == 0 && net_stats.echo_not_ours == 1,
           "an echo request to 255.255.255.255 is not answered");
    net_input(f, build_ip(f, BCAST, PEER_MAC, PEER_IP, NET_IP(10, 0, 0, 255), IPPROTO_ICMP, m, n));
    expect(L.nsent == 1 && net_stats.echo_requests == 0 && net_stats.ip_other_dst == 1,
           "an echo request to the subnet broadcast is not answered");
    net_input(f, build_ip(f, MY_MAC, PEER_MAC, PEER_IP, NET_IP(255, 255, 255, 255), IPPROTO_ICMP, m, n));
    expect(L.nsent == 1 && net_stats.echo_not_ours == 2,
           "an echo request to 255.255.255.255 in a unicast frame is not answered");

    /* Forged sources: dropped before any answer, whatever the protocol. */
    ip_rx = net_stats.ip_rx;
    for (unsigned int i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
        char what[96];

        net_input(f, build_ip(f, MY_MAC, PEER_MAC, bad_src[i], MY_IP, IPPROTO_ICMP, m, n));
        snprintf(what, sizeof(what), "an echo request from source %08x is dropped", bad_src[i]);
        expect(L.nsent == 1 && net_stats.echo_requests == 0 && net_stats.ip_bad_src == 2 * i + 1,
               what);
        net_input(f, build_ip(f, MY_MAC, PEER_MAC, bad_src[i], MY_IP, IPPROTO_UDP, u,
                              build_udp(u, bad_src[i], MY_IP, 7, 9, data, sizeof(data), true)));
        snprintf(what, sizeof(what), "a datagram from source %08x is dropped", bad_src[i]);
        expect(net_stats.discard_rx == 0 && net_stats.ip_bad_src == 2 * i + 2, what);
    }
    expect(net_stats.ip_rx == ip_rx && L.nsent == 1, "nothing delivered, nothing sent");

    /* Still served: a unicast request, and a broadcast datagram from a real source. */
    net_input(f, build_ip(f, MY_MAC, PEER_MAC, PEER_IP, MY_IP, IPPROTO_ICMP, m, n));
    expect(L.nsent == 2 && net_stats.echo_requests == 1 && net_get32(last() + 26) == MY_IP &&
               net_get32(last() + 30) == PEER_IP && memcmp(last(), PEER_MAC, 6) == 0,
           "a request to our address is still answered, to its sender");
    net_input(f, build_ip(f, BCAST, PEER_MAC, PEER_IP, NET_IP(255, 255, 255, 255), IPPROTO_UDP, u,
                          build_udp(u, PEER_IP, NET_IP(255, 255, 255, 255), 7, 9, data,
                                    sizeof(data), true)));
    expect(net_stats.discard_rx == 1, "a broadcast datagram from a real source is delivered");
}

static void test_resolve_and_ping(void)
{
    uint8_t mac[6];
    uint64_t t0, rtt = 0;
    int rc;

    reset();
    L.arp_answer_after = 3;
    t0 = L.clock;
    rc = net_arp_resolve(PEER_IP, mac, 5000000000ULL);
    expect(rc == 0 && memcmp(mac, PEER_MAC, 6) == 0 && L.arp_requests == 3, "resolved on the third request");
    expect(L.clock - t0 == 2 * NET_ARP_RETRY_NS + 1000, "requests 100 ms apart");

    reset();
    t0 = L.clock;
    rc = net_arp_resolve(PEER_IP, mac, 1000000000ULL);
    expect(rc == -XEN_ETIMEDOUT && L.arp_requests == 10 && L.clock - t0 == 1000000000ULL,
           "a silent peer: 10 requests in 1 s, then ETIMEDOUT");

    reset();
    learn_peer();
    L.echo = true;
    L.echo_delay = 12345;
    rc = net_ping(PEER_IP, 1, 56, 1000000000ULL, &rtt);
    expect(rc == 0 && rtt == 12345 && net_stats.echo_replies == 1, "a ping's RTT on the link's clock");
    expect(L.len[L.nsent - 1] == 14 + 20 + 8 + 56 && L.pieces[L.nsent - 1] == 2, "a 56-byte ping");
    rc = net_ping(PEER_IP, 2, 0, 1000000000ULL, &rtt);
    expect(rc == 0 && net_stats.echo_replies == 2, "an empty ping");
    L.echo_seq_offset = 1;
    t0 = L.clock;
    rc = net_ping(PEER_IP, 3, 56, 1000000000ULL, &rtt);
    expect(rc == -XEN_ETIMEDOUT && net_stats.echo_stray == 1 && L.clock - t0 == 1000000000ULL,
           "a reply with another seq does not count: timeout");
    L.echo = false;
    rc = net_ping(PEER_IP, 4, 56, 500000000ULL, &rtt);
    expect(rc == -XEN_ETIMEDOUT, "no reply: timeout");
}

int main(void)
{
    test_checksums_and_parsing();
    test_arp();
    test_icmp();
    test_udp();
    test_bad_addresses();
    test_resolve_and_ping();
    printf("net_test: %d/%d passed\n", cases - failures, cases);
    return failures ? 1 : 0;
}

/*
 * A tiny IPv4 stack (see pvsim/net.h): Ethernet II framing, ARP (RFC 826,
 * with a small cache), IPv4 (RFC 791: 20-byte headers out, options
 * skipped in, fragments dropped), ICMP echo (RFC 792) and UDP (RFC 768,
 * checksums always sent and checked when present). Host-portable: only
 * memcpy/memset/memcmp and the link's three functions.
 */
#include <pvsim/net.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>

struct net_stats net_stats;

static const uint8_t eth_broadcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t eth_zero[ETH_ALEN];

#define IP_BROADCAST 0xFFFFFFFFU
#define IP_FLAG_DF   0x4000U
#define IP_FRAG_MASK 0x3FFFU    /* MF and the fragment offset */
#define IP_TTL       64

struct arp_entry {
    bool valid;
    uint32_t ip;
    uint8_t mac[ETH_ALEN];
    uint32_t stamp;             /* last update, for replacing the oldest */
};

struct udp_binding {
    uint16_t port;              /* 0: free */
    net_udp_fn fn;
    void *arg;
};

static struct {
    const struct net_link *link;
    uint8_t mac[ETH_ALEN];
    uint32_t ip;
    uint16_t ip_id;
    uint32_t arp_clock;
    struct arp_entry arp[NET_ARP_CACHE];
    struct udp_binding udp[NET_UDP_PORTS];
    struct {
        bool pending;           /* an echo request is waiting for its reply */
        uint32_t ip;
        uint16_t seq;
        size_t len;
        uint64_t sent_ns, reply_ns;
    } ping;
} net;

/* ---- checksums and addresses ------------------------------------------ */

uint32_t net_csum_add(uint32_t sum, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 1) {
        sum += (uint32_t)p[0] << 8 | p[1];
        if (sum & 0x80000000U)
            sum = (sum & 0xFFFF) + (sum >> 16);
        p += 2;
        len -= 2;
    }
    if (len > 0)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

uint16_t net_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* The IPv4 pseudo header of UDP's checksum. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len)
{
    uint8_t p[12];

    net_put32(p, src);
    net_put32(p + 4, dst);
    p[8] = 0;
    p[9] = proto;
    net_put16(p + 10, len);
    return net_csum_add(0, p, sizeof(p));
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int net_parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
    uint8_t m[ETH_ALEN];

    for (unsigned int i = 0; i < ETH_ALEN; i++) {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0)
            return -XEN_EINVAL;
        m[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
        if (*s != (i == ETH_ALEN - 1 ? '\0' : ':'))
            return -XEN_EINVAL;
        s++;
    }
    memcpy(mac, m, ETH_ALEN);
    return 0;
}

int net_parse_ip(const char *s, uint32_t *ip)
{
    uint32_t v = 0;

    for (unsigned int i = 0; i < 4; i++) {
        unsigned int n = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 4) {
            n = n * 10 + (unsigned int)(*s++ - '0');
            digits++;
        }
        if (digits == 0 || digits > 3 || n > 255)
            return -XEN_EINVAL;
        v = v << 8 | n;
        if (*s != (i == 3 ? '\0' : '.'))
            return -XEN_EINVAL;
        s++;
    }
    *ip = v;
    return 0;
}

char *net_format_ip(uint32_t ip, char buf[16])
{
    char *p = buf;

    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned int n = (ip >> shift) & 0xFF;
        if (n >= 100)
            *p++ = (char)('0' + n / 100);
        if (n >= 10)
            *p++ = (char)('0' + n / 10 % 10);
        *p++ = (char)('0' + n % 10);
        *p++ = shift ? '.' : '\0';
    }
    return buf;
}

/* ---- sending ------------------------------------------------------------ */

void net_init(const struct net_link *link, const uint8_t mac[ETH_ALEN], uint32_t ip)
{
    memset(&net, 0, sizeof(net));
    memset(&net_stats, 0, sizeof(net_stats));
    net.link = link;
    memcpy(net.mac, mac, ETH_ALEN);
    net.ip = ip;
    net.ip_id = 1;
}

uint32_t net_ip(void)
{
    return net.ip;
}

/* Hands a frame to the link, waiting up to NET_TX_BUSY_NS for room. */
static int xmit(const struct net_buf *pieces, unsigned int n)
{
    uint64_t deadline = 0;

    for (;;) {
        int rc = net.link->send(pieces, n);
        uint64_t now;

        if (rc == 0) {
            net_stats.tx_frames++;
            return 0;
        }
        if (rc != -XEN_EAGAIN) {
            net_stats.tx_errors++;
            return rc;
        }
        now = net.link->now();
        if (deadline == 0)
            deadline = now + NET_TX_BUSY_NS;
        if (now >= deadline) {
            net_stats.tx_dropped++;
            return rc;
        }
        net.link->wait(deadline, false);
    }
}

static void eth_header(uint8_t *h, const uint8_t *dst, uint16_t type)
{
    memcpy(h, dst, ETH_ALEN);
    memcpy(h + ETH_ALEN, net.mac, ETH_ALEN);
    net_put16(h + 2 * ETH_ALEN, type);
}

static int arp_send(uint16_t op, const uint8_t *eth_dst, const uint8_t *tha, uint32_t tpa)
{
    uint8_t f[ETH_HLEN + ARP_LEN];
    uint8_t *a = f + ETH_HLEN;
    struct net_buf b = { f, sizeof(f) };

    eth_header(f, eth_dst, ETH_P_ARP);
    net_put16(a, 1);            /* hardware: Ethernet */
    net_put16(a + 2, ETH_P_IP);
    a[4] = ETH_ALEN;
    a[5] = 4;
    net_put16(a + 6, op);
    memcpy(a + 8, net.mac, ETH_ALEN);
    net_put32(a + 14, net.ip);
    memcpy(a + 18, tha, ETH_ALEN);
    net_put32(a + 24, tpa);
    return xmit(&b, 1);
}

static void arp_request(uint32_t ip)
{
    if (arp_send(ARP_OP_REQUEST, eth_broadcast, eth_zero, ip) == 0)
        net_stats.arp_requests_sent++;
}

/* An IPv4 packet: Ethernet, IP and the transport header (l4, at most 8
 * bytes) in the first piece, the payload in the second. */
static int ip_send(uint32_t dst, uint8_t proto, const uint8_t *l4, size_t l4len,
                   const void *payload, size_t plen)
{
    uint8_t h[ETH_HLEN + IP_HLEN + 8];
    uint8_t *ip = h + ETH_HLEN;
    uint8_t mac[ETH_ALEN];
    struct net_buf b[2];
    size_t total = IP_HLEN + l4len + plen;

    if (l4len > 8 || total > NET_MTU)
        return -XEN_EMSGSIZE;
    if (dst == IP_BROADCAST) {
        memcpy(mac, eth_broadcast, ETH_ALEN);
    } else if (!net_arp_lookup(dst, mac)) {
        arp_request(dst);
        net_stats.tx_dropped++;
        return -XEN_EADDRNOTAVAIL;
    }
    eth_header(h, mac, ETH_P_IP);
    ip[0] = 0x45;               /* version 4, 5 words */
    ip[1] = 0;
    net_put16(ip + 2, (uint16_t)total);
    net_put16(ip + 4, net.ip_id++);
    net_put16(ip + 6, IP_FLAG_DF);
    ip[8] = IP_TTL;
    ip[9] = proto;
    net_put16(ip + 10, 0);
    net_put32(ip + 12, net.ip);
    net_put32(ip + 16, dst);
    net_put16(ip + 10, net_csum_fold(net_csum_add(0, ip, IP_HLEN)));
    memcpy(ip + IP_HLEN, l4, l4len);
    b[0].data = h;
    b[0].len = ETH_HLEN + IP_HLEN + l4len;
    b[1].data = payload;
    b[1].len = plen;
    return xmit(b, plen > 0 ? 2 : 1);
}

int net_udp_send(uint32_t dst_ip, uint16_t src_port, uint16_t dst_port, const void *data,
                 size_t len)
{
    uint8_t u[UDP_HLEN];
    uint32_t sum;
    uint16_t csum;
    int rc;

    if (len > NET_UDP_MAX)
        return -XEN_EMSGSIZE;
    net_put16(u, src_port);
    net_put16(u + 2, dst_port);
    net_put16(u + 4, (uint16_t)(UDP_HLEN + len));
    net_put16(u + 6, 0);
    sum = pseudo_sum(net.ip, dst_ip, IPPROTO_UDP, (uint16_t)(UDP_HLEN + len));
    sum = net_csum_add(sum, u, UDP_HLEN);
    sum = net_csum_add(sum, data, len);
    csum = net_csum_fold(sum);
    net_put16(u + 6, csum == 0 ? 0xFFFF : csum);    /* 0 would mean "no checksum" */
    rc = ip_send(dst_ip, IPPROTO_UDP, u, UDP_HLEN, data, len);
    if (rc == 0) {
        net_stats.udp_tx++;
        net_stats.udp_tx_bytes += (uint32_t)len;
    }
    return rc;
}

static int icmp_send(uint32_t dst, uint8_t type, uint16_t id, uint16_t seq, const void *data,
                     size_t len)
{
    uint8_t h[ICMP_HLEN];

    h[0] = type;
    h[1] = 0;
    net_put16(h + 2, 0);
    net_put16(h + 4, id);
    net_put16(h + 6, seq);
    net_put16(h + 2, net_csum_fold(net_csum_add(net_csum_add(0, h, ICMP_HLEN), data, len)));
    return ip_send(dst, IPPROTO_ICMP, h, ICMP_HLEN, data, len);
}

/* ---- ARP cache ---------------------------------------------------------- */

bool net_arp_lookup(uint32_t ip, uint8_t mac[ETH_ALEN])
{
    for (unsigned int i = 0; i < NET_ARP_CACHE; i++) {
        if (net.arp[i].valid && net.arp[i].ip == ip) {
            memcpy(mac, net.arp[i].mac, ETH_ALEN);
            return true;
        }
    }
    return false;
}

/* Updates ip's entry; if there is none and `insert`, makes one (in a free
 * slot or over the oldest). */
static void arp_update(uint32_t ip, const uint8_t *mac, bool insert)
{
    struct arp_entry *e = NULL;

    for (unsigned int i = 0; i < NET_ARP_CACHE; i++)
        if (net.arp[i].valid && net.arp[i].ip == ip)
            e = &net.arp[i];
    if (e == NULL) {
        if (!insert)
            return;
        e = &net.arp[0];
        for (unsigned int i = 0; i < NET_ARP_CACHE; i++) {
            if (!net.arp[i].valid) {
                e = &net.arp[i];
                break;
            }
            if (net.arp[i].stamp < e->stamp)
                e = &net.arp[i];
        }
    }
    e->valid = true;
    e->ip = ip;
    memcpy(e->mac, mac, ETH_ALEN);
    e->stamp = ++net.arp_clock;
}

int net_arp_resolve(uint32_t ip, uint8_t mac[ETH_ALEN], uint64_t timeout_ns)
{
    uint64_t now = net.link->now();
    uint64_t end = timeout_ns > NET_NO_DEADLINE - now ? NET_NO_DEADLINE : now + timeout_ns;

    for (;;) {
        uint64_t next;

        if (net_arp_lookup(ip, mac))
            return 0;
        now = net.link->now();
        if (now >= end)
            return -XEN_ETIMEDOUT;
        arp_request(ip);
        next = end - now > NET_ARP_RETRY_NS ? now + NET_ARP_RETRY_NS : end;
        while (!net_arp_lookup(ip, mac) && net.link->now() < next)
            net_wait(next);
    }
}

/* ---- receiving ---------------------------------------------------------- */

static void arp_input(const uint8_t *a, size_t len)
{
    uint16_t op;
    uint32_t spa, tpa;
    const uint8_t *sha;

    if (len < ARP_LEN || net_get16(a) != 1 || net_get16(a + 2) != ETH_P_IP || a[4] != ETH_ALEN ||
        a[5] != 4) {
        net_stats.rx_bad++;
        return;
    }
    net_stats.arp_rx++;
    op = net_get16(a + 6);
    sha = a + 8;
    spa = net_get32(a + 14);
    tpa = net_get32(a + 24);
    /* RFC 826: refresh a known sender; learn it if the packet is for us. */
    if (spa != 0 && !(sha[0] & 1))
        arp_update(spa, sha, tpa == net.ip);
    if (op == ARP_OP_REQUEST && tpa == net.ip && net.ip != 0) {
        if (arp_send(ARP_OP_REPLY, sha, sha, spa) == 0)
            net_stats.arp_replies_sent++;
    }
}

static void icmp_input(uint32_t src, uint32_t dst, const uint8_t *p, size_t len)
{
    uint16_t id, seq;

    if (len < ICMP_HLEN || net_csum_fold(net_csum_add(0, p, len)) != 0) {
        net_stats.icmp_bad++;
        return;
    }
    id = net_get16(p + 4);
    seq = net_get16(p + 6);
    if (p[0] == ICMP_ECHO_REQUEST && p[1] == 0) {
        /* Only requests to our own address are answered: RFC 1122 3.2.2.6 lets a
         * request to a broadcast be discarded, and the reply's source must be
         * the request's specific destination. */
        if (dst != net.ip || net.ip == 0) {
            net_stats.echo_not_ours++;
            return;
        }
        net_stats.echo_requests++;
        (void)icmp_send(src, ICMP_ECHO_REPLY, id, seq, p + ICMP_HLEN, len - ICMP_HLEN);
    } else if (p[0] == ICMP_ECHO_REPLY && p[1] == 0) {
        bool data_ok = len - ICMP_HLEN == net.ping.len;

        for (size_t i = 0; data_ok && i < net.ping.len; i++)
            data_ok = p[ICMP_HLEN + i] == (uint8_t)(i + seq);
        if (net.ping.pending && id == NET_PING_ID && seq == net.ping.seq && src == net.ping.ip &&
            data_ok) {
            net.ping.pending = false;
            net.ping.reply_ns = net.link->now();
            net_stats.echo_replies++;
        } else {
            net_stats.echo_stray++;
        }
    }
}

static void udp_input(uint32_t src, uint32_t dst, const uint8_t *p, size_t len)
{
    uint16_t ulen, csum, dport;
    const uint8_t *data;
    size_t dlen;

    if (len < UDP_HLEN) {
        net_stats.udp_bad++;
        return;
    }
    ulen = net_get16(p + 4);
    csum = net_get16(p + 6);
    if (ulen < UDP_HLEN || ulen > len) {
        net_stats.udp_bad++;
        return;
    }
    if (csum != 0 &&
        net_csum_fold(net_csum_add(pseudo_sum(src, dst, IPPROTO_UDP, ulen), p, ulen)) != 0) {
        net_stats.udp_bad++;
        return;
    }
    dport = net_get16(p + 2);
    data = p + UDP_HLEN;
    dlen = ulen - UDP_HLEN;
    if (dport == NET_DISCARD_PORT) {
        net_stats.udp_rx++;
        net_stats.udp_rx_bytes += (uint32_t)dlen;
        net_stats.discard_rx++;
        net_stats.discard_rx_bytes += (uint32_t)dlen;
        return;
    }
    for (unsigned int i = 0; i < NET_UDP_PORTS; i++) {
        if (net.udp[i].port == dport) {
            net_stats.udp_rx++;
            net_stats.udp_rx_bytes += (uint32_t)dlen;
            net.udp[i].fn(src, net_get16(p), data, dlen, net.udp[i].arg);
            return;
        }
    }
    net_stats.udp_no_port++;
}

static void ip_input(const uint8_t *p, size_t len)
{
    size_t hl, total;
    uint32_t src, dst;

    if (len < IP_HLEN || p[0] >> 4 != 4) {
        net_stats.ip_bad++;
        return;
    }
    hl = (size_t)(p[0] & 0xF) * 4;
    total = net_get16(p + 2);
    if (hl < IP_HLEN || total < hl || total > len ||
        net_csum_fold(net_csum_add(0, p, hl)) != 0) {
        net_stats.ip_bad++;
        return;
    }
    src = net_get32(p + 12);
    dst = net_get32(p + 16);
    if (dst != net.ip && dst != IP_BROADCAST) {
        net_stats.ip_other_dst++;
        return;
    }
    /* RFC 1122 3.2.1.3: a datagram with an invalid source is silently discarded:
     * never the limited broadcast, 0.0.0.0 only from a host still learning its
     * address (BOOTP/DHCP, which this stack does not serve), and a multicast
     * group (224/4, RFC 1112 4) is never a source. An answer to one would go
     * out as broadcast, or to no one. */
    if (src == IP_BROADCAST || src == 0 || (src & 0xF0000000U) == 0xE0000000U) {
        net_stats.ip_bad_src++;
        return;
    }
    if (net_get16(p + 6) & IP_FRAG_MASK) {
        net_stats.ip_fragments++;
        return;
    }
    net_stats.ip_rx++;
    switch (p[9]) {
    case IPPROTO_ICMP:
        icmp_input(src, dst, p + hl, total - hl);
        break;
    case IPPROTO_UDP:
        udp_input(src, dst, p + hl, total - hl);
        break;
    default:
        net_stats.ip_unknown_proto++;
        break;
    }
}

void net_input(const uint8_t *frame, size_t len)
{
    net_stats.rx_frames++;
    if (len < ETH_HLEN) {
        net_stats.rx_bad++;
        return;
    }
    if (memcmp(frame, net.mac, ETH_ALEN) != 0 && memcmp(frame, eth_broadcast, ETH_ALEN) != 0) {
        net_stats.rx_not_for_us++;
        return;
    }
    switch (net_get16(frame + 2 * ETH_ALEN)) {
    case ETH_P_ARP:
        arp_input(frame + ETH_HLEN, len - ETH_HLEN);
        break;
    case ETH_P_IP:
        ip_input(frame + ETH_HLEN, len - ETH_HLEN);
        break;
    default:
        net_stats.rx_bad++;
        break;
    }
}

void net_wait(uint64_t deadline_ns)
{
    net.link->wait(deadline_ns, true);
}

void net_serve_until(uint64_t deadline_ns)
{
    while (net.link->now() < deadline_ns)
        net_wait(deadline_ns);
}

/* ---- ping and UDP bindings ---------------------------------------------- */

int net_ping(uint32_t ip, uint16_t seq, size_t len, uint64_t timeout_ns, uint64_t *rtt_ns)
{
    static uint8_t data[NET_PING_MAX];
    uint64_t now = net.link->now();
    uint64_t end = timeout_ns > NET_NO_DEADLINE - now ? NET_NO_DEADLINE : now + timeout_ns;
    uint8_t mac[ETH_ALEN];
    int rc;

    if (len > NET_PING_MAX)
        return -XEN_EMSGSIZE;
    rc = net_arp_resolve(ip, mac, timeout_ns);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i + seq);
    net.ping.pending = true;
    net.ping.ip = ip;
    net.ping.seq = seq;
    net.ping.len = len;
    net.ping.sent_ns = net.link->now();
    rc = icmp_send(ip, ICMP_ECHO_REQUEST, NET_PING_ID, seq, data, len);
    if (rc < 0) {
        net.ping.pending = false;
        return rc;
    }
    while (net.ping.pending) {
        if (net.link->now() >= end) {
            net.ping.pending = false;
            return -XEN_ETIMEDOUT;
        }
        net_wait(end);
    }
    *rtt_ns = net.ping.reply_ns - net.ping.sent_ns;
    return 0;
}

int net_udp_bind(uint16_t port, net_udp_fn fn, void *arg)
{
    struct udp_binding *free_slot = NULL;

    if (port == 0 || port == NET_DISCARD_PORT || fn == NULL)
        return -XEN_EINVAL;
    for (unsigned int i = 0; i < NET_UDP_PORTS; i++) {
        if (net.udp[i].port == port)
            return -XEN_EADDRINUSE;
        if (net.udp[i].port == 0 && free_slot == NULL)
            free_slot = &net.udp[i];
    }
    if (free_slot == NULL)
        return -XEN_ENOSPC;
    free_slot->port = port;
    free_slot->fn = fn;
    free_slot->arg = arg;
    return 0;
}

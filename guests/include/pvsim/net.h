/*
 * A tiny IPv4 network stack for PV kernels (lib/net.c): Ethernet, ARP,
 * IPv4 (no options sent, no fragmentation), ICMP echo and UDP. One
 * interface, one address, no routing: every destination is on the link.
 *
 * The stack knows nothing of the device. It sends through a struct
 * net_link (for the guests: netfront, wired up in work/net.c) and is fed
 * received frames through net_input(), which the link's wait() calls.
 * Everything runs in the kernel's main flow, never in an event handler:
 * net_input() may transmit (ARP replies, echo replies), and the link's
 * send() must not call back into the stack. The code is host-portable
 * (tests/net_test.c runs it against a fake link).
 *
 * Addresses are uint32_t in host order (NET_IP(10,0,0,1)); header fields
 * are read and written byte by byte (net_get16/net_put16...), so frames
 * need no alignment. Errors are negative Xen errnos (pvsim/xen_errno.h).
 */
#ifndef PVSIM_NET_H
#define PVSIM_NET_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define ETH_ALEN        6
#define ETH_HLEN        14
#define ETH_P_IP        0x0800
#define ETH_P_ARP       0x0806
#define ARP_LEN         28          /* Ethernet/IPv4 ARP payload */
#define ARP_OP_REQUEST  1
#define ARP_OP_REPLY    2
#define IP_HLEN         20          /* without options */
#define IPPROTO_ICMP    1
#define IPPROTO_UDP     17
#define ICMP_HLEN       8           /* echo: type, code, csum, id, seq */
#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8
#define UDP_HLEN        8
#define NET_MTU         1500
#define NET_UDP_MAX     (NET_MTU - IP_HLEN - UDP_HLEN)     /* 1472 bytes of payload */
#define NET_PING_MAX    (NET_MTU - IP_HLEN - ICMP_HLEN)    /* 1472 bytes of echo data */
#define NET_DISCARD_PORT 9          /* RFC 863: counted, then dropped */

#define NET_ARP_CACHE   8           /* entries; the oldest is replaced */
#define NET_UDP_PORTS   8           /* bound ports */
#define NET_ARP_RETRY_NS   100000000ULL     /* 100 ms between ARP requests */
#define NET_TX_BUSY_NS     50000000ULL      /* how long a send waits for room */
#define NET_NO_DEADLINE UINT64_MAX
#define NET_PING_ID     0x5056      /* "PV": the echo identifier of net_ping */

#define NET_IP(a, b, c, d) \
    ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static inline uint16_t net_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t net_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void net_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void net_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A piece of a frame: the stack sends headers and payload separately. */
struct net_buf {
    const void *data;
    size_t len;
};
#define NET_MAX_PIECES 4

struct net_link {
    /* Sends one Ethernet frame made of n pieces (1..NET_MAX_PIECES). 0;
     * -XEN_EAGAIN if the device has no room just now; another -errno if
     * it cannot send it at all. */
    int (*send)(const struct net_buf *pieces, unsigned int n);
    /* Sleeps until the device has something to report (received frames,
     * transmit room) or system time reaches deadline_ns (NET_NO_DEADLINE:
     * none), then, if deliver, passes received frames to net_input(). With
     * deliver false it only reclaims transmit room (used while a send waits,
     * so the stack is not re-entered). */
    void (*wait)(uint64_t deadline_ns, bool deliver);
    /* System time in ns. */
    uint64_t (*now)(void);
};

struct net_stats {
    uint32_t rx_frames;         /* handed to net_input */
    uint32_t rx_bad;            /* too short, malformed, unknown ethertype */
    uint32_t rx_not_for_us;     /* another MAC (unicast) */
    uint32_t arp_rx;
    uint32_t arp_requests_sent;
    uint32_t arp_replies_sent;  /* answers to requests for our address */
    uint32_t ip_rx;             /* IPv4 packets addressed to us, checksum good */
    uint32_t ip_bad;            /* bad version, length or header checksum */
    uint32_t ip_other_dst;
    uint32_t ip_bad_src;        /* dropped: source 255.255.255.255, 0.0.0.0 or multicast */
    uint32_t ip_fragments;      /* dropped: no reassembly */
    uint32_t ip_unknown_proto;
    uint32_t icmp_bad;          /* bad checksum or length */
    uint32_t echo_requests;     /* received for our address (each answered) */
    uint32_t echo_not_ours;     /* dropped: to a broadcast, not our own address */
    uint32_t echo_replies;      /* received, matching our ping */
    uint32_t echo_stray;        /* received, matching nothing outstanding */
    uint32_t udp_rx, udp_rx_bytes;      /* to port 9 or a bound port (payload bytes) */
    uint32_t udp_bad;           /* bad checksum or length */
    uint32_t udp_no_port;
    uint32_t discard_rx, discard_rx_bytes;  /* port 9 */
    uint32_t udp_tx, udp_tx_bytes;
    uint32_t tx_frames;
    uint32_t tx_dropped;        /* no room before NET_TX_BUSY_NS, or no ARP entry */
    uint32_t tx_errors;         /* the link refused a frame */
};
extern struct net_stats net_stats;

/* Sets the interface up (clears the ARP cache, bindings and counters). */
void net_init(const struct net_link *link, const uint8_t mac[ETH_ALEN], uint32_t ip);
uint32_t net_ip(void);
/* One received Ethernet frame (len without FCS). */
void net_input(const uint8_t *frame, size_t len);
/* Serves the network (answers ARP, pings, delivers UDP) until deadline_ns
 * or, at the latest, the next batch of device activity: link->wait(deadline,
 * true). Callers loop on their own condition. */
void net_wait(uint64_t deadline_ns);
/* Serves the network until system time reaches deadline_ns. */
void net_serve_until(uint64_t deadline_ns);

/* The cached MAC of ip: true if known. */
bool net_arp_lookup(uint32_t ip, uint8_t mac[ETH_ALEN]);
/* Resolves ip, sending ARP requests every NET_ARP_RETRY_NS and serving the
 * network meanwhile, for at most timeout_ns: 0, or -XEN_ETIMEDOUT. */
int net_arp_resolve(uint32_t ip, uint8_t mac[ETH_ALEN], uint64_t timeout_ns);

/* Sends an ICMP echo request (id NET_PING_ID, sequence seq, len bytes of
 * data) and serves the network until the matching reply arrives: 0 and the
 * round trip in *rtt_ns (guest clock, send to receipt), or -XEN_ETIMEDOUT
 * after timeout_ns, or the send's error. ip must be resolved (ARP) or
 * resolvable within the timeout. */
int net_ping(uint32_t ip, uint16_t seq, size_t len, uint64_t timeout_ns, uint64_t *rtt_ns);

/* UDP. Handlers run from net_input with the datagram's payload. */
typedef void (*net_udp_fn)(uint32_t src_ip, uint16_t src_port, const uint8_t *data, size_t len,
                           void *arg);
/* 0, -XEN_EADDRINUSE, -XEN_ENOSPC (table full), -XEN_EINVAL (port 0 or 9). */
int net_udp_bind(uint16_t port, net_udp_fn fn, void *arg);
/* Sends one datagram (len <= NET_UDP_MAX) with its checksum, as two pieces
 * (Ethernet+IP+UDP headers, payload). The destination must be in the ARP
 * cache, else an ARP request goes out and the result is -XEN_EADDRNOTAVAIL.
 * -XEN_EAGAIN if the device had no room for NET_TX_BUSY_NS. */
int net_udp_send(uint32_t dst_ip, uint16_t src_port, uint16_t dst_port, const void *data,
                 size_t len);

/* The Internet checksum: net_csum_add sums 16-bit big-endian words (an
 * odd last byte is padded with zero; only the last chunk of a sum may have
 * odd length); net_csum_fold folds and complements. */
uint32_t net_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t net_csum_fold(uint32_t sum);

/* "aa:bb:cc:dd:ee:ff" (hex, case-insensitive) and dotted-quad "10.0.0.1":
 * 0, or -XEN_EINVAL. net_format_ip writes the dotted quad (16 bytes). */
int net_parse_mac(const char *s, uint8_t mac[ETH_ALEN]);
int net_parse_ip(const char *s, uint32_t *ip);
char *net_format_ip(uint32_t ip, char buf[16]);

#endif

/*
 * Xen's paravirtual network protocol (io/netif.h with io/ring.h's
 * DEFINE_RING_TYPES(netif_tx, ...) and (netif_rx, ...)), as RV32 lays it
 * out. Every field is 8, 16 or 32 bits wide, so the layout is the same on
 * every ABI. Pinned to Xen's headers by `make abi-check`.
 *
 * A vif has two rings, each in one granted page, and (here) one event
 * channel for both:
 *   tx  guest -> backend. A request names a granted page, an offset and a
 *       size; a packet spanning several slots sets NETTXF_more_data on all
 *       but its last slot, and its FIRST slot's size is the whole packet's
 *       length (later slots carry their own). Each slot gets a response
 *       { id, status }.
 *   rx  backend -> guest. The guest posts empty pages { id, gref }; the
 *       backend copies a packet in (request-rx-copy) and answers { id,
 *       offset, flags, status }: status >= 0 is the byte count in that
 *       slot, < 0 a NETIF_RSP_* error; NETRXF_more_data means the packet
 *       continues in the next response.
 */
#ifndef PVSIM_NETIF_H
#define PVSIM_NETIF_H

#include <pvsim/xen_types.h>
#include <pvsim/ring.h>

/* Slots per packet every backend must accept. */
#define XEN_NETIF_NR_SLOTS_MIN 18
/* Largest packet a tx request's size can describe. */
#define XEN_NETIF_MAX_TX_SIZE 0xFFFF

/* netif_tx_request.flags */
#define NETTXF_csum_blank     (1U << 0)   /* protocol checksum not filled in */
#define NETTXF_data_validated (1U << 1)   /* checksum already checked */
#define NETTXF_more_data      (1U << 2)   /* the packet continues in the next slot */
#define NETTXF_extra_info     (1U << 3)   /* the next slot is a netif_extra_info */

struct netif_tx_request {
    grant_ref_t gref;           /* the page holding this slot's bytes */
    uint16_t offset;            /* where they start in it */
    uint16_t flags;             /* NETTXF_* */
    uint16_t id;                /* echoed in the response */
    uint16_t size;              /* first slot: the packet's length; others: the slot's */
};

/* netif_extra_info.type */
#define XEN_NETIF_EXTRA_TYPE_NONE      0
#define XEN_NETIF_EXTRA_TYPE_GSO       1
#define XEN_NETIF_EXTRA_TYPE_MCAST_ADD 2
#define XEN_NETIF_EXTRA_TYPE_MCAST_DEL 3
#define XEN_NETIF_EXTRA_TYPE_HASH      4
#define XEN_NETIF_EXTRA_TYPE_MAX       5

/* netif_extra_info.flags: another extra slot follows. */
#define XEN_NETIF_EXTRA_FLAG_MORE (1U << 0)

/* netif_extra_info.u.gso.type */
#define XEN_NETIF_GSO_TYPE_NONE  0
#define XEN_NETIF_GSO_TYPE_TCPV4 1
#define XEN_NETIF_GSO_TYPE_TCPV6 2

/* Occupies a whole ring slot (tx request or rx response) when present. */
struct netif_extra_info {
    uint8_t type;               /* XEN_NETIF_EXTRA_TYPE_* */
    uint8_t flags;              /* XEN_NETIF_EXTRA_FLAG_* */
    union {
        struct {
            uint16_t size;      /* GSO segment size */
            uint8_t type;       /* XEN_NETIF_GSO_TYPE_* */
            uint8_t pad;
            uint16_t features;
        } gso;
        struct {
            uint8_t addr[6];    /* multicast address */
        } mcast;
        struct {
            uint8_t type;
            uint8_t algorithm;
            uint8_t value[4];
        } hash;
        uint16_t pad[3];
    } u;
};

struct netif_tx_response {
    uint16_t id;
    int16_t status;             /* NETIF_RSP_* */
};

struct netif_rx_request {
    uint16_t id;                /* echoed in the response */
    uint16_t pad;
    grant_ref_t gref;           /* an empty page, granted writable */
};

/* netif_rx_response.flags */
#define NETRXF_data_validated (1U << 0)
#define NETRXF_csum_blank     (1U << 1)
#define NETRXF_more_data      (1U << 2)   /* the packet continues in the next response */
#define NETRXF_extra_info     (1U << 3)   /* the next slot is a netif_extra_info */
#define NETRXF_gso_prefix     (1U << 4)

struct netif_rx_response {
    uint16_t id;
    uint16_t offset;            /* where the bytes start in the page */
    uint16_t flags;             /* NETRXF_* */
    int16_t status;             /* >= 0: bytes in this slot; < 0: NETIF_RSP_* */
};

#define NETIF_RSP_DROPPED -2
#define NETIF_RSP_ERROR   -1
#define NETIF_RSP_OKAY     0
#define NETIF_RSP_NULL     1    /* no response: the slot carried an extra info */

/* (4096 - 64) / 12 = 336 and (4096 - 64) / 8 = 504, rounded down to a power of 2 */
#define NET_TX_RING_SIZE 256U
#define NET_RX_RING_SIZE 256U

PVSIM_DEFINE_SRING(netif_tx, struct netif_tx_request, struct netif_tx_response, NET_TX_RING_SIZE);
PVSIM_DEFINE_SRING(netif_rx, struct netif_rx_request, struct netif_rx_response, NET_RX_RING_SIZE);

PV_CHECK_SIZE(struct netif_tx_request, 12);
PV_CHECK_SIZE(struct netif_tx_response, 4);
PV_CHECK_SIZE(struct netif_rx_request, 8);
PV_CHECK_SIZE(struct netif_rx_response, 8);
PV_CHECK_SIZE(struct netif_extra_info, 8);
PV_CHECK_SIZE(struct netif_tx_sring, 64 + 256 * 12);
PV_CHECK_SIZE(struct netif_rx_sring, 64 + 256 * 8);
_Static_assert(NET_TX_RING_SIZE == PVSIM_CONST_RING_SIZE(sizeof(union netif_tx_sring_entry)),
               "netif tx ring size");
_Static_assert(NET_RX_RING_SIZE == PVSIM_CONST_RING_SIZE(sizeof(union netif_rx_sring_entry)),
               "netif rx ring size");

#endif

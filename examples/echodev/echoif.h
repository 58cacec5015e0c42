/*
 * echoif: the example split device's protocol (examples/echodev). One shared ring of
 * 32-byte slots (io/ring.h layout: 64 slots in a 4 KiB page), one event channel.
 *
 * xenbus keys
 *   backend  feature-sum = 1    the backend serves ECHOIF_OP_SUM
 *            max-len = 20       the most inline bytes a request carries
 *   frontend ring-ref, event-channel
 *
 * ECHOIF_OP_ECHO  data[0..len) comes back in the response, upper-cased.
 * ECHOIF_OP_SUM   the backend grant-copies len bytes (<= 4096) at offset 0 of page
 *                 `gref` and answers value = the sum of those bytes.
 * status: ECHOIF_RSP_OKAY, or ECHOIF_RSP_ERROR (bad op, length, grant).
 */
#ifndef ECHOIF_H
#define ECHOIF_H

#include <stdint.h>
#include <pvsim/ring.h>

#define ECHOIF_OP_ECHO 0
#define ECHOIF_OP_SUM  1

#define ECHOIF_RSP_OKAY   0
#define ECHOIF_RSP_ERROR (-1)

#define ECHOIF_MAX_INLINE 20

struct echoif_request {
    uint32_t id;
    uint16_t op;
    uint16_t len;
    uint32_t gref;
    uint8_t data[ECHOIF_MAX_INLINE];
};

struct echoif_response {
    uint32_t id;
    int16_t status;
    uint16_t len;
    uint32_t value;
    uint8_t data[ECHOIF_MAX_INLINE];
};

_Static_assert(sizeof(struct echoif_request) == 32, "echoif_request is 32 bytes");
_Static_assert(sizeof(struct echoif_response) == 32, "echoif_response is 32 bytes");

#define ECHOIF_RING_SIZE 64
PVSIM_DEFINE_SRING(echoif, struct echoif_request, struct echoif_response, ECHOIF_RING_SIZE);
_Static_assert(ECHOIF_RING_SIZE == PVSIM_CONST_RING_SIZE(sizeof(union echoif_sring_entry)),
               "ECHOIF_RING_SIZE is __CONST_RING_SIZE(echoif, 4096)");

#endif

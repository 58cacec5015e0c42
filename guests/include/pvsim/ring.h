/*
 * Xen's shared I/O ring (io/ring.h), as pvsim's frontends use it: one
 * granted page holding a 64-byte header (req_prod, req_event, rsp_prod,
 * rsp_event, padding) and then a power-of-two array of slots, each a union
 * of the protocol's request and response. Indices are free-running
 * RING_IDX (u32) values; a slot is at idx & (size - 1).
 *
 * PVSIM_DEFINE_SRING(name, req, rsp, size) declares
 *   union <name>_sring_entry { req; rsp; } and struct <name>_sring,
 * Xen's names, so `make abi-check` can compare them with Xen's
 * DEFINE_RING_TYPES. The size is spelled out by each protocol header and
 * checked there against PVSIM_CONST_RING_SIZE (Xen's __CONST_RING_SIZE for
 * a 4 KiB page: (4096 - 64) / sizeof(entry), rounded down to a power of 2).
 *
 * The frontend side of the protocol, for a ring `s` with the private
 * indices req_prod_pvt and rsp_cons:
 *   PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: the slots are in place
 *     before req_prod exposes them (wmb); req_prod is published before
 *     req_event is read (mb); notify if req_event lies in (old, new].
 *   PVSIM_RING_FINAL_CHECK_FOR_RESPONSES: after consuming, rearm rsp_event
 *     = rsp_cons + 1 and read rsp_prod again (mb between), so a response
 *     published meanwhile is either seen now or raises an event.
 */
#ifndef PVSIM_RING_H
#define PVSIM_RING_H

#include <stdint.h>
#include <pvsim/atomic.h>

typedef uint32_t RING_IDX;

#define PVSIM_SRING_HEADER_BYTES 64U

#define PVSIM_DEFINE_SRING(name, req_type, rsp_type, size)  \
    union name##_sring_entry {                              \
        req_type req;                                       \
        rsp_type rsp;                                       \
    };                                                      \
    struct name##_sring {                                   \
        RING_IDX req_prod, req_event;                       \
        RING_IDX rsp_prod, rsp_event;                       \
        uint8_t __pad[48];                                  \
        union name##_sring_entry ring[size];                \
    }

/* Largest power of two <= (4096 - 64) / entry_size, for entry sizes 1..4032. */
#define PVSIM_POW2_FLOOR_(n)                                                   \
    ((n) >= 2048 ? 2048U : (n) >= 1024 ? 1024U : (n) >= 512 ? 512U :           \
     (n) >= 256 ? 256U : (n) >= 128 ? 128U : (n) >= 64 ? 64U : (n) >= 32 ? 32U : \
     (n) >= 16 ? 16U : (n) >= 8 ? 8U : (n) >= 4 ? 4U : (n) >= 2 ? 2U : 1U)
#define PVSIM_CONST_RING_SIZE(entry_size) \
    PVSIM_POW2_FLOOR_((4096U - PVSIM_SRING_HEADER_BYTES) / (entry_size))

/* SHARED_RING_INIT: indices 0, both events armed for the first slot. */
#define PVSIM_SHARED_RING_INIT(s)                           \
    do {                                                    \
        (s)->req_prod = 0;                                  \
        (s)->rsp_prod = 0;                                  \
        (s)->req_event = 1;                                 \
        (s)->rsp_event = 1;                                 \
        for (unsigned int i_ = 0; i_ < 48; i_++)            \
            (s)->__pad[i_] = 0;                             \
    } while (0)

/* Publishes req_prod_pvt; sets `notify` if the other end asked for an event. */
#define PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(s, req_prod_pvt, notify)     \
    do {                                                                       \
        RING_IDX old_ = READ_ONCE((s)->req_prod);                              \
        RING_IDX new_ = (req_prod_pvt);                                        \
        wmb();                                                                 \
        WRITE_ONCE((s)->req_prod, new_);                                       \
        mb();                                                                  \
        (notify) = (RING_IDX)(new_ - READ_ONCE((s)->req_event)) < (RING_IDX)(new_ - old_); \
    } while (0)

/* Rearms rsp_event; sets `more` if responses are (still) unconsumed. */
#define PVSIM_RING_FINAL_CHECK_FOR_RESPONSES(s, rsp_cons, more)                \
    do {                                                                       \
        (more) = READ_ONCE((s)->rsp_prod) != (rsp_cons);                       \
        if (!(more)) {                                                         \
            WRITE_ONCE((s)->rsp_event, (rsp_cons) + 1);                        \
            mb();                                                              \
            (more) = READ_ONCE((s)->rsp_prod) != (rsp_cons);                   \
        }                                                                      \
    } while (0)

#endif

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
 *
 * Both ends with private state (Xen's front_ring / back_ring): for a guest
 * that is a backend (a driver domain), or a frontend that wants ring.h's
 * counts and overflow checks. PVSIM_DEFINE_RING_ENDS(name) declares
 * struct name##_front_ring { req_prod_pvt, rsp_cons, nr_ents, sring } and
 * struct name##_back_ring { rsp_prod_pvt, req_cons, nr_ents, sring }; the
 * macros below take a pointer to one, as ring.h's do. nr_ents is the
 * number of slots (PVSIM_RING_ENTRIES(s): the array PVSIM_DEFINE_SRING
 * declared). Every count is RING_IDX arithmetic, wrapping as ring.h's.
 * The pushes and the final checks come in two forms: on the shared ring
 * with the private index spelled out (PVSIM_RING_PUSH_*(s, pvt, ...)), and
 * on a ring end (the _R forms; RING_FINAL_CHECK_FOR_REQUESTS has only this
 * one, since its count needs rsp_prod_pvt and the size).
 * The other end's producer is read once per macro (READ_ONCE): a peer
 * moving it between two reads cannot make one macro see two values.
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

/* Publishes a private producer without asking whether to notify (wmb first). */
#define PVSIM_RING_PUSH_REQUESTS(s, req_prod_pvt)                              \
    do {                                                                       \
        wmb();                                                                 \
        WRITE_ONCE((s)->req_prod, (RING_IDX)(req_prod_pvt));                   \
    } while (0)
#define PVSIM_RING_PUSH_RESPONSES(s, rsp_prod_pvt)                             \
    do {                                                                       \
        wmb();                                                                 \
        WRITE_ONCE((s)->rsp_prod, (RING_IDX)(rsp_prod_pvt));                   \
    } while (0)

/* Publishes rsp_prod_pvt; sets `notify` if the frontend asked for an event
 * at an index in (old, new] (rsp_event read after the publication: mb). */
#define PVSIM_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(s, rsp_prod_pvt, notify)    \
    do {                                                                       \
        RING_IDX old_ = READ_ONCE((s)->rsp_prod);                              \
        RING_IDX new_ = (rsp_prod_pvt);                                        \
        wmb();                                                                 \
        WRITE_ONCE((s)->rsp_prod, new_);                                       \
        mb();                                                                  \
        (notify) = (RING_IDX)(new_ - READ_ONCE((s)->rsp_event)) < (RING_IDX)(new_ - old_); \
    } while (0)

#define PVSIM_DEFINE_RING_ENDS(name)                        \
    struct name##_front_ring {                              \
        RING_IDX req_prod_pvt;                              \
        RING_IDX rsp_cons;                                  \
        unsigned int nr_ents;                               \
        struct name##_sring *sring;                         \
    };                                                      \
    struct name##_back_ring {                               \
        RING_IDX rsp_prod_pvt;                              \
        RING_IDX req_cons;                                  \
        unsigned int nr_ents;                               \
        struct name##_sring *sring;                         \
    }

/* The slots PVSIM_DEFINE_SRING declared for the shared ring `s`. */
#define PVSIM_RING_ENTRIES(s) ((unsigned int)(sizeof((s)->ring) / sizeof((s)->ring[0])))

/* FRONT_RING_ATTACH / BACK_RING_ATTACH: the private indices at `i` (a ring
 * already in use, e.g. after a restart); *_INIT: at 0. */
#define PVSIM_FRONT_RING_ATTACH(r, s, i, nr)                \
    do {                                                    \
        (r)->req_prod_pvt = (i);                            \
        (r)->rsp_cons = (i);                                \
        (r)->nr_ents = (nr);                                \
        (r)->sring = (s);                                   \
    } while (0)
#define PVSIM_FRONT_RING_INIT(r, s, nr) PVSIM_FRONT_RING_ATTACH(r, s, 0, nr)
#define PVSIM_BACK_RING_ATTACH(r, s, i, nr)                 \
    do {                                                    \
        (r)->rsp_prod_pvt = (i);                            \
        (r)->req_cons = (i);                                \
        (r)->nr_ents = (nr);                                \
        (r)->sring = (s);                                   \
    } while (0)
#define PVSIM_BACK_RING_INIT(r, s, nr) PVSIM_BACK_RING_ATTACH(r, s, 0, nr)

#define PVSIM_RING_SIZE(r) ((r)->nr_ents)

/* Frontend: slots it may still fill; full when none. */
#define PVSIM_RING_FREE_REQUESTS(r) \
    ((RING_IDX)(PVSIM_RING_SIZE(r) - ((r)->req_prod_pvt - (r)->rsp_cons)))
#define PVSIM_RING_FULL(r) (PVSIM_RING_FREE_REQUESTS(r) == 0)

static inline RING_IDX pvsim_ring_min_(RING_IDX a, RING_IDX b)
{
    return a < b ? a : b;
}

/* Published and not consumed. A backend counts no more requests than it
 * has room to answer (slots not yet answered fill the ring). */
#define PVSIM_RING_NR_UNCONSUMED_RESPONSES(r) \
    ((RING_IDX)(READ_ONCE((r)->sring->rsp_prod) - (r)->rsp_cons))
#define PVSIM_RING_NR_UNCONSUMED_REQUESTS(r)                                   \
    pvsim_ring_min_((RING_IDX)(READ_ONCE((r)->sring->req_prod) - (r)->req_cons), \
                    (RING_IDX)(PVSIM_RING_SIZE(r) - ((r)->req_cons - (r)->rsp_prod_pvt)))

/* A slot by free-running index. */
#define PVSIM_RING_GET_REQUEST(r, idx) \
    (&(r)->sring->ring[(idx) & (PVSIM_RING_SIZE(r) - 1)].req)
#define PVSIM_RING_GET_RESPONSE(r, idx) \
    (&(r)->sring->ring[(idx) & (PVSIM_RING_SIZE(r) - 1)].rsp)

/* One read of a slot into private memory (a volatile source cannot be
 * re-read by the compiler): check and use only the copy, never the slot,
 * so a peer rewriting it meanwhile cannot make two checks see two values. */
#define PVSIM_RING_COPY_REQUEST(r, idx, dst) \
    (*(dst) = *(volatile __typeof__(dst))PVSIM_RING_GET_REQUEST(r, idx))
#define PVSIM_RING_COPY_RESPONSE(r, idx, dst) \
    (*(dst) = *(volatile __typeof__(dst))PVSIM_RING_GET_RESPONSE(r, idx))

/* Backend loop bound: consuming at `cons` would take a slot whose answer
 * is not yet produced (the ring holds RING_SIZE outstanding at most). */
#define PVSIM_RING_REQUEST_CONS_OVERFLOW(r, cons) \
    ((RING_IDX)((cons) - (r)->rsp_prod_pvt) >= PVSIM_RING_SIZE(r))
/* A hostile peer: more requests published than the ring can hold... */
#define PVSIM_RING_REQUEST_PROD_OVERFLOW(r, prod) \
    ((RING_IDX)((prod) - (r)->rsp_prod_pvt) > PVSIM_RING_SIZE(r))
/* ... or more responses than slots past rsp_cons. */
#define PVSIM_RING_RESPONSE_PROD_OVERFLOW(r, prod) \
    ((RING_IDX)((prod) - (r)->rsp_cons) > PVSIM_RING_SIZE(r))

/* Struct forms of the pushes (RING_PUSH_*, RING_PUSH_*_AND_CHECK_NOTIFY). */
#define PVSIM_RING_PUSH_REQUESTS_R(r) PVSIM_RING_PUSH_REQUESTS((r)->sring, (r)->req_prod_pvt)
#define PVSIM_RING_PUSH_RESPONSES_R(r) PVSIM_RING_PUSH_RESPONSES((r)->sring, (r)->rsp_prod_pvt)
#define PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY_R(r, notify) \
    PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY((r)->sring, (r)->req_prod_pvt, notify)
#define PVSIM_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY_R(r, notify) \
    PVSIM_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY((r)->sring, (r)->rsp_prod_pvt, notify)

/* RING_FINAL_CHECK_FOR_REQUESTS: `work` is the unconsumed count; when 0,
 * rearm req_event = req_cons + 1 and count again after a full barrier, so
 * a request published meanwhile is counted now or raises an event. */
#define PVSIM_RING_FINAL_CHECK_FOR_REQUESTS(r, work)                           \
    do {                                                                       \
        (work) = PVSIM_RING_NR_UNCONSUMED_REQUESTS(r);                         \
        if (!(work)) {                                                         \
            WRITE_ONCE((r)->sring->req_event, (RING_IDX)((r)->req_cons + 1));  \
            mb();                                                              \
            (work) = PVSIM_RING_NR_UNCONSUMED_REQUESTS(r);                     \
        }                                                                      \
    } while (0)
/* The same for a frontend, with the count (the raw form above gives a flag). */
#define PVSIM_RING_FINAL_CHECK_FOR_RESPONSES_R(r, work)                        \
    do {                                                                       \
        (work) = PVSIM_RING_NR_UNCONSUMED_RESPONSES(r);                        \
        if (!(work)) {                                                         \
            WRITE_ONCE((r)->sring->rsp_event, (RING_IDX)((r)->rsp_cons + 1));  \
            mb();                                                              \
            (work) = PVSIM_RING_NR_UNCONSUMED_RESPONSES(r);                    \
        }                                                                      \
    } while (0)

#endif

/*
 * Host oracle for the ring library (protocol/ring.ts): runs a script of ring operations
 * with Xen's own io/ring.h macros (compiled by the host gcc against /usr/include/xen) and
 * prints every index, count and flag after each step, so tests/ring-abi.test.ts can run
 * the same script through the TypeScript library and compare line by line.
 *
 *   ring_oracle ring BYTES      script on stdin: one op a line (see run_ring)
 *   ring_oracle flex BYTES      script on stdin: flex-ring ops (see run_flex)
 *   ring_oracle rd32 X...       __RD32(X) for each X
 *   ring_oracle gsize           entry sizes where the guests' PVSIM_CONST_RING_SIZE differs
 *
 * With -I guests/include it also runs the guests' C ring macros (pvsim/ring.h), both
 * ends, beside ring.h's at every step, on a copy of the page and private rings of their
 * own: the page after the step, the private indices, each step's result (copied values,
 * notify flags, final-check counts, refusals) and every count and overflow test must be
 * the same; a difference prints "guest-mismatch" as the step's result. -DORACLE_MUTANT
 * swaps in a guest RING_FINAL_CHECK_FOR_REQUESTS that rearms req_event one short (at
 * req_cons), to show a wrong macro is caught. (One that skips the count after rearming
 * differs only when the frontend publishes in between: that is the exploration's to find,
 * sim/ringkit/explore.ts, not a sequential oracle's.)
 *
 * The guards ("refused") are the conditions protocol/ring.ts checks, written here with
 * ring.h's macros.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
/* ring.h's barriers: full fences (the oracle is single-threaded; only the values matter). */
#define mb() __sync_synchronize()
#define rmb() __sync_synchronize()
#define wmb() __sync_synchronize()
#include <xen/io/ring.h>
#ifndef xen_mb
#define xen_mb() mb()
#define xen_rmb() rmb()
#define xen_wmb() wmb()
#endif


struct t_req { uint32_t v; uint32_t pad[3]; };
struct t_rsp { uint32_t v; uint32_t pad[3]; };
DEFINE_RING_TYPES(t, struct t_req, struct t_rsp);
DEFINE_XEN_FLEX_RING(x);

/*
 * The guests' own ring macros (guests/include/pvsim/ring.h, built with -I guests/include),
 * run beside ring.h's on a copy of the same page: their results must be the same. Their
 * atomic.h is RISC-V assembly; the barriers above and these accessors stand in for it.
 */
#define PVSIM_ATOMIC_H
#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#include <pvsim/ring.h>
/* 256 slots: room for any ring of up to 4096 bytes of 16-byte entries. */
PVSIM_DEFINE_SRING(g, struct t_req, struct t_rsp, 256);
PVSIM_DEFINE_RING_ENDS(g);
#ifdef ORACLE_MUTANT
#undef PVSIM_RING_FINAL_CHECK_FOR_REQUESTS
#define PVSIM_RING_FINAL_CHECK_FOR_REQUESTS(r, work)                          \
    do {                                                                      \
        (work) = PVSIM_RING_NR_UNCONSUMED_REQUESTS(r);                        \
        if (!(work)) WRITE_ONCE((r)->sring->req_event, (r)->req_cons);        \
    } while (0)
#endif

/* The guests' counts and overflow tests against ring.h's, on the same state. */
static bool guest_counts_agree(t_front_ring_t *f, t_back_ring_t *b, struct g_front_ring *gf, struct g_back_ring *gb)
{
    t_sring_t *s = f->sring;
    return PVSIM_RING_SIZE(gf) == RING_SIZE(f) && PVSIM_RING_SIZE(gb) == RING_SIZE(b) &&
           PVSIM_RING_FREE_REQUESTS(gf) == (RING_IDX)RING_FREE_REQUESTS(f) &&
           PVSIM_RING_FULL(gf) == RING_FULL(f) &&
           PVSIM_RING_NR_UNCONSUMED_RESPONSES(gf) == (RING_IDX)XEN_RING_NR_UNCONSUMED_RESPONSES(f) &&
           PVSIM_RING_NR_UNCONSUMED_REQUESTS(gb) == (RING_IDX)XEN_RING_NR_UNCONSUMED_REQUESTS(b) &&
           PVSIM_RING_REQUEST_PROD_OVERFLOW(gb, gf->sring->req_prod) == RING_REQUEST_PROD_OVERFLOW(b, s->req_prod) &&
           PVSIM_RING_RESPONSE_PROD_OVERFLOW(gf, gf->sring->rsp_prod) == RING_RESPONSE_PROD_OVERFLOW(f, s->rsp_prod) &&
           PVSIM_RING_REQUEST_CONS_OVERFLOW(gb, gb->req_cons) == RING_REQUEST_CONS_OVERFLOW(b, b->req_cons);
}

static void state(const char *res, t_front_ring_t *f, t_back_ring_t *b)
{
    t_sring_t *s = f->sring;
    printf("%s %u %u %u %u %u %u %u %u %u %d %u %u %d %d %d\n", res,
           s->req_prod, s->req_event, s->rsp_prod, s->rsp_event,
           f->req_prod_pvt, f->rsp_cons, b->rsp_prod_pvt, b->req_cons,
           (unsigned)RING_FREE_REQUESTS(f), RING_FULL(f) ? 1 : 0,
           (unsigned)XEN_RING_NR_UNCONSUMED_RESPONSES(f), (unsigned)XEN_RING_NR_UNCONSUMED_REQUESTS(b),
           RING_REQUEST_PROD_OVERFLOW(b, s->req_prod) ? 1 : 0,
           RING_RESPONSE_PROD_OVERFLOW(f, s->rsp_prod) ? 1 : 0,
           RING_REQUEST_CONS_OVERFLOW(b, b->req_cons) ? 1 : 0);
}

static int run_ring(unsigned long bytes)
{
    t_sring_t *s = calloc(1, bytes);
    struct g_sring *shadow = calloc(1, sizeof(struct g_sring));
    struct g_sring *raw = calloc(1, sizeof(struct g_sring));
    t_front_ring_t f;
    t_back_ring_t b;
    struct g_front_ring gf;
    struct g_back_ring gb;
    bool page_step; /* the guests' macros ran this step on the shadow page: compare it */
    bool gbad;
    char op[16];
    unsigned long arg;
    char res[32];
    if (!s || !shadow || !raw || bytes > sizeof(struct g_sring)) return 1;
    SHARED_RING_INIT(s);
    FRONT_RING_INIT(&f, s, bytes);
    BACK_RING_INIT(&b, s, bytes);
    PVSIM_FRONT_RING_INIT(&gf, shadow, RING_SIZE(&f));
    PVSIM_BACK_RING_INIT(&gb, shadow, RING_SIZE(&b));
    printf("size %u\n", RING_SIZE(&f));
    while (scanf("%15s %lu", op, &arg) == 2) {
        RING_IDX a = (RING_IDX)arg;
        strcpy(res, "-");
        memcpy(shadow, s, bytes); /* the guests' end sees the page as ring.h's does */
        page_step = false;
        gbad = false;
        if (!strcmp(op, "init")) {
            /* SHARED_RING_INIT moved to index a (pvsim's init(start)), both ends attached there. */
            memset(shadow, 0xa5, 64);
            memset(s, 0x5a, 64);
            PVSIM_SHARED_RING_INIT(shadow);
            SHARED_RING_INIT(s);
            if (memcmp(shadow, s, 64)) gbad = true;
            s->req_prod = s->rsp_prod = a;
            s->req_event = s->rsp_event = a + 1;
            FRONT_RING_ATTACH(&f, s, a, bytes);
            BACK_RING_ATTACH(&b, s, a, bytes);
            PVSIM_FRONT_RING_ATTACH(&gf, shadow, a, RING_SIZE(&f));
            PVSIM_BACK_RING_ATTACH(&gb, shadow, a, RING_SIZE(&b));
        } else if (!strcmp(op, "fattach")) {
            FRONT_RING_ATTACH(&f, s, a, bytes);
            PVSIM_FRONT_RING_ATTACH(&gf, shadow, a, RING_SIZE(&f));
        } else if (!strcmp(op, "battach")) {
            BACK_RING_ATTACH(&b, s, a, bytes);
            PVSIM_BACK_RING_ATTACH(&gb, shadow, a, RING_SIZE(&b));
        } else if (!strcmp(op, "fprod")) {
            bool grefused = (RING_IDX)(gf.req_prod_pvt - gf.rsp_cons) >= PVSIM_RING_SIZE(&gf);
            page_step = true;
            if ((RING_IDX)(f.req_prod_pvt - f.rsp_cons) >= RING_SIZE(&f)) strcpy(res, "refused");
            else {
                RING_GET_REQUEST(&f, f.req_prod_pvt)->v = f.req_prod_pvt ^ a;
                f.req_prod_pvt++;
            }
            if (!grefused) {
                PVSIM_RING_GET_REQUEST(&gf, gf.req_prod_pvt)->v = gf.req_prod_pvt ^ a;
                gf.req_prod_pvt++;
            }
            if (grefused != !strcmp(res, "refused")) gbad = true;
        } else if (!strcmp(op, "fpush")) {
            RING_PUSH_REQUESTS(&f);
            PVSIM_RING_PUSH_REQUESTS_R(&gf);
            page_step = true;
        } else if (!strcmp(op, "fpushn")) {
            int notify;
            bool gnotify, rnotify;
            /* Both forms: on the ring end, and the raw one on a copy of the header. */
            memcpy(raw, s, 64);
            PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(raw, f.req_prod_pvt, rnotify);
            PVSIM_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY_R(&gf, gnotify);
            RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&f, notify);
            sprintf(res, "%d", notify ? 1 : 0);
            page_step = true;
            if (gnotify != (notify != 0) || rnotify != (notify != 0) || memcmp(raw, s, 64)) gbad = true;
        } else if (!strcmp(op, "bcons")) {
            bool grefused = PVSIM_RING_REQUEST_CONS_OVERFLOW(&gb, gb.req_cons);
            struct t_req r = {0}, gr = {0};
            page_step = true;
            if (RING_REQUEST_CONS_OVERFLOW(&b, b.req_cons)) strcpy(res, "refused");
            else {
                RING_COPY_REQUEST(&b, b.req_cons, &r);
                sprintf(res, "%u", r.v);
                b.req_cons++;
            }
            if (!grefused) {
                PVSIM_RING_COPY_REQUEST(&gb, gb.req_cons, &gr);
                gb.req_cons++;
            }
            if (grefused != !strcmp(res, "refused") || gr.v != r.v) gbad = true;
        } else if (!strcmp(op, "bprod")) {
            bool grefused = gb.rsp_prod_pvt == gb.req_cons;
            page_step = true;
            if (b.rsp_prod_pvt == b.req_cons) strcpy(res, "refused");
            else {
                RING_GET_RESPONSE(&b, b.rsp_prod_pvt)->v = b.rsp_prod_pvt ^ a;
                b.rsp_prod_pvt++;
            }
            if (!grefused) {
                PVSIM_RING_GET_RESPONSE(&gb, gb.rsp_prod_pvt)->v = gb.rsp_prod_pvt ^ a;
                gb.rsp_prod_pvt++;
            }
            if (grefused != !strcmp(res, "refused")) gbad = true;
        } else if (!strcmp(op, "bpush")) {
            RING_PUSH_RESPONSES(&b);
            PVSIM_RING_PUSH_RESPONSES_R(&gb);
            page_step = true;
        } else if (!strcmp(op, "bpushn")) {
            int notify;
            bool gnotify, rnotify;
            memcpy(raw, s, 64);
            PVSIM_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(raw, b.rsp_prod_pvt, rnotify);
            PVSIM_RING_PUSH_RESPONSES_AND_CHECK_NOTIFY_R(&gb, gnotify);
            RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&b, notify);
            sprintf(res, "%d", notify ? 1 : 0);
            page_step = true;
            if (gnotify != (notify != 0) || rnotify != (notify != 0) || memcmp(raw, s, 64)) gbad = true;
        } else if (!strcmp(op, "bfinal")) {
            unsigned int work;
            RING_IDX gwork;
            PVSIM_RING_FINAL_CHECK_FOR_REQUESTS(&gb, gwork);
            RING_FINAL_CHECK_FOR_REQUESTS(&b, work);
            sprintf(res, "%u", work);
            page_step = true;
            if (gwork != (RING_IDX)work) gbad = true;
        } else if (!strcmp(op, "ffinal")) {
            unsigned int work;
            RING_IDX gwork;
            bool gmore;
            memcpy(raw, s, 64);
            PVSIM_RING_FINAL_CHECK_FOR_RESPONSES(raw, f.rsp_cons, gmore);
            PVSIM_RING_FINAL_CHECK_FOR_RESPONSES_R(&gf, gwork);
            RING_FINAL_CHECK_FOR_RESPONSES(&f, work);
            sprintf(res, "%u", work);
            page_step = true;
            if (gmore != (work != 0) || gwork != (RING_IDX)work || memcmp(raw, s, 64)) gbad = true;
        } else if (!strcmp(op, "fcons")) {
            RING_IDX prod = s->rsp_prod;
            RING_IDX gprod = READ_ONCE(shadow->rsp_prod);
            bool grefused = PVSIM_RING_RESPONSE_PROD_OVERFLOW(&gf, gprod) ||
                            (RING_IDX)(gprod - gf.rsp_cons) > (RING_IDX)(gf.req_prod_pvt - gf.rsp_cons) ||
                            gprod == gf.rsp_cons;
            struct t_rsp r = {0}, gr = {0};
            page_step = true;
            xen_rmb();
            if (RING_RESPONSE_PROD_OVERFLOW(&f, prod) ||
                (RING_IDX)(prod - f.rsp_cons) > (RING_IDX)(f.req_prod_pvt - f.rsp_cons)) strcpy(res, "refused");
            else if (prod == f.rsp_cons) strcpy(res, "refused");
            else {
                RING_COPY_RESPONSE(&f, f.rsp_cons, &r);
                sprintf(res, "%u", r.v);
                f.rsp_cons++;
            }
            if (!grefused) {
                PVSIM_RING_COPY_RESPONSE(&gf, gf.rsp_cons, &gr);
                gf.rsp_cons++;
            }
            if (grefused != !strcmp(res, "refused") || gr.v != r.v) gbad = true;
        } else if (!strcmp(op, "hreqprod")) {
            s->req_prod = a; /* a hostile frontend */
        } else if (!strcmp(op, "hrspprod")) {
            s->rsp_prod = a; /* a hostile backend */
        } else if (!strcmp(op, "hrsprel")) {
            s->rsp_prod = f.rsp_cons + a; /* at the RING_RESPONSE_PROD_OVERFLOW border */
        } else if (!strcmp(op, "hreqrel")) {
            s->req_prod = b.rsp_prod_pvt + a; /* at the RING_REQUEST_PROD_OVERFLOW border */
        } else if (!strcmp(op, "fsetpvt")) {
            f.req_prod_pvt = gf.req_prod_pvt = a; /* any private state a (buggy) driver can reach */
        } else if (!strcmp(op, "fsetcons")) {
            f.rsp_cons = gf.rsp_cons = a;
        } else if (!strcmp(op, "bsetpvt")) {
            b.rsp_prod_pvt = gb.rsp_prod_pvt = a;
        } else if (!strcmp(op, "bsetcons")) {
            b.req_cons = gb.req_cons = a;
        } else if (!strcmp(op, "hreqevent")) {
            s->req_event = a;
        } else if (!strcmp(op, "hrspevent")) {
            s->rsp_event = a;
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            return 2;
        }
        /* The step left the same page (where the guests' macros ran it) and private indices. */
        if (page_step && memcmp(shadow, s, bytes)) gbad = true;
        if (gf.req_prod_pvt != f.req_prod_pvt || gf.rsp_cons != f.rsp_cons ||
            gb.rsp_prod_pvt != b.rsp_prod_pvt || gb.req_cons != b.req_cons) gbad = true;
        memcpy(shadow, s, bytes);
        if (!guest_counts_agree(&f, &b, &gf, &gb)) gbad = true;
        if (gbad) strcpy(res, "guest-mismatch");
        state(res, &f, &b);
    }
    free(s);
    free(shadow);
    free(raw);
    return 0;
}

/* Flex ring: free-running prod/cons over a BYTES ring; writes carry a running byte pattern. */
static int run_flex(unsigned long bytes)
{
    unsigned char *buf = calloc(1, bytes);
    unsigned char *tmp = calloc(1, bytes);
    RING_IDX prod = 0, cons = 0;
    unsigned char next = 1;
    char op[16];
    unsigned long arg;
    if (!buf || !tmp) return 1;
    while (scanf("%15s %lu", op, &arg) == 2) {
        unsigned long sum = 0;
        if (!strcmp(op, "at")) {
            prod = cons = (RING_IDX)arg;
        } else if (!strcmp(op, "write")) {
            RING_IDX mp = x_mask(prod, bytes), mc = x_mask(cons, bytes);
            for (unsigned long i = 0; i < arg; i++) tmp[i] = next++;
            x_write_packet(buf, tmp, arg, &mp, mc, bytes);
            prod += arg;
            if (mp != x_mask(prod, bytes)) return 3;
        } else if (!strcmp(op, "read")) {
            RING_IDX mp = x_mask(prod, bytes), mc = x_mask(cons, bytes);
            x_read_packet(tmp, buf, arg, mp, &mc, bytes);
            cons += arg;
            if (mc != x_mask(cons, bytes)) return 3;
            for (unsigned long i = 0; i < arg; i++) sum = sum * 31 + tmp[i];
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            return 2;
        }
        printf("%u %u %u %u %u %lu\n", prod, cons, x_mask(prod, bytes), x_mask(cons, bytes),
               x_queued(prod, cons, bytes), sum & 0xffffffffUL);
    }
    free(buf);
    free(tmp);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "ring")) return run_ring(strtoul(argv[2], NULL, 0));
    if (argc >= 3 && !strcmp(argv[1], "flex")) return run_flex(strtoul(argv[2], NULL, 0));
    if (argc >= 2 && !strcmp(argv[1], "gsize")) {
        /* The guests' PVSIM_CONST_RING_SIZE against ring.h's rounding, for every entry size. */
        unsigned int bad = 0;
        for (unsigned int sz = 1; sz <= 4032; sz++)
            if (PVSIM_CONST_RING_SIZE(sz) != __RD32((4096U - 64U) / sz)) bad++;
        printf("%u\n", bad);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "rd32")) {
        for (int i = 2; i < argc; i++) printf("%u\n", (unsigned)__RD32((uint32_t)strtoul(argv[i], NULL, 0)));
        return 0;
    }
    fprintf(stderr, "usage: ring_oracle ring|flex BYTES < script | rd32 X...\n");
    return 2;
}

/*
 * A CoreMark-like integer mix: CRC32 (bitwise and table driven), a 12x12
 * integer matrix multiply, insertion sort and quicksort of the same data,
 * a shuffled linked list walked and reversed, and a multiply/divide chain.
 * Each round draws fresh data from a linear congruential generator and folds
 * its results into a running FNV-style checksum. Nothing depends on where
 * the data lives, so paging on or off gives the same checksum.
 */
#include <stddef.h>
#include <pvsim/compiler.h>
#include "workload.h"

#ifndef BENCH_DEFAULT_ITERATIONS
#define BENCH_DEFAULT_ITERATIONS 5375
#endif

volatile uint32_t bench_iterations __pv_used = BENCH_DEFAULT_ITERATIONS;
uint32_t bench_errors;

#define CRC_LEN   256
#define MAT_N     12
#define SORT_N    64
#define LIST_N    96
#define MULDIV_N  64
#define CRC_POLY  0xEDB88320U

struct node {
    struct node *next;
    uint32_t key;
    int32_t value;
};

static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_LEN];
static int32_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];
static int32_t sort_a[SORT_N], sort_b[SORT_N];
static struct node nodes[LIST_N];
static uint8_t order[LIST_N];

static inline uint32_t lcg_next(uint32_t *s)
{
    *s = *s * 1664525U + 1013904223U;
    return *s;
}

static inline uint32_t mix(uint32_t h, uint32_t v)
{
    return (h ^ v) * 16777619U;
}

/* --- CRC32 ------------------------------------------------------------ */

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int b = 0; b < 8; b++)
            c = (c & 1) ? (c >> 1) ^ CRC_POLY : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFU;

    while (n--) {
        c ^= *p++;
        for (int b = 0; b < 8; b++)
            c = (c >> 1) ^ (CRC_POLY & (0U - (c & 1)));
    }
    return ~c;
}

static uint32_t crc32_by_table(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFU;

    while (n--)
        c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

static uint32_t round_crc(uint32_t *seed)
{
    uint32_t a, b;

    for (int i = 0; i < CRC_LEN; i += 4) {
        uint32_t r = lcg_next(seed);
        crc_buf[i] = (uint8_t)r;
        crc_buf[i + 1] = (uint8_t)(r >> 8);
        crc_buf[i + 2] = (uint8_t)(r >> 16);
        crc_buf[i + 3] = (uint8_t)(r >> 24);
    }
    a = crc32_bitwise(crc_buf, CRC_LEN);
    b = crc32_by_table(crc_buf, CRC_LEN);
    if (a != b)
        bench_errors++;
    return a;
}

/* --- matrix multiply --------------------------------------------------- */

static uint32_t round_matrix(uint32_t *seed)
{
    uint32_t h = 0;

    for (int i = 0; i < MAT_N; i++) {
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = (int32_t)(lcg_next(seed) >> 20) - 2048;
            mat_b[i][j] = (int32_t)(lcg_next(seed) >> 20) - 2048;
        }
    }
    for (int i = 0; i < MAT_N; i++) {
        for (int j = 0; j < MAT_N; j++) {
            int32_t sum = 0;
            for (int k = 0; k < MAT_N; k++)
                sum += mat_a[i][k] * mat_b[k][j];
            mat_c[i][j] = sum;
        }
    }
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            h = mix(h, (uint32_t)mat_c[i][j]);
    return h;
}

/* --- sorting ------------------------------------------------------------ */

static void insertion_sort(int32_t *v, int n)
{
    for (int i = 1; i < n; i++) {
        int32_t x = v[i];
        int j = i - 1;
        while (j >= 0 && v[j] > x) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = x;
    }
}

static void quick_sort(int32_t *v, int lo, int hi)
{
    while (lo < hi) {
        int32_t pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;

        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        /* Recurse into the smaller part, loop on the larger. */
        if (j - lo < hi - i) {
            quick_sort(v, lo, j);
            lo = i;
        } else {
            quick_sort(v, i, hi);
            hi = j;
        }
    }
}

static uint32_t round_sort(uint32_t *seed)
{
    uint32_t h = 0;

    for (int i = 0; i < SORT_N; i++) {
        int32_t x = (int32_t)lcg_next(seed) >> 4;
        sort_a[i] = x;
        sort_b[i] = x;
    }
    insertion_sort(sort_a, SORT_N);
    quick_sort(sort_b, 0, SORT_N - 1);
    for (int i = 0; i < SORT_N; i++) {
        if (sort_a[i] != sort_b[i] || (i > 0 && sort_a[i - 1] > sort_a[i]))
            bench_errors++;
        h = mix(h, (uint32_t)sort_a[i] ^ (uint32_t)i);
    }
    return h;
}

/* --- linked list ---------------------------------------------------------- */

static uint32_t round_list(uint32_t *seed)
{
    struct node *head, *prev, *n;
    uint32_t h = 0, max_key = 0, count = 0, pos = 0;
    int32_t sum = 0;

    for (int i = 0; i < LIST_N; i++)
        order[i] = (uint8_t)i;
    for (int i = LIST_N - 1; i > 0; i--) {          /* Fisher-Yates shuffle */
        uint32_t j = lcg_next(seed) % (uint32_t)(i + 1);
        uint8_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < LIST_N; i++) {
        n = &nodes[order[i]];
        n->key = lcg_next(seed);
        n->value = (int32_t)lcg_next(seed) >> 8;
        n->next = i + 1 < LIST_N ? &nodes[order[i + 1]] : NULL;
    }
    head = &nodes[order[0]];

    for (n = head; n; n = n->next) {
        sum += n->value * (int32_t)(n->key & 0xFF);
        if (n->key > max_key)
            max_key = n->key;
        count++;
    }
    prev = NULL;                                    /* reverse in place */
    while (head) {
        n = head->next;
        head->next = prev;
        prev = head;
        head = n;
    }
    for (n = prev; n; n = n->next)
        h = mix(h, n->key + pos++);
    if (count != LIST_N || pos != LIST_N)
        bench_errors++;
    return mix(mix(h, (uint32_t)sum), max_key);
}

/* --- multiply / divide ---------------------------------------------------- */

static uint32_t round_muldiv(uint32_t *seed)
{
    uint32_t x = lcg_next(seed), y = lcg_next(seed) | 1, acc = 0;

    for (int i = 0; i < MULDIV_N; i++) {
        uint64_t p = (uint64_t)x * y;                       /* mul, mulhu */
        int32_t sx = (int32_t)x;
        int32_t sy = (int32_t)(y >> ((i & 7) + 1)) | 1;     /* > 0 */
        int64_t sp;

        acc += (uint32_t)(p >> 32) ^ (uint32_t)p;
        acc ^= (uint32_t)(sx / sy) + (uint32_t)(sx % sy);   /* div, rem */
        acc += x / ((y >> 16) | 1) + x % 97U;               /* divu, remu */
        sp = (int64_t)sx * (int64_t)(int32_t)acc;           /* mulh */
        acc ^= (uint32_t)((uint64_t)sp >> 32);
        x = x * 2654435761U + acc;
        y = (y ^ (acc << 3)) | 1;
    }
    return acc;
}

uint32_t bench_run(uint32_t iterations)
{
    uint32_t seed = 0x12345678U, h = 0x811C9DC5U;

    bench_errors = 0;
    crc_init();
    for (uint32_t it = 0; it < iterations; it++) {
        seed ^= it * 0x9E3779B9U;
        h = mix(h, round_crc(&seed));
        h = mix(h, round_matrix(&seed));
        h = mix(h, round_sort(&seed));
        h = mix(h, round_list(&seed));
        h = mix(h, round_muldiv(&seed));
    }
    return h;
}

/*
 * Per-request latencies of the I/O workloads (blk: submit to completion;
 * net: ping round trips), as a fixed histogram and, while they fit, the
 * samples themselves for exact quantiles.
 *
 * The histogram has 4 buckets per power of two: a value v >= 8 with
 * e = floor(log2 v) falls in [(4 + s) << (e - 2), (5 + s) << (e - 2)) with
 * s = the two bits below v's top bit; values below 8 share one bucket
 * [0, 8). It is printed as lat_hist_ns=<bound>:<count>,... over the buckets
 * that are not empty, bound being the bucket's exclusive upper bound (so
 * "count samples below bound"); lat_p50_ns/lat_p99_ns are nearest-rank
 * quantiles of the sorted samples (up to LAT_SAMPLES of them; past that,
 * the upper bound of the quantile's bucket) and lat_max_ns the largest.
 * Nothing here enters check=: latencies depend on the mode.
 */
#include <pvsim/string.h>
#include "work.h"

#define LAT_SAMPLES 4096U
#define LAT_BUCKETS (4U * 30U + 1U)        /* bucket 0: [0, 8); then 2^3 .. 2^32 */

static struct {
    uint32_t sample[LAT_SAMPLES];
    uint32_t hist[LAT_BUCKETS];
    unsigned long n;
    uint32_t max;
} lat;

static unsigned int bucket_of(uint32_t v)
{
    unsigned int e = 31;

    if (v < 8)
        return 0;
    while (!(v >> e))
        e--;
    return 1 + 4 * (e - 3) + ((v >> (e - 2)) & 3);
}

/* The exclusive upper bound of bucket i, saturated at UINT32_MAX. */
static uint32_t bucket_bound(unsigned int i)
{
    unsigned int e, s;
    uint64_t b;

    if (i == 0)
        return 8;
    e = (i - 1) / 4 + 3;
    s = (i - 1) % 4;
    b = (uint64_t)(5 + s) << (e - 2);
    return b > UINT32_MAX ? UINT32_MAX : (uint32_t)b;
}

void lat_reset(void)
{
    memset(&lat, 0, sizeof(lat));
}

void lat_add(uint64_t ns)
{
    uint32_t v = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;

    if (lat.n < LAT_SAMPLES)
        lat.sample[lat.n] = v;
    lat.n++;
    lat.hist[bucket_of(v)]++;
    if (v > lat.max)
        lat.max = v;
}

/* Shell's sort with Ciura's gaps (at most LAT_SAMPLES values). */
static void sort_u32(uint32_t *a, unsigned int n)
{
    static const unsigned int gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };

    for (unsigned int g = 0; g < PV_ARRAY_SIZE(gaps); g++) {
        unsigned int gap = gaps[g];
        for (unsigned int i = gap; i < n; i++) {
            uint32_t v = a[i];
            unsigned int j = i;
            for (; j >= gap && a[j - gap] > v; j -= gap)
                a[j] = a[j - gap];
            a[j] = v;
        }
    }
}

static uint32_t quantile(unsigned int q)
{
    unsigned long rank = (lat.n * q + 99) / 100, seen = 0;

    if (lat.n == 0)
        return 0;
    if (rank == 0)
        rank = 1;
    if (lat.n <= LAT_SAMPLES)
        return lat.sample[rank - 1];
    for (unsigned int i = 0; i < LAT_BUCKETS; i++) {
        seen += lat.hist[i];
        if (seen >= rank)
            return bucket_bound(i);
    }
    return lat.max;
}

void lat_print_fields(void)
{
    bool first = true;

    sort_u32(lat.sample, lat.n < LAT_SAMPLES ? (unsigned int)lat.n : LAT_SAMPLES);
    printf("lat_samples=%lu lat_p50_ns=%lu lat_p99_ns=%lu lat_max_ns=%lu lat_hist_ns=", lat.n,
           (unsigned long)quantile(50), (unsigned long)quantile(99), (unsigned long)lat.max);
    for (unsigned int i = 0; i < LAT_BUCKETS; i++) {
        if (lat.hist[i] == 0)
            continue;
        printf("%s%lu:%lu", first ? "" : ",", (unsigned long)bucket_bound(i),
               (unsigned long)lat.hist[i]);
        first = false;
    }
    if (first)
        printf("-");
}

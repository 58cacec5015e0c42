/*
 * work=blk: block I/O to the kernel's disk through work/platform.h's block
 * interface: the vbd frontend (lib/blkfront.c) in the PV kernel; virtio-blk
 * (lib/virtio_blk.c) or the legacy ATA disk (lib/ata.c) in the native one
 * (dev=virtio|legacy, default: the first found, virtio first).
 *
 *   mode=seq|rand   request placement (default seq)
 *   bs=<bytes>      request size, a multiple of 512, at most 128 KiB (default 4096)
 *   qd=<1..>        requests outstanding at a time (default 1; PV: up to 32,
 *                   virtio: up to its queue, legacy: up to 32, one at a time)
 *   n=<ops>         writes, and then as many reads (default 64)
 *   region=<sectors> the part of the disk used, from sector 0 (default 2048,
 *                   or the disk if smaller)
 *
 * Request i goes to block (i mod blocks) (seq) or to a hashed block (rand),
 * blocks being region / (bs / 512). Phase 1 writes n requests whose data
 * derives from the sector number, then a cache flush; phase 2 reads the
 * same n requests back and checks every word (a mismatch crashes, naming the
 * sector). The checksum folds every word read, in request order; it
 * depends only on the parameters, so every kernel and device prints the
 * same (checksum= and result= are the same value). With no disk (PV: no
 * xenstore, or no device/vbd) it says so and powers off.
 */
#include <pvsim/mm.h>
#include <pvsim/cmdline.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>
#include <pvsim/time.h>
#include "work.h"

#define SECTOR 512U
static struct {
    bool rand;
    unsigned long bs, qd, n, region, nsect, blocks;
    uint8_t *buf[WORK_BLK_MAX_QD];
    int tag[WORK_BLK_MAX_QD];
    unsigned long op[WORK_BLK_MAX_QD];
    uint64_t submitted[WORK_BLK_MAX_QD];   /* time_now_ns() at submit, per buffer */
    unsigned long ok_writes, ok_reads, errors;
    uint32_t checksum;
} b;

static uint32_t pattern(uint64_t sector, unsigned int w)
{
    return ((uint32_t)sector * 0x9E3779B9U) ^ (uint32_t)(sector >> 32) ^ (w * 0x85EBCA6BU) ^
           0x424C4B21U;
}

static uint64_t sector_of(unsigned long i)
{
    unsigned long blk = i % b.blocks;

    if (b.rand) {
        uint32_t h = (uint32_t)i * 0x9E3779B1U + 0x7F4A7C15U;
        h ^= h >> 16;
        h *= 0x85EBCA6BU;
        h ^= h >> 13;
        h *= 0xC2B2AE35U;
        h ^= h >> 16;
        blk = h % b.blocks;
    }
    return (uint64_t)blk * b.nsect;
}

static void fill(uint32_t *p, uint64_t sector)
{
    for (unsigned long s = 0; s < b.nsect; s++)
        for (unsigned int w = 0; w < SECTOR / 4; w++)
            *p++ = pattern(sector + s, w);
}

static void verify(const uint32_t *p, uint64_t sector, unsigned long i)
{
    uint32_t sum = 0;

    for (unsigned long s = 0; s < b.nsect; s++) {
        for (unsigned int w = 0; w < SECTOR / 4; w++) {
            uint32_t v = *p++;
            if (v != pattern(sector + s, w))
                work_fail("read #%lu: sector %llu word %u is 0x%08lx, expected 0x%08lx", i,
                          (unsigned long long)(sector + s), w, (unsigned long)v,
                          (unsigned long)pattern(sector + s, w));
            sum += v;
        }
    }
    b.checksum = ((b.checksum << 5) | (b.checksum >> 27)) ^ sum;
}

/* Reaps buffer k's request. */
static void complete(bool write, unsigned long k)
{
    int rc = plat_blk_wait(b.tag[k]);

    /* Submit to completion as the workload sees it (requests are reaped in
     * order, so at qd > 1 a request that finished early waits for those
     * before it). */
    lat_add(time_now_ns() - b.submitted[k]);
    if (rc < 0) {
        printf("blk: %s #%lu (sector %llu) = %d (%s)\n", write ? "write" : "read",
               b.op[k], (unsigned long long)sector_of(b.op[k]), rc, xen_errstr(rc));
        b.errors++;
        return;
    }
    if (!write) {
        verify((const uint32_t *)b.buf[k], sector_of(b.op[k]), b.op[k]);
        b.ok_reads++;
    } else {
        b.ok_writes++;
    }
}

/* n requests of one kind, qd at a time, reaped in order. */
static void phase(bool write)
{
    for (unsigned long i = 0; i < b.n; i++) {
        unsigned long k = i % b.qd;
        uint64_t sector = sector_of(i);
        int tag;

        if (i >= b.qd)
            complete(write, k);
        if (write)
            fill((uint32_t *)b.buf[k], sector);
        else
            memset(b.buf[k], 0xA5, b.bs);
        b.submitted[k] = time_now_ns();
        tag = plat_blk_submit(write, sector, b.buf[k], (unsigned int)b.nsect);
        if (tag < 0)
            work_fail("blk_submit(%s, sector %llu, %lu sectors) = %d (%s)",
                      write ? "write" : "read", (unsigned long long)sector, b.nsect,
                      tag, xen_errstr(tag));
        b.tag[k] = tag;
        b.op[k] = i;
    }
    for (unsigned long i = b.n > b.qd ? b.n - b.qd : 0; i < b.n; i++)
        complete(write, i % b.qd);
}

/* A buffer of bs bytes on consecutive physmap pages. */
static uint8_t *buffer_alloc(unsigned long pages)
{
    xen_pfn_t first = page_alloc();

    for (unsigned long p = 1; p < pages; p++)
        if (page_alloc() != first + p)
            work_fail("no %lu consecutive free pages for a buffer", pages);
    if (pfn_to_virt(first + pages - 1) == NULL)
        work_fail("no physmap pages left for the buffers");
    return pfn_to_virt(first);
}

void work_blk(void)
{
    const char *mode = cmdline_get("mode");
    struct plat_blk disk;
    unsigned long pages;
    struct measure m;
    uint64_t requests;
    int rc;

    b.bs = param("bs", 4096);
    b.qd = param("qd", 1);
    b.n = param("n", 64);
    if (mode == NULL || strcmp(mode, "seq") == 0)
        mode = "seq";
    else if (strcmp(mode, "rand") == 0)
        b.rand = true;
    else
        work_fail("mode=%s: expected seq or rand", mode);
    if (b.bs == 0 || b.bs % SECTOR != 0 || b.bs > WORK_BLK_MAX_BYTES)
        work_fail("bs=%lu: expected a multiple of 512 up to %u", b.bs, WORK_BLK_MAX_BYTES);
    if (b.qd < 1 || b.qd > WORK_BLK_MAX_QD)
        work_fail("qd=%lu: expected 1..%u", b.qd, WORK_BLK_MAX_QD);

    rc = plat_blk_open(&disk);
    if (rc == -XEN_ENODEV) {
        printf("work=blk: no %s device\n", disk.kind);
        return;
    }
    if (rc < 0)
        work_fail("%s", disk.error);
    if (b.qd > disk.max_qd)
        work_fail("qd=%lu: expected 1..%u (the %s device)", b.qd, disk.max_qd, disk.kind);
    b.region = param("region", disk.sectors < 2048 ? disk.sectors : 2048);
    b.nsect = b.bs / SECTOR;
    if (b.region > disk.sectors)
        work_fail("region=%lu: the disk has %llu sectors", b.region,
                  (unsigned long long)disk.sectors);
    b.blocks = b.region / b.nsect;
    if (b.blocks == 0)
        work_fail("region=%lu is smaller than bs=%lu", b.region, b.bs);

    pages = (b.bs + PAGE_SIZE - 1) / PAGE_SIZE;
    for (unsigned long k = 0; k < b.qd; k++)
        b.buf[k] = buffer_alloc(pages);

    lat_reset();
    measure_start(&m);
    phase(true);
    rc = plat_blk_flush();
    if (rc < 0) {
        printf("blk: flush = %d (%s)\n", rc, xen_errstr(rc));
        b.errors++;
    }
    phase(false);
    measure_stop(&m);
    requests = b.ok_writes + b.ok_reads;
    printf("work=blk mode=%s bs=%lu qd=%lu n=%lu writes=%lu reads=%lu errors=%lu ns=%llu "
           "instructions=%llu ns_per_request=%llu kib_per_s=%llu ",
           mode, b.bs, b.qd, b.n, b.ok_writes, b.ok_reads, b.errors,
           (unsigned long long)m.ns, (unsigned long long)m.instructions,
           (unsigned long long)per(m.ns, requests),
           (unsigned long long)per((uint64_t)requests * b.bs * 1000000000ULL / 1024, m.ns));
    lat_print_fields();
    printf(" checksum=0x%08lx result=0x%08lx check=0x%08lx\n",
           (unsigned long)b.checksum, (unsigned long)b.checksum, (unsigned long)b.checksum);
}

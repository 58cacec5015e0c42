/*
 * Host-side test of lib/fdt.c: a device tree shaped like QEMU's riscv32
 * virt (root with 2/2 cells, /soc with the devices, virtio slots listed
 * last first) is built here and parsed; then every truncation and many
 * random corruptions of it must parse or fail cleanly, never read outside
 * the blob (run under the sanitizers when the host compiler has them).
 * Built by `make host-test`.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pvsim/fdt.h>
#include "host_check.h"

static uint8_t st[8192], strs[1024];
static size_t st_len, strs_len;

static void be(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

static void tok(uint32_t v)
{
    be(st + st_len, v);
    st_len += 4;
}

static void begin(const char *name)
{
    size_t n = strlen(name) + 1;

    tok(1);
    memcpy(st + st_len, name, n);
    st_len += (n + 3) & ~3U;
}

static uint32_t name_off(const char *name)
{
    for (size_t i = 0; i < strs_len; i += strlen((char *)strs + i) + 1)
        if (strcmp((char *)strs + i, name) == 0)
            return (uint32_t)i;
    memcpy(strs + strs_len, name, strlen(name) + 1);
    strs_len += strlen(name) + 1;
    return (uint32_t)(strs_len - strlen(name) - 1);
}

static void prop(const char *name, const void *val, uint32_t len)
{
    tok(3);
    tok(len);
    tok(name_off(name));
    memcpy(st + st_len, val, len);
    st_len += (len + 3) & ~3U;
}

static void prop_str(const char *name, const char *s)
{
    prop(name, s, (uint32_t)strlen(s) + 1);
}

static void prop_cells(const char *name, int n, const uint32_t *c)
{
    uint8_t b[64];

    for (int i = 0; i < n; i++)
        be(b + 4 * i, c[i]);
    prop(name, b, 4 * (uint32_t)n);
}

static void prop_u32(const char *name, uint32_t v)
{
    prop_cells(name, 1, &v);
}

static void reg(uint32_t base, uint32_t size)
{
    uint32_t c[4] = { 0, base, 0, size };
    prop_cells("reg", 4, c);
}

static size_t build(uint8_t *out)
{
    static const char compat_uart[] = "ns16550a";
    static const char compat_clint[] = "sifive,clint0\0riscv,clint0";
    static const char compat_plic[] = "sifive,plic-1.0.0\0riscv,plic0";
    size_t total;

    st_len = strs_len = 0;
    begin("");
    prop_u32("#address-cells", 2);
    prop_u32("#size-cells", 2);
    prop_str("compatible", "riscv-virtio");
    begin("chosen");
    prop_str("bootargs", "work=cpu n=10");
    prop_str("stdout-path", "/soc/serial@10000000");
    tok(2);
    begin("memory@80000000");
    prop_str("device_type", "memory");
    reg(0x80000000, 0x08000000);
    tok(2);
    begin("cpus");
    prop_u32("#address-cells", 1);
    prop_u32("#size-cells", 0);
    prop_u32("timebase-frequency", 10000000);
    begin("cpu@0");
    prop_str("device_type", "cpu");
    prop_u32("reg", 0);
    tok(2);
    begin("cpu@1");
    prop_str("device_type", "cpu");
    prop_u32("reg", 1);
    tok(2);
    tok(2);
    begin("soc");
    prop_u32("#address-cells", 2);
    prop_u32("#size-cells", 2);
    prop("ranges", "", 0);
    for (uint32_t i = 8; i-- > 0;) {
        char name[32];
        snprintf(name, sizeof(name), "virtio_mmio@%x", 0x10001000 + i * 0x1000);
        begin(name);
        prop_u32("interrupts", 1 + i);
        reg(0x10001000 + i * 0x1000, 0x1000);
        prop_str("compatible", "virtio,mmio");
        tok(2);
    }
    begin("pata@10009000");     /* pvsim's legacy disk: HVM_BOARD.ata, docs/fullvirt.md */
    {
        const uint32_t r[] = { 0, 0x10009000, 0, 0x20, 0, 0x10009020, 0, 0x4 };
        prop_str("compatible", "ata-generic");
        prop_cells("reg", 8, r);
        prop_u32("reg-shift", 2);
        prop_u32("pio-mode", 4);
        prop_u32("interrupts", 9);
        prop("ata-generic,use16bit", "", 0);
    }
    tok(2);
    begin("serial@10000000");
    prop_u32("interrupts", 10);
    prop_u32("clock-frequency", 3686400);
    reg(0x10000000, 0x100);
    prop("compatible", compat_uart, sizeof(compat_uart));
    tok(2);
    begin("test@100000");
    reg(0x100000, 0x1000);
    prop("compatible", "sifive,test1\0sifive,test0\0syscon", 33);
    tok(2);
    begin("plic@c000000");
    prop_u32("riscv,ndev", 95);
    reg(0x0c000000, 0x600000);
    prop("compatible", compat_plic, sizeof(compat_plic));
    tok(2);
    begin("clint@2000000");
    reg(0x02000000, 0x10000);
    prop("compatible", compat_clint, sizeof(compat_clint));
    tok(2);
    tok(2);
    tok(2);
    tok(9);

    memset(out, 0, 40 + 16);
    be(out, FDT_MAGIC);
    be(out + 8, 56);                            /* off_dt_struct */
    be(out + 12, (uint32_t)(56 + st_len));      /* off_dt_strings */
    be(out + 16, 40);                           /* off_mem_rsvmap: one empty entry */
    be(out + 20, 17);
    be(out + 24, 16);
    be(out + 32, (uint32_t)strs_len);
    be(out + 36, (uint32_t)st_len);
    memcpy(out + 56, st, st_len);
    memcpy(out + 56 + st_len, strs, strs_len);
    total = 56 + st_len + strs_len;
    be(out + 4, (uint32_t)total);
    return total;
}

int main(void)
{
    static uint8_t blob[16384] __attribute__((aligned(8)));
    struct board_info b;
    const char *err = NULL;
    size_t total = build(blob);
    uint64_t rng = 0x243F6A8885A308D3ULL;
    int parsed = 0;

    expect(fdt_parse(blob, &b, &err) == 0, "parses the virt-like tree");
    expect(b.have_memory && b.mem_base == 0x80000000 && b.mem_size == 0x08000000, "/memory reg");
    expect(b.bootargs != NULL && b.bootargs_len == 13 && memcmp(b.bootargs, "work=cpu n=10", 13) == 0,
           "/chosen bootargs");
    expect(b.stdout_path != NULL && strcmp(b.stdout_path, "/soc/serial@10000000") == 0, "stdout-path");
    expect(b.timebase_frequency == 10000000 && b.nr_cpus == 2, "/cpus");
    expect(b.uart.present && b.uart.base == 0x10000000 && b.uart.irq == 10 &&
           b.uart_reg_shift == 0 && b.uart_reg_io_width == 1 && b.uart_clock_frequency == 3686400,
           "ns16550a");
    expect(b.clint.present && b.clint.base == 0x02000000 && b.clint.size == 0x10000, "clint");
    expect(b.plic.present && b.plic.base == 0x0c000000 && b.plic_ndev == 95, "plic");
    expect(b.test.present && b.test.base == 0x100000, "test finisher");
    expect(b.nr_virtio == 8, "8 virtio slots");
    for (unsigned int i = 0; i < b.nr_virtio; i++)
        expect(b.virtio[i].base == 0x10001000 + i * 0x1000 && b.virtio[i].irq == 1 + i,
               "virtio slots sorted by address");
    expect(b.ata.present && b.ata.base == 0x10009000 && b.ata.size == 0x20 && b.ata.irq == 9 &&
           b.ata_ctl_base == 0x10009020 && b.ata_ctl_size == 4 && b.ata_reg_shift == 2,
           "ata-generic: command block, control block, reg-shift, interrupt");

    blob[0] ^= 1;
    expect(fdt_parse(blob, &b, &err) < 0 && err != NULL, "bad magic refused");
    blob[0] ^= 1;
    expect(fdt_parse(NULL, &b, &err) < 0, "NULL refused");

    /* Every shorter totalsize (the blob claims fewer bytes than it has). */
    for (size_t len = 0; len < total; len++) {
        be(blob + 4, (uint32_t)len);
        if (fdt_parse(blob, &b, &err) == 0)
            parsed++;
    }
    expect(parsed == 0, "truncated blobs refused");
    be(blob + 4, (uint32_t)total);

    /* Random corruptions: a clean answer either way, reads inside the blob. */
    for (int i = 0; i < 100000; i++) {
        uint8_t *copy = malloc(total);
        int k = 1 + (int)(rng % 6);

        memcpy(copy, blob, total);
        while (k-- > 0) {
            rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
            copy[8 + rng % (total - 8)] = (uint8_t)(rng >> 32);
        }
        be(copy + 4, (uint32_t)total);
        err = NULL;
        if (fdt_parse(copy, &b, &err) < 0)
            expect(err != NULL, "a refusal says why");
        free(copy);
    }
    printf("fdt_test: %d cases, %d failures\n", cases, failures);
    return failures != 0;
}

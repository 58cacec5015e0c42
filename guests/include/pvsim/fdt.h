/*
 * A small flattened-device-tree reader (lib/fdt.c, Devicetree Specification
 * v0.4 chapter 5): checks the header and walks the structure block once,
 * with every read bounds-checked, collecting what the native kernel and the
 * firmware need from a riscv32 `virt`-compatible board. Bus address
 * translation (`ranges`) is taken to be the identity, as on QEMU's virt.
 */
#ifndef PVSIM_FDT_H
#define PVSIM_FDT_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#define FDT_MAGIC        0xd00dfeedU
#define FDT_MAX_SIZE     (1U << 20)     /* larger blobs are refused */
#define FDT_MAX_VIRTIO   16U

struct fdt_device {
    bool present;
    uint64_t base, size;        /* first reg range */
    uint32_t irq;               /* first interrupts cell, 0 if none */
};

struct board_info {
    uint32_t fdt_size;          /* header totalsize */
    bool have_memory;
    uint64_t mem_base, mem_size;    /* first reg range of /memory */
    const char *bootargs;       /* /chosen bootargs (in the blob), NULL if absent */
    size_t bootargs_len;        /* without the NUL */
    const char *stdout_path;    /* /chosen stdout-path, NULL if absent */
    uint32_t timebase_frequency;    /* /cpus (or a cpu node), 0 if absent */
    uint32_t nr_cpus;           /* nodes under /cpus with device_type "cpu" */
    struct fdt_device uart;     /* "ns16550a" / "ns16550" */
    uint32_t uart_reg_shift;    /* default 0 */
    uint32_t uart_reg_io_width; /* default 1 */
    uint32_t uart_clock_frequency;
    struct fdt_device clint;    /* "riscv,clint0" / "sifive,clint0" */
    struct fdt_device plic;     /* "riscv,plic0" / "sifive,plic-1.0.0" */
    uint32_t plic_ndev;         /* riscv,ndev */
    struct fdt_device test;     /* "sifive,test0" / "sifive,test1" / "syscon" at QEMU's finisher */
    unsigned int nr_virtio;     /* "virtio,mmio" slots, lowest address first */
    struct fdt_device virtio[FDT_MAX_VIRTIO];
    struct fdt_device ata;      /* "ata-generic": reg[0] the command block (task file) */
    uint64_t ata_ctl_base, ata_ctl_size;    /* reg[1]: the control block */
    uint32_t ata_reg_shift;     /* reg-shift, default 0 */
    struct fdt_device xen;      /* "xen,xen" (Xen on ARM's /hypervisor node): reg = the grant region, irq = the event-channel upcall */
};

/* Parses the blob at fdt into *out. Returns 0, or -1 with *err saying what
 * is wrong (a bad header, a truncated or malformed structure block). The
 * blob must stay in place while out's string pointers are used. */
int fdt_parse(const void *fdt, struct board_info *out, const char **err);

#endif

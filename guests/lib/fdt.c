/* Flattened device tree reader (see pvsim/fdt.h). */
#include <pvsim/fdt.h>
#include <pvsim/string.h>

#define FDT_BEGIN_NODE 1U
#define FDT_END_NODE   2U
#define FDT_PROP       3U
#define FDT_NOP        4U
#define FDT_END        9U
#define MAX_DEPTH      16

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What one node has said about itself so far. */
struct node {
    const char *name;
    size_t name_len;
    uint32_t address_cells, size_cells;     /* for its children */
    const uint8_t *reg, *compatible, *device_type, *interrupts;
    uint32_t reg_len, compatible_len, device_type_len, interrupts_len;
    uint32_t reg_shift, reg_io_width, clock_frequency, ndev, timebase;
    bool has_reg_shift, has_reg_io_width, has_timebase;
};

static bool name_is(const struct node *n, const char *want)
{
    size_t len = strlen(want);

    return n->name_len >= len && memcmp(n->name, want, len) == 0 &&
           (n->name_len == len || n->name[len] == '@');
}

/* Does a string-list property hold `want`? */
static bool list_has(const uint8_t *p, uint32_t len, const char *want)
{
    size_t wl = strlen(want);
    uint32_t i = 0;

    while (i < len) {
        size_t sl = strnlen((const char *)p + i, len - i);
        if (sl == wl && memcmp(p + i, want, wl) == 0)
            return true;
        i += (uint32_t)sl + 1;
    }
    return false;
}

static bool compatible(const struct node *n, const char *a, const char *b)
{
    return n->compatible != NULL &&
           (list_has(n->compatible, n->compatible_len, a) ||
            (b != NULL && list_has(n->compatible, n->compatible_len, b)));
}

static uint64_t cells(const uint8_t *p, uint32_t n)
{
    uint64_t v = 0;

    for (uint32_t i = 0; i < n; i++)
        v = v << 32 | be32(p + 4 * i);
    return v;
}

/* The first (base, size) of n's reg under a parent with the given cells. */
static bool first_reg(const struct node *n, const struct node *parent, uint64_t *base,
                      uint64_t *size)
{
    uint32_t ac = parent->address_cells, sc = parent->size_cells;

    if (n->reg == NULL || ac == 0 || ac > 2 || sc > 2 || n->reg_len < 4 * (ac + sc))
        return false;
    *base = cells(n->reg, ac);
    *size = cells(n->reg + 4 * ac, sc);
    return true;
}

/* The second (base, size) of n's reg (ata-generic's control block). */
static bool second_reg(const struct node *n, const struct node *parent, uint64_t *base,
                       uint64_t *size)
{
    uint32_t ac = parent->address_cells, sc = parent->size_cells;

    if (n->reg == NULL || ac == 0 || ac > 2 || sc > 2 || n->reg_len < 8 * (ac + sc))
        return false;
    *base = cells(n->reg + 4 * (ac + sc), ac);
    *size = cells(n->reg + 4 * (ac + sc) + 4 * ac, sc);
    return true;
}

static void device(struct fdt_device *d, const struct node *n, const struct node *parent)
{
    if (d->present || !first_reg(n, parent, &d->base, &d->size))
        return;
    d->present = true;
    d->irq = n->interrupts != NULL && n->interrupts_len >= 4 ? be32(n->interrupts) : 0;
}

/* A node is complete (its FDT_END_NODE): record what it describes. */
static void node_done(struct board_info *b, const struct node *n, const struct node *parent,
                      int depth)
{
    bool is_cpu = n->device_type != NULL && list_has(n->device_type, n->device_type_len, "cpu");

    if (depth == 1 && (name_is(n, "memory") ||
                       (n->device_type != NULL &&
                        list_has(n->device_type, n->device_type_len, "memory")))) {
        if (!b->have_memory && first_reg(n, parent, &b->mem_base, &b->mem_size))
            b->have_memory = true;
    }
    if (depth == 1 && name_is(n, "cpus") && n->has_timebase)
        b->timebase_frequency = n->timebase;
    if (depth == 2 && name_is(parent, "cpus") && is_cpu) {
        b->nr_cpus++;
        if (b->timebase_frequency == 0 && n->has_timebase)
            b->timebase_frequency = n->timebase;
    }
    if (compatible(n, "ns16550a", "ns16550") && !b->uart.present) {
        device(&b->uart, n, parent);
        b->uart_reg_shift = n->has_reg_shift ? n->reg_shift : 0;
        b->uart_reg_io_width = n->has_reg_io_width ? n->reg_io_width : 1;
        b->uart_clock_frequency = n->clock_frequency;
    }
    if (compatible(n, "riscv,clint0", "sifive,clint0"))
        device(&b->clint, n, parent);
    if (compatible(n, "riscv,plic0", "sifive,plic-1.0.0") && !b->plic.present) {
        device(&b->plic, n, parent);
        b->plic_ndev = n->ndev;
    }
    if (compatible(n, "sifive,test1", "sifive,test0"))
        device(&b->test, n, parent);
    /* Linux's pata_of_platform binding: reg = command block, control block. */
    if (compatible(n, "ata-generic", NULL) && !b->ata.present &&
        second_reg(n, parent, &b->ata_ctl_base, &b->ata_ctl_size)) {
        device(&b->ata, n, parent);
        b->ata_reg_shift = n->has_reg_shift ? n->reg_shift : 0;
    }
    if (compatible(n, "xen,xen", NULL) && !b->xen.present)
        device(&b->xen, n, parent);
    if (compatible(n, "virtio,mmio", NULL) && b->nr_virtio < FDT_MAX_VIRTIO) {
        struct fdt_device *d = &b->virtio[b->nr_virtio];
        device(d, n, parent);
        if (d->present)
            b->nr_virtio++;
    }
}

static void prop(struct board_info *b, struct node *n, int depth, const char *name,
                 const uint8_t *val, uint32_t len)
{
    bool u32 = len == 4;

    if (strcmp(name, "#address-cells") == 0 && u32)
        n->address_cells = be32(val);
    else if (strcmp(name, "#size-cells") == 0 && u32)
        n->size_cells = be32(val);
    else if (strcmp(name, "reg") == 0)
        n->reg = val, n->reg_len = len;
    else if (strcmp(name, "compatible") == 0)
        n->compatible = val, n->compatible_len = len;
    else if (strcmp(name, "device_type") == 0)
        n->device_type = val, n->device_type_len = len;
    else if (strcmp(name, "interrupts") == 0)
        n->interrupts = val, n->interrupts_len = len;
    else if (strcmp(name, "reg-shift") == 0 && u32)
        n->reg_shift = be32(val), n->has_reg_shift = true;
    else if (strcmp(name, "reg-io-width") == 0 && u32)
        n->reg_io_width = be32(val), n->has_reg_io_width = true;
    else if (strcmp(name, "clock-frequency") == 0 && u32)
        n->clock_frequency = be32(val);
    else if (strcmp(name, "riscv,ndev") == 0 && u32)
        n->ndev = be32(val);
    else if (strcmp(name, "timebase-frequency") == 0 && u32)
        n->timebase = be32(val), n->has_timebase = true;
    else if (depth == 1 && name_is(n, "chosen") && len > 0 && val[len - 1] == 0) {
        if (strcmp(name, "bootargs") == 0) {
            b->bootargs = (const char *)val;
            b->bootargs_len = len - 1;
        } else if (strcmp(name, "stdout-path") == 0) {
            b->stdout_path = (const char *)val;
        }
    }
}

int fdt_parse(const void *blob, struct board_info *out, const char **err)
{
    const uint8_t *h = blob;
    uint32_t total, off_struct, off_strings, size_struct, size_strings, version, last_comp;
    const uint8_t *s, *strings;
    uint32_t pos = 0;
    struct node stack[MAX_DEPTH + 1];
    int depth = -1;                 /* index of the innermost open node */

    memset(out, 0, sizeof(*out));
    if (h == NULL || ((uintptr_t)h & 3) != 0) {
        *err = "device tree address is null or not 4-byte aligned";
        return -1;
    }
    if (be32(h) != FDT_MAGIC) {
        *err = "bad magic (not a flattened device tree)";
        return -1;
    }
    total = be32(h + 4);
    off_struct = be32(h + 8);
    off_strings = be32(h + 12);
    version = be32(h + 20);
    last_comp = be32(h + 24);
    size_strings = be32(h + 32);
    size_struct = be32(h + 36);
    if (total < 40 || total > FDT_MAX_SIZE) {
        *err = "totalsize out of range";
        return -1;
    }
    if (version < 17 || last_comp > 17) {
        *err = "unsupported version (need 17, compatible with 16)";
        return -1;
    }
    if (off_struct > total || size_struct > total - off_struct || (off_struct & 3) ||
        off_strings > total || size_strings > total - off_strings) {
        *err = "structure or strings block outside the blob";
        return -1;
    }
    out->fdt_size = total;
    s = h + off_struct;
    strings = h + off_strings;

    for (;;) {
        uint32_t tok;

        if (pos > size_struct - 4 || size_struct < 4) {
            *err = "structure block ends without FDT_END";
            return -1;
        }
        tok = be32(s + pos);
        pos += 4;
        switch (tok) {
        case FDT_BEGIN_NODE: {
            size_t len = strnlen((const char *)s + pos, size_struct - pos);
            struct node *n;

            if (len == size_struct - pos) {
                *err = "unterminated node name";
                return -1;
            }
            if (depth == MAX_DEPTH) {
                *err = "nodes nested too deep";
                return -1;
            }
            n = &stack[++depth];
            memset(n, 0, sizeof(*n));
            n->name = (const char *)s + pos;
            n->name_len = len;
            n->address_cells = 2;   /* the specification's defaults */
            n->size_cells = 1;
            pos += ((uint32_t)len + 4) & ~3U;
            break;
        }
        case FDT_END_NODE:
            if (depth < 0) {
                *err = "FDT_END_NODE without a node";
                return -1;
            }
            if (depth > 0)
                node_done(out, &stack[depth], &stack[depth - 1], depth);
            depth--;
            break;
        case FDT_PROP: {
            uint32_t len, nameoff;

            if (depth < 0 || pos > size_struct - 8) {
                *err = "property outside a node";
                return -1;
            }
            len = be32(s + pos);
            nameoff = be32(s + pos + 4);
            pos += 8;
            if (len > size_struct - pos || nameoff >= size_strings ||
                strnlen((const char *)strings + nameoff, size_strings - nameoff) ==
                    size_strings - nameoff) {
                *err = "property value or name outside the blob";
                return -1;
            }
            prop(out, &stack[depth], depth, (const char *)strings + nameoff, s + pos, len);
            pos += (len + 3) & ~3U;
            break;
        }
        case FDT_NOP:
            break;
        case FDT_END:
            if (depth != -1) {
                *err = "FDT_END inside a node";
                return -1;
            }
            /* virtio-mmio slots by address (QEMU lists them last first). */
            for (unsigned int i = 1; i < out->nr_virtio; i++)
                for (unsigned int j = i; j > 0 && out->virtio[j].base < out->virtio[j - 1].base; j--) {
                    struct fdt_device t = out->virtio[j];
                    out->virtio[j] = out->virtio[j - 1];
                    out->virtio[j - 1] = t;
                }
            return 0;
        default:
            *err = "unknown structure token";
            return -1;
        }
    }
}

/*
 * A legacy ATA disk in PIO mode, its register blocks mapped as MMIO, found
 * as an "ata-generic" device tree node (Linux's pata_of_platform binding:
 * reg = command block, control block; reg-shift; the data register is
 * accessed 16 bits at a time, as with "ata-generic,use16bit"). Device 0
 * only, LBA28 (LBA48 commands when IDENTIFY says so and the request needs
 * them), interrupts off (nIEN): every command is issued and then driven by
 * polling the status register, as the ATA/ATAPI-6 PIO protocols describe:
 * BSY clear, then DRQ for each 512-byte block, ERR or DF = the command
 * failed (the error register says why).
 */
#include <pvsim/ata.h>
#include <pvsim/native.h>
#include <pvsim/time.h>
#include <pvsim/string.h>
#include <pvsim/xen_errno.h>

#define ATA_TIMEOUT_NS 5000000000ULL    /* one command's bound */

struct ata_info ata;

static uintptr_t cmd_base, ctl_base;
static unsigned int shift;
static int results[ATA_MAX_TAGS];
static bool tag_busy[ATA_MAX_TAGS];

#ifdef ATA_HOST_TEST
/* tests/ata_test.c: the registers are a model's, reached through calls. */
uint32_t ata_test_read(uintptr_t addr, unsigned int size);
void ata_test_write(uintptr_t addr, unsigned int size, uint32_t value);
static inline uint8_t in8(unsigned int r) { return (uint8_t)ata_test_read(cmd_base + (r << shift), 1); }
static inline void out8(unsigned int r, uint8_t v) { ata_test_write(cmd_base + (r << shift), 1, v); }
static inline uint16_t data_in(void) { return (uint16_t)ata_test_read(cmd_base, 2); }
static inline void data_out(uint16_t v) { ata_test_write(cmd_base, 2, v); }
static inline uint8_t altstatus(void) { return (uint8_t)ata_test_read(ctl_base, 1); }
static inline void devctl(uint8_t v) { ata_test_write(ctl_base, 1, v); }
#else
static inline uint8_t in8(unsigned int r)
{
    return *(volatile uint8_t *)(cmd_base + (r << shift));
}

static inline void out8(unsigned int r, uint8_t v)
{
    *(volatile uint8_t *)(cmd_base + (r << shift)) = v;
}

/* The data register is 16 bits wide (ata-generic,use16bit). */
static inline uint16_t data_in(void)
{
    return *(volatile uint16_t *)cmd_base;
}

static inline void data_out(uint16_t v)
{
    *(volatile uint16_t *)cmd_base = v;
}

static inline uint8_t altstatus(void)
{
    return *(volatile uint8_t *)ctl_base;
}

static inline void devctl(uint8_t v)
{
    *(volatile uint8_t *)ctl_base = v;
}
#endif

/* Waits for BSY to clear; then, if want_drq, for DRQ. The status, or
 * -XEN_EIO (ERR or DF), -XEN_ETIMEDOUT. */
static int wait_status(bool want_drq, bool check_err)
{
    uint64_t end = time_now_ns() + ATA_TIMEOUT_NS;
    uint8_t st;

    (void)altstatus();          /* the 400 ns before status is valid */
    for (;;) {
        st = in8(ATA_REG_STATUS);
        if (!(st & ATA_SR_BSY)) {
            if (check_err && (st & (ATA_SR_ERR | ATA_SR_DF))) {
                ata.last_error = in8(ATA_REG_ERROR);
                ata.last_status = st;
                return -XEN_EIO;
            }
            if (!want_drq || (st & ATA_SR_DRQ))
                return st;
        }
        if (time_now_ns() >= end) {
            ata.last_status = st;
            return -XEN_ETIMEDOUT;
        }
    }
}

static int wait_ready(bool want_drq)
{
    return wait_status(want_drq, true);
}

/* Before a command: the device not busy. ERR may still show the last
 * command's failure; the next command clears it. */
static int wait_idle(void)
{
    int rc = wait_status(false, false);

    return rc < 0 ? rc : 0;
}

/* Loads the task file for sector/count and issues cmd (LBA28 or LBA48). */
static void issue(uint8_t cmd, uint64_t sector, unsigned int count, bool lba48)
{
    if (lba48) {
        out8(ATA_REG_NSECT, (uint8_t)(count >> 8));
        out8(ATA_REG_LBAL, (uint8_t)(sector >> 24));
        out8(ATA_REG_LBAM, (uint8_t)(sector >> 32));
        out8(ATA_REG_LBAH, (uint8_t)(sector >> 40));
        out8(ATA_REG_NSECT, (uint8_t)count);
        out8(ATA_REG_LBAL, (uint8_t)sector);
        out8(ATA_REG_LBAM, (uint8_t)(sector >> 8));
        out8(ATA_REG_LBAH, (uint8_t)(sector >> 16));
        out8(ATA_REG_DEVICE, ATA_DEV_LBA);
    } else {
        out8(ATA_REG_FEATURE, 0);
        out8(ATA_REG_NSECT, (uint8_t)count);
        out8(ATA_REG_LBAL, (uint8_t)sector);
        out8(ATA_REG_LBAM, (uint8_t)(sector >> 8));
        out8(ATA_REG_LBAH, (uint8_t)(sector >> 16));
        out8(ATA_REG_DEVICE, (uint8_t)(ATA_DEV_LBA | ((sector >> 24) & 0x0F)));
    }
    out8(ATA_REG_COMMAND, cmd);
    ata.commands++;
}

/* One PIO command of up to 256 (LBA28) or 65536 (LBA48) sectors. */
static int pio(bool write, uint64_t sector, uint16_t *buf, unsigned int count)
{
    bool lba48 = sector + count > (1ULL << 28) || count > 256;
    int rc = wait_idle();

    if (rc < 0)
        return rc;
    if (lba48 && !ata.lba48)
        return -XEN_ENOSPC;
    if (write)
        issue(lba48 ? ATA_CMD_WRITE_SECTORS_EXT : ATA_CMD_WRITE_SECTORS, sector,
              count == (lba48 ? 65536U : 256U) ? 0 : count, lba48);
    else
        issue(lba48 ? ATA_CMD_READ_SECTORS_EXT : ATA_CMD_READ_SECTORS, sector,
              count == (lba48 ? 65536U : 256U) ? 0 : count, lba48);
    for (unsigned int s = 0; s < count; s++) {
        rc = wait_ready(true);
        if (rc < 0)
            return rc;
        for (unsigned int w = 0; w < 256; w++) {
            if (write)
                data_out(*buf++);
            else
                *buf++ = data_in();
        }
    }
    rc = wait_ready(false);
    return rc < 0 ? rc : 0;
}

static int rw(bool write, uint64_t sector, void *buf, unsigned int nsect)
{
    if (nsect == 0 || buf == NULL || ((uintptr_t)buf & 1) != 0)
        return -XEN_EINVAL;
    if (sector >= ata.sectors || nsect > ata.sectors - sector)
        return -XEN_ENOSPC;
    while (nsect > 0) {
        unsigned int n = nsect > 256 ? 256 : nsect;
        int rc = pio(write, sector, buf, n);
        if (rc < 0)
            return rc;
        sector += n;
        nsect -= n;
        buf = (uint8_t *)buf + n * ATA_SECTOR;
    }
    return 0;
}

int ata_read(uint64_t sector, void *buf, unsigned int nsect)
{
    return rw(false, sector, buf, nsect);
}

int ata_write(uint64_t sector, const void *buf, unsigned int nsect)
{
    return rw(true, sector, (void *)buf, nsect);
}

int ata_flush(void)
{
    int rc = wait_idle();

    if (rc < 0)
        return rc;
    out8(ATA_REG_DEVICE, ATA_DEV_LBA);
    out8(ATA_REG_COMMAND, ata.lba48 ? ATA_CMD_FLUSH_CACHE_EXT : ATA_CMD_FLUSH_CACHE);
    ata.commands++;
    rc = wait_ready(false);
    return rc < 0 ? rc : 0;
}

/* The synchronous driver behind the asynchronous interface: the work is
 * done at submission, the result kept for ata_wait. */
int ata_submit(bool write, uint64_t sector, void *buf, unsigned int nsect)
{
    for (int tag = 0; tag < (int)ATA_MAX_TAGS; tag++) {
        if (!tag_busy[tag]) {
            int rc = rw(write, sector, buf, nsect);
            if (rc == -XEN_EINVAL || rc == -XEN_ENOSPC)
                return rc;
            tag_busy[tag] = true;
            results[tag] = rc;
            return tag;
        }
    }
    return -XEN_EBUSY;
}

int ata_wait(int tag)
{
    if (tag < 0 || tag >= (int)ATA_MAX_TAGS || !tag_busy[tag])
        return -XEN_EINVAL;
    tag_busy[tag] = false;
    return results[tag];
}

/* IDENTIFY's strings: big-endian byte pairs, space padded. */
static void ident_string(char *out, const uint16_t *id, unsigned int first, unsigned int words)
{
    unsigned int n = 0;

    for (unsigned int w = first; w < first + words; w++) {
        out[n++] = (char)(id[w] >> 8);
        out[n++] = (char)id[w];
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = 0;
    for (unsigned int i = 0; i < n; i++)
        if (out[i] < ' ' || out[i] > '~')
            out[i] = '?';
}

int ata_init(void)
{
    const struct board_info *b = &native_board;
    static uint16_t id[256];
    uint8_t st;
    int rc;

    if (ata.sectors != 0)
        return 0;
    if (!b->ata.present)
        return -XEN_ENODEV;
    if (b->ata_reg_shift > 2 || b->ata.size < (8U << b->ata_reg_shift) || b->ata_ctl_size < 1)
        return -XEN_EINVAL;
    if ((rc = native_ioremap(b->ata.base, b->ata.size)) < 0 ||
        (rc = native_ioremap(b->ata_ctl_base, b->ata_ctl_size)) < 0)
        return rc;
    cmd_base = (uintptr_t)b->ata.base;
    ctl_base = (uintptr_t)b->ata_ctl_base;
    shift = b->ata_reg_shift;
    ata.base = b->ata.base;
    ata.ctl_base = b->ata_ctl_base;
    ata.reg_shift = shift;
    ata.irq = b->ata.irq;

    devctl(ATA_CTL_NIEN);       /* polled: no INTRQ */
    out8(ATA_REG_DEVICE, ATA_DEV_LBA);
    st = in8(ATA_REG_STATUS);
    if (st == 0xFF || st == 0x00)
        return -XEN_ENODEV;     /* floating bus: no device 0 */
    rc = wait_idle();
    if (rc < 0)
        return rc;
    out8(ATA_REG_COMMAND, ATA_CMD_IDENTIFY);
    ata.commands++;
    rc = wait_ready(true);
    if (rc < 0)
        return rc == -XEN_EIO ? -XEN_ENODEV : rc;   /* ABRT: not an ATA disk */
    for (unsigned int w = 0; w < 256; w++)
        id[w] = data_in();
    if ((rc = wait_ready(false)) < 0)
        return rc;
    ata.lba48 = (id[83] >> 10) & 1;
    ata.sectors = (uint32_t)id[60] | (uint32_t)id[61] << 16;
    if (ata.lba48) {
        uint64_t s48 = (uint64_t)id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
                       (uint64_t)id[103] << 48;
        if (s48 > ata.sectors)
            ata.sectors = s48;
    }
    ident_string(ata.model, id, 27, 20);
    ident_string(ata.serial, id, 10, 10);
    if (ata.sectors == 0)
        return -XEN_ENODEV;
    return 0;
}

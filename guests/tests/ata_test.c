/*
 * Host test of lib/ata.c (make host-test): the driver, compiled with
 * -DATA_HOST_TEST, reaches its registers through ata_test_read/write, which
 * here are a small model of an ATA disk in PIO mode behind an
 * "ata-generic" node (task file at reg-shift 2, control block apart). The
 * model checks the order of the protocol (task file loaded before the
 * command, DRQ before data, the whole block moved) and can fail a command
 * (ERR/ABRT), hang (BSY forever) or be absent (a floating bus).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pvsim/ata.h>
#include <pvsim/native.h>
#include <pvsim/time.h>
#include <pvsim/xen_errno.h>

#define CMD_BASE 0x20000000U
#define CTL_BASE 0x20001000U
#define SHIFT    2
#define SECTORS  70000U         /* > 65536: LBA28 count, some LBA48 on top */

struct board_info native_board;
unsigned long native_hartid;

static uint64_t now_ns;
uint64_t time_now_ns(void)
{
    return now_ns += 1000;      /* every look at the clock is 1 us later */
}

int native_ioremap(uint64_t pa, uint64_t size)
{
    (void)pa;
    (void)size;
    return 0;
}

static int failures;
#define CHECK(c, ...) do { if (!(c)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); failures++; } } while (0)

/* ---- the model ---- */
static struct {
    bool absent, hang;
    uint64_t fail_lba;          /* a command touching it ends in ERR/ABRT (0: none) */
    uint8_t status, error, devctl, device;
    uint8_t nsect[2], lbal[2], lbam[2], lbah[2];    /* [0] current, [1] previous (HOB) */
    uint8_t cmd;
    uint64_t lba;
    uint32_t left;              /* sectors still to move */
    uint16_t buf[256];
    unsigned int word;
    bool writing, identify, flushed;
    unsigned int commands, protocol_errors;
    uint8_t *disk;
} m;

static void push(uint8_t *r, uint8_t v)
{
    r[1] = r[0];
    r[0] = v;
}

static void load_sector(void)
{
    memcpy(m.buf, m.disk + m.lba * 512, 512);
    m.word = 0;
    m.status = ATA_SR_DRDY | ATA_SR_DRQ;
}

static void command(uint8_t cmd)
{
    bool ext = cmd == ATA_CMD_READ_SECTORS_EXT || cmd == ATA_CMD_WRITE_SECTORS_EXT;
    uint32_t count;

    m.commands++;
    m.cmd = cmd;
    m.error = 0;
    if (m.hang) {
        m.status = ATA_SR_BSY;
        return;
    }
    if (!(m.device & ATA_DEV_LBA) && cmd != ATA_CMD_IDENTIFY)
        m.protocol_errors++;
    if (ext) {
        m.lba = (uint64_t)m.lbal[0] | (uint64_t)m.lbam[0] << 8 | (uint64_t)m.lbah[0] << 16 |
                (uint64_t)m.lbal[1] << 24 | (uint64_t)m.lbam[1] << 32 | (uint64_t)m.lbah[1] << 40;
        count = (uint32_t)m.nsect[0] | (uint32_t)m.nsect[1] << 8;
        if (count == 0)
            count = 65536;
    } else {
        m.lba = (uint64_t)m.lbal[0] | (uint64_t)m.lbam[0] << 8 | (uint64_t)m.lbah[0] << 16 |
                (uint64_t)(m.device & 0x0F) << 24;
        count = m.nsect[0] ? m.nsect[0] : 256;
    }
    switch (cmd) {
    case ATA_CMD_IDENTIFY:
        memset(m.buf, 0, sizeof(m.buf));
        m.buf[0] = 0x0040;
        /* model "PVSIM ATA MODEL", serial "SN0001": byte pairs, big-endian */
        {
            const char *model = "PVSIM ATA MODEL                         ";
            const char *serial = "SN0001              ";
            for (int i = 0; i < 20; i++)
                m.buf[27 + i] = (uint16_t)(model[2 * i] << 8 | model[2 * i + 1]);
            for (int i = 0; i < 10; i++)
                m.buf[10 + i] = (uint16_t)(serial[2 * i] << 8 | serial[2 * i + 1]);
        }
        m.buf[60] = (uint16_t)(SECTORS & 0xFFFF);
        m.buf[61] = (uint16_t)(SECTORS >> 16);
        m.buf[83] = 1U << 10;
        m.buf[100] = (uint16_t)(SECTORS & 0xFFFF);
        m.buf[101] = (uint16_t)(SECTORS >> 16);
        m.word = 0;
        m.left = 1;
        m.identify = true;
        m.writing = false;
        m.status = ATA_SR_DRDY | ATA_SR_DRQ;
        return;
    case ATA_CMD_READ_SECTORS:
    case ATA_CMD_READ_SECTORS_EXT:
    case ATA_CMD_WRITE_SECTORS:
    case ATA_CMD_WRITE_SECTORS_EXT:
        if (m.lba + count > SECTORS ||
            (m.fail_lba != 0 && m.fail_lba >= m.lba && m.fail_lba < m.lba + count)) {
            m.error = ATA_ER_ABRT;
            m.status = ATA_SR_DRDY | ATA_SR_ERR;
            return;
        }
        m.left = count;
        m.identify = false;
        m.writing = cmd == ATA_CMD_WRITE_SECTORS || cmd == ATA_CMD_WRITE_SECTORS_EXT;
        if (m.writing) {
            m.word = 0;
            m.status = ATA_SR_DRDY | ATA_SR_DRQ;
        } else {
            load_sector();
        }
        return;
    case ATA_CMD_FLUSH_CACHE:
    case ATA_CMD_FLUSH_CACHE_EXT:
        m.flushed = true;
        m.status = ATA_SR_DRDY;
        return;
    default:
        m.error = ATA_ER_ABRT;
        m.status = ATA_SR_DRDY | ATA_SR_ERR;
    }
}

static uint16_t data_read(void)
{
    uint16_t v;

    if (!(m.status & ATA_SR_DRQ) || m.writing) {
        m.protocol_errors++;
        return 0xFFFF;
    }
    v = m.buf[m.word++];
    if (m.word == 256) {
        m.left--;
        if (m.left == 0 || m.identify) {
            m.status = ATA_SR_DRDY;
        } else {
            m.lba++;
            load_sector();
        }
    }
    return v;
}

static void data_write(uint16_t v)
{
    if (!(m.status & ATA_SR_DRQ) || !m.writing) {
        m.protocol_errors++;
        return;
    }
    m.buf[m.word++] = v;
    if (m.word == 256) {
        memcpy(m.disk + m.lba * 512, m.buf, 512);
        m.lba++;
        m.word = 0;
        if (--m.left == 0)
            m.status = ATA_SR_DRDY;
    }
}

uint32_t ata_test_read(uintptr_t addr, unsigned int size)
{
    if (m.absent)
        return size == 2 ? 0xFFFF : 0xFF;
    if (addr == CTL_BASE && size == 1)
        return m.status;
    if (addr == CMD_BASE && size == 2)
        return data_read();
    if (size != 1 || addr < CMD_BASE || ((addr - CMD_BASE) & ((1U << SHIFT) - 1)) != 0) {
        m.protocol_errors++;
        return 0;
    }
    switch ((addr - CMD_BASE) >> SHIFT) {
    case ATA_REG_ERROR: return m.error;
    case ATA_REG_NSECT: return m.nsect[0];
    case ATA_REG_LBAL: return m.lbal[0];
    case ATA_REG_LBAM: return m.lbam[0];
    case ATA_REG_LBAH: return m.lbah[0];
    case ATA_REG_DEVICE: return m.device;
    case ATA_REG_STATUS: return m.status;
    default: m.protocol_errors++; return 0;
    }
}

void ata_test_write(uintptr_t addr, unsigned int size, uint32_t v)
{
    if (m.absent)
        return;
    if (addr == CTL_BASE && size == 1) {
        m.devctl = (uint8_t)v;
        return;
    }
    if (addr == CMD_BASE && size == 2) {
        data_write((uint16_t)v);
        return;
    }
    if (size != 1 || addr < CMD_BASE || ((addr - CMD_BASE) & ((1U << SHIFT) - 1)) != 0) {
        m.protocol_errors++;
        return;
    }
    if ((m.status & (ATA_SR_BSY | ATA_SR_DRQ)) && (addr - CMD_BASE) >> SHIFT != 0)
        m.protocol_errors++;    /* the task file is not to be touched mid-command */
    switch ((addr - CMD_BASE) >> SHIFT) {
    case ATA_REG_FEATURE: break;
    case ATA_REG_NSECT: push(m.nsect, (uint8_t)v); break;
    case ATA_REG_LBAL: push(m.lbal, (uint8_t)v); break;
    case ATA_REG_LBAM: push(m.lbam, (uint8_t)v); break;
    case ATA_REG_LBAH: push(m.lbah, (uint8_t)v); break;
    case ATA_REG_DEVICE: m.device = (uint8_t)v; break;
    case ATA_REG_COMMAND: command((uint8_t)v); break;
    default: m.protocol_errors++;
    }
}

static void fresh_board(void)
{
    memset(&native_board, 0, sizeof(native_board));
    native_board.ata.present = true;
    native_board.ata.base = CMD_BASE;
    native_board.ata.size = 8U << SHIFT;
    native_board.ata.irq = 9;
    native_board.ata_ctl_base = CTL_BASE;
    native_board.ata_ctl_size = 4;
    native_board.ata_reg_shift = SHIFT;
}

static void pattern(uint8_t *p, size_t n, unsigned int seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 31 + seed);
}

int main(void)
{
    static uint8_t out[300 * 512], in[300 * 512];
    int rc, tag;

    m.disk = calloc(SECTORS, 512);
    fresh_board();
    m.status = ATA_SR_DRDY;
    rc = ata_init();
    CHECK(rc == 0, "ata_init = %d", rc);
    CHECK(ata.sectors == SECTORS && ata.lba48, "sectors %llu lba48 %d",
          (unsigned long long)ata.sectors, ata.lba48);
    CHECK(strcmp(ata.model, "PVSIM ATA MODEL") == 0, "model \"%s\"", ata.model);
    CHECK(strcmp(ata.serial, "SN0001") == 0, "serial \"%s\"", ata.serial);
    CHECK(m.devctl == ATA_CTL_NIEN, "devctl 0x%x (interrupts off)", m.devctl);

    /* One sector, then 300 (two commands: 256 + 44), then across 2^16 with LBA48 off-limits for 28-bit. */
    pattern(out, 512, 1);
    CHECK(ata_write(5, out, 1) == 0, "write 1");
    CHECK(memcmp(m.disk + 5 * 512, out, 512) == 0, "disk holds sector 5");
    memset(in, 0xA5, 512);
    CHECK(ata_read(5, in, 1) == 0 && memcmp(in, out, 512) == 0, "read 1 back");
    pattern(out, sizeof(out), 7);
    unsigned int before = m.commands;
    CHECK(ata_write(1000, out, 300) == 0, "write 300");
    CHECK(m.commands - before == 2, "300 sectors in %u commands", m.commands - before);
    CHECK(ata_read(1000, in, 300) == 0 && memcmp(in, out, sizeof(out)) == 0, "read 300 back");
    CHECK(ata_write(SECTORS - 2, out, 2) == 0 && ata_read(SECTORS - 2, in, 2) == 0 &&
          memcmp(in, out, 1024) == 0, "the last sectors");
    CHECK(ata_flush() == 0 && m.flushed, "flush");

    /* The asynchronous shape the workload uses. */
    tag = ata_submit(true, 77, out, 8);
    CHECK(tag >= 0 && ata_wait(tag) == 0, "submit/wait write");
    tag = ata_submit(false, 77, in, 8);
    CHECK(tag >= 0 && ata_wait(tag) == 0 && memcmp(in, out, 8 * 512) == 0, "submit/wait read");
    CHECK(ata_wait(tag) == -XEN_EINVAL, "a reaped tag");

    /* Refused before any command: bad buffer, past the end. */
    before = m.commands;
    CHECK(ata_read(SECTORS - 1, in, 2) == -XEN_ENOSPC, "past the end");
    CHECK(ata_read(0, in + 1, 1) == -XEN_EINVAL, "odd buffer");
    CHECK(ata_read(0, in, 0) == -XEN_EINVAL, "no sectors");
    CHECK(m.commands == before, "nothing issued for refused requests");

    /* The device fails a command: ERR with ABRT, reported, and the next one works. */
    m.fail_lba = 3000;
    rc = ata_read(2990, in, 20);
    CHECK(rc == -XEN_EIO && ata.last_error == ATA_ER_ABRT && (ata.last_status & ATA_SR_ERR),
          "failed command: %d error 0x%x status 0x%x", rc, ata.last_error, ata.last_status);
    m.fail_lba = 0;
    CHECK(ata_read(2990, in, 20) == 0, "the next command works");
    CHECK(m.protocol_errors == 0, "%u protocol errors", m.protocol_errors);

    /* A device stuck busy: a timeout, not a hang. */
    m.hang = true;
    rc = ata_write(1, out, 1);
    CHECK(rc == -XEN_ETIMEDOUT, "stuck BSY: %d", rc);
    m.hang = false;

    /* No disk behind the node (a floating bus reads 0xFF); no node at all. */
    memset(&ata, 0, sizeof(ata));
    memset(&m.status, 0, 1);
    m.absent = true;
    rc = ata_init();
    CHECK(rc == -XEN_ENODEV, "floating bus: %d", rc);
    m.absent = false;
    memset(&ata, 0, sizeof(ata));
    native_board.ata.present = false;
    CHECK(ata_init() == -XEN_ENODEV, "no node");
    fresh_board();
    native_board.ata_reg_shift = 3;
    CHECK(ata_init() == -XEN_EINVAL, "reg-shift 3 refused");

    if (failures) {
        printf("ata_test: %d failure(s)\n", failures);
        return 1;
    }
    printf("ata_test: the ATA PIO driver against the model: all checks passed\n");
    return 0;
}

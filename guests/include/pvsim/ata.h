/*
 * The legacy ATA disk driver of the native kernel (lib/ata.c): PIO over
 * MMIO task-file registers, as Linux's pata_platform drives an
 * "ata-generic" node. Register numbers are ATA's (ATA/ATAPI-6 and later);
 * register r of the command block is at base + (r << reg-shift), the
 * control block's single register (alternate status / device control) at
 * its own reg.
 */
#ifndef PVSIM_ATA_H
#define PVSIM_ATA_H

#include <stdint.h>
#include <stdbool.h>

#define ATA_REG_DATA     0      /* 16-bit PIO data */
#define ATA_REG_ERROR    1      /* read */
#define ATA_REG_FEATURE  1      /* write */
#define ATA_REG_NSECT    2
#define ATA_REG_LBAL     3
#define ATA_REG_LBAM     4
#define ATA_REG_LBAH     5
#define ATA_REG_DEVICE   6
#define ATA_REG_STATUS   7      /* read (clears a pending INTRQ) */
#define ATA_REG_COMMAND  7      /* write */

#define ATA_SR_BSY       0x80
#define ATA_SR_DRDY      0x40
#define ATA_SR_DF        0x20
#define ATA_SR_DRQ       0x08
#define ATA_SR_ERR       0x01
#define ATA_ER_ABRT      0x04
#define ATA_CTL_NIEN     0x02   /* device control: interrupts off */
#define ATA_CTL_SRST     0x04
#define ATA_DEV_LBA      0x40   /* device register: LBA addressing, device 0 */

#define ATA_CMD_READ_SECTORS      0x20
#define ATA_CMD_READ_SECTORS_EXT  0x24
#define ATA_CMD_WRITE_SECTORS     0x30
#define ATA_CMD_WRITE_SECTORS_EXT 0x34
#define ATA_CMD_FLUSH_CACHE       0xE7
#define ATA_CMD_FLUSH_CACHE_EXT   0xEA
#define ATA_CMD_IDENTIFY          0xEC

#define ATA_SECTOR   512U
#define ATA_MAX_TAGS 32U

struct ata_info {
    uint64_t base, ctl_base;
    unsigned int reg_shift;
    uint32_t irq;               /* from the device tree; the driver polls */
    uint64_t sectors;
    bool lba48;
    char model[41], serial[21];
    uint8_t last_status, last_error;    /* of the last failed command */
    uint32_t commands;          /* issued */
};
extern struct ata_info ata;

/* IDENTIFY DEVICE on device 0 of the first "ata-generic" node. -XEN_ENODEV
 * without one (or no disk answering), -XEN_ETIMEDOUT if BSY never clears. */
int ata_init(void);
/* Synchronous: 0, -XEN_EIO (ERR/DF: see last_error), -XEN_ETIMEDOUT,
 * -XEN_EINVAL, -XEN_ENOSPC. */
int ata_read(uint64_t sector, void *buf, unsigned int nsect);
int ata_write(uint64_t sector, const void *buf, unsigned int nsect);
int ata_flush(void);
/* The workload's asynchronous shape: the command runs at submit. */
int ata_submit(bool write, uint64_t sector, void *buf, unsigned int nsect);
int ata_wait(int tag);

#endif

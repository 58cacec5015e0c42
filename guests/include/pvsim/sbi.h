/*
 * The RISC-V Supervisor Binary Interface, v2.0: extension and function IDs,
 * error codes, and the calling convention (ecall from S-mode: a7 = EID,
 * a6 = FID, arguments a0..a5; returns a0 = error, a1 = value; every other
 * register is preserved). Legacy extensions (EID 0x00..0x0F) return one
 * value in a0. Used by the native kernel (lib/sbi.c) and implemented by the
 * M-mode firmware (sbi/).
 */
#ifndef PVSIM_SBI_H
#define PVSIM_SBI_H

/* Error codes (struct sbiret.error). */
#define SBI_SUCCESS                 0
#define SBI_ERR_FAILED             -1
#define SBI_ERR_NOT_SUPPORTED      -2
#define SBI_ERR_INVALID_PARAM      -3
#define SBI_ERR_DENIED             -4
#define SBI_ERR_INVALID_ADDRESS    -5
#define SBI_ERR_ALREADY_AVAILABLE  -6
#define SBI_ERR_ALREADY_STARTED    -7
#define SBI_ERR_ALREADY_STOPPED    -8
#define SBI_ERR_NO_SHMEM           -9

/* Legacy extensions (v0.1). */
#define SBI_EXT_0_1_SET_TIMER          0x00
#define SBI_EXT_0_1_CONSOLE_PUTCHAR    0x01
#define SBI_EXT_0_1_CONSOLE_GETCHAR    0x02
#define SBI_EXT_0_1_SHUTDOWN           0x08

/* Base extension. */
#define SBI_EXT_BASE                   0x10
#define SBI_BASE_GET_SPEC_VERSION      0
#define SBI_BASE_GET_IMPL_ID           1
#define SBI_BASE_GET_IMPL_VERSION      2
#define SBI_BASE_PROBE_EXT             3
#define SBI_BASE_GET_MVENDORID         4
#define SBI_BASE_GET_MARCHID           5
#define SBI_BASE_GET_MIMPID            6

/* spec version: major in bits 30:24, minor in bits 23:0 */
#define SBI_SPEC_VERSION(major, minor) (((major) << 24) | (minor))

/* Timer extension "TIME". */
#define SBI_EXT_TIME                   0x54494D45
#define SBI_TIME_SET_TIMER             0

/* IPI extension "sPI". */
#define SBI_EXT_IPI                    0x735049
#define SBI_IPI_SEND_IPI               0

/* RFENCE extension "RFNC". */
#define SBI_EXT_RFENCE                 0x52464E43
#define SBI_RFENCE_REMOTE_FENCE_I      0
#define SBI_RFENCE_REMOTE_SFENCE_VMA   1
#define SBI_RFENCE_REMOTE_SFENCE_VMA_ASID 2
#define SBI_RFENCE_REMOTE_HFENCE_GVMA_VMID 3
#define SBI_RFENCE_REMOTE_HFENCE_GVMA  4
#define SBI_RFENCE_REMOTE_HFENCE_VVMA_ASID 5
#define SBI_RFENCE_REMOTE_HFENCE_VVMA  6

/* Hart state management "HSM": our firmware answers NOT_SUPPORTED (one hart); named for probes. */
#define SBI_EXT_HSM                    0x48534D

/* System reset extension "SRST". */
#define SBI_EXT_SRST                   0x53525354
#define SBI_SRST_SYSTEM_RESET          0
#define SBI_SRST_TYPE_SHUTDOWN         0
#define SBI_SRST_TYPE_COLD_REBOOT      1
#define SBI_SRST_TYPE_WARM_REBOOT      2
#define SBI_SRST_REASON_NONE           0
#define SBI_SRST_REASON_SYSFAIL        1

/* Debug console extension "DBCN". */
#define SBI_EXT_DBCN                   0x4442434E
#define SBI_DBCN_WRITE                 0
#define SBI_DBCN_READ                  1
#define SBI_DBCN_WRITE_BYTE            2

/* Implementation ID of pvsim's firmware and hypervisor SBI. The SBI
 * specification assigns IDs 0..11 to known implementations; this one is
 * unassigned ("pvsi" in ASCII), so no caller mistakes us for another. */
#define SBI_IMPL_ID_PVSIM              0x70767369

#ifndef __ASSEMBLER__
#include <stdint.h>

struct sbiret {
    long error;
    long value;
};

/* One SBI call (lib/sbi.c). */
struct sbiret sbi_ecall(unsigned long ext, unsigned long fid, unsigned long a0,
                        unsigned long a1, unsigned long a2, unsigned long a3,
                        unsigned long a4, unsigned long a5);
/* A legacy (v0.1) call: the result is a0. */
long sbi_legacy_ecall(unsigned long ext, unsigned long a0, unsigned long a1);

long sbi_spec_version(void);        /* < 0: a v0.1 firmware without the base extension */
long sbi_probe_extension(unsigned long ext);    /* 0: absent */
struct sbiret sbi_set_timer(uint64_t stime_value);
struct sbiret sbi_send_ipi(unsigned long hart_mask, unsigned long hart_mask_base);
struct sbiret sbi_remote_sfence_vma(unsigned long hart_mask, unsigned long hart_mask_base,
                                    unsigned long start, unsigned long size);
struct sbiret sbi_system_reset(uint32_t type, uint32_t reason);
struct sbiret sbi_debug_console_write(unsigned long num_bytes, uint64_t base_addr);
void sbi_legacy_putchar(int c);

const char *sbi_error_name(long error);
#endif

#endif

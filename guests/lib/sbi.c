/* SBI calls from S-mode (see pvsim/sbi.h). */
#include <pvsim/sbi.h>

struct sbiret sbi_ecall(unsigned long ext, unsigned long fid, unsigned long a0,
                        unsigned long a1, unsigned long a2, unsigned long a3,
                        unsigned long a4, unsigned long a5)
{
    register unsigned long r0 __asm__("a0") = a0;
    register unsigned long r1 __asm__("a1") = a1;
    register unsigned long r2 __asm__("a2") = a2;
    register unsigned long r3 __asm__("a3") = a3;
    register unsigned long r4 __asm__("a4") = a4;
    register unsigned long r5 __asm__("a5") = a5;
    register unsigned long r6 __asm__("a6") = fid;
    register unsigned long r7 __asm__("a7") = ext;

    __asm__ volatile("ecall"
                     : "+r"(r0), "+r"(r1)
                     : "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6), "r"(r7)
                     : "memory");
    return (struct sbiret){ .error = (long)r0, .value = (long)r1 };
}

long sbi_legacy_ecall(unsigned long ext, unsigned long a0, unsigned long a1)
{
    register unsigned long r0 __asm__("a0") = a0;
    register unsigned long r1 __asm__("a1") = a1;
    register unsigned long r7 __asm__("a7") = ext;

    __asm__ volatile("ecall" : "+r"(r0) : "r"(r1), "r"(r7) : "memory");
    return (long)r0;
}

long sbi_spec_version(void)
{
    struct sbiret r = sbi_ecall(SBI_EXT_BASE, SBI_BASE_GET_SPEC_VERSION, 0, 0, 0, 0, 0, 0);

    return r.error == SBI_SUCCESS ? r.value : r.error;
}

long sbi_probe_extension(unsigned long ext)
{
    struct sbiret r = sbi_ecall(SBI_EXT_BASE, SBI_BASE_PROBE_EXT, ext, 0, 0, 0, 0, 0);

    return r.error == SBI_SUCCESS ? r.value : 0;
}

struct sbiret sbi_set_timer(uint64_t stime_value)
{
    return sbi_ecall(SBI_EXT_TIME, SBI_TIME_SET_TIMER, (unsigned long)stime_value,
                     (unsigned long)(stime_value >> 32), 0, 0, 0, 0);
}

struct sbiret sbi_send_ipi(unsigned long hart_mask, unsigned long hart_mask_base)
{
    return sbi_ecall(SBI_EXT_IPI, SBI_IPI_SEND_IPI, hart_mask, hart_mask_base, 0, 0, 0, 0);
}

struct sbiret sbi_remote_sfence_vma(unsigned long hart_mask, unsigned long hart_mask_base,
                                    unsigned long start, unsigned long size)
{
    return sbi_ecall(SBI_EXT_RFENCE, SBI_RFENCE_REMOTE_SFENCE_VMA, hart_mask, hart_mask_base,
                     start, size, 0, 0);
}

struct sbiret sbi_system_reset(uint32_t type, uint32_t reason)
{
    return sbi_ecall(SBI_EXT_SRST, SBI_SRST_SYSTEM_RESET, type, reason, 0, 0, 0, 0);
}

struct sbiret sbi_debug_console_write(unsigned long num_bytes, uint64_t base_addr)
{
    return sbi_ecall(SBI_EXT_DBCN, SBI_DBCN_WRITE, num_bytes, (unsigned long)base_addr,
                     (unsigned long)(base_addr >> 32), 0, 0, 0);
}

void sbi_legacy_putchar(int c)
{
    (void)sbi_legacy_ecall(SBI_EXT_0_1_CONSOLE_PUTCHAR, (unsigned long)(unsigned char)c, 0);
}

const char *sbi_error_name(long error)
{
    static const char *const names[] = {
        "SBI_SUCCESS", "SBI_ERR_FAILED", "SBI_ERR_NOT_SUPPORTED", "SBI_ERR_INVALID_PARAM",
        "SBI_ERR_DENIED", "SBI_ERR_INVALID_ADDRESS", "SBI_ERR_ALREADY_AVAILABLE",
        "SBI_ERR_ALREADY_STARTED", "SBI_ERR_ALREADY_STOPPED", "SBI_ERR_NO_SHMEM",
    };
    if (error <= 0 && -error < (long)(sizeof(names) / sizeof(names[0])))
        return names[-error];
    return "SBI error";
}

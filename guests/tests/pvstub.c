/*
 * pvstub: a tiny stand-in for the pvsim hypervisor, for checking PV kernels on
 * QEMU (`make qemu-check`). Not the real thing: it runs in M-mode on QEMU's
 * spike machine, loads one embedded PV kernel ELF, maps it at its link
 * address with Sv32, builds a start_info, enters the kernel in S-mode the
 * way pvsim's domain builder does (a0 = start_info, sp = top of a boot stack
 * page) and serves console_io, xen_version and sched_op from the ecalls.
 * Its exit status tells the shutdown reason: 0 poweroff, 10 + reason else.
 */
#include <pvsim/bare.h>
#include <pvsim/riscv.h>
#include <pvsim/string.h>
#include <pvsim/hypercall.h>
#include <pvsim/start_info.h>

#ifndef STUB_CMDLINE
#define STUB_CMDLINE "badptr exit=return"
#endif

#define GUEST_VBASE   0xC0000000U
#define GUEST_PAGES   256                       /* 1 MiB of guest memory */
#define EXIT_BAD_TRAP 0x7F
#define EXIT_BAD_ELF  0x7E

struct trap_frame {
    unsigned long x[32];                        /* x0 unused */
};
#define REG_SP 2
#define REG_A0 10
#define REG_A1 11
#define REG_A2 12
#define REG_A7 17

extern const uint8_t guest_elf[], guest_elf_end[];
void stub_enter_guest(unsigned long entry, unsigned long a0, unsigned long sp) __pv_noreturn;
void stub_trap_vector(void);
void stub_trap(struct trap_frame *f);

char stub_cmdline[MAX_GUEST_CMDLINE] = STUB_CMDLINE;

static uint8_t guest_mem[GUEST_PAGES * PAGE_SIZE] __pv_aligned(4096);
static uint32_t root_table[1024] __pv_section(".mbss.pt") __pv_aligned(4096);
static uint32_t leaf_table[1024] __pv_section(".mbss.pt") __pv_aligned(4096);
static uint32_t mapped_bytes;

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Host pointer for guest range [va, va+len), or NULL if it is not mapped. */
static uint8_t *guest_ptr(unsigned long va, unsigned long len)
{
    if (va < GUEST_VBASE || va - GUEST_VBASE > mapped_bytes ||
        len > mapped_bytes - (va - GUEST_VBASE))
        return NULL;
    return guest_mem + (va - GUEST_VBASE);
}

static uint32_t load_elf(uint32_t *entry)
{
    const uint8_t *e = guest_elf;
    uint32_t phoff = rd32(e + 28), end = 0;
    unsigned int phnum = rd16(e + 44);

    if (rd32(e) != 0x464C457FU || e[4] != 1) {
        printf("pvstub: embedded kernel is not an ELF32 file\n");
        bare_exit(EXIT_BAD_ELF);
    }
    *entry = rd32(e + 24);
    for (unsigned int i = 0; i < phnum; i++) {
        const uint8_t *ph = e + phoff + 32 * i;
        uint32_t off = rd32(ph + 4), va = rd32(ph + 8);
        uint32_t filesz = rd32(ph + 16), memsz = rd32(ph + 20);
        if (rd32(ph) != 1 || memsz == 0)
            continue;
        if (va < GUEST_VBASE || va + memsz - GUEST_VBASE > sizeof(guest_mem) / 2) {
            printf("pvstub: segment at 0x%08lx does not fit\n", (unsigned long)va);
            bare_exit(EXIT_BAD_ELF);
        }
        memcpy(guest_mem + (va - GUEST_VBASE), e + off, filesz);
        /* Poison what the kernel must zero itself (.bss), to catch a kernel
         * that relies on memory arriving zeroed. */
        memset(guest_mem + (va - GUEST_VBASE) + filesz, 0xA5, memsz - filesz);
        if (va + memsz - GUEST_VBASE > end)
            end = va + memsz - GUEST_VBASE;
    }
    return (end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
}

int main(void)
{
    uint32_t entry, image_end, si_off, stack_off;
    struct start_info *si;

    image_end = load_elf(&entry);
    si_off = image_end + PAGE_SIZE;             /* one page standing in for the mfn list */
    stack_off = si_off + 4 * PAGE_SIZE;         /* start_info, store, console, page tables */
    mapped_bytes = stack_off + PAGE_SIZE;

    si = (struct start_info *)(void *)(guest_mem + si_off);
    memcpy(si->magic, START_INFO_MAGIC, sizeof(START_INFO_MAGIC));
    si->nr_pages = GUEST_PAGES;
    si->mfn_list = GUEST_VBASE + image_end;
    si->pt_base = GUEST_VBASE + si_off + 3 * PAGE_SIZE;
    si->nr_pt_frames = 1;
    strncpy((char *)si->cmd_line, stub_cmdline, MAX_GUEST_CMDLINE - 1);

    memset(root_table, 0, sizeof(root_table));
    memset(leaf_table, 0, sizeof(leaf_table));
    root_table[GUEST_VBASE >> 22] = (((uintptr_t)leaf_table >> PAGE_SHIFT) << PTE_PPN_SHIFT) | PTE_V;
    for (uint32_t off = 0; off < mapped_bytes; off += PAGE_SIZE) {
        uintptr_t pa = (uintptr_t)(guest_mem + off);
        leaf_table[off >> PAGE_SHIFT] = ((pa >> PAGE_SHIFT) << PTE_PPN_SHIFT) |
            PTE_R | PTE_W | PTE_X | PTE_A | PTE_D | PTE_V;
    }

    /* PMP entry 0: everything (QEMU denies S-mode without a matching entry). */
    csr_write(pmpaddr0, 0xFFFFFFFFU);
    csr_write(pmpcfg0, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    csr_write(medeleg, 0);
    csr_write(mideleg, 0);
    csr_write(mtvec, (uintptr_t)stub_trap_vector);
    csr_write(satp, SATP_MODE_SV32 | ((uintptr_t)root_table >> PAGE_SHIFT));
    __asm__ volatile("sfence.vma" : : : "memory");

    printf("pvstub: entering 0x%08lx, start_info at 0x%08lx, cmdline \"%s\"\n",
           (unsigned long)entry, (unsigned long)(GUEST_VBASE + si_off), stub_cmdline);
    stub_enter_guest(entry, GUEST_VBASE + si_off, GUEST_VBASE + stack_off + PAGE_SIZE);
}

static long hc_console_io(unsigned long cmd, unsigned long count, unsigned long ptr)
{
    const uint8_t *p;

    if (cmd != CONSOLEIO_write)
        return -XEN_ENOSYS;
    p = guest_ptr(ptr, count);
    if (p == NULL)
        return -XEN_EFAULT;
    for (unsigned long i = 0; i < count; i++)
        bare_putc((char)p[i]);
    return 0;
}

static long hc_xen_version(unsigned long cmd, unsigned long arg)
{
    static const char extra[16] = ".0-pvstub";
    uint8_t *p;

    switch (cmd) {
    case XENVER_version:
        return 4 << 16 | 17;
    case XENVER_extraversion:
        p = guest_ptr(arg, sizeof(extra));
        if (p == NULL)
            return -XEN_EFAULT;
        memcpy(p, extra, sizeof(extra));
        return 0;
    default:
        return -XEN_ENOSYS;
    }
}

static long hc_sched_op(unsigned long cmd, unsigned long arg)
{
    const uint8_t *p;
    uint32_t reason;

    if (cmd != SCHEDOP_shutdown)
        return -XEN_ENOSYS;
    p = guest_ptr(arg, 4);
    if (p == NULL)
        return -XEN_EFAULT;
    reason = rd32(p);
    printf("pvstub: shutdown, reason %lu\n", (unsigned long)reason);
    bare_exit(reason == SHUTDOWN_poweroff ? 0 : 10 + reason);
}

void stub_trap(struct trap_frame *f)
{
    unsigned long cause = csr_read(mcause);
    long rc;

    if (cause != CAUSE_SUPERVISOR_ECALL) {
        printf("pvstub: guest trap mcause=0x%08lx mepc=0x%08lx mtval=0x%08lx\n",
               cause, csr_read(mepc), csr_read(mtval));
        bare_exit(EXIT_BAD_TRAP);
    }
    switch (f->x[REG_A7]) {
    case __HYPERVISOR_console_io:
        rc = hc_console_io(f->x[REG_A0], f->x[REG_A1], f->x[REG_A2]);
        break;
    case __HYPERVISOR_xen_version:
        rc = hc_xen_version(f->x[REG_A0], f->x[REG_A1]);
        break;
    case __HYPERVISOR_sched_op:
        rc = hc_sched_op(f->x[REG_A0], f->x[REG_A1]);
        break;
    default:
        rc = -XEN_ENOSYS;
        break;
    }
    f->x[REG_A0] = (unsigned long)rc;
    csr_write(mepc, csr_read(mepc) + 4);
}

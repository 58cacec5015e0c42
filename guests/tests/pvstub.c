/*
 * pvstub: a small stand-in for the pvsim hypervisor, for checking PV kernels
 * on QEMU (`make qemu-check`). Not the real thing: it runs in M-mode on
 * QEMU's spike machine, serves one domain (id 1) and follows docs/abi.md
 * closely enough to catch guest-side mistakes:
 *
 *   - builds the domain the way pvsim's builder does (bootstrap layout,
 *     start_info, page tables with read-only table frames), with pfn -> mfn
 *     NOT the identity (adjacent pairs swapped), and poisons .bss;
 *   - console_io, xen_version, sched_op (yield, block, shutdown),
 *     set_timer_op (on the CLINT; guest "ns" are 10 MHz mtime ticks here);
 *   - the PV MMU with Xen's invariants: update_va_mapping, mmu_update,
 *     mmuext_op (pin/unpin L1/L2, new_baseptr, flushes). A table frame may
 *     not be writable anywhere, a writable frame may not be pinned, L2
 *     entries must point to pinned L1s; unpinning an L1 still hooked into a
 *     root is refused (stricter than Xen, to check teardown order);
 *   - event channels: bind_virq (VIRQ_TIMER), alloc_unbound /
 *     bind_interdomain (to itself or the other domain), send, unmask, close,
 *     status; SCHEDOP_block wakes on events; upcalls by
 *     setting mip.SEIP while upcall_pending && !upcall_mask. The stub cannot
 *     see guest stores, so it recomputes SEIP at every hypercall, at every
 *     timer interrupt and on a 100 us tick (a guest may take spurious
 *     upcalls meanwhile);
 *   - grant tables v1: setup_table, map/unmap (GNTMAP_host_map), copy;
 *   - SCHEDOP_poll (up to 4 ports, optional timeout);
 *   - with -DSTUB_DOM0=1, a stand-in for domain 0's daemons: the builder
 *     gives the domain store_evtchn 1 and console evtchn 2 (ports whose
 *     other end is "dom0"), and the stub serves a small xenstored on the
 *     store ring (a flat node table, relative paths, watches, transactions
 *     whose first commit answers EAGAIN) and a console backend on the
 *     console ring, both slowly on purpose, on a 100 us tick: requests are
 *     consumed at most XS_IN_BUDGET bytes per tick, console output at most
 *     CONS_OUT_BUDGET bytes, and STUB_INPUT is typed into the console's
 *     input CONS_IN_BUDGET bytes per tick. Replies go out as they are made,
 *     and when the guest kicks (like pvsim's xenstored, so a guest that
 *     does not notify after emptying a full rsp[] stalls). Ring indices
 *     start close to 2^32.
 *
 * Its exit status tells the shutdown reason: 0 poweroff, 10 + reason else
 * (with two domains: the first domain's non-poweroff reason, else the
 * second's); 0x7E for a bad image, 0x7F for a trap it cannot handle.
 */
#include <pvsim/bare.h>
#include <pvsim/riscv.h>
#include <pvsim/string.h>
#include <pvsim/hypercall.h>
#include <pvsim/start_info.h>
#include <pvsim/mmu.h>
#include <pvsim/shared_info.h>
#include <pvsim/event_channel.h>
#include <pvsim/grant_table.h>
#include <pvsim/sched.h>
#include <pvsim/xs_wire.h>
#include <pvsim/xencons.h>

#ifndef STUB_DOM0
#define STUB_DOM0      0
#endif
#ifndef STUB_INPUT
#define STUB_INPUT     "typed at the pvstub console\r\n"
#endif

#ifndef STUB_CMDLINE
#define STUB_CMDLINE "badptr exit=return"
#endif
#ifdef STUB_CMDLINE2
#define NR_DOMS        2
#else
#define NR_DOMS        1
#define STUB_CMDLINE2  ""
#endif

#define GUEST_VBASE    0xC0000000U
#define GUEST_PAGES    1536                     /* 6 MiB: 4 MiB mapped, 2 MiB beyond */
#define BOOT_PADDING   (512U * 1024)
#define L1_SPAN        (4U << 20)
#define EXIT_BAD_TRAP  0x7F
#define EXIT_BAD_ELF   0x7E

#define CLINT_MTIMECMP 0x02004000U
#define CLINT_MTIME    0x0200BFF8U
#define TICK           1000U                    /* mtime ticks (10 MHz): 100 us */
#define MIP_SEIP       (1U << 9)
#define MIE_MTIE       (1U << 7)
#define MIE_S_BITS     ((1U << 1) | (1U << 5) | (1U << 9))
#define IRQ_M_TIMER    7
#define MSTATUS_S_BITS (MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR)
#define PTE_PPN(pte)   ((uint32_t)(pte) >> PTE_PPN_SHIFT)

#define NR_PORTS       64
#define GNT_FRAMES     4
#define GNT_ENTRIES    (GNT_FRAMES * 512)
#define MAX_MAPTRACK   64
#define POLL_MAX       4

#define STORE_PORT     1                        /* with STUB_DOM0 */
#define CONSOLE_PORT   2
#define XS_NODES       48
#define XS_PATH        80
#define XS_VALUE       2048
#define XS_WATCHES     8
#define XS_OUT_BYTES   8192
#define XS_IN_BUDGET   200U                     /* request bytes consumed per service */
#define CONS_OUT_BUDGET 24U                     /* console bytes printed per service */
#define CONS_IN_BUDGET 3U                       /* input bytes typed per tick */
#define XS_RING_START  0xFFFFF9F0U              /* offset 0x1F0, 2^32 after 1552 bytes */
#define CONS_IN_START  0xFFFFFFF0U
#define CONS_OUT_START 0xFFFFF7F0U

struct trap_frame {
    unsigned long x[32];                        /* x0 unused */
};
#define REG_SP 2
#define REG_A0 10
#define REG_A1 11
#define REG_A2 12
#define REG_A3 13
#define REG_A7 17

extern const uint8_t guest_elf[], guest_elf_end[];
void stub_enter_guest(unsigned long entry, unsigned long a0, unsigned long sp) __pv_noreturn;
void stub_trap_vector(void);
void stub_trap(struct trap_frame *f);

char stub_cmdline[MAX_GUEST_CMDLINE] = STUB_CMDLINE;
char stub_cmdline2[MAX_GUEST_CMDLINE] = STUB_CMDLINE2;

enum { PT_NONE, PT_L1, PT_L2 };
enum { ECS_FREE, ECS_UNBOUND, ECS_INTERDOMAIN, ECS_VIRQ, ECS_DOM0 };

struct dom {
    uint32_t id;
    uint8_t *mem;                               /* GUEST_PAGES frames */
    uint32_t base_mfn;
    uint8_t pt_type[GUEST_PAGES];               /* by mfn - base_mfn */
    uint8_t pt_pinned[GUEST_PAGES];
    uint32_t cur_root;                          /* mfn of the L2 in satp */
    volatile struct shared_info *sh;
    uint8_t (*gnt)[PAGE_SIZE];                  /* grant frames */
    uint32_t gnt_nr_frames;
    uint16_t gnt_readers[GNT_ENTRIES], gnt_writers[GNT_ENTRIES];
    struct {
        uint8_t state;
        uint8_t remote_dom;
        uint16_t peer;                          /* interdomain: the other end's port */
    } ports[NR_PORTS];
    uint32_t virq_timer_port;
    uint64_t deadline;                          /* set_timer_op; 0 = none */
    struct {
        bool used, readonly;
        uint8_t granter;
        uint32_t ref, va;
    } maptrack[MAX_MAPTRACK];
    /* SCHEDOP_poll in progress */
    bool polling;
    uint32_t poll_nr, poll_ports[POLL_MAX];
    uint64_t poll_deadline;
    /* dom0's view of the domain (STUB_DOM0) */
    volatile struct xenstore_domain_interface *xs_ring;
    volatile struct xencons_interface *cons_ring;
    uint8_t xs_in[sizeof(struct xsd_sockmsg) + XENSTORE_PAYLOAD_MAX];
    uint32_t xs_in_got;
    uint8_t xs_out[XS_OUT_BYTES];               /* replies and events not yet in rsp[] */
    uint32_t xs_out_head, xs_out_len;
    struct {
        bool used, relative;
        char path[XS_PATH], token[64];
    } xs_watches[XS_WATCHES];
    uint32_t xs_next_tx, xs_commits;
    uint32_t input_typed;
    /* the vCPU while it is not running */
    unsigned long x[32], pc, mstatus, sepc, scause, stval, stvec, sscratch, sie, scounteren;
    bool blocked, done;
    uint32_t reason;
};

static uint8_t guest_mem[NR_DOMS][GUEST_PAGES * PAGE_SIZE] __pv_section(".mbss.guest") __pv_aligned(4096);
static uint8_t shared_pages[NR_DOMS][PAGE_SIZE] __pv_section(".mbss.guest") __pv_aligned(4096);
static uint8_t gnt_mem[NR_DOMS][GNT_FRAMES][PAGE_SIZE] __pv_section(".mbss.guest") __pv_aligned(4096);
static struct dom doms[NR_DOMS];
static struct dom *cur;

static void dom0_attach(struct dom *d, uint8_t *store_page, uint8_t *console_page);
static void dom0_kick(struct dom *d, uint32_t port);
static void dom0_tick(void);

static struct dom *dom_by_id(uint32_t id)
{
    if (id == DOMID_SELF)
        return cur;
    return id >= 1 && id <= NR_DOMS ? &doms[id - 1] : NULL;
}

/* ---- frames ---------------------------------------------------------- */

/* pfn <-> mfn: adjacent pairs swapped, so pfn and mfn offsets never agree. */
static uint32_t pfn_to_mfn(const struct dom *d, uint32_t pfn) { return d->base_mfn + (pfn ^ 1U); }
static bool guest_frame(const struct dom *d, uint32_t mfn)
{
    return mfn >= d->base_mfn && mfn - d->base_mfn < GUEST_PAGES;
}
static uint32_t *frame_words(uint32_t mfn) { return (uint32_t *)(uintptr_t)(mfn << PAGE_SHIFT); }
static uint8_t *va_to_host_boot(const struct dom *d, uint32_t va)
{
    uint32_t pfn = (va - GUEST_VBASE) >> PAGE_SHIFT;
    return (uint8_t *)(uintptr_t)((pfn_to_mfn(d, pfn) << PAGE_SHIFT) | (va & (PAGE_SIZE - 1)));
}

/* Frames a leaf PTE of d may map: its own, its shared_info, its grant frames. */
static bool mappable(const struct dom *d, uint32_t mfn)
{
    uint32_t si = (uintptr_t)d->sh >> PAGE_SHIFT, g = (uintptr_t)d->gnt >> PAGE_SHIFT;
    return guest_frame(d, mfn) || mfn == si || (mfn >= g && mfn < g + GNT_FRAMES);
}

static bool is_table(const struct dom *d, uint32_t mfn)
{
    return guest_frame(d, mfn) && d->pt_type[mfn - d->base_mfn] != PT_NONE;
}

/* Is mfn mapped writable by any leaf of any of d's tables? */
static bool mapped_writable(const struct dom *d, uint32_t mfn)
{
    for (uint32_t i = 0; i < GUEST_PAGES; i++) {
        if (d->pt_type[i] != PT_L1)
            continue;
        const uint32_t *l1 = frame_words(d->base_mfn + i);
        for (int j = 0; j < 1024; j++)
            if ((l1[j] & (PTE_V | PTE_W)) == (PTE_V | PTE_W) && PTE_PPN(l1[j]) == mfn)
                return true;
    }
    return false;
}

/* Is L1 frame mfn referenced by any of d's L2s? */
static bool l1_in_use(const struct dom *d, uint32_t mfn)
{
    for (uint32_t i = 0; i < GUEST_PAGES; i++) {
        if (d->pt_type[i] != PT_L2)
            continue;
        const uint32_t *l2 = frame_words(d->base_mfn + i);
        for (int j = 0; j < 1024; j++)
            if ((l2[j] & PTE_V) && PTE_PPN(l2[j]) == mfn)
                return true;
    }
    return false;
}

static void flush_tlb(void) { __asm__ volatile("sfence.vma" : : : "memory"); }

/* ---- guest virtual memory (as an S-mode access, honouring SUM) -------- */

static volatile uint32_t *l1_entry(uint32_t root, uint32_t va)
{
    uint32_t e = frame_words(root)[va >> 22];
    if (!(e & PTE_V) || (e & (PTE_R | PTE_W | PTE_X)))
        return NULL;
    return &frame_words(PTE_PPN(e))[(va >> PAGE_SHIFT) & 1023];
}

static uint8_t *guest_ptr(uint32_t va, bool write)
{
    volatile uint32_t *p = l1_entry(cur->cur_root, va);
    uint32_t pte;

    if (p == NULL)
        return NULL;
    pte = *p;
    if (!(pte & PTE_V) || !(pte & PTE_R) || (write && !(pte & PTE_W)))
        return NULL;
    if ((pte & PTE_U) && !(csr_read(mstatus) & MSTATUS_SUM))
        return NULL;
    return (uint8_t *)(uintptr_t)((PTE_PPN(pte) << PAGE_SHIFT) | (va & (PAGE_SIZE - 1)));
}

static bool copy_from_guest(void *dst, uint32_t va, uint32_t len)
{
    uint8_t *d = dst;
    while (len > 0) {
        uint32_t n = PAGE_SIZE - (va & (PAGE_SIZE - 1));
        uint8_t *p = guest_ptr(va, false);
        if (n > len)
            n = len;
        if (p == NULL)
            return false;
        memcpy(d, p, n);
        d += n, va += n, len -= n;
    }
    return true;
}

static bool copy_to_guest(uint32_t va, const void *src, uint32_t len)
{
    const uint8_t *s = src;
    while (len > 0) {
        uint32_t n = PAGE_SIZE - (va & (PAGE_SIZE - 1));
        uint8_t *p = guest_ptr(va, true);
        if (n > len)
            n = len;
        if (p == NULL)
            return false;
        memcpy(p, s, n);
        s += n, va += n, len -= n;
    }
    return true;
}

/* ---- building a domain (as hypervisor/domain/builder.ts) -------------- */

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t round_up(uint32_t v, uint32_t a) { return (v + a - 1) / a * a; }

static void write_virt(const struct dom *d, uint32_t va, const uint8_t *src, uint32_t len, int fill)
{
    for (uint32_t i = 0; i < len; i++)
        *va_to_host_boot(d, va + i) = src != NULL ? src[i] : (uint8_t)fill;
}

static uint32_t load_elf(const struct dom *d, uint32_t *entry)
{
    const uint8_t *e = guest_elf;
    uint32_t phoff = rd32(e + 28), end = GUEST_VBASE;
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
        if (va < GUEST_VBASE || va + memsz - GUEST_VBASE > GUEST_PAGES * PAGE_SIZE / 2) {
            printf("pvstub: segment at 0x%08lx does not fit\n", (unsigned long)va);
            bare_exit(EXIT_BAD_ELF);
        }
        write_virt(d, va, e + off, filesz, 0);
        /* Poison what the kernel must zero itself (.bss). */
        write_virt(d, va + filesz, NULL, memsz - filesz, 0xA5);
        if (round_up(va + memsz, PAGE_SIZE) > end)
            end = round_up(va + memsz, PAGE_SIZE);
    }
    return end;
}

static void build(struct dom *d, uint32_t id, const char *cmdline)
{
    uint32_t entry, kernel_end, mfn_list_va, si_va, store_va, console_va, pt_va;
    uint32_t nr_l1 = 1, stack_top, region_end, mapped_end, l2_mfn;
    struct start_info si;

    d->id = id;
    d->mem = guest_mem[id - 1];
    d->base_mfn = (uintptr_t)d->mem >> PAGE_SHIFT;
    d->sh = (volatile struct shared_info *)shared_pages[id - 1];
    d->gnt = gnt_mem[id - 1];
    kernel_end = load_elf(d, &entry);
    mfn_list_va = kernel_end;
    si_va = mfn_list_va + round_up(GUEST_PAGES * 4, PAGE_SIZE);
    store_va = si_va + PAGE_SIZE;
    console_va = store_va + PAGE_SIZE;
    pt_va = console_va + PAGE_SIZE;
    for (;;) {
        stack_top = pt_va + (1 + nr_l1) * PAGE_SIZE + PAGE_SIZE;
        region_end = round_up(stack_top + BOOT_PADDING, L1_SPAN);
        if ((region_end - GUEST_VBASE) / L1_SPAN <= nr_l1)
            break;
        nr_l1 = (region_end - GUEST_VBASE) / L1_SPAN;
    }
    mapped_end = GUEST_VBASE + GUEST_PAGES * PAGE_SIZE;
    if (mapped_end > region_end)
        mapped_end = region_end;

    for (uint32_t pfn = 0; pfn < GUEST_PAGES; pfn++) {
        uint32_t mfn = pfn_to_mfn(d, pfn);
        write_virt(d, mfn_list_va + pfn * 4, (const uint8_t *)&mfn, 4, 0);
    }

    /* Page tables: the L2, then one L1 per 4 MiB; table frames read-only. */
    l2_mfn = pfn_to_mfn(d, (pt_va - GUEST_VBASE) >> PAGE_SHIFT);
    memset(frame_words(l2_mfn), 0, PAGE_SIZE);
    d->pt_type[l2_mfn - d->base_mfn] = PT_L2;
    d->pt_pinned[l2_mfn - d->base_mfn] = 1;
    for (uint32_t i = 0; i < nr_l1; i++) {
        uint32_t l1_mfn = pfn_to_mfn(d, (pt_va - GUEST_VBASE) / PAGE_SIZE + 1 + i);
        uint32_t *l1 = frame_words(l1_mfn);
        memset(l1, 0, PAGE_SIZE);
        d->pt_type[l1_mfn - d->base_mfn] = PT_L1;
        d->pt_pinned[l1_mfn - d->base_mfn] = 1;
        frame_words(l2_mfn)[(GUEST_VBASE + i * L1_SPAN) >> 22] = (l1_mfn << PTE_PPN_SHIFT) | PTE_V;
        for (uint32_t j = 0; j < 1024; j++) {
            uint32_t va = GUEST_VBASE + i * L1_SPAN + j * PAGE_SIZE;
            bool is_pt = va >= pt_va && va < pt_va + (1 + nr_l1) * PAGE_SIZE;
            if (va >= mapped_end)
                break;
            l1[j] = (pfn_to_mfn(d, (va - GUEST_VBASE) >> PAGE_SHIFT) << PTE_PPN_SHIFT) |
                    (is_pt ? PTE_V | PTE_R | PTE_A
                           : PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D);
        }
    }

    memset(&si, 0, sizeof(si));
    memcpy(si.magic, START_INFO_MAGIC, sizeof(START_INFO_MAGIC));
    si.nr_pages = GUEST_PAGES;
    si.shared_info = (uintptr_t)d->sh;
    si.store_mfn = pfn_to_mfn(d, (store_va - GUEST_VBASE) >> PAGE_SHIFT);
    si.console.domU.mfn = pfn_to_mfn(d, (console_va - GUEST_VBASE) >> PAGE_SHIFT);
    si.pt_base = pt_va;
    si.nr_pt_frames = 1 + nr_l1;
    si.mfn_list = mfn_list_va;
    strncpy((char *)si.cmd_line, cmdline, MAX_GUEST_CMDLINE - 1);

    if (STUB_DOM0) {
        si.store_evtchn = STORE_PORT;
        si.console.domU.evtchn = CONSOLE_PORT;
        d->ports[STORE_PORT].state = ECS_DOM0;
        d->ports[CONSOLE_PORT].state = ECS_DOM0;
        dom0_attach(d, va_to_host_boot(d, store_va), va_to_host_boot(d, console_va));
    }
    write_virt(d, si_va, (const uint8_t *)&si, sizeof(si), 0);

    memset((void *)d->sh, 0, PAGE_SIZE);
    d->sh->vcpu_info[0].evtchn_upcall_mask = 1;     /* as Xen starts a vCPU */
    d->sh->arch.max_pfn = GUEST_PAGES;

    /* The vCPU, as pvsim's builder leaves it. */
    d->cur_root = l2_mfn;
    d->pc = entry;
    d->x[REG_A0] = si_va;
    d->x[REG_SP] = stack_top;
    d->mstatus = MSTATUS_MPP_S;
    printf("pvstub: d%lu: entry 0x%08lx, start_info at 0x%08lx, cmdline \"%s\"\n",
           (unsigned long)id, (unsigned long)entry, (unsigned long)si_va, cmdline);
}

/* ---- time ------------------------------------------------------------- */

static uint64_t mtime(void)
{
    volatile uint32_t *t = (volatile uint32_t *)CLINT_MTIME;
    uint32_t hi, lo;
    do {
        hi = t[1];
        lo = t[0];
    } while (hi != t[1]);
    return (uint64_t)hi << 32 | lo;
}

static void program_timer(void)
{
    volatile uint32_t *cmp = (volatile uint32_t *)CLINT_MTIMECMP;
    uint64_t next = mtime() + TICK;

    for (int i = 0; i < NR_DOMS; i++) {
        if (!doms[i].done && doms[i].deadline != 0 && doms[i].deadline < next)
            next = doms[i].deadline;
        if (!doms[i].done && doms[i].polling && doms[i].poll_deadline != 0 &&
            doms[i].poll_deadline < next)
            next = doms[i].poll_deadline;
    }
    cmp[1] = 0xFFFFFFFFU;
    cmp[0] = (uint32_t)next;
    cmp[1] = (uint32_t)(next >> 32);
}

/* ---- event channels --------------------------------------------------- */

static void update_seip(void)
{
    volatile struct vcpu_info *vi = &cur->sh->vcpu_info[0];

    if (vi->evtchn_upcall_pending && !vi->evtchn_upcall_mask)
        __asm__ volatile("csrs mip, %0" : : "r"(MIP_SEIP) : "memory");
    else
        __asm__ volatile("csrc mip, %0" : : "r"(MIP_SEIP) : "memory");
}

static bool test_and_set(volatile uint32_t *words, uint32_t bit)
{
    uint32_t m = 1U << (bit % 32);
    bool was = (words[bit / 32] & m) != 0;
    words[bit / 32] |= m;
    return was;
}

static void mark_pending_sel(struct dom *d, uint32_t port)
{
    if (!test_and_set(&d->sh->vcpu_info[0].evtchn_pending_sel, port / 32))
        d->sh->vcpu_info[0].evtchn_upcall_pending = 1;
    d->blocked = false;                         /* Xen kicks the vCPU */
}

/* Ends a SCHEDOP_poll (an event on a polled port, or the timeout). */
static void poll_wake(struct dom *d)
{
    d->polling = false;
    d->poll_nr = 0;
    d->poll_deadline = 0;
    d->blocked = false;
}

static void set_pending(struct dom *d, uint32_t port)
{
    for (uint32_t i = 0; i < d->poll_nr; i++)
        if (d->poll_ports[i] == port)
            poll_wake(d);
    if (test_and_set(d->sh->evtchn_pending, port))
        return;
    if (!(d->sh->evtchn_mask[port / 32] & (1U << (port % 32))))
        mark_pending_sel(d, port);
}

static void timer_check(void)
{
    uint64_t now = mtime();

    for (int i = 0; i < NR_DOMS; i++) {
        struct dom *d = &doms[i];
        if (!d->done && d->polling && d->poll_deadline != 0 && now >= d->poll_deadline)
            poll_wake(d);
        if (d->done || d->deadline == 0 || now < d->deadline)
            continue;
        d->deadline = 0;
        if (d->virq_timer_port != 0)
            set_pending(d, d->virq_timer_port);
    }
}

static int new_port(struct dom *d)
{
    for (int p = 1; p < NR_PORTS; p++)
        if (d->ports[p].state == ECS_FREE)
            return p;
    return -XEN_ENOSPC;
}

static long hc_event_channel_op(uint32_t cmd, uint32_t arg)
{
    uint8_t buf[24];
    static const uint8_t size[] = { [EVTCHNOP_bind_interdomain] = 12, [EVTCHNOP_bind_virq] = 12,
                                    [EVTCHNOP_close] = 4, [EVTCHNOP_send] = 4,
                                    [EVTCHNOP_status] = 24, [EVTCHNOP_alloc_unbound] = 8,
                                    [EVTCHNOP_unmask] = 4 };
    struct dom *r;
    uint32_t port;
    int p;

    if (cmd >= sizeof(size) || size[cmd] == 0)
        return -XEN_ENOSYS;
    if (!copy_from_guest(buf, arg, size[cmd]))
        return -XEN_EFAULT;
    switch (cmd) {
    case EVTCHNOP_alloc_unbound: {
        struct evtchn_alloc_unbound *op = (void *)buf;
        if (dom_by_id(op->dom) != cur)
            return -XEN_EPERM;
        if ((r = dom_by_id(op->remote_dom)) == NULL)
            return -XEN_ESRCH;
        if ((p = new_port(cur)) < 0)
            return p;
        cur->ports[p].state = ECS_UNBOUND;
        cur->ports[p].remote_dom = (uint8_t)r->id;
        op->port = (uint32_t)p;
        break;
    }
    case EVTCHNOP_bind_interdomain: {
        struct evtchn_bind_interdomain *op = (void *)buf;
        if ((r = dom_by_id(op->remote_dom)) == NULL || r->done)
            return -XEN_ESRCH;
        if (op->remote_port >= NR_PORTS || r->ports[op->remote_port].state != ECS_UNBOUND ||
            r->ports[op->remote_port].remote_dom != cur->id)
            return -XEN_EINVAL;
        if ((p = new_port(cur)) < 0)
            return p;
        cur->ports[p].state = ECS_INTERDOMAIN;
        cur->ports[p].remote_dom = (uint8_t)r->id;
        cur->ports[p].peer = (uint16_t)op->remote_port;
        r->ports[op->remote_port].state = ECS_INTERDOMAIN;
        r->ports[op->remote_port].peer = (uint16_t)p;
        op->local_port = (uint32_t)p;
        set_pending(cur, op->local_port);       /* Xen notifies the new local port */
        break;
    }
    case EVTCHNOP_bind_virq: {
        struct evtchn_bind_virq *op = (void *)buf;
        if (op->virq != VIRQ_TIMER || op->vcpu != 0)
            return -XEN_EINVAL;
        if (cur->virq_timer_port != 0)
            return -XEN_EEXIST;
        if ((p = new_port(cur)) < 0)
            return p;
        cur->ports[p].state = ECS_VIRQ;
        cur->virq_timer_port = (uint32_t)p;
        op->port = (uint32_t)p;
        break;
    }
    case EVTCHNOP_send:
        port = rd32(buf);
        if (port >= NR_PORTS || cur->ports[port].state == ECS_FREE)
            return -XEN_EINVAL;
        if (cur->ports[port].state == ECS_DOM0) {
            dom0_kick(cur, port);
        } else if (cur->ports[port].state == ECS_INTERDOMAIN) {
            r = dom_by_id(cur->ports[port].remote_dom);
            if (!r->done)
                set_pending(r, cur->ports[port].peer);
        } else if (cur->ports[port].state == ECS_VIRQ) {
            return -XEN_EINVAL;
        }
        return 0;
    case EVTCHNOP_unmask:
        port = rd32(buf);
        if (port >= NR_PORTS || cur->ports[port].state == ECS_FREE)
            return -XEN_EINVAL;
        cur->sh->evtchn_mask[port / 32] &= ~(1U << (port % 32));
        if (cur->sh->evtchn_pending[port / 32] & (1U << (port % 32)))
            mark_pending_sel(cur, port);
        return 0;
    case EVTCHNOP_close:
        port = rd32(buf);
        if (port >= NR_PORTS || cur->ports[port].state == ECS_FREE)
            return -XEN_EINVAL;
        if (cur->ports[port].state == ECS_INTERDOMAIN) {
            r = dom_by_id(cur->ports[port].remote_dom);
            r->ports[cur->ports[port].peer].state = ECS_UNBOUND;
            r->ports[cur->ports[port].peer].remote_dom = (uint8_t)cur->id;
        }
        if (cur->ports[port].state == ECS_VIRQ)
            cur->virq_timer_port = 0;
        cur->ports[port].state = ECS_FREE;
        cur->sh->evtchn_pending[port / 32] &= ~(1U << (port % 32));
        return 0;
    case EVTCHNOP_status: {
        struct evtchn_status *op = (void *)buf;
        if (dom_by_id(op->dom) != cur)
            return -XEN_ESRCH;
        if (op->port >= NR_PORTS)
            return -XEN_EINVAL;
        p = (int)op->port;
        if (cur->ports[p].state == ECS_DOM0) {
            op->status = EVTCHNSTAT_interdomain;
            op->vcpu = 0;
            memset(&op->u, 0, sizeof(op->u));
            op->u.interdomain.dom = 0;
            op->u.interdomain.port = (uint32_t)p;
            break;
        }
        op->status = cur->ports[p].state == ECS_FREE ? EVTCHNSTAT_closed
                   : cur->ports[p].state == ECS_UNBOUND ? EVTCHNSTAT_unbound
                   : cur->ports[p].state == ECS_VIRQ ? EVTCHNSTAT_virq
                   : EVTCHNSTAT_interdomain;
        op->vcpu = 0;
        memset(&op->u, 0, sizeof(op->u));
        if (op->status == EVTCHNSTAT_unbound) {
            op->u.unbound.dom = cur->ports[p].remote_dom;
        } else if (op->status == EVTCHNSTAT_interdomain) {
            op->u.interdomain.dom = cur->ports[p].remote_dom;
            op->u.interdomain.port = cur->ports[p].peer;
        } else if (op->status == EVTCHNSTAT_virq) {
            op->u.virq = VIRQ_TIMER;
        }
        break;
    }
    }
    return copy_to_guest(arg, buf, size[cmd]) ? 0 : -XEN_EFAULT;
}

/* ---- dom0 (STUB_DOM0): a small xenstored and console backend ------------ */

static struct {
    bool used;
    char path[XS_PATH];
    uint32_t len;
    char value[XS_VALUE];
} xs_nodes[XS_NODES];

static int xs_find(const char *path)
{
    for (int i = 0; i < XS_NODES; i++)
        if (xs_nodes[i].used && strcmp(xs_nodes[i].path, path) == 0)
            return i;
    return -1;
}

/* path is at or below base */
static bool xs_below(const char *base, const char *path)
{
    size_t n = strlen(base);
    return strncmp(base, path, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The node at path, created with its missing parents; -1 if the table is full. */
static int xs_create(const char *path)
{
    char part[XS_PATH];
    int i = -1;

    for (size_t n = 1; path[n - 1] != 0; n++) {
        if (path[n] != '/' && path[n] != 0)
            continue;
        memcpy(part, path, n);
        part[n] = 0;
        if ((i = xs_find(part)) >= 0)
            continue;
        for (i = 0; i < XS_NODES && xs_nodes[i].used; i++)
            ;
        if (i == XS_NODES)
            return -1;
        xs_nodes[i].used = true;
        memcpy(xs_nodes[i].path, part, n + 1);
        xs_nodes[i].len = 0;
    }
    return i;
}

/* Absolute form of a request's path; false if it is unusable. */
static bool xs_abs(const struct dom *d, const char *p, char *out)
{
    int n = p[0] == '/' ? snprintf(out, XS_PATH, "%s", p)
                        : snprintf(out, XS_PATH, "/local/domain/%lu/%s", (unsigned long)d->id, p);
    return p[0] != 0 && n < XS_PATH && out[n - 1] != '/';
}

static void xs_queue(struct dom *d, const void *data, uint32_t len)
{
    const uint8_t *p = data;

    if (d->xs_out_len + len > XS_OUT_BYTES) {
        printf("pvstub: xenstored output for d%lu overflows\n", (unsigned long)d->id);
        bare_exit(EXIT_BAD_TRAP);
    }
    for (uint32_t i = 0; i < len; i++)
        d->xs_out[(d->xs_out_head + d->xs_out_len + i) % XS_OUT_BYTES] = p[i];
    d->xs_out_len += len;
}

static void xs_send(struct dom *d, uint32_t type, uint32_t req_id, uint32_t tx_id,
                    const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = tx_id, .len = alen + blen };

    xs_queue(d, &h, sizeof(h));
    xs_queue(d, a, alen);
    xs_queue(d, b, blen);
}

static bool xs_flush(struct dom *d);

/* Fires the watches a change at path (absolute) triggers; rm also fires
 * those below it. */
static void xs_fire(const char *path, bool rm)
{
    for (int k = 0; k < NR_DOMS; k++) {
        struct dom *w = &doms[k];
        char wabs[XS_PATH], home[XS_PATH];
        const char *report;
        if (w->xs_ring == NULL || w->done)
            continue;
        snprintf(home, sizeof(home), "/local/domain/%lu/", (unsigned long)w->id);
        for (int i = 0; i < XS_WATCHES; i++) {
            if (!w->xs_watches[i].used || !xs_abs(w, w->xs_watches[i].path, wabs))
                continue;
            if (!xs_below(wabs, path) && !(rm && xs_below(path, wabs)))
                continue;
            report = path;
            if (w->xs_watches[i].relative && strncmp(path, home, strlen(home)) == 0)
                report = path + strlen(home);
            xs_send(w, XS_WATCH_EVENT, 0, 0, report, strlen(report) + 1,
                    w->xs_watches[i].token, strlen(w->xs_watches[i].token) + 1);
        }
        /* Output goes out as soon as it is made (the requester's with its reply). */
        if (w != cur && xs_flush(w))
            set_pending(w, STORE_PORT);
    }
}

static void xs_request(struct dom *d, const struct xsd_sockmsg *h, char *body)
{
    static const char ok[] = "OK";
    char path[XS_PATH], reply[XS_PATH + 8];
    const char *err = NULL;
    size_t plen = strnlen(body, h->len);
    int i;

    body[h->len] = 0;
#define REPLY(p, n) xs_send(d, h->type, h->req_id, h->tx_id, (p), (n), NULL, 0)
    switch (h->type) {
    case XS_READ:
    case XS_WRITE:
    case XS_MKDIR:
    case XS_RM:
    case XS_DIRECTORY:
        if (plen >= h->len || !xs_abs(d, body, path)) {
            err = "EINVAL";
            break;
        }
        i = xs_find(path);
        if (h->type == XS_READ) {
            if (i < 0)
                err = "ENOENT";
            else
                REPLY(xs_nodes[i].value, xs_nodes[i].len);
        } else if (h->type == XS_WRITE) {
            uint32_t vlen = h->len - (uint32_t)plen - 1;
            if (vlen > XS_VALUE)
                err = "ENOSPC";
            else if ((i = xs_create(path)) < 0)
                err = "ENOSPC";
            else {
                memcpy(xs_nodes[i].value, body + plen + 1, vlen);
                xs_nodes[i].len = vlen;
                xs_fire(path, false);
                REPLY(ok, sizeof(ok));
            }
        } else if (h->type == XS_MKDIR) {
            if (i < 0 && xs_create(path) < 0)
                err = "ENOSPC";
            else {
                if (i < 0)
                    xs_fire(path, false);
                REPLY(ok, sizeof(ok));
            }
        } else if (h->type == XS_RM) {
            if (i < 0)
                err = "ENOENT";
            else {
                for (int j = 0; j < XS_NODES; j++)
                    if (xs_nodes[j].used && xs_below(path, xs_nodes[j].path))
                        xs_nodes[j].used = false;
                xs_fire(path, true);
                REPLY(ok, sizeof(ok));
            }
        } else if (i < 0) {
            err = "ENOENT";
        } else {
            /* XS_DIRECTORY: the last component of each child, NUL-terminated. */
            static char list[XS_NODES * XS_PATH];
            uint32_t n = 0;
            size_t base = strlen(path);
            for (int j = 0; j < XS_NODES; j++) {
                const char *c = xs_nodes[j].path;
                if (!xs_nodes[j].used || strncmp(c, path, base) != 0 || c[base] != '/' ||
                    strchr(c + base + 1, '/') != NULL)
                    continue;
                memcpy(list + n, c + base + 1, strlen(c + base + 1) + 1);
                n += strlen(c + base + 1) + 1;
            }
            REPLY(list, n);
        }
        break;
    case XS_WATCH:
    case XS_UNWATCH: {
        const char *token = body + plen + 1;
        if (plen + 1 >= h->len || strnlen(token, h->len - plen - 1) >= h->len - plen - 1 ||
            !xs_abs(d, body, path) || strlen(token) >= sizeof(d->xs_watches[0].token)) {
            err = "EINVAL";
            break;
        }
        for (i = 0; i < XS_WATCHES; i++)
            if (d->xs_watches[i].used && strcmp(d->xs_watches[i].path, body) == 0 &&
                strcmp(d->xs_watches[i].token, token) == 0)
                break;
        if (h->type == XS_UNWATCH) {
            if (i == XS_WATCHES)
                err = "ENOENT";
            else {
                d->xs_watches[i].used = false;
                REPLY(ok, sizeof(ok));
            }
            break;
        }
        if (i < XS_WATCHES) {
            err = "EEXIST";
            break;
        }
        for (i = 0; i < XS_WATCHES && d->xs_watches[i].used; i++)
            ;
        if (i == XS_WATCHES) {
            err = "ENOSPC";
            break;
        }
        d->xs_watches[i].used = true;
        d->xs_watches[i].relative = body[0] != '/';
        strncpy(d->xs_watches[i].path, body, XS_PATH - 1);
        strncpy(d->xs_watches[i].token, token, sizeof(d->xs_watches[i].token) - 1);
        REPLY(ok, sizeof(ok));
        /* Xen fires a new watch once, after the reply. */
        xs_send(d, XS_WATCH_EVENT, 0, 0, body, plen + 1, token, strlen(token) + 1);
        break;
    }
    case XS_TRANSACTION_START:
        REPLY(reply, snprintf(reply, sizeof(reply), "%lu", (unsigned long)++d->xs_next_tx) + 1);
        break;
    case XS_TRANSACTION_END:
        /* Changes were applied as they came; the first commit asks for a retry. */
        if (h->tx_id == 0)
            err = "EINVAL";
        else if (strcmp(body, "T") == 0 && d->xs_commits++ == 0)
            err = "EAGAIN";
        else
            REPLY(ok, sizeof(ok));
        break;
    case XS_GET_DOMAIN_PATH:
        REPLY(reply, snprintf(reply, sizeof(reply), "/local/domain/%s", body) + 1);
        break;
    default:
        err = "EINVAL";
        break;
    }
    if (err != NULL)
        xs_send(d, XS_ERROR, h->req_id, h->tx_id, err, strlen(err) + 1, NULL, 0);
#undef REPLY
}

/* Copies queued output into rsp[] as far as it has room; true if any. */
static bool xs_flush(struct dom *d)
{
    volatile struct xenstore_domain_interface *r = d->xs_ring;
    uint32_t prod = r->rsp_prod, n = 0;
    uint32_t space = XENSTORE_RING_SIZE - (prod - r->rsp_cons);

    if (prod - r->rsp_cons > XENSTORE_RING_SIZE) {
        printf("pvstub: d%lu: bad rsp indices\n", (unsigned long)d->id);
        r->error = XENSTORE_ERROR_RINGIDX;
        return true;
    }
    while (n < space && d->xs_out_len > 0) {
        r->rsp[MASK_XENSTORE_IDX(prod + n)] = (char)d->xs_out[d->xs_out_head];
        d->xs_out_head = (d->xs_out_head + 1) % XS_OUT_BYTES;
        d->xs_out_len--;
        n++;
    }
    if (n == 0)
        return false;
    __asm__ volatile("fence w, w" : : : "memory");
    r->rsp_prod = prod + n;
    return true;
}

static void xs_service(struct dom *d, bool kicked)
{
    volatile struct xenstore_domain_interface *r = d->xs_ring;
    struct xsd_sockmsg *h = (struct xsd_sockmsg *)d->xs_in;
    uint32_t cons = r->req_cons, prod = r->req_prod, budget = XS_IN_BUDGET;
    bool moved = false;

    if (r->error != XENSTORE_ERROR_NONE)
        return;
    if (prod - cons > XENSTORE_RING_SIZE) {
        printf("pvstub: d%lu: bad req indices 0x%08lx 0x%08lx\n", (unsigned long)d->id,
               (unsigned long)prod, (unsigned long)cons);
        r->error = XENSTORE_ERROR_RINGIDX;
        set_pending(d, STORE_PORT);
        return;
    }
    __asm__ volatile("fence r, r" : : : "memory");
    /* Requests are read on the tick only: the guest waits for its replies,
     * and for room in req[]. */
    while (!kicked && cons != prod && budget > 0) {
        d->xs_in[d->xs_in_got++] = (uint8_t)r->req[MASK_XENSTORE_IDX(cons)];
        cons++;
        budget--;
        if (d->xs_in_got == sizeof(*h) && h->len > XENSTORE_PAYLOAD_MAX) {
            printf("pvstub: d%lu: request of %lu bytes\n", (unsigned long)d->id,
                   (unsigned long)h->len);
            r->error = XENSTORE_ERROR_PROTO;
            set_pending(d, STORE_PORT);
            return;
        }
        if (d->xs_in_got >= sizeof(*h) && d->xs_in_got == sizeof(*h) + h->len) {
            static char body[XENSTORE_PAYLOAD_MAX + 1];
            memcpy(body, d->xs_in + sizeof(*h), h->len);
            d->xs_in_got = 0;
            xs_request(d, h, body);
        }
    }
    if (cons != r->req_cons) {
        __asm__ volatile("fence rw, rw" : : : "memory");
        r->req_cons = cons;
        moved = true;
    }
    /* Like pvsim's xenstored, replies go out when the guest kicks (or when
     * requests were just served), not on a bare tick. */
    if ((kicked || moved) && xs_flush(d))
        moved = true;
    if (moved)
        set_pending(d, STORE_PORT);
}

static void cons_service(struct dom *d, bool tick)
{
    volatile struct xencons_interface *c = d->cons_ring;
    uint32_t cons = c->out_cons, prod = c->out_prod, n = 0;
    static const char input[] = STUB_INPUT;
    bool moved = false;

    if (prod - cons > XENCONS_OUT_SIZE) {
        printf("pvstub: d%lu: bad console out indices\n", (unsigned long)d->id);
        cons = prod;
    }
    __asm__ volatile("fence r, r" : : : "memory");
    /* A slow backend: it reads on its tick only, so a busy writer fills out[]. */
    while (tick && cons != prod && n++ < CONS_OUT_BUDGET)
        bare_putc(c->out[MASK_XENCONS_IDX(cons++, c->out)]);
    if (cons != c->out_cons) {
        __asm__ volatile("fence rw, rw" : : : "memory");
        c->out_cons = cons;
        moved = true;
    }
    if (tick && d->input_typed < sizeof(input) - 1) {
        uint32_t ip = c->in_prod;
        for (n = 0; n < CONS_IN_BUDGET && d->input_typed < sizeof(input) - 1 &&
                    ip - c->in_cons < XENCONS_IN_SIZE; n++)
            c->in[MASK_XENCONS_IDX(ip++, c->in)] = input[d->input_typed++];
        if (ip != c->in_prod) {
            __asm__ volatile("fence w, w" : : : "memory");
            c->in_prod = ip;
            moved = true;
        }
    }
    if (moved)
        set_pending(d, CONSOLE_PORT);
}

static void dom0_attach(struct dom *d, uint8_t *store_page, uint8_t *console_page)
{
    char path[XS_PATH];
    int i;

    memset(store_page, 0, PAGE_SIZE);
    memset(console_page, 0, PAGE_SIZE);
    d->xs_ring = (volatile struct xenstore_domain_interface *)store_page;
    d->cons_ring = (volatile struct xencons_interface *)console_page;
    d->xs_ring->req_cons = d->xs_ring->req_prod = XS_RING_START;
    d->xs_ring->rsp_cons = d->xs_ring->rsp_prod = XS_RING_START;
    d->xs_ring->server_features = XENSTORE_SERVER_FEATURE_ERROR;
    d->cons_ring->in_cons = d->cons_ring->in_prod = CONS_IN_START;
    d->cons_ring->out_cons = d->cons_ring->out_prod = CONS_OUT_START;

    snprintf(path, sizeof(path), "/local/domain/%lu/name", (unsigned long)d->id);
    i = xs_create(path);
    xs_nodes[i].len = (uint32_t)snprintf(xs_nodes[i].value, XS_VALUE, "pvstub-guest%lu",
                                         (unsigned long)d->id);
    snprintf(path, sizeof(path), "/local/domain/%lu/domid", (unsigned long)d->id);
    i = xs_create(path);
    xs_nodes[i].len = (uint32_t)snprintf(xs_nodes[i].value, XS_VALUE, "%lu", (unsigned long)d->id);
    snprintf(path, sizeof(path), "/local/domain/%lu/data", (unsigned long)d->id);
    (void)xs_create(path);
}

static void dom0_kick(struct dom *d, uint32_t port)
{
    if (port == STORE_PORT)
        xs_service(d, true);
    else
        cons_service(d, false);
}

static void dom0_tick(void)
{
    for (int i = 0; i < NR_DOMS; i++) {
        if (doms[i].done || doms[i].xs_ring == NULL)
            continue;
        xs_service(&doms[i], false);
        cons_service(&doms[i], true);
    }
}

/* ---- PV MMU ----------------------------------------------------------- */

/* Checks a new entry for one of cur's tables of the given type; 0 or -errno. */
static int check_entry(int type, uint32_t index, uint32_t val)
{
    if (!(val & PTE_V))
        return 0;
    if (type == PT_L2) {
        if (index == HYPERVISOR_L2_SLOT)
            return -XEN_EPERM;
        if (val & (PTE_R | PTE_W | PTE_X))
            return -XEN_EINVAL;                 /* no 4 MiB leaves */
        if (!guest_frame(cur, PTE_PPN(val)) || cur->pt_type[PTE_PPN(val) - cur->base_mfn] != PT_L1)
            return -XEN_EINVAL;
        return 0;
    }
    if (!(val & (PTE_R | PTE_W | PTE_X)))
        return -XEN_EINVAL;                     /* Sv32 L1 entries are leaves */
    if (!mappable(cur, PTE_PPN(val)))
        return -XEN_EPERM;
    if ((val & PTE_W) && is_table(cur, PTE_PPN(val)))
        return -XEN_EPERM;                      /* a table is never writable */
    return 0;
}

static int write_pte(uint32_t pte_ma, uint32_t val)
{
    uint32_t mfn = pte_ma >> PAGE_SHIFT;
    int rc;

    if (!guest_frame(cur, mfn) || cur->pt_type[mfn - cur->base_mfn] == PT_NONE || (pte_ma & 3))
        return -XEN_EINVAL;
    rc = check_entry(cur->pt_type[mfn - cur->base_mfn], (pte_ma & (PAGE_SIZE - 1)) / 4, val);
    if (rc < 0)
        return rc;
    *(volatile uint32_t *)(uintptr_t)pte_ma = val;
    flush_tlb();
    return 0;
}

static long hc_update_va_mapping(uint32_t va, uint32_t lo, uint32_t hi, uint32_t flags)
{
    volatile uint32_t *p = l1_entry(cur->cur_root, va);
    int rc;

    (void)flags;
    if (hi != 0 || p == NULL || va >= HYPERVISOR_VIRT_START)
        return -XEN_EINVAL;
    rc = check_entry(PT_L1, 0, lo);
    if (rc < 0)
        return rc;
    *p = lo;
    flush_tlb();
    return 0;
}

static long hc_mmu_update(uint32_t reqs, uint32_t count, uint32_t done_va, uint32_t dom)
{
    uint32_t done = 0;
    long rc = 0;

    if (dom_by_id(dom) != cur)
        return -XEN_ESRCH;
    for (; done < count; done++) {
        struct mmu_update req;
        if (!copy_from_guest(&req, reqs + done * sizeof(req), sizeof(req))) {
            rc = -XEN_EFAULT;
            break;
        }
        if ((req.ptr & 3) != MMU_NORMAL_PT_UPDATE || (req.ptr >> 32) || (req.val >> 32)) {
            rc = -XEN_EINVAL;
            break;
        }
        rc = write_pte((uint32_t)req.ptr, (uint32_t)req.val);
        if (rc < 0)
            break;
    }
    if (done_va != 0 && !copy_to_guest(done_va, &done, 4))
        return -XEN_EFAULT;
    return rc;
}

static int pin(uint32_t mfn, int type)
{
    uint32_t *t;

    if (!guest_frame(cur, mfn))
        return -XEN_EINVAL;
    if (cur->pt_type[mfn - cur->base_mfn] != PT_NONE)
        return cur->pt_type[mfn - cur->base_mfn] == type ? -XEN_EEXIST : -XEN_EINVAL;
    if (mapped_writable(cur, mfn)) {
        printf("pvstub: refusing to pin mfn 0x%lx: it is mapped writable\n", (unsigned long)mfn);
        return -XEN_EPERM;
    }
    t = frame_words(mfn);
    for (uint32_t i = 0; i < 1024; i++) {
        int rc = check_entry(type, i, t[i]);
        if (rc < 0) {
            printf("pvstub: refusing to pin mfn 0x%lx: entry %lu = 0x%08lx\n", (unsigned long)mfn,
                   (unsigned long)i, (unsigned long)t[i]);
            return rc;
        }
    }
    cur->pt_type[mfn - cur->base_mfn] = (uint8_t)type;
    cur->pt_pinned[mfn - cur->base_mfn] = 1;
    return 0;
}

static int unpin(uint32_t mfn)
{
    if (!guest_frame(cur, mfn) || !cur->pt_pinned[mfn - cur->base_mfn])
        return -XEN_EINVAL;
    if (mfn == cur->cur_root)
        return -XEN_EBUSY;
    if (cur->pt_type[mfn - cur->base_mfn] == PT_L1 && l1_in_use(cur, mfn)) {
        printf("pvstub: unpin of L1 mfn 0x%lx still hooked into a root\n", (unsigned long)mfn);
        return -XEN_EBUSY;
    }
    cur->pt_type[mfn - cur->base_mfn] = PT_NONE;
    cur->pt_pinned[mfn - cur->base_mfn] = 0;
    return 0;
}

static long hc_mmuext_op(uint32_t ops, uint32_t count, uint32_t done_va, uint32_t dom)
{
    uint32_t done = 0;
    long rc = 0;

    if (dom_by_id(dom) != cur)
        return -XEN_ESRCH;
    for (; done < count; done++) {
        struct mmuext_op op;
        if (!copy_from_guest(&op, ops + done * sizeof(op), sizeof(op))) {
            rc = -XEN_EFAULT;
            break;
        }
        switch (op.cmd) {
        case MMUEXT_PIN_L1_TABLE:
            rc = pin(op.arg1.mfn, PT_L1);
            break;
        case MMUEXT_PIN_L2_TABLE:
            rc = pin(op.arg1.mfn, PT_L2);
            break;
        case MMUEXT_UNPIN_TABLE:
            rc = unpin(op.arg1.mfn);
            break;
        case MMUEXT_NEW_BASEPTR:
            if (!guest_frame(cur, op.arg1.mfn) || cur->pt_type[op.arg1.mfn - cur->base_mfn] != PT_L2) {
                rc = -XEN_EINVAL;
                break;
            }
            cur->cur_root = op.arg1.mfn;
            csr_write(satp, SATP_MODE_SV32 | cur->cur_root);
            flush_tlb();
            break;
        case MMUEXT_TLB_FLUSH_LOCAL:
        case MMUEXT_INVLPG_LOCAL:
        case MMUEXT_TLB_FLUSH_ALL:
        case MMUEXT_INVLPG_ALL:
            flush_tlb();
            break;
        default:
            rc = -XEN_ENOSYS;
            break;
        }
        if (rc < 0)
            break;
    }
    if (done_va != 0 && !copy_to_guest(done_va, &done, 4))
        return -XEN_EFAULT;
    return rc;
}

/* ---- grant tables ----------------------------------------------------- */

static volatile struct grant_entry_v1 *gnt_entry(struct dom *d, uint32_t ref)
{
    return &((volatile struct grant_entry_v1 *)d->gnt)[ref];
}

/* The frame behind granter's ref, for an access by cur; GNTST_*. */
static int16_t gnt_acquire(uint32_t granter, uint32_t ref, bool write, uint32_t *mfn)
{
    struct dom *g = dom_by_id(granter);
    volatile struct grant_entry_v1 *e;

    if (g == NULL || g->done)
        return GNTST_bad_domain;
    if (ref >= g->gnt_nr_frames * 512)
        return GNTST_bad_gntref;
    e = gnt_entry(g, ref);
    if ((e->flags & GTF_type_mask) != GTF_permit_access || e->domid != cur->id)
        return GNTST_permission_denied;
    if (write && (e->flags & GTF_readonly))
        return GNTST_permission_denied;
    if (!guest_frame(g, e->frame))
        return GNTST_bad_page;
    *mfn = e->frame;
    return GNTST_okay;
}

static void gnt_update_flags(struct dom *g, uint32_t ref)
{
    volatile struct grant_entry_v1 *e = gnt_entry(g, ref);
    uint16_t f = e->flags & (uint16_t)~(GTF_reading | GTF_writing);

    if (g->gnt_readers[ref] || g->gnt_writers[ref])
        f |= GTF_reading;
    if (g->gnt_writers[ref])
        f |= GTF_writing;
    e->flags = f;
}

/* A copy side that is not a grant: a frame of the caller's own. */
static int16_t own_frame(uint32_t domid, uint32_t gmfn, uint32_t *mfn)
{
    if (dom_by_id(domid) != cur)
        return GNTST_bad_domain;
    if (!guest_frame(cur, gmfn))
        return GNTST_bad_page;
    *mfn = gmfn;
    return GNTST_okay;
}

static long hc_grant_table_op(uint32_t cmd, uint32_t uop, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        switch (cmd) {
        case GNTTABOP_setup_table: {
            struct gnttab_setup_table op;
            uint32_t va = uop + i * sizeof(op);
            if (!copy_from_guest(&op, va, sizeof(op)))
                return -XEN_EFAULT;
            if (dom_by_id(op.dom) != cur)
                op.status = GNTST_bad_domain;
            else if (op.nr_frames > GNT_FRAMES)
                op.status = GNTST_general_error;
            else {
                op.status = GNTST_okay;
                if (op.nr_frames > cur->gnt_nr_frames)
                    cur->gnt_nr_frames = op.nr_frames;
                for (uint32_t f = 0; f < op.nr_frames; f++) {
                    uint32_t mfn = ((uintptr_t)cur->gnt[f]) >> PAGE_SHIFT;
                    if (!copy_to_guest((uintptr_t)op.frame_list + f * 4, &mfn, 4))
                        return -XEN_EFAULT;
                }
            }
            if (!copy_to_guest(va, &op, sizeof(op)))
                return -XEN_EFAULT;
            break;
        }
        case GNTTABOP_map_grant_ref: {
            struct gnttab_map_grant_ref op;
            uint32_t va = uop + i * sizeof(op), mfn = 0, h = 0;
            volatile uint32_t *pte;
            bool ro;
            if (!copy_from_guest(&op, va, sizeof(op)))
                return -XEN_EFAULT;
            ro = (op.flags & GNTMAP_readonly) != 0;
            op.status = GNTST_okay;
            if (!(op.flags & GNTMAP_host_map) || (op.flags & GNTMAP_contains_pte))
                op.status = GNTST_general_error;
            if (op.status == GNTST_okay)
                op.status = gnt_acquire(op.dom, op.ref, !ro, &mfn);
            pte = l1_entry(cur->cur_root, (uint32_t)op.host_addr);
            if (op.status == GNTST_okay && (pte == NULL || op.host_addr >> 32))
                op.status = GNTST_bad_virt_addr;
            while (op.status == GNTST_okay && h < MAX_MAPTRACK && cur->maptrack[h].used)
                h++;
            if (op.status == GNTST_okay && h == MAX_MAPTRACK)
                op.status = GNTST_no_space;
            if (op.status == GNTST_okay) {
                struct dom *g = dom_by_id(op.dom);
                cur->maptrack[h].used = true;
                cur->maptrack[h].readonly = ro;
                cur->maptrack[h].granter = (uint8_t)g->id;
                cur->maptrack[h].ref = op.ref;
                cur->maptrack[h].va = (uint32_t)op.host_addr;
                if (ro)
                    g->gnt_readers[op.ref]++;
                else
                    g->gnt_writers[op.ref]++;
                gnt_update_flags(g, op.ref);
                *pte = (mfn << PTE_PPN_SHIFT) | PTE_V | PTE_R | PTE_A | (ro ? 0 : PTE_W | PTE_D);
                flush_tlb();
                op.handle = h;
                op.dev_bus_addr = 0;
            }
            if (!copy_to_guest(va, &op, sizeof(op)))
                return -XEN_EFAULT;
            break;
        }
        case GNTTABOP_unmap_grant_ref: {
            struct gnttab_unmap_grant_ref op;
            uint32_t va = uop + i * sizeof(op);
            volatile uint32_t *pte;
            if (!copy_from_guest(&op, va, sizeof(op)))
                return -XEN_EFAULT;
            op.status = GNTST_okay;
            if (op.handle >= MAX_MAPTRACK || !cur->maptrack[op.handle].used)
                op.status = GNTST_bad_handle;
            else if (cur->maptrack[op.handle].va != op.host_addr ||
                     (pte = l1_entry(cur->cur_root, (uint32_t)op.host_addr)) == NULL)
                op.status = GNTST_bad_virt_addr;
            else {
                struct dom *g = dom_by_id(cur->maptrack[op.handle].granter);
                uint32_t ref = cur->maptrack[op.handle].ref;
                *pte = 0;
                flush_tlb();
                if (cur->maptrack[op.handle].readonly)
                    g->gnt_readers[ref]--;
                else
                    g->gnt_writers[ref]--;
                gnt_update_flags(g, ref);
                cur->maptrack[op.handle].used = false;
            }
            if (!copy_to_guest(va, &op, sizeof(op)))
                return -XEN_EFAULT;
            break;
        }
        case GNTTABOP_copy: {
            struct gnttab_copy op;
            uint32_t va = uop + i * sizeof(op), src = 0, dst = 0;
            if (!copy_from_guest(&op, va, sizeof(op)))
                return -XEN_EFAULT;
            op.status = GNTST_okay;
            if (op.source.offset + op.len > PAGE_SIZE || op.dest.offset + op.len > PAGE_SIZE)
                op.status = GNTST_bad_copy_arg;
            if (op.status == GNTST_okay)
                op.status = (op.flags & GNTCOPY_source_gref)
                                ? gnt_acquire(op.source.domid, op.source.u.ref, false, &src)
                                : own_frame(op.source.domid, op.source.u.gmfn, &src);
            if (op.status == GNTST_okay)
                op.status = (op.flags & GNTCOPY_dest_gref)
                                ? gnt_acquire(op.dest.domid, op.dest.u.ref, true, &dst)
                                : own_frame(op.dest.domid, op.dest.u.gmfn, &dst);
            if (op.status == GNTST_okay)
                memmove((uint8_t *)(uintptr_t)(dst << PAGE_SHIFT) + op.dest.offset,
                        (uint8_t *)(uintptr_t)(src << PAGE_SHIFT) + op.source.offset, op.len);
            if (!copy_to_guest(va, &op, sizeof(op)))
                return -XEN_EFAULT;
            break;
        }
        default:
            return -XEN_ENOSYS;
        }
    }
    return 0;
}

/* ---- scheduling: round-robin over the domains ------------------------- */

static void save_vcpu(struct dom *d, const struct trap_frame *f)
{
    memcpy(d->x, f->x, sizeof(d->x));
    d->pc = csr_read(mepc);
    d->mstatus = csr_read(mstatus) & (MSTATUS_S_BITS | MSTATUS_MPP_MASK);
    d->sepc = csr_read(sepc);
    d->scause = csr_read(scause);
    d->stval = csr_read(stval);
    d->stvec = csr_read(stvec);
    d->sscratch = csr_read(sscratch);
    d->sie = csr_read(mie) & MIE_S_BITS;
    d->scounteren = csr_read(scounteren);
}

static void load_vcpu(struct dom *d, struct trap_frame *f)
{
    memcpy(f->x, d->x, sizeof(d->x));
    csr_write(mepc, d->pc);
    __asm__ volatile("csrc mstatus, %0" : : "r"(MSTATUS_S_BITS | MSTATUS_MPP_MASK) : "memory");
    __asm__ volatile("csrs mstatus, %0" : : "r"(d->mstatus) : "memory");
    csr_write(sepc, d->sepc);
    csr_write(scause, d->scause);
    csr_write(stval, d->stval);
    csr_write(stvec, d->stvec);
    csr_write(sscratch, d->sscratch);
    __asm__ volatile("csrc mie, %0" : : "r"(MIE_S_BITS) : "memory");
    __asm__ volatile("csrs mie, %0" : : "r"(d->sie) : "memory");
    csr_write(scounteren, d->scounteren);
    csr_write(satp, SATP_MODE_SV32 | d->cur_root);
    flush_tlb();
}

static void finish(void)
{
    for (int i = 0; i < NR_DOMS; i++)
        if (doms[i].reason != SHUTDOWN_poweroff)
            bare_exit(10 + doms[i].reason);
    bare_exit(0);
}

/* Runs the next runnable domain after cur (cur itself if it is the only
 * one), waiting for timers while every live domain is blocked. */
static void schedule(struct trap_frame *f)
{
    struct dom *next = NULL;
    bool live;

    for (;;) {
        timer_check();
        dom0_tick();
        live = false;
        for (int k = 1; k <= NR_DOMS && next == NULL; k++) {
            struct dom *d = &doms[(cur - doms + k) % NR_DOMS];
            live |= !d->done;
            if (!d->done && !d->blocked)
                next = d;
        }
        if (next != NULL)
            break;
        if (!live)
            finish();
        program_timer();
        __asm__ volatile("csrc mip, %0" : : "r"(MIP_SEIP) : "memory");
        __asm__ volatile("wfi");
    }
    if (next != cur) {
        if (!cur->done)
            save_vcpu(cur, f);
        cur = next;
        load_vcpu(cur, f);
    }
}

/* ---- the rest ----------------------------------------------------------- */

static long hc_console_io(unsigned long cmd, unsigned long count, unsigned long ptr)
{
    if (cmd != CONSOLEIO_write)
        return -XEN_ENOSYS;
    for (unsigned long i = 0; i < count; i++) {
        char c;
        if (!copy_from_guest(&c, ptr + i, 1))
            return -XEN_EFAULT;
        bare_putc(c);
    }
    return 0;
}

static long hc_xen_version(unsigned long cmd, unsigned long arg)
{
    static const char extra[16] = ".0-pvstub";

    switch (cmd) {
    case XENVER_version:
        return 4 << 16 | 17;
    case XENVER_extraversion:
        return copy_to_guest(arg, extra, sizeof(extra)) ? 0 : -XEN_EFAULT;
    default:
        return -XEN_ENOSYS;
    }
}

/* Sets *resched when the caller gives up the CPU (yield, block, shutdown). */
static long hc_sched_op(unsigned long cmd, unsigned long arg, bool *resched)
{
    uint32_t reason;

    switch (cmd) {
    case SCHEDOP_yield:
        *resched = true;
        return 0;
    case SCHEDOP_block:
        /* Xen: enable event delivery, then sleep unless something is pending. */
        cur->sh->vcpu_info[0].evtchn_upcall_mask = 0;
        timer_check();
        if (!cur->sh->vcpu_info[0].evtchn_upcall_pending) {
            cur->blocked = true;
            *resched = true;
        }
        return 0;
    case SCHEDOP_poll: {
        struct sched_poll poll;
        uint32_t ports[POLL_MAX];
        if (!copy_from_guest(&poll, arg, sizeof(poll)))
            return -XEN_EFAULT;
        if (poll.nr_ports > POLL_MAX)
            return -XEN_EINVAL;
        if (!copy_from_guest(ports, (uintptr_t)poll.ports, poll.nr_ports * 4))
            return -XEN_EFAULT;
        for (uint32_t i = 0; i < poll.nr_ports; i++) {
            if (ports[i] >= NR_PORTS)
                return -XEN_EINVAL;
            if (cur->sh->evtchn_pending[ports[i] / 32] & (1U << (ports[i] % 32)))
                return 0;
        }
        if (poll.timeout != 0 && poll.timeout <= mtime())
            return 0;
        cur->polling = true;
        cur->poll_nr = poll.nr_ports;
        memcpy(cur->poll_ports, ports, sizeof(ports));
        cur->poll_deadline = poll.timeout;
        cur->blocked = true;
        *resched = true;
        return 0;
    }
    case SCHEDOP_shutdown:
        if (!copy_from_guest(&reason, arg, 4))
            return -XEN_EFAULT;
        printf("pvstub: d%lu shutdown, reason %lu\n", (unsigned long)cur->id, (unsigned long)reason);
        cur->done = true;
        cur->reason = reason;
        *resched = true;
        return 0;
    default:
        return -XEN_ENOSYS;
    }
}

/* Delivers the current trap to the guest's stvec, as an S-mode trap. */
static void reflect(unsigned long cause, unsigned long tval)
{
    unsigned long ms = csr_read(mstatus);
    bool from_s = (ms & MSTATUS_MPP_MASK) == MSTATUS_MPP_S;
    bool sie = (ms & MSTATUS_SIE) != 0;

    csr_write(sepc, csr_read(mepc));
    csr_write(scause, cause);
    csr_write(stval, tval);
    ms &= ~(MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE | MSTATUS_MPP_MASK);
    ms |= (from_s ? MSTATUS_SPP : 0) | (sie ? MSTATUS_SPIE : 0) | MSTATUS_MPP_S;
    csr_write(mstatus, ms);
    csr_write(mepc, csr_read(stvec));
}

/* csrr rd, time / timeh: read the CLINT's mtime. */
static bool emulate_rdtime(unsigned long *x, uint32_t insn)
{
    uint32_t csr = insn >> 20, rd = (insn >> 7) & 31;

    if ((insn & 0x000FF07FU) != 0x00002073U || (csr != 0xC01 && csr != 0xC81))
        return false;
    if (rd != 0)
        x[rd] = csr == 0xC01 ? (uint32_t)mtime() : (uint32_t)(mtime() >> 32);
    csr_write(mepc, csr_read(mepc) + 4);
    return true;
}

void stub_trap(struct trap_frame *f)
{
    unsigned long cause = csr_read(mcause);
    unsigned long *x = f->x;
    bool resched = false;
    long rc;

    if ((csr_read(mstatus) & MSTATUS_MPP_MASK) == MSTATUS_MPP_M) {
        printf("pvstub: trap in the stub: mcause=0x%08lx mepc=0x%08lx mtval=0x%08lx\n", cause,
               csr_read(mepc), csr_read(mtval));
        bare_exit(EXIT_BAD_TRAP);
    }
    if (cause == (CAUSE_INTERRUPT_BIT | IRQ_M_TIMER)) {
        resched = NR_DOMS > 1;                  /* time slice */
        dom0_tick();
    } else if (cause == CAUSE_ILLEGAL_INSN) {
        if (!emulate_rdtime(x, csr_read(mtval)))
            reflect(cause, csr_read(mtval));
    } else if (cause != CAUSE_SUPERVISOR_ECALL) {
        printf("pvstub: d%lu: trap mcause=0x%08lx mepc=0x%08lx mtval=0x%08lx\n",
               (unsigned long)cur->id, cause, csr_read(mepc), csr_read(mtval));
        bare_exit(EXIT_BAD_TRAP);
    } else {
        switch (x[REG_A7]) {
        case __HYPERVISOR_console_io:
            rc = hc_console_io(x[REG_A0], x[REG_A1], x[REG_A2]);
            break;
        case __HYPERVISOR_xen_version:
            rc = hc_xen_version(x[REG_A0], x[REG_A1]);
            break;
        case __HYPERVISOR_sched_op:
            rc = hc_sched_op(x[REG_A0], x[REG_A1], &resched);
            break;
        case __HYPERVISOR_set_timer_op:
            cur->deadline = (uint64_t)x[REG_A1] << 32 | x[REG_A0];
            rc = 0;
            break;
        case __HYPERVISOR_event_channel_op:
            rc = hc_event_channel_op(x[REG_A0], x[REG_A1]);
            break;
        case __HYPERVISOR_update_va_mapping:
            rc = hc_update_va_mapping(x[REG_A0], x[REG_A1], x[REG_A2], x[REG_A3]);
            break;
        case __HYPERVISOR_mmu_update:
            rc = hc_mmu_update(x[REG_A0], x[REG_A1], x[REG_A2], x[REG_A3]);
            break;
        case __HYPERVISOR_mmuext_op:
            rc = hc_mmuext_op(x[REG_A0], x[REG_A1], x[REG_A2], x[REG_A3]);
            break;
        case __HYPERVISOR_grant_table_op:
            rc = hc_grant_table_op(x[REG_A0], x[REG_A1], x[REG_A2]);
            break;
        default:
            rc = -XEN_ENOSYS;
            break;
        }
        x[REG_A0] = (unsigned long)rc;
        csr_write(mepc, csr_read(mepc) + 4);
    }
    timer_check();
    if (resched)
        schedule(f);
    program_timer();
    update_seip();
}

int main(void)
{
    build(&doms[0], 1, stub_cmdline);
    if (NR_DOMS > 1)
        build(&doms[1], 2, stub_cmdline2);
    cur = &doms[0];

    /* PMP entry 0: everything (QEMU denies S-mode without a matching entry). */
    csr_write(pmpaddr0, 0xFFFFFFFFU);
    csr_write(pmpcfg0, PMP_NAPOT | PMP_R | PMP_W | PMP_X);
    /* The guest handles everything but ecall from S (a hypercall) and
     * illegal instructions (QEMU's spike has no `time` CSR: emulated). */
    csr_write(medeleg, 0xFFFFU & ~(1U << CAUSE_SUPERVISOR_ECALL) & ~(1U << CAUSE_MACHINE_ECALL) &
                       ~(1U << CAUSE_ILLEGAL_INSN));
    csr_write(mideleg, MIE_S_BITS);
    csr_write(mcounteren, 7);
    csr_write(mtvec, (uintptr_t)stub_trap_vector);
    csr_write(mie, MIE_MTIE);
    *(volatile uint32_t *)(CLINT_MTIMECMP + 4) = 0xFFFFFFFFU;
    csr_write(satp, SATP_MODE_SV32 | cur->cur_root);
    flush_tlb();
    /* TVM: satp and sfence.vma trap (illegal instruction, reflected). */
    __asm__ volatile("csrs mstatus, %0" : : "r"(1U << 20) : "memory");
    program_timer();
    stub_enter_guest(cur->pc, cur->x[REG_A0], cur->x[REG_SP]);
}

/*
 * start_info: the page the domain builder hands a PV kernel in a0.
 * Xen's start_info_t laid out for RV32 ilp32 (unsigned long and xen_pfn_t
 * are 32 bits). The offsets are pinned below; the TypeScript accessor in
 * protocol/xen/start_info.ts uses the same numbers.
 */
#ifndef PVSIM_START_INFO_H
#define PVSIM_START_INFO_H

#define START_INFO_MAGIC   "xen-3.0-riscv32"
#define MAX_GUEST_CMDLINE  1024

/* start_info.flags */
#define SIF_PRIVILEGED      (1U << 0)  /* privileged domain */
#define SIF_INITDOMAIN      (1U << 1)  /* the initial control domain */
#define SIF_MULTIBOOT_MOD   (1U << 2)  /* mod_start is a multiboot module */
#define SIF_MOD_START_PFN   (1U << 3)  /* mod_start is a PFN, not a VA */
#define SIF_VIRT_P2M_4TOOLS (1U << 4)
#define SIF_PM_MASK         (0xFFU << 8)

#ifndef __ASSEMBLER__
#include <pvsim/xen_types.h>

struct start_info {
    char magic[32];             /* START_INFO_MAGIC, NUL padded */
    unsigned long nr_pages;     /* pages the domain owns */
    unsigned long shared_info;  /* machine address of the shared_info page */
    uint32_t flags;             /* SIF_* */
    xen_pfn_t store_mfn;        /* machine frame of the xenstore ring */
    uint32_t store_evtchn;      /* event channel of the xenstore ring */
    union {
        struct {
            xen_pfn_t mfn;      /* machine frame of the console ring */
            uint32_t evtchn;    /* event channel of the console ring */
        } domU;
        struct {
            uint32_t info_off;
            uint32_t info_size;
        } dom0;
    } console;
    unsigned long pt_base;      /* virtual address of the bootstrap root table */
    unsigned long nr_pt_frames; /* frames of bootstrap page tables */
    unsigned long mfn_list;     /* virtual address of the pfn -> mfn list */
    unsigned long mod_start;    /* virtual address (or PFN) of a boot module */
    unsigned long mod_len;      /* its size in bytes */
    int8_t cmd_line[MAX_GUEST_CMDLINE];
    unsigned long first_p2m_pfn;
    unsigned long nr_p2m_frames;
};
typedef struct start_info start_info_t;

PV_CHECK_OFFSET(struct start_info, magic, 0);
PV_CHECK_OFFSET(struct start_info, nr_pages, 32);
PV_CHECK_OFFSET(struct start_info, shared_info, 36);
PV_CHECK_OFFSET(struct start_info, flags, 40);
PV_CHECK_OFFSET(struct start_info, store_mfn, 44);
PV_CHECK_OFFSET(struct start_info, store_evtchn, 48);
PV_CHECK_OFFSET(struct start_info, console.domU.mfn, 52);
PV_CHECK_OFFSET(struct start_info, console.domU.evtchn, 56);
PV_CHECK_OFFSET(struct start_info, console.dom0.info_off, 52);
PV_CHECK_OFFSET(struct start_info, console.dom0.info_size, 56);
PV_CHECK_OFFSET(struct start_info, pt_base, 60);
PV_CHECK_OFFSET(struct start_info, nr_pt_frames, 64);
PV_CHECK_OFFSET(struct start_info, mfn_list, 68);
PV_CHECK_OFFSET(struct start_info, mod_start, 72);
PV_CHECK_OFFSET(struct start_info, mod_len, 76);
PV_CHECK_OFFSET(struct start_info, cmd_line, 80);
PV_CHECK_OFFSET(struct start_info, first_p2m_pfn, 1104);
PV_CHECK_OFFSET(struct start_info, nr_p2m_frames, 1108);
PV_CHECK_SIZE(struct start_info, 1112);

/* The start_info pointer _start received, for library code. */
extern struct start_info *pvsim_start_info;
#endif

#endif

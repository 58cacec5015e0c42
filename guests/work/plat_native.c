/* work/platform.h for the native kernel (native.elf). */
#include <pvsim/native.h>
#include <pvsim/mm.h>
#include <pvsim/time.h>
#include <pvsim/trap.h>
#include "work.h"

#define PTE_WINDOW (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

void native_kernel_main(void)
{
    work_main();
}

void plat_exit(bool ok)
{
    native_shutdown(ok);
}

static inline void sfence_page(void *va)
{
    __asm__ volatile("sfence.vma %0, zero" : : "r"(va) : "memory");
}

int plat_map_one(void *va, xen_pfn_t pfn)
{
    *native_kmap_pte(va) = MFN_PTE(pfn, PTE_WINDOW);
    sfence_page(va);            /* invalid -> valid: needed for portability */
    return 0;
}

int plat_unmap_one(void *va)
{
    *native_kmap_pte(va) = 0;
    sfence_page(va);
    return 0;
}

int plat_map_batch(void *const va[], const xen_pfn_t pfn[], unsigned int n)
{
    for (unsigned int j = 0; j < n; j++)
        *native_kmap_pte(va[j]) = MFN_PTE(pfn[j], PTE_WINDOW);
    for (unsigned int j = 0; j < n; j++)
        sfence_page(va[j]);
    return 0;
}

int plat_unmap_batch(void *const va[], unsigned int n)
{
    for (unsigned int j = 0; j < n; j++)
        *native_kmap_pte(va[j]) = 0;
    return 0;
}

int plat_flush_tlb(void)
{
    __asm__ volatile("sfence.vma" ::: "memory");
    return 0;
}

const char *plat_pt_op_name(enum plat_pt_op op)
{
    static const char *const names[] = {
        [PT_MAP_ONE] = "map (PTE store, sfence.vma)",
        [PT_UNMAP_ONE] = "unmap (PTE store, sfence.vma)",
        [PT_MAP_BATCH] = "map batch",
        [PT_UNMAP_BATCH] = "unmap batch",
        [PT_FLUSH] = "sfence.vma",
    };
    return names[op];
}

bool plat_timer_setup(bool poll)
{
    if (!poll)
        (void)timer_setup();
    return poll;
}

void plat_timer_stop(void)
{
    (void)timer_set_deadline(0);
}

const char *plat_irq_setup(void)
{
    return "sstatus.SIE";
}

void plat_irq_disable(void)
{
    __asm__ volatile("csrc sstatus, %0" : : "r"(SSTATUS_SIE) : "memory");
}

void plat_irq_enable(void)
{
    __asm__ volatile("csrs sstatus, %0" : : "r"(SSTATUS_SIE) : "memory");
}

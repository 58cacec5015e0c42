/*
 * pvsim RV32 hypercall interface.
 *
 * A hypercall is an `ecall` from the guest kernel (S-mode) with
 *   a7      = hypercall number (__HYPERVISOR_*, Xen's numbering)
 *   a0..a4  = arguments (pointers are guest virtual addresses)
 * and the result in a0: >= 0 on success, or a negated Xen errno
 * (-XEN_EFAULT for a bad pointer, -XEN_ENOSYS for an unknown call).
 * Only a0 changes; every other register is preserved by the hypervisor.
 * 64-bit arguments are passed as two registers, low word first.
 */
#ifndef PVSIM_HYPERCALL_H
#define PVSIM_HYPERCALL_H

#define __HYPERVISOR_mmu_update          1
#define __HYPERVISOR_memory_op          12
#define __HYPERVISOR_multicall          13
#define __HYPERVISOR_update_va_mapping  14
#define __HYPERVISOR_set_timer_op       15
#define __HYPERVISOR_xen_version        17
#define __HYPERVISOR_console_io         18
#define __HYPERVISOR_grant_table_op     20
#define __HYPERVISOR_vm_assist          21
#define __HYPERVISOR_vcpu_op            24
#define __HYPERVISOR_mmuext_op          26
#define __HYPERVISOR_sched_op           29
#define __HYPERVISOR_callback_op        30
#define __HYPERVISOR_event_channel_op   32
#define __HYPERVISOR_physdev_op         33
#define __HYPERVISOR_hvm_op             34
#define __HYPERVISOR_sysctl             35
#define __HYPERVISOR_domctl             36

/* console_io sub-operations */
#define CONSOLEIO_write  0  /* (count, buffer): write to the hypervisor console */
#define CONSOLEIO_read   1  /* (count, buffer): read up to count bytes */

#include <pvsim/sched.h>
#include <pvsim/version.h>
#include <pvsim/xen_errno.h>

#ifndef __ASSEMBLER__
#include <pvsim/xen_types.h>

#ifdef PVSIM_NATIVE
/* An HVM guest (PVHVM, docs/abi.md): Xen's hypercalls are the SBI extension
 * PVSIM_XEN_SBI_EID (a7), the hypercall number in a6, arguments a0..a4; a0 =
 * the SBI error (0 once dispatched), a1 = Xen's result. An SBI that does not
 * know the extension answers SBI_ERR_NOT_SUPPORTED: -XEN_ENOSYS here. */
#define PVSIM_XEN_SBI_EID 0x0A58454EUL

static inline long _hypercall5(unsigned long op, unsigned long a1,
                               unsigned long a2, unsigned long a3,
                               unsigned long a4, unsigned long a5)
{
    register unsigned long r_eid __asm__("a7") = PVSIM_XEN_SBI_EID;
    register unsigned long r_op __asm__("a6") = op;
    register long r_a0 __asm__("a0") = (long)a1;
    register unsigned long r_a1 __asm__("a1") = a2;
    register unsigned long r_a2 __asm__("a2") = a3;
    register unsigned long r_a3 __asm__("a3") = a4;
    register unsigned long r_a4 __asm__("a4") = a5;
    __asm__ volatile("ecall"
                     : "+r"(r_a0), "+r"(r_a1)
                     : "r"(r_eid), "r"(r_op), "r"(r_a2), "r"(r_a3), "r"(r_a4)
                     : "memory");
    return r_a0 != 0 ? -XEN_ENOSYS : (long)r_a1;
}
#define _hypercall0(op)                 _hypercall5((op), 0, 0, 0, 0, 0)
#define _hypercall1(op, a)              _hypercall5((op), (a), 0, 0, 0, 0)
#define _hypercall2(op, a, b)           _hypercall5((op), (a), (b), 0, 0, 0)
#define _hypercall3(op, a, b, c)        _hypercall5((op), (a), (b), (c), 0, 0)
#define _hypercall4(op, a, b, c, d)     _hypercall5((op), (a), (b), (c), (d), 0)
#else
/* Raw hypercalls: number plus 0..5 word arguments (the fifth goes in a4). */

static inline long _hypercall0(unsigned long op)
{
    register unsigned long r_op __asm__("a7") = op;
    register long r_a0 __asm__("a0");
    __asm__ volatile("ecall" : "=r"(r_a0) : "r"(r_op) : "memory");
    return r_a0;
}

static inline long _hypercall1(unsigned long op, unsigned long a1)
{
    register unsigned long r_op __asm__("a7") = op;
    register long r_a0 __asm__("a0") = (long)a1;
    __asm__ volatile("ecall" : "+r"(r_a0) : "r"(r_op) : "memory");
    return r_a0;
}

static inline long _hypercall2(unsigned long op, unsigned long a1,
                               unsigned long a2)
{
    register unsigned long r_op __asm__("a7") = op;
    register long r_a0 __asm__("a0") = (long)a1;
    register unsigned long r_a1 __asm__("a1") = a2;
    __asm__ volatile("ecall" : "+r"(r_a0) : "r"(r_op), "r"(r_a1) : "memory");
    return r_a0;
}

static inline long _hypercall3(unsigned long op, unsigned long a1,
                               unsigned long a2, unsigned long a3)
{
    register unsigned long r_op __asm__("a7") = op;
    register long r_a0 __asm__("a0") = (long)a1;
    register unsigned long r_a1 __asm__("a1") = a2;
    register unsigned long r_a2 __asm__("a2") = a3;
    __asm__ volatile("ecall"
                     : "+r"(r_a0)
                     : "r"(r_op), "r"(r_a1), "r"(r_a2)
                     : "memory");
    return r_a0;
}

static inline long _hypercall4(unsigned long op, unsigned long a1,
                               unsigned long a2, unsigned long a3,
                               unsigned long a4)
{
    register unsigned long r_op __asm__("a7") = op;
    register long r_a0 __asm__("a0") = (long)a1;
    register unsigned long r_a1 __asm__("a1") = a2;
    register unsigned long r_a2 __asm__("a2") = a3;
    register unsigned long r_a3 __asm__("a3") = a4;
    __asm__ volatile("ecall"
                     : "+r"(r_a0)
                     : "r"(r_op), "r"(r_a1), "r"(r_a2), "r"(r_a3)
                     : "memory");
    return r_a0;
}

static inline long _hypercall5(unsigned long op, unsigned long a1,
                               unsigned long a2, unsigned long a3,
                               unsigned long a4, unsigned long a5)
{
    register unsigned long r_op __asm__("a7") = op;
    register long r_a0 __asm__("a0") = (long)a1;
    register unsigned long r_a1 __asm__("a1") = a2;
    register unsigned long r_a2 __asm__("a2") = a3;
    register unsigned long r_a3 __asm__("a3") = a4;
    register unsigned long r_a4 __asm__("a4") = a5;
    __asm__ volatile("ecall"
                     : "+r"(r_a0)
                     : "r"(r_op), "r"(r_a1), "r"(r_a2), "r"(r_a3), "r"(r_a4)
                     : "memory");
    return r_a0;
}

#endif /* PVSIM_NATIVE */

#define PV_HC_PTR(p) ((unsigned long)(uintptr_t)(p))

/* Typed wrappers. */

static inline int HYPERVISOR_console_io(int cmd, int count, char *buffer)
{
    return (int)_hypercall3(__HYPERVISOR_console_io, (unsigned long)cmd,
                            (unsigned long)count, PV_HC_PTR(buffer));
}

static inline int HYPERVISOR_sched_op(int cmd, void *arg)
{
    return (int)_hypercall2(__HYPERVISOR_sched_op, (unsigned long)cmd,
                            PV_HC_PTR(arg));
}

static inline int HYPERVISOR_xen_version(int cmd, void *arg)
{
    return (int)_hypercall2(__HYPERVISOR_xen_version, (unsigned long)cmd,
                            PV_HC_PTR(arg));
}

/* Wrappers for interfaces later guests use; argument order follows Xen. */

/* timeout: absolute system time in ns (0 cancels); a0 = low, a1 = high word. */
static inline int HYPERVISOR_set_timer_op(uint64_t timeout)
{
    return (int)_hypercall2(__HYPERVISOR_set_timer_op,
                            (unsigned long)(uint32_t)timeout,
                            (unsigned long)(uint32_t)(timeout >> 32));
}

static inline int HYPERVISOR_event_channel_op(int cmd, void *arg)
{
    return (int)_hypercall2(__HYPERVISOR_event_channel_op, (unsigned long)cmd,
                            PV_HC_PTR(arg));
}

static inline int HYPERVISOR_grant_table_op(unsigned int cmd, void *uop,
                                            unsigned int count)
{
    return (int)_hypercall3(__HYPERVISOR_grant_table_op, cmd, PV_HC_PTR(uop),
                            count);
}

static inline int HYPERVISOR_memory_op(unsigned int cmd, void *arg)
{
    return (int)_hypercall2(__HYPERVISOR_memory_op, cmd, PV_HC_PTR(arg));
}

static inline int HYPERVISOR_mmu_update(void *req, unsigned int count,
                                        unsigned int *success_count,
                                        domid_t domid)
{
    return (int)_hypercall4(__HYPERVISOR_mmu_update, PV_HC_PTR(req), count,
                            PV_HC_PTR(success_count), domid);
}

static inline int HYPERVISOR_mmuext_op(void *op, unsigned int count,
                                       unsigned int *success_count,
                                       domid_t domid)
{
    return (int)_hypercall4(__HYPERVISOR_mmuext_op, PV_HC_PTR(op), count,
                            PV_HC_PTR(success_count), domid);
}

static inline int HYPERVISOR_multicall(void *call_list, unsigned int nr_calls)
{
    return (int)_hypercall2(__HYPERVISOR_multicall, PV_HC_PTR(call_list),
                            nr_calls);
}

static inline int HYPERVISOR_vcpu_op(int cmd, unsigned int vcpuid, void *extra)
{
    return (int)_hypercall3(__HYPERVISOR_vcpu_op, (unsigned long)cmd, vcpuid,
                            PV_HC_PTR(extra));
}

static inline int HYPERVISOR_domctl(void *u_domctl)
{
    return (int)_hypercall1(__HYPERVISOR_domctl, PV_HC_PTR(u_domctl));
}

static inline int HYPERVISOR_sysctl(void *u_sysctl)
{
    return (int)_hypercall1(__HYPERVISOR_sysctl, PV_HC_PTR(u_sysctl));
}

#endif /* !__ASSEMBLER__ */

#endif

/*
 * pvsim's guest system call ABI (a PV kernel's own, not the hypervisor's):
 * `ecall` from U-mode with a7 = number, arguments in a0..a5, result in a0
 * (>= 0, or a negated Xen errno value from pvsim/xen_errno.h). Every other
 * register is preserved. Usable from C and assembly.
 */
#ifndef PVSIM_SYSCALL_H
#define PVSIM_SYSCALL_H

#define SYS_null    0   /* () -> 0 */
#define SYS_write   1   /* (fd = 1 or 2, buf, len) -> len; console output */
#define SYS_yield   2   /* () -> 0; runs the next runnable task */
#define SYS_exit    3   /* (code); does not return */
#define SYS_munmap  4   /* (addr, len) -> 0; drops pages a fault handler mapped (work=pgfault) */
#define NR_SYSCALLS 5

#endif

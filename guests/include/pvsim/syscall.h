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
#define SYS_fork    5   /* () -> the child's id in the parent, 0 in the child; the child's
                         * address space is a copy (text shared, stack and data copied) */
#define SYS_wait    6   /* (id) -> that child's exit code, once it has exited; -ECHILD */
#define SYS_exec    7   /* (program, arg): replaces the task's memory by program's (one of
                         * the kernel's task_programs) and starts it with a0 = arg */
#define NR_SYSCALLS 8

#endif

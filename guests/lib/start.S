/*
 * PV kernel entry. The domain builder enters here in S-mode with Sv32 paging
 * on, a0 = virtual address of start_info, sp = top of a one-page boot stack,
 * sstatus.SIE = 0.
 *
 * We zero .bss while still on the boot stack (it lies outside the image),
 * then move to the library's own 16 KiB stack (section .stack, placed after
 * .bss and not zeroed), install a catch-all trap vector, let the library
 * record si (pv_runtime_init) and call start_kernel(si). If that returns,
 * the domain powers off.
 */
#include <pvsim/sched.h>

#define KERNEL_STACK_SIZE  (16 * 1024)
#define TRAP_STACK_SIZE    (2 * 1024)

    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    mv      s0, a0                      /* keep start_info */

    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:
    la      sp, pv_kernel_stack_top
    la      t0, pv_trap_vector
    csrw    stvec, t0

    mv      a0, s0
    call    pv_runtime_init
    mv      a0, s0
    call    start_kernel

    li      a0, SHUTDOWN_poweroff
    call    xen_shutdown                /* does not return */
3:  j       3b
    .size _start, . - _start

/*
 * Catch-all trap vector (direct mode): any trap reaching here is a bug in the
 * kernel, so report it on a private stack and crash the domain.
 */
    .text
    .balign 4
    .globl pv_trap_vector
    .type pv_trap_vector, @function
pv_trap_vector:
    csrw    sscratch, sp
    la      sp, pv_trap_stack_top
    csrr    a0, scause
    csrr    a1, sepc
    csrr    a2, stval
    csrr    a3, sscratch
    call    pv_unexpected_trap          /* does not return */
4:  j       4b
    .size pv_trap_vector, . - pv_trap_vector

    /* Not part of .bss: pv.ld places .stack after __bss_end, so the
     * zeroing loop above does not spend 18 KiB of stores on it. */
    .section .stack, "aw", @nobits
    .balign 16
pv_kernel_stack:
    .space  KERNEL_STACK_SIZE
    .globl pv_kernel_stack_top
pv_kernel_stack_top:
    .space  TRAP_STACK_SIZE
pv_trap_stack_top:

    .section .note.GNU-stack, "", @progbits

/*
 * Native kernel entry (see pvsim/native.h for the contract): S-mode, paging
 * off, a0 = hart id, a1 = device tree. Zeroes .bss, takes the 16 KiB kernel
 * stack, installs a catch-all trap vector and calls native_boot(hartid, fdt).
 */
#define KERNEL_STACK_SIZE  (16 * 1024)
#define TRAP_STACK_SIZE    (2 * 1024)

    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    csrci   sstatus, 2                  /* SIE off until traps are set up */
    csrw    sie, zero
    mv      s0, a0
    mv      s1, a1
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:  la      sp, native_kernel_stack_top
    la      t0, native_trap_vector
    csrw    stvec, t0
    mv      a0, s0
    mv      a1, s1
    call    native_boot                 /* does not return */
3:  j       3b
    .size _start, . - _start

/* Any trap before trap_init() is a bug: report it on a private stack. */
    .text
    .balign 4
    .type native_trap_vector, @function
native_trap_vector:
    csrw    sscratch, sp
    la      sp, native_trap_stack_top
    csrr    a0, scause
    csrr    a1, sepc
    csrr    a2, stval
    csrr    a3, sscratch
    call    pv_unexpected_trap          /* does not return */
4:  j       4b
    .size native_trap_vector, . - native_trap_vector

    .section .stack, "aw", @nobits
    .balign 16
    .space  KERNEL_STACK_SIZE
    .globl native_kernel_stack_top
native_kernel_stack_top:
    .space  TRAP_STACK_SIZE
native_trap_stack_top:

    .section .note.GNU-stack, "", @progbits

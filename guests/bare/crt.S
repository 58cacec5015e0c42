/*
 * Bare-metal start: M-mode at _start, paging off. Hart 0 zeroes .bss,
 * takes the machine stack from .mbss, installs the catch-all trap vector and
 * calls main(); main's return value goes to bare_exit(). Other harts park.
 */
#define MACHINE_STACK_SIZE (16 * 1024)

    .section .text.init, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    csrr    t0, mhartid
    bnez    t0, park

    la      t0, bare_trap_vector
    csrw    mtvec, t0
    csrw    mie, zero

    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:
    la      sp, bare_machine_stack_top
    call    main
    call    bare_exit                   /* does not return */
park:
    wfi
    j       park
    .size _start, . - _start

/* Catch-all M-mode trap vector (direct mode): report and fail the run. */
    .text
    .balign 4
    .globl bare_trap_vector
    .type bare_trap_vector, @function
bare_trap_vector:
    la      sp, bare_trap_stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    bare_unexpected_trap        /* does not return */
3:  j       3b
    .size bare_trap_vector, . - bare_trap_vector

    .section .mbss.stack, "aw", @nobits
    .balign 16
    .space  MACHINE_STACK_SIZE
    .globl bare_machine_stack_top
bare_machine_stack_top:
    .space  2048
bare_trap_stack_top:

    .section .note.GNU-stack, "", @progbits

/*
 * User-mode programs of the work kernel. They are mapped read-execute at
 * USER_TEXT_BASE, so they must be position-independent (pc-relative only)
 * and keep their data on the stack. Each starts with a0/a1 from task_create
 * and ends with SYS_exit; an unexpected system call result exits with a
 * non-zero code.
 */
#include <pvsim/syscall.h>

    .section .text.user, "ax", @progbits
    .balign 4096
    .globl __user_start
__user_start:

/* user_syscall_loop(a0 = n): n SYS_null calls, each must return 0. */
    .globl user_syscall_loop
user_syscall_loop:
    mv      s0, a0
    li      s1, 0x5a5a1234              /* must survive every ecall */
    beqz    s0, 2f
1:  li      a7, SYS_null
    ecall
    bnez    a0, 9f
    li      t0, SYS_null
    bne     a7, t0, 9f
    addi    s0, s0, -1
    bnez    s0, 1b
2:  li      t0, 0x5a5a1234
    bne     s1, t0, 9f
    li      a0, 0
    j       user_exit
9:  li      a0, 1
    j       user_exit

/* user_yield_loop(a0 = n): n SYS_yield calls. */
    .globl user_yield_loop
user_yield_loop:
    mv      s0, a0
    beqz    s0, 2f
1:  li      a7, SYS_yield
    ecall
    bnez    a0, 9f
    addi    s0, s0, -1
    bnez    s0, 1b
2:  li      a0, 0
    j       user_exit
9:  li      a0, 1
    j       user_exit

/* user_hello(): one SYS_write of a fixed line. */
    .globl user_hello
user_hello:
    li      a0, 1
    lla     a1, hello_msg
    lw      s0, hello_len               /* pc-relative load */
    mv      a2, s0
    li      a7, SYS_write
    ecall
    bne     a0, s0, 9f
    li      a0, 0
    j       user_exit
9:  li      a0, 1
    j       user_exit

user_exit:
    li      a7, SYS_exit
    ecall
1:  j       1b                          /* not reached */

/* Data last, padded by hand to whole words: `.balign` in a relaxed text
 * section assumes 4-byte-aligned code and would not pad after it. */
hello_msg:
    .ascii  "user: hello from U-mode via SYS_write\n"
hello_end:
    .space  (4 - (hello_end - hello_msg) % 4) % 4
hello_len:
    .word   hello_end - hello_msg

    .balign 4096
    .globl __user_end
__user_end:

    .section .note.GNU-stack, "", @progbits

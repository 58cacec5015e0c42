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

/* user_pgfault_loop(a0 = rounds, a1 = pages >= 1, a2 = region base): each
 * round, for page i of the region: load its first word (the first touch of
 * an unmapped page: a load page fault; a fresh frame must read 0), store
 * (round << 16 | i) ^ 0xA5A5A5A5 there and load it back; then
 * SYS_munmap(base, pages * 4096), which must return 0. Exit codes: 0 done,
 * 2 a page did not read 0 first, 3 a value did not read back, 1 munmap
 * failed. */
    .globl user_pgfault_loop
user_pgfault_loop:
    mv      s0, a0                      /* rounds left */
    mv      s1, a1                      /* pages */
    mv      s2, a2                      /* region base */
    li      s3, 0                       /* round */
    li      s4, 0xA5A5A5A5
    li      s5, 4096
    beqz    s0, 2f
1:  li      t0, 0                       /* page index */
    mv      t1, s2                      /* its address */
3:  lw      t2, 0(t1)                   /* first touch: faults */
    bnez    t2, 7f
    slli    t3, s3, 16
    or      t3, t3, t0
    xor     t3, t3, s4
    sw      t3, 0(t1)
    lw      t2, 0(t1)
    bne     t2, t3, 8f
    addi    t0, t0, 1
    add     t1, t1, s5
    bne     t0, s1, 3b
    mv      a0, s2
    slli    a1, s1, 12
    li      a7, SYS_munmap
    ecall
    bnez    a0, 9f
    addi    s3, s3, 1
    addi    s0, s0, -1
    bnez    s0, 1b
2:  li      a0, 0
    j       user_exit
7:  li      a0, 2
    j       user_exit
8:  li      a0, 3
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

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

/* user_fork_loop(a0 = n, a1 = data base, a2 = data pages): n times fork;
 * the child adds (i + 1) to the first word of each data page (its copy),
 * and exits with the sum of the words it wrote; the parent waits for it
 * and adds the child's exit code to the first word of its own first page,
 * so every copy differs from the last. Exit codes: 0 done, 1 a fork or wait
 * failed. */
    .globl user_fork_loop
user_fork_loop:
    mv      s0, a0                      /* forks left */
    mv      s1, a1                      /* data base */
    mv      s2, a2                      /* pages */
    li      s3, 0                       /* i */
    li      s5, 4096
    beqz    s0, 2f
1:  li      a7, SYS_fork
    ecall
    bltz    a0, 9f
    beqz    a0, 5f                      /* the child */
    li      a7, SYS_wait                /* a0 = the child's id */
    ecall
    lw      t0, 0(s1)
    add     t0, t0, a0
    sw      t0, 0(s1)
    addi    s3, s3, 1
    addi    s0, s0, -1
    bnez    s0, 1b
2:  li      a0, 0
    j       user_exit
5:  li      t2, 0                       /* child: sum */
    mv      t1, s1
    mv      t3, s2
6:  lw      t0, 0(t1)
    add     t0, t0, s3
    addi    t0, t0, 1
    sw      t0, 0(t1)
    add     t2, t2, t0
    add     t1, t1, s5
    addi    t3, t3, -1
    bnez    t3, 6b
    mv      a0, t2
    j       user_exit
9:  li      a0, 1
    j       user_exit

/* user_shell(a0 = n, a1 = programs): n commands: fork, and the child execs
 * program i % programs with argument i, while the shell waits for it.
 * Exit codes: 0 done, 1 a fork or wait failed, 2 an exec failed. */
    .globl user_shell
user_shell:
    mv      s0, a0                      /* commands left */
    mv      s1, a1                      /* programs */
    li      s3, 0                       /* i */
    beqz    s0, 2f
1:  li      a7, SYS_fork
    ecall
    bltz    a0, 9f
    beqz    a0, 5f
    li      a7, SYS_wait
    ecall
    addi    s3, s3, 1
    addi    s0, s0, -1
    bnez    s0, 1b
2:  li      a0, 0
    j       user_exit
5:  remu    a0, s3, s1                  /* the child: exec */
    mv      a1, s3
    li      a7, SYS_exec
    ecall
    li      a0, 2                       /* exec returned: it failed */
    j       user_exit
9:  li      a0, 1
    j       user_exit

/* The shell's programs (SYS_exec's table, in this order); each starts with
 * a0 = its argument and exits with what it computed. */

/* prog_true: exit(0). */
    .globl prog_true
prog_true:
    li      a0, 0
    j       user_exit

/* prog_sum(k): sum of j*j for j = 1 .. k % 64 + 16. */
    .globl prog_sum
prog_sum:
    andi    t0, a0, 63
    addi    t0, t0, 16
    li      t1, 0
1:  mul     t2, t0, t0
    add     t1, t1, t2
    addi    t0, t0, -1
    bnez    t0, 1b
    mv      a0, t1
    j       user_exit

/* prog_fib(k): fib(k % 40 + 2), iteratively. */
    .globl prog_fib
prog_fib:
    li      t3, 40
    remu    t0, a0, t3
    addi    t0, t0, 2
    li      t1, 0
    li      t2, 1
1:  add     t3, t1, t2
    mv      t1, t2
    mv      t2, t3
    addi    t0, t0, -1
    bnez    t0, 1b
    mv      a0, t1
    j       user_exit

/* prog_hash(k): writes 256 bytes ((k + j) * 37 & 0xff) on its stack, then
 * FNV-1a over them: the exit code. */
    .globl prog_hash
prog_hash:
    addi    sp, sp, -256
    li      t0, 0
    li      t4, 37
1:  add     t1, a0, t0
    mul     t1, t1, t4
    add     t2, sp, t0
    sb      t1, 0(t2)
    addi    t0, t0, 1
    li      t3, 256
    bne     t0, t3, 1b
    li      a0, 0x811c9dc5
    li      t4, 0x01000193
    li      t0, 0
2:  add     t2, sp, t0
    lbu     t1, 0(t2)
    xor     a0, a0, t1
    mul     a0, a0, t4
    addi    t0, t0, 1
    bne     t0, t3, 2b
    addi    sp, sp, 256
    j       user_exit

/* user_tlbwalk(a0 = steps, a1 = region base, a2 = region pages): a random
 * walk (an LCG) over the region's pages, one word per step at a random
 * offset: load it, store it + 1, fold it into the sum (sum * 31 + value).
 * Exits with the sum, which depends only on steps and pages. */
    .globl user_tlbwalk
user_tlbwalk:
    li      t0, 12345                   /* x */
    li      t1, 1664525
    li      t2, 1013904223
    li      a3, 0                       /* sum */
    li      a4, 31
    beqz    a0, 2f
1:  mul     t0, t0, t1
    add     t0, t0, t2
    srli    t3, t0, 8
    remu    t3, t3, a2                  /* page */
    slli    t3, t3, 12
    slli    t4, t0, 20                  /* word in the page: bits 11..2 */
    srli    t4, t4, 22
    slli    t4, t4, 2
    add     t3, t3, t4
    add     t3, t3, a1
    lw      t5, 0(t3)
    addi    t6, t5, 1
    sw      t6, 0(t3)
    mul     a3, a3, a4
    add     a3, a3, t5
    addi    a0, a0, -1
    bnez    a0, 1b
2:  mv      a0, a3
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

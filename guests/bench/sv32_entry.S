/* M-mode helpers of bench-compute-sv32: PMP, the drop to U-mode, the trap vector. */
#include <pvsim/riscv.h>

    .text

/*
 * Give S/U-mode access to all of memory through PMP entry 0 (NAPOT, RWX).
 * A machine without PMP traps on the CSR write; the temporary trap vector
 * simply resumes after it.
 */
    .globl sv32_open_pmp
    .type sv32_open_pmp, @function
sv32_open_pmp:
    la      t0, 1f
    csrrw   t1, mtvec, t0
    li      t2, -1
    csrw    pmpaddr0, t2
    li      t2, PMP_NAPOT | PMP_R | PMP_W | PMP_X
    csrw    pmpcfg0, t2
    .balign 4
1:  csrw    mtvec, t1
    ret
    .size sv32_open_pmp, . - sv32_open_pmp

/* sv32_enter_user(entry, arg, user_sp): mret to entry(arg) in U-mode. */
    .globl sv32_enter_user
    .type sv32_enter_user, @function
sv32_enter_user:
    csrw    mepc, a0
    csrw    mscratch, sp                /* the trap vector's machine stack */
    li      t0, MSTATUS_MPP_MASK | MSTATUS_MPRV | MSTATUS_MPIE
    csrc    mstatus, t0                 /* MPP = U, no MPRV, interrupts stay off */
    mv      a0, a1
    mv      sp, a2
    mret
    .size sv32_enter_user, . - sv32_enter_user

/* Trap vector while U-mode runs: never returns to U-mode. */
    .balign 4
    .globl sv32_trap_vector
    .type sv32_trap_vector, @function
sv32_trap_vector:
    csrrw   sp, mscratch, sp
    mv      a3, a0
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    sv32_trap                   /* does not return */
2:  j       2b
    .size sv32_trap_vector, . - sv32_trap_vector

    .section .note.GNU-stack, "", @progbits

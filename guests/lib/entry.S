/*
 * S-mode trap entry and exit for PV kernels (see include/pvsim/trap.h; the
 * dispatcher is lib/trap.c).
 *
 * sscratch = 0 while the kernel runs; while a user task runs it holds the
 * task's struct trap_frame. On a trap, swapping sp with sscratch tells the
 * two cases apart:
 *   from S: sp becomes 0; the frame is pushed on the interrupted kernel stack.
 *   from U: sp becomes the task's frame; C code then runs on the kernel stack
 *           pv_user_enter() recorded in pv_user_kernel_sp.
 * pv_trap_dispatch() returns the frame to resume (another task's, after a
 * context switch), and pv_trap_return restores it and srets.
 */
#include <pvsim/trap.h>

    .macro SAVE_GPRS base
    sw      x1, TF_X(1)(\base)
    .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sw      x\r, TF_X(\r)(\base)
    .endr
    .endm

    .macro RESTORE_GPRS base
    lw      x1, TF_X(1)(\base)
    .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    lw      x\r, TF_X(\r)(\base)
    .endr
    .endm

    .text
    .balign 4
    .globl pv_trap_entry
    .type pv_trap_entry, @function
pv_trap_entry:
    csrrw   sp, sscratch, sp
    bnez    sp, .Lfrom_user
    /* From S-mode: sscratch holds the interrupted sp; put it back, keep 0. */
    csrrw   sp, sscratch, zero
    addi    sp, sp, -TF_SIZE
    SAVE_GPRS sp
    addi    t0, sp, TF_SIZE
    sw      t0, TF_X(2)(sp)
    j       .Lsave_csrs
.Lfrom_user:
    /* sp = the task's frame; sscratch = the user sp. Back to "kernel" (0). */
    SAVE_GPRS sp
    csrrw   t0, sscratch, zero
    sw      t0, TF_X(2)(sp)
.Lsave_csrs:
    csrr    t0, sepc
    csrr    t1, sstatus
    csrr    t2, scause
    csrr    t3, stval
    sw      t0, TF_SEPC(sp)
    sw      t1, TF_SSTATUS(sp)
    sw      t2, TF_SCAUSE(sp)
    sw      t3, TF_STVAL(sp)
    mv      a0, sp
    andi    t1, t1, SSTATUS_SPP
    bnez    t1, 1f
    lw      sp, pv_user_kernel_sp       /* from U: the kernel stack */
1:  call    pv_trap_dispatch
    /* fall through with a0 = the frame to resume */
    .size pv_trap_entry, . - pv_trap_entry

/* pv_trap_return(frame): restores the frame and srets (to U if its SPP is 0). */
    .globl pv_trap_return
    .type pv_trap_return, @function
pv_trap_return:
    mv      sp, a0
    lw      t0, TF_SEPC(sp)
    lw      t1, TF_SSTATUS(sp)
    csrw    sepc, t0
    csrw    sstatus, t1                 /* SIE stays 0 until sret */
    andi    t1, t1, SSTATUS_SPP
    bnez    t1, 2f
    csrw    sscratch, sp                /* the next trap from U saves here */
2:  RESTORE_GPRS sp
    lw      sp, TF_X(2)(sp)
    sret
    .size pv_trap_return, . - pv_trap_return

/* unsigned long pv_user_enter(struct trap_frame *f, struct kernel_context *k) */
    .globl pv_user_enter
    .type pv_user_enter, @function
pv_user_enter:
    sw      ra, KC_RA(a1)
    sw      sp, KC_SP(a1)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
    sw      s\n, KC_S(\n)(a1)
    .endr
    csrr    t0, sstatus
    sw      t0, KC_SSTATUS(a1)
    csrci   sstatus, SSTATUS_SIE        /* no upcall until we are in U-mode */
    la      t0, pv_user_kernel_sp
    sw      sp, 0(t0)
    j       pv_trap_return
    .size pv_user_enter, . - pv_user_enter

/* void pv_user_leave(struct kernel_context *k, unsigned long rv) */
    .globl pv_user_leave
    .type pv_user_leave, @function
pv_user_leave:
    csrci   sstatus, SSTATUS_SIE
    lw      ra, KC_RA(a0)
    lw      sp, KC_SP(a0)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
    lw      s\n, KC_S(\n)(a0)
    .endr
    lw      t0, KC_SSTATUS(a0)
    andi    t0, t0, SSTATUS_SIE
    csrs    sstatus, t0
    mv      a0, a1
    ret
    .size pv_user_leave, . - pv_user_leave

    .bss
    .balign 4
    .globl pv_user_kernel_sp
pv_user_kernel_sp:
    .space  4

    .section .note.GNU-stack, "", @progbits

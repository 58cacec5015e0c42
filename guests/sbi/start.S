/*
 * pvsim's M-mode SBI firmware: entry and the M-mode trap vector.
 *
 * QEMU's reset vector enters here in M-mode with a0 = mhartid, a1 = the
 * device tree and a2 = its struct fw_dynamic_info (next_addr, next_mode).
 * Hart 0 boots: zeroes .bss, takes the machine stack and calls
 * sbi_boot(hartid, fdt, dynamic_info), which jumps to the kernel (mret).
 * Other harts park in wfi with interrupts off (there is no HSM).
 *
 * Traps: mscratch holds the top of the machine stack while S/U run and 0
 * while M runs, so a trap taken in M (a firmware bug) is told apart and
 * reported instead of corrupting the stack.
 */
#define FRAME_SIZE 144              /* x1..x31, mepc, mstatus, mcause, mtval: 35 words, rounded */
#define F_MEPC     128
#define F_MSTATUS  132
#define F_MCAUSE   136
#define F_MTVAL    140
#define STACK_SIZE (8 * 1024)

    .section .text.start, "ax", @progbits
    .globl _start
_start:
    csrw    mie, zero
    csrw    mip, zero
    bnez    a0, .Lpark
    mv      s0, a0
    mv      s1, a1
    mv      s2, a2
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:  la      sp, sbi_stack_top
    csrw    mscratch, zero
    la      t0, sbi_trap_vector
    csrw    mtvec, t0
    mv      a0, s0
    mv      a1, s1
    mv      a2, s2
    call    sbi_boot                    /* does not return */
.Lpark:
    wfi
    j       .Lpark

/* void sbi_enter_kernel(hartid, fdt, entry): mret to S-mode at entry
 * (mstatus.MPP = S already set by the caller) with a0/a1 as given. */
    .globl sbi_enter_kernel
sbi_enter_kernel:
    csrw    mepc, a2
    la      t0, sbi_stack_top
    csrw    mscratch, t0
    li      a2, 0
    .irp r, ra,sp,gp,tp,t0,t1,t2,s0,s1,s2,s3,s4,s5,s6,s7,s8,s9,s10,s11,a3,a4,a5,a6,a7,t3,t4,t5,t6
    li      \r, 0
    .endr
    mret

    .text
    .balign 4
sbi_trap_vector:
    csrrw   sp, mscratch, sp
    beqz    sp, .Lfrom_m
    addi    sp, sp, -FRAME_SIZE
    sw      x1, 4(sp)
    .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sw      x\r, (\r * 4)(sp)
    .endr
    csrrw   t0, mscratch, zero          /* the interrupted sp; M now runs */
    sw      t0, 8(sp)
    csrr    t0, mepc
    csrr    t1, mstatus
    csrr    t2, mcause
    csrr    t3, mtval
    sw      t0, F_MEPC(sp)
    sw      t1, F_MSTATUS(sp)
    sw      t2, F_MCAUSE(sp)
    sw      t3, F_MTVAL(sp)
    mv      a0, sp
    call    sbi_trap
    lw      t0, F_MEPC(sp)
    lw      t1, F_MSTATUS(sp)
    csrw    mepc, t0
    csrw    mstatus, t1
    addi    t0, sp, FRAME_SIZE
    csrw    mscratch, t0                /* back to S/U: the stack is free again */
    lw      x1, 4(sp)
    .irp r, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    lw      x\r, (\r * 4)(sp)
    .endr
    lw      sp, 8(sp)
    mret
.Lfrom_m:
    /* A trap in M-mode: sp is 0, mscratch the firmware's sp. */
    csrr    sp, mscratch
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    sbi_m_fault                 /* does not return */
3:  j       3b

    .section .stack, "aw", @nobits
    .balign 16
    .space  STACK_SIZE
    .globl sbi_stack_top
sbi_stack_top:

    .section .note.GNU-stack, "", @progbits

/* pvstub: guest entry, the M-mode trap vector (full register save) and the embedded kernel. */
#include <pvsim/riscv.h>

    .text
/* stub_enter_guest(entry, a0, sp): mret into S-mode with paging on. */
    .globl stub_enter_guest
stub_enter_guest:
    csrw    mepc, a0
    la      t0, stub_frame
    csrw    mscratch, t0
    li      t0, MSTATUS_MPP_MASK | MSTATUS_MPRV | MSTATUS_MPIE | MSTATUS_SIE
    csrc    mstatus, t0
    li      t0, MSTATUS_MPP_S
    csrs    mstatus, t0
    mv      a0, a1
    mv      sp, a2
    li      ra, 0
    mret

    .balign 4
    .globl stub_trap_vector
stub_trap_vector:
    csrrw   t6, mscratch, t6            /* t6 = frame */
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    sw      x\r, (\r * 4)(t6)
    .endr
    csrr    t5, mscratch                /* guest t6 */
    sw      t5, (31 * 4)(t6)
    csrw    mscratch, t6
    la      sp, stub_trap_stack_top
    mv      a0, t6
    call    stub_trap
    csrr    t6, mscratch
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    lw      x\r, (\r * 4)(t6)
    .endr
    lw      t6, (31 * 4)(t6)
    mret

    .section .mbss.stub, "aw", @nobits
    .balign 16
stub_frame:
    .space  32 * 4
    .space  4096
stub_trap_stack_top:

    .section .rodata
    .balign 4
    .globl guest_elf, guest_elf_end
guest_elf:
    .incbin GUEST_ELF
guest_elf_end:

    .section .note.GNU-stack, "", @progbits

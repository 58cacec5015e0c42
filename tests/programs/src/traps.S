/*
 * traps.S - exceptions, interrupts and privilege changes: ecall/ebreak/illegal from
 * M, S and U; mret/sret state transitions; exception delegation (medeleg) and interrupt
 * delegation (mideleg) with the software-writable SSIP/STIP/SEIP; vectored mtvec and
 * stvec; interrupt priority; wfi; TSR, TW, TVM; xRET privilege checks; mepc/sepc
 * alignment.
 *
 * s10 is written by the vectored-table stubs (the cause number they were entered for).
 */
#include "test.h"

/* Back to M-mode from S with an illegal instruction (works while ecall from S is
 * delegated). Clobbers t3-t6, tp. */
.macro GOTO_M_FROM_S_ILL label
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, \label
  .word 0
  j fail
.endm

/* Clear all interrupt state. */
.macro IRQ_RESET
  csrci mstatus, MSTATUS_MIE | MSTATUS_SIE
  csrw mie, zero
  csrw mip, zero
  csrw mideleg, zero
.endm

test_main:
  li s10, -1

  /* =========================================================== ECALL, EBREAK */
  TEST_CASE 1                               /* ecall from M: cause 11, mepc = the ecall */
  EXPECT_TRAP CAUSE_MACHINE_ECALL, 1f
2:
  ecall
  j fail
1:
  CHECK_TRAP CAUSE_MACHINE_ECALL
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_M
  csrr s0, mcause
  CHECK s0, CAUSE_MACHINE_ECALL

  TEST_CASE 2                               /* ecall from S: cause 9 */
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  GOTO_S 2f
2:
  ecall
  j fail
1:
  CHECK_TRAP CAUSE_SUPERVISOR_ECALL
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S

  TEST_CASE 3                               /* ecall from U: cause 8 */
  EXPECT_TRAP CAUSE_USER_ECALL, 1f
  GOTO_U 2f
2:
  ecall
  j fail
1:
  CHECK_TRAP CAUSE_USER_ECALL
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U

  TEST_CASE 4                               /* ebreak from M, S, U: cause 3 */
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
2:
  ebreak
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_M
  TEST_CASE 5
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_S 2f
2:
  ebreak
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 6
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  ebreak
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U

  TEST_CASE 7                               /* a resumed ecall: execution goes on in the same mode */
  li s0, 0
  EXPECT_TRAP_SAME CAUSE_SUPERVISOR_ECALL, 2f
  GOTO_S 1f
1:
  ecall
  j fail
2:
  li s0, 1
  GOTO_M_FROM_S 3f
3:
  CHECK s0, 1

  /* ===================================================== illegal instructions */
  TEST_CASE 8                               /* all-zero word: mtval = 0 */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
2:
  .word 0x00000000
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0
  TEST_CASE 9                               /* all-ones word */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
2:
  .word 0xffffffff
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0xffffffff
  TEST_CASE 10                              /* reserved funct7 on SLL */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
2:
  .word 0x40b51533
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0x40b51533
  TEST_CASE 11                              /* slli with shamt[5] set (RV64 only) */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
2:
  .word 0x02051513
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x02051513
  TEST_CASE 12                              /* RV64 opcode (addiw) */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
2:
  .word 0x0015051b
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x0015051b
  TEST_CASE 13                              /* load with reserved funct3 (ld on RV32) */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
2:
  .word 0x00053503
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x00053503
  TEST_CASE 14                              /* illegal from S and from U */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  .word 0x00000000
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 15
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  .word 0xffffffff
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0xffffffff
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U

  /* ======================================================== trap entry state */
  TEST_CASE 16                              /* M trap: MPIE <- MIE, MIE <- 0, MPP <- M */
  csrsi mstatus, MSTATUS_MIE
  EXPECT_TRAP CAUSE_MACHINE_ECALL, 1f
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP_M
  TEST_CASE 17                              /* MIE = 0 gives MPIE = 0 */
  csrw mstatus, zero
  EXPECT_TRAP CAUSE_MACHINE_ECALL, 1f
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPP_M
  TEST_CASE 18                              /* trap from S into M leaves the S fields alone */
  csrw mstatus, zero
  li s1, MSTATUS_SPIE
  csrs mstatus, s1
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_MPP | MSTATUS_MIE, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_MPP_S
  csrw mstatus, zero

  /* ============================================================ MRET, SRET */
  TEST_CASE 19                              /* mret to M: MIE <- MPIE, MPIE <- 1, MPP <- U */
  li s1, MSTATUS_MPP_M | MSTATUS_MPIE
  csrw mstatus, s1
  la s1, 1f
  csrw mepc, s1
  mret
  j fail
1:
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP_U
  TEST_CASE 20                              /* MPIE = 0 gives MIE = 0 */
  li s1, MSTATUS_MPP_M | MSTATUS_MIE
  csrw mstatus, s1
  la s1, 1f
  csrw mepc, s1
  mret
  j fail
1:
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP_U
  TEST_CASE 21                              /* mret to M keeps MPRV */
  li s1, MSTATUS_MPP_M | MSTATUS_MPRV
  csrw mstatus, s1
  la s1, 1f
  csrw mepc, s1
  mret
  j fail
1:
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MPRV, MSTATUS_MPRV
  csrw mstatus, zero
  TEST_CASE 22                              /* mret to S clears MPRV; MPIE survives into S */
  li s1, MSTATUS_MPP_S | MSTATUS_MPRV | MSTATUS_MPIE
  csrw mstatus, s1
  la s1, 2f
  csrw mepc, s1
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  mret
2:
  ecall
  j fail
1:
  mv s0, t6
  CHECK_MASKED s0, MSTATUS_MPP | MSTATUS_MPIE | MSTATUS_MIE, MSTATUS_MPP_S | MSTATUS_MPIE
  SKIP_IF_QEMU7 2f                          /* QEMU 7.2 keeps MPRV (pre-1.12 behaviour) */
  CHECK_MASKED t6, MSTATUS_MPRV, 0
2:
  csrw mstatus, zero
  TEST_CASE 23                              /* mret to U clears MPRV */
  li s1, MSTATUS_MPP_U | MSTATUS_MPRV
  csrw mstatus, s1
  la s1, 2f
  csrw mepc, s1
  EXPECT_TRAP CAUSE_USER_ECALL, 1f
  mret
2:
  ecall
  j fail
1:
  mv s0, t6
  CHECK_MASKED s0, MSTATUS_MPP, MSTATUS_MPP_U
  SKIP_IF_QEMU7 2f
  CHECK_MASKED t6, MSTATUS_MPRV, 0
2:
  csrw mstatus, zero

  TEST_CASE 24                              /* sret in S: SIE <- SPIE, SPIE <- 1, SPP <- U */
  GOTO_S 2f
2:
  li s1, MSTATUS_SPP | MSTATUS_SPIE
  csrw sstatus, s1
  la s1, 3f
  csrw sepc, s1
  sret
  j fail
3:
  csrr s0, sstatus
  CHECK_MASKED s0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SIE | MSTATUS_SPIE
  csrci sstatus, MSTATUS_SIE
  TEST_CASE 25                              /* SPIE = 0 gives SIE = 0 */
  li s1, MSTATUS_SPP | MSTATUS_SIE
  csrw sstatus, s1
  la s1, 3f
  csrw sepc, s1
  sret
  j fail
3:
  csrr s0, sstatus
  CHECK_MASKED s0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE
  TEST_CASE 26                              /* sret with SPP = U goes to U */
  csrw sstatus, zero
  EXPECT_TRAP CAUSE_USER_ECALL, 1f
  la s1, 3f
  csrw sepc, s1
  sret
  j fail
3:
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  TEST_CASE 27                              /* sret executed in M-mode goes to SPP */
  li s1, MSTATUS_SPP
  csrw mstatus, s1
  la s1, 2f
  csrw sepc, s1
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  sret
  j fail
2:
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_MPP | MSTATUS_SPP, MSTATUS_MPP_S
  csrw mstatus, zero

  /* ====================================================== xRET privilege */
  TEST_CASE 28                              /* mret in S is illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  mret
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0x30200073
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 29                              /* mret in U is illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  mret
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x30200073
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  TEST_CASE 30                              /* sret in U is illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  sret
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0x10200073
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U

  /* =========================================================== TSR TW TVM */
  TEST_CASE 31                              /* TSR = 1: sret in S is illegal */
  li s1, MSTATUS_TSR
  csrs mstatus, s1
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  la s1, fail
  csrw sepc, s1
3:
  sret
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 3b
  CHECK t5, 0x10200073
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 32                              /* TSR does not affect sret in M */
  li s1, MSTATUS_SPP
  csrs mstatus, s1
  la s1, 2f
  csrw sepc, s1
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  sret
  j fail
2:
  ecall
  j fail
1:
  li s1, MSTATUS_TSR
  csrc mstatus, s1
  TEST_CASE 33                              /* TSR = 0: sret in S works */
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  GOTO_S 2f
2:
  li s1, MSTATUS_SPP
  csrs sstatus, s1
  la s1, 3f
  csrw sepc, s1
  sret
  j fail
3:
  ecall
  j fail
1:
  CHECK_TRAP CAUSE_SUPERVISOR_ECALL

  TEST_CASE 34                              /* TW = 1: wfi in S is illegal */
  IRQ_RESET
  li s1, MSTATUS_TW
  csrs mstatus, s1
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  wfi
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0x10500073
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 35                              /* TW = 1: wfi in U is illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  wfi
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x10500073
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  TEST_CASE 36                              /* TW does not affect M; wfi with an interrupt
                                               pending and enabled in mie returns at once */
  li s1, MIP_SSIP
  csrw mie, s1
  csrw mip, s1
  wfi
  csrw mip, zero
  csrw mie, zero
  li s1, MSTATUS_TW
  csrc mstatus, s1
  TEST_CASE 37                              /* TW = 0: wfi in S with a (delegated, SIE = 0)
                                               interrupt pending returns at once */
  li s1, MIP_SSIP
  csrw mideleg, s1
  csrw mie, s1
  csrw mip, s1
  GOTO_S 2f
2:
  wfi
  csrci sip, MIP_SSIP
  GOTO_M_FROM_S 1f
1:
  IRQ_RESET
  TEST_CASE 38                              /* wfi in U (S-mode exists), nothing pending:
                                               illegal even with TW = 0 */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  wfi
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U

  TEST_CASE 39                              /* TVM = 1: satp read in S is illegal */
  li s1, MSTATUS_TVM
  csrs mstatus, s1
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  csrr s0, satp
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  TEST_CASE 40                              /* satp write */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  csrw satp, zero
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  TEST_CASE 41                              /* sfence.vma */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  sfence.vma
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x12000073
  TEST_CASE 42                              /* sfence.vma with operands */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  sfence.vma a0, a1
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  TEST_CASE 43                              /* TVM does not affect M */
  csrr s0, satp
  csrw satp, zero
  sfence.vma
  li s1, MSTATUS_TVM
  csrc mstatus, s1
  TEST_CASE 44                              /* TVM = 0: all three work in S */
  GOTO_S 2f
2:
  csrr s0, satp
  csrw satp, zero
  sfence.vma
  sfence.vma a0, a1
  GOTO_M_FROM_S 1f
1:
  TEST_CASE 45                              /* sfence.vma in U is illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  sfence.vma
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK t5, 0x12000073

  /* ====================================================== mepc/sepc alignment */
  TEST_CASE 46                              /* bit 0 always reads 0, bit 1 too without C */
  SKIP_IF_QEMU7 1f                          /* QEMU 7.2 keeps the written bits */
  li s1, 0x80000003
  csrw mepc, s1
  csrr s0, mepc
  li s2, 0x80000000
  csrr s3, misa
  andi s3, s3, MISA_BIT('C')
  beqz s3, 2f
  li s2, 0x80000002
2:
  CHECKR s0, s2
  csrw sepc, s1
  csrr s0, sepc
  CHECKR s0, s2
  li s1, 0x00000001
  csrw mepc, s1
  csrr s0, mepc
  CHECK s0, 0
1:

  /* ========================================================== delegation */
  TEST_CASE 47                              /* medeleg[8]: ecall from U is taken in S */
  li s1, 1 << CAUSE_USER_ECALL
  csrw medeleg, s1
  csrw mcause, zero
  EXPECT_STRAP CAUSE_USER_ECALL, 1f
  GOTO_U 2f
2:
  ecall
  j fail
1:                                          /* S-mode now */
  CHECK_TRAP CAUSE_USER_ECALL
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_SPP, 0           /* came from U */
  csrr s0, scause
  CHECK s0, CAUSE_USER_ECALL
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 48                              /* S trap entry: SPIE <- SIE, SIE <- 0, SPP */
  EXPECT_STRAP CAUSE_USER_ECALL, 1f
  li s1, MSTATUS_SIE
  csrs mstatus, s1
  GOTO_U 2f
2:
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE
  GOTO_M_FROM_S 3f
3:
  csrw mstatus, zero
  TEST_CASE 49                              /* the S handler returns to U with sret */
  li s0, 0
  EXPECT_STRAP_SAME CAUSE_USER_ECALL, 2f
  GOTO_U 1f
1:
  ecall
  j fail
2:
  li s0, 1                                  /* U-mode again */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 3f
  csrr s1, sstatus                          /* illegal in U: M handler (not delegated) */
  j fail
3:
  CHECK s0, 1
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  TEST_CASE 50                              /* ecall from S is not delegated by bit 8 */
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 1f
  GOTO_S 2f
2:
  ecall
  j fail
1:
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 51                              /* medeleg[2]: illegal from S and U go to S */
  li s1, (1 << CAUSE_USER_ECALL) | (1 << CAUSE_ILLEGAL_INSTRUCTION) | (1 << CAUSE_BREAKPOINT)
  csrw medeleg, s1
  EXPECT_STRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  .word 0xffffffff
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_EPC 2b
  CHECK t5, 0xffffffff
  CHECK_MASKED t6, MSTATUS_SPP, MSTATUS_SPP
  csrr s0, stval
  CHECK s0, 0xffffffff
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 52
  EXPECT_STRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_U 2f
2:
  csrr s0, mstatus
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  CHECK_MASKED t6, MSTATUS_SPP, 0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 53                              /* medeleg[3]: ebreak from U goes to S */
  EXPECT_STRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  ebreak
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC 2b
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 54                              /* traps from M are never delegated */
  li s1, -1
  csrw medeleg, s1
  EXPECT_TRAP CAUSE_MACHINE_ECALL, 1f
  ecall
  j fail
1:
  TEST_CASE 55
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  .word 0
  j fail
1:
  TEST_CASE 56
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  ebreak
  j fail
1:
  TEST_CASE 57
  EXPECT_TRAP CAUSE_MISALIGNED_LOAD, 1f
  la s1, 1f
  addi s1, s1, 1
  lr.w s0, (s1)
  j fail
1:
  TEST_CASE 58                              /* ecall from S delegated to S itself */
  li s1, 1 << CAUSE_SUPERVISOR_ECALL
  csrw medeleg, s1
  EXPECT_STRAP CAUSE_SUPERVISOR_ECALL, 1f
  GOTO_S 2f
2:
  ecall
  j fail
1:
  CHECK_TRAP CAUSE_SUPERVISOR_ECALL
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_SPP, MSTATUS_SPP
  GOTO_M_FROM_S_ILL 3f                      /* ecall would stay in S */
3:
  csrw medeleg, zero

  /* ======================================== interrupts, not delegated (to M) */
  TEST_CASE 59                              /* SSIP pending + SSIE + MIE: taken in M */
  IRQ_RESET
  li s1, MIP_SSIP
  csrw mie, s1
  csrw mip, s1
  EXPECT_TRAP INTR | IRQ_S_SOFT, 1f
  csrsi mstatus, MSTATUS_MIE
2:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  CHECK_EPC 2b                              /* the next instruction */
  CHECK t5, 0
  CHECK_MASKED t6, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP, MSTATUS_MPIE | MSTATUS_MPP_M
  csrr s0, mcause
  CHECK s0, INTR | IRQ_S_SOFT
  TEST_CASE 60                              /* MIE = 0: not taken in M */
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MIE, 0
  nop
  nop
  csrr s0, mip
  CHECK_MASKED s0, MIP_SSIP, MIP_SSIP
  TEST_CASE 61                              /* ... but taken from S whatever MIE says */
  EXPECT_TRAP INTR | IRQ_S_SOFT, 1f
  GOTO_S 2f
2:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  TEST_CASE 62                              /* ... and from U */
  EXPECT_TRAP INTR | IRQ_S_SOFT, 1f
  GOTO_U 2f
2:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  TEST_CASE 63                              /* disabled in mie: never taken */
  csrw mie, zero
  GOTO_S 2f
2:
  nop
  GOTO_M_FROM_S 1f
1:
  csrsi mstatus, MSTATUS_MIE
  nop
  csrci mstatus, MSTATUS_MIE
  TEST_CASE 64                              /* STIP -> cause 5, SEIP -> cause 9 */
  IRQ_RESET
  li s1, MIP_STIP
  csrw mie, s1
  csrw mip, s1
  EXPECT_TRAP INTR | IRQ_S_TIMER, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_TIMER
  TEST_CASE 65
  IRQ_RESET
  li s1, MIP_SEIP
  csrw mie, s1
  csrw mip, s1
  EXPECT_TRAP INTR | IRQ_S_EXT, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_EXT
  TEST_CASE 66                              /* priority: SEI, then SSI, then STI */
  IRQ_RESET
  SKIP_IF_QEMU7 .Lskip_prio_m               /* QEMU 7.2 (no AIA) takes the lowest number */
  li s1, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mie, s1
  csrw mip, s1
  EXPECT_TRAP INTR | IRQ_S_EXT, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_EXT
  li s1, MIP_SEIP
  csrc mip, s1
  EXPECT_TRAP INTR | IRQ_S_SOFT, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  li s1, MIP_SSIP
  csrc mip, s1
  EXPECT_TRAP INTR | IRQ_S_TIMER, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_TIMER
.Lskip_prio_m:
  IRQ_RESET
  TEST_CASE 67                              /* priority holds when taken from U too */
  li s1, MIP_SSIP | MIP_STIP
  csrw mie, s1
  csrw mip, s1
  EXPECT_TRAP INTR | IRQ_S_SOFT, 1f
  GOTO_U 2f
2:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  IRQ_RESET

  /* ====================================== interrupts, delegated (to S) */
  TEST_CASE 68                              /* delegated SSI, in S with SIE = 1: taken in S */
  li s1, MIP_SSIP
  csrw mideleg, s1
  csrw mie, s1
  csrw mip, s1
  EXPECT_STRAP INTR | IRQ_S_SOFT, 1f
  GOTO_S 2f
2:
  nop                                       /* SIE = 0: not yet */
  csrsi sstatus, MSTATUS_SIE
3:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  CHECK_EPC 3b
  CHECK t5, 0
  CHECK_MASKED t6, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP, MSTATUS_SPIE | MSTATUS_SPP
  csrr s0, scause
  CHECK s0, INTR | IRQ_S_SOFT
  csrr s0, sip
  CHECK_MASKED s0, MIP_SSIP, MIP_SSIP
  csrci sip, MIP_SSIP                       /* S clears its own software interrupt */
  csrr s0, sip
  CHECK_MASKED s0, MIP_SSIP, 0
  GOTO_M_FROM_S 4f
4:
  csrr s0, mip
  CHECK_MASKED s0, MIP_SSIP, 0
  TEST_CASE 69                              /* delegated: never taken in M, MIE or not */
  li s1, MIP_SSIP
  csrw mip, s1
  li s1, MSTATUS_MIE | MSTATUS_SIE
  csrs mstatus, s1
  nop
  nop
  csrc mstatus, s1
  TEST_CASE 70                              /* delegated, from U: taken in S whatever SIE */
  EXPECT_STRAP INTR | IRQ_S_SOFT, 1f
  GOTO_U 2f
2:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  CHECK_EPC 2b
  CHECK_MASKED t6, MSTATUS_SPP, 0
  csrci sip, MIP_SSIP
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 71                              /* S can raise its own SSIP through sip */
  csrw mip, zero
  EXPECT_STRAP INTR | IRQ_S_SOFT, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  csrsi sip, MIP_SSIP
3:
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  CHECK_EPC 3b
  csrci sip, MIP_SSIP
  GOTO_M_FROM_S 4f
4:
  IRQ_RESET
  TEST_CASE 72                              /* delegated SEI: taken in S, cause 9 */
  li s1, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mideleg, s1
  csrw mie, s1
  li s1, MIP_SEIP
  csrw mip, s1
  EXPECT_STRAP INTR | IRQ_S_EXT, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_EXT
  CHECK t5, 0
  csrr s0, sip
  CHECK_MASKED s0, MIP_SEIP, MIP_SEIP
  GOTO_M_FROM_S 3f
3:
  csrw mip, zero                            /* SEIP is M's to clear */
  TEST_CASE 73                              /* delegated STI: taken in S, cause 5 */
  li s1, MIP_STIP
  csrw mip, s1
  EXPECT_STRAP INTR | IRQ_S_TIMER, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_TIMER
  csrr s0, sip
  CHECK_MASKED s0, MIP_STIP, MIP_STIP
  li s1, MIP_STIP
  csrc sip, s1                              /* read-only in sip: stays pending */
  csrr s0, sip
  CHECK_MASKED s0, MIP_STIP, MIP_STIP
  GOTO_M_FROM_S 3f
3:
  csrw mip, zero
  TEST_CASE 74                              /* delegated priority: SEI > SSI > STI */
  SKIP_IF_QEMU7 .Lskip_prio_s
  li s1, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mip, s1
  EXPECT_STRAP INTR | IRQ_S_EXT, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_EXT
  GOTO_M_FROM_S 3f
3:
  li s1, MIP_SEIP
  csrc mip, s1
  EXPECT_STRAP INTR | IRQ_S_SOFT, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_SOFT
  csrci sip, MIP_SSIP
  EXPECT_STRAP INTR | IRQ_S_TIMER, 1f
  csrsi sstatus, MSTATUS_SIE                /* still in S */
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_TIMER
  GOTO_M_FROM_S 3f
3:
.Lskip_prio_s:
  IRQ_RESET
  TEST_CASE 75                              /* M-level before S-level: STI to M wins over
                                               a delegated SSI while in S */
  li s1, MIP_SSIP
  csrw mideleg, s1
  li s1, MIP_SSIP | MIP_STIP
  csrw mie, s1
  csrw mip, s1
  EXPECT_TRAP INTR | IRQ_S_TIMER, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
  j fail
1:
  CHECK_TRAP INTR | IRQ_S_TIMER
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  IRQ_RESET

  /* ====================================================== vectored mode */
  TEST_CASE 76                              /* mtvec MODE = 1: interrupt n -> base + 4n */
  la s1, vec_m
  ori s1, s1, 1
  csrw mtvec, s1
  li s1, MIP_SSIP
  csrw mie, s1
  csrw mip, s1
  li s10, -1
  EXPECT_TRAP INTR | IRQ_S_SOFT, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK s10, IRQ_S_SOFT
  IRQ_RESET
  TEST_CASE 77
  li s1, MIP_STIP
  csrw mie, s1
  csrw mip, s1
  li s10, -1
  EXPECT_TRAP INTR | IRQ_S_TIMER, 1f
  csrsi mstatus, MSTATUS_MIE
  j fail
1:
  CHECK s10, IRQ_S_TIMER
  IRQ_RESET
  TEST_CASE 78
  li s1, MIP_SEIP
  csrw mie, s1
  csrw mip, s1
  li s10, -1
  EXPECT_TRAP INTR | IRQ_S_EXT, 1f
  GOTO_U 2f                                 /* from U this time */
2:
  j fail
1:
  CHECK s10, IRQ_S_EXT
  IRQ_RESET
  TEST_CASE 79                              /* exceptions still go to base */
  li s10, -1
  EXPECT_TRAP CAUSE_MACHINE_ECALL, 1f
  ecall
  j fail
1:
  CHECK s10, -1
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  .word 0
  j fail
1:
  CHECK s10, -1
  la s1, trap_m
  csrw mtvec, s1
  TEST_CASE 80                              /* stvec MODE = 1 for a delegated interrupt */
  la s1, vec_s
  ori s1, s1, 1
  csrw stvec, s1
  li s1, MIP_STIP
  csrw mideleg, s1
  csrw mie, s1
  csrw mip, s1
  li s10, -1
  EXPECT_STRAP INTR | IRQ_S_TIMER, 1f
  GOTO_U 2f
2:
  j fail
1:
  CHECK s10, IRQ_S_TIMER
  GOTO_M_FROM_S 3f
3:
  IRQ_RESET
  TEST_CASE 81                              /* ... and a delegated exception goes to base */
  li s1, 1 << CAUSE_USER_ECALL
  csrw medeleg, s1
  li s10, -1
  EXPECT_STRAP CAUSE_USER_ECALL, 1f
  GOTO_U 2f
2:
  ecall
  j fail
1:
  CHECK s10, -1
  GOTO_M_FROM_S 3f
3:
  csrw medeleg, zero
  la s1, trap_s
  csrw stvec, s1

  TEST_PASS

/* Vector tables: entry 0 (exceptions) goes straight to the handler, entry n records
 * n in s10 first. */
  .align 8
vec_m:
  j trap_m
  .irp k, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j vec_m_\k
  .endr
  .irp k, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
vec_m_\k:
  li s10, \k
  j trap_m
  .endr

  .align 8
vec_s:
  j trap_s
  .irp k, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
  j vec_s_\k
  .endr
  .irp k, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
vec_s_\k:
  li s10, \k
  j trap_s
  .endr

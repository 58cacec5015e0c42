/*
 * csr.S - Zicsr: the six CSR instructions, read-only and unimplemented CSRs, CSR
 * privilege, misa, the WARL fields of mstatus and its sstatus view, mie/mip/sie/sip
 * masks, satp, and the counters (cycle, instret, time) with mcounteren/scounteren
 * gating from S and U.
 */
#include "test.h"

/* insn must raise illegal-instruction in M-mode, with mtval = its bits and rd (s0)
 * left alone. */
.macro T_ILL_M n, insn:vararg
  TEST_CASE \n
  li s0, 0x0bad0bad
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, .Lm1_\@
  \insn
  j fail
.Lm1_\@:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  CHECK s0, 0x0bad0bad
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_M
.endm
/* ... in S-mode */
.macro T_ILL_S n, insn:vararg
  TEST_CASE \n
  li s0, 0x0bad0bad
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, .Lm1_\@
  GOTO_S .Lm2_\@
.Lm2_\@:
  \insn
  j fail
.Lm1_\@:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  CHECK s0, 0x0bad0bad
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
.endm
/* ... in U-mode */
.macro T_ILL_U n, insn:vararg
  TEST_CASE \n
  li s0, 0x0bad0bad
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, .Lm1_\@
  GOTO_U .Lm2_\@
.Lm2_\@:
  \insn
  j fail
.Lm1_\@:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION
  CHECK_TVAL_INSN
  CHECK s0, 0x0bad0bad
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
.endm
/* insn must work in U-mode (s0 = its result, back in M afterwards). */
.macro T_OK_U n, insn:vararg
  TEST_CASE \n
  li s0, 0x0bad0bad
  GOTO_U .Lm2_\@
.Lm2_\@:
  \insn
  GOTO_M_FROM_U .Lm3_\@
.Lm3_\@:
.endm
.macro T_OK_S n, insn:vararg
  TEST_CASE \n
  li s0, 0x0bad0bad
  GOTO_S .Lm2_\@
.Lm2_\@:
  \insn
  GOTO_M_FROM_S .Lm3_\@
.Lm3_\@:
.endm

test_main:
  /* s11 = 1 when the time CSR exists. QEMU's spike machine has none (there M-mode
   * software emulates it); pvsim has one. */
  li s11, 0
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  csrr s0, time
  li t4, 0                                  /* disarm */
  li s11, 1
1:

  /* ------------------------------------------------------------ CSRRW/S/C */
  TEST_CASE 1                               /* csrrw: returns the old value, writes the new */
  li s1, 0x12345678
  csrw mscratch, s1
  li s2, 0x9abcdef0
  csrrw s0, mscratch, s2
  CHECK s0, 0x12345678
  csrr s0, mscratch
  CHECK s0, 0x9abcdef0
  TEST_CASE 2                               /* rd == rs1: a swap */
  li s1, 0x0f0f0f0f
  csrrw s1, mscratch, s1
  CHECK s1, 0x9abcdef0
  csrr s0, mscratch
  CHECK s0, 0x0f0f0f0f
  TEST_CASE 3                               /* rs1 == x0 writes zero */
  csrrw s0, mscratch, x0
  CHECK s0, 0x0f0f0f0f
  csrr s0, mscratch
  CHECK s0, 0
  TEST_CASE 4                               /* all 32 bits are kept */
  li s1, 0xffffffff
  csrw mscratch, s1
  csrr s0, mscratch
  CHECK s0, 0xffffffff
  li s1, 0x80000001
  csrw mscratch, s1
  csrr s0, mscratch
  CHECK s0, 0x80000001
  TEST_CASE 5                               /* csrrs sets bits and returns the old value */
  li s1, 0x00ff0000
  csrw mscratch, s1
  li s2, 0x0000ff01
  csrrs s0, mscratch, s2
  CHECK s0, 0x00ff0000
  csrr s0, mscratch
  CHECK s0, 0x00ffff01
  TEST_CASE 6                               /* csrrs with rs1 == x0 only reads */
  csrrs s0, mscratch, x0
  CHECK s0, 0x00ffff01
  csrr s0, mscratch
  CHECK s0, 0x00ffff01
  TEST_CASE 7                               /* csrrc clears bits and returns the old value */
  li s2, 0x00f00f00
  csrrc s0, mscratch, s2
  CHECK s0, 0x00ffff01
  csrr s0, mscratch
  CHECK s0, 0x000ff001
  TEST_CASE 8                               /* csrrc with rs1 == x0 only reads */
  csrrc s0, mscratch, x0
  CHECK s0, 0x000ff001
  csrr s0, mscratch
  CHECK s0, 0x000ff001
  TEST_CASE 9                               /* csrrs/csrrc with rd == rs1 */
  li s1, 0x10000000
  csrrs s1, mscratch, s1
  CHECK s1, 0x000ff001
  csrr s0, mscratch
  CHECK s0, 0x100ff001
  li s1, 0x000ff000
  csrrc s1, mscratch, s1
  CHECK s1, 0x100ff001
  csrr s0, mscratch
  CHECK s0, 0x10000001
  TEST_CASE 10                              /* csrrwi: 5-bit zero-extended immediate */
  csrrwi s0, mscratch, 31
  CHECK s0, 0x10000001
  csrr s0, mscratch
  CHECK s0, 0x1f
  csrrwi s0, mscratch, 0
  CHECK s0, 0x1f
  csrr s0, mscratch
  CHECK s0, 0
  TEST_CASE 11                              /* csrrsi / csrrci */
  li s1, 0xf0000000
  csrw mscratch, s1
  csrrsi s0, mscratch, 0x15
  CHECK s0, 0xf0000000
  csrr s0, mscratch
  CHECK s0, 0xf0000015
  csrrci s0, mscratch, 0x11
  CHECK s0, 0xf0000015
  csrr s0, mscratch
  CHECK s0, 0xf0000004
  csrrsi s0, mscratch, 0
  csrrci s0, mscratch, 0
  CHECK s0, 0xf0000004
  csrr s0, mscratch
  CHECK s0, 0xf0000004
  TEST_CASE 12                              /* rd == x0 forms */
  li s1, 0x55aa55aa
  csrrw x0, mscratch, s1
  csrrs x0, mscratch, x0
  csrrsi x0, mscratch, 1
  csrrci x0, mscratch, 2
  csrr s0, mscratch
  CHECK s0, 0x55aa55a9
  CHECK x0, 0
  TEST_CASE 13                              /* sscratch is a full 32-bit register too */
  li s1, 0xa5a5a5a5
  csrw sscratch, s1
  csrr s0, sscratch
  CHECK s0, 0xa5a5a5a5
  csrr s0, mscratch
  CHECK s0, 0x55aa55a9
  csrw sscratch, zero

  /* ------------------------------------------------------- read-only CSRs */
  TEST_CASE 14                              /* readable: mhartid is 0 */
  li s0, 0x0bad
  csrr s0, mhartid
  CHECK s0, 0
  csrr s0, mvendorid
  csrr s0, marchid
  csrr s0, mimpid
  csrrs s0, mhartid, x0
  csrrc s0, mhartid, x0
  csrrsi s0, mhartid, 0
  csrrci s0, mhartid, 0
  CHECK s0, 0
  T_ILL_M 15, csrw mhartid, zero
  T_ILL_M 16, csrrw s0, mhartid, x0
  T_ILL_M 17, csrrwi s0, mvendorid, 0
  T_ILL_M 18, csrrwi s0, mimpid, 5
  T_ILL_M 19, csrrsi s0, marchid, 1
  T_ILL_M 20, csrrci s0, mvendorid, 1
  TEST_CASE 21                               /* csrrs with a non-zero register */
  li s1, 1
  T_ILL_M 22, csrrs s0, mhartid, s1
  TEST_CASE 23
  li s1, -1
  T_ILL_M 24, csrrc s0, marchid, s1
  /* rs1 != x0 is a write attempt even when the register holds 0 (QEMU 7.2 looks at
   * the value and lets these through) */
  TEST_CASE 25
  SKIP_IF_QEMU7 .Lskip_rs1zero
  li s1, 0
  T_ILL_M 26, csrrs s0, mhartid, s1
  TEST_CASE 27
  li s1, 0
  T_ILL_M 28, csrrc s0, mvendorid, s1
.Lskip_rs1zero:
  T_ILL_M 29, csrw cycle, zero               /* user counters are read-only */
  T_ILL_M 30, csrw instret, zero
  T_ILL_M 31, csrrs s0, cycleh, s0
  T_ILL_M 32, csrrwi s0, instreth, 0

  /* ------------------------------------------------------- unimplemented */
  T_ILL_M 33, csrr s0, 0x7c0                 /* custom M-mode space: nothing there */
  T_ILL_M 34, csrw 0x8c0, s0                 /* custom U-mode space */
  T_ILL_M 35, csrr s0, 0x15f                 /* reserved S-mode number */
  T_ILL_M 36, csrr s0, 0x005                 /* utvec: N extension is gone */
  T_ILL_M 37, csrr s0, 0x044                 /* uip */
  T_ILL_M 38, csrrwi s0, 0x107, 3            /* reserved S-mode number */
  T_ILL_M 39, csrr s0, 0x5ff                 /* reserved hypervisor-space number */

  /* -------------------------------------------------------------- misa */
  TEST_CASE 40                               /* RV32 (MXL = 1) with I M A S U */
  csrr s0, misa
  srli s1, s0, 30
  CHECK s1, 1
  CHECK_MASKED s0, MISA_BIT('I'), MISA_BIT('I')
  csrr s0, misa
  CHECK_MASKED s0, MISA_BIT('M'), MISA_BIT('M')
  csrr s0, misa
  CHECK_MASKED s0, MISA_BIT('A'), MISA_BIT('A')
  csrr s0, misa
  CHECK_MASKED s0, MISA_BIT('S'), MISA_BIT('S')
  csrr s0, misa
  CHECK_MASKED s0, MISA_BIT('U'), MISA_BIT('U')
  TEST_CASE 41                               /* not RV32E, bits 29..26 zero */
  csrr s0, misa
  CHECK_MASKED s0, MISA_BIT('E'), 0
  csrr s0, misa
  CHECK_MASKED s0, 0x3c000000, 0
  TEST_CASE 42                               /* writing misa's own value changes nothing */
  csrr s1, misa
  csrw misa, s1
  csrr s0, misa
  CHECKR s0, s1

  /* --------------------------------------------------------- mstatus */
  TEST_CASE 43                               /* MPP holds M, S and U */
  li s1, MSTATUS_MPP
  csrc mstatus, s1
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MPP, MSTATUS_MPP_U
  li s1, MSTATUS_MPP_S
  csrs mstatus, s1
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MPP, MSTATUS_MPP_S
  li s1, MSTATUS_MPP_M
  csrs mstatus, s1
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MPP, MSTATUS_MPP_M
  TEST_CASE 44                               /* MPP = 2 (reserved) reads back as a legal mode */
  SKIP_IF_QEMU7 1f                          /* QEMU 7.2 keeps the 2 */
  li s1, MSTATUS_MPP
  csrc mstatus, s1
  li s1, 0x00001000
  csrs mstatus, s1
  csrr s0, mstatus
  li s1, MSTATUS_MPP
  and s0, s0, s1
  li s1, 0x00001000
  beq s0, s1, fail
1:
  csrw mstatus, zero
  TEST_CASE 45                               /* every single-bit field is writable */
  .irp f, MSTATUS_SIE, MSTATUS_MIE, MSTATUS_SPIE, MSTATUS_MPIE, MSTATUS_SPP, MSTATUS_MPRV, MSTATUS_SUM, MSTATUS_MXR, MSTATUS_TVM, MSTATUS_TW, MSTATUS_TSR
  li s1, \f
  csrw mstatus, s1
  csrr s0, mstatus
  CHECK_MASKED s0, \f, \f
  csrw mstatus, zero
  csrr s0, mstatus
  CHECK_MASKED s0, \f, 0
  .endr
  TEST_CASE 46                               /* reserved bits read as zero */
  li s1, -1
  csrw mstatus, s1
  csrr s0, mstatus
  csrw mstatus, zero
  CHECK_MASKED s0, 0x7f800055, 0            /* WPRI 30:23, UBE, old UIE/UPIE, bit 2 */
  TEST_CASE 47
  csrr s0, mstatush                         /* RV32: MBE/SBE = 0 (little-endian) */
  CHECK s0, 0

  TEST_CASE 48                               /* sstatus shows only the S fields */
  li s1, -1
  csrw mstatus, s1
  csrr s0, sstatus
  li s1, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  and s1, s1, s0
  bnez s1, fail
  li s1, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
  CHECK_MASKED s0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR
  TEST_CASE 49                               /* writing sstatus leaves the M fields alone */
  csrw sstatus, zero
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR, 0
  csrr s0, mstatus
  CHECK_MASKED s0, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR, MSTATUS_MIE | MSTATUS_MPIE | MSTATUS_MPP | MSTATUS_MPRV | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR
  csrw mstatus, zero
  TEST_CASE 50                               /* sstatus writes reach mstatus */
  li s1, MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MIE | MSTATUS_MPP
  csrw sstatus, s1
  csrr s0, mstatus
  CHECK s0, MSTATUS_SPP | MSTATUS_SUM
  csrw mstatus, zero

  /* ------------------------------------------------------ mtvec, mie, mip */
  TEST_CASE 51                               /* mtvec direct and vectored */
  csrr s2, mtvec
  la s1, .Lvec_table
  csrw mtvec, s1
  csrr s0, mtvec
  CHECKR s0, s1
  ori s1, s1, 1
  csrw mtvec, s1
  csrr s0, mtvec
  CHECKR s0, s1
  csrw mtvec, s2
  csrr s2, stvec
  la s1, .Lvec_table
  csrw stvec, s1
  csrr s0, stvec
  CHECKR s0, s1
  ori s1, s1, 1
  csrw stvec, s1
  csrr s0, stvec
  CHECKR s0, s1
  csrw stvec, s2
  TEST_CASE 52                               /* mie: the six standard enables */
  li s1, -1
  csrw mie, s1
  csrr s0, mie
  csrw mie, zero
  CHECK_MASKED s0, 0xaaa, 0xaaa
  csrr s0, mie
  CHECK_MASKED s0, 0xaaa, 0
  TEST_CASE 53                               /* mip: M-mode can write SSIP, STIP, SEIP only */
  li s1, -1
  csrw mip, s1
  csrr s0, mip
  csrw mip, zero
  CHECK_MASKED s0, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_MSIP, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrr s0, mip
  CHECK_MASKED s0, MIP_SSIP | MIP_STIP | MIP_SEIP | MIP_MSIP, 0
  TEST_CASE 54                               /* sie/sip: only delegated bits are visible */
  csrw mideleg, zero
  li s1, -1
  csrw sie, s1
  csrr s0, sie
  CHECK_MASKED s0, 0xaaa, 0
  csrr s0, mie
  CHECK_MASKED s0, 0xaaa, 0
  li s1, MIP_SSIP
  csrw mip, s1
  csrr s0, sip
  CHECK_MASKED s0, 0xaaa, 0
  csrw mip, zero
  TEST_CASE 55
  li s1, MIP_SSIP | MIP_STIP | MIP_SEIP
  csrw mideleg, s1
  csrr s0, mideleg
  CHECK_MASKED s0, MIP_SSIP | MIP_STIP | MIP_SEIP, MIP_SSIP | MIP_STIP | MIP_SEIP
  li s1, -1
  csrw sie, s1
  csrr s0, sie
  CHECK_MASKED s0, 0xaaa, 0x222
  csrr s0, mie
  CHECK_MASKED s0, 0xaaa, 0x222
  csrw sie, zero
  csrr s0, mie
  CHECK_MASKED s0, 0xaaa, 0
  TEST_CASE 56                               /* sip: SSIP writable, STIP/SEIP read-only */
  li s1, -1
  csrw sip, s1
  csrr s0, mip
  CHECK_MASKED s0, 0x222, MIP_SSIP
  li s1, MIP_STIP | MIP_SEIP
  csrs mip, s1
  csrr s0, sip
  CHECK_MASKED s0, 0x222, 0x222
  csrw sip, zero
  csrr s0, mip
  CHECK_MASKED s0, 0x222, MIP_STIP | MIP_SEIP
  csrw mip, zero
  csrw mideleg, zero

  /* -------------------------------------------------------------- satp */
  TEST_CASE 57                               /* MODE and PPN read back */
  li s1, SATP_SV32 | 0x00080123
  csrw satp, s1
  csrr s0, satp
  csrw satp, zero
  CHECK_MASKED s0, 0x803fffff, SATP_SV32 | 0x00080123
  csrr s0, satp
  CHECK s0, 0

  /* ---------------------------------------------------------- counters */
  TEST_CASE 58                               /* mcycle and minstret count up */
  csrr s1, mcycle
  csrr s2, minstret
  li s3, 100
1:
  addi s3, s3, -1
  bnez s3, 1b
  csrr s4, mcycle
  csrr s5, minstret
  sub s4, s4, s1
  sub s5, s5, s2
  beqz s4, fail
  beqz s5, fail
  TEST_CASE 59                               /* minstret counts exactly (not on QEMU, no icount) */
  SKIP_IF_QEMU7 1f
  csrr s1, minstret
  nop
  nop
  nop
  nop
  nop
  csrr s2, minstret
  sub s0, s2, s1
  CHECK s0, 6                               /* the first csrr and five nops */
  csrr s1, minstret
  li s3, 100
2:
  addi s3, s3, -1
  bnez s3, 2b
  csrr s2, minstret
  sub s0, s2, s1
  CHECK s0, 202
1:
  TEST_CASE 60                               /* the user aliases read the same counters */
  csrr s1, minstret
  rdinstret s2
  csrr s3, minstret
  bltu s2, s1, fail
  bltu s3, s2, fail
  csrr s1, mcycle
  rdcycle s2
  csrr s3, mcycle
  bltu s2, s1, fail
  bltu s3, s2, fail
  TEST_CASE 61                               /* minstret/mcycle are writable */
  li s1, 1000
  csrw minstret, s1
  csrr s0, minstret
  li s1, 1000
  bltu s0, s1, fail
  li s1, 1000 + 10000
  bgeu s0, s1, fail
  li s1, 0x7ffff000
  csrw mcycle, s1
  csrr s0, mcycle
  bltu s0, s1, fail
  csrw mcycleh, zero
  csrw minstreth, zero
  TEST_CASE 62                               /* a write of minstret: next read sees it exactly */
  SKIP_IF_QEMU7 1f
  li s1, 5000
  csrw minstret, s1
  csrr s0, minstret
  CHECK s0, 5000
1:
  TEST_CASE 63                               /* carry into minstreth / mcycleh */
  SKIP_IF_QEMU7 .Lskip_carry                /* QEMU 7.2 runs the halves independently */
  csrw minstreth, zero
  li s1, 0xfffffff0
  csrw minstret, s1
  li s3, 20
1:
  addi s3, s3, -1
  bnez s3, 1b
  csrr s0, minstreth
  CHECK s0, 1
  rdinstreth s0
  CHECK s0, 1
  li s1, 7
  csrw mcycleh, s1
  li s1, 0xffffff00
  csrw mcycle, s1
  li s3, 300
1:
  addi s3, s3, -1
  bnez s3, 1b
  csrr s0, mcycleh
  CHECK s0, 8
  rdcycleh s0
  CHECK s0, 8
.Lskip_carry:

  TEST_CASE 64                               /* time counts up (when it exists) */
  beqz s11, 1f
  rdtime s1
  li s3, 1000000
2:
  rdtime s2
  bne s2, s1, 3f
  addi s3, s3, -1
  bnez s3, 2b
  j fail
3:
  bltu s2, s1, fail
  csrr s0, timeh
1:
  T_ILL_M 65, csrw time, zero
  li s1, 1
  T_ILL_M 66, csrrs s0, timeh, s1

  /* -------------------------------------- counter access from S and U */
  TEST_CASE 67
  li s1, 7
  csrw mcounteren, s1
  csrw scounteren, s1
  csrr s0, mcounteren
  CHECK_MASKED s0, 7, 7
  csrr s0, scounteren
  CHECK_MASKED s0, 7, 7
  T_OK_U 68, rdcycle s0
  beq s0, zero, fail
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_U 69, rdinstret s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_U 70, rdcycleh s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_U 71, rdinstreth s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_S 72, rdcycle s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_S 73, rdinstret s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  TEST_CASE 74
  beqz s11, 1f
  T_OK_U 75, rdtime s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_U 76, rdtimeh s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_S 77, rdtime s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
1:
  TEST_CASE 78                               /* mcounteren.CY = 0: cycle illegal in S and U */
  li s1, 6
  csrw mcounteren, s1
  T_ILL_U 79, rdcycle s0
  T_ILL_U 80, rdcycleh s0
  T_ILL_S 81, rdcycle s0
  T_OK_U 82, rdinstret s0                    /* IR still enabled */
  li s1, 0x0bad0bad
  beq s0, s1, fail
  TEST_CASE 83                               /* mcounteren.IR = 0 */
  li s1, 3
  csrw mcounteren, s1
  T_ILL_U 84, rdinstret s0
  T_ILL_U 85, rdinstreth s0
  T_ILL_S 86, rdinstret s0
  T_OK_S 87, rdcycle s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  TEST_CASE 88                               /* mcounteren.TM = 0 */
  beqz s11, 1f
  li s1, 5
  csrw mcounteren, s1
  T_ILL_U 89, rdtime s0
  T_ILL_S 90, rdtime s0
  T_ILL_S 91, rdtimeh s0
1:
  TEST_CASE 92                               /* scounteren gates U only */
  li s1, 7
  csrw mcounteren, s1
  csrw scounteren, zero
  T_ILL_U 93, rdcycle s0
  T_ILL_U 94, rdinstret s0
  T_OK_S 95, rdcycle s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  T_OK_S 96, rdinstret s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  TEST_CASE 97
  li s1, 4
  csrw scounteren, s1
  T_ILL_U 98, rdcycle s0
  T_OK_U 99, rdinstret s0
  li s1, 0x0bad0bad
  beq s0, s1, fail
  TEST_CASE 100                               /* M-mode ignores the enables */
  csrw mcounteren, zero
  csrw scounteren, zero
  rdcycle s0
  rdinstret s0
  csrr s0, mcounteren
  CHECK_MASKED s0, 7, 0
  li s1, 7
  csrw mcounteren, s1
  csrw scounteren, s1

  /* ---------------------------------------------------- CSR privilege */
  T_ILL_S 101, csrr s0, mstatus
  T_ILL_S 102, csrr s0, mscratch
  T_ILL_S 103, csrw mepc, s0
  T_ILL_S 104, csrr s0, mhartid
  T_ILL_S 105, csrr s0, mcycle
  T_ILL_S 106, csrr s0, misa
  T_ILL_U 107, csrr s0, sstatus
  T_ILL_U 108, csrr s0, sscratch
  T_ILL_U 109, csrw satp, zero
  T_ILL_U 110, csrr s0, mstatus
  T_ILL_U 111, csrr s0, mcycle
  TEST_CASE 112                               /* S-mode owns its CSRs */
  li s1, 0x13572468
  T_OK_S 113, csrrw s0, sscratch, s1
  csrr s0, sscratch
  CHECK s0, 0x13572468
  T_OK_S 114, csrr s0, sscratch
  CHECK s0, 0x13572468
  T_OK_S 115, csrr s0, sstatus
  CHECK_MASKED s0, MSTATUS_SPP, 0
  csrw sscratch, zero

  TEST_PASS

  .align 6
.Lvec_table:
  j fail

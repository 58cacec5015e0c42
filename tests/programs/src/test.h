/*
 * test.h - shared framework of the pvsim bare-metal conformance programs.
 *
 * Include it first in every program; it emits the start-up code, the M-mode and S-mode
 * trap handlers, the pass/fail exits and the HTIF mailbox. The program itself must
 * define `test_main` (entered in M-mode, paging off, interrupts off, nothing delegated)
 * and finish with TEST_PASS, executed in M-mode.
 *
 * Register conventions
 *   gp (x3)   number of the current test case (TEST_CASE n). A failure reports it.
 *   tp (x4)   scratch of the macros below and of the trap handlers; never holds data.
 *   t3-t6     arm an expected trap (EXPECT_*), and after an expected trap hold
 *             t3 = cause, t4 = epc, t5 = tval, t6 = mstatus/sstatus at trap entry.
 *   Every other register belongs to the test.
 *
 * Result reporting (HTIF): `tohost` = 1 on pass, (gp << 1) | 1 on failure of case gp.
 * A failure before the first TEST_CASE reports case 65535. The trap that ended a
 * failing program is recorded in `fail_info` (cause, epc, tval, case); a failed CHECK
 * shows up there as an ecall taken at `fail_ecall`.
 *
 * Expected traps: a test arms the trap it expects right before the instruction that
 * must raise it; the trap handler of the expected privilege level checks the cause and
 * resumes at a label, otherwise the program fails:
 *
 *     EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f   // taken in M, resume in M at 1f
 *     .word 0
 *     j fail                                      // the trap did not happen
 * 1:  CHECK t3, CAUSE_ILLEGAL_INSTRUCTION
 *
 *   EXPECT_TRAP       cause, label   taken by the M handler, resume in M-mode
 *   EXPECT_TRAP_SAME  cause, label   taken by the M handler, resume in the trapping mode
 *   EXPECT_STRAP      cause, label   taken by the S handler, resume in S-mode
 *   EXPECT_STRAP_SAME cause, label   taken by the S handler, resume in the trapping mode
 *
 * Resuming "in M-mode"/"in S-mode" also clears MPIE/SPIE, so that interrupts stay off
 * after the resume (a still-pending interrupt does not re-trap at once). The arming only
 * uses registers, so it works in any mode and with any address translation; the trap
 * is disarmed by being taken (t4 is overwritten). Resume labels for M are absolute
 * (physical) addresses, for the *_SAME and S forms pc-relative ones.
 * A trap of the right cause taken by the wrong handler (delegation mistakes) fails.
 */
#ifndef PVSIM_TEST_H
#define PVSIM_TEST_H

/* ---- CSR fields ---------------------------------------------------------------- */
#define MSTATUS_SIE   0x00000002
#define MSTATUS_MIE   0x00000008
#define MSTATUS_SPIE  0x00000020
#define MSTATUS_MPIE  0x00000080
#define MSTATUS_SPP   0x00000100
#define MSTATUS_MPP   0x00001800
#define MSTATUS_MPP_U 0x00000000
#define MSTATUS_MPP_S 0x00000800
#define MSTATUS_MPP_M 0x00001800
#define MSTATUS_MPRV  0x00020000
#define MSTATUS_SUM   0x00040000
#define MSTATUS_MXR   0x00080000
#define MSTATUS_TVM   0x00100000
#define MSTATUS_TW    0x00200000
#define MSTATUS_TSR   0x00400000

#define CAUSE_MISALIGNED_FETCH     0
#define CAUSE_FETCH_ACCESS         1
#define CAUSE_ILLEGAL_INSTRUCTION  2
#define CAUSE_BREAKPOINT           3
#define CAUSE_MISALIGNED_LOAD      4
#define CAUSE_LOAD_ACCESS          5
#define CAUSE_MISALIGNED_STORE     6
#define CAUSE_STORE_ACCESS         7
#define CAUSE_USER_ECALL           8
#define CAUSE_SUPERVISOR_ECALL     9
#define CAUSE_MACHINE_ECALL        11
#define CAUSE_FETCH_PAGE_FAULT     12
#define CAUSE_LOAD_PAGE_FAULT      13
#define CAUSE_STORE_PAGE_FAULT     15

#define INTR        0x80000000
#define IRQ_S_SOFT  1
#define IRQ_M_SOFT  3
#define IRQ_S_TIMER 5
#define IRQ_M_TIMER 7
#define IRQ_S_EXT   9
#define IRQ_M_EXT   11
#define MIP_SSIP    (1 << IRQ_S_SOFT)
#define MIP_MSIP    (1 << IRQ_M_SOFT)
#define MIP_STIP    (1 << IRQ_S_TIMER)
#define MIP_MTIP    (1 << IRQ_M_TIMER)
#define MIP_SEIP    (1 << IRQ_S_EXT)
#define MIP_MEIP    (1 << IRQ_M_EXT)

#define PTE_V 0x001
#define PTE_R 0x002
#define PTE_W 0x004
#define PTE_X 0x008
#define PTE_U 0x010
#define PTE_G 0x020
#define PTE_A 0x040
#define PTE_D 0x080
#define SATP_SV32 0x80000000

#define MISA_BIT(letter) (1 << ((letter) - 'A'))

/* Values of t4 that arm an expected trap (see the comment at the top). */
#define ARM_M_RESUME_M    0x7ab0c003
#define ARM_M_RESUME_SAME 0x7ab0c013
#define ARM_S_RESUME_S    0x7ab0c001
#define ARM_S_RESUME_SAME 0x7ab0c011

/* Reported case number of a failure that happened before the first TEST_CASE. */
#define CASE_SETUP 65535

/* ---- test-writing macros -------------------------------------------------------- */
.set .Llast_case, 0

/* Start test case n: gp = n. Numbers must increase within a program; each case gets a
 * symbol test_case_<n> at its first instruction (handy in a disassembly). */
.macro TEST_CASE n
  .if (\n) <= .Llast_case
    .error "TEST_CASE numbers must increase"
  .endif
  .set .Llast_case, (\n)
  .equiv test_case_\n, .
  li gp, \n
.endm

/* Fail unless register reg equals the constant val. Clobbers tp. */
.macro CHECK reg, val
  li tp, \val
  bne \reg, tp, fail
.endm

/* Fail unless registers a and b are equal. */
.macro CHECKR a, b
  bne \a, \b, fail
.endm

/* Fail unless (reg & mask) == val. Clobbers tp and reg (left as reg & mask). */
.macro CHECK_MASKED reg, mask, val
  li tp, \mask
  and \reg, \reg, tp
  li tp, \val
  bne \reg, tp, fail
.endm

.macro TEST_PASS
  j pass
.endm

.macro TEST_FAIL
  j fail
.endm

/* Arm an expected trap; see the top of this file. Clobbers t4-t6. */
.macro EXPECT_TRAP cause, label
  li t4, ARM_M_RESUME_M
  li t5, \cause
  lui t6, %hi(\label)
  addi t6, t6, %lo(\label)
.endm
.macro EXPECT_TRAP_SAME cause, label
  li t4, ARM_M_RESUME_SAME
  li t5, \cause
  la t6, \label
.endm
.macro EXPECT_STRAP cause, label
  li t4, ARM_S_RESUME_S
  li t5, \cause
  la t6, \label
.endm
.macro EXPECT_STRAP_SAME cause, label
  li t4, ARM_S_RESUME_SAME
  li t5, \cause
  la t6, \label
.endm

/* Fail unless the expected trap had cause c / epc at label l / tval v. */
.macro CHECK_TRAP c
  CHECK t3, \c
.endm
.macro CHECK_EPC l
  la tp, \l
  bne t4, tp, fail
.endm

/* Fail unless mtval (t5) holds the bits of the instruction at mepc (t4) - for an
 * illegal-instruction trap taken from code that runs identity-mapped. Clobbers tp. */
.macro CHECK_TVAL_INSN
  lw tp, 0(t4)
  bne t5, tp, fail
.endm

/* ---- feature detection ------------------------------------------------------------- */
/* Branch to label when misa says C (then IALIGN is 16 and 2-byte targets are legal). */
.macro SKIP_IF_RVC label
  csrr tp, misa
  andi tp, tp, MISA_BIT('C')
  bnez tp, \label
.endm
/* Branch to label on QEMU 7.x (marchid == mimpid == 0x07mmuu, mvendorid 0), to skip a
 * check that QEMU 7.2 is known to get wrong (listed in README.md). Clobbers tp, t4. */
.macro SKIP_IF_QEMU7 label
  csrr tp, mvendorid
  bnez tp, .Lnotqemu\@
  csrr tp, marchid
  csrr t4, mimpid
  bne tp, t4, .Lnotqemu\@
  srli tp, tp, 16
  addi tp, tp, -7
  beqz tp, \label
.Lnotqemu\@:
.endm

/* ---- one-instruction arithmetic cases ----------------------------------------------- */
/* Register-register: s0 = inst(a, b) with distinct registers; sources must survive. */
.macro T_RR n, inst, exp, a, b
  TEST_CASE \n
  li s1, \a
  li s2, \b
  \inst s0, s1, s2
  CHECK s0, \exp
  CHECK s1, \a
  CHECK s2, \b
.endm
/* rd == rs1 */
.macro T_RR_D1 n, inst, exp, a, b
  TEST_CASE \n
  li s1, \a
  li s2, \b
  \inst s1, s1, s2
  CHECK s1, \exp
  CHECK s2, \b
.endm
/* rd == rs2 */
.macro T_RR_D2 n, inst, exp, a, b
  TEST_CASE \n
  li s1, \a
  li s2, \b
  \inst s2, s1, s2
  CHECK s2, \exp
  CHECK s1, \a
.endm
/* rd == rs1 == rs2 */
.macro T_RR_DD n, inst, exp, a
  TEST_CASE \n
  li s1, \a
  \inst s1, s1, s1
  CHECK s1, \exp
.endm
/* rs1 == x0 */
.macro T_RR_Z1 n, inst, exp, b
  TEST_CASE \n
  li s2, \b
  \inst s0, x0, s2
  CHECK s0, \exp
.endm
/* rs2 == x0 */
.macro T_RR_Z2 n, inst, exp, a
  TEST_CASE \n
  li s1, \a
  \inst s0, s1, x0
  CHECK s0, \exp
.endm
/* rd == x0: the result is discarded, x0 still reads 0 */
.macro T_RR_ZD n, inst, a, b
  TEST_CASE \n
  li s1, \a
  li s2, \b
  \inst x0, s1, s2
  CHECK x0, 0
  add s0, x0, x0
  CHECK s0, 0
.endm
/* Register-immediate: s0 = inst(a, imm). */
.macro T_RI n, inst, exp, a, imm
  TEST_CASE \n
  li s1, \a
  \inst s0, s1, \imm
  CHECK s0, \exp
  CHECK s1, \a
.endm
/* rd == rs1 */
.macro T_RI_D n, inst, exp, a, imm
  TEST_CASE \n
  li s1, \a
  \inst s1, s1, \imm
  CHECK s1, \exp
.endm
/* rs1 == x0 */
.macro T_RI_Z1 n, inst, exp, imm
  TEST_CASE \n
  \inst s0, x0, \imm
  CHECK s0, \exp
.endm
/* rd == x0 */
.macro T_RI_ZD n, inst, a, imm
  TEST_CASE \n
  li s1, \a
  \inst x0, s1, \imm
  CHECK x0, 0
  add s0, x0, x0
  CHECK s0, 0
.endm

/* ---- privilege changes ------------------------------------------------------------ */
/* From M-mode: continue at label in S-mode (mret). Clobbers tp. */
.macro GOTO_S label
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  li tp, MSTATUS_MPP_S
  csrs mstatus, tp
  la tp, \label
  csrw mepc, tp
  mret
.endm
/* From M-mode: continue at label in U-mode (mret). Clobbers tp. */
.macro GOTO_U label
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  la tp, \label
  csrw mepc, tp
  mret
.endm
/* Same, but the target address is in register reg (e.g. a virtual address). */
.macro GOTO_S_REG reg
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  li tp, MSTATUS_MPP_S
  csrs mstatus, tp
  csrw mepc, \reg
  mret
.endm
.macro GOTO_U_REG reg
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  csrw mepc, \reg
  mret
.endm
/* From S-mode: continue at label in U-mode (sret). Clobbers tp. */
.macro S_GOTO_U label
  li tp, MSTATUS_SPP
  csrc sstatus, tp
  la tp, \label
  csrw sepc, tp
  sret
.endm
/* From S-mode / U-mode: ecall back to M-mode, continuing at label (absolute address).
 * Requires ecall from that mode not to be delegated. Clobbers t3-t6, tp. */
.macro GOTO_M_FROM_S label
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, \label
  ecall
  j fail
.endm
.macro GOTO_M_FROM_U label
  EXPECT_TRAP CAUSE_USER_ECALL, \label
  ecall
  j fail
.endm

/* ---- start-up code, handlers, exits ---------------------------------------------- */
  .option norelax
  .section .text.init, "ax", @progbits
  .globl _start
_start:
  /* Let S/U-mode reach all of memory through PMP entry 0 (NAPOT, RWX, everything).
   * A machine without PMP may trap on these CSRs (pvsim's run-bare has 16): the
   * temporary mtvec simply continues after them. */
  la t0, .Lpmp_done
  csrw mtvec, t0
  li t0, -1
  csrw pmpaddr0, t0
  li t0, 0x1f
  csrw pmpcfg0, t0
  .align 2
.Lpmp_done:
  la t0, trap_m
  csrw mtvec, t0
  la t0, trap_s
  csrw stvec, t0
  csrw mstatus, zero
  csrw mie, zero
  csrw mip, zero
  csrw medeleg, zero
  csrw mideleg, zero
  csrw satp, zero
  csrw mscratch, zero
  csrw sscratch, zero
  li x1, 0
  li x2, 0
  li x3, 0
  li x4, 0
  li x5, 0
  li x6, 0
  li x7, 0
  li x8, 0
  li x9, 0
  li x10, 0
  li x11, 0
  li x12, 0
  li x13, 0
  li x14, 0
  li x15, 0
  li x16, 0
  li x17, 0
  li x18, 0
  li x19, 0
  li x20, 0
  li x21, 0
  li x22, 0
  li x23, 0
  li x24, 0
  li x25, 0
  li x26, 0
  li x27, 0
  li x28, 0
  li x29, 0
  li x30, 0
  li x31, 0
  j test_main

/* Pass: must be reached in M-mode. */
  .globl pass
pass:
  li a0, 1
  j .Lwrite_tohost

/* Fail from any mode: an ecall that nothing expects ends in .Lm_unexpected. */
  .globl fail
fail:
  li t4, 0
  .globl fail_ecall
fail_ecall:
  ecall
  j fail

/* M-mode trap handler. */
  .align 2
  .globl trap_m
trap_m:
  li tp, ARM_M_RESUME_M
  beq t4, tp, 1f
  li tp, ARM_M_RESUME_SAME
  bne t4, tp, .Lm_unexpected
1:
  csrr tp, mcause
  bne tp, t5, .Lm_unexpected
  csrr t3, mstatus
  li tp, ARM_M_RESUME_M
  bne t4, tp, 2f
  li tp, MSTATUS_MPP
  csrs mstatus, tp
  li tp, MSTATUS_MPIE
  csrc mstatus, tp
2:
  csrrw t4, mepc, t6
  mv t6, t3
  csrr t3, mcause
  csrr t5, mtval
  mret

.Lm_unexpected:
  li tp, MSTATUS_MPRV
  csrc mstatus, tp
  la tp, fail_info
  csrr t3, mcause
  sw t3, 0(tp)
  csrr t3, mepc
  sw t3, 4(tp)
  csrr t3, mtval
  sw t3, 8(tp)
  sw gp, 12(tp)
  bnez gp, 1f
  li gp, CASE_SETUP
1:
  slli a0, gp, 1
  ori a0, a0, 1
.Lwrite_tohost:
  la t0, tohost
  sw a0, 0(t0)
  sw zero, 4(t0)
1:
  j 1b

/* S-mode trap handler (reached only through medeleg/mideleg). An unexpected trap is
 * passed on to M-mode with an ecall, which fails the program. */
  .align 2
  .globl trap_s
trap_s:
  li tp, ARM_S_RESUME_S
  beq t4, tp, 1f
  li tp, ARM_S_RESUME_SAME
  bne t4, tp, .Ls_unexpected
1:
  csrr tp, scause
  bne tp, t5, .Ls_unexpected
  csrr t3, sstatus
  li tp, ARM_S_RESUME_S
  bne t4, tp, 2f
  li tp, MSTATUS_SPP
  csrs sstatus, tp
  li tp, MSTATUS_SPIE
  csrc sstatus, tp
2:
  csrrw t4, sepc, t6
  mv t6, t3
  csrr t3, scause
  csrr t5, stval
  sret
.Ls_unexpected:
  li t4, 0
  ecall
  j .Ls_unexpected

/* ---- data ------------------------------------------------------------------------- */
  .section .tohost, "aw", @progbits
  .align 6
  .globl tohost
  .type tohost, @object
  .size tohost, 8
tohost:
  .dword 0
  .globl fromhost
  .type fromhost, @object
  .size fromhost, 8
fromhost:
  .dword 0

  .section .data
  .align 4
  .globl fail_info
fail_info:
  .word 0, 0, 0, 0

  .text
#endif

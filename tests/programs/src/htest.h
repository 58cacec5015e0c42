/*
 * htest.h - the hypervisor-extension (H) part of the bare-metal test framework.
 *
 * Include it instead of test.h in the h_*.S programs; it includes test.h and adds
 * the H CSR fields and causes, the H instructions (as .insn: the toolchain's
 * -march has no "h"), three trap handlers that know about the V bit, and the macros
 * that enter VS/VU-mode and return from them. Each program calls H_INIT first; it
 * fails the program (case 65535) when misa.H is clear.
 *
 * Handlers (installed by H_INIT; test.h's trap_m/trap_s stay unused):
 *   htrap_m   mtvec   accepts EXPECT_TRAP / EXPECT_TRAP_SAME (as test.h). On entry it
 *                     copies mstatush (MPV, GVA as the trap wrote them) into mscratch;
 *                     resuming in M also clears MPV.
 *   htrap_hs  stvec   accepts EXPECT_STRAP / EXPECT_STRAP_SAME (traps into HS-mode).
 *                     On entry it copies hstatus (SPV, SPVP, GVA) into sscratch;
 *                     resuming in HS also clears hstatus.SPV.
 *   htrap_vs  vstvec  accepts EXPECT_VSTRAP / EXPECT_VSTRAP_SAME (traps into VS-mode).
 * A trap taken by a handler whose arming kind differs fails the program, so each
 * expected trap also checks which level took it (delegation). After an expected trap:
 * t3 = cause, t4 = epc, t5 = tval, t6 = status at entry (mstatus / sstatus / vsstatus);
 * htval/htinst/mtval2/mtinst are read by the test itself (nothing else writes them).
 *
 * Memory: VS/VU code runs identity-mapped wherever the program runs (G-stage and, if
 * on, VS-stage map 0x80000000.. onto itself), so labels and the handlers work at V=1.
 */
#ifndef PVSIM_HTEST_H
#define PVSIM_HTEST_H
#include "test.h"

/* ---- H fields and causes (privileged spec 20211203, chapter 8) ----------------- */
#define HSTATUS_VSBE   0x00000020
#define HSTATUS_GVA    0x00000040
#define HSTATUS_SPV    0x00000080
#define HSTATUS_SPVP   0x00000100
#define HSTATUS_HU     0x00000200
#define HSTATUS_VGEIN  0x0003f000
#define HSTATUS_VTVM   0x00100000
#define HSTATUS_VTW    0x00200000
#define HSTATUS_VTSR   0x00400000
#define MSTATUSH_GVA   0x00000040
#define MSTATUSH_MPV   0x00000080
#define HGATP_SV32X4   0x80000000
#define HGATP_VMID     0x1fc00000
#define HGATP_PPN      0x003fffff

#define CAUSE_VS_ECALL          10
#define CAUSE_FETCH_GUEST_PF    20
#define CAUSE_LOAD_GUEST_PF     21
#define CAUSE_VIRTUAL_INSN      22
#define CAUSE_STORE_GUEST_PF    23

#define IRQ_VS_SOFT   2
#define IRQ_VS_TIMER  6
#define IRQ_VS_EXT    10
#define IRQ_SG_EXT    12
#define MIP_VSSIP     (1 << IRQ_VS_SOFT)
#define MIP_VSTIP     (1 << IRQ_VS_TIMER)
#define MIP_VSEIP     (1 << IRQ_VS_EXT)
#define MIP_SGEIP     (1 << IRQ_SG_EXT)
#define MIP_VS_ALL    (MIP_VSSIP | MIP_VSTIP | MIP_VSEIP)

/* htinst/mtinst pseudoinstructions for implicit VS-stage page-table accesses (RV32). */
#define TINST_PSEUDO_READ   0x00002000
#define TINST_PSEUDO_WRITE  0x00002020
/* Bits a transformed instruction keeps (8.6.3): loads keep funct3/rd/opcode, stores
 * rs2/funct3/opcode, AMOs and HLV/HSV everything but rs1 (the address offset). */
#define TINST_KEEP_LOAD     0x00007fff
#define TINST_KEEP_STORE    0x01f0707f
#define TINST_KEEP_AMO      0xfff07fff

#define ARM_VS_RESUME_VS    0x7ab0c005
#define ARM_VS_RESUME_SAME  0x7ab0c015

/* ---- H instructions -------------------------------------------------------------- */
/* rs2 field values select the variant: x0 = signed, x1 = unsigned, x3 = HLVX. */
.macro HLV_B rd, rs1
  .insn r 0x73, 4, 0x30, \rd, \rs1, x0
.endm
.macro HLV_BU rd, rs1
  .insn r 0x73, 4, 0x30, \rd, \rs1, x1
.endm
.macro HLV_H rd, rs1
  .insn r 0x73, 4, 0x32, \rd, \rs1, x0
.endm
.macro HLV_HU rd, rs1
  .insn r 0x73, 4, 0x32, \rd, \rs1, x1
.endm
.macro HLVX_HU rd, rs1
  .insn r 0x73, 4, 0x32, \rd, \rs1, x3
.endm
.macro HLV_W rd, rs1
  .insn r 0x73, 4, 0x34, \rd, \rs1, x0
.endm
.macro HLVX_WU rd, rs1
  .insn r 0x73, 4, 0x34, \rd, \rs1, x3
.endm
.macro HSV_B rs2, rs1
  .insn r 0x73, 4, 0x31, x0, \rs1, \rs2
.endm
.macro HSV_H rs2, rs1
  .insn r 0x73, 4, 0x33, x0, \rs1, \rs2
.endm
.macro HSV_W rs2, rs1
  .insn r 0x73, 4, 0x35, x0, \rs1, \rs2
.endm
.macro HFENCE_VVMA rs1, rs2
  .insn r 0x73, 0, 0x11, x0, \rs1, \rs2
.endm
.macro HFENCE_GVMA rs1, rs2
  .insn r 0x73, 0, 0x31, x0, \rs1, \rs2
.endm

/* ---- arming traps into VS-mode ------------------------------------------------------ */
.macro EXPECT_VSTRAP cause, label
  li t4, ARM_VS_RESUME_VS
  li t5, \cause
  la t6, \label
.endm
.macro EXPECT_VSTRAP_SAME cause, label
  li t4, ARM_VS_RESUME_SAME
  li t5, \cause
  la t6, \label
.endm

/* Fail unless the saved hstatus (sscratch, after a trap into HS) has (x & mask) == val.
 * Clobbers tp, t0. */
.macro CHECK_HSTATUS mask, val
  csrr t0, sscratch
  CHECK_MASKED t0, \mask, \val
.endm
/* Same for the saved mstatush (mscratch, after a trap into M). */
.macro CHECK_MSTATUSH mask, val
  csrr t0, mscratch
  CHECK_MASKED t0, \mask, \val
.endm
/* Fail unless CSR csr reads val. Clobbers tp, t0. */
.macro CHECK_CSR csr, val
  csrr t0, \csr
  CHECK t0, \val
.endm
/* Fail unless the trap-instruction value in reg is 0 or the transformation (keeping
 * the bits in keep, address offset 0) of the instruction at t4 (identity-mapped epc).
 * Clobbers tp, t0. */
.macro CHECK_TINST_XFORM reg, keep
  beqz \reg, .Ltok\@
  lw t0, 0(t4)
  li tp, \keep
  and t0, t0, tp
  bne \reg, t0, fail
.Ltok\@:
.endm

/* ---- privilege changes with V ------------------------------------------------------- */
/* From M: continue at label in VS-mode (mret with MPP = S, MPV = 1). Clobbers tp. */
.macro M_GOTO_VS label
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  li tp, MSTATUS_MPP_S
  csrs mstatus, tp
  li tp, MSTATUSH_MPV
  csrs mstatush, tp
  la tp, \label
  csrw mepc, tp
  mret
.endm
/* From M: continue in VU-mode at the address in reg, not tp (mret, MPP = U, MPV = 1). */
.macro M_GOTO_VU_REG reg
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  li tp, MSTATUSH_MPV
  csrs mstatush, tp
  csrw mepc, \reg
  mret
.endm
.macro M_GOTO_VU label
  li tp, MSTATUS_MPP
  csrc mstatus, tp
  li tp, MSTATUSH_MPV
  csrs mstatush, tp
  la tp, \label
  csrw mepc, tp
  mret
.endm
/* From M: continue at label in HS-mode (V = 0). */
.macro M_GOTO_HS label
  li tp, MSTATUSH_MPV
  csrc mstatush, tp
  GOTO_S \label
.endm
/* From M: continue at label in U-mode (V = 0). */
.macro M_GOTO_U label
  li tp, MSTATUSH_MPV
  csrc mstatush, tp
  GOTO_U \label
.endm
/* From HS: continue at label in VS-mode (sret with SPV = 1, SPP = S). */
.macro HS_GOTO_VS label
  li tp, HSTATUS_SPV
  csrs hstatus, tp
  li tp, MSTATUS_SPP
  csrs sstatus, tp
  la tp, \label
  csrw sepc, tp
  sret
.endm
/* From HS: continue in VU-mode at the address in reg (sret with SPV = 1, SPP = U). */
.macro HS_GOTO_VU_REG reg
  li tp, HSTATUS_SPV
  csrs hstatus, tp
  li tp, MSTATUS_SPP
  csrc sstatus, tp
  csrw sepc, \reg
  sret
.endm
.macro HS_GOTO_VU label
  li tp, HSTATUS_SPV
  csrs hstatus, tp
  li tp, MSTATUS_SPP
  csrc sstatus, tp
  la tp, \label
  csrw sepc, tp
  sret
.endm
/* From VS: continue at label in VU-mode (sret with vsstatus.SPP = U). */
.macro VS_GOTO_VU label
  S_GOTO_U \label
.endm
/* Back to M with an ecall (ecall from VS = 10, from VU = 8; must not be delegated). */
.macro GOTO_M_FROM_VS label
  EXPECT_TRAP CAUSE_VS_ECALL, \label
  ecall
  j fail
.endm
.macro GOTO_M_FROM_VU label
  EXPECT_TRAP CAUSE_USER_ECALL, \label
  ecall
  j fail
.endm
/* Back to HS from VS: needs medeleg bit 10. */
.macro GOTO_HS_FROM_VS label
  EXPECT_STRAP CAUSE_VS_ECALL, \label
  ecall
  j fail
.endm

/* Page-table entry: table[index] = (pa >> 12) << 10 | flags, pa a symbol. Clobbers a0, a1. */
.macro SET_PTE table, index, pa, flags
  la a0, \table + (\index) * 4
  la a1, \pa
  srli a1, a1, 12
  slli a1, a1, 10
  ori a1, a1, \flags
  sw a1, 0(a0)
.endm
/* Same with a constant page number (a 34-bit guest-physical address >> 12). */
.macro SET_PTE_PPN table, index, ppn, flags
  la a0, \table + (\index) * 4
  li a1, ((\ppn) << 10) | (\flags)
  sw a1, 0(a0)
.endm
/* Same with a raw PTE value. */
.macro SET_PTE_RAW table, index, value
  la a0, \table + (\index) * 4
  li a1, \value
  sw a1, 0(a0)
.endm

/* The usual flags of a G-stage leaf (guest accesses are user accesses, 8.5.1). */
#define G_RWX   (PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D)
#define G_RW    (PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D)
#define VS_RWX  (PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D)
#define VS_RW   (PTE_V | PTE_R | PTE_W | PTE_A | PTE_D)

/* Every translation this hart caches, of both stages (after editing tables from M). */
.macro H_FLUSH
  sfence.vma
  HFENCE_VVMA zero, zero
  HFENCE_GVMA zero, zero
.endm

/* The G-stage every two-stage program starts from (M, physical): the program's own 4 MiB
 * identity-mapped (root slot 0x200), root slot 1 through gl0, whose first three pages map
 * the program's vsroot, vsl0 and data_a. The program defines those tables and fills in
 * the rest. Clobbers a0, a1. */
.macro G_STAGE_BASE
  SET_PTE_PPN groot, 0x200, 0x80000, G_RWX
  SET_PTE groot, 1, gl0, PTE_V
  SET_PTE gl0, 0, vsroot, G_RW
  SET_PTE gl0, 1, vsl0, G_RW
  SET_PTE gl0, 2, data_a, G_RW
.endm

/* Set-up, first thing in test_main (M-mode): handlers, every H CSR at a known value,
 * and a check that the hart has H at all. Clobbers t0. */
.macro H_INIT
  la t0, htrap_m
  csrw mtvec, t0
  csrr t0, misa
  srli t0, t0, 7                    /* 'H' - 'A' = 7 */
  andi t0, t0, 1
  beqz t0, fail
  la t0, htrap_hs
  csrw stvec, t0
  la t0, htrap_vs
  csrw vstvec, t0
  csrw mstatush, zero
  csrw hstatus, zero
  csrw hedeleg, zero
  csrw hideleg, zero
  csrw hvip, zero
  csrw hie, zero
  csrw hcounteren, zero
  csrw hgatp, zero
  csrw vsstatus, zero
  csrw vsie, zero
  csrw vsatp, zero
  csrw vsscratch, zero
  li t0, 1                          /* h_qemu7 = 1 on QEMU 7.x, for HS/VS-mode checks */
  SKIP_IF_QEMU7 .Lq7\@
  li t0, 0
.Lq7\@:
  la tp, h_qemu7
  sw t0, 0(tp)
.endm

/* SKIP_IF_QEMU7 for code outside M-mode (mvendorid is an M CSR): reads h_qemu7, which
 * must be reachable at its link address. Clobbers tp. */
.macro SKIP_IF_QEMU7_ANY label
  la tp, h_qemu7
  lw tp, 0(tp)
  bnez tp, \label
.endm

/* M-mode handler with V: see the top of this file. */
  .align 2
  .globl htrap_m
htrap_m:
  li tp, ARM_M_RESUME_M
  beq t4, tp, 1f
  li tp, ARM_M_RESUME_SAME
  bne t4, tp, h_unexpected
1:
  csrr tp, mcause
  bne tp, t5, h_unexpected
  csrr tp, mstatush
  csrw mscratch, tp
  csrr t3, mstatus
  li tp, ARM_M_RESUME_M
  bne t4, tp, 2f
  li tp, MSTATUS_MPP
  csrs mstatus, tp
  li tp, MSTATUS_MPIE
  csrc mstatus, tp
  li tp, MSTATUSH_MPV
  csrc mstatush, tp
2:
  csrrw t4, mepc, t6
  mv t6, t3
  csrr t3, mcause
  csrr t5, mtval
  mret

/* HS-mode handler (stvec, reached through medeleg/mideleg). */
  .align 2
  .globl htrap_hs
htrap_hs:
  li tp, ARM_S_RESUME_S
  beq t4, tp, 1f
  li tp, ARM_S_RESUME_SAME
  bne t4, tp, 3f
1:
  csrr tp, scause
  bne tp, t5, 3f
  csrr tp, hstatus
  csrw sscratch, tp
  csrr t3, sstatus
  li tp, ARM_S_RESUME_S
  bne t4, tp, 2f
  li tp, MSTATUS_SPP
  csrs sstatus, tp
  li tp, MSTATUS_SPIE
  csrc sstatus, tp
  li tp, HSTATUS_SPV
  csrc hstatus, tp
2:
  csrrw t4, sepc, t6
  mv t6, t3
  csrr t3, scause
  csrr t5, stval
  sret
3:                                  /* unexpected: ecall (9) to M, which fails */
  li t4, 0
  ecall
  j 3b

/* VS-mode handler (vstvec, reached through hedeleg/hideleg); runs at V=1, where
 * sstatus/sepc/scause/stval are vsstatus/vsepc/vscause/vstval. */
  .align 2
  .globl htrap_vs
htrap_vs:
  li tp, ARM_VS_RESUME_VS
  beq t4, tp, 1f
  li tp, ARM_VS_RESUME_SAME
  bne t4, tp, 3f
1:
  csrr tp, scause
  bne tp, t5, 3f
  csrr t3, sstatus
  li tp, ARM_VS_RESUME_VS
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
3:                                  /* unexpected: ecall (10) to HS or M, which fails */
  li t4, 0
  ecall
  j 3b

/* An unexpected trap into M: record it and report the failing case. fail_info gets
 * mcause, mepc, mtval, case; h_fail_info mtval2, mtinst, mstatush, scause. */
  .globl h_unexpected
h_unexpected:
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
  csrr t3, misa                     /* without H the H CSRs would trap again */
  srli t3, t3, 7
  andi t3, t3, 1
  beqz t3, 2f
  la tp, h_fail_info
  csrr t3, mtval2
  sw t3, 0(tp)
  csrr t3, mtinst
  sw t3, 4(tp)
  csrr t3, mstatush
  sw t3, 8(tp)
  csrr t3, scause
  sw t3, 12(tp)
2:
  bnez gp, 1f
  li gp, CASE_SETUP
1:
  slli a0, gp, 1
  ori a0, a0, 1
  la t0, tohost
  sw a0, 0(t0)
  sw zero, 4(t0)
1:
  j 1b

  .pushsection .data
  .align 4
  .globl h_fail_info
h_fail_info:
  .word 0, 0, 0, 0
  .globl h_qemu7
h_qemu7:
  .word 0
  .popsection

#endif

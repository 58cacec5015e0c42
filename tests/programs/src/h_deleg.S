/*
 * h_deleg.S - trap delegation at V=1 and the virtual-instruction exception (privileged
 * spec 20211203, 8.2.2, 8.6.1-8.6.2, 8.3.2): a trap from VS/VU goes to VS-mode when
 * medeleg and hedeleg both delegate it, to HS-mode when only medeleg does, to M
 * otherwise (hedeleg alone does nothing); the VS handler sees vscause/vsepc/vstval and
 * vsstatus.SPP while the HS CSRs stay untouched; ecall from VS (10) is never
 * delegated to VS. Virtual-instruction (22) for VTSR sret, VTW wfi, VTVM sfence.vma /
 * satp, HFENCE from VS and VU, sret/wfi/sfence.vma from VU; TSR/TVM do not reach VS,
 * TW does (illegal). HFENCE.VVMA / HFENCE.GVMA / sfence.vma at V=1 make changed VS and
 * G page tables take effect.
 */
#include "htest.h"

#define VAL_A 0xaaaa0001
#define VAL_B 0xbbbb0002
#define SENTINEL 0x5e5e5e5c

/* From VS: insn must raise cause, taken in HS (medeleg[22] set), stval = 0 or the
 * instruction, htinst = 0, SPV = 1. */
.macro T_VS_VI n, insn:vararg
  TEST_CASE \n
  EXPECT_STRAP CAUSE_VIRTUAL_INSN, .Lr\@
  M_GOTO_VS .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP CAUSE_VIRTUAL_INSN
  la t0, .Lv\@
  CHECKR t4, t0
  beqz t5, .Lt\@
  CHECK_TVAL_INSN
.Lt\@:
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA, HSTATUS_SPV | HSTATUS_SPVP
  CHECK_CSR htinst, 0
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm
/* From VU (vsatp bare, so VU runs the program). */
.macro T_VU_VI n, insn:vararg
  TEST_CASE \n
  EXPECT_STRAP CAUSE_VIRTUAL_INSN, .Lr\@
  M_GOTO_VU .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP CAUSE_VIRTUAL_INSN
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_SPV
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm
/* From VS: insn must complete (and the program continues in VS, then returns to M). */
.macro T_VS_OK n, insn:vararg
  TEST_CASE \n
  M_GOTO_VS .Lv\@
.Lv\@:
  \insn
  GOTO_M_FROM_VS .Lm\@
.Lm\@:
.endm

  .text
  .globl test_main
test_main:
  H_INIT
  /* identity G-stage for the program; gl0 maps GPA 0x400000.. (used at the end) */
  TEST_CASE 1
  G_STAGE_BASE
  SET_PTE_PPN vsroot, 0x200, 0x80000, VS_RWX
  SET_PTE_PPN vsroot, 0x100, 0x401, PTE_V
  SET_PTE_PPN vsl0, 0, 0x402, VS_RW
  la a0, data_a
  li a1, VAL_A
  sw a1, 0(a0)
  la a0, data_b
  li a1, VAL_B
  sw a1, 0(a0)
  la t0, groot
  srli t0, t0, 12
  li t1, HGATP_SV32X4
  or t0, t0, t1
  csrw hgatp, t0
  H_FLUSH

  /* ---- an illegal instruction from VS: to VS, to HS, to M ---- */
  TEST_CASE 2                       /* medeleg + hedeleg: VS */
  li t0, 1 << CAUSE_ILLEGAL_INSTRUCTION
  csrw medeleg, t0
  csrw hedeleg, t0
  li t0, SENTINEL
  csrw sepc, t0
  csrw stval, t0
  li s3, CAUSE_ILLEGAL_INSTRUCTION
  SKIP_IF_QEMU7 5f
  j 6f
5:
  li s3, 1                          /* QEMU 7.2 gives VS 2 - 1 (its VS-interrupt cause */
6:                                  /* translation, applied to exceptions too) */
  EXPECT_VSTRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  mv t5, s3
  M_GOTO_VS 1f
1:
  .word 0
  j fail
2:
  bne t3, s3, fail
  la t0, 1b
  CHECKR t4, t0                     /* vsepc */
  CHECK t5, 0                       /* vstval: the instruction bits (0) or 0 */
  CHECK_MASKED t6, MSTATUS_SPP, MSTATUS_SPP     /* vsstatus.SPP = VS */
  GOTO_M_FROM_VS 4f
4:
  csrr t0, vscause
  bne t0, s3, fail
  CHECK_CSR sepc, SENTINEL          /* HS-level CSRs untouched */
  CHECK_CSR stval, SENTINEL
  TEST_CASE 3                       /* medeleg only: HS */
  csrw hedeleg, zero
  EXPECT_STRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_VS 1f
1:
  .word 0
  j fail
2:
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA, HSTATUS_SPV | HSTATUS_SPVP
  la t0, 1b
  CHECKR t4, t0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 4                       /* hedeleg only: M */
  csrw medeleg, zero
  li t0, 1 << CAUSE_ILLEGAL_INSTRUCTION
  csrw hedeleg, t0
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_VS 1f
1:
  .word 0
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  csrw hedeleg, zero
  csrw mstatush, zero

  /* ---- other causes into VS ---- */
  TEST_CASE 5                       /* ebreak from VS */
  li t0, 1 << CAUSE_BREAKPOINT
  csrw medeleg, t0
  csrw hedeleg, t0
  EXPECT_VSTRAP CAUSE_BREAKPOINT, 2f
  M_GOTO_VS 1f
1:
  ebreak
  j fail
2:
  GOTO_M_FROM_VS 3f
3:
  TEST_CASE 6                       /* ecall from VU to VS; VS returns to VU (sret) */
  li t0, 1 << CAUSE_USER_ECALL
  csrw medeleg, t0
  csrw hedeleg, t0
  li s2, 0
  EXPECT_VSTRAP_SAME CAUSE_USER_ECALL, 2f
  M_GOTO_VU 1f
1:
  ecall
  j fail
2:
  addi s2, s2, 1                    /* back in VU */
  CHECK_MASKED t6, MSTATUS_SPP, 0   /* vsstatus.SPP = VU */
  EXPECT_VSTRAP CAUSE_USER_ECALL, 3f   /* again, now resuming in VS */
  ecall
  j fail
3:
  GOTO_M_FROM_VS 4f
4:
  CHECK s2, 1
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  TEST_CASE 7                       /* ecall from VS: hedeleg[10] is read-only 0 -> HS */
  li t0, 1 << CAUSE_VS_ECALL
  csrw medeleg, t0
  csrw hedeleg, t0
  EXPECT_STRAP CAUSE_VS_ECALL, 2f
  M_GOTO_VS 1f
1:
  ecall
  j fail
2:
  GOTO_M_FROM_S 3f
3:
  csrw hedeleg, zero
  csrw mstatush, zero

  /* ---- virtual-instruction exceptions, delegated to HS ---- */
  li t0, 1 << CAUSE_VIRTUAL_INSN
  csrw medeleg, t0
  li t0, HSTATUS_VTSR
  csrw hstatus, t0
  T_VS_VI 8, sret
  li t0, HSTATUS_VTW
  csrw hstatus, t0
  T_VS_VI 9, wfi
  li t0, HSTATUS_VTVM
  csrw hstatus, t0
  T_VS_VI 10, sfence.vma
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 ignores VTVM for satp */
  T_VS_VI 11, csrr a0, satp
  T_VS_VI 12, csrw satp, zero
1:
  csrw hstatus, zero
  T_VS_VI 13, HFENCE_VVMA zero, zero
  T_VS_VI 14, HFENCE_GVMA zero, zero
  T_VS_VI 15, csrr a0, hgatp
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2: illegal instruction */
  T_VU_VI 16, sret
1:
  T_VU_VI 17, wfi
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2: illegal instruction */
  T_VU_VI 18, sfence.vma
1:
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2: illegal instruction */
  T_VU_VI 19, HFENCE_VVMA zero, zero
1:
  /* without VTSR/VTVM the same work in VS; TSR/TVM (HS only) do not matter there */
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 applies TSR/TVM to VS: run these without */
  li t0, MSTATUS_TSR | MSTATUS_TVM
  csrs mstatus, t0
1:
  T_VS_OK 20, sfence.vma
  T_VS_OK 21, csrr a0, satp
  TEST_CASE 22                      /* sret in VS returns within VS (vsepc, vsstatus.SPP) */
  M_GOTO_VS 1f
1:
  li t0, MSTATUS_SPP
  csrs sstatus, t0
  la t0, 2f
  csrw sepc, t0
  sret
  j fail
2:
  GOTO_M_FROM_VS 3f
3:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S   /* still VS */
  li t0, MSTATUS_TSR | MSTATUS_TVM
  csrc mstatus, t0
  TEST_CASE 23                      /* mstatus.TW: wfi at V=1 is illegal, in M */
  csrw medeleg, zero
  li t0, MSTATUS_TW
  csrs mstatus, t0
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_VS 1f
1:
  wfi
  j fail
2:
  li t0, MSTATUS_TW
  csrc mstatus, t0
  TEST_CASE 24                      /* mret from VS: illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_VS 1f
1:
  mret
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  TEST_CASE 25                      /* 22 not delegated: taken in M */
  EXPECT_TRAP CAUSE_VIRTUAL_INSN, 2f
  M_GOTO_VS 1f
1:
  HFENCE_GVMA zero, zero
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  CHECK_CSR mtinst, 0
  TEST_CASE 26                      /* hfence from U (V=0): illegal */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_U 1f
1:
  HFENCE_VVMA zero, zero
  j fail
2:
  csrw mstatush, zero

  /* ---- fences make page-table changes visible ---- */
  li t0, SATP_SV32 | 0x400
  csrw vsatp, t0
  H_FLUSH
  li s1, 0x40000000
  TEST_CASE 27                      /* VA 0x40000000 -> GPA 0x402000 -> data_a */
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_A
  TEST_CASE 28                      /* G-stage now onto data_b; HFENCE.GVMA by GPA >> 2 */
  SET_PTE gl0, 2, data_b, G_RW
  M_GOTO_HS 1f
1:
  li a0, 0x402000 >> 2
  HFENCE_GVMA a0, zero
  GOTO_M_FROM_S 2f
2:
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_B
  TEST_CASE 29                      /* VS-stage onto GPA 0x403000 (data_a); HFENCE.VVMA */
  SET_PTE gl0, 3, data_a, G_RW
  M_GOTO_HS 1f
1:
  HFENCE_GVMA zero, zero
  GOTO_M_FROM_S 2f
2:
  SET_PTE_PPN vsl0, 0, 0x403, VS_RW
  M_GOTO_HS 1f
1:
  HFENCE_VVMA s1, zero
  GOTO_M_FROM_S 2f
2:
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_A
  TEST_CASE 30                      /* and back, with the guest's own sfence.vma */
  SET_PTE_PPN vsl0, 0, 0x402, VS_RW
  M_GOTO_VS 1f
1:
  sfence.vma s1, zero
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_B
  csrw medeleg, zero

  TEST_PASS

  .bss
  .align 14
groot:    .skip 16384
gl0:      .skip 4096
vsroot:   .skip 4096
vsl0:     .skip 4096
data_a:   .skip 4096
data_b:   .skip 4096

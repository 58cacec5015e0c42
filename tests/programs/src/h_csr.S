/*
 * h_csr.S - the CSRs of the hypervisor extension (privileged spec 20211203, ch. 8):
 * read/write masks of hstatus, hedeleg, hideleg, hvip/hip/hie, hcounteren, htimedelta,
 * hgatp (Sv32x4, PPN[1:0] zero, VMID low bits first), the vs* CSRs and their
 * substitution for the s* CSRs at V=1, mideleg's read-only-one VS bits, mstatush.MPV/GVA,
 * mtval2/mtinst, which CSRs VS/VU-mode may touch (virtual-instruction 22 versus
 * illegal 2), and the V/MPV/SPV/SPVP bookkeeping of trap entry and return.
 */
#include "htest.h"

#define VAL_A 0x5a5a0001
#define VAL_B 0xa5a50002
#define VAL_C 0x3c3c0003

/* Write val to csr and fail unless (csr & mask) == exp. Clobbers t0, tp. */
.macro T_WMASK n, csr, val, mask, exp
  TEST_CASE \n
  li t0, \val
  csrw \csr, t0
  csrr t0, \csr
  CHECK_MASKED t0, \mask, \exp
.endm

/* From VS (V=1): run insn, which must raise cause, taken in M with MPV = 1. */
.macro T_VS_TRAP n, cause, insn:vararg
  TEST_CASE \n
  EXPECT_TRAP \cause, .Lr\@
  M_GOTO_VS .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  la t0, .Lv\@
  bne t4, t0, fail
  /* tval: the instruction bits or 0, as for an illegal instruction (8.6.1) */
  beqz t5, .Lt\@
  CHECK_TVAL_INSN
.Lt\@:
.endm
/* Same from VU; QEMU 7.2 raises qcause instead (it has no virtual-instruction case
 * for S CSRs and H CSRs accessed from VU). */
.macro T_VU_TRAP n, cause, qcause, insn:vararg
  TEST_CASE \n
  li s7, \cause
  SKIP_IF_QEMU7 .Lq\@
  j .Lnq\@
.Lq\@:
  li s7, \qcause
.Lnq\@:
  EXPECT_TRAP \cause, .Lr\@
  mv t5, s7
  M_GOTO_VU .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  bne t3, s7, fail
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  beqz t5, .Lt\@
  CHECK_TVAL_INSN
.Lt\@:
.endm
/* From U (V=0). */
.macro T_U_TRAP n, cause, insn:vararg
  TEST_CASE \n
  EXPECT_TRAP \cause, .Lr\@
  M_GOTO_U .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECK_MSTATUSH MSTATUSH_MPV, 0
.endm
/* From HS (V=0). */
.macro T_HS_TRAP n, cause, insn:vararg
  TEST_CASE \n
  EXPECT_TRAP \cause, .Lr\@
  M_GOTO_HS .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  CHECK_MSTATUSH MSTATUSH_MPV, 0
.endm

  .text
  .globl test_main
test_main:
  H_INIT

  /* ---- misa, mideleg ---- */
  TEST_CASE 1
  csrr t0, misa
  CHECK_MASKED t0, MISA_BIT('H') | MISA_BIT('S') | MISA_BIT('U'), MISA_BIT('H') | MISA_BIT('S') | MISA_BIT('U')
  /* mideleg bits 10/6/2 are read-only one with H (8.4.2) */
  T_WMASK 2, mideleg, 0, MIP_VS_ALL, MIP_VS_ALL
  T_WMASK 3, mideleg, 0xffffffff, MIP_VS_ALL, MIP_VS_ALL
  csrw mideleg, zero

  /* ---- hstatus: VTSR VTW VTVM HU SPVP SPV GVA writable, WPRI bits zero ---- */
  T_WMASK 4, hstatus, ~HSTATUS_VGEIN, 0x007003c0, 0x007003c0
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 keeps every bit written to hstatus */
  T_WMASK 5, hstatus, ~HSTATUS_VGEIN, ~0x0073f3e0, 0
1:
  T_WMASK 6, hstatus, 0, 0xffffffff, 0
  /* VSBE may be read-only (little-endian only); the WPRI bits around it read 0 */
  SKIP_IF_QEMU7 1f
  T_WMASK 7, hstatus, HSTATUS_VSBE | 0x1f, ~HSTATUS_VSBE, 0
1:
  csrw hstatus, zero

  /* ---- hedeleg: table 8.2 ---- */
  T_WMASK 8, hedeleg, 0xffffffff, 0xb1fe, 0xb1fe        /* 1-8, 12, 13, 15 writable */
  T_WMASK 9, hedeleg, 0xffffffff, 0x00f00e00, 0         /* 9-11, 20-23 read-only 0 */
  T_WMASK 10, hedeleg, 0, 0xffffffff, 0

  /* ---- hideleg: only 10/6/2 of bits 15:0 (the rest of mideleg is 0 here) ---- */
  T_WMASK 11, hideleg, 0xffffffff, 0xffff, MIP_VS_ALL
  T_WMASK 12, hideleg, 0, 0xffffffff, 0

  /* ---- hvip / hip / hie / mip / mie ---- */
  T_WMASK 13, hvip, 0xffffffff, 0xffff, MIP_VS_ALL
  TEST_CASE 14                      /* hip shows them; so does mip */
  csrr t0, hip
  CHECK_MASKED t0, MIP_VS_ALL, MIP_VS_ALL
  csrr t0, mip
  CHECK_MASKED t0, MIP_VS_ALL, MIP_VS_ALL
  TEST_CASE 15                      /* only VSSIP of hip is writable: clears hvip.VSSIP */
  li t0, MIP_VSSIP
  csrc hip, t0
  csrr t0, hvip
  CHECK_MASKED t0, 0xffff, MIP_VSTIP | MIP_VSEIP
  TEST_CASE 16                      /* hip writes do not touch VSTIP/VSEIP */
  csrw hip, zero
  csrr t0, hip
  CHECK_MASKED t0, MIP_VS_ALL, MIP_VSTIP | MIP_VSEIP
  TEST_CASE 17                      /* mip.VSSIP is an alias too */
  csrw hvip, zero
  li t0, MIP_VSSIP
  csrs mip, t0
  csrr t0, hvip
  CHECK t0, MIP_VSSIP
  csrw hvip, zero
  csrr t0, mip
  CHECK_MASKED t0, MIP_VS_ALL, 0
  T_WMASK 18, hie, 0xffffffff, 0xefff, MIP_VS_ALL        /* SGEIE may exist */
  TEST_CASE 19
  csrr t0, mie
  CHECK_MASKED t0, MIP_VS_ALL, MIP_VS_ALL
  csrw hie, zero
  csrr t0, mie
  CHECK_MASKED t0, MIP_VS_ALL, 0
  /* sie/sip never show the VS bits (8.2.3: sie and hie are mutually exclusive) */
  T_WMASK 20, sie, 0xffffffff, MIP_VS_ALL, 0
  csrw sie, zero

  /* ---- hcounteren, htimedelta ---- */
  T_WMASK 21, hcounteren, 7, 7, 7
  T_WMASK 22, hcounteren, 0, 0xffffffff, 0
  /* htimedelta, and time at V=1 = time + htimedelta. Skipped where there is no time
   * CSR (rdtime traps in M: QEMU's spike machine, which then also makes htimedelta
   * illegal). */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, .Lno_time
  rdtime t0
  li t4, 0                          /* disarm */
  T_WMASK 23, htimedelta, 0x12345678, 0xffffffff, 0x12345678
  T_WMASK 24, htimedeltah, 0x9abcdef0, 0xffffffff, 0x9abcdef0
  TEST_CASE 25
  li t0, 0x40000000
  csrw htimedelta, t0
  li t0, 1
  csrw htimedeltah, t0
  li t0, 7
  csrw mcounteren, t0
  csrw hcounteren, t0
  rdtimeh s2
  rdtime s3
  M_GOTO_VS 1f
1:
  rdtimeh s4
  rdtime s5
  GOTO_M_FROM_VS 2f
2:
  sub s5, s5, s3                    /* s5 = low(guest) - low(host): 0x40000000 + small */
  li t0, 0x40000000
  sub s5, s5, t0
  li t0, 100000
  bgeu s5, t0, fail
  sub s4, s4, s2                    /* high: +1, or +2 after a carry */
  addi s4, s4, -1
  li t0, 1
  bgtu s4, t0, fail
  TEST_CASE 26                      /* hcounteren.TM = 0: time at VS is virtual-instruction */
  csrw hcounteren, zero
  EXPECT_TRAP CAUSE_VIRTUAL_INSN, 2f
  M_GOTO_VS 1f
1:
  rdtime s5
  j fail
2:
  CHECK_TRAP CAUSE_VIRTUAL_INSN
  csrw htimedelta, zero
  csrw htimedeltah, zero
.Lno_time:
  li t4, 0
  csrw hcounteren, zero
  csrw mcounteren, zero

  /* ---- hgatp: MODE Sv32x4, PPN[1:0] read 0, VMID low bits first ---- */
  T_WMASK 27, hgatp, 0x80000000, 0xffffffff, 0x80000000
  TEST_CASE 28
  li t0, 0xffffffff
  csrw hgatp, t0
  csrr s0, hgatp
  srli t0, s0, 31
  CHECK t0, 1
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 keeps PPN[1:0] */
  li t0, HGATP_PPN
  and t0, s0, t0
  CHECK t0, 0x3ffffc
1:
  li t0, HGATP_VMID                 /* VMID = 2^k - 1 for some k <= 7 */
  and t0, s0, t0
  srli t0, t0, 22
  addi t1, t0, 1
  and t1, t1, t0
  bnez t1, fail
  SKIP_IF_QEMU7 1f
  T_WMASK 29, hgatp, 0x80012345, HGATP_PPN, 0x12344
1:
  T_WMASK 30, hgatp, 0, 0xffffffff, 0

  /* ---- mstatush MPV/GVA, mtval2, mtinst, htval, htinst ---- */
  T_WMASK 31, mstatush, MSTATUSH_MPV | MSTATUSH_GVA, 0xffffffff, MSTATUSH_MPV | MSTATUSH_GVA
  T_WMASK 32, mstatush, 0, 0xffffffff, 0
  T_WMASK 33, mtval2, 0, 0xffffffff, 0
  T_WMASK 34, mtinst, 0, 0xffffffff, 0
  T_WMASK 35, htval, 0, 0xffffffff, 0
  T_WMASK 36, htinst, 0, 0xffffffff, 0

  /* ---- vs* CSRs from M ---- */
  T_WMASK 37, vsstatus, 0xffffffff, 0x000c0122, 0x000c0122    /* SIE SPIE SPP SUM MXR */
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 keeps every bit written to vsstatus */
  T_WMASK 38, vsstatus, 0xffffffff, 0x00721888, 0             /* no M fields */
1:
  T_WMASK 39, vsstatus, 0, 0x000c0122, 0
  T_WMASK 40, vsscratch, VAL_A, 0xffffffff, VAL_A
  T_WMASK 41, vsepc, 0x80001234, 0xfffffffc, 0x80001234
  T_WMASK 42, vscause, 0x80000005, 0xffffffff, 0x80000005
  T_WMASK 43, vstval, VAL_B, 0xffffffff, VAL_B
  T_WMASK 44, vsatp, 0x80012345, 0xffffffff, 0x80012345
  T_WMASK 45, vstvec, 0x80002001, 0xffffffff, 0x80002001
  csrw vsatp, zero
  la t0, htrap_vs
  csrw vstvec, t0
  /* vsie/vsip: read-only zero while hideleg is 0 (8.2.12) */
  T_WMASK 46, vsie, 0xffffffff, 0x222, 0
  li t0, MIP_VS_ALL
  csrw hideleg, t0
  T_WMASK 47, vsie, 0x222, 0x222, 0x222
  TEST_CASE 48                      /* vsie.SSIE/STIE/SEIE alias hie.VSSIE/VSTIE/VSEIE */
  csrr t0, hie
  CHECK_MASKED t0, MIP_VS_ALL, MIP_VS_ALL
  csrw vsie, zero
  csrr t0, hie
  CHECK_MASKED t0, MIP_VS_ALL, 0
  TEST_CASE 49                      /* vsip.SSIP aliases hvip.VSSIP (writable) */
  li t0, 2
  csrs vsip, t0
  csrr t0, hvip
  CHECK t0, MIP_VSSIP
  csrr t0, vsip
  CHECK_MASKED t0, 0x222, 2
  csrw hvip, zero
  csrw hideleg, zero

  /* ---- substitution at V=1: s* CSRs are the vs* ones ---- */
  TEST_CASE 50
  li t0, VAL_A
  csrw vsscratch, t0
  li t0, VAL_B
  csrw sscratch, t0
  li t0, MSTATUS_SUM
  csrc mstatus, t0
  csrw vsstatus, zero
  M_GOTO_VS 1f
1:
  csrr s2, sscratch                 /* vsscratch */
  li t0, VAL_C
  csrw sscratch, t0
  li t0, MSTATUS_SUM
  csrs sstatus, t0                  /* vsstatus.SUM */
  csrr s3, sstatus
  li t0, 0x80000abc
  csrw sepc, t0                     /* vsepc */
  li t0, 0x1234
  csrw stval, t0                    /* vstval */
  GOTO_M_FROM_VS 2f
2:
  CHECK s2, VAL_A
  CHECK_CSR vsscratch, VAL_C
  CHECK_CSR sscratch, VAL_B
  CHECK_MASKED s3, MSTATUS_SUM, MSTATUS_SUM
  csrr t0, vsstatus
  CHECK_MASKED t0, MSTATUS_SUM, MSTATUS_SUM
  csrr t0, mstatus
  CHECK_MASKED t0, MSTATUS_SUM, 0   /* the HS sstatus is untouched */
  CHECK_CSR vsepc, 0x80000abc
  CHECK_CSR vstval, 0x1234
  csrw vsstatus, zero

  TEST_CASE 51                      /* sie/sip at V=1 are vsie/vsip */
  li t0, MIP_VS_ALL
  csrw hideleg, t0
  csrw hie, zero
  csrw hvip, zero
  M_GOTO_VS 1f
1:
  li t0, 0x222
  csrs sie, t0
  li t0, 2
  csrs sip, t0
  csrr s2, sip
  csrc sip, t0
  GOTO_M_FROM_VS 2f
2:
  CHECK_CSR hie, MIP_VS_ALL
  SKIP_IF_QEMU7 3f                  /* QEMU 7.2 drops sip writes at V=1 */
  CHECK_MASKED s2, 0x222, 2
3:
  CHECK_CSR hvip, 0
  csrw hie, zero
  csrw hideleg, zero

  /* ---- trap entry/return bookkeeping ---- */
  TEST_CASE 52                      /* ecall from VS into M: cause 10, MPV=1, MPP=S, GVA=0 */
  li t0, MSTATUSH_GVA
  csrs mstatush, t0
  EXPECT_TRAP CAUSE_VS_ECALL, 2f
  M_GOTO_VS 1f
1:
  ecall
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  SKIP_IF_QEMU7 3f                  /* QEMU 7.2 never clears mstatush.GVA on a trap */
  CHECK_MSTATUSH MSTATUSH_GVA, 0
3:
  csrr t0, mstatush                 /* resumed in M: MPV cleared by the handler's mret */
  CHECK_MASKED t0, MSTATUSH_MPV, 0
  csrw mstatush, zero
  TEST_CASE 53                      /* ecall from VU: cause 8, MPV=1, MPP=U */
  EXPECT_TRAP CAUSE_USER_ECALL, 2f
  M_GOTO_VU 1f
1:
  ecall
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  TEST_CASE 54                      /* ecall from HS into M: MPV=0 */
  EXPECT_TRAP CAUSE_SUPERVISOR_ECALL, 2f
  M_GOTO_HS 1f
1:
  ecall
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, 0
  TEST_CASE 55                      /* mret to MPP=M ignores MPV: stays in M (V=0) */
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 sets V from MPV even then */
  li t0, MSTATUSH_MPV
  csrs mstatush, t0
  li t0, MSTATUS_MPP_M
  csrs mstatus, t0
  la t0, 1f
  csrw mepc, t0
  mret
1:
  csrr t0, mstatush                 /* MPV cleared by mret; M CSRs still reachable */
  CHECK_MASKED t0, MSTATUSH_MPV, 0
  TEST_CASE 56                      /* HS sret with SPV=1 enters VS and clears SPV */
  EXPECT_TRAP CAUSE_VS_ECALL, 3f
  M_GOTO_HS 1f
1:
  HS_GOTO_VS 2f
2:
  csrr s2, sscratch                 /* a VS CSR access works (vsscratch) */
  ecall
  j fail
3:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  csrr t0, hstatus
  CHECK_MASKED t0, HSTATUS_SPV, 0
  TEST_CASE 57                      /* ecall from VS delegated to HS: SPV=1, SPVP=1, GVA=0 */
  li t0, 1 << CAUSE_VS_ECALL
  csrw medeleg, t0
  li t0, HSTATUS_GVA
  csrw hstatus, t0
  EXPECT_STRAP CAUSE_VS_ECALL, 2f
  M_GOTO_VS 1f
1:
  ecall
  j fail
2:
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA, HSTATUS_SPV | HSTATUS_SPVP
  CHECK_MASKED t6, MSTATUS_SPP, MSTATUS_SPP
  csrr t0, hstatus                  /* the handler resumed in HS with SPV cleared */
  CHECK_MASKED t0, HSTATUS_SPV, 0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 58                      /* ecall from VU delegated to HS: SPV=1, SPVP=0, SPP=0 */
  li t0, 1 << CAUSE_USER_ECALL
  csrw medeleg, t0
  li t0, HSTATUS_SPVP
  csrw hstatus, t0
  EXPECT_STRAP CAUSE_USER_ECALL, 2f
  M_GOTO_VU 1f
1:
  ecall
  j fail
2:
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_SPV
  CHECK_MASKED t6, MSTATUS_SPP, 0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 59                      /* ecall from U (V=0) to HS: SPV=0, SPVP unchanged */
  li t0, HSTATUS_SPVP
  csrw hstatus, t0
  EXPECT_STRAP CAUSE_USER_ECALL, 2f
  M_GOTO_U 1f
1:
  ecall
  j fail
2:
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_SPVP
  GOTO_M_FROM_S 3f
3:
  csrw medeleg, zero
  csrw hstatus, zero

  /* ---- who may touch which CSR ---- */
  T_VS_TRAP 60, CAUSE_VIRTUAL_INSN, csrr a0, hstatus      /* HS CSR from VS */
  T_VS_TRAP 61, CAUSE_VIRTUAL_INSN, csrw hgatp, zero
  T_VS_TRAP 62, CAUSE_VIRTUAL_INSN, csrr a0, vsstatus     /* VS CSR by its own number */
  T_VS_TRAP 63, CAUSE_VIRTUAL_INSN, csrr a0, htimedeltah  /* high half, RV32 */
  T_VS_TRAP 64, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, mstatus  /* M CSR: illegal */
  T_VS_TRAP 65, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, mtval2
  T_VU_TRAP 66, CAUSE_VIRTUAL_INSN, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, sstatus      /* S CSR from VU */
  T_VU_TRAP 67, CAUSE_VIRTUAL_INSN, CAUSE_VIRTUAL_INSN, csrr a0, hstatus      /* H CSR from VU */
  T_VU_TRAP 68, CAUSE_ILLEGAL_INSTRUCTION, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, mstatus
  T_U_TRAP 69, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, hstatus /* H CSR from U (V=0) */
  T_U_TRAP 70, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, vsstatus
  TEST_CASE 71                      /* HS reaches H and VS CSRs */
  M_GOTO_HS 1f
1:
  csrr a0, hstatus
  csrr a0, vsstatus
  csrr a0, hgatp
  GOTO_M_FROM_S 2f
2:
  /* mstatus.TVM: hgatp and HFENCE.GVMA from HS are illegal, HFENCE.VVMA is not */
  li t0, MSTATUS_TVM
  csrs mstatus, t0
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 lets HS reach hgatp under TVM */
  T_HS_TRAP 72, CAUSE_ILLEGAL_INSTRUCTION, csrr a0, hgatp
1:
  T_HS_TRAP 73, CAUSE_ILLEGAL_INSTRUCTION, HFENCE_GVMA zero, zero
  TEST_CASE 74
  M_GOTO_HS 1f
1:
  HFENCE_VVMA zero, zero
  GOTO_M_FROM_S 2f
2:
  TEST_CASE 75                      /* ... and M ignores TVM */
  csrr a0, hgatp
  HFENCE_GVMA zero, zero
  li t0, MSTATUS_TVM
  csrc mstatus, t0

  TEST_PASS

  .data
  .align 4

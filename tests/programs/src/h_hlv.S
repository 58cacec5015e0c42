/*
 * h_hlv.S - hypervisor virtual-machine loads and stores (privileged spec 20211203,
 * 8.3.1): HLV.B/BU/H/HU/W, HLVX.HU/WU and HSV.B/H/W from HS-mode, M-mode and U-mode
 * (hstatus.HU = 1) through both translation stages; hstatus.SPVP choosing VU- or
 * VS-level permissions (U bit, vsstatus.SUM; HS sstatus.SUM ignored); HLVX reading
 * execute-only pages and needing X at both stages; vsstatus.MXR (VS-stage only) and
 * HS MXR (both stages); the faults they raise (page faults 13/15 with htval 0, guest-
 * page faults 21/23 with htval = GPA >> 2, GVA = 1 while SPV = 0) in HS and in M;
 * illegal in U without HU, virtual-instruction at V=1.
 *
 * Guest-physical map: 0x8000_0000 mega identity; 0x40_0000 -> gl0: +0 vsroot,
 * +0x1000 vsl0, +0x2000 data_a, +0x3000 xpage X only, +0x4000 data_a R only;
 * 0x80_0000 missing.
 * Guest-virtual map (vsatp root at GPA 0x400000): 0x8000_0000 mega identity (VS);
 * 0x4000_0000 -> vsl0:
 *   +0x0000 data_a RW (S)     +0x1000 data_a RW U       +0x2000 xpage X only
 *   +0x3000 data_a R only     +0x4000 GPA 0x403000 R X  +0x5000 GPA 0x404000 R X
 *   +0x6000 invalid           +0x7000 GPA 0x800000 RW   +0x8000 GPA 0x404000 RW
 */
#include "htest.h"

#define VAL_A  0xaaaa0001
#define VAL_S  0x80818283                   /* at data_a + 0x20: sign-extension cases */
#define XWORD0 0x05a00513                   /* first word of xfunc */

#define VA_S      0x40000010
#define VA_U      0x40001010
#define VA_X      0x40002000
#define VA_R      0x40003010
#define VA_GX     0x40004000
#define VA_GR     0x40005010
#define VA_INV    0x40006010
#define VA_GMISS  0x40007010
#define VA_GRW    0x40008010

/* From HS (V=0): insn (s1 = va) must trap with cause into HS. Leaves t3-t6 and the
 * saved hstatus in sscratch; continues in M. */
.macro T_HS_HTRAP n, cause, va, insn:vararg
  .if \cause == CAUSE_LOAD_PAGE_FAULT
    T_HS_HTRAP_Q \n, \cause, CAUSE_LOAD_ACCESS, \va, \insn
  .elseif \cause == CAUSE_STORE_PAGE_FAULT
    T_HS_HTRAP_Q \n, \cause, CAUSE_STORE_ACCESS, \va, \insn
  .else
    T_HS_HTRAP_Q \n, \cause, \cause, \va, \insn
  .endif
.endm
/* qcause: what QEMU 7.2 raises instead (access faults 5/7 for the VS-stage page faults
 * of HLV/HLVX/HSV). */
.macro T_HS_HTRAP_Q n, cause, qcause, va, insn:vararg
  TEST_CASE \n
  li s1, \va
  li s0, 0x0bad0bad
  li s3, \cause
  SKIP_IF_QEMU7 .Lq\@
  j .Lnq\@
.Lq\@:
  li s3, \qcause
.Lnq\@:
  EXPECT_STRAP \cause, .Lr\@
  mv t5, s3
  M_GOTO_HS .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  bne t3, s3, fail
  CHECKR t5, s1
  la t0, .Lv\@
  CHECKR t4, t0
  CHECK s0, 0x0bad0bad
  CHECK_HSTATUS HSTATUS_GVA | HSTATUS_SPV, HSTATUS_GVA      /* GVA = 1 though SPV = 0 */
  csrr s2, htinst                   /* 0, or the HLV/HSV with rs1 = 0 */
  CHECK_TINST_XFORM s2, TINST_KEEP_AMO
  csrr s2, htval
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm
/* From HS: s0 = insn (s1 = va) must work. */
.macro T_HS_HLV n, va, val, insn:vararg
  TEST_CASE \n
  li s1, \va
  li s0, 0
  M_GOTO_HS .Lv\@
.Lv\@:
  \insn
  GOTO_M_FROM_S .Lm\@
.Lm\@:
  CHECK s0, \val
.endm
.macro SPVP_SET
  li t0, HSTATUS_SPVP
  csrs hstatus, t0
.endm
.macro SPVP_CLEAR
  li t0, HSTATUS_SPVP
  csrc hstatus, t0
.endm

  .text
  .globl test_main
test_main:
  H_INIT
  TEST_CASE 1
  G_STAGE_BASE
  SET_PTE gl0, 3, xpage, PTE_V | PTE_X | PTE_U | PTE_A
  SET_PTE gl0, 4, data_a, PTE_V | PTE_R | PTE_U | PTE_A
  SET_PTE_PPN vsroot, 0x200, 0x80000, VS_RWX
  SET_PTE_PPN vsroot, 0x100, 0x401, PTE_V
  SET_PTE_PPN vsl0, 0, 0x402, VS_RW
  SET_PTE_PPN vsl0, 1, 0x402, VS_RW | PTE_U
  SET_PTE vsl0, 2, xpage, PTE_V | PTE_X | PTE_A /* GPA of xpage = PA (identity mega) */
  SET_PTE_PPN vsl0, 3, 0x402, PTE_V | PTE_R | PTE_A
  SET_PTE_PPN vsl0, 4, 0x403, PTE_V | PTE_R | PTE_X | PTE_A
  SET_PTE_PPN vsl0, 5, 0x404, PTE_V | PTE_R | PTE_X | PTE_A
  SET_PTE_PPN vsl0, 7, 0x800, VS_RW
  SET_PTE_PPN vsl0, 8, 0x404, VS_RW
  la a0, data_a
  li a1, VAL_A
  sw a1, 0x10(a0)
  li a1, VAL_S
  sw a1, 0x20(a0)
  la t0, groot
  srli t0, t0, 12
  li t1, HGATP_SV32X4
  or t0, t0, t1
  csrw hgatp, t0
  li t0, SATP_SV32 | 0x400
  csrw vsatp, t0
  H_FLUSH
  SPVP_SET

  /* ---- widths and extension, SPVP = 1 (VS-level access) ---- */
  T_HS_HLV 2, VA_S, VAL_A, HLV_W s0, s1
  T_HS_HLV 3, VA_S + 0x10, 0xffffff83, HLV_B s0, s1
  T_HS_HLV 4, VA_S + 0x10, 0x00000083, HLV_BU s0, s1
  T_HS_HLV 5, VA_S + 0x10, 0xffff8283, HLV_H s0, s1
  T_HS_HLV 6, VA_S + 0x10, 0x00008283, HLV_HU s0, s1
  T_HS_HLV 7, VA_S + 0x11, 0xffffff82, HLV_B s0, s1
  TEST_CASE 8                                    /* HSV.W/H/B, seen through PA */
  li s1, VA_S + 0x20
  M_GOTO_HS 1f
1:
  li t0, 0x11223344
  HSV_W t0, s1
  addi t1, s1, 4
  li t0, 0x5566
  HSV_H t0, t1
  addi t1, s1, 6
  li t0, 0x77
  HSV_B t0, t1
  GOTO_M_FROM_S 2f
2:
  la t0, data_a
  lw t1, 0x30(t0)
  CHECK t1, 0x11223344
  lw t1, 0x34(t0)
  CHECK t1, 0x00775566
  T_HS_HLV 9, VA_S + 0x20, 0x11223344, HLV_W s0, s1   /* and read back with HLV */

  /* ---- SPVP and the U bit ---- */
  li t0, (1 << CAUSE_LOAD_PAGE_FAULT) | (1 << CAUSE_STORE_PAGE_FAULT) | (1 << CAUSE_LOAD_GUEST_PF) | (1 << CAUSE_STORE_GUEST_PF) | (1 << CAUSE_LOAD_ACCESS) | (1 << CAUSE_STORE_ACCESS)
  csrw medeleg, t0
  SPVP_CLEAR                                     /* as VU */
  T_HS_HLV 10, VA_U, VAL_A, HLV_W s0, s1
  T_HS_HTRAP 11, CAUSE_LOAD_PAGE_FAULT, VA_S, HLV_W s0, s1
  CHECK s2, 0                                    /* htval: a VS-stage fault */
  T_HS_HTRAP 12, CAUSE_STORE_PAGE_FAULT, VA_S, HSV_W s0, s1
  SPVP_SET                                       /* as VS: U pages need vsstatus.SUM */
  li t0, MSTATUS_SUM                             /* ... the HS SUM does not count */
  csrs mstatus, t0
  SKIP_IF_QEMU7 1f                               /* QEMU 7.2 uses the HS SUM */
  T_HS_HTRAP 13, CAUSE_LOAD_PAGE_FAULT, VA_U, HLV_W s0, s1
1:
  li t0, MSTATUS_SUM
  csrc mstatus, t0
  csrw vsstatus, t0
  T_HS_HLV 14, VA_U, VAL_A, HLV_W s0, s1
  csrw vsstatus, zero
  TEST_CASE 15                                   /* SPVP stays as set after HS <-> U */
  csrr t0, hstatus
  CHECK_MASKED t0, HSTATUS_SPVP | HSTATUS_SPV | HSTATUS_HU, HSTATUS_SPVP

  /* ---- HLVX: execute permission instead of read ---- */
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2: HLVX raises load access faults */
  T_HS_HLV 16, VA_X, XWORD0, HLVX_WU s0, s1
  T_HS_HLV 17, VA_X, XWORD0 & 0xffff, HLVX_HU s0, s1
  T_HS_HLV 18, VA_X + 2, XWORD0 >> 16, HLVX_HU s0, s1
1:
  T_HS_HTRAP 19, CAUSE_LOAD_PAGE_FAULT, VA_X, HLV_W s0, s1     /* X only: no HLV */
  SKIP_IF_QEMU7 1f
  T_HS_HTRAP 20, CAUSE_LOAD_PAGE_FAULT, VA_R, HLVX_WU s0, s1   /* R only: no HLVX */
1:
  li t0, MSTATUS_MXR                                          /* vsstatus.MXR opens */
  csrw vsstatus, t0                                           /* the VS-stage */
  SKIP_IF_QEMU7 1f                               /* QEMU 7.2: access fault */
  T_HS_HLV 21, VA_X, XWORD0, HLV_W s0, s1
1:
  csrw vsstatus, zero
  /* G-stage: the VS leaf is R X; the G leaf X only (xpage) or R only (data_a) */
  SKIP_IF_QEMU7 1f
  T_HS_HLV 22, VA_GX, XWORD0, HLVX_WU s0, s1
1:
  T_HS_HTRAP 23, CAUSE_LOAD_GUEST_PF, VA_GX, HLV_W s0, s1
  CHECK s2, 0x403000 >> 2
  SKIP_IF_QEMU7 1f
  T_HS_HTRAP 24, CAUSE_LOAD_GUEST_PF, VA_GR, HLVX_WU s0, s1
  CHECK s2, 0x404010 >> 2
1:
  T_HS_HLV 25, VA_GR, VAL_A, HLV_W s0, s1
  li t0, MSTATUS_MXR                             /* vsstatus.MXR: not the G-stage */
  csrw vsstatus, t0
  SKIP_IF_QEMU7 1f                               /* QEMU 7.2 applies it there too */
  T_HS_HTRAP 26, CAUSE_LOAD_GUEST_PF, VA_GX, HLV_W s0, s1
1:
  csrw vsstatus, zero
  li t0, MSTATUS_MXR                             /* HS MXR: both stages */
  csrs mstatus, t0
  SKIP_IF_QEMU7 1f                               /* QEMU 7.2 ignores it at the G-stage */
  T_HS_HLV 27, VA_GX, XWORD0, HLV_W s0, s1
1:
  li t0, MSTATUS_MXR
  csrc mstatus, t0

  /* ---- other faults ---- */
  T_HS_HTRAP 28, CAUSE_LOAD_PAGE_FAULT, VA_INV, HLV_W s0, s1
  CHECK s2, 0
  T_HS_HTRAP 29, CAUSE_STORE_PAGE_FAULT, VA_R, HSV_W s0, s1   /* R only */
  T_HS_HTRAP 30, CAUSE_LOAD_GUEST_PF, VA_GMISS, HLV_W s0, s1
  CHECK s2, 0x800010 >> 2
  T_HS_HTRAP 31, CAUSE_STORE_GUEST_PF, VA_GMISS, HSV_B s0, s1
  CHECK s2, 0x800010 >> 2
  T_HS_HTRAP 32, CAUSE_STORE_GUEST_PF, VA_GRW, HSV_H s0, s1   /* G leaf R only */
  CHECK s2, 0x404010 >> 2
  /* ... taken in M: mtval2, mstatush.GVA = 1, MPV = 0 */
  csrw medeleg, zero
  TEST_CASE 33
  li s1, VA_GMISS
  EXPECT_TRAP CAUSE_LOAD_GUEST_PF, 2f
  M_GOTO_HS 1f
1:
  HLV_W s0, s1
  j fail
2:
  CHECKR t5, s1
  CHECK_MSTATUSH MSTATUSH_MPV, 0
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  csrr s2, mtinst
  CHECK_TINST_XFORM s2, TINST_KEEP_AMO
  SKIP_IF_QEMU7 3f                  /* QEMU 7.2: GVA 0 and mtval2 0 for HLV faults in M */
  CHECK_MSTATUSH MSTATUSH_GVA, MSTATUSH_GVA
  CHECK_CSR mtval2, 0x800010 >> 2
3:
  csrw mstatush, zero
  TEST_CASE 34                                   /* HLV works in M-mode too */
  li s1, VA_S
  HLV_W s0, s1
  CHECK s0, VAL_A

  /* ---- U-mode: with hstatus.HU only ---- */
  TEST_CASE 35
  li t0, HSTATUS_HU
  csrs hstatus, t0
  li s1, VA_S
  li s0, 0
  M_GOTO_U 1f
1:
  HLV_W s0, s1
  li t0, VAL_A
  HSV_W t0, s1
  GOTO_M_FROM_U 2f
2:
  CHECK s0, VAL_A
  TEST_CASE 36                                   /* a fault from U, taken in HS */
  li t0, 1 << CAUSE_LOAD_GUEST_PF
  csrw medeleg, t0
  li s1, VA_GMISS
  EXPECT_STRAP CAUSE_LOAD_GUEST_PF, 2f
  M_GOTO_U 1f
1:
  HLV_W s0, s1
  j fail
2:
  CHECK_HSTATUS HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_GVA | HSTATUS_SPVP
  CHECK_MASKED t6, MSTATUS_SPP, 0
  CHECK_CSR htval, 0x800010 >> 2
  GOTO_M_FROM_S 3f
3:
  csrw medeleg, zero
  li t0, HSTATUS_HU
  csrc hstatus, t0
  TEST_CASE 37                                   /* HU = 0: illegal in U */
  li s1, VA_S
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_U 1f
1:
  HLV_W s0, s1
  j fail
2:
  TEST_CASE 38
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_U 1f
1:
  HSV_W s0, s1
  j fail
2:
  TEST_CASE 39
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 2f
  M_GOTO_U 1f
1:
  HLVX_WU s0, s1
  j fail
2:
  /* ---- at V=1: virtual instruction, from VS and from VU ---- */
  TEST_CASE 40
  EXPECT_TRAP CAUSE_VIRTUAL_INSN, 2f
  M_GOTO_VS 1f
1:
  HLV_W s0, s1
  j fail
2:
  CHECK_MSTATUSH MSTATUSH_MPV, MSTATUSH_MPV
  CHECK_CSR mtinst, 0
  TEST_CASE 41
  EXPECT_TRAP CAUSE_VIRTUAL_INSN, 2f
  M_GOTO_VS 1f
1:
  HSV_W s0, s1
  j fail
2:
  TEST_CASE 42
  csrw vsatp, zero                               /* VU runs the program (no VS U pages) */
  H_FLUSH
  li t0, HSTATUS_HU                              /* HU does not matter at V=1 */
  csrs hstatus, t0
  EXPECT_TRAP CAUSE_VIRTUAL_INSN, 2f
  M_GOTO_VU 1f
1:
  HLV_W s0, s1
  j fail
2:
  csrw hstatus, zero
  csrw mstatush, zero

  TEST_PASS

  .section .text.xpage, "ax", @progbits
  .align 12
xpage:
xfunc:
  li a0, 0x5a
  ret
  .align 12

  .bss
  .align 14
groot:    .skip 16384
gl0:      .skip 4096
vsroot:   .skip 4096
vsl0:     .skip 4096
data_a:   .skip 4096

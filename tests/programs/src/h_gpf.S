/*
 * h_gpf.S - guest-page faults (privileged spec 20211203, 8.5.1-8.5.2, 8.6): fetch (20),
 * load (21) and store/AMO (23) for a G-stage entry that is missing, invalid, without U,
 * without the R/W/X the access needs, a reserved W-without-R leaf, a pointer at level 0,
 * a misaligned G megapage, a GPA above 4 GiB, and the implicit G-stage faults of VS-stage
 * page-table reads (and of an A-bit update on a read-only table page). Each is checked
 * taken in HS (scause, stval = guest VA, htval = GPA >> 2, hstatus.GVA/SPV/SPVP, htinst)
 * and some taken in M (mtval, mtval2, mstatush.GVA/MPV, mtinst). VS-stage faults stay
 * ordinary page faults (12/13/15) with htval = 0 and GVA = 1. HS-level MXR opens
 * execute-only G-stage pages, vsstatus.MXR does not.
 *
 * htinst/mtinst: zero or the transformed instruction for explicit loads/stores/AMOs;
 * zero for explicit fetches; for a fault of an implicit VS-stage table access with a
 * nonzero htval the spec requires the pseudoinstruction 0x00002000 (read) or
 * 0x00002020 (write, A/D update) and forbids zero (8.6.3).
 * htval: the spec allows 0 or GPA >> 2; these programs require GPA >> 2 (pvsim and QEMU).
 *
 * Guest-physical map (hgatp -> groot):
 *   0x8000_0000 mega  identity, the program
 *   0x0040_0000 -> gl0:  +0x0000 vsroot, +0x1000 vsl0, +0x2000 data_a (RW),
 *                        +0x3000 data_a invalid (V=0), +0x4000 data_a without U,
 *                        +0x5000 data_a R only, +0x6000 xpage X only, +0x7000 xpage RW
 *                        (no X), +0x8000 data_a W only (reserved), +0x9000 pointer at
 *                        level 0, +0xa000 vsl0_x (a VS table on an X-only G page),
 *                        +0xb000 vsl0_ro (a VS table on a read-only G page)
 *   0x0080_0000       missing (root entry 0)
 *   0x00c0_0000       misaligned megapage (PPN[0] != 0)
 *   0x1_0000_0000     missing (above 4 GiB)
 * Guest-virtual map when vsatp is on (root at GPA 0x400000):
 *   0x8000_0000 mega identity; 0x4000_0000 -> vsl0_x; 0x4040_0000 -> table at GPA
 *   0x800000 (missing); 0x4080_0000 -> vsl0_ro whose entry 0 has A = 0;
 *   0x40c0_0000 invalid (VS-stage page fault); 0x4100_0000 -> vsl0: +0 data_a (U),
 *   +0x1000 xpage (X only), +0x2000 data_a; 0x4140_0000 mega onto GPA 0x1_0000_0000.
 */
#include "htest.h"

#define VAL_A  0xaaaa0001
#define XWORD0 0x05a00513                   /* addi a0, x0, 0x5a: first word of xfunc */

#define GPA_OK       0x00402010
#define GPA_INVALID  0x00403010
#define GPA_NOU      0x00404010
#define GPA_RONLY    0x00405010
#define GPA_XONLY    0x00406000
#define GPA_NOX      0x00407000
#define GPA_WONLY    0x00408010
#define GPA_L0PTR    0x00409010
#define GPA_MISSING  0x00800010
#define GPA_MISALIGN 0x00c00010

/* htinst kinds */
#define TK_ZERO   0
#define TK_LOAD   1
#define TK_STORE  2
#define TK_AMO    3
#define TK_PREAD  4
#define TK_PWRITE 5

/* Fail unless the trap-instruction value in reg fits kind tk (epc in t4, identity). */
.macro CHECK_TK reg, tk
  .if \tk == TK_ZERO
    bnez \reg, fail
  .elseif \tk == TK_LOAD
    CHECK_TINST_XFORM \reg, TINST_KEEP_LOAD
  .elseif \tk == TK_STORE
    CHECK_TINST_XFORM \reg, TINST_KEEP_STORE
  .elseif \tk == TK_AMO
    CHECK_TINST_XFORM \reg, TINST_KEEP_AMO
  .elseif \tk == TK_PREAD
    SKIP_IF_QEMU7_ANY .Lsk\@        /* QEMU 7.2 writes 0 (not allowed here) */
    CHECK \reg, TINST_PSEUDO_READ
.Lsk\@:
  .else
    SKIP_IF_QEMU7_ANY .Lsk\@
    CHECK \reg, TINST_PSEUDO_WRITE
.Lsk\@:
  .endif
.endm

/* From VS (vsatp as set), s1 = va: insn must raise cause, taken in HS, with stval = va,
 * htval = gpa >> 2, GVA = SPV = SPVP = 1. fetch = 1: epc = va (a jump target). */
.macro T_GPF_HS n, cause, va, gpa, tk, fetch, insn:vararg
  T_GPF_HS_Q \n, \cause, \cause, \va, \gpa, \tk, \fetch, \insn
.endm
/* qcause: the cause QEMU 7.2 raises instead (21 for AMOs: it checks them as loads). */
.macro T_GPF_HS_Q n, cause, qcause, va, gpa, tk, fetch, insn:vararg
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
  M_GOTO_VS .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  bne t3, s3, fail
  CHECKR t5, s1
  .if \fetch
    CHECKR t4, s1
  .else
    la t0, .Lv\@
    CHECKR t4, t0
  .endif
  CHECK_HSTATUS HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP
  csrr t0, htval
  CHECK t0, ((\gpa) >> 2)
  csrr s2, htinst
  CHECK_TK s2, \tk
  CHECK s0, 0x0bad0bad
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm

/* Same, not delegated: taken in M with mtval, mtval2, mtinst, mstatush.GVA/MPV. */
.macro T_GPF_M n, cause, va, gpa, tk, fetch, insn:vararg
  T_GPF_M_Q \n, \cause, \cause, \va, \gpa, \tk, \fetch, \insn
.endm
.macro T_GPF_M_Q n, cause, qcause, va, gpa, tk, fetch, insn:vararg
  TEST_CASE \n
  li s1, \va
  li s0, 0x0bad0bad
  li s3, \cause
  SKIP_IF_QEMU7 .Lq\@
  j .Lnq\@
.Lq\@:
  li s3, \qcause
.Lnq\@:
  EXPECT_TRAP \cause, .Lr\@
  mv t5, s3
  M_GOTO_VS .Lv\@
.Lv\@:
  \insn
  j fail
.Lr\@:
  bne t3, s3, fail
  CHECKR t5, s1
  .if \fetch
    CHECKR t4, s1
  .else
    la t0, .Lv\@
    CHECKR t4, t0
  .endif
  CHECK_MSTATUSH MSTATUSH_GVA | MSTATUSH_MPV, MSTATUSH_GVA | MSTATUSH_MPV
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  csrr t0, mtval2
  CHECK t0, ((\gpa) >> 2)
  csrr s2, mtinst
  CHECK_TK s2, \tk
  CHECK s0, 0x0bad0bad
  csrw mstatush, zero
.endm

/* The four accesses against one G-stage entry, taken in HS (cases n1 .. n4). */
.macro T_GPF_ALL n1, n2, n3, n4, gpa
  T_GPF_HS \n1, CAUSE_LOAD_GUEST_PF, \gpa, \gpa, TK_LOAD, 0, lw s0, 0(s1)
  T_GPF_HS \n2, CAUSE_STORE_GUEST_PF, \gpa, \gpa, TK_STORE, 0, sw s0, 0(s1)
  T_GPF_HS_Q \n3, CAUSE_STORE_GUEST_PF, CAUSE_LOAD_GUEST_PF, \gpa, \gpa, TK_AMO, 0, amoadd.w s0, s0, (s1)
  T_GPF_HS \n4, CAUSE_FETCH_GUEST_PF, \gpa, \gpa, TK_ZERO, 1, jalr s1
.endm

/* From VS: s0 = lw (va) must work. */
.macro T_VS_LOAD n, va, val
  TEST_CASE \n
  li s1, \va
  li s0, 0
  M_GOTO_VS .Lv\@
.Lv\@:
  lw s0, 0(s1)
  GOTO_M_FROM_VS .Lm\@
.Lm\@:
  CHECK s0, \val
.endm


  .text
  .globl test_main
test_main:
  H_INIT
  TEST_CASE 1
  G_STAGE_BASE
  SET_PTE gl0, 3, data_a, PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
  SET_PTE gl0, 4, data_a, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  SET_PTE gl0, 5, data_a, PTE_V | PTE_R | PTE_U | PTE_A | PTE_D
  SET_PTE gl0, 6, xpage, PTE_V | PTE_X | PTE_U | PTE_A
  SET_PTE gl0, 7, xpage, G_RW
  SET_PTE gl0, 8, data_a, PTE_V | PTE_W | PTE_U | PTE_A | PTE_D
  SET_PTE gl0, 9, data_a, PTE_V
  SET_PTE gl0, 10, vsl0_x, PTE_V | PTE_X | PTE_U | PTE_A
  SET_PTE gl0, 11, vsl0_ro, PTE_V | PTE_R | PTE_U | PTE_A
  SET_PTE_PPN groot, 3, 0x80001, G_RWX
  /* VS tables (used from case 60 on) */
  SET_PTE_PPN vsroot, 0x200, 0x80000, VS_RWX
  SET_PTE_PPN vsroot, 0x100, 0x40a, PTE_V
  SET_PTE_PPN vsroot, 0x101, 0x800, PTE_V
  SET_PTE_PPN vsroot, 0x102, 0x40b, PTE_V
  SET_PTE_PPN vsroot, 0x104, 0x401, PTE_V
  SET_PTE_PPN vsroot, 0x105, 0x100000, VS_RWX   /* onto GPA 0x1_0000_0000: unmapped */
  SET_PTE_PPN vsl0_x, 0, 0x402, VS_RW
  SET_PTE_PPN vsl0_ro, 0, 0x402, PTE_V | PTE_R | PTE_W
  SET_PTE_PPN vsl0, 0, 0x402, VS_RW | PTE_U
  SET_PTE_PPN vsl0, 1, 0x406, PTE_V | PTE_X | PTE_A
  SET_PTE_PPN vsl0, 2, 0x402, VS_RW
  la a0, data_a
  li a1, VAL_A
  sw a1, 0x10(a0)
  la t0, groot
  srli t0, t0, 12
  li t1, HGATP_SV32X4
  or t0, t0, t1
  csrw hgatp, t0
  H_FLUSH
  li t0, (1 << CAUSE_FETCH_GUEST_PF) | (1 << CAUSE_LOAD_GUEST_PF) | (1 << CAUSE_STORE_GUEST_PF)
  csrw medeleg, t0
  T_VS_LOAD 2, GPA_OK, VAL_A

  /* ---- every access against every broken G-stage entry (vsatp bare) ---- */
  T_GPF_ALL 3, 4, 5, 6, GPA_MISSING                 /* root entry missing */
  T_GPF_ALL 7, 8, 9, 10, GPA_INVALID                 /* leaf V = 0 */
  T_GPF_ALL 11, 12, 13, 14, GPA_NOU                    /* leaf without U */
  T_GPF_ALL 15, 16, 17, 18, GPA_WONLY                  /* W without R: reserved */
  T_GPF_ALL 19, 20, 21, 22, GPA_L0PTR                  /* pointer PTE at level 0 */
  T_GPF_ALL 23, 24, 25, 26, GPA_MISALIGN               /* misaligned megapage */

  /* ---- permissions a leaf lacks ---- */
  T_VS_LOAD 31, GPA_RONLY, VAL_A
  T_GPF_HS 32, CAUSE_STORE_GUEST_PF, GPA_RONLY, GPA_RONLY, TK_STORE, 0, sw s0, 0(s1)
  T_GPF_HS 33, CAUSE_STORE_GUEST_PF, GPA_RONLY, GPA_RONLY, TK_AMO, 0, amoswap.w s0, s0, (s1)
  T_GPF_HS 34, CAUSE_LOAD_GUEST_PF, GPA_INVALID + 4, GPA_INVALID + 4, TK_AMO, 0, lr.w s0, (s1)
  T_GPF_HS 35, CAUSE_FETCH_GUEST_PF, GPA_RONLY, GPA_RONLY, TK_ZERO, 1, jalr s1
  T_GPF_HS 36, CAUSE_LOAD_GUEST_PF, GPA_XONLY, GPA_XONLY, TK_LOAD, 0, lw s0, 0(s1)
  T_GPF_HS 37, CAUSE_STORE_GUEST_PF, GPA_XONLY, GPA_XONLY, TK_STORE, 0, sw s0, 0(s1)
  T_GPF_HS 38, CAUSE_FETCH_GUEST_PF, GPA_NOX, GPA_NOX, TK_ZERO, 1, jalr s1
  T_VS_LOAD 39, GPA_NOX, XWORD0
  TEST_CASE 40                             /* an X-only G page runs */
  li s1, GPA_XONLY
  li a0, 0
  M_GOTO_VS 1f
1:
  jalr s1
  GOTO_M_FROM_VS 2f
2:
  CHECK a0, 0x5a
  TEST_CASE 41                             /* vsstatus.MXR does not open G-stage X-only */
  li t0, MSTATUS_MXR
  csrw vsstatus, t0
  SKIP_IF_QEMU7 1f                         /* QEMU 7.2 applies vsstatus.MXR to the G-stage */
  T_GPF_HS 42, CAUSE_LOAD_GUEST_PF, GPA_XONLY, GPA_XONLY, TK_LOAD, 0, lw s0, 0(s1)
1:
  csrw vsstatus, zero
  TEST_CASE 43                             /* HS-level MXR does */
  li t0, MSTATUS_MXR
  csrs mstatus, t0
  SKIP_IF_QEMU7 1f                         /* QEMU 7.2: only vsstatus.MXR counts there */
  T_VS_LOAD 44, GPA_XONLY, XWORD0
1:
  li t0, MSTATUS_MXR
  csrc mstatus, t0
  TEST_CASE 45                             /* from VU: SPVP = 0 */
  li s1, GPA_MISSING
  EXPECT_STRAP CAUSE_LOAD_GUEST_PF, 2f
  M_GOTO_VU 1f
1:
  lw s0, 0(s1)
  j fail
2:
  CHECK_TRAP CAUSE_LOAD_GUEST_PF
  CHECK_HSTATUS HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_GVA | HSTATUS_SPV
  CHECK_MASKED t6, MSTATUS_SPP, 0
  csrr t0, htval
  CHECK t0, GPA_MISSING >> 2
  GOTO_M_FROM_S 3f
3:

  /* ---- taken in M (not delegated): mtval2, mtinst, mstatush ---- */
  csrw medeleg, zero
  T_GPF_M 46, CAUSE_LOAD_GUEST_PF, GPA_INVALID, GPA_INVALID, TK_LOAD, 0, lw s0, 0(s1)
  T_GPF_M 47, CAUSE_STORE_GUEST_PF, GPA_RONLY, GPA_RONLY, TK_STORE, 0, sw s0, 0(s1)
  T_GPF_M_Q 48, CAUSE_STORE_GUEST_PF, CAUSE_LOAD_GUEST_PF, GPA_NOU, GPA_NOU, TK_AMO, 0, amoor.w s0, s0, (s1)
  T_GPF_M 49, CAUSE_FETCH_GUEST_PF, GPA_MISSING, GPA_MISSING, TK_ZERO, 1, jalr s1
  li t0, (1 << CAUSE_FETCH_GUEST_PF) | (1 << CAUSE_LOAD_GUEST_PF) | (1 << CAUSE_STORE_GUEST_PF)
  csrw medeleg, t0

  /* ---- implicit G-stage faults of VS-stage table accesses (vsatp on) ---- */
  li t0, SATP_SV32 | 0x400
  csrw vsatp, t0
  H_FLUSH
  T_VS_LOAD 60, 0x41002010, VAL_A          /* sanity: a good two-stage walk */
  /* level-0 table on an X-only G page: the table read needs R, the fault has the
   * original access type (8.5.1; QEMU 7.2 reports every such fault as a load: 21) */
  T_GPF_HS 61, CAUSE_LOAD_GUEST_PF, 0x40000010, 0x40a000, TK_PREAD, 0, lw s0, 0(s1)
  T_GPF_HS_Q 62, CAUSE_STORE_GUEST_PF, CAUSE_LOAD_GUEST_PF, 0x40000010, 0x40a000, TK_PREAD, 0, sw s0, 0(s1)
  T_GPF_HS_Q 63, CAUSE_STORE_GUEST_PF, CAUSE_LOAD_GUEST_PF, 0x40000010, 0x40a000, TK_PREAD, 0, amoadd.w s0, s0, (s1)
  T_GPF_HS_Q 64, CAUSE_FETCH_GUEST_PF, CAUSE_LOAD_GUEST_PF, 0x40000010, 0x40a000, TK_PREAD, 1, jalr s1
  /* level-0 table at a GPA the G-stage does not map: htval = that PTE's GPA >> 2 */
  T_GPF_HS 65, CAUSE_LOAD_GUEST_PF, 0x40405010, 0x800014, TK_PREAD, 0, lw s0, 0(s1)
  /* A = 0 in a VS leaf on a read-only G page: the A update is a G-stage store */
  SKIP_IF_QEMU7 1f                         /* QEMU 7.2 writes A without a G-stage W check */
  T_GPF_HS 66, CAUSE_LOAD_GUEST_PF, 0x40800010, 0x40b000, TK_PWRITE, 0, lw s0, 0(s1)
1:
  /* ... taken in M */
  csrw medeleg, zero
  T_GPF_M 67, CAUSE_LOAD_GUEST_PF, 0x40000010, 0x40a000, TK_PREAD, 0, lw s0, 0(s1)
  TEST_CASE 68                             /* the root itself unmapped: the first fetch */
  li t0, SATP_SV32 | 0x800                 /* root at GPA 0x800000: missing */
  csrw vsatp, t0
  H_FLUSH
  li s3, CAUSE_FETCH_GUEST_PF
  SKIP_IF_QEMU7 3f
  j 4f
3:
  li s3, CAUSE_LOAD_GUEST_PF               /* QEMU 7.2: implicit faults are loads */
4:
  la s1, 1f
  EXPECT_TRAP CAUSE_FETCH_GUEST_PF, 2f
  mv t5, s3
  M_GOTO_VS 1f
1:
  j fail
2:
  bne t3, s3, fail
  CHECKR t4, s1
  CHECKR t5, s1
  CHECK_MSTATUSH MSTATUSH_GVA | MSTATUSH_MPV, MSTATUSH_GVA | MSTATUSH_MPV
  csrr t0, mtval2                          /* root GPA + VPN[1] * 4 */
  li t1, 0x800000 >> 2
  srli t2, s1, 22
  add t1, t1, t2
  CHECKR t0, t1
  csrr s2, mtinst
  CHECK_TK s2, TK_PREAD
  csrw mstatush, zero
  li t0, SATP_SV32 | 0x400
  csrw vsatp, t0
  H_FLUSH
  /* a VS leaf onto GPA 0x1_0000_0010 (34-bit, unmapped): htval keeps bit 32 */
  T_GPF_M 69, CAUSE_LOAD_GUEST_PF, 0x41400010, 0x100000010, TK_LOAD, 0, lw s0, 0(s1)
  li t0, (1 << CAUSE_FETCH_GUEST_PF) | (1 << CAUSE_LOAD_GUEST_PF) | (1 << CAUSE_STORE_GUEST_PF)
  csrw medeleg, t0
  T_GPF_HS 70, CAUSE_STORE_GUEST_PF, 0x41400010, 0x100000010, TK_STORE, 0, sw s0, 0(s1)
  T_GPF_HS 71, CAUSE_FETCH_GUEST_PF, 0x41400010, 0x100000010, TK_ZERO, 1, jalr s1

  /* ---- VS-stage faults are page faults (12/13/15), htval 0, GVA 1 ---- */
  li t0, (1 << CAUSE_FETCH_PAGE_FAULT) | (1 << CAUSE_LOAD_PAGE_FAULT) | (1 << CAUSE_STORE_PAGE_FAULT)
  csrw medeleg, t0
  TEST_CASE 75                             /* invalid VS root entry, load */
  li s1, 0x40c00010
  EXPECT_STRAP CAUSE_LOAD_PAGE_FAULT, 2f
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  j fail
2:
  CHECKR t5, s1
  CHECK_HSTATUS HSTATUS_GVA | HSTATUS_SPV, HSTATUS_GVA | HSTATUS_SPV
  CHECK_CSR htval, 0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 76                             /* store to an X-only VS page */
  li s1, 0x41001000
  EXPECT_STRAP CAUSE_STORE_PAGE_FAULT, 2f
  M_GOTO_VS 1f
1:
  sw s0, 0(s1)
  j fail
2:
  CHECKR t5, s1
  CHECK_HSTATUS HSTATUS_GVA, HSTATUS_GVA
  CHECK_CSR htval, 0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 77                             /* VS on a U page without SUM: 13, to VS */
  li t0, 1 << CAUSE_LOAD_PAGE_FAULT
  csrw hedeleg, t0
  li s1, 0x41000010
  EXPECT_VSTRAP CAUSE_LOAD_PAGE_FAULT, 2f
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  j fail
2:
  CHECKR t5, s1                            /* vstval */
  GOTO_M_FROM_VS 3f
3:
  csrw hedeleg, zero
  csrw medeleg, zero
  TEST_CASE 78                             /* and with vsstatus.SUM the load works */
  li t0, MSTATUS_SUM
  csrw vsstatus, t0
  T_VS_LOAD 79, 0x41000010, VAL_A
  csrw vsstatus, zero

  TEST_PASS

  /* xfunc: alone in its page, reached at GPA 0x406000 / 0x407000 */
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
vsl0_x:   .skip 4096
vsl0_ro:  .skip 4096
data_a:   .skip 4096

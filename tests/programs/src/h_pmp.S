/*
 * h_pmp.S - PMP and debug triggers with the hypervisor extension (privileged spec
 * 20211203, 3.7.1 and 8.5; debug specification 1.0, Sdtrig).
 *
 * PMP checks every implicit access of two-stage translation as an S-mode access: the
 * G-stage PTE reads, the VS-stage PTE reads (at the address the G-stage gave) and the
 * A/D writes; a denied one is an access fault of the original access type (1, 5, 7),
 * never a guest-page fault, with mtval2 = 0. HLV/HSV are checked with the privilege
 * they access as (hstatus.SPVP: S or U), even from M. A type-2 (mcontrol) trigger has
 * no vs/vu bits: its s and u bits mean HS and U, so it never fires at V=1.
 *
 * PMP: entry 1 gives everything RWX to S/U (background); entry 0, not locked (M is
 * never checked), is the region under test, OFF between cases.
 * Guest-physical map (hgatp -> groot, Sv32x4):
 *   0x8000_0000 (4 MiB) -> PA 0x8000_0000 megapage, identity (program, VS tables, data)
 *   0x0040_0000         -> gl0 (4 KiB pages): +0 -> data_a
 * Guest-virtual map (vsatp -> vsroot, at its PA = GPA):
 *   0x8000_0000 mega -> GPA 0x8000_0000
 *   0x4000_0000 -> vsl0: +0x0000 -> data_a, +0x1000 -> data_a with A = D = 0
 */
#include "htest.h"

#define VAL_A     0x5a5a0001
#define PMP_R     0x01
#define PMP_NAPOT 0x18
#define PMP_RWX   0x07
#define NAPOT_4K(pa) (((pa) >> 2) | 0x1ff)
#define GPA_GL0   0x00400000
#define VA_VSL0   0x40000000
#define VSATP_ON(root) (SATP_SV32 | ((root) >> 12))
#define TDATA1_TYPE2 0x20000000
#define MC_S      0x10
#define MC_U      0x08
#define MC_LOAD   0x01

/* Entry 0 = cfg over the 4 KiB page at symbol sym; flushes translations. Clobbers a0. */
.macro PMP0 sym, cfg
  la a0, \sym
  srli a0, a0, 2
  ori a0, a0, 0x1ff
  csrw pmpaddr0, a0
  li a0, 0xff
  csrc pmpcfg0, a0
  li a0, \cfg
  csrs pmpcfg0, a0
  sfence.vma
  HFENCE_GVMA zero, zero
  HFENCE_VVMA zero, zero
.endm
.macro PMP0_OFF
  li a0, 0xff
  csrc pmpcfg0, a0
  sfence.vma
  HFENCE_GVMA zero, zero
  HFENCE_VVMA zero, zero
.endm
/* From M: in VS, load s0 from the address in s1, expecting an access fault in M. */
.macro VS_LOAD_FAULTS cause
  EXPECT_TRAP \cause, .Lm\@
  M_GOTO_VS .Lv\@
.Lv\@:
  lw s0, 0(s1)
  j fail
.Lm\@:
  CHECKR t5, s1
  CHECK_MSTATUSH (MSTATUSH_MPV | MSTATUSH_GVA), (MSTATUSH_MPV | MSTATUSH_GVA)
  SKIP_IF_QEMU7 .Lpmpq\@
  CHECK_CSR mtval2, 0
.Lpmpq\@:
.endm
/* From M: in VS, load s0 from the address in s1 and come back. */
.macro VS_LOAD
  M_GOTO_VS .Lv\@
.Lv\@:
  lw s0, 0(s1)
  GOTO_M_FROM_VS .Lm\@
.Lm\@:
.endm

  .text
  .globl test_main
test_main:
  H_INIT

  /* ---- tables and PMP (M, physical) ---- */
  TEST_CASE 1
  csrw pmpcfg0, zero
  li t0, -1
  csrw pmpaddr1, t0
  li t0, (PMP_NAPOT | PMP_RWX) << 8
  csrw pmpcfg0, t0
  la t0, groot
  li t1, 0x3fff
  and t0, t0, t1
  bnez t0, fail
  SET_PTE_PPN groot, 0x200, 0x80000, G_RWX
  SET_PTE groot, 1, gl0, PTE_V
  SET_PTE gl0, 0, data_a, G_RW
  SET_PTE_PPN vsroot, 0x200, 0x80000, VS_RWX
  SET_PTE vsroot, 0x100, vsl0, PTE_V
  SET_PTE vsl0, 0, data_a, VS_RW
  SET_PTE vsl0, 1, data_a, PTE_V | PTE_R | PTE_W
  la a0, data_a
  li a1, VAL_A
  sw a1, 0(a0)
  la t0, groot
  srli t0, t0, 12
  li t1, HGATP_SV32X4
  or t0, t0, t1
  csrw hgatp, t0
  csrw vsatp, zero
  csrw medeleg, zero
  HFENCE_GVMA zero, zero

  TEST_CASE 2                               /* sanity: a load through gl0 */
  li s1, GPA_GL0
  li s0, 0
  VS_LOAD
  CHECK s0, VAL_A

  /* ---- G-stage page-table reads are S-mode accesses ---- */
  TEST_CASE 3
  SKIP_IF_QEMU7 .Lskip3                     /* QEMU 7.2 raises a guest-page fault (21) */
  PMP0 gl0, PMP_NAPOT                       /* no permission on gl0 */
  li s1, GPA_GL0
  VS_LOAD_FAULTS CAUSE_LOAD_ACCESS
.Lskip3:
  TEST_CASE 4                               /* R is all a walk needs (A, D preset) */
  PMP0 gl0, PMP_NAPOT | PMP_R
  li s1, GPA_GL0
  li s0, 0
  VS_LOAD
  CHECK s0, VAL_A
  TEST_CASE 5                               /* M itself is not checked by entry 0 */
  PMP0 gl0, PMP_NAPOT
  la a0, gl0
  lw a1, 0(a0)
  PMP0_OFF

  /* ---- VS-stage page-table reads, at the SPA the G-stage gives ---- */
  TEST_CASE 6
  la t0, vsroot
  srli t0, t0, 12
  li t1, SATP_SV32
  or t0, t0, t1
  csrw vsatp, t0
  li s1, VA_VSL0
  li s0, 0
  VS_LOAD
  CHECK s0, VAL_A
  TEST_CASE 7
  PMP0 vsl0, PMP_NAPOT
  li s1, VA_VSL0
  VS_LOAD_FAULTS CAUSE_LOAD_ACCESS
  TEST_CASE 8                               /* the A update of a VS leaf is a store */
  SKIP_IF_QEMU7 .Lskip8                     /* QEMU 7.2 sets A without a PMP check */
  PMP0 vsl0, PMP_NAPOT | PMP_R
  li s1, VA_VSL0 + 0x1000
  VS_LOAD_FAULTS CAUSE_LOAD_ACCESS
  la a0, vsl0
  lw a1, 4(a0)
  andi a1, a1, PTE_A
  bnez a1, fail
.Lskip8:
  TEST_CASE 9                               /* readable is enough once A is set */
  PMP0 vsl0, PMP_NAPOT | PMP_R
  li s1, VA_VSL0
  li s0, 0
  VS_LOAD
  CHECK s0, VAL_A
  PMP0_OFF
  csrw vsatp, zero

  /* ---- HLV/HSV from M: checked as SPVP's privilege ---- */
  TEST_CASE 10
  PMP0 data_a, PMP_NAPOT
  li t0, HSTATUS_SPVP
  csrs hstatus, t0
  SKIP_IF_QEMU7 .Lskip10_12                 /* QEMU 7.2 raises guest-page faults (21/23) */
  la s1, data_a
  EXPECT_TRAP CAUSE_LOAD_ACCESS, 1f
  HLV_W s0, s1
  j fail
1:
  CHECKR t5, s1
  CHECK_MSTATUSH (MSTATUSH_MPV | MSTATUSH_GVA), MSTATUSH_GVA
  TEST_CASE 11
  la s1, data_a
  EXPECT_TRAP CAUSE_STORE_ACCESS, 1f
  HSV_W zero, s1
  j fail
1:
  CHECKR t5, s1
  TEST_CASE 12                              /* SPVP = 0: as VU, also checked */
  li t0, HSTATUS_SPVP
  csrc hstatus, t0
  la s1, data_a
  EXPECT_TRAP CAUSE_LOAD_ACCESS, 1f
  HLV_W s0, s1
  j fail
1:
.Lskip10_12:
  TEST_CASE 13                              /* and allowed when PMP gives R */
  PMP0 data_a, PMP_NAPOT | PMP_R
  la s1, data_a
  HLV_W s0, s1
  CHECK s0, VAL_A
  PMP0_OFF

  /* ---- a type-2 trigger (s, u, load) fires in HS but not in VS ---- */
  TEST_CASE 14
  csrw tselect, zero
  csrr t0, tselect
  bnez t0, .Lno_triggers
  la t0, data_a
  csrw tdata2, t0
  li t0, TDATA1_TYPE2 | MC_S | MC_U | MC_LOAD
  csrw tdata1, t0
  csrr t1, tdata1
  andi t1, t1, MC_S | MC_U | MC_LOAD
  CHECK t1, MC_S | MC_U | MC_LOAD
  la s1, data_a
  EXPECT_TRAP CAUSE_BREAKPOINT, 2f
  M_GOTO_HS 1f
1:
  lw s0, 0(s1)
  j fail
2:
  TEST_CASE 15
  la s1, data_a
  li s0, 0
  VS_LOAD
  CHECK s0, VAL_A
  csrw tdata1, zero
.Lno_triggers:

  TEST_PASS

  .bss
  .align 14
groot:    .skip 16384
gl0:      .skip 4096
vsroot:   .skip 4096
vsl0:     .skip 4096
data_a:   .skip 4096

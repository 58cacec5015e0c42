/*
 * h_virq.S - virtual interrupts (privileged spec 20211203, 8.2.3-8.2.4, 8.2.12, 8.4.2):
 * hvip.VSSIP/VSTIP/VSEIP delivered to VS-mode as supervisor interrupts 1/5/9 when
 * hideleg delegates them (enabled by vsstatus.SIE at VS, always at VU; masked by vsie),
 * taken by HS-mode as 2/6/10 otherwise (at V=1 whatever sstatus.SIE says, at V=0 only
 * with it); never taken at V=0 when delegated to VS, never in M; an HS-level interrupt
 * before a VS-level one; VSEI > VSSI > VSTI.
 */
#include "htest.h"

/* hvip = bits, hie = bits (vsie aliases), hideleg = deleg. Clobbers t0. */
.macro VIRQ_SETUP bits, enables, deleg
  li t0, \deleg
  csrw hideleg, t0
  li t0, \enables
  csrw hie, t0
  li t0, \bits
  csrw hvip, t0
.endm
.macro VIRQ_CLEAR
  csrw hvip, zero
  csrw hie, zero
  csrw hideleg, zero
  csrw vsstatus, zero
  csrw mip, zero
  csrw mideleg, zero
  csrw sie, zero
.endm

/* At V=1 (VS) with vsstatus.SIE = 1: the interrupt must be taken in VS with cause. */
.macro T_VS_IRQ n, bits, cause
  TEST_CASE \n
  VIRQ_SETUP \bits, \bits, \bits
  li t0, MSTATUS_SIE
  csrw vsstatus, t0
  EXPECT_VSTRAP INTR | \cause, .Lr\@
  M_GOTO_VS .Lv\@
.Lv\@:
  j fail
.Lr\@:
  la t0, .Lv\@
  CHECKR t4, t0                     /* vsepc: the interrupted instruction */
  CHECK t5, 0                       /* vstval */
  CHECK_MASKED t6, MSTATUS_SPP | MSTATUS_SPIE | MSTATUS_SIE, MSTATUS_SPP | MSTATUS_SPIE
  GOTO_M_FROM_VS .Lm\@
.Lm\@:
  VIRQ_CLEAR
.endm

  .text
  .globl test_main
test_main:
  H_INIT

  TEST_CASE 1                       /* M never takes VS-level interrupts (mideleg RO 1) */
  VIRQ_SETUP MIP_VS_ALL, MIP_VS_ALL, 0
  li t0, MSTATUS_MIE
  csrs mstatus, t0
  nop
  nop
  csrc mstatus, t0
  VIRQ_CLEAR

  /* ---- not delegated by hideleg: HS takes 2/6/10 ---- */
  TEST_CASE 2                       /* at V=0 only with sstatus.SIE */
  VIRQ_SETUP MIP_VSSIP, MIP_VSSIP, 0
  M_GOTO_HS 1f
1:
  nop
  nop
  EXPECT_STRAP INTR | IRQ_VS_SOFT, 2f
  csrsi sstatus, MSTATUS_SIE
3:
  j fail
2:
  la t0, 3b
  CHECKR t4, t0
  CHECK_HSTATUS HSTATUS_SPV, 0
  CHECK_CSR htinst, 0
  GOTO_M_FROM_S 4f
4:
  VIRQ_CLEAR
  TEST_CASE 3                       /* at V=1 whatever sstatus.SIE (0 here) */
  VIRQ_SETUP MIP_VSTIP, MIP_VSTIP, 0
  EXPECT_STRAP INTR | IRQ_VS_TIMER, 2f
  M_GOTO_VS 1f
1:
  j fail
2:
  la t0, 1b
  CHECKR t4, t0
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_GVA, HSTATUS_SPV | HSTATUS_SPVP
  CHECK_MASKED t6, MSTATUS_SPP, MSTATUS_SPP
  CHECK_CSR htval, 0
  GOTO_M_FROM_S 4f
4:
  VIRQ_CLEAR
  TEST_CASE 4                       /* ... and from VU */
  VIRQ_SETUP MIP_VSEIP, MIP_VSEIP, 0
  EXPECT_STRAP INTR | IRQ_VS_EXT, 2f
  M_GOTO_VU 1f
1:
  j fail
2:
  CHECK_HSTATUS HSTATUS_SPV | HSTATUS_SPVP, HSTATUS_SPV
  GOTO_M_FROM_S 4f
4:
  VIRQ_CLEAR
  TEST_CASE 5                       /* hie masks it */
  VIRQ_SETUP MIP_VS_ALL, 0, 0
  M_GOTO_VS 1f
1:
  nop
  nop
  GOTO_M_FROM_VS 2f
2:
  VIRQ_CLEAR

  /* ---- delegated by hideleg: VS takes 1/5/9 ---- */
  T_VS_IRQ 6, MIP_VSSIP, IRQ_S_SOFT
  T_VS_IRQ 7, MIP_VSTIP, IRQ_S_TIMER
  T_VS_IRQ 8, MIP_VSEIP, IRQ_S_EXT
  TEST_CASE 9                       /* not at V=0, even with the HS SIE */
  VIRQ_SETUP MIP_VS_ALL, MIP_VS_ALL, MIP_VS_ALL
  M_GOTO_HS 1f
1:
  csrsi sstatus, MSTATUS_SIE
  nop
  nop
  csrci sstatus, MSTATUS_SIE
  GOTO_M_FROM_S 2f
2:
  VIRQ_CLEAR
  TEST_CASE 10                      /* at VS only with vsstatus.SIE: taken when VS sets it */
  VIRQ_SETUP MIP_VSSIP, MIP_VSSIP, MIP_VSSIP
  M_GOTO_VS 1f
1:
  nop
  nop
  EXPECT_VSTRAP INTR | IRQ_S_SOFT, 2f
  csrsi sstatus, MSTATUS_SIE
3:
  j fail
2:
  la t0, 3b
  CHECKR t4, t0
  GOTO_M_FROM_VS 4f
4:
  VIRQ_CLEAR
  TEST_CASE 11                      /* vsie masks it */
  VIRQ_SETUP MIP_VS_ALL, 0, MIP_VS_ALL
  li t0, MSTATUS_SIE
  csrw vsstatus, t0
  M_GOTO_VS 1f
1:
  nop
  nop
  csrr s2, sip                      /* vsip shows them pending: SEIP STIP SSIP */
  GOTO_M_FROM_VS 2f
2:
  SKIP_IF_QEMU7 3f                  /* QEMU 7.2: sip at V=1 is not vsip */
  CHECK_MASKED s2, 0x222, 0x222
3:
  VIRQ_CLEAR
  TEST_CASE 12                      /* at VU whatever vsstatus.SIE (0 here) */
  VIRQ_SETUP MIP_VSTIP, MIP_VSTIP, MIP_VSTIP
  EXPECT_VSTRAP INTR | IRQ_S_TIMER, 2f
  M_GOTO_VU 1f
1:
  j fail
2:
  CHECK_MASKED t6, MSTATUS_SPP, 0
  GOTO_M_FROM_VS 3f
3:
  VIRQ_CLEAR

  /* ---- priorities ---- */
  TEST_CASE 13                      /* HS-level SSI (mideleg) before a delegated VSSI */
  li t0, MIP_SSIP
  csrw mideleg, t0
  csrw sie, t0
  csrs mip, t0
  VIRQ_SETUP MIP_VSSIP, MIP_VSSIP, MIP_VSSIP
  li t0, MSTATUS_SIE
  csrw vsstatus, t0
  EXPECT_STRAP INTR | IRQ_S_SOFT, 2f
  M_GOTO_VS 1f
1:
  j fail
2:
  CHECK_HSTATUS HSTATUS_SPV, HSTATUS_SPV
  GOTO_M_FROM_S 3f
3:
  VIRQ_CLEAR
  SKIP_IF_QEMU7 .Lno_prio           /* QEMU 7.2 takes the lowest number first */
  TEST_CASE 14                      /* in VS: SEI > SSI > STI */
  VIRQ_SETUP MIP_VS_ALL, MIP_VS_ALL, MIP_VS_ALL
  li t0, MSTATUS_SIE
  csrw vsstatus, t0
  EXPECT_VSTRAP INTR | IRQ_S_EXT, 2f
  M_GOTO_VS 1f
1:
  j fail
2:
  GOTO_M_FROM_VS 3f
3:
  VIRQ_CLEAR
  TEST_CASE 15                      /* in HS: VSEI > VSSI > VSTI */
  VIRQ_SETUP MIP_VS_ALL, MIP_VS_ALL, 0
  EXPECT_STRAP INTR | IRQ_VS_EXT, 2f
  M_GOTO_VS 1f
1:
  j fail
2:
  GOTO_M_FROM_S 3f
3:
  VIRQ_CLEAR
  TEST_CASE 16                      /* VSSI > VSTI */
  VIRQ_SETUP MIP_VSSIP | MIP_VSTIP, MIP_VSSIP | MIP_VSTIP, 0
  EXPECT_STRAP INTR | IRQ_VS_SOFT, 2f
  M_GOTO_VS 1f
1:
  j fail
2:
  GOTO_M_FROM_S 3f
3:
  VIRQ_CLEAR
.Lno_prio:
  li t4, 0

  TEST_PASS

/*
 * trigger.S - debug triggers (Sdtrig, RISC-V debug specification 1.0): the Trigger
 * Module CSRs and type-2 (mcontrol) address/data match triggers with action 0, which
 * raise breakpoint exceptions (cause 3).
 *
 * Only triggers 0 and 1 are used (QEMU 7.2 has two). tdata1 is WARL: a field value the
 * hart does not support reads back as something else. SET_TDATA1 checks that the fields
 * a case needs were kept; QEMU 7.2 keeps only match = 0 (equal), select = 0 (address),
 * no chain and no hit bit, so the cases that need more are skipped there and must pass
 * everywhere else. Other QEMU 7.2 differences, skipped with SKIP_IF_QEMU7: it writes 0
 * to mtval for trigger breakpoints (the privileged spec allows 0 or the address; pvsim
 * writes the address), it ignores a write of 0 to tdata1 (the spec says that disables
 * the trigger), and it lets action-0 triggers fire in M-mode while mstatus.MIE = 0 (the
 * spec's re-entrancy rule, which pvsim follows, also for S-mode with medeleg[3] and
 * sstatus.SIE = 0).
 */
#include "test.h"

#define TDATA1_TYPE2 0x20000000
#define MC_HIT      (1 << 20)
#define MC_SELECT   (1 << 19)
#define MC_TIMING   (1 << 18)
#define MC_SIZE8    (1 << 16)
#define MC_SIZE32   (3 << 16)
#define MC_SIZE     (3 << 16)
#define MC_CHAIN    (1 << 11)
#define MC_MATCH(m) ((m) << 7)
#define MC_MATCHF   (15 << 7)
#define MC_M        (1 << 6)
#define MC_S        (1 << 4)
#define MC_U        (1 << 3)
#define MC_EXEC     (1 << 2)
#define MC_STORE    (1 << 1)
#define MC_LOAD     (1 << 0)
/* The fields a case relies on: everything but hit, dmode, maskmax, action and timing. */
#define MC_FIELDS   (MC_SELECT | MC_SIZE | MC_CHAIN | MC_MATCHF | MC_M | MC_S | MC_U | MC_EXEC | MC_STORE | MC_LOAD)

#define DATA 0x80100000           /* a data page outside the image */

/* Select trigger i and disable it (type 2 with no mode bits). Clobbers a0. */
.macro TRIG_OFF i
  li a0, \i
  csrw tselect, a0
  li a0, TDATA1_TYPE2
  csrw tdata1, a0
.endm
.macro TRIGS_OFF
  TRIG_OFF 1
  TRIG_OFF 0
.endm

/* Program the selected trigger: tdata2 = t2, tdata1 = type 2 | v. If the hart did not
 * keep the fields of v, skip to label on QEMU 7.2 and fail elsewhere. Clobbers a0-a3. */
.macro SET_TRIGGER v, t2, label
  li a0, TDATA1_TYPE2
  csrw tdata1, a0
  lui a0, %hi(\t2)
  addi a0, a0, %lo(\t2)
  csrw tdata2, a0
  li a0, TDATA1_TYPE2 | (\v)
  csrw tdata1, a0
  csrr a1, tdata1
  li a2, MC_FIELDS
  and a1, a1, a2
  li a3, (\v) & MC_FIELDS
  beq a1, a3, .Lkept\@
  TRIGS_OFF
  SKIP_IF_QEMU7 \label
  j fail
.Lkept\@:
.endm

/* After an expected breakpoint: t5 (mtval/stval) must be the address in reg; QEMU 7.2
 * writes 0 instead. Clobbers tp and t4 (check the epc first). */
.macro CHECK_BP_TVAL reg
  beq t5, \reg, .Lok\@
  SKIP_IF_QEMU7 .Lq\@
  j fail
.Lq\@:
  bnez t5, fail
.Lok\@:
.endm

test_main:
  /* ---------------------------------------------------------- enumeration */
  TEST_CASE 1                     /* triggers 0 and 1 exist and are type 2 */
  csrw tselect, zero
  csrr a1, tselect
  CHECK a1, 0
  csrr a1, tdata1
  srli a1, a1, 28
  CHECK a1, 2
  li a0, 1
  csrw tselect, a0
  csrr a1, tselect
  CHECK a1, 1
  csrr a1, tdata1
  srli a1, a1, 28
  CHECK a1, 2

  TEST_CASE 2                     /* tinfo lists type 2 */
  csrr a1, tinfo
  andi a1, a1, 1 << 2
  CHECK a1, 1 << 2

  TEST_CASE 3                     /* tselect is WARL: a value past the last trigger
                                   * does not stay, or selects a type-0 trigger */
  li a0, 0xff
  csrw tselect, a0
  csrr a1, tselect
  li a2, 0xff
  bne a1, a2, 3f
  csrr a1, tdata1
  srli a1, a1, 28
  CHECK a1, 0
3:

  TEST_CASE 4                     /* tdata3 reads 0 (no extra conditions) */
  csrw tselect, zero
  li a0, -1
  csrw tdata3, a0
  csrr a1, tdata3
  CHECK a1, 0

  TEST_CASE 5                     /* dmode is 0 and action 1 (Debug Mode) is not kept */
  li a0, TDATA1_TYPE2 | (1 << 27) | (1 << 12) | MC_U | MC_EXEC
  csrw tdata1, a0
  csrr a1, tdata1
  CHECK_MASKED a1, (1 << 27) | (0xf << 12), 0
  TRIG_OFF 0

  TEST_CASE 6                     /* the Trigger Module CSRs are M-only */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  csrr a0, tselect
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION

  /* ------------------------------------------------------------- execute */
  TEST_CASE 10                    /* U: breakpoint before the instruction */
  csrw tselect, zero
  SET_TRIGGER MC_U | MC_EXEC, .Lx10, fail
  li s0, 0
  la s1, .Lx10
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  nop
.Lx10:
  li s0, 1
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECKR t4, s1
  CHECK s0, 0
  CHECK_BP_TVAL s1
  TEST_CASE 11                    /* hit is set when it fires (if implemented) */
  csrr a1, tdata1
  li a0, TDATA1_TYPE2 | MC_HIT
  csrw tdata1, a0
  csrr a2, tdata1
  li a0, MC_HIT
  and a2, a2, a0
  beqz a2, 11f                    /* hit not implemented: reads 0 */
  and a1, a1, a0
  CHECK a1, MC_HIT
11:
  TRIGS_OFF

  TEST_CASE 12                    /* S: the s bit */
  SET_TRIGGER MC_S | MC_EXEC, .Lx12, fail
  la s1, .Lx12
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_S 2f
2:
  nop
.Lx12:
  nop
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECKR t4, s1
  CHECK_BP_TVAL s1
  TRIGS_OFF

  TEST_CASE 13                    /* a U-only trigger stays quiet in S */
  SET_TRIGGER MC_U | MC_EXEC, .Lx13, fail
  GOTO_S 2f
2:
  nop
.Lx13:
  nop
  GOTO_M_FROM_S 1f
1:
  TRIGS_OFF

  TEST_CASE 14                    /* medeleg[3]: a breakpoint from U is taken in S */
  SET_TRIGGER MC_U | MC_EXEC, .Lx14, fail
  li a0, 1 << CAUSE_BREAKPOINT
  csrs medeleg, a0
  la s1, .Lx14
  EXPECT_STRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  nop
.Lx14:
  nop
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECKR t4, s1
  mv s2, t5                       /* stval: checked in M (SKIP_IF_QEMU7 reads M CSRs) */
  GOTO_M_FROM_S 1f
1:
  mv t5, s2
  CHECK_BP_TVAL s1
  csrw medeleg, zero
  TRIGS_OFF

  /* --------------------------------------------------------- load / store */
  TEST_CASE 20                    /* load address: before the load, rd unchanged */
  SET_TRIGGER MC_U | MC_LOAD, DATA + 8, fail
  li s1, DATA + 8
  li s0, 0x0bad
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  lw s2, -8(s1)                   /* another address: no match */
.Lx20:
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx20
  CHECK s0, 0x0bad
  CHECK_BP_TVAL s1
  TRIGS_OFF

  TEST_CASE 21                    /* store address: before the store, memory unchanged */
  li s1, DATA + 0x10
  li a0, 0x1234
  sw a0, 0(s1)
  SET_TRIGGER MC_S | MC_STORE, DATA + 0x10, fail
  li s1, DATA + 0x10
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_S 2f
2:
  lw s0, 0(s1)                    /* a load: this trigger watches stores only */
.Lx21:
  sw zero, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx21
  CHECK_BP_TVAL s1
  TRIGS_OFF
  lw a1, 0(s1)
  CHECK a1, 0x1234

  TEST_CASE 22                    /* sizelo = 32-bit: a byte store does not match
                                   * (QEMU 7.2 keeps sizelo but matches any size) */
  SKIP_IF_QEMU7 22f
  SET_TRIGGER MC_U | MC_STORE | MC_SIZE32, DATA + 0x20, 22f
  li s1, DATA + 0x20
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  sb zero, 0(s1)
  sh zero, 0(s1)
.Lx22:
  sw zero, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx22
  CHECK_BP_TVAL s1
22:
  TRIGS_OFF

  TEST_CASE 23                    /* AMO: its write is a store */
  SET_TRIGGER MC_U | MC_STORE, DATA + 0x30, fail
  li s1, DATA + 0x30
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
.Lx23:
  amoadd.w s0, zero, (s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx23
  CHECK_BP_TVAL s1
  TRIGS_OFF

  /* --------------------------------------------------------- match kinds */
  TEST_CASE 30                    /* NAPOT: a 16-byte range */
  SET_TRIGGER MC_U | MC_LOAD | MC_MATCH(1), DATA + 0x47, 30f
  li s1, DATA + 0x4c
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  lw s0, -0x10(s1)                /* DATA + 0x3c: outside */
  lw s0, 4(s1)                    /* DATA + 0x50: outside */
.Lx30:
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx30
  CHECK_BP_TVAL s1
30:
  TRIGS_OFF

  TEST_CASE 31                    /* chain: >= lo and < hi make an address range */
  SET_TRIGGER MC_U | MC_STORE | MC_MATCH(2) | MC_CHAIN, DATA + 0x100, 31f
  li a0, 1
  csrw tselect, a0
  SET_TRIGGER MC_U | MC_STORE | MC_MATCH(3), DATA + 0x110, 31f
  li s1, DATA + 0x10c
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  sw zero, -0x10(s1)              /* below */
  sw zero, 4(s1)                  /* DATA + 0x110: not below hi */
.Lx31:
  sw zero, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx31
  CHECK_BP_TVAL s1
31:
  TRIGS_OFF

  TEST_CASE 32                    /* a negated match: any store except to DATA + 0x200 */
  SET_TRIGGER MC_U | MC_STORE | MC_MATCH(8), DATA + 0x200, 32f
  li s1, DATA + 0x204
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  sw zero, -4(s1)
.Lx32:
  sw zero, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx32
  CHECK_BP_TVAL s1
32:
  TRIGS_OFF

  /* ------------------------------------------------------------ data */
  TEST_CASE 40                    /* store data */
  SET_TRIGGER MC_U | MC_STORE | MC_SELECT, 0xcafe, 40f
  li s1, DATA + 0x300
  li s2, 0xcafd
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  sw s2, 0(s1)
  addi s2, s2, 1
.Lx40:
  sw s2, 4(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx40
  addi s1, s1, 4
  CHECK_BP_TVAL s1
  lw a1, 0(s1)
  CHECK a1, 0                     /* not written */
40:
  TRIGS_OFF

  TEST_CASE 41                    /* load data: rd keeps its old value */
  li s1, DATA + 0x400
  li a0, 77
  sw a0, 4(s1)
  SET_TRIGGER MC_U | MC_LOAD | MC_SELECT, 77, 41f
  li s1, DATA + 0x400
  li s0, 0x0bad
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  lw s0, 0(s1)
  li s0, 0x0bad
.Lx41:
  lw s0, 4(s1)
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECK_EPC .Lx41
  CHECK s0, 0x0bad
41:
  TRIGS_OFF

  TEST_CASE 42                    /* execute data: the instruction's bits */
  la a0, .Lx42
  lw s3, 0(a0)
  csrw tselect, zero
  li a0, TDATA1_TYPE2
  csrw tdata1, a0
  csrw tdata2, s3
  li a0, TDATA1_TYPE2 | MC_U | MC_EXEC | MC_SELECT
  csrw tdata1, a0
  csrr a1, tdata1
  li a2, MC_SELECT
  and a1, a1, a2
  bnez a1, 2f
  TRIGS_OFF
  SKIP_IF_QEMU7 42f
  j fail
2:
  la s1, .Lx42
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  GOTO_U 2f
2:
  nop
.Lx42:
  addi s0, zero, 0x42
  j fail
1:
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECKR t4, s1
42:
  TRIGS_OFF

  /* ------------------------------------------------- disabling, re-entrancy */
  TEST_CASE 50                    /* writing 0 to tdata1 disables the trigger */
  SKIP_IF_QEMU7 50f
  SET_TRIGGER MC_U | MC_EXEC, .Lx50, fail
  csrw tdata1, zero
  csrr a1, tdata1
  CHECK_MASKED a1, MC_M | MC_S | MC_U, 0
  GOTO_U 2f
2:
.Lx50:
  nop
  GOTO_M_FROM_U 50f
50:
  TRIGS_OFF

  TEST_CASE 51                    /* M-mode, MIE = 0: action-0 triggers do not match */
  SKIP_IF_QEMU7 51f
  SET_TRIGGER MC_M | MC_EXEC | MC_LOAD, .Lx51, fail
  la s1, .Lx51
.Lx51:
  lw s0, 0(s1)
51:
  TRIGS_OFF

  TEST_CASE 52                    /* M-mode, MIE = 1: they do; the handler runs with MIE = 0 */
  SET_TRIGGER MC_M | MC_EXEC, .Lx52, fail
  la s1, .Lx52
  EXPECT_TRAP CAUSE_BREAKPOINT, 1f
  csrsi mstatus, MSTATUS_MIE
  nop
.Lx52:
  nop
  j fail
1:
  csrci mstatus, MSTATUS_MIE
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECKR t4, s1
  CHECK_MASKED t6, MSTATUS_MIE, 0 /* mstatus at trap entry */
  CHECK_BP_TVAL s1
  TRIGS_OFF

  TEST_CASE 53                    /* S-mode with medeleg[3], SIE = 0: no match */
  SKIP_IF_QEMU7 53f
  li a0, 1 << CAUSE_BREAKPOINT
  csrs medeleg, a0
  SET_TRIGGER MC_S | MC_EXEC, .Lx53, fail
  GOTO_S 2f
2:
.Lx53:
  nop
  GOTO_M_FROM_S 53f
53:
  csrw medeleg, zero
  TRIGS_OFF

  TEST_CASE 54                    /* ... SIE = 1: taken in S */
  li a0, 1 << CAUSE_BREAKPOINT
  csrs medeleg, a0
  SET_TRIGGER MC_S | MC_EXEC, .Lx54, fail
  la s1, .Lx54
  EXPECT_STRAP CAUSE_BREAKPOINT, 1f
  GOTO_S 2f
2:
  csrsi sstatus, MSTATUS_SIE
.Lx54:
  nop
  j fail
1:
  csrci sstatus, MSTATUS_SIE
  CHECK_TRAP CAUSE_BREAKPOINT
  CHECKR t4, s1
  mv s2, t5                       /* stval: checked in M (SKIP_IF_QEMU7 reads M CSRs) */
  GOTO_M_FROM_S 1f
1:
  mv t5, s2
  CHECK_BP_TVAL s1
  csrw medeleg, zero
  TRIGS_OFF

  TEST_PASS

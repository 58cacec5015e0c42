/*
 * sv32.S - Sv32 address translation. M-mode builds the page tables below, then S- and
 * U-mode code accesses test pages and M-mode checks the outcome: 4 KiB pages and 4 MiB
 * megapages, every kind of page fault (fetch 12, load 13, store 15) with mtval = the
 * virtual address, SUM, MXR, hardware A/D updates, sfence.vma, MPRV, delegated page
 * faults, and access faults (1/5/7) for physical addresses without memory.
 *
 * Virtual memory map (satp -> pt_root):
 *   0x80000000-0x803fffff  megapage, identity, RWX, not U: the program itself (S code)
 *   0x40000000-0x403fffff  megapage onto 0x80000000, RWX + U: the program seen from U
 *   0x00000000-0x003fffff  pt_l0, 4 KiB test pages, page n at VA n << 12 (see PG_*)
 *   0x00400000             megapage with a misaligned PPN (PPN[0] != 0)
 *   0x00800000             megapage onto PA 0x40000000 (no memory there)
 *   0x00c00000             invalid L1 entry
 *   0x01000000             L1 pointer to a "table" at PA 0x40000000 (no memory)
 */
#include "test.h"

#define PG_RW_S     1       /* page_a: R W        */
#define PG_R_S      2       /* page_b: R          */
#define PG_X_S      3       /* code_page: X       */
#define PG_W        4       /* page_a: W (reserved encoding) */
#define PG_INVALID  5       /* V = 0              */
#define PG_RW_U     6       /* page_c: R W U      */
#define PG_X_U      7       /* code_page: X U     */
#define PG_NONLEAF  8       /* pointer PTE at level 0 */
#define PG_WX       9       /* code_page: W X (reserved encoding) */
#define PG_R_U      10      /* page_b: R U        */
#define PG_NORAM    11      /* PA 0x40000000: R W X */
#define PG_SFENCE   12      /* page_a, later page_b: R W */
#define PG_AD       13      /* page_c: R W, A = D = 0 */
#define PG_AD_X     14      /* code_page: X, A = 0 */
#define PG_RX_U     15      /* code_page: R X U   */

#define VA(n)       ((n) << 12)
#define VA_MISALIGNED_MEGA 0x00400000
#define VA_NORAM_MEGA      0x00800000
#define VA_INVALID_L1      0x00c00000
#define VA_NORAM_TABLE     0x01000000
#define USER_OFFSET        0xc0000000       /* PA + USER_OFFSET = user alias VA */
#define NORAM_PA           0x40000000

#define VAL_A 0xaaaa0001
#define VAL_B 0xbbbb0002
#define VAL_C 0xcccc0003
#define XFUNC_WORD0 0x05a00513             /* addi a0, x0, 0x5a: first word of xfunc */

/* pt[index] = PTE for physical address pa (a symbol) with flags. Clobbers a0, a1. */
.macro SET_PTE table, index, pa, flags
  la a0, \table + (\index) * 4
  la a1, \pa
  srli a1, a1, 12
  slli a1, a1, 10
  ori a1, a1, \flags
  sw a1, 0(a0)
.endm
/* Same for a constant physical address. */
.macro SET_PTE_ABS table, index, pa, flags
  la a0, \table + (\index) * 4
  li a1, ((\pa) >> 12) << 10 | (\flags)
  sw a1, 0(a0)
.endm

/* From M: run insn in S-mode with s1 = va; it must raise cause with mtval = va. */
.macro T_S_FAULT n, cause, va, insn:vararg
  TEST_CASE \n
  lui s1, %hi(\va)
  addi s1, s1, %lo(\va)
  li s0, 0x0bad0bad
  EXPECT_TRAP \cause, .Lr\@
  GOTO_S .Ls\@
.Ls\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECKR t5, s1
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_S
  CHECK s0, 0x0bad0bad
.endm
/* From M: run insn in U-mode (at the user alias) with s1 = va; it must raise cause. */
.macro T_U_FAULT n, cause, va, insn:vararg
  TEST_CASE \n
  lui s1, %hi(\va)
  addi s1, s1, %lo(\va)
  li s0, 0x0bad0bad
  la s9, .Lu\@
  li tp, USER_OFFSET
  add s9, s9, tp
  EXPECT_TRAP \cause, .Lr\@
  GOTO_U_REG s9
.Lu\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECKR t5, s1
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_U
  CHECK s0, 0x0bad0bad
.endm
/* From M: run insn in S-mode with s1 = va, then back to M (s0 = its result). */
.macro T_S_OK n, va, insn:vararg
  TEST_CASE \n
  lui s1, %hi(\va)
  addi s1, s1, %lo(\va)
  li s0, 0x0bad0bad
  GOTO_S .Ls\@
.Ls\@:
  \insn
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm
/* ... in U-mode at the user alias. */
.macro T_U_OK n, va, insn:vararg
  TEST_CASE \n
  lui s1, %hi(\va)
  addi s1, s1, %lo(\va)
  li s0, 0x0bad0bad
  la s9, .Lu\@
  li tp, USER_OFFSET
  add s9, s9, tp
  GOTO_U_REG s9
.Lu\@:
  \insn
  GOTO_M_FROM_U .Lm\@
.Lm\@:
.endm

/* Multi-instruction bodies: S_RUN n, va ... S_DONE (likewise U_RUN ... U_DONE). */
.macro S_RUN n, va
  TEST_CASE \n
  lui s1, %hi(\va)
  addi s1, s1, %lo(\va)
  li s0, 0x0bad0bad
  GOTO_S .Ls\@
.Ls\@:
.endm
.macro S_DONE
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm
.macro U_RUN n, va
  TEST_CASE \n
  lui s1, %hi(\va)
  addi s1, s1, %lo(\va)
  li s0, 0x0bad0bad
  la s9, .Lu\@
  li tp, USER_OFFSET
  add s9, s9, tp
  GOTO_U_REG s9
.Lu\@:
.endm
.macro U_DONE
  GOTO_M_FROM_U .Lm\@
.Lm\@:
.endm

test_main:
  /* ------------------------------------------------------- build the tables */
  la a0, pt_root
  li a1, 2 * 4096
1:
  sw zero, 0(a0)
  addi a0, a0, 4
  addi a1, a1, -4
  bnez a1, 1b
  la a0, page_a
  li a1, VAL_A
  sw a1, 0(a0)
  la a0, page_b
  li a1, VAL_B
  sw a1, 0(a0)
  la a0, page_c
  li a1, VAL_C
  sw a1, 0(a0)

  SET_PTE     pt_root, 0x200, _start, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  SET_PTE     pt_root, 0x100, _start, PTE_V | PTE_R | PTE_W | PTE_X | PTE_U | PTE_A | PTE_D
  SET_PTE     pt_root, 0x000, pt_l0,  PTE_V
  SET_PTE_ABS pt_root, VA_MISALIGNED_MEGA >> 22, 0x80001000, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  SET_PTE_ABS pt_root, VA_NORAM_MEGA >> 22, NORAM_PA, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  SET_PTE_ABS pt_root, VA_NORAM_TABLE >> 22, NORAM_PA, PTE_V

  SET_PTE     pt_l0, PG_RW_S,   page_a,    PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  SET_PTE     pt_l0, PG_R_S,    page_b,    PTE_V | PTE_R | PTE_A
  SET_PTE     pt_l0, PG_X_S,    code_page, PTE_V | PTE_X | PTE_A
  SET_PTE     pt_l0, PG_W,      page_a,    PTE_V | PTE_W | PTE_A | PTE_D
  SET_PTE     pt_l0, PG_RW_U,   page_c,    PTE_V | PTE_R | PTE_W | PTE_U | PTE_A | PTE_D
  SET_PTE     pt_l0, PG_X_U,    code_page, PTE_V | PTE_X | PTE_U | PTE_A
  SET_PTE     pt_l0, PG_NONLEAF, page_a,   PTE_V
  SET_PTE     pt_l0, PG_WX,     code_page, PTE_V | PTE_W | PTE_X | PTE_A | PTE_D
  SET_PTE     pt_l0, PG_R_U,    page_b,    PTE_V | PTE_R | PTE_U | PTE_A
  SET_PTE_ABS pt_l0, PG_NORAM,  NORAM_PA,  PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  SET_PTE     pt_l0, PG_SFENCE, page_a,    PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  SET_PTE     pt_l0, PG_AD,     page_c,    PTE_V | PTE_R | PTE_W
  SET_PTE     pt_l0, PG_AD_X,   code_page, PTE_V | PTE_X
  SET_PTE     pt_l0, PG_RX_U,   code_page, PTE_V | PTE_R | PTE_X | PTE_U | PTE_A

  la a0, pt_root
  srli a0, a0, 12
  li a1, SATP_SV32
  or a0, a0, a1
  csrw satp, a0
  sfence.vma

  /* --------------------------------------------------------- working maps */
  TEST_CASE 1                               /* M-mode is never translated */
  la s1, page_a
  lw s0, 0(s1)
  CHECK s0, VAL_A
  T_S_OK 2, VA(PG_RW_S), lw s0, 0(s1)     /* S: 4 KiB page */
  CHECK s0, VAL_A
  S_RUN 3, VA(PG_RW_S)
  li s2, 0x12345678
  sw s2, 8(s1)
  lw s0, 8(s1)
  S_DONE
  CHECK s0, 0x12345678
  TEST_CASE 4                               /* ... the store reached page_a */
  la s2, page_a
  lw s0, 8(s2)
  CHECK s0, 0x12345678
  T_S_OK 5, VA(PG_R_S), lw s0, 0(s1)
  CHECK s0, VAL_B
  T_S_OK 6, VA(PG_SFENCE) + 8, lw s0, 0(s1) /* a second VA for the same page */
  CHECK s0, 0x12345678
  S_RUN 7, VA(PG_X_S)   /* execute an X-only page */
  jalr ra, 0(s1)
  mv s0, a0
  S_DONE
  CHECK s0, 0x5a
  T_S_OK 8, page_b, lw s0, 0(s1)          /* S: identity megapage */
  CHECK s0, VAL_B
  T_U_OK 9, VA(PG_RW_U), lw s0, 0(s1)     /* U: 4 KiB U page */
  CHECK s0, VAL_C
  U_RUN 10, VA(PG_RW_U)
  li s2, 0x5555aaaa
  sw s2, 4(s1)
  lw s0, 4(s1)
  U_DONE
  CHECK s0, 0x5555aaaa
  TEST_CASE 11
  la s2, page_c
  lw s0, 4(s2)
  CHECK s0, 0x5555aaaa
  T_U_OK 12, page_b + USER_OFFSET, lw s0, 0(s1)    /* U: megapage */
  CHECK s0, VAL_B
  U_RUN 13, page_b + USER_OFFSET + 16
  li s2, 0x600dbeef
  sw s2, 0(s1)
  U_DONE
  TEST_CASE 14
  la s2, page_b
  lw s0, 16(s2)
  CHECK s0, 0x600dbeef
  U_RUN 15, VA(PG_X_U)   /* U executes a U X-only page */
  jalr ra, 0(s1)
  mv s0, a0
  U_DONE
  CHECK s0, 0x5a
  T_U_OK 16, VA(PG_R_U), lw s0, 0(s1)
  CHECK s0, VAL_B

  /* ------------------------------------------------ invalid and reserved PTEs */
  T_S_FAULT 17, CAUSE_LOAD_PAGE_FAULT,  VA(PG_INVALID), lw s0, 0(s1)
  T_S_FAULT 18, CAUSE_STORE_PAGE_FAULT, VA(PG_INVALID), sw s0, 0(s1)
  T_S_FAULT 19, CAUSE_FETCH_PAGE_FAULT, VA(PG_INVALID), jalr ra, 0(s1)
  T_S_FAULT 20, CAUSE_LOAD_PAGE_FAULT,  VA(0) + 0x10, lw s0, 0(s1)   /* empty PTE */
  T_U_FAULT 21, CAUSE_LOAD_PAGE_FAULT,  VA(PG_INVALID) + 0x7fc, lw s0, 0(s1)
  T_S_FAULT 22, CAUSE_LOAD_PAGE_FAULT,  VA_INVALID_L1 + 0x123, lbu s0, 0(s1)
  T_S_FAULT 23, CAUSE_STORE_PAGE_FAULT, VA_INVALID_L1 + 0x124, sh s0, 0(s1)
  T_S_FAULT 24, CAUSE_LOAD_PAGE_FAULT,  VA(PG_W), lw s0, 0(s1)        /* W without R */
  T_S_FAULT 25, CAUSE_STORE_PAGE_FAULT, VA(PG_W), sw s0, 0(s1)
  T_S_FAULT 26, CAUSE_FETCH_PAGE_FAULT, VA(PG_W), jalr ra, 0(s1)
  T_S_FAULT 27, CAUSE_FETCH_PAGE_FAULT, VA(PG_WX), jalr ra, 0(s1)     /* W X without R */
  T_S_FAULT 28, CAUSE_LOAD_PAGE_FAULT,  VA(PG_WX) + 4, lw s0, 0(s1)
  T_S_FAULT 29, CAUSE_LOAD_PAGE_FAULT,  VA(PG_NONLEAF), lw s0, 0(s1)  /* pointer at level 0 */
  T_S_FAULT 30, CAUSE_STORE_PAGE_FAULT, VA(PG_NONLEAF) + 8, sw s0, 0(s1)
  T_S_FAULT 31, CAUSE_FETCH_PAGE_FAULT, VA(PG_NONLEAF), jalr ra, 0(s1)
  T_S_FAULT 32, CAUSE_LOAD_PAGE_FAULT,  VA_MISALIGNED_MEGA, lw s0, 0(s1)   /* misaligned megapage */
  T_S_FAULT 33, CAUSE_STORE_PAGE_FAULT, VA_MISALIGNED_MEGA + 0x2000, sw s0, 0(s1)
  T_U_FAULT 34, CAUSE_LOAD_PAGE_FAULT,  VA_MISALIGNED_MEGA + 0x3ffffc, lw s0, 0(s1)

  /* ----------------------------------------------------------- permissions */
  T_S_FAULT 35, CAUSE_STORE_PAGE_FAULT, VA(PG_R_S) + 4, sw s0, 0(s1)   /* read-only */
  T_S_FAULT 36, CAUSE_STORE_PAGE_FAULT, VA(PG_R_S) + 3, sb s0, 0(s1)
  T_S_FAULT 37, CAUSE_STORE_PAGE_FAULT, VA(PG_R_S), amoadd.w s0, s0, (s1) /* AMO = store */
  T_S_FAULT 38, CAUSE_STORE_PAGE_FAULT, VA(PG_X_S), sw s0, 0(s1)
  T_U_FAULT 39, CAUSE_STORE_PAGE_FAULT, VA(PG_R_U) + 8, sw s0, 0(s1)
  T_S_FAULT 40, CAUSE_FETCH_PAGE_FAULT, VA(PG_RW_S), jalr ra, 0(s1)    /* not executable */
  T_S_FAULT 41, CAUSE_FETCH_PAGE_FAULT, VA(PG_R_S) + 0x40, jalr ra, 0(s1)
  T_U_FAULT 42, CAUSE_FETCH_PAGE_FAULT, VA(PG_RW_U), jalr ra, 0(s1)
  T_S_FAULT 43, CAUSE_LOAD_PAGE_FAULT,  VA(PG_X_S), lw s0, 0(s1)       /* X-only, MXR = 0 */
  T_U_FAULT 44, CAUSE_LOAD_PAGE_FAULT,  VA(PG_X_U), lw s0, 0(s1)
  TEST_CASE 45                               /* LR on an X-only page is a load */
  T_S_FAULT 46, CAUSE_LOAD_PAGE_FAULT,  VA(PG_X_S) + 8, lr.w s0, (s1)

  /* U bit */
  T_S_FAULT 47, CAUSE_LOAD_PAGE_FAULT,  VA(PG_RW_U), lw s0, 0(s1)      /* SUM = 0 */
  T_S_FAULT 48, CAUSE_STORE_PAGE_FAULT, VA(PG_RW_U) + 4, sw s0, 0(s1)
  T_S_FAULT 49, CAUSE_LOAD_PAGE_FAULT,  page_b + USER_OFFSET, lw s0, 0(s1) /* U megapage */
  T_S_FAULT 50, CAUSE_FETCH_PAGE_FAULT, VA(PG_X_U), jalr ra, 0(s1)     /* S never runs U pages */
  T_U_FAULT 51, CAUSE_LOAD_PAGE_FAULT,  VA(PG_RW_S), lw s0, 0(s1)      /* U on a non-U page */
  T_U_FAULT 52, CAUSE_STORE_PAGE_FAULT, VA(PG_RW_S) + 12, sw s0, 0(s1)
  T_U_FAULT 53, CAUSE_LOAD_PAGE_FAULT,  page_b, lw s0, 0(s1)           /* S megapage */
  T_U_FAULT 54, CAUSE_FETCH_PAGE_FAULT, VA(PG_X_S), jalr ra, 0(s1)
  T_U_FAULT 55, CAUSE_FETCH_PAGE_FAULT, xfunc, jalr ra, 0(s1)          /* S megapage */

  TEST_CASE 56                               /* SUM = 1: S loads and stores U pages */
  li s2, MSTATUS_SUM
  csrs mstatus, s2
  T_S_OK 57, VA(PG_RW_U), lw s0, 0(s1)
  CHECK s0, VAL_C
  S_RUN 58, VA(PG_RW_U) + 8
  li s2, 0x13579bdf
  sw s2, 0(s1)
  lw s0, 0(s1)
  S_DONE
  CHECK s0, 0x13579bdf
  T_S_OK 59, page_b + USER_OFFSET, lw s0, 0(s1)
  CHECK s0, VAL_B
  T_S_FAULT 60, CAUSE_FETCH_PAGE_FAULT, VA(PG_X_U), jalr ra, 0(s1)     /* but still never runs them */
  T_S_FAULT 61, CAUSE_LOAD_PAGE_FAULT,  VA(PG_X_U), lw s0, 0(s1)       /* and X-only stays X-only */
  T_S_FAULT 62, CAUSE_STORE_PAGE_FAULT, VA(PG_R_U), sw s0, 0(s1)       /* and R-only stays R-only */
  TEST_CASE 63
  li s2, MSTATUS_SUM
  csrc mstatus, s2

  TEST_CASE 64                               /* MXR = 1: loads from X-only pages work */
  li s2, MSTATUS_MXR
  csrs mstatus, s2
  T_S_OK 65, VA(PG_X_S), lw s0, 0(s1)
  CHECK s0, XFUNC_WORD0
  T_U_OK 66, VA(PG_X_U), lw s0, 0(s1)
  CHECK s0, XFUNC_WORD0
  T_S_FAULT 67, CAUSE_STORE_PAGE_FAULT, VA(PG_X_S), sw s0, 0(s1)       /* not stores */
  T_S_FAULT 68, CAUSE_LOAD_PAGE_FAULT,  VA(PG_X_U), lw s0, 0(s1)       /* nor the U rule */
  TEST_CASE 69
  li s2, MSTATUS_MXR
  csrc mstatus, s2
  U_RUN 70, VA(PG_RX_U)
  lw s0, 0(s1)
  jalr ra, 0(s1)
  mv s1, a0
  U_DONE
  CHECK s0, XFUNC_WORD0
  CHECK s1, 0x5a

  /* -------------------------------------------------- access faults */
  TEST_CASE 71                               /* M-mode, no translation: PA without memory */
  li s1, NORAM_PA
  EXPECT_TRAP CAUSE_LOAD_ACCESS, 1f
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_LOAD_ACCESS
  CHECKR t5, s1
  TEST_CASE 72
  li s1, NORAM_PA + 0x100
  EXPECT_TRAP CAUSE_STORE_ACCESS, 1f
  sw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECKR t5, s1
  TEST_CASE 73
  li s1, NORAM_PA + 0x200
  EXPECT_TRAP CAUSE_FETCH_ACCESS, 1f
  jalr ra, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECKR t5, s1
  CHECKR t4, s1
  T_S_FAULT 74, CAUSE_LOAD_ACCESS,  VA(PG_NORAM) + 0x10, lw s0, 0(s1) /* through a 4 KiB page */
  T_S_FAULT 75, CAUSE_STORE_ACCESS, VA(PG_NORAM) + 0x14, sw s0, 0(s1)
  T_S_FAULT 76, CAUSE_FETCH_ACCESS, VA(PG_NORAM) + 0x18, jalr ra, 0(s1)
  T_S_FAULT 77, CAUSE_LOAD_ACCESS,  VA_NORAM_MEGA + 0x1234, lw s0, 0(s1) /* through a megapage */
  T_S_FAULT 78, CAUSE_STORE_ACCESS, VA_NORAM_MEGA + 0x5678, sw s0, 0(s1)
  TEST_CASE 79                               /* page-table walk into no memory: access fault
                                               of the original access type */
  SKIP_IF_QEMU7 .Lskip_walk_fault           /* QEMU 7.2 reports a page fault */
  T_S_FAULT 80, CAUSE_LOAD_ACCESS,  VA_NORAM_TABLE + 0x10, lw s0, 0(s1)
  T_S_FAULT 81, CAUSE_STORE_ACCESS, VA_NORAM_TABLE + 0x10, sw s0, 0(s1)
.Lskip_walk_fault:

  /* -------------------------------------------------- A and D by hardware */
  TEST_CASE 82                               /* a load sets A, not D */
  la s2, pt_l0
  lw s0, PG_AD * 4(s2)
  CHECK_MASKED s0, PTE_A | PTE_D, 0
  T_S_OK 83, VA(PG_AD), lw s0, 0(s1)
  CHECK s0, VAL_C
  la s2, pt_l0
  lw s0, PG_AD * 4(s2)
  CHECK_MASKED s0, PTE_A | PTE_D, PTE_A
  TEST_CASE 84                               /* a store sets D */
  S_RUN 85, VA(PG_AD) + 0x20
  li s2, 77
  sw s2, 0(s1)
  S_DONE
  la s2, pt_l0
  lw s0, PG_AD * 4(s2)
  CHECK_MASKED s0, PTE_A | PTE_D | PTE_V | PTE_R | PTE_W, PTE_A | PTE_D | PTE_V | PTE_R | PTE_W
  TEST_CASE 86                               /* a first store sets both */
  SET_PTE pt_l0, PG_AD, page_c, PTE_V | PTE_R | PTE_W | PTE_U
  sfence.vma
  U_RUN 87, VA(PG_AD) + 0x24
  li s2, 78
  sw s2, 0(s1)
  U_DONE
  la s2, pt_l0
  lw s0, PG_AD * 4(s2)
  CHECK_MASKED s0, PTE_A | PTE_D, PTE_A | PTE_D
  la s2, page_c
  lw s0, 0x24(s2)
  CHECK s0, 78
  TEST_CASE 88                               /* an instruction fetch sets A */
  la s2, pt_l0
  lw s0, PG_AD_X * 4(s2)
  CHECK_MASKED s0, PTE_A | PTE_D, 0
  S_RUN 89, VA(PG_AD_X)
  jalr ra, 0(s1)
  mv s0, a0
  S_DONE
  CHECK s0, 0x5a
  la s2, pt_l0
  lw s0, PG_AD_X * 4(s2)
  CHECK_MASKED s0, PTE_A | PTE_D, PTE_A
  TEST_CASE 90                               /* a faulting access sets nothing */
  SET_PTE pt_l0, PG_AD, page_c, PTE_V | PTE_R
  sfence.vma
  T_S_FAULT 91, CAUSE_STORE_PAGE_FAULT, VA(PG_AD), sw s0, 0(s1)
  la s2, pt_l0
  lw s0, PG_AD * 4(s2)
  CHECK_MASKED s0, PTE_D, 0

  /* -------------------------------------------------------- sfence.vma */
  T_S_OK 92, VA(PG_SFENCE), lw s0, 0(s1)
  CHECK s0, VAL_A
  TEST_CASE 93                               /* S changes a PTE, sfence.vma, sees the change */
  li s1, VA(PG_SFENCE)
  la s3, pt_l0
  la s4, page_b
  srli s4, s4, 12
  slli s4, s4, 10
  ori s4, s4, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  GOTO_S 2f
2:
  lw s0, 0(s1)                              /* cache the old translation */
  sw s4, PG_SFENCE * 4(s3)
  sfence.vma
  lw s0, 0(s1)
  GOTO_M_FROM_S 3f
3:
  CHECK s0, VAL_B
  TEST_CASE 94                               /* sfence.vma for one address */
  la s4, page_a
  srli s4, s4, 12
  slli s4, s4, 10
  ori s4, s4, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  GOTO_S 2f
2:
  lw s0, 0(s1)
  sw s4, PG_SFENCE * 4(s3)
  sfence.vma s1, zero
  lw s0, 0(s1)
  GOTO_M_FROM_S 3f
3:
  CHECK s0, VAL_A
  TEST_CASE 95                               /* invalidating a PTE makes the page fault */
  GOTO_S 2f
2:
  lw s0, 0(s1)
  sw zero, PG_SFENCE * 4(s3)
  sfence.vma s1, zero
  EXPECT_TRAP CAUSE_LOAD_PAGE_FAULT, 1f
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECKR t5, s1
  TEST_CASE 96                               /* M changes a PTE, sfence.vma in M */
  la s4, page_b
  srli s4, s4, 12
  slli s4, s4, 10
  ori s4, s4, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  sw s4, PG_SFENCE * 4(s3)
  sfence.vma
  T_S_OK 97, VA(PG_SFENCE) + 4, lw s0, -4(s1)
  CHECK s0, VAL_B

  /* -------------------------------------------------------------- MPRV */
  TEST_CASE 98                               /* MPRV + MPP = S: M loads/stores translate */
  li s1, VA(PG_RW_S)
  li s2, MSTATUS_MPP
  csrc mstatus, s2
  li s2, MSTATUS_MPRV | MSTATUS_MPP_S
  csrs mstatus, s2
  lw s0, 0(s1)
  li s3, 0x2468ace0
  sw s3, 12(s1)
  csrc mstatus, s2
  CHECK s0, VAL_A
  la s2, page_a
  lw s0, 12(s2)
  CHECK s0, 0x2468ace0
  TEST_CASE 99                               /* ... and fault like S */
  li s1, VA(PG_RW_U)
  li s2, MSTATUS_MPRV | MSTATUS_MPP_S
  csrs mstatus, s2
  EXPECT_TRAP CAUSE_LOAD_PAGE_FAULT, 1f
  lw s0, 0(s1)
  j fail
1:
  li s2, MSTATUS_MPRV
  csrc mstatus, s2
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECKR t5, s1
  CHECK_MASKED t6, MSTATUS_MPP, MSTATUS_MPP_M
  TEST_CASE 100                               /* MPRV + MPP = S + SUM */
  li s2, MSTATUS_MPRV | MSTATUS_MPP_S | MSTATUS_SUM
  csrs mstatus, s2
  lw s0, 0(s1)
  csrc mstatus, s2
  CHECK s0, VAL_C
  TEST_CASE 101                               /* MPRV + MPP = U */
  li s2, MSTATUS_MPP
  csrc mstatus, s2
  li s2, MSTATUS_MPRV
  csrs mstatus, s2
  lw s0, 0(s1)
  li s1, VA(PG_RW_S)
  EXPECT_TRAP CAUSE_STORE_PAGE_FAULT, 1f
  sw s0, 0(s1)
  j fail
1:
  li s2, MSTATUS_MPRV
  csrc mstatus, s2
  CHECK s0, VAL_C
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECKR t5, s1
  TEST_CASE 102                               /* MPRV + MPP = M: no translation */
  li s2, MSTATUS_MPRV | MSTATUS_MPP_M
  csrs mstatus, s2
  la s1, page_c
  lw s0, 0(s1)
  csrc mstatus, s2
  CHECK s0, VAL_C
  TEST_CASE 103                               /* MPRV + MPP = S, MXR */
  li s1, VA(PG_X_S)
  li s2, MSTATUS_MPP
  csrc mstatus, s2
  li s2, MSTATUS_MPRV | MSTATUS_MPP_S | MSTATUS_MXR
  csrs mstatus, s2
  lw s0, 0(s1)
  csrc mstatus, s2
  CHECK s0, XFUNC_WORD0

  /* ---------------------------------------------- delegated page faults */
  TEST_CASE 104                               /* medeleg: a load page fault from S taken in S */
  li s2, (1 << CAUSE_LOAD_PAGE_FAULT) | (1 << CAUSE_STORE_PAGE_FAULT) | (1 << CAUSE_FETCH_PAGE_FAULT)
  csrw medeleg, s2
  li s1, VA(PG_INVALID) + 0x44
  EXPECT_STRAP CAUSE_LOAD_PAGE_FAULT, 1f
  GOTO_S 2f
2:
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_EPC 2b
  CHECKR t5, s1
  csrr s0, stval
  CHECKR s0, s1
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 105                               /* from U: store page fault taken in S */
  li s1, VA(PG_R_U) + 0x48
  la s9, 2f
  li tp, USER_OFFSET
  add s9, s9, tp
  EXPECT_STRAP CAUSE_STORE_PAGE_FAULT, 1f
  GOTO_U_REG s9
2:
  sw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECKR t4, s9
  CHECKR t5, s1
  CHECK_MASKED t6, MSTATUS_SPP, 0
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 106                               /* fetch page fault taken in S */
  li s1, VA(PG_RW_S)
  EXPECT_STRAP CAUSE_FETCH_PAGE_FAULT, 1f
  GOTO_S 2f
2:
  jalr ra, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_FETCH_PAGE_FAULT
  CHECKR t4, s1
  CHECKR t5, s1
  GOTO_M_FROM_S 3f
3:
  TEST_CASE 107                               /* a fault in M is still taken in M */
  li s1, VA(PG_RW_U)
  li s2, MSTATUS_MPRV | MSTATUS_MPP_S
  csrs mstatus, s2
  EXPECT_TRAP CAUSE_LOAD_PAGE_FAULT, 1f
  lw s0, 0(s1)
  j fail
1:
  li s2, MSTATUS_MPRV
  csrc mstatus, s2
  csrw medeleg, zero

  /* ------------------------------------------------------ paging off again */
  TEST_CASE 108
  csrw satp, zero
  sfence.vma
  T_S_OK 109, page_a, lw s0, 0(s1)
  CHECK s0, VAL_A

  TEST_PASS

/* One page of code, mapped X-only / X+U / W+X etc. above. */
  .align 12
code_page:
xfunc:
  addi a0, x0, 0x5a
  jalr x0, 0(ra)
  .align 12

  .data
  .align 12
pt_root:
  .skip 4096
pt_l0:
  .skip 4096
page_a:
  .skip 4096
page_b:
  .skip 4096
page_c:
  .skip 4096

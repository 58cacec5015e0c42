/*
 * misaligned.S - misaligned lw/lh/lhu/sw/sh, which this machine performs in hardware:
 * within a page, across a page boundary, from S-mode, and through Sv32 across two
 * virtual pages whose physical pages are in the opposite order. A misaligned access
 * whose second page is unmapped raises the page fault of the access, with mtval either
 * the access address or the start of the faulting page (both are allowed).
 */
#include "test.h"

/* s0 = inst off(mbuf) */
.macro T_MLD n, inst, exp, off
  TEST_CASE \n
  la s1, mbuf + (\off)
  \inst s0, 0(s1)
  CHECK s0, \exp
.endm
/* Zero sbuf[off & ~3 .. +8), store val at sbuf + off, check the two aligned words. */
.macro T_MST n, inst, val, off, w0, w1
  TEST_CASE \n
  la s1, sbuf + ((\off) & ~3)
  sw zero, 0(s1)
  sw zero, 4(s1)
  li s2, \val
  la s3, sbuf + (\off)
  \inst s2, 0(s3)
  lw s0, 0(s1)
  CHECK s0, \w0
  lw s0, 4(s1)
  CHECK s0, \w1
.endm

#define VA_HI  0x00001000       /* -> mbuf page 1 (the second physical page) */
#define VA_LO  0x00002000       /* -> mbuf page 0 (the first physical page) */
#define VA_BAD 0x00003000       /* invalid */

test_main:
  /* ---------------------------------------------------- loads within a page */
  T_MLD 1, lw,  0x44332211, 1
  T_MLD 2, lw,  0x55443322, 2
  T_MLD 3, lw,  0x66554433, 3
  T_MLD 4, lw,  0xccbbaa99, 9
  T_MLD 5, lw,  0x00ffeedd, 13
  T_MLD 6, lh,  0x00002211, 1
  T_MLD 7, lh,  0x00004433, 3
  T_MLD 8, lh,  0xffffaa99, 9
  T_MLD 9, lh,  0xffffeedd, 13
  T_MLD 10, lhu, 0x00002211, 1
  T_MLD 11, lhu, 0x0000aa99, 9
  T_MLD 12, lhu, 0x0000eedd, 13
  TEST_CASE 13                               /* immediate offsets make the misalignment */
  la s1, mbuf
  lw s0, 5(s1)
  CHECK s0, 0x88776655
  lh s0, 7(s1)
  CHECK s0, 0xffff8877
  addi s1, s1, 3
  lw s0, -2(s1)
  CHECK s0, 0x44332211
  TEST_CASE 14                               /* rd == base */
  la s0, mbuf + 1
  lw s0, 0(s0)
  CHECK s0, 0x44332211

  /* --------------------------------------------- loads across a page boundary */
  T_MLD 15, lw,  0x08f7f6f5, 4093
  T_MLD 16, lw,  0x0908f7f6, 4094
  T_MLD 17, lw,  0x0a0908f7, 4095
  T_MLD 18, lh,  0x000008f7, 4095
  T_MLD 19, lhu, 0x000008f7, 4095
  T_MLD 20, lh,  0xffff8c0b, 4099
  T_MLD 21, lw,  0xf4f3f2f1, 4089           /* just before the boundary */

  /* ------------------------------------------------------ stores */
  T_MST 22, sw, 0xa1b2c3d4, 1, 0xb2c3d400, 0x000000a1
  T_MST 23, sw, 0xa1b2c3d4, 2, 0xc3d40000, 0x0000a1b2
  T_MST 24, sw, 0xa1b2c3d4, 3, 0xd4000000, 0x00a1b2c3
  T_MST 25, sh, 0x1234beef, 1, 0x00beef00, 0x00000000
  T_MST 26, sh, 0x1234beef, 3, 0xef000000, 0x000000be
  T_MST 27, sw, 0x11223344, 4094, 0x33440000, 0x00001122   /* across the boundary */
  T_MST 28, sw, 0x11223344, 4093, 0x22334400, 0x00000011
  T_MST 29, sw, 0x11223344, 4095, 0x44000000, 0x00112233
  T_MST 30, sh, 0x00005566, 4095, 0x66000000, 0x00000055
  TEST_CASE 31                               /* store then load back at the same address */
  la s1, sbuf + 4094
  li s2, 0x87654321
  sw s2, 0(s1)
  lw s0, 0(s1)
  CHECK s0, 0x87654321
  lh s0, 1(s1)
  CHECK s0, 0x00006543
  TEST_CASE 32                               /* bytes around the stores are intact */
  la s1, sbuf
  li s2, -1
  sw s2, 16(s1)
  sw s2, 20(s1)
  li s2, 0
  sw s2, 17(s1)
  lw s0, 16(s1)
  CHECK s0, 0x000000ff
  lw s0, 20(s1)
  CHECK s0, 0xffffff00
  sh s2, 22(s1)
  lw s0, 20(s1)
  CHECK s0, 0x0000ff00

  /* --------------------------------------------------- from S-mode */
  TEST_CASE 33                               /* no translation */
  la s1, mbuf + 4094
  GOTO_S 2f
2:
  lw s0, 0(s1)
  lh s2, 1(s1)
  GOTO_M_FROM_S 3f
3:
  CHECK s0, 0x0908f7f6
  CHECK s2, 0x000008f7
  TEST_CASE 34                               /* from U as well */
  la s1, mbuf + 3
  GOTO_U 2f
2:
  lw s0, 0(s1)
  GOTO_M_FROM_U 3f
3:
  CHECK s0, 0x66554433

  /* ---------------------------------------------- through Sv32 page tables */
  la a0, pt_root
  li a1, 8192
1:
  sw zero, 0(a0)
  addi a0, a0, 4
  addi a1, a1, -4
  bnez a1, 1b
  la a0, pt_root + 0x200 * 4                /* identity megapage for the program */
  li a1, (0x80000000 >> 12) << 10 | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  sw a1, 0(a0)
  la a0, pt_root                            /* VA 0-4 MiB: pt_l0 */
  la a1, pt_l0
  srli a1, a1, 2
  ori a1, a1, PTE_V
  sw a1, 0(a0)
  la a0, pt_l0 + (VA_HI >> 12) * 4
  la a1, mbuf + 4096
  srli a1, a1, 2
  ori a1, a1, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  sw a1, 0(a0)
  la a0, pt_l0 + (VA_LO >> 12) * 4
  la a1, mbuf
  srli a1, a1, 2
  ori a1, a1, PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
  sw a1, 0(a0)
  la a0, pt_root
  srli a0, a0, 12
  li a1, SATP_SV32
  or a0, a0, a1
  csrw satp, a0
  sfence.vma

  TEST_CASE 35                               /* load across two pages mapped out of order */
  li s1, VA_HI + 4094                       /* mbuf + 8190 .. mbuf + 1 */
  GOTO_S 2f
2:
  lw s0, 0(s1)
  lhu s2, 1(s1)
  lw s3, -4(s1)                             /* within the page */
  GOTO_M_FROM_S 3f
3:
  CHECK s0, 0x1100e2e1
  CHECK s2, 0x0000e2
  CHECK s3, 0xe0dfdedd
  TEST_CASE 36                               /* store across the two pages */
  li s1, VA_HI + 4095
  li s2, 0xcafebabe
  GOTO_S 2f
2:
  sw s2, 0(s1)
  lw s0, 0(s1)
  GOTO_M_FROM_S 3f
3:
  CHECK s0, 0xcafebabe
  la s1, mbuf
  lw s0, 0(s1)
  CHECK s0, 0x33cafeba
  la s1, mbuf + 8188
  lw s0, 0(s1)
  CHECK s0, 0xbee1e0df
  TEST_CASE 37                               /* second page unmapped: load page fault */
  li s1, VA_LO + 4094
  EXPECT_TRAP CAUSE_LOAD_PAGE_FAULT, 1f
  GOTO_S 2f
2:
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECK_EPC 2b
  beq t5, s1, 4f
  li tp, VA_BAD
  bne t5, tp, fail
4:
  TEST_CASE 38                               /* ... store page fault */
  li s1, VA_LO + 4093
  EXPECT_TRAP CAUSE_STORE_PAGE_FAULT, 1f
  GOTO_S 2f
2:
  sw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_STORE_PAGE_FAULT
  CHECK_EPC 2b
  beq t5, s1, 4f
  li tp, VA_BAD
  bne t5, tp, fail
4:
  TEST_CASE 39                               /* first page unmapped */
  li s1, VA_HI - 2
  EXPECT_TRAP CAUSE_LOAD_PAGE_FAULT, 1f
  GOTO_S 2f
2:
  lw s0, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_LOAD_PAGE_FAULT
  CHECKR t5, s1
  csrw satp, zero
  sfence.vma

  TEST_PASS

  .data
  .align 12
mbuf:
  .byte 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77
  .byte 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff
  .org mbuf + 4088
  .byte 0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7
  .byte 0x08, 0x09, 0x0a, 0x0b, 0x8c, 0x8d, 0x8e, 0x8f
  .org mbuf + 8186
  .byte 0xdd, 0xde, 0xdf, 0xe0, 0xe1, 0xe2
  .org mbuf + 8192
sbuf:
  .skip 8192
pt_root:
  .skip 4096
pt_l0:
  .skip 4096

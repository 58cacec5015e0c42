/*
 * h_twostage.S - two-stage address translation (privileged spec 20211203, 8.5):
 * VS-stage Sv32 over G-stage Sv32x4 with 4 KiB pages and 4 MiB megapages on both
 * stages in every combination, bare vsatp (G-stage only), bare hgatp (VS-stage only),
 * guest-physical addresses above 4 GiB (34-bit GPA, the whole 16 KiB root), VS page
 * tables that live at guest-physical addresses the G-stage moves elsewhere, satp at
 * V=1 being vsatp, hardware A/D updates at both stages, and MPRV with MPV=1.
 *
 * Guest-physical map (hgatp -> groot, Sv32x4):
 *   0x0_8000_0000 (4 MiB)  -> PA 0x8000_0000  megapage, identity: the program
 *   0x0_0040_0000          -> gl0, 4 KiB pages:
 *       +0x0000 -> vsroot  (the VS root table, seen by the guest at GPA 0x400000)
 *       +0x1000 -> vsl0    (a VS level-0 table)
 *       +0x2000 -> data_a
 *       +0x3000 -> data_b  (G leaf with A = D = 0)
 *   0x0_0080_0000 (4 MiB)  -> PA 0x8040_0000  megapage
 *   0x3_0000_0000 (4 MiB)  -> PA 0x8080_0000  megapage above 4 GiB (root index 0xc00)
 *   0x3_ffc0_0000 (4 MiB)  -> PA 0x8080_0000  last root entry (index 0xfff)
 * Guest-virtual map (vsatp -> GPA 0x400000):
 *   0x8000_0000 mega -> GPA 0x8000_0000 (the program, VS)
 *   0x4000_0000 -> vsl0 (at GPA 0x401000):
 *       +0x0000 -> GPA 0x402000 (data_a)         VS 4K over G 4K
 *       +0x1000 -> GPA 0x805000                  VS 4K over G mega
 *       +0x2000 -> GPA 0x3_0000_6000             VS 4K above 4 GiB
 *       +0x3000 -> GPA 0x403000 (data_b), A = D = 0
 *   0x4040_0000 mega -> GPA 0x0080_0000          VS mega over G mega
 *   0x4080_0000 mega -> GPA 0x0040_0000          VS mega over G 4K pages
 *   0x40c0_0000 mega -> GPA 0x3_0000_0000        VS mega above 4 GiB
 *   0x4100_0000 mega -> GPA 0x3_ffc0_0000
 *   0xc000_0000 mega -> GPA 0x8000_0000, U       the program seen from VU
 */
#include "htest.h"

#define VAL_A 0xaaaa0001
#define VAL_B 0xbbbb0002
#define VAL_C 0xcccc0003
#define VAL_D 0xdddd0004
#define VAL_E 0xeeee0005
#define VAL_F 0xffff0006
#define VAL_G 0x12340007

#define FAR_LOW   0x80400000            /* PA behind GPA 0x800000 */
#define FAR_HIGH  0x80800000            /* PA behind GPA 0x3_0000_0000 and 0x3_ffc0_0000 */
#define VSATP_ON  (SATP_SV32 | 0x400)   /* VS root at GPA 0x400000 */
#define VU_OFFSET 0x40000000            /* PA + VU_OFFSET = VU alias */

/* Store the constant val at physical address pa (from M). Clobbers a0, a1. */
.macro POKE pa, val
  li a0, \pa
  li a1, \val
  sw a1, 0(a0)
.endm
/* Flush both translation stages (from M or HS). */
/* From M: in VS-mode, load s0 from the address va (case n). */
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

  /* ---- build the tables (M, physical) ---- */
  TEST_CASE 1
  la t0, groot                      /* Sv32x4 root: 16 KiB aligned */
  li t1, 0x3fff
  and t0, t0, t1
  bnez t0, fail
  SET_PTE_PPN groot, 0x200, 0x80000, G_RWX
  SET_PTE groot, 1, gl0, PTE_V
  SET_PTE gl0, 0, vsroot, G_RW
  SET_PTE gl0, 1, vsl0, G_RW
  SET_PTE gl0, 2, data_a, G_RW
  SET_PTE gl0, 3, data_b, PTE_V | PTE_R | PTE_W | PTE_U
  SET_PTE_PPN groot, 2, FAR_LOW >> 12, G_RWX
  SET_PTE_PPN groot, 0xc00, FAR_HIGH >> 12, G_RWX
  SET_PTE_PPN groot, 0xfff, FAR_HIGH >> 12, G_RWX
  SET_PTE_PPN vsroot, 0x200, 0x80000, VS_RWX
  SET_PTE_PPN vsroot, 0x100, 0x401, PTE_V
  SET_PTE_PPN vsl0, 0, 0x402, VS_RW
  SET_PTE_PPN vsl0, 1, 0x805, VS_RW
  SET_PTE_PPN vsl0, 2, 0x300006, VS_RW
  SET_PTE_PPN vsl0, 3, 0x403, PTE_V | PTE_R | PTE_W
  SET_PTE_PPN vsroot, 0x101, 0x800, VS_RW
  SET_PTE_PPN vsroot, 0x102, 0x400, VS_RW
  SET_PTE_PPN vsroot, 0x103, 0x300000, VS_RW
  SET_PTE_PPN vsroot, 0x104, 0x3ffc00, VS_RW
  SET_PTE_PPN vsroot, 0x300, 0x80000, VS_RWX | PTE_U
  /* a one-stage VS table at a physical address, for bare hgatp */
  SET_PTE_PPN vsroot_pa, 0x200, 0x80000, VS_RWX
  SET_PTE_PPN vsroot_pa, 0x101, FAR_LOW >> 12, VS_RW
  la a0, data_a
  li a1, VAL_A
  sw a1, 0x10(a0)
  POKE FAR_LOW + 0x5020, VAL_B
  POKE FAR_HIGH + 0x6030, VAL_C
  POKE FAR_LOW + 0x2040, VAL_D
  POKE FAR_HIGH + 0x7050, VAL_E
  POKE FAR_HIGH + 0x3060, VAL_F
  la t0, groot
  srli t0, t0, 12
  li t1, HGATP_SV32X4
  or t0, t0, t1
  csrw hgatp, t0
  csrr t1, hgatp
  CHECKR t0, t1
  H_FLUSH

  /* ---- bare vsatp: G-stage only (GPA = guest VA) ---- */
  T_VS_LOAD 2, 0x00402010, VAL_A                  /* G 4 KiB page */
  T_VS_LOAD 3, 0x00805020, VAL_B                  /* G megapage */
  TEST_CASE 4                                     /* store through the G-stage */
  li s1, 0x00402014
  li s0, VAL_G
  M_GOTO_VS 1f
1:
  sw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  la t0, data_a
  lw t0, 0x14(t0)
  CHECK t0, VAL_G
  TEST_CASE 5                                     /* from VU too (G leaves have U) */
  li s1, 0x00402010
  li s0, 0
  M_GOTO_VU 1f
1:
  lw s0, 0(s1)
  GOTO_M_FROM_VU 2f
2:
  CHECK s0, VAL_A
  TEST_CASE 6                                     /* V=0 ignores hgatp: HS sees PA */
  la s1, data_a
  li s0, 0
  M_GOTO_HS 1f
1:
  lw s0, 0x10(s1)
  GOTO_M_FROM_S 2f
2:
  CHECK s0, VAL_A

  /* ---- VS-stage Sv32 over G-stage Sv32x4 ---- */
  li t0, VSATP_ON
  csrw vsatp, t0
  H_FLUSH
  T_VS_LOAD 7, 0x40000010, VAL_A                  /* VS 4K over G 4K */
  T_VS_LOAD 8, 0x40001020, VAL_B                  /* VS 4K over G mega */
  SKIP_IF_QEMU7 1f                  /* QEMU 7.2 (RV32) faults on every GPA >= 4 GiB */
  T_VS_LOAD 9, 0x40002030, VAL_C                  /* VS 4K onto GPA 0x3_0000_6000 */
1:
  T_VS_LOAD 10, 0x40402040, VAL_D                 /* VS mega over G mega */
  T_VS_LOAD 11, 0x40802010, VAL_A                 /* VS mega over G 4K */
  SKIP_IF_QEMU7 3f
  T_VS_LOAD 12, 0x40c07050, VAL_E                 /* VS mega onto GPA 0x3_0000_7000 */
  T_VS_LOAD 13, 0x41003060, VAL_F                 /* GPA 0x3_ffc0_3060, root entry 0xfff */
  TEST_CASE 14                                    /* stores land where the walk says */
  li s1, 0x40002034
  li s0, VAL_G
  M_GOTO_VS 1f
1:
  sw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  li t0, FAR_HIGH + 0x6034
  lw t0, 0(t0)
  CHECK t0, VAL_G
3:
  TEST_CASE 15                                    /* VU through both stages (U alias) */
  li s1, 0x40000010
  la t0, 1f
  li t1, VU_OFFSET
  add t0, t0, t1
  M_GOTO_VU_REG t0
1:
  auipc s2, 0                                     /* runs at the alias */
  GOTO_M_FROM_VU 2f
2:
  srli s2, s2, 28
  CHECK s2, 0xc

  /* ---- hardware A/D: VS PTE (written through the G-stage) and G PTE ---- */
  TEST_CASE 16
  li s1, 0x40003000
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  la t0, vsl0
  lw t0, 12(t0)
  CHECK_MASKED t0, PTE_A | PTE_D, PTE_A
  la t0, gl0
  lw t0, 12(t0)
  CHECK_MASKED t0, PTE_A, PTE_A
  TEST_CASE 17
  li s0, VAL_G
  M_GOTO_VS 1f
1:
  sw s0, 4(s1)
  GOTO_M_FROM_VS 2f
2:
  la t0, vsl0
  lw t0, 12(t0)
  CHECK_MASKED t0, PTE_A | PTE_D, PTE_A | PTE_D
  la t0, gl0
  lw t0, 12(t0)
  CHECK_MASKED t0, PTE_A | PTE_D, PTE_A | PTE_D
  la t0, data_b
  lw t0, 4(t0)
  CHECK t0, VAL_G

  /* ---- MPRV with MPV=1, MPP=S: M-mode loads translated by both stages ---- */
  TEST_CASE 18
  li s1, 0x40402040
  li t0, MSTATUS_MPP
  csrc mstatus, t0
  li t0, MSTATUS_MPP_S
  csrs mstatus, t0
  li t0, MSTATUSH_MPV
  csrs mstatush, t0
  li t0, MSTATUS_MPRV
  csrs mstatus, t0
  lw s0, 0(s1)
  csrc mstatus, t0
  li t0, MSTATUSH_MPV
  csrc mstatush, t0
  CHECK s0, VAL_D

  /* ---- satp at V=1 is vsatp; the guest turns its own translation on ---- */
  TEST_CASE 19
  csrw vsatp, zero
  csrw satp, zero
  H_FLUSH
  li s2, VSATP_ON
  li s1, 0x40000010
  M_GOTO_VS 1f
1:
  csrw satp, s2
  sfence.vma
  csrr s3, satp
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_A
  CHECK s3, VSATP_ON
  CHECK_CSR vsatp, VSATP_ON
  CHECK_CSR satp, 0

  /* ---- bare hgatp: VS-stage only, tables at physical addresses ---- */
  TEST_CASE 20
  csrw hgatp, zero
  la t0, vsroot_pa
  srli t0, t0, 12
  li t1, SATP_SV32
  or t0, t0, t1
  csrw vsatp, t0
  H_FLUSH
  li s1, 0x40402040
  li s0, 0
  M_GOTO_VS 1f
1:
  lw s0, 0(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_D
  TEST_CASE 21                                    /* both bare: guest VA = PA */
  csrw vsatp, zero
  H_FLUSH
  la s1, data_a
  li s0, 0
  M_GOTO_VS 1f
1:
  lw s0, 0x10(s1)
  GOTO_M_FROM_VS 2f
2:
  CHECK s0, VAL_A

  TEST_PASS

  .bss
  .align 14
groot:    .skip 16384
gl0:      .skip 4096
vsroot:   .skip 4096
vsl0:     .skip 4096
vsroot_pa: .skip 4096
data_a:   .skip 4096
data_b:   .skip 4096

/*
 * pmp.S - physical memory protection (privileged spec 20211203, section 3.7).
 *
 * Layout: the program image lies in the first 1 MiB of RAM; test pages PAGE_A..PAGE_D
 * lie just above it, outside the image. Most cases keep a "background" entry 15 that
 * gives S/U read/write/execute on the image (NAPOT 1 MiB), then program lower entries
 * over the test pages, which win because the lowest-numbered matching entry decides.
 * Every PMP change is followed by sfence.vma (required when paging exists).
 * The lock cases come last: a locked entry stays locked until reset.
 */
#include "test.h"

#define IMAGE      0x80000000
#define IMAGE_SIZE 0x00100000
#define PAGE_A     0x80100000
#define PAGE_B     0x80101000
#define PAGE_C     0x80102000
#define PAGE_D     0x80103000
#define PAGE_E     0x80104000

#define PMP_R     0x01
#define PMP_W     0x02
#define PMP_X     0x04
#define PMP_TOR   0x08
#define PMP_NA4   0x10
#define PMP_NAPOT 0x18
#define PMP_L     0x80

/* pmpaddr of a NAPOT region (size a power of two >= 8, base aligned to it). */
#define NAPOT(base, size) (((base) >> 2) | (((size) >> 3) - 1))

/* Every entry off, then entry 15 = background (image RWX). Clobbers a0. */
.macro PMP_RESET
  csrw pmpcfg0, zero
  csrw pmpcfg1, zero
  csrw pmpcfg2, zero
  li a0, NAPOT(IMAGE, IMAGE_SIZE)
  csrw pmpaddr15, a0
  li a0, (PMP_NAPOT | PMP_R | PMP_W | PMP_X) << 24
  csrw pmpcfg3, a0
  sfence.vma
.endm

/* Entry i (0..11: pmpcfg0-2) = cfg over pmpaddr value addr. Clobbers a0. */
.macro PMP_SET i, cfg, addr
  li a0, \addr
  csrw pmpaddr\i, a0
  li a0, 0xff << (8 * ((\i) % 4))
  .if (\i) < 4
  csrc pmpcfg0, a0
  .elseif (\i) < 8
  csrc pmpcfg1, a0
  .else
  csrc pmpcfg2, a0
  .endif
  li a0, (\cfg) << (8 * ((\i) % 4))
  .if (\i) < 4
  csrs pmpcfg0, a0
  .elseif (\i) < 8
  csrs pmpcfg1, a0
  .else
  csrs pmpcfg2, a0
  .endif
  sfence.vma
.endm

/* Run insn in U-mode (S-mode) with s1 = addr: it must raise cause with mtval = s1. */
.macro U_FAULT n, cause, addr, insn:vararg
  TEST_CASE \n
  li s1, \addr
  li s0, 0x0bad0bad
  EXPECT_TRAP \cause, .Lr\@
  GOTO_U .Lu\@
.Lu\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECKR t5, s1
  CHECK s0, 0x0bad0bad
.endm
.macro S_FAULT n, cause, addr, insn:vararg
  TEST_CASE \n
  li s1, \addr
  li s0, 0x0bad0bad
  EXPECT_TRAP \cause, .Lr\@
  GOTO_S .Ls\@
.Ls\@:
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECKR t5, s1
  CHECK s0, 0x0bad0bad
.endm
/* Run insn in U-mode (S-mode) with s1 = addr; it must not trap. */
.macro U_OK n, addr, insn:vararg
  TEST_CASE \n
  li s1, \addr
  GOTO_U .Lu\@
.Lu\@:
  \insn
  GOTO_M_FROM_U .Lm\@
.Lm\@:
.endm
.macro S_OK n, addr, insn:vararg
  TEST_CASE \n
  li s1, \addr
  GOTO_S .Ls\@
.Ls\@:
  \insn
  GOTO_M_FROM_S .Lm\@
.Lm\@:
.endm
/* In M-mode: insn with s1 = addr must raise cause with mtval = s1. */
.macro M_FAULT n, cause, addr, insn:vararg
  TEST_CASE \n
  li s1, \addr
  EXPECT_TRAP \cause, .Lr\@
  \insn
  j fail
.Lr\@:
  CHECK_TRAP \cause
  CHECKR t5, s1
.endm

test_main:
  /* ---------------------------------------------------------------- CSRs */
  TEST_CASE 1                     /* G = 0: pmpaddr keeps every bit (QEMU 7.2 too) */
  csrw pmpcfg0, zero
  li a0, -1
  csrw pmpaddr1, a0
  csrr a1, pmpaddr1
  CHECK a1, 0xffffffff
  li a0, 0x12345678
  csrw pmpaddr1, a0
  csrr a1, pmpaddr1
  CHECK a1, 0x12345678

  TEST_CASE 2                     /* pmpcfg bytes: A, R/W/X as written */
  li a0, 0x1f0f0b09
  csrw pmpcfg1, a0
  csrr a1, pmpcfg1
  CHECK a1, 0x1f0f0b09
  li a0, 0x1b131d00
  csrw pmpcfg1, a0
  csrr a1, pmpcfg1
  CHECK a1, 0x1b131d00
  csrw pmpcfg1, zero

  TEST_CASE 3                     /* bits 6:5 are reserved: read 0 (QEMU keeps them) */
  SKIP_IF_QEMU7 3f
  li a0, 0x00006f00
  csrw pmpcfg1, a0
  csrr a1, pmpcfg1
  CHECK a1, 0x00000f00
  csrw pmpcfg1, zero
3:

  TEST_CASE 4                     /* R=0 W=1 is reserved: the byte keeps its old value */
  SKIP_IF_QEMU7 4f
  li a0, 0x00000b09
  csrw pmpcfg1, a0
  li a0, 0x00000a0e
  csrw pmpcfg1, a0
  csrr a1, pmpcfg1
  CHECK a1, 0x00000b09
  csrw pmpcfg1, zero
4:

  TEST_CASE 5                     /* pmpcfg4 and pmpaddr16 exist and read 0 (QEMU: illegal) */
  SKIP_IF_QEMU7 5f
  li a0, -1
  csrw 0x3a4, a0
  csrr a1, 0x3a4
  CHECK a1, 0
  csrw 0x3c0, a0
  csrr a1, 0x3c0
  CHECK a1, 0
  csrw 0x3ef, a0
  csrr a1, 0x3ef
  CHECK a1, 0
5:

  PMP_RESET
  TEST_CASE 6                     /* PMP CSRs are M-only */
  EXPECT_TRAP CAUSE_ILLEGAL_INSTRUCTION, 1f
  GOTO_S 2f
2:
  csrr a0, pmpcfg0
  j fail
1:
  CHECK_TRAP CAUSE_ILLEGAL_INSTRUCTION

  TEST_CASE 7                     /* every entry OFF: S and U match nothing and are denied
                                   * (QEMU 7.2 allows everything when no entry is active) */
  SKIP_IF_QEMU7 7f
  csrw pmpcfg3, zero
  sfence.vma
  la s1, 2f
  EXPECT_TRAP CAUSE_FETCH_ACCESS, 1f
  GOTO_U 2f
2:
  j fail
1:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECKR t5, s1
7:

  /* ------------------------------------------------- permissions for S and U */
  PMP_RESET
  PMP_SET 0, PMP_NAPOT | PMP_R, NAPOT(PAGE_A, 0x1000)
  U_OK    10, PAGE_A, lw s0, 8(s1)
  U_FAULT 11, CAUSE_STORE_ACCESS, PAGE_A + 4, sw zero, 0(s1)
  S_FAULT 12, CAUSE_STORE_ACCESS, PAGE_A + 0xffc, sh zero, 0(s1)
  S_FAULT 13, CAUSE_STORE_ACCESS, PAGE_A, amoadd.w s0, zero, (s1)
  S_OK    14, PAGE_A + 0x800, lr.w s0, (s1)
  /* no entry matches: S and U are denied, M is allowed */
  U_FAULT 15, CAUSE_LOAD_ACCESS, PAGE_B, lw s0, 0(s1)
  S_FAULT 16, CAUSE_STORE_ACCESS, PAGE_B + 8, sw zero, 0(s1)
  U_FAULT 17, CAUSE_FETCH_ACCESS, PAGE_B, jr s1
  TEST_CASE 18
  li s1, PAGE_B
  sw zero, 0(s1)
  lw s0, 0(s1)
  CHECK s0, 0

  /* M ignores unlocked entries */
  TEST_CASE 19
  li s1, PAGE_A
  li a0, 0x5a5a
  sw a0, 0(s1)
  lw s0, 0(s1)
  CHECK s0, 0x5a5a

  /* X: put `jr ra` on PAGE_C (M writes it), RW only -> fetch fault; RX -> it runs */
  TEST_CASE 20
  li s1, PAGE_C
  li a0, 0x00008067               /* jalr x0, 0(ra) */
  sw a0, 0(s1)
  fence.i
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_C, 0x1000)
  U_FAULT 21, CAUSE_FETCH_ACCESS, PAGE_C, jr s1
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_X, NAPOT(PAGE_C, 0x1000)
  U_OK    22, PAGE_C, jalr s1
  S_OK    23, PAGE_C, jalr s1

  /* W+R without X: load and store work, nothing else is needed for AMOs */
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_C, 0x1000)
  U_OK    24, PAGE_C + 0x10, amoswap.w s0, zero, (s1)

  /* ------------------------------------------------------- NA4, TOR, NAPOT */
  PMP_RESET
  PMP_SET 0, PMP_NA4 | PMP_R | PMP_W, (PAGE_B + 8) >> 2
  PMP_SET 1, PMP_NAPOT | PMP_R, NAPOT(PAGE_B, 0x1000)
  U_OK    30, PAGE_B + 8, sw zero, 0(s1)
  U_FAULT 31, CAUSE_STORE_ACCESS, PAGE_B + 12, sw zero, 0(s1)
  U_FAULT 32, CAUSE_STORE_ACCESS, PAGE_B + 4, sw zero, 0(s1)
  U_OK    33, PAGE_B + 10, sb zero, 0(s1)

  /* TOR: entry 2 covers [pmpaddr1, pmpaddr2) = [A + 0x10, A + 0x20) read-only; entry 1
   * itself is OFF (only its address is used) */
  PMP_RESET
  PMP_SET 1, 0, (PAGE_A + 0x10) >> 2
  PMP_SET 2, PMP_TOR | PMP_R, (PAGE_A + 0x20) >> 2
  PMP_SET 3, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_A, 0x1000)
  U_OK    40, PAGE_A + 0x0c, sw zero, 0(s1)
  U_FAULT 41, CAUSE_STORE_ACCESS, PAGE_A + 0x10, sw zero, 0(s1)
  U_FAULT 42, CAUSE_STORE_ACCESS, PAGE_A + 0x1c, sw zero, 0(s1)
  U_OK    43, PAGE_A + 0x20, sw zero, 0(s1)
  U_OK    44, PAGE_A + 0x1c, lw s0, 0(s1)
  /* TOR with pmpaddr[i-1] >= pmpaddr[i] matches nothing: entry 3 decides */
  PMP_SET 2, PMP_TOR | PMP_R, (PAGE_A + 0x10) >> 2
  U_OK    45, PAGE_A + 0x10, sw zero, 0(s1)
  /* TOR in entry 0 starts at address 0: [0, A + 0x10) read-only covers the image too,
   * so U cannot even fetch its first instruction; data is checked with MPRV (MPP = U) */
  PMP_RESET
  PMP_SET 0, PMP_TOR | PMP_R, (PAGE_A + 0x10) >> 2
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_A, 0x1000)
  TEST_CASE 46
  la s1, 2f
  EXPECT_TRAP CAUSE_FETCH_ACCESS, 1f
  GOTO_U 2f
2:
  j fail
1:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECKR t5, s1
  TEST_CASE 47
  li a0, MSTATUS_MPP
  csrc mstatus, a0
  li a0, MSTATUS_MPRV
  csrs mstatus, a0
  li s1, PAGE_A + 0x10
  sw zero, 0(s1)                  /* entry 1 */
  li s1, PAGE_A + 0x0c
  lw s0, 0(s1)                    /* entry 0: R */
  EXPECT_TRAP CAUSE_STORE_ACCESS, 1f
  sw zero, 0(s1)
  j fail
1:
  li a0, MSTATUS_MPRV
  csrc mstatus, a0
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECKR t5, s1

  /* NAPOT sizes: 8 bytes, and the 1 MiB after the image */
  PMP_RESET
  PMP_SET 0, PMP_NAPOT | PMP_R, NAPOT(PAGE_D + 0x18, 8)
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(IMAGE + IMAGE_SIZE, IMAGE_SIZE)
  U_OK    50, PAGE_D + 0x14, sw zero, 0(s1)
  U_FAULT 51, CAUSE_STORE_ACCESS, PAGE_D + 0x18, sw zero, 0(s1)
  U_FAULT 52, CAUSE_STORE_ACCESS, PAGE_D + 0x1c, sw zero, 0(s1)
  U_OK    53, PAGE_D + 0x20, sw zero, 0(s1)
  U_OK    54, IMAGE + 2 * IMAGE_SIZE - 4, lw s0, 0(s1)
  U_FAULT 55, CAUSE_LOAD_ACCESS, IMAGE + 2 * IMAGE_SIZE, lw s0, 0(s1)

  /* --------------------------------------------------------------- priority */
  PMP_RESET
  PMP_SET 0, PMP_NAPOT | PMP_R, NAPOT(PAGE_A, 0x1000)
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_A, 0x2000)
  U_FAULT 60, CAUSE_STORE_ACCESS, PAGE_A + 0x100, sw zero, 0(s1)
  U_OK    61, PAGE_B + 0x100, sw zero, 0(s1)
  PMP_SET 0, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_A, 0x1000)
  PMP_SET 1, PMP_NAPOT | PMP_R, NAPOT(PAGE_A, 0x2000)
  U_OK    62, PAGE_A + 0x100, sw zero, 0(s1)
  U_FAULT 63, CAUSE_STORE_ACCESS, PAGE_B + 0x100, sw zero, 0(s1)
  /* a lower-numbered OFF entry does not hide a higher one */
  PMP_SET 0, 0, NAPOT(PAGE_A, 0x1000)
  U_FAULT 64, CAUSE_STORE_ACCESS, PAGE_A + 0x100, sw zero, 0(s1)

  /* ----------------------------- an access that only partly matches an entry fails */
  PMP_RESET
  PMP_SET 0, PMP_NA4 | PMP_R | PMP_W, (PAGE_A + 0x10) >> 2
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_A, 0x1000)
  TEST_CASE 70                    /* misaligned word over the NA4 edge (QEMU splits it) */
  SKIP_IF_QEMU7 70f
  li s1, PAGE_A + 0x12
  EXPECT_TRAP CAUSE_STORE_ACCESS, 1f
  GOTO_U 2f
2:
  sw zero, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECKR t5, s1
70:
  U_OK    71, PAGE_A + 0x10, sw zero, 0(s1)

  /* ------------------------------------------------------------- MPRV */
  PMP_RESET
  PMP_SET 0, PMP_NAPOT | PMP_R, NAPOT(PAGE_A, 0x1000)
  TEST_CASE 80                    /* MPRV with MPP = U: U-mode permissions for data */
  li s1, PAGE_A
  li a0, MSTATUS_MPP
  csrc mstatus, a0
  li a0, MSTATUS_MPRV
  csrs mstatus, a0
  lw s0, 0(s1)
  EXPECT_TRAP CAUSE_STORE_ACCESS, 1f
  sw zero, 0(s1)
  j fail
1:
  li a0, MSTATUS_MPRV
  csrc mstatus, a0
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECKR t5, s1
  sw zero, 0(s1)                  /* M again: allowed */

  /* ------------------------------------- page-table walks are S-mode accesses */
  PMP_RESET
  TEST_CASE 90                    /* root table on PAGE_D: megapage identity map */
  li a0, PAGE_D + (IMAGE >> 22) * 4
  li a1, ((IMAGE >> 12) << 10) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
  sw a1, 0(a0)
  /* PAGE_A lies in the same 4 MiB as the image */
  li a1, (PAGE_D >> 12) | SATP_SV32
  csrw satp, a1
  sfence.vma
  PMP_SET 0, PMP_NAPOT, NAPOT(PAGE_D, 0x1000)   /* the tables: no access for S */
  PMP_SET 1, PMP_NAPOT | PMP_R | PMP_W, NAPOT(PAGE_A, 0x1000)
  la s1, 2f
  EXPECT_TRAP CAUSE_FETCH_ACCESS, 1f
  GOTO_S 2f
2:
  j fail
1:
  CHECK_TRAP CAUSE_FETCH_ACCESS
  CHECKR t5, s1
  CHECKR t4, s1
  PMP_SET 0, PMP_NAPOT | PMP_R, NAPOT(PAGE_D, 0x1000)
  S_OK    91, PAGE_A, sw zero, 0(s1)
  csrw satp, zero
  sfence.vma

  /* ------------------------------------------------------------------ lock */
  PMP_RESET
  TEST_CASE 100                   /* L: the entry applies to M too */
  PMP_SET 8, PMP_NAPOT | PMP_R | PMP_L, NAPOT(PAGE_E, 0x1000)
  li s1, PAGE_E + 0x20
  lw s0, 0(s1)
  EXPECT_TRAP CAUSE_STORE_ACCESS, 1f
  sw zero, 0(s1)
  j fail
1:
  CHECK_TRAP CAUSE_STORE_ACCESS
  CHECKR t5, s1
  TEST_CASE 101                   /* ... its pmpcfg byte and pmpaddr ignore writes */
  li a0, 0xff
  csrc pmpcfg2, a0
  csrr a1, pmpcfg2
  CHECK_MASKED a1, 0xff, PMP_NAPOT | PMP_R | PMP_L
  li a0, 0x12345678
  csrw pmpaddr8, a0
  csrr a1, pmpaddr8
  CHECK a1, NAPOT(PAGE_E, 0x1000)
  TEST_CASE 102                   /* ... the other bytes of pmpcfg2 stay writable */
  li a0, (PMP_NAPOT | PMP_R) << 8
  csrs pmpcfg2, a0
  csrr a1, pmpcfg2
  CHECK a1, ((PMP_NAPOT | PMP_R) << 8) | PMP_NAPOT | PMP_R | PMP_L
  li a0, 0xff00
  csrc pmpcfg2, a0
  TEST_CASE 103                   /* a locked TOR entry locks the pmpaddr below it */
  PMP_SET 10, 0, (PAGE_C + 0x100) >> 2
  PMP_SET 11, PMP_TOR | PMP_R | PMP_W | PMP_L, (PAGE_C + 0x200) >> 2
  li a0, 0x1000
  csrw pmpaddr10, a0
  csrr a1, pmpaddr10
  CHECK a1, (PAGE_C + 0x100) >> 2
  li s1, PAGE_C + 0x100
  sw zero, 0(s1)                  /* RW: M may store */
  M_FAULT 104, CAUSE_FETCH_ACCESS, PAGE_C + 0x100, jr s1
  TEST_CASE 105                   /* ... and entry 10's own byte stays writable */
  li a0, (PMP_NAPOT | PMP_R) << 16
  csrs pmpcfg2, a0
  csrr a1, pmpcfg2
  srli a1, a1, 16
  CHECK_MASKED a1, 0xff, PMP_NAPOT | PMP_R
  li a0, 0xff << 16
  csrc pmpcfg2, a0
  csrr a1, pmpaddr10
  CHECK a1, (PAGE_C + 0x100) >> 2

  TEST_PASS

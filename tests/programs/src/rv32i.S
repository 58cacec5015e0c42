/*
 * rv32i.S - every RV32I instruction (plus fence.i) in M-mode, with edge cases.
 * Case numbers are the ones a failure reports; see README.md.
 */
#include "test.h"

/* Branch taken forwards and backwards: inst(a, b) must branch. */
.macro T_BR_TAKEN n, inst, a, b
  TEST_CASE \n
  li s1, \a
  li s2, \b
  \inst s1, s2, .Lm1_\@
  j fail
.Lm1_\@:
  j .Lm3_\@
.Lm2_\@:
  j .Lm4_\@
.Lm3_\@:
  \inst s1, s2, .Lm2_\@
  j fail
.Lm4_\@:
.endm
/* Branch not taken: inst(a, b) must fall through. */
.macro T_BR_NOT n, inst, a, b
  TEST_CASE \n
  li s1, \a
  li s2, \b
  \inst s1, s2, .Lm1_\@
  j .Lm2_\@
.Lm1_\@:
  j fail
.Lm2_\@:
.endm
/* Load: s0 = inst off(base + boff), base register must survive. */
.macro T_LD n, inst, exp, base, off
  TEST_CASE \n
  la s1, \base
  \inst s0, \off(s1)
  CHECK s0, \exp
  la s2, \base
  bne s1, s2, fail
.endm
/* Store val with inst at off(base), then load the containing word back. */
.macro T_ST n, inst, val, base, off, ldinst, ldexp
  TEST_CASE \n
  la s1, \base
  li s2, \val
  \inst s2, \off(s1)
  \ldinst s0, \off(s1)
  CHECK s0, \ldexp
.endm

test_main:
  /* ------------------------------------------------------------------ ADD */
  T_RR     1, add, 0x00000000, 0x00000000, 0x00000000
  T_RR     2, add, 0x00000002, 0x00000001, 0x00000001
  T_RR     3, add, 0x0000000a, 0x00000003, 0x00000007
  T_RR     4, add, 0x00000000, 0x80000000, 0x80000000
  T_RR     5, add, 0x80000000, 0x7fffffff, 0x00000001
  T_RR     6, add, 0x00000000, 0xffffffff, 0x00000001
  T_RR     7, add, 0xfffffffe, 0xffffffff, 0xffffffff
  T_RR     8, add, 0xfffffffe, 0x7fffffff, 0x7fffffff
  T_RR     9, add, 0x22222221, 0x12345678, 0x0fedcba9
  T_RR     10, add, 0x7fff8000, 0x80000000, 0xffff8000
  T_RR_D1  11, add, 24, 13, 11
  T_RR_D2  12, add, 25, 14, 11
  T_RR_DD  13, add, 26, 13
  T_RR_Z1  14, add, 15, 15
  T_RR_Z2  15, add, 32, 32
  T_RR_ZD  16, add, 16, 30

  /* ------------------------------------------------------------------ SUB */
  T_RR     17, sub, 0x00000000, 0x00000000, 0x00000000
  T_RR     18, sub, 0x00000000, 0x00000001, 0x00000001
  T_RR     19, sub, 0xfffffffc, 0x00000003, 0x00000007
  T_RR     20, sub, 0x7fffffff, 0x80000000, 0x00000001
  T_RR     21, sub, 0x80000000, 0x00000000, 0x80000000
  T_RR     22, sub, 0x00000000, 0xffffffff, 0xffffffff
  T_RR     23, sub, 0x80000000, 0x7fffffff, 0xffffffff
  T_RR     24, sub, 0x0fedcba9, 0x22222221, 0x12345678
  T_RR_D1  25, sub, 2, 13, 11
  T_RR_D2  26, sub, 3, 14, 11
  T_RR_DD  27, sub, 0, 13
  T_RR_Z1  28, sub, 0xfffffff1, 15
  T_RR_Z2  29, sub, 32, 32
  T_RR_ZD  30, sub, 16, 30

  /* ------------------------------------------------------------------ SLL */
  T_RR     31, sll, 0x00000001, 0x00000001, 0
  T_RR     32, sll, 0x00000002, 0x00000001, 1
  T_RR     33, sll, 0x80000000, 0x00000001, 31
  T_RR     34, sll, 0x80000000, 0xffffffff, 31
  T_RR     35, sll, 0x90909080, 0x21212121, 7
  T_RR     36, sll, 0x21212121, 0x21212121, 0
  T_RR     37, sll, 0x00000001, 0x00000001, 32          /* only shamt[4:0] counts */
  T_RR     38, sll, 0x00000002, 0x00000001, 33
  T_RR     39, sll, 0x00000002, 0x00000001, 0xffffffe1
  T_RR     40, sll, 0x80000000, 0x21212121, 0xffffffff
  T_RR_D1  41, sll, 0x00000080, 0x00000001, 7
  T_RR_D2  42, sll, 0x00004000, 0x00000001, 14
  T_RR_DD  43, sll, 0x00000018, 3
  T_RR_Z1  44, sll, 0, 15
  T_RR_Z2  45, sll, 0x12345678, 0x12345678
  T_RR_ZD  46, sll, 1, 3

  /* ------------------------------------------------------------------ SRL */
  T_RR     47, srl, 0x80000000, 0x80000000, 0
  T_RR     48, srl, 0x40000000, 0x80000000, 1
  T_RR     49, srl, 0x00000001, 0x80000000, 31
  T_RR     50, srl, 0x00000001, 0xffffffff, 31
  T_RR     51, srl, 0x00424242, 0x21212121, 7
  T_RR     52, srl, 0x80000000, 0x80000000, 32
  T_RR     53, srl, 0x40000000, 0x80000000, 0xffffffc1
  T_RR     54, srl, 0x01ffffff, 0xffffffff, 0xffffffe7
  T_RR_D1  55, srl, 0x00000001, 0x00000080, 7
  T_RR_D2  56, srl, 0x00010000, 0x80000000, 15
  T_RR_DD  57, srl, 0, 7
  T_RR_Z1  58, srl, 0, 15
  T_RR_Z2  59, srl, 0x87654321, 0x87654321
  T_RR_ZD  60, srl, 0x100, 3

  /* ------------------------------------------------------------------ SRA */
  T_RR     61, sra, 0x80000000, 0x80000000, 0
  T_RR     62, sra, 0xc0000000, 0x80000000, 1
  T_RR     63, sra, 0xffffffff, 0x80000000, 31
  T_RR     64, sra, 0x00000000, 0x7fffffff, 31
  T_RR     65, sra, 0x3fffffff, 0x7fffffff, 1
  T_RR     66, sra, 0xff030303, 0x81818181, 7
  T_RR     67, sra, 0x00424242, 0x21212121, 7
  T_RR     68, sra, 0x81818181, 0x81818181, 32
  T_RR     69, sra, 0xc0c0c0c0, 0x81818181, 0xffffffe1
  T_RR     70, sra, 0xffffffff, 0xffffffff, 0xffffffff
  T_RR_D1  71, sra, 0xff000000, 0x80000000, 7
  T_RR_D2  72, sra, 0xffff0000, 0x80000000, 15
  T_RR_DD  73, sra, 0, 7
  T_RR_Z1  74, sra, 0, 15
  T_RR_Z2  75, sra, 0x87654321, 0x87654321
  T_RR_ZD  76, sra, 0x80000000, 3

  /* ------------------------------------------------------------------ SLT */
  T_RR     77, slt, 0, 0x00000000, 0x00000000
  T_RR     78, slt, 0, 0x00000001, 0x00000001
  T_RR     79, slt, 1, 0x00000003, 0x00000007
  T_RR     80, slt, 0, 0x00000007, 0x00000003
  T_RR     81, slt, 1, 0x80000000, 0x00000000
  T_RR     82, slt, 0, 0x00000000, 0x80000000
  T_RR     83, slt, 1, 0xffffffff, 0x00000000
  T_RR     84, slt, 0, 0x00000000, 0xffffffff
  T_RR     85, slt, 1, 0xffffffff, 0x00000001
  T_RR     86, slt, 0, 0x7fffffff, 0x80000000
  T_RR     87, slt, 1, 0x80000000, 0x7fffffff
  T_RR     88, slt, 1, 0xfffffffe, 0xffffffff
  T_RR_D1  89, slt, 1, 0xfffffff0, 0x00000001
  T_RR_D2  90, slt, 0, 0x00000010, 0xffffffff
  T_RR_DD  91, slt, 0, 0xffffffff
  T_RR_Z1  92, slt, 1, 15
  T_RR_Z2  93, slt, 1, 0xfffffff1
  T_RR_ZD  94, slt, 1, 3

  /* ----------------------------------------------------------------- SLTU */
  T_RR     95, sltu, 0, 0x00000000, 0x00000000
  T_RR     96, sltu, 1, 0x00000003, 0x00000007
  T_RR     97, sltu, 0, 0x00000007, 0x00000003
  T_RR     98, sltu, 0, 0x80000000, 0x00000000
  T_RR     99, sltu, 1, 0x00000000, 0x80000000
  T_RR     100, sltu, 0, 0xffffffff, 0x00000000
  T_RR     101, sltu, 1, 0x00000000, 0xffffffff
  T_RR     102, sltu, 1, 0x00000001, 0xffffffff
  T_RR     103, sltu, 1, 0x7fffffff, 0x80000000
  T_RR     104, sltu, 0, 0x80000000, 0x7fffffff
  T_RR     105, sltu, 1, 0xfffffffe, 0xffffffff
  T_RR     106, sltu, 0, 0xffffffff, 0xffffffff
  T_RR_D1  107, sltu, 0, 0xfffffff0, 0x00000001
  T_RR_D2  108, sltu, 1, 0x00000010, 0xffffffff
  T_RR_DD  109, sltu, 0, 0xffffffff
  T_RR_Z1  110, sltu, 1, 5                                /* snez */
  T_RR_Z1  111, sltu, 0, 0
  T_RR_Z2  112, sltu, 0, 0xfffffff1
  T_RR_ZD  113, sltu, 1, 3

  /* ------------------------------------------------------------ XOR OR AND */
  T_RR     114, xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f
  T_RR     115, xor, 0xff00ff00, 0x0ff00ff0, 0xf0f0f0f0
  T_RR     116, xor, 0x0ff00ff0, 0x00ff00ff, 0x0f0f0f0f
  T_RR     117, xor, 0x00ff00ff, 0xf00ff00f, 0xf0f0f0f0
  T_RR_D1  118, xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f
  T_RR_D2  119, xor, 0xf00ff00f, 0xff00ff00, 0x0f0f0f0f
  T_RR_DD  120, xor, 0, 0xff00ff00
  T_RR_Z1  121, xor, 0x12345678, 0x12345678
  T_RR_ZD  122, xor, 3, 5
  T_RR     123, or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f
  T_RR     124, or,  0xfff0fff0, 0x0ff00ff0, 0xf0f0f0f0
  T_RR     125, or,  0x0fff0fff, 0x00ff00ff, 0x0f0f0f0f
  T_RR     126, or,  0xf0fff0ff, 0xf00ff00f, 0xf0f0f0f0
  T_RR_D1  127, or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f
  T_RR_D2  128, or,  0xff0fff0f, 0xff00ff00, 0x0f0f0f0f
  T_RR_DD  129, or,  0xff00ff00, 0xff00ff00
  T_RR_Z2  130, or,  0x87654321, 0x87654321
  T_RR_ZD  131, or,  3, 5
  T_RR     132, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f
  T_RR     133, and, 0x00f000f0, 0x0ff00ff0, 0xf0f0f0f0
  T_RR     134, and, 0x000f000f, 0x00ff00ff, 0x0f0f0f0f
  T_RR     135, and, 0xf000f000, 0xf00ff00f, 0xf0f0f0f0
  T_RR_D1  136, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f
  T_RR_D2  137, and, 0x0f000f00, 0xff00ff00, 0x0f0f0f0f
  T_RR_DD  138, and, 0xff00ff00, 0xff00ff00
  T_RR_Z1  139, and, 0, 0xffffffff
  T_RR_ZD  140, and, 3, 5

  /* ----------------------------------------------------------------- ADDI */
  T_RI     141, addi, 0x00000000, 0x00000000, 0
  T_RI     142, addi, 0x00000002, 0x00000001, 1
  T_RI     143, addi, 0x0000000a, 0x00000003, 7
  T_RI     144, addi, 0xfffff800, 0x00000000, -2048
  T_RI     145, addi, 0x7ffff800, 0x80000000, -2048
  T_RI     146, addi, 0x000007ff, 0x00000000, 2047
  T_RI     147, addi, 0x800007fe, 0x7fffffff, 2047
  T_RI     148, addi, 0x80000000, 0x7fffffff, 1
  T_RI     149, addi, 0x00000000, 0xffffffff, 1
  T_RI     150, addi, 0xffffffff, 0x00000000, -1
  T_RI     151, addi, 0xfffffffe, 0xffffffff, -1
  T_RI_D   152, addi, 24, 13, 11
  T_RI_Z1  153, addi, 32, 32
  T_RI_Z1  154, addi, 0xfffff800, -2048
  T_RI_ZD  155, addi, 33, 50

  /* ---------------------------------------------------------- SLTI SLTIU */
  T_RI     156, slti, 0, 0x00000000, 0
  T_RI     157, slti, 0, 0x00000001, 1
  T_RI     158, slti, 1, 0x00000003, 7
  T_RI     159, slti, 0, 0x00000007, 3
  T_RI     160, slti, 0, 0x00000000, -2048
  T_RI     161, slti, 1, 0x80000000, 0
  T_RI     162, slti, 1, 0x80000000, -2048
  T_RI     163, slti, 0, 0x7fffffff, 2047
  T_RI     164, slti, 1, 0xffffffff, 0
  T_RI     165, slti, 0, 0x00000000, -1
  T_RI     166, slti, 1, 0xfffffffe, -1
  T_RI_D   167, slti, 1, 0xfffffff0, 5
  T_RI_Z1  168, slti, 1, 1
  T_RI_Z1  169, slti, 0, -1
  T_RI_ZD  170, slti, 1, 5
  T_RI     171, sltiu, 0, 0x00000000, 0
  T_RI     172, sltiu, 1, 0x00000003, 7
  T_RI     173, sltiu, 0, 0x00000007, 3
  T_RI     174, sltiu, 1, 0x00000000, -1             /* imm sign-extends to 0xffffffff */
  T_RI     175, sltiu, 0, 0xffffffff, -1
  T_RI     176, sltiu, 1, 0xfffffffe, -1
  T_RI     177, sltiu, 1, 0x80000000, -2048          /* < 0xfffff800 */
  T_RI     178, sltiu, 1, 0xfffff7ff, -2048
  T_RI     179, sltiu, 0, 0xfffff800, -2048
  T_RI     180, sltiu, 0, 0x7fffffff, 2047
  T_RI     181, sltiu, 1, 0x00000000, 1              /* seqz */
  T_RI     182, sltiu, 0, 0x00000005, 1
  T_RI_D   183, sltiu, 0, 0xfffffff0, 5
  T_RI_Z1  184, sltiu, 1, 1
  T_RI_ZD  185, sltiu, 1, 5

  /* --------------------------------------------------------- XORI ORI ANDI */
  T_RI     186, xori, 0xff00f00f, 0x00ff0f00, -241     /* imm 0xffffff0f */
  T_RI     187, xori, 0x0ff00f00, 0x0ff00ff0, 0x0f0
  T_RI     188, xori, 0x00ff0ff0, 0x00ff08ff, 0x70f
  T_RI     189, xori, 0xf00ff0ff, 0xf00ff00f, 0x0f0
  T_RI     190, xori, 0xedcba987, 0x12345678, -1       /* not */
  T_RI_D   191, xori, 0xff00f00f, 0x00ff0f00, -241
  T_RI_Z1  192, xori, 0xfffff800, -2048
  T_RI_ZD  193, xori, 5, 3
  T_RI     194, ori,  0xffffff0f, 0xff00ff00, -241
  T_RI     195, ori,  0x0ff00ff0, 0x0ff00ff0, 0x0f0
  T_RI     196, ori,  0x00ff07ff, 0x00ff00ff, 0x70f
  T_RI     197, ori,  0xf00ff0ff, 0xf00ff00f, 0x0f0
  T_RI_D   198, ori,  0xffffff0f, 0xff00ff00, -241
  T_RI_Z1  199, ori,  0x000007ff, 2047
  T_RI_ZD  200, ori,  5, 3
  T_RI     201, andi, 0xff00ff00, 0xff00ff00, -241
  T_RI     202, andi, 0x000000f0, 0x0ff00ff0, 0x0f0
  T_RI     203, andi, 0x0000000f, 0x00ff00ff, 0x70f
  T_RI     204, andi, 0x00000000, 0xf00ff00f, 0x0f0
  T_RI     205, andi, 0x12345800, 0x12345fff, -2048
  T_RI_D   206, andi, 0x00000000, 0xff00ff00, 0x0f0
  T_RI_Z1  207, andi, 0, -1
  T_RI_ZD  208, andi, 5, 3

  /* --------------------------------------------------------- SLLI SRLI SRAI */
  T_RI     209, slli, 0x00000001, 0x00000001, 0
  T_RI     210, slli, 0x00000002, 0x00000001, 1
  T_RI     211, slli, 0x80000000, 0x00000001, 31
  T_RI     212, slli, 0x80000000, 0xffffffff, 31
  T_RI     213, slli, 0x48484000, 0x21212121, 14
  T_RI_D   214, slli, 0x00000080, 0x00000001, 7
  T_RI_Z1  215, slli, 0, 31
  T_RI_ZD  216, slli, 1, 3
  T_RI     217, srli, 0x80000000, 0x80000000, 0
  T_RI     218, srli, 0x40000000, 0x80000000, 1
  T_RI     219, srli, 0x00000001, 0x80000000, 31
  T_RI     220, srli, 0x00000001, 0xffffffff, 31
  T_RI     221, srli, 0x00008484, 0x21212121, 14
  T_RI_D   222, srli, 0x00000001, 0x00000080, 7
  T_RI_Z1  223, srli, 0, 31
  T_RI_ZD  224, srli, 0x100, 3
  T_RI     225, srai, 0x80000000, 0x80000000, 0
  T_RI     226, srai, 0xc0000000, 0x80000000, 1
  T_RI     227, srai, 0xffffffff, 0x80000000, 31
  T_RI     228, srai, 0x00000000, 0x7fffffff, 31
  T_RI     229, srai, 0xfffe0606, 0x81818181, 14
  T_RI     230, srai, 0x00008484, 0x21212121, 14
  T_RI_D   231, srai, 0xff000000, 0x80000000, 7
  T_RI_Z1  232, srai, 0, 31
  T_RI_ZD  233, srai, 0x80000000, 3

  /* ------------------------------------------------------------------ LUI */
  TEST_CASE 234
  lui s0, 0
  CHECK s0, 0
  TEST_CASE 235
  lui s0, 0xfffff
  CHECK s0, 0xfffff000
  TEST_CASE 236
  lui s0, 0x80000
  CHECK s0, 0x80000000
  srai s0, s0, 31
  CHECK s0, 0xffffffff
  TEST_CASE 237
  lui s0, 0x12345
  CHECK s0, 0x12345000
  TEST_CASE 238
  lui s0, 0x7ffff
  addi s0, s0, 2047
  CHECK s0, 0x7ffff7ff
  TEST_CASE 239
  lui x0, 0x12345
  CHECK x0, 0

  /* ---------------------------------------------------------------- AUIPC */
  TEST_CASE 240
1:
  auipc s0, 0
  lui s1, %hi(1b)
  addi s1, s1, %lo(1b)
  CHECKR s0, s1
  TEST_CASE 241
1:
  auipc s0, 1
  lui s1, %hi(1b + 0x1000)
  addi s1, s1, %lo(1b + 0x1000)
  CHECKR s0, s1
  TEST_CASE 242
1:
  auipc s0, 0xfffff
  lui s1, %hi(1b - 0x1000)
  addi s1, s1, %lo(1b - 0x1000)
  CHECKR s0, s1
  TEST_CASE 243
1:
  auipc s0, 0x80000                        /* 0x80000xxx + 0x80000000 wraps */
  lui s1, %hi(1b - 0x80000000)
  addi s1, s1, %lo(1b - 0x80000000)
  CHECKR s0, s1
  TEST_CASE 244
  auipc x0, 0x12345
  CHECK x0, 0

  /* ---------------------------------------------------------------- LOADS */
  T_LD 245, lb,  0xffffffff, tdat, 0
  T_LD 246, lb,  0x00000000, tdat, 1
  T_LD 247, lb,  0xffffffff, tdat, 2
  T_LD 248, lb,  0x00000000, tdat, 3
  T_LD 249, lb,  0xfffffff0, tdat, 8
  T_LD 250, lb,  0x0000000f, tdat, 9
  T_LD 251, lb,  0x0000007f, tdat, 16
  T_LD 252, lb,  0xffffff80, tdat, 17
  T_LD 253, lb,  0x0000000f, tdat12, -1
  T_LD 254, lb,  0xffffffff, tdat12, -12
  T_LD 255, lbu, 0x000000ff, tdat, 0
  T_LD 256, lbu, 0x00000000, tdat, 1
  T_LD 257, lbu, 0x000000f0, tdat, 8
  T_LD 258, lbu, 0x0000000f, tdat, 9
  T_LD 259, lbu, 0x00000080, tdat, 17
  T_LD 260, lbu, 0x000000f0, tdat12, -2
  T_LD 261, lh,  0x000000ff, tdat, 0
  T_LD 262, lh,  0x000000ff, tdat, 2
  T_LD 263, lh,  0xffffff00, tdat, 4
  T_LD 264, lh,  0x00000ff0, tdat, 8
  T_LD 265, lh,  0xfffff00f, tdat, 12
  T_LD 266, lh,  0xffff807f, tdat, 16
  T_LD 267, lh,  0x00007fff, tdat, 20
  T_LD 268, lh,  0xffffff00, tdat12, -8
  T_LD 269, lhu, 0x000000ff, tdat, 0
  T_LD 270, lhu, 0x0000ff00, tdat, 4
  T_LD 271, lhu, 0x00000ff0, tdat, 8
  T_LD 272, lhu, 0x0000f00f, tdat, 12
  T_LD 273, lhu, 0x0000807f, tdat, 16
  T_LD 274, lhu, 0x0000ff00, tdat12, -6
  T_LD 275, lw,  0x00ff00ff, tdat, 0
  T_LD 276, lw,  0xff00ff00, tdat, 4
  T_LD 277, lw,  0x0ff00ff0, tdat, 8
  T_LD 278, lw,  0xf00ff00f, tdat, 12
  T_LD 279, lw,  0x00ff00ff, tdat12, -12
  T_LD 280, lw,  0x00ff00ff, tdat_p2048, -2048
  T_LD 281, lw,  0x00ff00ff, tdat_m2044, 2044
  TEST_CASE 282                               /* rd == base */
  la s0, tdat
  lw s0, 4(s0)
  CHECK s0, 0xff00ff00
  TEST_CASE 283                               /* load into x0 is discarded */
  la s1, tdat
  lw x0, 0(s1)
  lb x0, 0(s1)
  lhu x0, 0(s1)
  CHECK x0, 0
  TEST_CASE 284                               /* little-endian byte order */
  la s1, tdat
  lw s0, 24(s1)
  CHECK s0, 0x11223344
  lbu s0, 24(s1)
  CHECK s0, 0x44
  lbu s0, 27(s1)
  CHECK s0, 0x11
  lhu s0, 26(s1)
  CHECK s0, 0x1122

  /* --------------------------------------------------------------- STORES */
  T_ST 285, sw, 0x00aa00aa, sdat, 0, lw, 0x00aa00aa
  T_ST 286, sw, 0xaa00aa00, sdat, 4, lw, 0xaa00aa00
  T_ST 287, sw, 0x0aa00aa0, sdat12, -8, lw, 0x0aa00aa0
  T_ST 288, sw, 0xa00aa00a, sdat12, 0, lw, 0xa00aa00a
  T_ST 289, sh, 0x000000aa, sdat, 16, lh, 0x000000aa
  T_ST 290, sh, 0xffffaa00, sdat, 18, lh, 0xffffaa00
  T_ST 291, sh, 0xbeef0aa0, sdat, 20, lhu, 0x00000aa0
  T_ST 292, sh, 0x1234a00a, sdat12, 10, lhu, 0x0000a00a
  T_ST 293, sb, 0xffffffaa, sdat, 32, lb, 0xffffffaa
  T_ST 294, sb, 0x00000000, sdat, 33, lb, 0x00000000
  T_ST 295, sb, 0xffffefa0, sdat, 34, lbu, 0x000000a0
  T_ST 296, sb, 0x0000000a, sdat12, -1, lbu, 0x0000000a
  TEST_CASE 297                               /* sh leaves the other half alone */
  la s1, sdat
  li s2, 0x55555555
  sw s2, 40(s1)
  li s2, 0x1234abcd
  sh s2, 40(s1)
  lw s0, 40(s1)
  CHECK s0, 0x5555abcd
  sh s2, 42(s1)
  lw s0, 40(s1)
  CHECK s0, 0xabcdabcd
  TEST_CASE 298                               /* sb leaves the other bytes alone */
  li s2, 0x55555555
  sw s2, 44(s1)
  li s2, 0x9a
  sb s2, 45(s1)
  lw s0, 44(s1)
  CHECK s0, 0x55559a55
  li s2, 0x01
  sb s2, 47(s1)
  lw s0, 44(s1)
  CHECK s0, 0x01559a55
  TEST_CASE 299                               /* stores of x0 */
  sw x0, 44(s1)
  lw s0, 44(s1)
  CHECK s0, 0
  li s2, -1
  sw s2, 48(s1)
  sh x0, 48(s1)
  sb x0, 51(s1)
  lw s0, 48(s1)
  CHECK s0, 0x00ff0000
  TEST_CASE 300                               /* store bytes, read as a word */
  li s2, 0x44
  sb s2, 52(s1)
  li s2, 0x33
  sb s2, 53(s1)
  li s2, 0x2211
  sh s2, 54(s1)
  lw s0, 52(s1)
  CHECK s0, 0x22113344
  TEST_CASE 301                               /* base register as data */
  la s1, sdat
  sw s1, 56(s1)
  lw s0, 56(s1)
  CHECKR s0, s1
  TEST_CASE 302                               /* store then immediate reload, many offsets */
  la s1, sdat + 2048
  li s2, 0x13579bdf
  sw s2, -2048(s1)
  sw s2, 2044(s1)
  lw s0, -2048(s1)
  CHECKR s0, s2
  lw s0, 2044(s1)
  CHECKR s0, s2
  la s3, sdat
  lw s0, 0(s3)
  CHECKR s0, s2

  /* ------------------------------------------------------------- BRANCHES */
  T_BR_TAKEN 303, beq, 0, 0
  T_BR_TAKEN 304, beq, 1, 1
  T_BR_TAKEN 305, beq, -1, -1
  T_BR_TAKEN 306, beq, 0x80000000, 0x80000000
  T_BR_NOT   307, beq, 0, 1
  T_BR_NOT   308, beq, 1, 0
  T_BR_NOT   309, beq, -1, 1
  T_BR_NOT   310, beq, 0x80000000, 0
  T_BR_TAKEN 311, bne, 0, 1
  T_BR_TAKEN 312, bne, 1, 0
  T_BR_TAKEN 313, bne, -1, 1
  T_BR_TAKEN 314, bne, 1, -1
  T_BR_NOT   315, bne, 0, 0
  T_BR_NOT   316, bne, 1, 1
  T_BR_NOT   317, bne, -1, -1
  T_BR_TAKEN 318, blt, 0, 1
  T_BR_TAKEN 319, blt, -1, 1
  T_BR_TAKEN 320, blt, -2, -1
  T_BR_TAKEN 321, blt, 0x80000000, 0x7fffffff
  T_BR_TAKEN 322, blt, 0x80000000, -1
  T_BR_NOT   323, blt, 1, 0
  T_BR_NOT   324, blt, 1, -1
  T_BR_NOT   325, blt, -1, -2
  T_BR_NOT   326, blt, 1, 1
  T_BR_NOT   327, blt, 0x7fffffff, 0x80000000
  T_BR_TAKEN 328, bge, 0, 0
  T_BR_TAKEN 329, bge, 1, 1
  T_BR_TAKEN 330, bge, -1, -1
  T_BR_TAKEN 331, bge, 1, 0
  T_BR_TAKEN 332, bge, 1, -2
  T_BR_TAKEN 333, bge, -1, -2
  T_BR_TAKEN 334, bge, 0x7fffffff, 0x80000000
  T_BR_NOT   335, bge, 0, 1
  T_BR_NOT   336, bge, -1, 1
  T_BR_NOT   337, bge, -2, -1
  T_BR_NOT   338, bge, 0x80000000, 0x7fffffff
  T_BR_TAKEN 339, bltu, 0, 1
  T_BR_TAKEN 340, bltu, 0xfffffffe, 0xffffffff
  T_BR_TAKEN 341, bltu, 0, 0xffffffff
  T_BR_TAKEN 342, bltu, 1, 0xffffffff
  T_BR_TAKEN 343, bltu, 0x7fffffff, 0x80000000
  T_BR_NOT   344, bltu, 1, 0
  T_BR_NOT   345, bltu, 0xffffffff, 0xfffffffe
  T_BR_NOT   346, bltu, 0xffffffff, 0
  T_BR_NOT   347, bltu, 0x80000000, 0x7fffffff
  T_BR_NOT   348, bltu, 1, 1
  T_BR_TAKEN 349, bgeu, 0, 0
  T_BR_TAKEN 350, bgeu, 1, 1
  T_BR_TAKEN 351, bgeu, 0xffffffff, 0xffffffff
  T_BR_TAKEN 352, bgeu, 1, 0
  T_BR_TAKEN 353, bgeu, 0xffffffff, 0xfffffffe
  T_BR_TAKEN 354, bgeu, 0xffffffff, 0
  T_BR_TAKEN 355, bgeu, 0x80000000, 0x7fffffff
  T_BR_NOT   356, bgeu, 0, 1
  T_BR_NOT   357, bgeu, 0xfffffffe, 0xffffffff
  T_BR_NOT   358, bgeu, 0, 0xffffffff
  T_BR_NOT   359, bgeu, 0x7fffffff, 0x80000000
  TEST_CASE 360                               /* x0 operands and rs1 == rs2 */
  li s1, -5
  bltz s1, 1f                               /* blt s1, x0 */
  j fail
1:
  bgez s1, fail                             /* bge s1, x0 */
  bgtz s1, fail                             /* blt x0, s1 */
  blez s1, 1f                               /* bge x0, s1 */
  j fail
1:
  bltu x0, s1, 1f
  j fail
1:
  bgeu x0, s1, fail
  blt s1, s1, fail
  bltu s1, s1, fail
  bne s1, s1, fail
  bge s1, s1, 1f
  j fail
1:
  bgeu s1, s1, 1f
  j fail
1:
  beq x0, x0, 1f
  j fail
1:
  TEST_CASE 361                               /* a branch writes no register */
  li s0, 0x12345678
  li s1, 1
  li s2, 2
  mv ra, s0
  blt s1, s2, 1f
  j fail
1:
  CHECK ra, 0x12345678
  CHECK s1, 1
  CHECK s2, 2
  TEST_CASE 362                               /* long forward and backward branches */
  li s1, 3
  beq s1, s1, .Lfar_fwd
  j fail
.Lfar_back:
  j .Lfar_done
  .fill 900, 4, 0x00000013                  /* nops: ~3.6 KiB apart */
.Lfar_fwd:
  bne s1, x0, .Lfar_back
  j fail
.Lfar_done:

  /* ------------------------------------------------------------------ JAL */
  TEST_CASE 363
  li ra, 0
  jal ra, 1f
2:
  j fail
1:
  la s1, 2b
  CHECKR ra, s1
  TEST_CASE 364                               /* other link register */
  jal s0, 1f
2:
  j fail
1:
  la s1, 2b
  CHECKR s0, s1
  TEST_CASE 365                               /* jal x0 writes nothing */
  li s0, 0
  jal x0, 1f
  li s0, 1
1:
  CHECK s0, 0
  CHECK x0, 0
  TEST_CASE 366                               /* backwards */
  j 2f
1:
  la s1, 3f
  CHECKR s0, s1
  j 4f
2:
  jal s0, 1b
3:
  j fail
4:
  TEST_CASE 367                               /* call and return */
  li a0, 5
  jal ra, .Lsub_double
  CHECK a0, 10
  jal ra, .Lsub_double
  CHECK a0, 20
  j 1f
.Lsub_double:
  add a0, a0, a0
  jalr x0, 0(ra)
1:

  /* ----------------------------------------------------------------- JALR */
  TEST_CASE 368
  la s1, 1f
  jalr ra, 0(s1)
2:
  j fail
1:
  la s2, 2b
  CHECKR ra, s2
  TEST_CASE 369                               /* positive offset */
  la s1, 1f - 8
  jalr s0, 8(s1)
2:
  j fail
1:
  la s2, 2b
  CHECKR s0, s2
  TEST_CASE 370                               /* negative offset */
  la s1, 1f + 16
  jalr s0, -16(s1)
2:
  j fail
1:
  la s2, 2b
  CHECKR s0, s2
  TEST_CASE 371                               /* bit 0 of the target is cleared */
  la s1, 1f
  addi s1, s1, 1
  jalr s0, 0(s1)
2:
  j fail
1:
  la s2, 2b
  CHECKR s0, s2
  TEST_CASE 372                               /* odd offset */
  la s1, 1f - 1
  jalr s0, 2(s1)                            /* 1f + 1 -> 1f */
2:
  j fail
1:
  la s2, 2b
  CHECKR s0, s2
  TEST_CASE 373                               /* rd == rs1: target uses the old value */
  la s0, 1f
  jalr s0, 0(s0)
2:
  j fail
1:
  la s2, 2b
  CHECKR s0, s2
  TEST_CASE 374                               /* jalr x0 writes nothing */
  la s1, 1f
  li s0, 7
  jalr x0, 0(s1)
  li s0, 8
1:
  CHECK s0, 7
  CHECK x0, 0
  TEST_CASE 375                               /* bits 31..1 of rs1+imm are all used */
  lui s1, %hi(1f + 0x7ff)
  addi s1, s1, %lo(1f + 0x7ff)
  jalr s0, -0x7ff(s1)
2:
  j fail
1:
  la s2, 2b
  CHECKR s0, s2

  /* ----------------------------------------------- misaligned jump targets */
  /* With IALIGN=32 (no C) a taken jump or branch to a target that is not 4-aligned
   * raises instruction-address-misaligned on the jump itself: mepc = the jump,
   * mtval = the target, rd not written. With C these targets are legal: skipped. */
  TEST_CASE 376
  SKIP_IF_RVC .Lskip_misaligned
  li ra, 0x1234
  EXPECT_TRAP CAUSE_MISALIGNED_FETCH, 1f
2:
  jal ra, 3f + 2
  j fail
3:
  .word 0x00000013
  .word 0x00000013
1:
  CHECK_TRAP CAUSE_MISALIGNED_FETCH
  CHECK_EPC 2b
  CHECK ra, 0x1234
  SKIP_IF_QEMU7 4f                          /* QEMU 7.2 (c=false) reports a wrong mtval */
  la s1, 3b + 2
  CHECKR t5, s1
4:
  TEST_CASE 377                               /* jalr to target 2 mod 4 */
  li s0, 0x4321
  la s1, 3f + 2
  EXPECT_TRAP CAUSE_MISALIGNED_FETCH, 1f
2:
  jalr s0, 0(s1)
  j fail
3:
  .word 0x00000013
  .word 0x00000013
1:
  CHECK_TRAP CAUSE_MISALIGNED_FETCH
  CHECK_EPC 2b
  CHECKR t5, s1
  CHECK s0, 0x4321
  TEST_CASE 378                               /* jalr: bit 0 cleared first, bit 1 still faults */
  la s1, 3f + 3
  EXPECT_TRAP CAUSE_MISALIGNED_FETCH, 1f
2:
  jalr s0, 0(s1)
  j fail
3:
  .word 0x00000013
  .word 0x00000013
1:
  CHECK_TRAP CAUSE_MISALIGNED_FETCH
  CHECK_EPC 2b
  SKIP_IF_QEMU7 4f
  la s1, 3b + 2
  CHECKR t5, s1
4:
  TEST_CASE 379                               /* taken branch */
  EXPECT_TRAP CAUSE_MISALIGNED_FETCH, 1f
2:
  beq x0, x0, 3f + 2
  j fail
3:
  .word 0x00000013
  .word 0x00000013
1:
  CHECK_TRAP CAUSE_MISALIGNED_FETCH
  CHECK_EPC 2b
  SKIP_IF_QEMU7 4f
  la s1, 3b + 2
  CHECKR t5, s1
4:
  TEST_CASE 380                               /* not-taken branch: no exception */
  li t4, 0
  bne x0, x0, 3f + 2
  j 1f
3:
  .word 0x00000013
  .word 0x00000013
1:
.Lskip_misaligned:

  /* ------------------------------------------------------------ FENCE(.I) */
  TEST_CASE 381
  li s0, 1
  fence
  fence rw, rw
  fence iorw, iorw
  fence r, w
  fence w, r
  fence.tso
  fence.i
  CHECK s0, 1
  TEST_CASE 382                               /* self-modifying code needs fence.i */
  jal ra, smc_target
  CHECK a0, 7
  TEST_CASE 383
  la s1, smc_target
  li s2, 0x02a00513                         /* addi a0, x0, 42 */
  sw s2, 0(s1)
  fence.i
  jal ra, smc_target
  CHECK a0, 42
  TEST_CASE 384
  li s2, 0x06300513                         /* addi a0, x0, 99 */
  sw s2, 0(s1)
  fence.i
  jal ra, smc_target
  CHECK a0, 99
  TEST_CASE 385                               /* code written in a loop, then run */
  la s1, smc_area
  li s2, 0x00150513                         /* addi a0, a0, 1 */
  li s3, 64
1:
  sw s2, 0(s1)
  addi s1, s1, 4
  addi s3, s3, -1
  bnez s3, 1b
  li s2, 0x00008067                         /* jalr x0, 0(ra) */
  sw s2, 0(s1)
  fence.i
  li a0, 0
  jal ra, smc_area
  CHECK a0, 64

  /* ------------------------------------------------------ register file */
  TEST_CASE 386                               /* every register keeps its own value */
  li x1, 0x01010101
  li x2, 0x02020202
  li x4, 0x04040404
  li x5, 0x05050505
  li x6, 0x06060606
  li x7, 0x07070707
  li x8, 0x08080808
  li x9, 0x09090909
  li x10, 0x0a0a0a0a
  li x11, 0x0b0b0b0b
  li x12, 0x0c0c0c0c
  li x13, 0x0d0d0d0d
  li x14, 0x0e0e0e0e
  li x15, 0x0f0f0f0f
  li x16, 0x10101010
  li x17, 0x11111111
  li x18, 0x12121212
  li x19, 0x13131313
  li x20, 0x14141414
  li x21, 0x15151515
  li x22, 0x16161616
  li x23, 0x17171717
  li x24, 0x18181818
  li x25, 0x19191919
  li x26, 0x1a1a1a1a
  li x27, 0x1b1b1b1b
  li x28, 0x1c1c1c1c
  li x29, 0x1d1d1d1d
  li x30, 0x1e1e1e1e
  li x31, 0x1f1f1f1f
  li x0, 0x00000000
  srli x4, x4, 24
  addi x4, x4, -4
  bnez x4, fail
  .irp r, 1,2,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
  srli x4, x\r, 24
  addi x4, x4, -\r
  bnez x4, fail
  .endr
  TEST_CASE 387                               /* x0 ignores writes of every kind */
  li s0, 0
  addi x0, x0, 5
  add x0, s0, s0
  la s1, tdat
  lw x0, 4(s1)
  jal x0, 1f
1:
  bnez x0, fail
  add s0, x0, x0
  CHECK s0, 0

  TEST_PASS

  /* Self-modifying code target: returns a0 = 7 until rewritten. */
  .align 2
smc_target:
  addi a0, x0, 7
  jalr x0, 0(ra)
smc_area:
  .fill 65, 4, 0x00000013

  .data
  .align 4
tdat:
  .word 0x00ff00ff          /* +0 */
  .word 0xff00ff00          /* +4 */
  .word 0x0ff00ff0          /* +8 */
tdat12:
  .word 0xf00ff00f          /* +12 */
  .word 0x7fff807f          /* +16: bytes 7f 80 ff 7f */
  .word 0x00007fff          /* +20 */
  .word 0x11223344          /* +24 */
  .word 0
  .equ tdat_p2048, tdat + 2048
  .equ tdat_m2044, tdat - 2044

  .align 4
sdat:
  .fill 3, 4, 0xefefefef
sdat12:
  .fill 1200, 4, 0xefefefef

/*
 * rv32m.S - the M extension: mul/mulh/mulhsu/mulhu over all sign combinations and the
 * extremes, div/divu/rem/remu including division by zero (quotient all ones,
 * remainder = dividend) and the INT_MIN / -1 overflow (quotient INT_MIN, remainder 0).
 * None of these may trap.
 */
#include "test.h"

test_main:
  /* ------------------------------------------------ MUL MULH MULHU MULHSU */
  T_RR     1, mul, 0x00000000, 0x00000000, 0x00000000
  T_RR     2, mul, 0x00000001, 0x00000001, 0x00000001
  T_RR     3, mul, 0x00000015, 0x00000003, 0x00000007
  T_RR     4, mul, 0x40000000, 0xffff8000, 0xffff8000
  T_RR     5, mul, 0x00000000, 0x80000000, 0x80000000
  T_RR     6, mul, 0x00000001, 0xffffffff, 0xffffffff
  T_RR     7, mul, 0xffffffff, 0xffffffff, 0x00000001
  T_RR     8, mul, 0xffffffff, 0x00000001, 0xffffffff
  T_RR     9, mul, 0x00000001, 0x7fffffff, 0x7fffffff
  T_RR     10, mul, 0x80000000, 0x80000000, 0x7fffffff
  T_RR     11, mul, 0x80000000, 0x7fffffff, 0x80000000
  T_RR     12, mul, 0x80000000, 0x80000000, 0xffffffff
  T_RR     13, mul, 0x80000000, 0xffffffff, 0x80000000
  T_RR     14, mul, 0x242d2080, 0x12345678, 0x9abcdef0
  T_RR     15, mul, 0x242d2080, 0x9abcdef0, 0x12345678
  T_RR     16, mul, 0x6541d598, 0xfedcba98, 0x87654321
  T_RR     17, mul, 0x00000000, 0x00010000, 0x00010000
  T_RR     18, mul, 0x00000000, 0xffff0000, 0x00010000
  T_RR     19, mul, 0xffffffff, 0x55555555, 0x00000003
  T_RR     20, mul, 0x00000000, 0xdeadbeef, 0x00000000
  T_RR     21, mul, 0x00000000, 0x00000000, 0xdeadbeef

  T_RR     22, mulh, 0x00000000, 0x00000000, 0x00000000
  T_RR     23, mulh, 0x00000000, 0x00000001, 0x00000001
  T_RR     24, mulh, 0x00000000, 0x00000003, 0x00000007
  T_RR     25, mulh, 0x00000000, 0xffff8000, 0xffff8000
  T_RR     26, mulh, 0x40000000, 0x80000000, 0x80000000
  T_RR     27, mulh, 0x00000000, 0xffffffff, 0xffffffff
  T_RR     28, mulh, 0xffffffff, 0xffffffff, 0x00000001
  T_RR     29, mulh, 0xffffffff, 0x00000001, 0xffffffff
  T_RR     30, mulh, 0x3fffffff, 0x7fffffff, 0x7fffffff
  T_RR     31, mulh, 0xc0000000, 0x80000000, 0x7fffffff
  T_RR     32, mulh, 0xc0000000, 0x7fffffff, 0x80000000
  T_RR     33, mulh, 0x00000000, 0x80000000, 0xffffffff
  T_RR     34, mulh, 0x00000000, 0xffffffff, 0x80000000
  T_RR     35, mulh, 0xf8cc93d6, 0x12345678, 0x9abcdef0
  T_RR     36, mulh, 0xf8cc93d6, 0x9abcdef0, 0x12345678
  T_RR     37, mulh, 0x00893897, 0xfedcba98, 0x87654321
  T_RR     38, mulh, 0x00000001, 0x00010000, 0x00010000
  T_RR     39, mulh, 0xffffffff, 0xffff0000, 0x00010000
  T_RR     40, mulh, 0x00000000, 0x55555555, 0x00000003
  T_RR     41, mulh, 0x00000000, 0xdeadbeef, 0x00000000
  T_RR     42, mulh, 0x00000000, 0x00000000, 0xdeadbeef

  T_RR     43, mulhu, 0x00000000, 0x00000000, 0x00000000
  T_RR     44, mulhu, 0x00000000, 0x00000001, 0x00000001
  T_RR     45, mulhu, 0x00000000, 0x00000003, 0x00000007
  T_RR     46, mulhu, 0xffff0000, 0xffff8000, 0xffff8000
  T_RR     47, mulhu, 0x40000000, 0x80000000, 0x80000000
  T_RR     48, mulhu, 0xfffffffe, 0xffffffff, 0xffffffff
  T_RR     49, mulhu, 0x00000000, 0xffffffff, 0x00000001
  T_RR     50, mulhu, 0x00000000, 0x00000001, 0xffffffff
  T_RR     51, mulhu, 0x3fffffff, 0x7fffffff, 0x7fffffff
  T_RR     52, mulhu, 0x3fffffff, 0x80000000, 0x7fffffff
  T_RR     53, mulhu, 0x3fffffff, 0x7fffffff, 0x80000000
  T_RR     54, mulhu, 0x7fffffff, 0x80000000, 0xffffffff
  T_RR     55, mulhu, 0x7fffffff, 0xffffffff, 0x80000000
  T_RR     56, mulhu, 0x0b00ea4e, 0x12345678, 0x9abcdef0
  T_RR     57, mulhu, 0x0b00ea4e, 0x9abcdef0, 0x12345678
  T_RR     58, mulhu, 0x86cb3650, 0xfedcba98, 0x87654321
  T_RR     59, mulhu, 0x00000001, 0x00010000, 0x00010000
  T_RR     60, mulhu, 0x0000ffff, 0xffff0000, 0x00010000
  T_RR     61, mulhu, 0x00000000, 0x55555555, 0x00000003
  T_RR     62, mulhu, 0x00000000, 0xdeadbeef, 0x00000000
  T_RR     63, mulhu, 0x00000000, 0x00000000, 0xdeadbeef

  T_RR     64, mulhsu, 0x00000000, 0x00000000, 0x00000000
  T_RR     65, mulhsu, 0x00000000, 0x00000001, 0x00000001
  T_RR     66, mulhsu, 0x00000000, 0x00000003, 0x00000007
  T_RR     67, mulhsu, 0xffff8000, 0xffff8000, 0xffff8000
  T_RR     68, mulhsu, 0xc0000000, 0x80000000, 0x80000000
  T_RR     69, mulhsu, 0xffffffff, 0xffffffff, 0xffffffff
  T_RR     70, mulhsu, 0xffffffff, 0xffffffff, 0x00000001
  T_RR     71, mulhsu, 0x00000000, 0x00000001, 0xffffffff
  T_RR     72, mulhsu, 0x3fffffff, 0x7fffffff, 0x7fffffff
  T_RR     73, mulhsu, 0xc0000000, 0x80000000, 0x7fffffff
  T_RR     74, mulhsu, 0x3fffffff, 0x7fffffff, 0x80000000
  T_RR     75, mulhsu, 0x80000000, 0x80000000, 0xffffffff
  T_RR     76, mulhsu, 0xffffffff, 0xffffffff, 0x80000000
  T_RR     77, mulhsu, 0x0b00ea4e, 0x12345678, 0x9abcdef0
  T_RR     78, mulhsu, 0xf8cc93d6, 0x9abcdef0, 0x12345678
  T_RR     79, mulhsu, 0xff65f32f, 0xfedcba98, 0x87654321
  T_RR     80, mulhsu, 0x00000001, 0x00010000, 0x00010000
  T_RR     81, mulhsu, 0xffffffff, 0xffff0000, 0x00010000
  T_RR     82, mulhsu, 0x00000000, 0x55555555, 0x00000003
  T_RR     83, mulhsu, 0x00000000, 0xdeadbeef, 0x00000000
  T_RR     84, mulhsu, 0x00000000, 0x00000000, 0xdeadbeef

  /* register aliasing and x0 */
  T_RR_D1  85, mul,    0x00000143, 17, 19
  T_RR_D2  86, mul,    0x00000143, 17, 19
  T_RR_DD  87, mul,    0x00000169, 19
  T_RR_DD  88, mulh,   0x00000000, 0x0000ffff
  T_RR_DD  89, mulh,   0x40000000, 0x80000000
  T_RR_DD  90, mulhu,  0xfffffffe, 0xffffffff
  T_RR_D1  91, mulhsu, 0xffffffff, 0xffffffff, 0x00000002
  T_RR_D2  92, mulhsu, 0xffffffff, 0xffffffff, 0x00000002
  T_RR_Z1  93, mul,    0, 0x12345678
  T_RR_Z2  94, mulh,   0, 0x87654321
  T_RR_ZD  95, mul,    3, 5
  T_RR_ZD  96, mulhu,  0xffffffff, 0xffffffff
  TEST_CASE 97                 /* the usual mulh+mul pair gives the full product */
  li s1, 0xfedcba98
  li s2, 0x87654321
  mulh s3, s1, s2
  mul s4, s1, s2
  CHECK s3, 0x00893897
  CHECK s4, 0x6541d598
  mulhu s3, s1, s2
  CHECK s3, 0x86cb3650
  mulhsu s3, s2, s1
  CHECK s3, 0x87ee7bb8

  /* ------------------------------------------------------ DIV DIVU REM REMU */
  T_RR     98, div, 0x00000003, 0x00000014, 0x00000006
  T_RR     99, div, 0xfffffffd, 0xffffffec, 0x00000006
  T_RR     100, div, 0xfffffffd, 0x00000014, 0xfffffffa
  T_RR     101, div, 0x00000003, 0xffffffec, 0xfffffffa
  T_RR     102, div, 0x00000000, 0x00000000, 0x00000001
  T_RR     103, div, 0x00000001, 0x00000001, 0x00000001
  T_RR     104, div, 0x80000000, 0x80000000, 0x00000001
  T_RR     105, div, 0xc0000000, 0x80000000, 0x00000002
  T_RR     106, div, 0xc0000001, 0x80000001, 0x00000002
  T_RR     107, div, 0x80000000, 0x80000000, 0xffffffff
  T_RR     108, div, 0xffffffff, 0xffffffff, 0x00000001
  T_RR     109, div, 0x00000001, 0xffffffff, 0xffffffff
  T_RR     110, div, 0x00000000, 0xffffffff, 0x80000000
  T_RR     111, div, 0x80000001, 0x7fffffff, 0xffffffff
  T_RR     112, div, 0x00000000, 0x00000006, 0x00000014
  T_RR     113, div, 0x00010004, 0x12345678, 0x00001234
  T_RR     114, div, 0xffd663cd, 0xfedcba98, 0x00000007
  T_RR     115, div, 0xffffffff, 0x00000000, 0x00000000
  T_RR     116, div, 0xffffffff, 0x00000001, 0x00000000
  T_RR     117, div, 0xffffffff, 0xffffffff, 0x00000000
  T_RR     118, div, 0xffffffff, 0x80000000, 0x00000000
  T_RR     119, div, 0xffffffff, 0x00000014, 0x00000000
  T_RR     120, div, 0xffffffff, 0x7fffffff, 0x00000000

  T_RR     121, divu, 0x00000003, 0x00000014, 0x00000006
  T_RR     122, divu, 0x2aaaaaa7, 0xffffffec, 0x00000006
  T_RR     123, divu, 0x00000000, 0x00000014, 0xfffffffa
  T_RR     124, divu, 0x00000000, 0xffffffec, 0xfffffffa
  T_RR     125, divu, 0x00000000, 0x00000000, 0x00000001
  T_RR     126, divu, 0x00000001, 0x00000001, 0x00000001
  T_RR     127, divu, 0x80000000, 0x80000000, 0x00000001
  T_RR     128, divu, 0x40000000, 0x80000000, 0x00000002
  T_RR     129, divu, 0x40000000, 0x80000001, 0x00000002
  T_RR     130, divu, 0x00000000, 0x80000000, 0xffffffff
  T_RR     131, divu, 0xffffffff, 0xffffffff, 0x00000001
  T_RR     132, divu, 0x00000001, 0xffffffff, 0xffffffff
  T_RR     133, divu, 0x00000001, 0xffffffff, 0x80000000
  T_RR     134, divu, 0x00000000, 0x7fffffff, 0xffffffff
  T_RR     135, divu, 0x00000000, 0x00000006, 0x00000014
  T_RR     136, divu, 0x00010004, 0x12345678, 0x00001234
  T_RR     137, divu, 0x2468acf1, 0xfedcba98, 0x00000007
  T_RR     138, divu, 0xffffffff, 0x00000000, 0x00000000
  T_RR     139, divu, 0xffffffff, 0x00000001, 0x00000000
  T_RR     140, divu, 0xffffffff, 0xffffffff, 0x00000000
  T_RR     141, divu, 0xffffffff, 0x80000000, 0x00000000
  T_RR     142, divu, 0xffffffff, 0x00000014, 0x00000000
  T_RR     143, divu, 0xffffffff, 0x7fffffff, 0x00000000

  T_RR     144, rem, 0x00000002, 0x00000014, 0x00000006
  T_RR     145, rem, 0xfffffffe, 0xffffffec, 0x00000006
  T_RR     146, rem, 0x00000002, 0x00000014, 0xfffffffa
  T_RR     147, rem, 0xfffffffe, 0xffffffec, 0xfffffffa
  T_RR     148, rem, 0x00000000, 0x00000000, 0x00000001
  T_RR     149, rem, 0x00000000, 0x00000001, 0x00000001
  T_RR     150, rem, 0x00000000, 0x80000000, 0x00000001
  T_RR     151, rem, 0x00000000, 0x80000000, 0x00000002
  T_RR     152, rem, 0xffffffff, 0x80000001, 0x00000002
  T_RR     153, rem, 0x00000000, 0x80000000, 0xffffffff
  T_RR     154, rem, 0x00000000, 0xffffffff, 0x00000001
  T_RR     155, rem, 0x00000000, 0xffffffff, 0xffffffff
  T_RR     156, rem, 0xffffffff, 0xffffffff, 0x80000000
  T_RR     157, rem, 0x00000000, 0x7fffffff, 0xffffffff
  T_RR     158, rem, 0x00000006, 0x00000006, 0x00000014
  T_RR     159, rem, 0x00000da8, 0x12345678, 0x00001234
  T_RR     160, rem, 0xfffffffd, 0xfedcba98, 0x00000007
  T_RR     161, rem, 0x00000000, 0x00000000, 0x00000000
  T_RR     162, rem, 0x00000001, 0x00000001, 0x00000000
  T_RR     163, rem, 0xffffffff, 0xffffffff, 0x00000000
  T_RR     164, rem, 0x80000000, 0x80000000, 0x00000000
  T_RR     165, rem, 0x00000014, 0x00000014, 0x00000000
  T_RR     166, rem, 0x7fffffff, 0x7fffffff, 0x00000000

  T_RR     167, remu, 0x00000002, 0x00000014, 0x00000006
  T_RR     168, remu, 0x00000002, 0xffffffec, 0x00000006
  T_RR     169, remu, 0x00000014, 0x00000014, 0xfffffffa
  T_RR     170, remu, 0xffffffec, 0xffffffec, 0xfffffffa
  T_RR     171, remu, 0x00000000, 0x00000000, 0x00000001
  T_RR     172, remu, 0x00000000, 0x00000001, 0x00000001
  T_RR     173, remu, 0x00000000, 0x80000000, 0x00000001
  T_RR     174, remu, 0x00000000, 0x80000000, 0x00000002
  T_RR     175, remu, 0x00000001, 0x80000001, 0x00000002
  T_RR     176, remu, 0x80000000, 0x80000000, 0xffffffff
  T_RR     177, remu, 0x00000000, 0xffffffff, 0x00000001
  T_RR     178, remu, 0x00000000, 0xffffffff, 0xffffffff
  T_RR     179, remu, 0x7fffffff, 0xffffffff, 0x80000000
  T_RR     180, remu, 0x7fffffff, 0x7fffffff, 0xffffffff
  T_RR     181, remu, 0x00000006, 0x00000006, 0x00000014
  T_RR     182, remu, 0x00000da8, 0x12345678, 0x00001234
  T_RR     183, remu, 0x00000001, 0xfedcba98, 0x00000007
  T_RR     184, remu, 0x00000000, 0x00000000, 0x00000000
  T_RR     185, remu, 0x00000001, 0x00000001, 0x00000000
  T_RR     186, remu, 0xffffffff, 0xffffffff, 0x00000000
  T_RR     187, remu, 0x80000000, 0x80000000, 0x00000000
  T_RR     188, remu, 0x00000014, 0x00000014, 0x00000000
  T_RR     189, remu, 0x7fffffff, 0x7fffffff, 0x00000000

  /* register aliasing and x0 */
  T_RR_D1  190, div,    0xfffffffd, 0xffffffec, 6
  T_RR_D2  191, div,    0xfffffffd, 0xffffffec, 6
  T_RR_DD  192, div,    1, 0x80000000
  T_RR_DD  193, div,    0xffffffff, 0            /* 0 / 0 */
  T_RR_DD  194, divu,   1, 0xfffffffe
  T_RR_DD  195, rem,    0, 0x80000000
  T_RR_DD  196, remu,   0, 0
  T_RR_D1  197, rem,    0xfffffffe, 0xffffffec, 6
  T_RR_D2  198, remu,   2, 20, 6
  T_RR_Z1  199, div,    0, 7
  T_RR_Z1  200, rem,    0, 0xffffffff
  T_RR_Z2  201, divu,   0xffffffff, 0x12345678   /* x / x0 */
  T_RR_Z2  202, remu,   0x12345678, 0x12345678
  T_RR_Z2  203, rem,    0x87654321, 0x87654321
  T_RR_ZD  204, div,    20, 0
  T_RR_ZD  205, rem,    0x80000000, 0xffffffff
  TEST_CASE 206                 /* quotient * divisor + remainder == dividend */
  li s1, 0x9e3779b9
  li s2, 0xfffff123
  div s3, s1, s2
  rem s4, s1, s2
  mul s5, s3, s2
  add s5, s5, s4
  CHECKR s5, s1
  divu s3, s1, s2
  remu s4, s1, s2
  mul s5, s3, s2
  add s5, s5, s4
  CHECKR s5, s1
  TEST_CASE 207                 /* a dependent chain */
  li s1, 1
  li s2, 3
  li s3, 20
1:
  mul s1, s1, s2
  addi s3, s3, -1
  bnez s3, 1b                 /* s1 = 3^20 mod 2^32 */
  CHECK s1, 0xcfd41b91
  li s3, 20
1:
  divu s1, s1, s2
  addi s3, s3, -1
  bnez s3, 1b
  CHECK s1, 1

  TEST_PASS

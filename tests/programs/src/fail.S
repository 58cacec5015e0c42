/* fail.S - deliberately fails test case 3 (exercises run-bare's failure path). */
#include "test.h"

test_main:
  TEST_CASE 1
  li a0, 5
  CHECK a0, 5

  TEST_CASE 2
  addi a0, a0, 1
  CHECK a0, 6

  TEST_CASE 3
  addi a0, a0, 1
  CHECK a0, 8           /* a0 is 7: fails here */

  TEST_CASE 4
  TEST_PASS

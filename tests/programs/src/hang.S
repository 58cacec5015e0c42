/* hang.S - spins forever without writing tohost (exercises --max-instructions). */
#include "test.h"

test_main:
  TEST_CASE 1
  li a0, 0
1:
  addi a0, a0, 1
  j 1b

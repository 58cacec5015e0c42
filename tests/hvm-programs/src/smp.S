/* SBI HSM: hart 0 starts hart 1 at `second` with an opaque value; hart 1 writes a flag and
 * stops itself; hart 0 waits for the flag and for hart 1 to be stopped, then passes. */
#include "hvm.h"

main:
  TEST_CASE 1
  li a0, 1
  la a1, second
  li a2, 0x5a5a
  SBI 0x48534d, 0       /* hart_start(1, second, 0x5a5a) */
  CHECK a0, 0
  li a0, 1
  la a1, second
  li a2, 0
  SBI 0x48534d, 0       /* again: already started (or stopping) */
  beqz a0, fail
  TEST_CASE 2
  la t0, flag
1:lw t1, 0(t0)
  beqz t1, 1b
  CHECK t1, 0x5a5a
  TEST_CASE 3
2:li a0, 1
  SBI 0x48534d, 2       /* hart_get_status(1) until stopped */
  CHECK a0, 0
  li t0, 1
  bne a1, t0, 2b
  TEST_PASS

second:
  /* a0 = hart id 1, a1 = opaque */
  li t0, 1
  bne a0, t0, 3f
  la t0, flag
  sw a1, 0(t0)
  SBI 0x48534d, 1       /* hart_stop */
3:j 3b

  .section .data
flag: .word 0

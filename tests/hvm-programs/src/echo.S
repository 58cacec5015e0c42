/* Console input through the emulated UART: waits for the receive interrupt (PLIC source
 * 10 as SEIP, sleeping in wfi), echoes each byte until 'q', then passes. */
#include "hvm.h"

main:
  PUTS "echo>"
  li t0, 0x0c000000
  li t1, 1
  sw t1, 40(t0)         /* priority[10] = 1 */
  li t0, 0x0c002080
  li t1, 0x400
  sw t1, 0(t0)          /* enable source 10 for hart 0's S context */
  li s1, 0x10000000
  li t1, 1
  sb t1, 1(s1)          /* IER = ERBFI */
  li t0, 0x200
  csrs sie, t0
loop:
  lbu t1, 5(s1)         /* LSR */
  andi t1, t1, 1
  bnez t1, got
  TEST_CASE 1
  EXPECT 0x80000009, woke
  csrsi sstatus, SSTATUS_SIE
1:wfi
  j 1b
woke:
  li t0, 0x0c201004
  lw t1, 0(t0)          /* claim */
  CHECK t1, 10
  sw t1, 0(t0)          /* complete */
  j loop
got:
  lbu a0, 0(s1)
  li t1, 'q'
  beq a0, t1, done
  sb a0, 0(s1)
  j loop
done:
  PUTS "\n"
  TEST_PASS

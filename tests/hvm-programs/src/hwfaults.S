/* What a VS-mode kernel sees of hw mode's exits (the same a real hart's S-mode would see):
 * loads and stores to guest-physical memory that is neither RAM nor a device, a fetch from
 * a device and an AMO to one get access faults; H and M CSRs and HFENCE are illegal;
 * emulated counters read; MMIO loads and stores of every width reach the UART. */
#include "hvm.h"

#define HOLE 0x40000000   /* no RAM, no device */
#define UART 0x10000000

main:
  TEST_CASE 1           /* load from a hole: load access fault, stval = the address */
  EXPECT 5, 1f
  li t0, HOLE
  lw t1, 4(t0)
  j fail
1:li t0, HOLE + 4
  bne t5, t0, fail

  TEST_CASE 2           /* store to a hole: store access fault */
  EXPECT 7, 1f
  li t0, HOLE
  sb t1, 1(t0)
  j fail
1:li t0, HOLE + 1
  bne t5, t0, fail

  TEST_CASE 3           /* executing from a device: fetch access fault */
  EXPECT 1, 1f
  li t0, UART
  jalr t0
  j fail
1:li t0, UART
  bne t5, t0, fail

  TEST_CASE 4           /* an AMO to a device: store access fault */
  EXPECT 7, 1f
  li t0, UART + 4
  amoswap.w t1, t1, (t0)
  j fail
1:

  TEST_CASE 5           /* an H CSR from VS (a virtual instruction): illegal, stval = the instruction */
  EXPECT 2, 1f
2:csrr t0, hgatp
  j fail
1:la t0, 2b
  bne t4, t0, fail
  lw t0, 0(t0)
  bne t5, t0, fail

  TEST_CASE 6           /* an M CSR: illegal */
  EXPECT 2, 1f
  csrr t0, mstatus
  j fail
1:

  TEST_CASE 7           /* HFENCE.GVMA and HLV from VS: illegal */
  EXPECT 2, 1f
  .word 0x62000073      /* hfence.gvma zero, zero */
  j fail
1:EXPECT 2, 1f
  li t0, 0x80000000
  .word 0x6802c2f3      /* hlv.w t0, (t0) */
  j fail
1:

  TEST_CASE 8           /* cycle and instret count up (emulated: hcounteren grants only time) */
  rdinstret t0
  rdcycle t1
  rdinstret t2
  bleu t2, t0, fail
  rdtime t0
  rdtime t1
  bltu t1, t0, fail

  TEST_CASE 9           /* MMIO of each width: scratch register (SCR, offset 7) */
  li t0, UART
  li t1, 0xa5
  sb t1, 7(t0)
  lbu t2, 7(t0)
  CHECK t2, 0xa5
  lb t2, 7(t0)
  CHECK t2, -0x5b
  li t1, 0x3c
  sb t1, 7(t0)
  lbu s2, 7(t0)
  CHECK s2, 0x3c
  lbu t2, 5(t0)         /* LSR: THR empty */
  andi t2, t2, 0x60
  CHECK t2, 0x60
  li t1, 'M'
  sb t1, 0(t0)
  li t1, '\n'
  sb t1, 0(t0)

  TEST_PASS

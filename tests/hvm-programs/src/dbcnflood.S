/* Writes 64 x 4 KiB through SBI's debug console as fast as it can, taking short writes as
 * the specification allows (the rest written again), then "\nPASS\n" the same way. Every
 * byte must reach the console: the board reports a short write rather than dropping output. */
#include "hvm.h"

main:
  li s2, 64             /* blocks */
1:la a0, buf
  li a1, 4096
  call write
  addi s2, s2, -1
  bnez s2, 1b
  la a0, done
  li a1, 6
  call write
  li a0, 0              /* SRST shutdown, no reason */
  li a1, 0
  SBI 0x53525354, 0
  j fail

/* write(a0 = buffer, a1 = length): DBCN console_write until all is taken. */
write:
  mv s3, a0
  mv s4, a1
2:mv a0, s4
  mv a1, s3
  li a2, 0
  SBI 0x4442434E, 0
  CHECK a0, 0
  add s3, s3, a1
  sub s4, s4, a1
  bnez s4, 2b
  ret

  .pushsection .rodata
done: .ascii "\nPASS\n"
  .popsection
  .pushsection .data
  .align 12
buf: .fill 4096, 1, 0x2e
  .popsection

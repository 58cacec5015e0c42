/* Loads and stores that touch a device misaligned: split at a page boundary between RAM
 * and a device page (through a mapping), or misaligned inside a device. The hart gives a
 * load/store access fault outside the HVM case; so must both modes (they performed the
 * access on the device at the second part's address, at full size). */
#include "hvm.h"

main:
  la t0, root
  li t1, (0x80000000 >> 12) << 10 | 0xcf
  li t2, 2048
  add t2, t0, t2
  sw t1, 0(t2)
  la t1, l0
  srli t1, t1, 12
  slli t1, t1, 10
  ori t1, t1, 1
  sw t1, 1024(t0)
  /* va 0x40000000 -> data (RAM), va 0x40001000 -> virtio-mmio slot 0 (0x10001000) */
  la t2, l0
  la t1, data
  srli t1, t1, 12
  slli t1, t1, 10
  ori t1, t1, 0xc7
  sw t1, 0(t2)
  li t1, (0x10001000 >> 12) << 10 | 0xc7
  sw t1, 4(t2)
  srli t0, t0, 12
  li t1, 0x80000000
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  TEST_CASE 1         /* an aligned read of the slot's magic works */
  li t0, 0x40001000
  lw t1, 0(t0)
  CHECK t1, 0x74726976
  TEST_CASE 2         /* lw: 2 bytes of RAM, 2 of the device */
  EXPECT 5, 1f
  li t0, 0x40000ffe
  lw t1, 0(t0)
  j fail
1:TEST_CASE 3         /* sw the same way: nothing stored, not even in RAM */
  EXPECT 7, 1f
  li t0, 0x40000ffe
  li t1, -1
  sw t1, 0(t0)
  j fail
1:la t0, data
  li t1, 0xffc
  add t0, t0, t1
  lw t1, 0(t0)
  CHECK t1, 0
  TEST_CASE 4         /* misaligned inside the device */
  EXPECT 5, 1f
  li t0, 0x40001001
  lw t1, 0(t0)
  j fail
1:TEST_CASE 5
  EXPECT 7, 1f
  li t0, 0x40001002
  li t1, 0x10000000
  sw t1, 0(t0)
  j fail
1:TEST_CASE 6         /* paging off: lh at the UART's last byte crossing its end */
  csrw satp, zero
  sfence.vma
  EXPECT 5, 1f
  li t0, 0x100000ff
  lh t1, 0(t0)
  j fail
1:TEST_PASS

  .pushsection .bss
  .align 12
root: .space 4096
l0: .space 4096
data: .space 4096
  .popsection

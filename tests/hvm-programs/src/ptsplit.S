/* A store split at a page boundary whose first part hits a page table the shadow
 * write-protects (trap mode, shadow_sync = wp): the guest gets either the store done as
 * its own mappings say (first half into the table page, second half into the page its
 * next virtual page maps) or an address-misaligned trap; never a write into the
 * guest-physically next frame, which its mappings do not name here. */
#include "hvm.h"

main:
  /* root[512]: identity megapage for 0x80000000; root[256] -> l0 */
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
  /* va 0x40000000 -> l0 itself (RW), va 0x40001000 -> data (RW) */
  la t2, l0
  srli t1, t2, 12
  slli t1, t1, 10
  ori t1, t1, 0xc7
  sw t1, 0(t2)
  la t1, data
  srli t1, t1, 12
  slli t1, t1, 10
  ori t1, t1, 0xc7
  sw t1, 4(t2)
  srli t0, t0, 12
  li t1, 0x80000000
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  /* both pages in use: l0 is a shadowed table (write-protected under wp) */
  li t0, 0x40000000
  lw t1, 0(t0)
  li t0, 0x40001000
  lw t1, 0(t0)
  TEST_CASE 1
  EXPECT 6, trapped
  li t0, 0x40000ffe
  li t1, 0x11223344
  sw t1, 0(t0)
  li s10, -1
  /* done: 0x3344 at the end of l0, 0x1122 at the start of data */
  TEST_CASE 2
  la t0, data
  lhu t1, 0(t0)
  CHECK t1, 0x1122
  TEST_CASE 3
  la t0, l0
  li t2, 0xffe
  add t0, t0, t2
  lhu t1, 0(t0)
  CHECK t1, 0x3344
  PUTS "stored\n"
  j check_victim
trapped:
  TEST_CASE 4
  CHECK t5, 0x40000ffe     /* stval: the store's address */
  PUTS "misaligned\n"
check_victim:
  /* the frame after l0 (guest-physically) was never named by a mapping */
  TEST_CASE 5
  la t0, victim
  lw t1, 0(t0)
  CHECK t1, 0
  TEST_PASS

  .pushsection .bss
  .align 12
root: .space 4096
l0: .space 4096
victim: .space 4096
data: .space 4096
  .popsection

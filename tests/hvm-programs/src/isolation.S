/* Isolation probe: maps (and, paging off, addresses) every guest-physical page number from
 * 0x80000 to 0x81800 plus a few wild ones, reads the last word of each and stores MARKER
 * there; also points a page-table pointer at each. Faults are counted and skipped. A read
 * that returns PATTERN (what the test put in another domain's frames) or CANARY (reachable
 * only through a walk of a foreign frame) is a leak. Prints "leaks <n> faults <n>". */
#include "hvm.h"
#define MARKER  0x5ec0de11
/* A leaf PTE (V R W X A D) to the canary page, 0x80002000 (checked at the start). */
#define PATTERN ((0x80002 << 10) | 0xcf)
#define CANARY  0xc0ffee42

main:
  la t0, canary
  CHECK t0, 0x80002000
  la t0, skip
  csrw stvec, t0
  li s2, 0              /* leaks */
  li s3, 0              /* faults */
  /* root[512]: identity megapage for 0x80000000 (this program), root[256] -> l0 */
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
  /* canary page */
  la t0, canary
  li t1, CANARY
  li t2, 0xffc
  add t0, t0, t2
  sw t1, 0(t0)
  li s4, 0x80000        /* ppn */
  li s5, 0x81800        /* end: past the 24 MiB test machine's frames */
  li s6, MARKER
  li s7, PATTERN
  li s8, CANARY
  la s9, l0
  la s1, root
  /* pass 1: bare: ppn << 12 + 0xffc (fits 32 bits) */
1:slli t0, s4, 12
  li t1, 0xffc
  add t0, t0, t1
  call probe
  addi s4, s4, 1
  blt s4, s5, 1b
  /* pass 2: paging: l0[0] = leaf(ppn) at va 0x40000000 */
  srli t0, s1, 12
  li t1, 0x80000000
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  li s4, 0x80000
2:slli t1, s4, 10
  ori t1, t1, 0xc7
  sw t1, 0(s9)
  sfence.vma
  li t0, 0x40000ffc
  call probe
  addi s4, s4, 1
  blt s4, s5, 2b
  /* wild ppns through a leaf */
  li s4, 0x3fffff
  call leafwild
  li s4, 0xfffff
  call leafwild
  li s4, 0x100000
  call leafwild
  li s4, 0x10000
  call leafwild
  /* pass 3: root[256] -> ppn as an L0 table; va 0x40000ffc */
  la t0, canary
  li t1, 0xffc
  add t0, t0, t1
  sw s8, 0(t0)
  li s4, 0x80000
3:slli t1, s4, 10
  ori t1, t1, 1
  sw t1, 1024(s1)
  sfence.vma
  li t0, 0x40000ffc
  call probe3
  addi s4, s4, 1
  blt s4, s5, 3b
  csrw satp, zero
  sfence.vma
  PUTS "leaks "
  mv a0, s2
  call puthex
  PUTS " faults "
  mv a0, s3
  call puthex
  PUTS "\n"
  TEST_PASS

leafwild:
  slli t1, s4, 10
  ori t1, t1, 0xc7
  sw t1, 0(s9)
  sfence.vma
  li t0, 0x40000ffc
  j probe

/* probe(t0): load (count PATTERN), then store MARKER; a fault skips the access. */
probe:
  li t1, 0
  lw t1, 0(t0)
  bne t1, s7, 4f
  addi s2, s2, 1
4:sw s6, 0(t0)
  ret

/* probe3(t0): as probe, CANARY counting too (pass 3 maps no page of its own at the canary). */
probe3:
  li t1, 0
  lw t1, 0(t0)
  bne t1, s8, 4f
  addi s2, s2, 1
4:j probe

  .align 2
skip:
  addi s3, s3, 1
  csrr tp, sepc
  addi tp, tp, 4
  csrw sepc, tp
  li tp, SSTATUS_SPP
  csrs sstatus, tp
  sret

  .pushsection .bss
  .align 12
canary: .space 4096
root: .space 4096
l0: .space 4096
  .popsection

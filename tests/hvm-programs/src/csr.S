/* CSR emulation and reflection under an HVM board: what a real S-mode kernel would see. */
#include "hvm.h"

main:
  TEST_CASE 1           /* sscratch read/write, csrrw returns the old value */
  li t0, 0x12345678
  csrw sscratch, t0
  li t1, 0x0badf00d
  csrrw t2, sscratch, t1
  CHECK t2, 0x12345678
  csrr t2, sscratch
  CHECK t2, 0x0badf00d

  TEST_CASE 2           /* sepc drops bits 1:0 (IALIGN 32) */
  li t0, 0x80001003
  csrw sepc, t0
  csrr t1, sepc
  CHECK t1, 0x80001000

  TEST_CASE 3           /* sie: SSIE, STIE, SEIE only */
  li t0, -1
  csrw sie, t0
  csrr t1, sie
  CHECK t1, 0x222
  csrw sie, zero

  TEST_CASE 4           /* sstatus: SIE SPIE SPP SUM MXR writable; the rest reads 0 */
  li t0, 0xfffffffd     /* everything but SIE */
  csrw sstatus, t0
  csrr t1, sstatus
  CHECK t1, 0xc0120
  csrw sstatus, zero
  csrr t1, sstatus
  CHECK t1, 0

  TEST_CASE 5           /* csrrs/csrrc and the immediate forms */
  li t0, 0xf0
  csrw sscratch, t0
  csrrsi t1, sscratch, 5
  CHECK t1, 0xf0
  csrrci t1, sscratch, 0x10
  CHECK t1, 0xf5
  csrrs t1, sscratch, zero
  CHECK t1, 0xe5
  li t0, 0xe0
  csrrc t1, sscratch, t0
  csrr t1, sscratch
  CHECK t1, 0x05

  TEST_CASE 6           /* stvec: a reserved mode reads back as direct */
  csrr s0, stvec
  li t0, 0x80000103
  csrw stvec, t0
  csrr t1, stvec
  csrw stvec, s0
  CHECK t1, 0x80000100

  TEST_CASE 7           /* an M-mode CSR from S: illegal instruction, stval = the instruction */
  EXPECT 2, 1f
2:csrr t0, mstatus
  j fail
1:CHECK t3, 2
  CHECK t5, 0x300022f3
  la t0, 2b
  bne t4, t0, fail

  TEST_CASE 8           /* writing a read-only CSR */
  EXPECT 2, 1f
  csrw cycle, t0
  j fail
1:CHECK t3, 2

  TEST_CASE 9           /* a CSR that does not exist */
  EXPECT 2, 1f
  csrr t0, 0x5c0
  j fail
1:CHECK t3, 2

  TEST_CASE 10          /* mret from S */
  EXPECT 2, 1f
  mret
  j fail
1:CHECK t5, 0x30200073

  TEST_CASE 11          /* satp: bare round trip */
  csrw satp, zero
  csrr t0, satp
  CHECK t0, 0

  TEST_CASE 12          /* counters: time advances, cycle and instret count */
  rdtime t0
  li t1, 200
3:addi t1, t1, -1
  bnez t1, 3b
  rdtime t1
  bgeu t0, t1, fail
  rdinstret t0
  beqz t0, fail
  rdcycle t0
  beqz t0, fail

  TEST_CASE 13          /* ebreak: cause 3, stval = its address */
  EXPECT 3, 1f
2:ebreak
  j fail
1:la t0, 2b
  bne t5, t0, fail

  TEST_CASE 14          /* U-mode ecall is the guest's own (cause 8), SPP = 0 */
  EXPECT 8, 1f
  la t0, 2f
  csrw sepc, t0
  li t0, SSTATUS_SPP
  csrc sstatus, t0
  sret
2:ecall
  j fail
1:andi t0, t6, SSTATUS_SPP
  CHECK t0, 0

  TEST_CASE 15          /* U-mode reading sstatus: illegal */
  EXPECT 2, 1f
  la t0, 2f
  csrw sepc, t0
  li t0, SSTATUS_SPP
  csrc sstatus, t0
  sret
2:csrr t0, sstatus
  j fail
1:CHECK t3, 2

  TEST_CASE 16          /* U-mode rdtime: illegal without scounteren.TM, fine with it */
  csrw scounteren, zero
  EXPECT 2, 1f
  la t0, 2f
  csrw sepc, t0
  li t0, SSTATUS_SPP
  csrc sstatus, t0
  sret
2:rdtime t0
  j fail
1:CHECK t3, 2
  li t0, 2
  csrw scounteren, t0
  EXPECT 8, 1f
  la t0, 2f
  csrw sepc, t0
  li t0, SSTATUS_SPP
  csrc sstatus, t0
  sret
2:rdtime t0
  ecall
  j fail
1:csrw scounteren, zero

  TEST_CASE 17          /* U-mode sret and wfi: illegal */
  EXPECT 2, 1f
  la t0, 2f
  csrw sepc, t0
  li t0, SSTATUS_SPP
  csrc sstatus, t0
  sret
2:sret
  j fail
1:CHECK t5, 0x10200073
  EXPECT 2, 1f
  la t0, 2f
  csrw sepc, t0
  li t0, SSTATUS_SPP
  csrc sstatus, t0
  sret
2:wfi
  j fail
1:CHECK t5, 0x10500073

  TEST_CASE 18          /* SBI base: version 2.0, probe, unknown extension */
  SBI 0x10, 0
  CHECK a0, 0
  CHECK a1, 0x02000000
  li a0, 0x54494d45
  SBI 0x10, 3
  CHECK a1, 1
  li a0, 0x12345
  SBI 0x10, 3
  CHECK a1, 0
  SBI 0x0a000000, 0
  CHECK a0, -2

  TEST_CASE 19          /* SBI timer: STIP at the deadline, taken out of wfi */
  li t0, 0x20
  csrs sie, t0
  rdtime a0
  rdtimeh a1
  li t0, 2000
  add a0, a0, t0
  SBI 0x54494d45, 0
  CHECK a0, 0
  EXPECT 0x80000005, 1f
  csrsi sstatus, SSTATUS_SIE
2:wfi
  j 2b
1:li a0, -1
  li a1, -1
  SBI 0x54494d45, 0
  csrr t0, sip
  andi t0, t0, 0x20
  CHECK t0, 0
  csrw sie, zero

  TEST_CASE 20          /* SBI IPI to itself: SSIP, cleared through sip */
  li t0, 2
  csrs sie, t0
  li a0, 1
  li a1, 0
  SBI 0x735049, 0
  CHECK a0, 0
  EXPECT 0x80000001, 1f
  csrsi sstatus, SSTATUS_SIE
  nop
  j fail
1:csrci sip, 2
  csrr t0, sip
  andi t0, t0, 2
  CHECK t0, 0
  csrw sie, zero

  TEST_CASE 21          /* the UART: THR to the console, LSR says empty */
  PUTS "uart:"
  li t0, 0x10000000
  li t1, 'U'
  sb t1, 0(t0)
  li t1, '\n'
  sb t1, 0(t0)
  lbu t1, 5(t0)
  CHECK t1, 0x60

  TEST_CASE 22          /* no device there: access faults, stval = the address */
  EXPECT 5, 1f
  li t0, 0x20000000
  lw t1, 0(t0)
  j fail
1:CHECK t5, 0x20000000
  EXPECT 7, 1f
  li t0, 0x30000000
  sw t1, 0(t0)
  j fail
1:CHECK t5, 0x30000000

  TEST_CASE 23          /* jumping into a device: instruction access fault */
  EXPECT 1, 1f
  li t0, 0x10000000
  jalr t0
  j fail
1:CHECK t4, 0x10000000

  TEST_CASE 24          /* PLIC: the UART's THR-empty interrupt as SEIP, claim and complete */
  li t0, 0x0c000000
  li t1, 1
  sw t1, 40(t0)         /* priority[10] = 1 */
  li t0, 0x0c002080     /* context 1 (hart 0, S-mode) enables */
  li t1, 0x400
  sw t1, 0(t0)
  li t0, 0x0c201000     /* context 1 threshold */
  sw zero, 0(t0)
  li t0, 0x200
  csrs sie, t0
  li t0, 0x10000000
  li t1, 2
  sb t1, 1(t0)          /* IER = ETBEI */
  EXPECT 0x80000009, 1f
  csrsi sstatus, SSTATUS_SIE
  nop
  j fail
1:li t0, 0x0c201004
  lw t1, 0(t0)          /* claim */
  CHECK t1, 10
  li t2, 0x10000000
  sb zero, 1(t2)        /* IER = 0: the line goes low */
  sw t1, 0(t0)          /* complete */
  li t0, 0x0c001000
  lw t1, 0(t0)
  andi t1, t1, 0x400
  CHECK t1, 0
  csrw sie, zero

  TEST_CASE 25          /* CLINT: mtime runs, mtimecmp reads back */
  li t0, 0x0200bff8
  lw t1, 0(t0)
  beqz t1, fail
  li t0, 0x02004000
  li t1, 0x1234
  sw t1, 0(t0)
  lw t2, 0(t0)
  CHECK t2, 0x1234

  TEST_CASE 26          /* SBI DBCN console_write */
  li a0, 5
  la a1, dbcn_text
  li a2, 0
  SBI 0x4442434e, 0
  CHECK a0, 0
  CHECK a1, 5

  TEST_CASE 27          /* paging: a root entry pointing at its own table is a page fault */
  la s0, root
  li t0, 0x200000cf     /* root[0x200]: 4 MiB identity page at 0x80000000, RWXAD */
  li t1, 0x800
  add t1, t1, s0
  sw t0, 0(t1)
  srli t1, s0, 12
  slli t2, t1, 10
  ori t2, t2, 1         /* root[0x100]: non-leaf -> the root itself */
  sw t2, 0x400(s0)
  li t0, 0x80000000
  or t0, t0, t1
  csrw satp, t0
  sfence.vma
  EXPECT 13, 1f
  li t0, 0x40100000
  lw t1, 0(t0)
  j fail
1:CHECK t5, 0x40100000

  TEST_CASE 28          /* a store to a live page table (write-protected under wp) */
  li t0, 0x12340000
  sw t0, 0x7fc(s0)      /* root[0x1ff]: not valid, a plain word */
  lw t1, 0x7fc(s0)
  CHECK t1, 0x12340000
  sw zero, 0x7fc(s0)
  addi t2, s0, 0x7fc
  amoadd.w t1, t0, (t2)       /* AMO on the table too */
  CHECK t1, 0
  lw t1, 0x7fc(s0)
  CHECK t1, 0x12340000
  sw zero, 0x7fc(s0)
  csrw satp, zero
  sfence.vma

  TEST_CASE 29          /* SBI arguments a guest gets wrong: errors, nothing else */
  li a0, 5
  li a1, 0x10           /* not RAM */
  li a2, 0
  SBI 0x4442434e, 0
  CHECK a0, -3
  li a0, 5
  la a1, dbcn_text
  li a2, 1              /* above 4 GiB */
  SBI 0x4442434e, 0
  CHECK a0, -3
  li a0, 7              /* hart_start of a hart that does not exist */
  li a1, 0x80000000
  SBI 0x48534d, 0
  CHECK a0, -3
  li a0, 0              /* hart_get_status(0): started */
  SBI 0x48534d, 2
  CHECK a0, 0
  CHECK a1, 0
  li a0, 1              /* send_ipi to hart 1 (mask 1, base 1) of a 1-vCPU domain */
  li a1, 1
  SBI 0x735049, 0
  CHECK a0, -3
  li a0, 3              /* SRST with an unknown type */
  li a1, 0
  SBI 0x53525354, 0
  CHECK a0, -3

  TEST_PASS

  .section .rodata
dbcn_text: .ascii "dbcn\n"

  .section .bss
  .align 12
root: .space 4096

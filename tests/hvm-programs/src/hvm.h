/*
 * hvm.h - the frame of the HVM guest programs (tests/hvm-programs): S-mode code entered
 * by the hypervisor's HVM board with a0 = hart id, a1 = device tree, paging off.
 *
 * Registers: gp = current case (TEST_CASE n); s10 = the trap cause expected (-1 none) and
 * s11 = where to resume (in S-mode, SPIE cleared) after it; after an expected trap
 * t3 = scause, t4 = sepc, t5 = stval, t6 = sstatus. tp is the macros' scratch.
 * Output goes through SBI (legacy putchar); PASS prints "PASS" and shuts down with SBI
 * SRST (no reason), a failure prints "FAIL case <n> ..." and shuts down with reason
 * "system failure" (a crash).
 */
#define SSTATUS_SIE  0x2
#define SSTATUS_SPIE 0x20
#define SSTATUS_SPP  0x100
#define SSTATUS_SUM  0x40000
#define SSTATUS_MXR  0x80000

.macro TEST_CASE n
  li gp, \n
.endm

.macro CHECK reg, val
  li tp, \val
  bne \reg, tp, fail
.endm

.macro EXPECT cause, label
  li s10, \cause
  la s11, \label
.endm

.macro SBI eid, fid
  li a7, \eid
  li a6, \fid
  ecall
.endm

.macro PUTS str
  .pushsection .rodata
99: .asciz "\str"
  .popsection
  la a0, 99b
  call puts
.endm

.macro TEST_PASS
  j pass
.endm

  .section .text.init
  .globl _start
_start:
  la sp, stack_top
  la t0, trap
  csrw stvec, t0
  li s10, -1
  li gp, 0
  j main

  .align 2
trap:
  csrr t3, scause
  csrr t4, sepc
  csrr t5, stval
  csrr t6, sstatus
  bne t3, s10, bad_trap
  li s10, -1
  csrw sepc, s11
  li tp, SSTATUS_SPP
  csrs sstatus, tp
  li tp, SSTATUS_SPIE
  csrc sstatus, tp
  sret

bad_trap:
  PUTS "FAIL case "
  mv a0, gp
  call puthex
  PUTS " unexpected trap cause "
  mv a0, t3
  call puthex
  PUTS " sepc "
  mv a0, t4
  call puthex
  PUTS " stval "
  mv a0, t5
  call puthex
  j die

fail:
  PUTS "FAIL case "
  mv a0, gp
  call puthex
die:
  PUTS "\n"
  li a0, 0          /* SRST: shutdown, reason 1 = system failure */
  li a1, 1
  SBI 0x53525354, 0
1: j 1b

pass:
  PUTS "PASS\n"
  li a0, 0
  li a1, 0
  SBI 0x53525354, 0
1: j 1b

/* putc(a0): legacy console_putchar; clobbers a0, a6, a7. */
putc:
  li a7, 1
  li a6, 0
  ecall
  ret

/* puts(a0 = string); clobbers a0-a2, a6, a7. */
puts:
  mv a2, ra
  mv a1, a0
1:lbu a0, 0(a1)
  beqz a0, 2f
  call putc
  addi a1, a1, 1
  j 1b
2:mv ra, a2
  ret

/* puthex(a0): 8 hex digits; clobbers a0-a3, a6, a7. */
puthex:
  mv a3, ra
  mv a1, a0
  li a2, 28
1:srl a0, a1, a2
  andi a0, a0, 15
  addi a0, a0, '0'
  li tp, '9'
  ble a0, tp, 2f
  addi a0, a0, 'a' - '0' - 10
2:call putc
  addi a2, a2, -4
  bgez a2, 1b
  mv ra, a3
  ret

  .pushsection .bss
  .align 12
stack: .space 4096
stack_top:
  .popsection

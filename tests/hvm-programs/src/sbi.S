/* The SBI a supervisor sees, against the SBI specification v2.0: every extension the
 * native kernel uses, function by function, with the error codes of wrong arguments.
 * Runs unchanged on the HVM board (the hypervisor's SBI, hypervisor/hvm/sbi.ts) and on
 * QEMU's virt machine under our firmware (guests/sbi/): linked at 0x80400000, where the
 * firmware enters the kernel. Needs one hart; HSM is checked where probe says it exists.
 * Interrupts stay disabled (sie = 0): pending bits are read in sip. */
#include "hvm.h"

#define EID_BASE   0x10
#define EID_TIME   0x54494d45
#define EID_IPI    0x735049
#define EID_RFENCE 0x52464e43
#define EID_HSM    0x48534d
#define EID_SRST   0x53525354
#define EID_DBCN   0x4442434e
#define EID_PMU    0x504d55
#define ERR_NOT_SUPPORTED   -2
#define ERR_INVALID_PARAM   -3
#define ERR_INVALID_ADDRESS -5
#define ERR_ALREADY_AVAILABLE -6
#define SIP_SSIP 0x2
#define SIP_STIP 0x20

/* a0 = probe_extension(eid); fail unless it succeeded with a value that is (non)zero. */
.macro PROBE eid, present
  li a0, \eid
  SBI EID_BASE, 3
  CHECK a0, 0
  .if \present
  beqz a1, fail
  .else
  bnez a1, fail
  .endif
.endm
/* Fail unless the call (eid, fid) with a0..a3 as given returns error err. */
.macro CALL_ERR eid, fid, x0, x1, x2, x3, err
  li a0, \x0
  li a1, \x1
  li a2, \x2
  li a3, \x3
  SBI \eid, \fid
  CHECK a0, \err
.endm
/* Spin (bounded) until sip has bit; fail if it never comes. Clobbers t0, t1. */
.macro WAIT_SIP bit
  li t1, 5000000
.Lw\@:
  csrr t0, sip
  andi t0, t0, \bit
  bnez t0, .Ld\@
  addi t1, t1, -1
  bnez t1, .Lw\@
  j fail
.Ld\@:
.endm

main:
  csrw sie, zero
  TEST_CASE 1           /* get_spec_version: 2.0 (bit 31 zero, major 30:24, minor 23:0) */
  SBI EID_BASE, 0
  CHECK a0, 0
  CHECK a1, 0x02000000

  TEST_CASE 2           /* impl id (nonzero here), impl version, machine ids: success */
  SBI EID_BASE, 1
  CHECK a0, 0
  beqz a1, fail
  SBI EID_BASE, 2
  CHECK a0, 0
  SBI EID_BASE, 4
  CHECK a0, 0
  SBI EID_BASE, 5
  CHECK a0, 0
  SBI EID_BASE, 6
  CHECK a0, 0

  TEST_CASE 3           /* every register but a0 and a1 is preserved */
  li a2, 0x1111
  li a3, 0x2222
  li a4, 0x3333
  li a5, 0x4444
  li t0, 0x5555
  li s0, 0x6666
  SBI EID_BASE, 0
  CHECK a2, 0x1111
  CHECK a3, 0x2222
  CHECK a4, 0x3333
  CHECK a5, 0x4444
  CHECK t0, 0x5555
  CHECK s0, 0x6666
  CHECK a6, 0
  CHECK a7, EID_BASE

  TEST_CASE 4           /* probe_extension */
  PROBE EID_BASE, 1
  PROBE EID_TIME, 1
  PROBE EID_IPI, 1
  PROBE EID_RFENCE, 1
  PROBE EID_SRST, 1
  PROBE EID_DBCN, 1
  PROBE 0x01, 1         /* legacy console_putchar */
  PROBE EID_PMU, 0
  PROBE 0x12345, 0

  TEST_CASE 5           /* an unknown extension or function: NOT_SUPPORTED */
  CALL_ERR 0x0a000000, 0, 0, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_BASE, 7, 0, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_TIME, 1, 0, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_IPI, 1, 0, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_RFENCE, 7, 1, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_SRST, 1, 0, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_DBCN, 3, 0, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_PMU, 0, 0, 0, 0, 0, ERR_NOT_SUPPORTED

  TEST_CASE 6           /* TIME: a past deadline raises STIP; a new one clears it at once */
  CALL_ERR EID_TIME, 0, 0, 0, 0, 0, 0
  WAIT_SIP SIP_STIP
  CALL_ERR EID_TIME, 0, -1, -1, 0, 0, 0
  csrr t0, sip
  andi t0, t0, SIP_STIP
  bnez t0, fail
  TEST_CASE 7           /* a future deadline: clear until then, pending after */
  rdtime a0
  rdtimeh a1
  li t0, 10000
  add t1, a0, t0
  sltu t2, t1, a0
  add a1, a1, t2
  mv a0, t1
  SBI EID_TIME, 0
  CHECK a0, 0
  csrr t0, sip
  andi t0, t0, SIP_STIP
  bnez t0, fail
  WAIT_SIP SIP_STIP
  CALL_ERR EID_TIME, 0, -1, -1, 0, 0, 0
  csrr t0, sip
  andi t0, t0, SIP_STIP
  bnez t0, fail

  TEST_CASE 8           /* IPI to this hart: SSIP, cleared by the supervisor */
  CALL_ERR EID_IPI, 0, 1, 0, 0, 0, 0
  WAIT_SIP SIP_SSIP
  csrci sip, SIP_SSIP
  csrr t0, sip
  andi t0, t0, SIP_SSIP
  bnez t0, fail
  TEST_CASE 9           /* hart_mask_base = -1: every hart, hart_mask ignored */
  CALL_ERR EID_IPI, 0, 0, -1, 0, 0, 0
  WAIT_SIP SIP_SSIP
  csrci sip, SIP_SSIP
  TEST_CASE 10          /* harts that do not exist: INVALID_PARAM, nothing sent */
  CALL_ERR EID_IPI, 0, 3, 0, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_IPI, 0, 1, 1, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_IPI, 0, 0, 5, 0, 0, ERR_INVALID_PARAM     /* base itself invalid */
  CALL_ERR EID_IPI, 0, 0, 0, 0, 0, 0                     /* empty mask, valid base */
  csrr t0, sip
  andi t0, t0, SIP_SSIP
  bnez t0, fail

  TEST_CASE 11          /* RFENCE: fence.i, sfence.vma (range, all), with ASID */
  CALL_ERR EID_RFENCE, 0, 1, 0, 0, 0, 0
  CALL_ERR EID_RFENCE, 1, 1, 0, 0, 0, 0
  CALL_ERR EID_RFENCE, 1, 0, -1, 0x80400000, 0x2000, 0
  CALL_ERR EID_RFENCE, 1, 1, 0, 0, -1, 0
  li a4, 0
  CALL_ERR EID_RFENCE, 2, 1, 0, 0x80400000, 0x1000, 0
  CALL_ERR EID_RFENCE, 1, 2, 0, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_RFENCE, 0, 0, 7, 0, 0, ERR_INVALID_PARAM
  TEST_CASE 12          /* the HFENCE calls: no H extension offered to the supervisor */
  CALL_ERR EID_RFENCE, 3, 1, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_RFENCE, 4, 1, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_RFENCE, 5, 1, 0, 0, 0, ERR_NOT_SUPPORTED
  CALL_ERR EID_RFENCE, 6, 1, 0, 0, 0, ERR_NOT_SUPPORTED

  TEST_CASE 13          /* DBCN console_write: bytes written in a1; physical address lo/hi */
  li a0, 6
  la a1, text
  li a2, 0
  SBI EID_DBCN, 0
  CHECK a0, 0
  CHECK a1, 6
  li a0, 0
  la a1, text
  li a2, 0
  SBI EID_DBCN, 0
  CHECK a0, 0
  CHECK a1, 0
  TEST_CASE 14          /* console_write_byte: uvalue 0 */
  li a0, '\n'
  li a1, 0x77
  SBI EID_DBCN, 2
  CHECK a0, 0
  CHECK a1, 0
  TEST_CASE 15          /* console_read with nothing typed: 0 bytes, memory untouched */
  la s0, buf
  li t0, 0x5a
  sb t0, 0(s0)
  li a0, 16
  mv a1, s0
  li a2, 0
  SBI EID_DBCN, 1
  CHECK a0, 0
  CHECK a1, 0
  lbu t0, 0(s0)
  CHECK t0, 0x5a
  TEST_CASE 16          /* memory that is not there: INVALID_PARAM */
  la t0, text
  CALL_ERR EID_DBCN, 0, 6, 0x10, 0, 0, ERR_INVALID_PARAM
  li a0, 6
  la a1, text
  li a2, 1              /* above 4 GiB */
  SBI EID_DBCN, 0
  CHECK a0, ERR_INVALID_PARAM
  CALL_ERR EID_DBCN, 1, 4, 0x10, 0, 0, ERR_INVALID_PARAM

  TEST_CASE 17          /* legacy console: putchar succeeds, getchar has nothing (-1) */
  li a0, '.'
  SBI 0x01, 0
  CHECK a0, 0
  li a0, '\n'
  SBI 0x01, 0
  SBI 0x02, 0
  CHECK a0, -1

  TEST_CASE 18          /* HSM where offered: this hart started; wrong harts and types */
  li a0, EID_HSM
  SBI EID_BASE, 3
  bnez a1, 1f
  CALL_ERR EID_HSM, 0, 0, 0x80400000, 0, 0, ERR_NOT_SUPPORTED
  j 2f
1:CALL_ERR EID_HSM, 2, 0, 0, 0, 0, 0
  CHECK a1, 0           /* STARTED */
  CALL_ERR EID_HSM, 0, 0, 0x80400000, 0, 0, ERR_ALREADY_AVAILABLE
  CALL_ERR EID_HSM, 2, 9, 0, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_HSM, 0, 9, 0x80400000, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_HSM, 3, 1, 0, 0, 0, ERR_INVALID_PARAM              /* reserved type */
  CALL_ERR EID_HSM, 3, 0x80000001, 0, 0, 0, ERR_INVALID_PARAM     /* reserved type */
  CALL_ERR EID_HSM, 4, 0, 0, 0, 0, ERR_NOT_SUPPORTED
2:

  TEST_CASE 19          /* SRST: reserved or unimplemented types and reasons */
  CALL_ERR EID_SRST, 0, 3, 0, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_SRST, 0, 0xf0000000, 0, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_SRST, 0, 0, 2, 0, 0, ERR_INVALID_PARAM
  CALL_ERR EID_SRST, 0, 1, 0xe0000000, 0, 0, ERR_INVALID_PARAM

  TEST_PASS

  .section .rodata
text: .ascii "dbcn: "

  .section .bss
buf: .space 16

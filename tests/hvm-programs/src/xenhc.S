/* PVHVM from the guest's side (hypervisor/hvm/xen_platform.ts): Xen hypercalls through the
 * SBI extension XEN_SBI_EID (a6 = hypercall, a0..a4 = arguments; a0 = SBI error, a1 =
 * Xen's result), XENMEM_add_to_physmap of shared_info and a grant frame into the grant
 * region, HVM params, refused calls and bad arguments, and an event channel's upcall
 * arriving as PLIC source 31 on the S context. Paging off: pointers are guest-physical. */
#include "hvm.h"

#define XEN_EID    0x0a58454e
#define HC_MEMORY  12
#define HC_XENVER  17
#define HC_EVTCHN  32
#define HC_HVMOP   34
#define HC_MMU     1
#define SI_GPA     0x38000000
#define GT_GPA     0x38001000
#define PLIC       0x0c000000
#define SIP_SEIP   0x200

/* Hypercall nr with a0 = arg0, a1 = arg1; fail unless a0 = 0 and a1 = rc. */
.macro HC nr, x0, x1, rc
  li a0, \x0
  li a1, \x1
  SBI XEN_EID, \nr
  CHECK a0, 0
  CHECK a1, \rc
.endm
/* struct xen_add_to_physmap at buf: domid, space, idx, gpfn. */
.macro ATP domid, space, idx, gpfn
  la t0, buf
  li t1, \domid
  sw t1, 0(t0)
  li t1, \space
  sw t1, 4(t0)
  li t1, \idx
  sw t1, 8(t0)
  li t1, \gpfn
  sw t1, 12(t0)
.endm
/* struct xen_hvm_param at buf: domid, index. */
.macro PARAM domid, index
  la t0, buf
  li t1, \domid
  sw t1, 0(t0)
  li t1, \index
  sw t1, 4(t0)
  sw zero, 8(t0)
  sw zero, 12(t0)
.endm

/* Hypercall nr with a0 = x0, a1 = buf; fail unless a0 = 0 and a1 = rc. */
.macro HCB nr, x0, rc
  li a0, \x0
  la a1, buf
  SBI XEN_EID, \nr
  CHECK a0, 0
  CHECK a1, \rc
.endm

main:
  csrw sie, zero
  TEST_CASE 1           /* xen_version(XENVER_version): 4.17; probe finds the extension */
  HC HC_XENVER, 0, 0, 0x40011
  li a0, XEN_EID
  SBI 0x10, 3
  CHECK a0, 0
  CHECK a1, 1

  TEST_CASE 2           /* the PV MMU and unknown numbers: -ENOSYS; registers kept */
  li a2, 0x1234
  HC HC_MMU, 0, 0, -38
  HC 99, 0, 0, -38
  CHECK a2, 0x1234
  CHECK a6, 99

  TEST_CASE 3           /* shared_info into the grant region; its vcpu_info reads as set up */
  ATP 0x7ff0, 0, 0, 0x38000
  HCB HC_MEMORY, 7, 0
  li t0, SI_GPA
  lbu t1, 1(t0)          /* evtchn_upcall_mask */
  CHECK t1, 1

  TEST_CASE 4           /* add_to_physmap refusals: RAM gfn, unknown space, other domain, bad pointer, grant idx */
  ATP 0x7ff0, 0, 0, 0x80000
  HCB HC_MEMORY, 7, -22
  ATP 0x7ff0, 9, 0, 0x38002
  HCB HC_MEMORY, 7, -22
  ATP 0x7ff0, 0, 1, 0x38002
  HCB HC_MEMORY, 7, -22
  ATP 5, 0, 0, 0x38002
  HCB HC_MEMORY, 7, -1
  ATP 0x7ff0, 1, 0x10000, 0x38002
  HCB HC_MEMORY, 7, -22
  ATP 0x7ff0, 1, 0x80000000, 0x38002
  HCB HC_MEMORY, 7, -22
  HC HC_MEMORY, 7, 0x1000, -14
  HC HC_MEMORY, 0, 0, -38  /* increase_reservation: not for HVM */

  TEST_CASE 5           /* grant frame 0 next to it: writable */
  ATP 0x7ff0, 1, 0, 0x38001
  HCB HC_MEMORY, 7, 0
  li t0, GT_GPA
  li t1, 0x5a5a
  sw t1, 8(t0)
  lw t2, 8(t0)
  bne t1, t2, fail

  TEST_CASE 6           /* HVM params: readable, set refused, range checked */
  PARAM 0x7ff0, 1
  HCB HC_HVMOP, 1, 0
  la t0, buf
  lw t1, 8(t0)
  li t2, 0x39001
  bne t1, t2, fail
  PARAM 0x7ff0, 0
  HCB HC_HVMOP, 1, 0
  la t0, buf
  lw t1, 8(t0)
  CHECK t1, 31
  PARAM 0x7ff0, 100
  HCB HC_HVMOP, 1, -22
  PARAM 0x7ff0, 1
  HCB HC_HVMOP, 0, -1
  PARAM 3, 1
  HCB HC_HVMOP, 1, -1
  HCB HC_HVMOP, 9, -38

  TEST_CASE 7           /* an IPI event channel to itself: the upcall is PLIC source 31 */
  la t0, buf
  sw zero, 0(t0)        /* vcpu 0 */
  sw zero, 4(t0)
  HCB HC_EVTCHN, 7, 0
  la t0, buf
  lw s2, 4(t0)          /* the port */
  beqz s2, fail
  li t0, PLIC + 4 * 31
  li t1, 1
  sw t1, 0(t0)          /* priority */
  li t0, PLIC + 0x2080
  li t1, 0x80000000
  sw t1, 0(t0)          /* enable source 31 in context 1 (hart 0, S) */
  li t0, PLIC + 0x201000
  sw zero, 0(t0)        /* threshold 0 */
  li t0, SI_GPA
  sb zero, 1(t0)        /* evtchn_upcall_mask = 0 */
  csrr t1, sip
  andi t1, t1, 0x200
  bnez t1, fail         /* nothing pending yet */
  la t0, buf
  sw s2, 0(t0)
  HCB HC_EVTCHN, 4, 0   /* EVTCHNOP_send */
  li t1, 5000000
1:csrr t2, sip
  andi t2, t2, SIP_SEIP
  bnez t2, 2f
  addi t1, t1, -1
  bnez t1, 1b
  j fail
2:li t0, PLIC + 0x201004
  lw t1, 0(t0)          /* claim */
  CHECK t1, 31
  li t0, SI_GPA
  lbu t2, 0(t0)
  CHECK t2, 1           /* evtchn_upcall_pending */
  li t3, 2048
  add t3, t0, t3
  lw t2, 0(t3)          /* evtchn_pending[0] */
  li t3, 1
  sll t3, t3, s2
  and t2, t2, t3
  beqz t2, fail
  sb zero, 0(t0)        /* upcall_pending = 0: the line falls */
  li t0, PLIC + 0x201004
  li t1, 31
  sw t1, 0(t0)          /* complete */
  csrr t1, sip
  andi t1, t1, SIP_SEIP
  bnez t1, fail

  TEST_CASE 8           /* event channels are checked as for PV: bad port, other domains, bad pointer
                           (the test runs this as d2 beside a PV d1) */
  la t0, buf
  li t1, 1000
  sw t1, 0(t0)
  HCB HC_EVTCHN, 4, -22 /* send on a port never allocated */
  la t0, buf
  li t1, 1
  sh t1, 0(t0)          /* alloc_unbound { dom = 1 (another domain), remote_dom = 0 }: no privilege */
  sh zero, 2(t0)
  HCB HC_EVTCHN, 6, -1
  la t0, buf
  li t1, 5
  sh t1, 0(t0)          /* ... dom = 5: no such domain */
  HCB HC_EVTCHN, 6, -3
  la t0, buf
  li t1, 1
  sh t1, 0(t0)          /* bind_interdomain { remote_dom = 1, remote_port = 1 }: not offered to us */
  sw t1, 4(t0)
  HCB HC_EVTCHN, 0, -22
  HC HC_EVTCHN, 4, 0x1000, -14  /* a struct outside RAM */
  HC HC_EVTCHN, 99, 0, -38

  TEST_PASS

  .data
  .align 3
buf: .space 16

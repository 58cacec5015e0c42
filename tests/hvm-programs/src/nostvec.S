/* A guest with no trap vector that traps: a real hart would spin fetching from 0 forever;
 * the hypervisor crashes the domain once it sees no progress. */
#include "hvm.h"

main:
  PUTS "nostvec\n"
  csrw stvec, zero
  csrr t0, mstatus
  j fail

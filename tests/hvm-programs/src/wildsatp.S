/* A guest that points satp at a frame that is not RAM: every fetch faults (access fault
 * on the walk), including its handler's; the domain is crashed, nothing else happens. */
#include "hvm.h"

main:
  PUTS "wildsatp\n"
  li t0, 0x803fffff
  csrw satp, t0
  sfence.vma
  j fail

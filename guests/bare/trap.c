/* Report for a trap no handler expected: print the CSRs, fail the run. */
#include <pvsim/bare.h>

#define EXIT_UNEXPECTED_TRAP 0x7F

void bare_unexpected_trap(unsigned long mcause, unsigned long mepc,
                          unsigned long mtval)
{
    static int depth;

    if (depth++)                /* trapped while reporting: just stop */
        bare_exit(EXIT_UNEXPECTED_TRAP);
    printf("unexpected trap: mcause=0x%08lx mepc=0x%08lx mtval=0x%08lx\n",
           mcause, mepc, mtval);
    bare_exit(EXIT_UNEXPECTED_TRAP);
}

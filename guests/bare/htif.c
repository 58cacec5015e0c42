/* HTIF mailboxes (riscv-tests convention) and the exit path. */
#include <pvsim/bare.h>

/* Each mailbox is 8 bytes, 64-byte aligned, in section .tohost. */
volatile uint32_t tohost[2] __pv_section(".tohost") __pv_aligned(64) __pv_used;
volatile uint32_t fromhost[2] __pv_section(".tohost") __pv_aligned(64) __pv_used;

void bare_exit(unsigned int code)
{
    uint32_t value = code == 0 ? 1U : (code << 1) | 1U;

    /* RV32: low word first (an odd low word is the exit code), then high. */
    for (;;) {
        tohost[0] = value;
        tohost[1] = 0;
    }
}

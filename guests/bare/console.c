/*
 * Bare-metal console: printf and friends on the 16550 UART at 0x10000000.
 * Built with -DBARE_CONSOLE_HTIF (the QEMU check variant only) the bytes go to
 * the HTIF console device instead, because QEMU's spike machine has no UART.
 */
#include <pvsim/bare.h>

#ifndef BARE_CONSOLE_HTIF
void bare_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)BARE_UART_BASE;

    while ((uart[UART_LSR] & UART_LSR_THRE) == 0)
        ;
    uart[UART_THR] = (uint8_t)c;
}
#else
void bare_putc(char c)
{
    /* device 1 (console), command 1 (putchar): bits 63..56 and 55..48. */
    tohost[0] = (uint8_t)c;
    tohost[1] = 0x01010000U;
    while (fromhost[0] == 0 && fromhost[1] == 0)
        ;
    fromhost[0] = 0;
    fromhost[1] = 0;
}
#endif

/* What lib/stdio.c's printf and friends write to. */
void console_putc(char c)
{
    bare_putc(c);
}

/*
 * printf, vprintf, putchar and puts for every image, on the runtime's
 * console_putc: the PV console (lib/console.c, line buffered) or the bare
 * machine's UART or HTIF console (bare/console.c).
 */
#include <pvsim/format.h>

void console_putc(char c);

static void emit(void *ctx, char c)
{
    (void)ctx;
    console_putc(c);
}

int vprintf(const char *fmt, va_list ap)
{
    return pv_vformat(emit, NULL, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int putchar(int c)
{
    console_putc((char)c);
    return (unsigned char)c;
}

int puts(const char *s)
{
    while (*s)
        console_putc(*s++);
    console_putc('\n');
    return 0;
}

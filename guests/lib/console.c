/* PV console: printf and friends, line buffered, on top of a sink
 * (CONSOLEIO_write by default, the console ring once it is set up). */
#include <pvsim/console.h>
#include <pvsim/hypercall.h>
#include <pvsim/string.h>
#include <stdbool.h>

#define CONSOLE_BUF 256

static char buf[CONSOLE_BUF];
static size_t used;
static const struct console_sink *sink;
static bool emergency;

void console_io_write(const char *s, size_t n)
{
    while (n > 0) {
        int chunk = n > 0x7FFFFFFFU ? 0x7FFFFFFF : (int)n;
        int rc = HYPERVISOR_console_io(CONSOLEIO_write, chunk, (char *)s);
        if (rc < 0)
            return;             /* nothing sensible left to do with the text */
        /* Xen answers 0 for "all written"; a positive answer is a count. */
        if (rc == 0 || rc >= chunk)
            rc = chunk;
        s += rc;
        n -= (size_t)rc;
    }
}

void console_write(const char *s, size_t n)
{
    if (sink != NULL)
        sink->write(s, n);
    else
        console_io_write(s, n);
}

void console_set_sink(const struct console_sink *new_sink)
{
    console_flush();
    if (!emergency)
        sink = new_sink;
}

void console_emergency(void)
{
    emergency = true;
    sink = NULL;
    console_flush();
}

void console_sync(void)
{
    if (sink != NULL && sink->sync != NULL)
        sink->sync();
}

void console_flush(void)
{
    if (used) {
        console_write(buf, used);
        used = 0;
    }
}

void console_putc(char c)
{
    buf[used++] = c;
    if (c == '\n' || used == sizeof(buf))
        console_flush();
}

/*
 * Native console: printf's line buffer (as lib/console.c) drained through
 * SBI's debug console extension (DBCN write: the buffer's physical address,
 * which is its virtual one in this 1:1-mapped kernel), or one legacy
 * console_putchar per byte when the firmware has no DBCN.
 */
#include <pvsim/console.h>
#include <pvsim/native.h>
#include <pvsim/sbi.h>
#include <stdbool.h>

#define CONSOLE_BUF 256

static char buf[CONSOLE_BUF];
static size_t used;
static bool dbcn;
const char *native_console_kind = "legacy putchar";

void native_console_init(void)
{
    /* probe_extension exists from SBI v0.2; a v0.1 firmware answers with an
     * error, which reads as "absent". */
    dbcn = sbi_spec_version() >= 0 && sbi_probe_extension(SBI_EXT_DBCN) != 0;
    if (dbcn)
        native_console_kind = "SBI DBCN";
}

void console_write(const char *s, size_t n)
{
    while (n > 0 && dbcn) {
        struct sbiret r = sbi_debug_console_write(n, (uint64_t)(uintptr_t)s);
        if (r.error != SBI_SUCCESS || r.value <= 0 || (size_t)r.value > n)
            break;              /* what is left goes out byte by byte */
        s += r.value;
        n -= (size_t)r.value;
    }
    while (n-- > 0)
        sbi_legacy_putchar(*s++);
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

void console_emergency(void)
{
    console_flush();
}

void console_sync(void)
{
}

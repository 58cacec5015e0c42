/*
 * Host-side test of lib/divdi3.c and lib/cmdline.c (with lib/string.c's
 * strtoul). Built by `make host-test`; the guest symbols are renamed with -D.
 */
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

uint64_t pv_udivdi3(uint64_t n, uint64_t d);
uint64_t pv_umoddi3(uint64_t n, uint64_t d);
int64_t pv_divdi3(int64_t n, int64_t d);
int64_t pv_moddi3(int64_t n, int64_t d);
void cmdline_init(const char *s, size_t len);
const char *cmdline_get(const char *key);
bool cmdline_has(const char *key);
unsigned long cmdline_get_ulong(const char *key, unsigned long dflt);

#include "host_check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static bool str_is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

int main(void)
{
    int bad = 0;

    for (int i = 0; i < 200000; i++) {
        uint64_t n = next() >> (next() & 63), d = next() >> (next() & 63);
        int64_t sn = (int64_t)n, sd = (int64_t)d;
        if (d == 0)
            continue;
        if (pv_udivdi3(n, d) != n / d || pv_umoddi3(n, d) != n % d)
            bad++;
        if (!(sn == INT64_MIN && sd == -1) &&
            (pv_divdi3(sn, sd) != sn / sd || pv_moddi3(sn, sd) != sn % sd))
            bad++;
    }
    expect(bad == 0, "64-bit division against the host");
    expect(pv_udivdi3(5, 0) == UINT64_MAX && pv_umoddi3(5, 0) == 5, "division by zero");
    expect(pv_udivdi3(UINT64_MAX, 1) == UINT64_MAX, "max / 1");
    expect(pv_udivdi3(UINT64_MAX, UINT64_MAX) == 1, "max / max");

    const char line[] = "  console=hvc0 exit=crash  badptr note=\"two  words\" n=0x10 exit=reboot empty= last";
    cmdline_init(line, sizeof(line));
    expect(str_is(cmdline_get("console"), "hvc0"), "key=value");
    expect(str_is(cmdline_get("exit"), "reboot"), "last occurrence wins");
    expect(str_is(cmdline_get("badptr"), ""), "flag word");
    expect(cmdline_has("badptr") && cmdline_has("last"), "flags present");
    expect(str_is(cmdline_get("note"), "two  words"), "quoted value");
    expect(str_is(cmdline_get("empty"), ""), "empty value");
    expect(cmdline_get("missing") == NULL && !cmdline_has("bad"), "absent key");
    expect(cmdline_get_ulong("n", 0) == 16, "hex number");
    expect(cmdline_get_ulong("missing", 7) == 7, "number default");
    cmdline_init("a=1 b", 3);
    expect(str_is(cmdline_get("a"), "1") && !cmdline_has("b"), "length limit");
    cmdline_init("", 0);
    expect(cmdline_get("a") == NULL, "empty line");

    printf("lib_test: %d cases, %d failures\n", cases, failures);
    return failures != 0;
}

/*
 * Host-side test of lib/format.c: formats a battery of cases with the guest
 * library and with the host C library and compares. Built and run by
 * `make host-test` with the host compiler; the guest names are renamed with
 * -D so both implementations can live in one program.
 */
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

int pv_snprintf(char *buf, size_t size, const char *fmt, ...);

static int failures, cases;

#define CHECK(...) do {                                                     \
    char want[256], got[256];                                               \
    int nw = snprintf(want, sizeof(want), __VA_ARGS__);                     \
    int ng = pv_snprintf(got, sizeof(got), __VA_ARGS__);                    \
    cases++;                                                                \
    if (nw != ng || strcmp(want, got) != 0) {                               \
        failures++;                                                         \
        printf("FAIL %s: want \"%s\" (%d) got \"%s\" (%d)\n",               \
               #__VA_ARGS__, want, nw, got, ng);                            \
    }                                                                       \
} while (0)

int main(void)
{
    char small[8];
    int n;

    CHECK("plain text");
    CHECK("%d %i %u", 0, -1, 42u);
    CHECK("%d", INT_MIN);
    CHECK("%d", INT_MAX);
    CHECK("%u", UINT_MAX);
    CHECK("%x %X %o", 0xdeadbeefu, 0xdeadbeefu, 0755u);
    CHECK("%#x %#X %#o %#o %#x", 255u, 255u, 8u, 0u, 0u);
    CHECK("[%5d] [%-5d] [%05d] [%+d] [% d]", 42, 42, 42, 42, 42);
    CHECK("[%05d] [%-05d] [%+05d]", -42, -42, 42);
    CHECK("[%.3d] [%8.3d] [%-8.3d] [%08.3d]", 7, 7, 7, 7);
    CHECK("[%.0d] [%.0u] [%5.0x]", 0, 0u, 0u);
    CHECK("[%08x] [%-8x] [%#010x]", 0x1234u, 0x1234u, 0x1234u);
    CHECK("[%*d] [%-*d] [%*d] [%.*d]", 6, 1, 6, 2, -6, 3, 4, 5);
    CHECK("[%s] [%10s] [%-10s] [%.3s] [%10.2s]", "abc", "abc", "abc", "abcdef", "abcdef");
    CHECK("[%c] [%3c] [%-3c]", 'x', 'y', 'z');
    CHECK("100%% %%d");
    CHECK("%ld %lu %lx", -123456789L, 4000000000UL, 0xfeedUL);
    CHECK("%lld %llu %llx %llX", LLONG_MIN, ULLONG_MAX, 0x123456789abcdefULL, 0xABCDEF0123ULL);
    CHECK("%lld %lld", (long long)-1, (long long)10000000000LL);
    CHECK("[%20llu] [%-20lld] [%020llx]", 18446744073709551615ULL, -9223372036854775807LL, 0x1ULL);
    CHECK("%llo", 01777777777777777777777ULL);
    CHECK("%hd %hu %hhd %hhu %hx", 70000, 70000, 300, 300, 0x12345);
    CHECK("%zu %zd %td %jd %ju", (size_t)12345, (ssize_t)-5, (ptrdiff_t)-7, (intmax_t)-8, (uintmax_t)9);
    CHECK("%d%s%x", 1, "-", 2u);

    /* Truncation: return value is the full length, buffer NUL terminated. */
    n = pv_snprintf(small, sizeof(small), "%s", "0123456789");
    cases++;
    if (n != 10 || strcmp(small, "0123456") != 0) {
        failures++;
        printf("FAIL truncation: %d \"%s\"\n", n, small);
    }
    n = pv_snprintf(NULL, 0, "%d", 12345);
    cases++;
    if (n != 5) {
        failures++;
        printf("FAIL size 0: %d\n", n);
    }
    /* %p is fixed-width on the guest: "0x" and 2 * sizeof(void *) digits. */
    pv_snprintf(small, sizeof(small), "%p", (void *)0x2a);
    cases++;
    if (strncmp(small, "0x00000", 7) != 0) {
        failures++;
        printf("FAIL %%p: \"%s\"\n", small);
    }

    printf("format_test: %d cases, %d failures\n", cases, failures);
    return failures != 0;
}

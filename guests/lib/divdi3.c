/*
 * 64-bit division helpers that GCC calls on RV32 (the M extension divides
 * 32-bit values only). Shift-and-subtract, with a fast path when both
 * operands fit in 32 bits. Division by zero follows the RISC-V convention
 * of the div/rem instructions: quotient all ones, remainder the dividend.
 */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t n, int64_t d);
int64_t __moddi3(int64_t n, int64_t d);

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0;

    if (d == 0) {
        if (rem)
            *rem = n;
        return ~(uint64_t)0;
    }
    if ((n >> 32) == 0 && (d >> 32) == 0) {
        uint32_t n32 = (uint32_t)n, d32 = (uint32_t)d;
        if (rem)
            *rem = n32 % d32;
        return n32 / d32;
    }
    if (d <= n) {
        int shift = 0;
        /* Align d's top bit under n's (no clz: that would be a libgcc call). */
        while ((d >> 63) == 0 && (d << 1) <= n) {
            d <<= 1;
            shift++;
        }
        for (; shift >= 0; shift--) {
            q <<= 1;
            if (n >= d) {
                n -= d;
                q |= 1;
            }
            d >>= 1;
        }
    }
    if (rem)
        *rem = n;
    return q;
}

uint64_t __udivdi3(uint64_t n, uint64_t d)
{
    return __udivmoddi4(n, d, 0);
}

uint64_t __umoddi3(uint64_t n, uint64_t d)
{
    uint64_t r;

    __udivmoddi4(n, d, &r);
    return r;
}

static uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

int64_t __divdi3(int64_t n, int64_t d)
{
    uint64_t q;

    if (d == 0)
        return -1;
    q = __udivmoddi4(magnitude(n), magnitude(d), 0);
    return (int64_t)(((n < 0) != (d < 0)) ? (uint64_t)0 - q : q);
}

int64_t __moddi3(int64_t n, int64_t d)
{
    uint64_t r;

    if (d == 0)
        return n;
    __udivmoddi4(magnitude(n), magnitude(d), &r);
    return (int64_t)(n < 0 ? (uint64_t)0 - r : r);
}

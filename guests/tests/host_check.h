/* The host-side tests' one assertion: counts cases and failures, names what failed. */
#ifndef HOST_CHECK_H
#define HOST_CHECK_H

#include <stdbool.h>
#include <stdio.h>

static int failures, cases;

static inline void expect(bool ok, const char *what)
{
    cases++;
    if (!ok) {
        failures++;
        printf("FAIL %s\n", what);
    }
}

#endif

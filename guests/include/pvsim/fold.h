/* A running checksum for results that must agree between kernels (FNV-1a
 * over each 32-bit value's four bytes, low byte first). */
#ifndef PVSIM_FOLD_H
#define PVSIM_FOLD_H

#include <stdint.h>

#define WORK_FOLD_INIT 0x811c9dc5U

static inline uint32_t work_fold(uint32_t h, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        h ^= (v >> (8 * i)) & 0xFF;
        h *= 0x01000193U;
    }
    return h;
}

#endif

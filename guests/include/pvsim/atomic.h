/*
 * Atomic operations on words shared with the hypervisor or another domain
 * (RV32A AMOs, all with .aqrl ordering) and the barriers of Xen's ring and
 * event-channel protocols. Every operation here is a full barrier.
 */
#ifndef PVSIM_ATOMIC_H
#define PVSIM_ATOMIC_H

#include <stdint.h>
#include <stdbool.h>

/* Orders all earlier memory accesses before all later ones. */
static inline void mb(void)  { __asm__ volatile("fence rw, rw" : : : "memory"); }
/* Orders earlier reads before later reads. */
static inline void rmb(void) { __asm__ volatile("fence r, r" : : : "memory"); }
/* Orders earlier writes before later writes. */
static inline void wmb(void) { __asm__ volatile("fence w, w" : : : "memory"); }
/* Stops the compiler from moving memory accesses across this point. */
static inline void barrier(void) { __asm__ volatile("" : : : "memory"); }

#define READ_ONCE(x)     (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

/* *p = v; returns the old value. */
static inline uint32_t xchg32(volatile uint32_t *p, uint32_t v)
{
    uint32_t old;
    __asm__ volatile("amoswap.w.aqrl %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
    return old;
}

/* *p |= v; returns the old value. */
static inline uint32_t atomic_or32(volatile uint32_t *p, uint32_t v)
{
    uint32_t old;
    __asm__ volatile("amoor.w.aqrl %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
    return old;
}

/* *p &= v; returns the old value. */
static inline uint32_t atomic_and32(volatile uint32_t *p, uint32_t v)
{
    uint32_t old;
    __asm__ volatile("amoand.w.aqrl %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
    return old;
}

/* *p += v; returns the old value. */
static inline uint32_t atomic_add32(volatile uint32_t *p, uint32_t v)
{
    uint32_t old;
    __asm__ volatile("amoadd.w.aqrl %0, %2, %1" : "=r"(old), "+A"(*p) : "r"(v) : "memory");
    return old;
}

/* If *p == expected, *p = desired. Returns the value found (== expected on success). */
static inline uint32_t cmpxchg32(volatile uint32_t *p, uint32_t expected, uint32_t desired)
{
    uint32_t found, fail;
    __asm__ volatile(
        "1: lr.w.aqrl %0, %2\n"
        "   bne       %0, %3, 2f\n"
        "   sc.w.aqrl %1, %4, %2\n"
        "   bnez      %1, 1b\n"
        "2:"
        : "=&r"(found), "=&r"(fail), "+A"(*p)
        : "r"(expected), "r"(desired)
        : "memory");
    return found;
}

/* Bit operations on arrays of 32-bit words (Xen's event bitmaps). */
static inline bool sync_test_bit(unsigned int nr, const volatile uint32_t *addr)
{
    return (addr[nr / 32] >> (nr % 32)) & 1U;
}

static inline bool sync_test_and_set_bit(unsigned int nr, volatile uint32_t *addr)
{
    uint32_t bit = 1U << (nr % 32);
    return (atomic_or32(&addr[nr / 32], bit) & bit) != 0;
}

static inline bool sync_test_and_clear_bit(unsigned int nr, volatile uint32_t *addr)
{
    uint32_t bit = 1U << (nr % 32);
    return (atomic_and32(&addr[nr / 32], ~bit) & bit) != 0;
}

static inline void sync_set_bit(unsigned int nr, volatile uint32_t *addr)
{
    (void)atomic_or32(&addr[nr / 32], 1U << (nr % 32));
}

static inline void sync_clear_bit(unsigned int nr, volatile uint32_t *addr)
{
    (void)atomic_and32(&addr[nr / 32], ~(1U << (nr % 32)));
}

#endif

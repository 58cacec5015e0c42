/* pvsim guest library: compiler helpers shared by every guest image. */
#ifndef PVSIM_COMPILER_H
#define PVSIM_COMPILER_H

#define __pv_noreturn   __attribute__((noreturn))
#define __pv_used       __attribute__((used))
#define __pv_aligned(n) __attribute__((aligned(n)))
#define __pv_section(s) __attribute__((section(s)))
#define __pv_printf(f, a) __attribute__((format(printf, f, a)))
#define __pv_unused     __attribute__((unused))

#define PV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Compile-time layout checks. */
#define PV_CHECK_OFFSET(type, field, off) \
    _Static_assert(__builtin_offsetof(type, field) == (off), #type "." #field " offset")
#define PV_CHECK_SIZE(type, size) \
    _Static_assert(sizeof(type) == (size), "sizeof(" #type ")")

#endif

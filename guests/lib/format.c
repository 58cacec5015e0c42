/*
 * printf-style formatting for the guest library. The core, pv_vformat(),
 * hands each output character to a caller-supplied function, so the same
 * code serves vsnprintf, the PV console and the bare-metal UART.
 * 64-bit numbers are converted with 32-bit divisions only.
 */
#include <stdint.h>
#include <stdbool.h>
#include <pvsim/format.h>
#include <pvsim/string.h>

enum {
    FL_LEFT  = 1 << 0,   /* '-' */
    FL_ZERO  = 1 << 1,   /* '0' */
    FL_PLUS  = 1 << 2,   /* '+' */
    FL_SPACE = 1 << 3,   /* ' ' */
    FL_ALT   = 1 << 4,   /* '#' */
    FL_UPPER = 1 << 5,   /* %X */
    FL_PTR   = 1 << 6,   /* %p: always "0x" */
};

enum length { LEN_HH, LEN_H, LEN_INT, LEN_L, LEN_LL };

struct sink {
    pv_emit_fn emit;
    void *ctx;
    int count;
};

static void out_char(struct sink *o, char c)
{
    o->emit(o->ctx, c);
    o->count++;
}

static void out_repeat(struct sink *o, char c, int n)
{
    while (n-- > 0)
        out_char(o, c);
}

/* *v /= base (2..16); returns the remainder. Uses 32-bit division only. */
static unsigned int divmod_small(uint64_t *v, unsigned int base)
{
    uint32_t hi = (uint32_t)(*v >> 32), lo = (uint32_t)*v;
    uint32_t qhi, q1, q0, r, x;

    if (hi == 0) {
        *v = lo / base;
        return lo % base;
    }
    qhi = hi / base;
    r = hi % base;
    x = (r << 16) | (lo >> 16);          /* r < base, so x / base < 2^16 */
    q1 = x / base;
    r = x % base;
    x = (r << 16) | (lo & 0xFFFFU);
    q0 = x / base;
    r = x % base;
    *v = ((uint64_t)qhi << 32) | (q1 << 16) | q0;
    return r;
}

static void out_number(struct sink *o, uint64_t v, bool negative,
                       unsigned int base, int flags, int width, int prec)
{
    const char *set = (flags & FL_UPPER) ? "0123456789ABCDEF" : "0123456789abcdef";
    char digits[24];
    char prefix[3];
    int nd = 0, np = 0, zeros, len, fill;
    bool nonzero = v != 0;

    while (v)
        digits[nd++] = set[divmod_small(&v, base)];
    if (prec < 0)
        prec = 1;                           /* default: at least one digit */
    zeros = prec > nd ? prec - nd : 0;
    if ((flags & FL_ALT) && base == 8 && zeros == 0)
        zeros = 1;                          /* %#o: leading 0 */

    if (negative)
        prefix[np++] = '-';
    else if (flags & FL_PLUS)
        prefix[np++] = '+';
    else if (flags & FL_SPACE)
        prefix[np++] = ' ';
    if (base == 16 && ((flags & FL_PTR) || ((flags & FL_ALT) && nonzero))) {
        prefix[np++] = '0';
        prefix[np++] = (flags & FL_UPPER) ? 'X' : 'x';
    }

    len = np + zeros + nd;
    fill = width > len ? width - len : 0;
    if (!(flags & (FL_LEFT | FL_ZERO)))
        out_repeat(o, ' ', fill);
    for (int i = 0; i < np; i++)
        out_char(o, prefix[i]);
    if ((flags & (FL_LEFT | FL_ZERO)) == FL_ZERO)
        out_repeat(o, '0', fill);
    out_repeat(o, '0', zeros);
    while (nd > 0)
        out_char(o, digits[--nd]);
    if (flags & FL_LEFT)
        out_repeat(o, ' ', fill);
}

static void out_text(struct sink *o, const char *s, int flags, int width, int prec)
{
    size_t n;
    int fill;

    if (s == NULL)
        s = "(null)";
    n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
    fill = width > (int)n ? width - (int)n : 0;
    if (!(flags & FL_LEFT))
        out_repeat(o, ' ', fill);
    for (size_t i = 0; i < n; i++)
        out_char(o, s[i]);
    if (flags & FL_LEFT)
        out_repeat(o, ' ', fill);
}

static int parse_int(const char **pp)
{
    const char *p = *pp;
    int v = 0;

    while (*p >= '0' && *p <= '9')
        v = v * 10 + (*p++ - '0');
    *pp = p;
    return v;
}

int pv_vformat(pv_emit_fn emit, void *ctx, const char *fmt, va_list ap)
{
    struct sink o = { emit, ctx, 0 };
    const char *p = fmt;

    while (*p) {
        int flags = 0, width = 0, prec = -1;
        enum length len = LEN_INT;
        unsigned int base = 10;
        uint64_t uv;
        bool neg = false;
        const char *start = p;

        if (*p != '%') {
            out_char(&o, *p++);
            continue;
        }
        p++;

        for (;; p++) {
            if (*p == '-') flags |= FL_LEFT;
            else if (*p == '0') flags |= FL_ZERO;
            else if (*p == '+') flags |= FL_PLUS;
            else if (*p == ' ') flags |= FL_SPACE;
            else if (*p == '#') flags |= FL_ALT;
            else break;
        }
        if (*p == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                flags |= FL_LEFT;
                width = -width;
            }
            p++;
        } else {
            width = parse_int(&p);
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                prec = va_arg(ap, int);
                if (prec < 0)
                    prec = -1;
                p++;
            } else {
                prec = parse_int(&p);
            }
        }
        switch (*p) {
        case 'h':
            len = LEN_H;
            if (*++p == 'h') {
                len = LEN_HH;
                p++;
            }
            break;
        case 'l':
            len = LEN_L;
            if (*++p == 'l') {
                len = LEN_LL;
                p++;
            }
            break;
        case 'j':
            len = LEN_LL;
            p++;
            break;
        case 'z':
        case 't':
            len = LEN_L;
            p++;
            break;
        default:
            break;
        }

        switch (*p) {
        case 'd':
        case 'i': {
            int64_t sv;
            switch (len) {
            case LEN_LL: sv = va_arg(ap, long long); break;
            case LEN_L:  sv = va_arg(ap, long); break;
            case LEN_H:  sv = (short)va_arg(ap, int); break;
            case LEN_HH: sv = (signed char)va_arg(ap, int); break;
            default:     sv = va_arg(ap, int); break;
            }
            neg = sv < 0;
            uv = neg ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv;
            if (prec >= 0)
                flags &= ~FL_ZERO;
            out_number(&o, uv, neg, 10, flags, width, prec);
            break;
        }
        case 'X':
            flags |= FL_UPPER;
            /* fall through */
        case 'x':
            base = 16;
            goto unsigned_conv;
        case 'o':
            base = 8;
            goto unsigned_conv;
        case 'u':
        unsigned_conv:
            switch (len) {
            case LEN_LL: uv = va_arg(ap, unsigned long long); break;
            case LEN_L:  uv = va_arg(ap, unsigned long); break;
            case LEN_H:  uv = (unsigned short)va_arg(ap, unsigned int); break;
            case LEN_HH: uv = (unsigned char)va_arg(ap, unsigned int); break;
            default:     uv = va_arg(ap, unsigned int); break;
            }
            flags &= ~(FL_PLUS | FL_SPACE);
            if (prec >= 0)
                flags &= ~FL_ZERO;
            out_number(&o, uv, false, base, flags, width, prec);
            break;
        case 'p':
            uv = (uintptr_t)va_arg(ap, void *);
            flags = (flags & (FL_LEFT)) | FL_PTR;
            out_number(&o, uv, false, 16, flags, width, 2 * (int)sizeof(void *));
            break;
        case 'c': {
            char c = (char)va_arg(ap, int);
            int fill = width > 1 ? width - 1 : 0;
            if (!(flags & FL_LEFT))
                out_repeat(&o, ' ', fill);
            out_char(&o, c);
            if (flags & FL_LEFT)
                out_repeat(&o, ' ', fill);
            break;
        }
        case 's':
            out_text(&o, va_arg(ap, const char *), flags, width, prec);
            break;
        case '%':
            out_char(&o, '%');
            break;
        default:
            /* Unknown conversion (or the string ended): print it as written. */
            while (start < p)
                out_char(&o, *start++);
            if (*p == 0)
                return o.count;
            out_char(&o, *p);
            break;
        }
        p++;
    }
    return o.count;
}

struct strbuf {
    char *buf;
    size_t size;
    size_t pos;
};

static void strbuf_emit(void *ctx, char c)
{
    struct strbuf *b = ctx;

    if (b->pos + 1 < b->size)
        b->buf[b->pos] = c;
    b->pos++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct strbuf b = { buf, size, 0 };
    int n = pv_vformat(strbuf_emit, &b, fmt, ap);

    if (size > 0)
        buf[b.pos < size ? b.pos : size - 1] = 0;
    return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

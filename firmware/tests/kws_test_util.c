#include "kws_test_util.h"

#include <stdarg.h>

#include "kws_board.h"

typedef struct {
    char text[200];
    int len;
} line_t;

static void put_char(line_t *l, char ch)
{
    if (l->len < (int)sizeof(l->text) - 1) {
        l->text[l->len++] = ch;
    }
}

static void put_str(line_t *l, const char *s)
{
    while (*s != '\0') {
        put_char(l, *s++);
    }
}

static void put_unsigned(line_t *l, unsigned long long v, unsigned base)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v != 0);
    while (n > 0) {
        put_char(l, digits[--n]);
    }
}

static void put_signed(line_t *l, long long v)
{
    if (v < 0) {
        put_char(l, '-');
        put_unsigned(l, 0ull - (unsigned long long)v, 10);
    } else {
        put_unsigned(l, (unsigned long long)v, 10);
    }
}

void kws_printf(const char *fmt, ...)
{
    line_t l;
    va_list ap;

    l.len = 0;
    va_start(ap, fmt);
    for (; *fmt != '\0'; ++fmt) {
        int longs = 0;
        if (*fmt != '%') {
            put_char(&l, *fmt);
            continue;
        }
        ++fmt;
        while (*fmt == 'l') {
            ++longs;
            ++fmt;
        }
        switch (*fmt) {
        case 's':
            put_str(&l, va_arg(ap, const char *));
            break;
        case 'c':
            put_char(&l, (char)va_arg(ap, int));
            break;
        case 'd':
            put_signed(&l, longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int));
            break;
        case 'u':
        case 'x':
            put_unsigned(&l,
                         longs >= 2 ? va_arg(ap, unsigned long long)
                         : longs    ? va_arg(ap, unsigned long)
                                    : va_arg(ap, unsigned),
                         *fmt == 'x' ? 16u : 10u);
            break;
        case '%':
            put_char(&l, '%');
            break;
        default: /* unknown conversion, or a trailing '%' */
            put_char(&l, '?');
            if (*fmt == '\0') {
                --fmt;
            }
            break;
        }
    }
    va_end(ap);
    l.text[l.len] = '\0';
    kws_board_puts(l.text);
}

void kws_concat(char *dst, int cap, const char *a, const char *b, const char *c)
{
    const char *parts[3];
    int n = 0, i;
    parts[0] = a;
    parts[1] = b;
    parts[2] = c;
    for (i = 0; i < 3; ++i) {
        const char *s = parts[i];
        while (*s != '\0' && n < cap - 1) {
            dst[n++] = *s++;
        }
    }
    dst[n] = '\0';
}

int kws_streq(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

uint32_t kws_rand(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void calibration_loop(uint32_t n)
{
#if defined(__arm__)
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
#else
    volatile uint32_t v = n;
    while (v != 0) {
        v = v - 1;
    }
#endif
}

uint32_t kws_calibration_ticks(void)
{
    kws_board_timer_start();
    calibration_loop(KWS_CALIBRATION_ITERATIONS);
    return kws_board_timer_read();
}

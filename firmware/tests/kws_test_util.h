/* Small helpers shared by the firmware tests and the bench, written against kws_board.h only so the same
 * test binary runs on the host and on a board without stdio. */
#ifndef KWS_TEST_UTIL_H
#define KWS_TEST_UTIL_H

#include <stdint.h>

/* printf subset to the board console: %s %c %d %u %ld %lu %lld %llu %x and %%. */
void kws_printf(const char *fmt, ...);
/* dst = a + b + c (each may be ""), truncated to cap - 1 characters. */
void kws_concat(char *dst, int cap, const char *a, const char *b, const char *c);
int kws_streq(const char *a, const char *b);
/* xorshift32: the tests' deterministic random numbers. */
uint32_t kws_rand(uint32_t *state);

/* The benches' ruler: ticks of a loop of exactly KWS_CALIBRATION_INSTRUCTIONS Thumb-2 instructions
 * (subs + bne per iteration), to turn a board's ticks into instructions. */
#define KWS_CALIBRATION_ITERATIONS 200000u
#define KWS_CALIBRATION_INSTRUCTIONS (2ull * KWS_CALIBRATION_ITERATIONS)
uint32_t kws_calibration_ticks(void);

#endif /* KWS_TEST_UTIL_H */

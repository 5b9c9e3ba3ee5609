/* Real FFT of one windowed frame and its power spectrum (internal to the front end).
 *
 * features/mfcc.py real_fft(): the KWS_FFT_SIZE-point real FFT is a KWS_FFT_HALF-point complex radix-2 DIT
 * FFT of (even, odd) sample pairs plus a split step, int32 data without per-stage scaling, Q15 twiddles,
 * 64-bit products rounded back with (v + 2^14) >> 15. Every step here gives exactly those integers; how it
 * gets them faster (scaled data, moves for W = 1 and -j) is explained in kws_fft.c. */
#ifndef KWS_FFT_H
#define KWS_FFT_H

#include <stdint.h>

#include "kws_config.h"
#include "kws_frontend_tables.h"

/* One 8-byte slot per bin: complex int32 (re, im) * 16 during the FFT, then the int64 power of that bin
 * written in place, so spectrum and power share KWS_FFT_BINS * 8 bytes. Slot KWS_FFT_HALF only ever holds
 * the Nyquist bin's power. */
typedef union {
    int32_t c[2 * KWS_FFT_BINS];
    int64_t p[KWS_FFT_BINS];
} kws_fft_buf_t;

#define KWS_WINDOW_SHIFT (KWS_WINDOW_FRAC_BITS - KWS_WINDOW_OUT_FRAC_BITS)

/* x[n] * hann[n] rounded to Q(KWS_WINDOW_OUT_FRAC_BITS); 0 in the zero padding past the window.
 * |x * w| <= 2^30, so the int32 product and rounding cannot overflow. */
static inline int32_t kws_window_sample(const int16_t *x, int n)
{
    if (n >= KWS_WINDOW_SAMPLES) {
        return 0;
    }
    return ((int32_t)x[n] * kws_hann_window[n] + (1 << (KWS_WINDOW_SHIFT - 1))) >> KWS_WINDOW_SHIFT;
}

/* Window x, pack sample pairs as complex values in bit-reversed order and run the complex FFT. */
void kws_fft_forward(const int16_t x[KWS_WINDOW_SAMPLES], kws_fft_buf_t *buf);

/* Split step to the KWS_FFT_BINS bins of 2X, then |2X|^2 into buf->p. re / im (both or neither may be
 * NULL) receive 2X for the debug record. */
void kws_fft_power(kws_fft_buf_t *buf, int32_t *re, int32_t *im);

#endif /* KWS_FFT_H */

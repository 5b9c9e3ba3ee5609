/* tinykws integer MFCC front end, bit-exact with features/mfcc.py.
 *
 * Stateless per frame: a frame's features depend on its KWS_WINDOW_SAMPLES samples only. The streaming
 * state below only holds the samples of the window being filled, so a stream cut into any chunks gives the
 * frames of the whole clip: the first after KWS_WINDOW_SAMPLES samples, then one every KWS_HOP_SAMPLES.
 *
 * Memory: no malloc, no mutable globals. The caller owns kws_frontend_t (KWS_FRONTEND_STATE_BYTES);
 * kws_frontend_frame() keeps its FFT/power scratch (KWS_FRONTEND_SCRATCH_BYTES) and the mel/log/cepstrum
 * arrays on the stack. Every constant comes from the generated kws_config.h. */
#ifndef KWS_FRONTEND_H
#define KWS_FRONTEND_H

#include <stddef.h>
#include <stdint.h>

#include "kws_config.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KWS_OK 0
#define KWS_ERR_ARG (-1) /* NULL pointer or negative sample count */

/* Streaming state; treat as opaque, allocate anywhere (static, stack), initialise with kws_frontend_init. */
typedef struct {
    int16_t window[KWS_WINDOW_SAMPLES]; /* samples of the next frame, oldest first */
    int32_t fill;                       /* valid samples in window */
    int32_t skip;                       /* samples to drop before the next window (only if hop > window) */
    uint32_t frames;                    /* frames emitted since init */
} kws_frontend_t;

/* Every intermediate stage of one frame, named and typed as in features/mfcc.py frame_stages(). */
typedef struct {
    int32_t windowed[KWS_WINDOW_SAMPLES]; /* Q(KWS_WINDOW_OUT_FRAC_BITS) */
    int32_t fft_re[KWS_FFT_BINS];         /* 2 * DFT of the zero-padded frame */
    int32_t fft_im[KWS_FFT_BINS];
    int64_t power[KWS_FFT_BINS];          /* |2X|^2 */
    int64_t mel[KWS_NUM_MEL];             /* Q(KWS_MEL_WEIGHT_FRAC_BITS) sums */
    int16_t log_mel[KWS_NUM_MEL];         /* log2(mel + 1) in Q(KWS_LOG_FRAC_BITS) */
    int32_t cepstra[KWS_NUM_MFCC];        /* Q(KWS_DCT_FRAC_BITS) DCT of log_mel */
} kws_frontend_debug_t;

#define KWS_FRONTEND_STATE_BYTES (sizeof(kws_frontend_t))
/* The in-place FFT / power buffer on kws_frontend_frame's stack: one 8-byte slot per bin. */
#define KWS_FRONTEND_SCRATCH_BYTES ((size_t)KWS_FFT_BINS * 8u)

/* sizeof(kws_frontend_t) and sizeof(kws_frontend_debug_t), for callers that cannot see the header (ctypes). */
size_t kws_frontend_state_size(void);
size_t kws_frontend_debug_size(void);
/* KWS_FEATURE_HASH this library was built with: compare with the model's before running it. */
const char *kws_frontend_feature_hash(void);

/* Forget all audio (also the reset): the next frame is computed from the next KWS_WINDOW_SAMPLES samples. */
void kws_frontend_init(kws_frontend_t *s);

/* Consume samples until a frame completes or the chunk ends. Returns 1 when a frame completed (written to
 * out; *consumed samples of this chunk were used, call again with the rest), 0 when the whole chunk was
 * consumed without completing one (*consumed == n), KWS_ERR_ARG on bad arguments (*consumed = 0 if
 * consumed is not NULL). n == 0 is allowed and returns 0. */
int kws_frontend_push(kws_frontend_t *s, const int16_t *samples, int n, int *consumed,
                      int8_t out[KWS_NUM_MFCC]);

/* One frame from KWS_WINDOW_SAMPLES samples; dbg may be NULL, else it receives every intermediate stage. */
void kws_frontend_frame(const int16_t window[KWS_WINDOW_SAMPLES], int8_t out[KWS_NUM_MFCC],
                        kws_frontend_debug_t *dbg);

#ifdef __cplusplus
}
#endif

#endif /* KWS_FRONTEND_H */

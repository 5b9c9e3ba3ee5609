/* Integer MFCC front end: mel filterbank, log2, DCT, int8 quantisation and the streaming wrapper.
 * The FFT is in kws_fft.c. Each stage reproduces features/mfcc.py exactly: same integer widths, same
 * rounding (v + 2^(s-1)) >> s with an arithmetic shift. */
#include "kws_frontend.h"

#include "kws_fft.h"
#include "kws_frontend_tables.h"
#include "kws_stages.h"

#define LOG_MANT_MASK ((1u << KWS_LOG_MANTISSA_BITS) - 1u)
#define QUANT_ROUND ((int64_t)1 << (KWS_QUANT_SHIFT - 1))

size_t kws_frontend_state_size(void)
{
    return sizeof(kws_frontend_t);
}

size_t kws_frontend_debug_size(void)
{
    return sizeof(kws_frontend_debug_t);
}

const char *kws_frontend_feature_hash(void)
{
    return KWS_FEATURE_HASH;
}

/* acc + a * b in 64 bits. gcc does not form UMLAL from C on Cortex-M (it emits UMULL, ADDS, ADC and a move);
 * the one-instruction form saves ~2k instructions per frame in the mel sums. */
static inline uint64_t mac_u32(uint64_t acc, uint32_t a, uint32_t b)
{
#if defined(__GNUC__) && defined(__arm__) && (!defined(__thumb__) || defined(__thumb2__))
    uint32_t lo = (uint32_t)acc, hi = (uint32_t)(acc >> 32);
    __asm__("umlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(a), "r"(b));
    return ((uint64_t)hi << 32) | lo;
#else
    return acc + (uint64_t)a * b;
#endif
}

/* Q8 triangular filters over each band's non-zero bins. power < 2^52 and weights are in 0..2^8, so every
 * product and sum is non-negative and below 2^61, and a sum computed modulo 2^64 is the exact one. So the
 * low 32-bit halves of the power go through a 64-bit multiply-accumulate and the high halves through a
 * wrapping 32-bit one, of which only the low word matters once shifted up by 32. */
static void mel_energies(const int64_t power[KWS_FFT_BINS], int64_t mel[KWS_NUM_MEL])
{
    const uint16_t *w = kws_mel_weights;
    int m, i;

    for (m = 0; m < KWS_NUM_MEL; ++m) {
        const int64_t *p = power + kws_mel_first_bin[m];
        const int n = kws_mel_num_bins[m];
        uint64_t lo = 0;
        uint32_t hi = 0;
        for (i = 0; i < n; ++i) {
            const uint64_t v = (uint64_t)p[i];
            lo = mac_u32(lo, (uint32_t)v, w[i]);
            hi += (uint32_t)(v >> 32) * w[i];
        }
        w += n;
        mel[m] = (int64_t)(lo + ((uint64_t)hi << 32));
    }
}

static int clz32(uint32_t v) /* v > 0 */
{
#if defined(__GNUC__)
    return __builtin_clz(v);
#else
    int n = 0;
    while (!(v & 0x80000000u)) {
        v <<= 1;
        ++n;
    }
    return n;
#endif
}

/* log2(E + 1) in Q(KWS_LOG_FRAC_BITS): MSB position plus a table of the KWS_LOG_MANTISSA_BITS bits below
 * it, zero-filled when the MSB is lower than that (mfcc.log2_q's two cases are the same bits). Done on
 * 32-bit words: `top` is E + 1 shifted so that its MSB is bit 31. E < 2^61, so E + 1 does not overflow and
 * msb * 2^6 + table < 2^12 fits int16. */
static int16_t log2_q(int64_t energy)
{
    const uint64_t v = (uint64_t)energy + 1u;
    const uint32_t hi = (uint32_t)(v >> 32), lo = (uint32_t)v;
    uint32_t top;
    int msb, n;

    if (hi != 0) {
        n = clz32(hi);
        top = n ? (hi << n) | (lo >> (32 - n)) : hi;
        msb = 63 - n;
    } else {
        n = clz32(lo);
        top = lo << n;
        msb = 31 - n;
    }
    return (int16_t)(msb * (1 << KWS_LOG_FRAC_BITS) +
                     kws_log2_table[(top >> (31 - KWS_LOG_MANTISSA_BITS)) & LOG_MANT_MASK]);
}

/* Q12 DCT-II with int32 sums (|sum| < KWS_NUM_MEL * 2^12 * 2^12 < 2^31). Row j of the table is symmetric
 * for even j and antisymmetric for odd j, exactly (codegen checks it), so each coefficient needs only half
 * the products: the sum over the band pairs (m, M-1-m) of (x[m] +- x[M-1-m]) * d[j][m] is the same
 * integer. */
#define HALF_MEL (KWS_NUM_MEL / 2)
static void dct(const int16_t log_mel[KWS_NUM_MEL], int32_t cep[KWS_NUM_MFCC])
{
    int16_t sum[HALF_MEL], diff[HALF_MEL];
    int j, m;

    for (m = 0; m < HALF_MEL; ++m) {
        /* log_mel < 2^12: pair sums and differences fit int16 */
        sum[m] = (int16_t)(log_mel[m] + log_mel[KWS_NUM_MEL - 1 - m]);
        diff[m] = (int16_t)(log_mel[m] - log_mel[KWS_NUM_MEL - 1 - m]);
    }
    for (j = 0; j < KWS_NUM_MFCC; ++j) {
        const int16_t *row = kws_dct_matrix[j];
        const int16_t *x = (j & 1) ? diff : sum;
        int32_t acc = 0;
        for (m = 0; m < HALF_MEL; ++m) {
            acc += (int32_t)x[m] * row[m];
        }
#if KWS_NUM_MEL % 2
        acc += (int32_t)log_mel[HALF_MEL] * row[HALF_MEL]; /* the middle band pairs with itself */
#endif
        cep[j] = acc;
    }
}

static int8_t quantize(int32_t c, int j)
{
    const int64_t q = (((int64_t)c * kws_quant_multipliers[j] + QUANT_ROUND) >> KWS_QUANT_SHIFT) +
                      kws_quant_zero_points[j];
    if (q < INT8_MIN) {
        return INT8_MIN;
    }
    if (q > INT8_MAX) {
        return INT8_MAX;
    }
    return (int8_t)q;
}

/* Out-of-line entry points of the static stages, for the tests (kws_stages.h). */
void kws_stage_mel(const int64_t power[KWS_FFT_BINS], int64_t mel[KWS_NUM_MEL])
{
    mel_energies(power, mel);
}

int16_t kws_stage_log2(int64_t energy)
{
    return log2_q(energy);
}

void kws_stage_dct(const int16_t log_mel[KWS_NUM_MEL], int32_t cep[KWS_NUM_MFCC])
{
    dct(log_mel, cep);
}

int8_t kws_stage_quantize(int32_t cepstrum, int coefficient)
{
    return quantize(cepstrum, coefficient);
}

void kws_frontend_frame(const int16_t window[KWS_WINDOW_SAMPLES], int8_t out[KWS_NUM_MFCC],
                        kws_frontend_debug_t *dbg)
{
    kws_fft_buf_t buf;
    int64_t mel[KWS_NUM_MEL];
    int16_t log_mel[KWS_NUM_MEL];
    int32_t cep[KWS_NUM_MFCC];
    int i;

    kws_fft_forward(window, &buf);
    kws_fft_power(&buf, dbg ? dbg->fft_re : 0, dbg ? dbg->fft_im : 0);
    mel_energies(buf.p, mel);
    for (i = 0; i < KWS_NUM_MEL; ++i) {
        log_mel[i] = log2_q(mel[i]);
    }
    dct(log_mel, cep);
    for (i = 0; i < KWS_NUM_MFCC; ++i) {
        out[i] = quantize(cep[i], i);
    }
    if (dbg) {
        for (i = 0; i < KWS_WINDOW_SAMPLES; ++i) {
            dbg->windowed[i] = kws_window_sample(window, i);
        }
        for (i = 0; i < KWS_FFT_BINS; ++i) {
            dbg->power[i] = buf.p[i];
        }
        for (i = 0; i < KWS_NUM_MEL; ++i) {
            dbg->mel[i] = mel[i];
            dbg->log_mel[i] = log_mel[i];
        }
        for (i = 0; i < KWS_NUM_MFCC; ++i) {
            dbg->cepstra[i] = cep[i];
        }
    }
}

void kws_frontend_init(kws_frontend_t *s)
{
    int i;

    if (s == 0) {
        return;
    }
    for (i = 0; i < KWS_WINDOW_SAMPLES; ++i) {
        s->window[i] = 0;
    }
    s->fill = 0;
    s->skip = 0;
    s->frames = 0;
}

/* After a frame the next window starts KWS_HOP_SAMPLES later: keep the overlap, or skip the gap. */
static void advance(kws_frontend_t *s)
{
#if KWS_HOP_SAMPLES < KWS_WINDOW_SAMPLES
    int i;
    for (i = 0; i < KWS_WINDOW_SAMPLES - KWS_HOP_SAMPLES; ++i) {
        s->window[i] = s->window[i + KWS_HOP_SAMPLES];
    }
    s->fill = KWS_WINDOW_SAMPLES - KWS_HOP_SAMPLES;
#else
    s->fill = 0;
    s->skip = KWS_HOP_SAMPLES - KWS_WINDOW_SAMPLES;
#endif
    s->frames++;
}

int kws_frontend_push(kws_frontend_t *s, const int16_t *samples, int n, int *consumed,
                      int8_t out[KWS_NUM_MFCC])
{
    int used = 0;

    if (consumed != 0) {
        *consumed = 0;
    }
    if (s == 0 || consumed == 0 || out == 0 || n < 0 || (n > 0 && samples == 0)) {
        return KWS_ERR_ARG;
    }
    while (used < n) {
        int take, i;
        if (s->skip > 0) {
            take = n - used < s->skip ? n - used : s->skip;
            s->skip -= take;
            used += take;
            continue;
        }
        take = KWS_WINDOW_SAMPLES - s->fill;
        if (take > n - used) {
            take = n - used;
        }
        for (i = 0; i < take; ++i) {
            s->window[s->fill + i] = samples[used + i];
        }
        s->fill += take;
        used += take;
        if (s->fill == KWS_WINDOW_SAMPLES) {
            kws_frontend_frame(s->window, out, 0);
            advance(s);
            *consumed = used;
            return 1;
        }
    }
    *consumed = used;
    return 0;
}

/* int8 kernels: one output frame per call. See kws_kernels.h for the arithmetic and the two code paths, and
 * kws_model_types.h for the weight layout. */
#include "kws_kernels.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && !defined(KWS_NO_DSP)
#define KWS_USE_DSP 1
#else
#define KWS_USE_DSP 0
#endif

/* The rounding below relies on >> of a negative value being an arithmetic shift (gcc, clang, armcc). */
typedef char kws_check_arithmetic_shift[((-8) >> 1) == -4 ? 1 : -1];

/* Output channels whose accumulators are computed before the output stage runs over them (stack: 4 bytes
 * each; fewer, larger blocks mean fewer calls). */
#define BLOCK 32

int kws_kernels_dsp(void)
{
    return KWS_USE_DSP;
}

/* --- requantisation ---------------------------------------------------------------------------------- */

/* gemmlowp SaturatingRoundingDoublingHighMul: round(a * b / 2^31) with ties toward +infinity, which for a
 * 64-bit product is (a * b + 2^30) >> 31; only INT32_MIN * INT32_MIN overflows and saturates. */
static inline int32_t srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero, 0 <= e <= 31. */
static inline int32_t rdbpot(int32_t x, int32_t e)
{
    const int32_t mask = (int32_t)((1u << e) - 1u);
    const int32_t threshold = (mask >> 1) + (x < 0);
    return (x >> e) + ((x & mask) > threshold);
}

int32_t kws_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int64_t scaled = (int64_t)acc * ((int64_t)1 << left);
    const int32_t x = scaled > INT32_MAX ? INT32_MAX : scaled < INT32_MIN ? INT32_MIN : (int32_t)scaled;
    return rdbpot(srdhm(x, multiplier), shift > 0 ? 0 : -shift);
}

/* SRDHM without saturation for |a| < 2^30: floor((a * b + 2^30) / 2^31) = floor((2a * b + 2^31) / 2^32),
 * which is SMMULR(2a, b) on the DSP extension (one instruction instead of a 64-bit multiply-add). */
static inline int32_t srdhm_bounded(int32_t a, int32_t b)
{
#if KWS_USE_DSP
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a * 2), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
#endif
}

/* kws_requantize under the exporter's bounds (multiplier >= 0, |acc| * 2^max(shift, 0) < 2^29):
 *   r = SRDHM(acc * 2^left, m)                        never saturates: m >= 0 is never INT32_MIN
 *   out = (r + 2^(e-1) - [r < 0]) >> e  for e >= 1    RDBPOT, ties away from zero; r for e = 0
 * ([r < 0] tested through acc, which has r's sign whenever r != 0, and r = 0 gives 0 either way). */
static inline int32_t requantize_bounded(int32_t acc, int32_t multiplier, int32_t shift)
{
    if (shift <= 0) {
        const int32_t e = -shift;
        const int32_t r = srdhm_bounded(acc, multiplier);
        return e == 0 ? r : (r + (int32_t)(1u << (e - 1)) + (acc >> 31)) >> e;
    }
    return srdhm_bounded((int32_t)((uint32_t)acc << shift), multiplier);
}

int32_t kws_requantize_bounded(int32_t acc, int32_t multiplier, int32_t shift)
{
    return requantize_bounded(acc, multiplier, shift);
}

#if KWS_USE_DSP
/* The fused-ReLU output stage with act_min == zero point (every tinykws layer but the classifier), per
 * channel: acc <= 0 gives zp; else e = -shift (a left shift, shift > 0, is applied first and e = 0),
 * r = SMMULR(2 acc, m), v = min((r + ((1 << e) >> 1)) >> e + zp, hi). 20 instructions per positive channel,
 * 8 per clamped one; gcc's code for the same C takes 27 and 10. n >= 1. */
static void output_relu(const int32_t *acc, const int32_t *m, const int8_t *sh, int32_t n, int32_t zp, int32_t hi,
                        int8_t *out)
{
    const int32_t one = 1;
    int32_t a, e, t;
    __asm__ volatile(
        "1:\n\t"
        "ldr %[a], [%[acc]], #4\n\t"
        "ldrsb %[e], [%[sh]], #1\n\t"
        "ldr %[t], [%[m]], #4\n\t"
        "cmp %[a], #0\n\t"
        "ble 3f\n\t"
        "rsbs %[e], %[e], #0\n\t"
        "bpl 2f\n\t"
        "rsb %[e], %[e], #0\n\t"
        "lsl %[a], %[a], %[e]\n\t"
        "movs %[e], #0\n\t"
        "2:\n\t"
        "lsl %[a], %[a], #1\n\t"
        "smmulr %[a], %[a], %[t]\n\t"
        "lsl %[t], %[one], %[e]\n\t"
        "add %[a], %[a], %[t], lsr #1\n\t"
        "asr %[a], %[a], %[e]\n\t"
        "add %[a], %[a], %[zp]\n\t"
        "cmp %[a], %[hi]\n\t"
        "it gt\n\t"
        "movgt %[a], %[hi]\n\t"
        "strb %[a], [%[out]], #1\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "b 4f\n\t"
        "3:\n\t"
        "strb %[zp], [%[out]], #1\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "4:"
        : [acc] "+&r"(acc), [m] "+&r"(m), [sh] "+&r"(sh), [out] "+&r"(out), [n] "+&r"(n), [a] "=&r"(a),
          [e] "=&r"(e), [t] "=&r"(t)
        : [zp] "r"(zp), [hi] "r"(hi), [one] "r"(one)
        : "cc", "memory");
}
#endif

/* Output stage of channels c0 .. c0 + n - 1: requantise, add the zero point, clamp; the layer's constants in
 * locals (int8 stores may alias anything: fields read through `l` would be reloaded after every output).
 * With a fused ReLU (act_min >= zero point) and multipliers >= 0, an accumulator <= 0 can only give act_min,
 * and a positive one has r >= 0, whose rounding needs no sign term: (r + ((1 << e) >> 1)) >> e. */
static void output_stage(const kws_layer_t *l, int32_t c0, const int32_t *acc, int32_t n, int8_t *out)
{
    const int32_t *m = l->multiplier + c0;
    const int8_t *sh = l->shift + c0;
    const int32_t zp = l->output_zero_point, lo = l->act_min, hi = l->act_max;
    int32_t i;

    if (lo < zp) {
        for (i = 0; i < n; ++i) {
            int32_t v = requantize_bounded(acc[i], m[i], sh[i]) + zp;
            v = v < lo ? lo : v;
            out[i] = (int8_t)(v > hi ? hi : v);
        }
        return;
    }
#if KWS_USE_DSP
    if (lo == zp && n > 0) {
        output_relu(acc, m, sh, n, zp, hi, out);
        return;
    }
#endif
    for (i = 0; i < n; ++i) {
        const int32_t a = acc[i], s = sh[i];
        int32_t v;
        if (a <= 0) {
            out[i] = (int8_t)lo;
            continue;
        }
        if (s <= 0) {
            v = (srdhm_bounded(a, m[i]) + (int32_t)((1u << -s) >> 1)) >> -s;
        } else {
            v = requantize_bounded(a, m[i], s);
        }
        v += zp;
        v = v < lo ? lo : v;
        out[i] = (int8_t)(v > hi ? hi : v);
    }
}

/* --- conv: dot products of the gathered input row with each output channel's weight row ------------------- */

#if KWS_USE_DSP
static inline uint32_t read_word(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v)); /* one (unaligned-capable) LDR on Cortex-M4; no aliasing question */
    return v;
}

/* SXTB16: bytes 0 and 2 sign-extended into the two halfwords; with ROR #8, bytes 1 and 3. */
static inline uint32_t sxtb16(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}

static inline uint32_t sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* SMLAD: acc + lo(a) * lo(b) + hi(a) * hi(b), signed halfwords. */
static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Row bytes -> halfword pairs in the weights' order: (x0, x2), (x1, x3) for every 4 bytes. */
static void pack_pairs(const int8_t *row, int32_t row_bytes, uint32_t *pairs)
{
    int32_t i;
    for (i = 0; i < row_bytes; i += 4) {
        const uint32_t v = read_word(row + i);
        pairs[0] = sxtb16(v);
        pairs[1] = sxtb16_ror8(v);
        pairs += 2;
    }
}

/* Four output channels: 4 input bytes (one pair of words, loaded once) times 4 weight pairs each per step,
 * 16 MACs in 15 instructions. Assembly because gcc spills the accumulators of the same loop written in C.
 * `words` >= 1. */
static inline void dot4(const uint32_t *x, const int16_t *w, int32_t words, int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    uint32_t xe, xo, we, wo;
    __asm__ volatile(
        "1:\n\t"
        "ldrd %[xe], %[xo], [%[x]], #8\n\t"
        "ldrd %[we], %[wo], [%[w]], #8\n\t"
        "smlad %[a0], %[xe], %[we], %[a0]\n\t"
        "smlad %[a0], %[xo], %[wo], %[a0]\n\t"
        "ldrd %[we], %[wo], [%[w]], #8\n\t"
        "smlad %[a1], %[xe], %[we], %[a1]\n\t"
        "smlad %[a1], %[xo], %[wo], %[a1]\n\t"
        "ldrd %[we], %[wo], [%[w]], #8\n\t"
        "smlad %[a2], %[xe], %[we], %[a2]\n\t"
        "smlad %[a2], %[xo], %[wo], %[a2]\n\t"
        "ldrd %[we], %[wo], [%[w]], #8\n\t"
        "smlad %[a3], %[xe], %[we], %[a3]\n\t"
        "smlad %[a3], %[xo], %[wo], %[a3]\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b"
        : [a0] "+&r"(a0), [a1] "+&r"(a1), [a2] "+&r"(a2), [a3] "+&r"(a3), [x] "+&r"(x), [w] "+&r"(w),
          [n] "+&r"(words), [xe] "=&r"(xe), [xo] "=&r"(xo), [we] "=&r"(we), [wo] "=&r"(wo)
        :
        : "cc", "memory");
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

static int32_t dot1(const uint32_t *x, const int16_t *w, int32_t words, int32_t acc)
{
    int32_t i;
    uint32_t pair[2];
    for (i = 0; i < words; ++i, x += 2, w += 4) {
        memcpy(pair, w, sizeof(pair));
        acc = smlad(x[0], pair[0], acc);
        acc = smlad(x[1], pair[1], acc);
    }
    return acc;
}
#else
/* Portable: the same sums in the same weight order, one MAC at a time. (x is the row itself.) */
static void dot4(const int8_t *x, const int16_t *w, int32_t words, int32_t *acc)
{
    int32_t j, q;
    for (j = 0; j < words; ++j, x += 4) {
        for (q = 0; q < 4; ++q, w += 4) {
            acc[q] += x[0] * w[0] + x[2] * w[1] + x[1] * w[2] + x[3] * w[3];
        }
    }
}

static int32_t dot1(const int8_t *x, const int16_t *w, int32_t words, int32_t acc)
{
    int32_t j;
    for (j = 0; j < words; ++j, x += 4, w += 4) {
        acc += x[0] * w[0] + x[2] * w[1] + x[1] * w[2] + x[3] * w[3];
    }
    return acc;
}
#endif

static void conv_row(const kws_layer_t *l, const int8_t *row, uint32_t *scratch, int8_t *out)
{
    const int32_t words = l->row_bytes / 4, cout = l->out_channels;
    const int16_t *w = l->weights;
    int32_t acc[BLOCK];
    int32_t c = 0, q;
#if KWS_USE_DSP
    const uint32_t *x = scratch;
    pack_pairs(row, l->row_bytes, scratch);
#else
    const int8_t *x = row;
    (void)scratch;
#endif
    while (c + 4 <= cout) {
        const int32_t n = cout - c >= BLOCK ? BLOCK : (cout - c) / 4 * 4;
        for (q = 0; q < n; q += 4, w += 4 * l->row_bytes) {
            acc[q] = l->bias[c + q];
            acc[q + 1] = l->bias[c + q + 1];
            acc[q + 2] = l->bias[c + q + 2];
            acc[q + 3] = l->bias[c + q + 3];
            dot4(x, w, words, acc + q);
        }
        output_stage(l, c, acc, n, out + c);
        c += n;
    }
    for (; c < cout; ++c, w += l->row_bytes) { /* the last out_channels % 4 rows */
        acc[0] = dot1(x, w, words, l->bias[c]);
        output_stage(l, c, acc, 1, out + c);
    }
}

/* --- layers ------------------------------------------------------------------------------------------------ */

/* Scratch: row_bytes / 2 words of halfword pairs (DSP path), then the gathered row of a multi-tap conv. */
int32_t kws_conv_scratch_words(const kws_layer_t *l)
{
    return l->row_bytes / 2 + l->row_bytes / 4;
}

void kws_conv_frame(const kws_layer_t *l, const int8_t *const taps[], uint32_t *scratch, int8_t *out)
{
    /* The taps of one output frame laid end to end (tap-major, as the weight rows), zero-padded. */
    int8_t *row = (int8_t *)(scratch + l->row_bytes / 2);
    const int32_t cin = l->in_channels;
    int32_t k, i;

    if (l->kernel == 1 && l->row_bytes == cin) {
        conv_row(l, taps[0], scratch, out);
        return;
    }
    for (k = 0; k < l->kernel; ++k) {
        memcpy(row + k * cin, taps[k], (size_t)cin);
    }
    for (i = l->kernel * cin; i < l->row_bytes; ++i) {
        row[i] = 0;
    }
    conv_row(l, row, scratch, out);
}

void kws_conv1x1_frame(const kws_layer_t *l, const int8_t *in, uint32_t *scratch, int8_t *out)
{
    conv_row(l, in, scratch, out);
}

/* --- depthwise ---------------------------------------------------------------------------------------------- */

void kws_depthwise_frame(const kws_layer_t *l, const int8_t *const taps[], int8_t *out)
{
    const int32_t kernel = l->kernel, cout = l->out_channels;
    const int16_t *w = l->weights;
    const int32_t *bias = l->bias;
    int32_t acc[BLOCK];
    int32_t c, q, k;

    for (c = 0; c < cout; c += BLOCK) {
        const int32_t n = cout - c < BLOCK ? cout - c : BLOCK;
        if (kernel == 3) { /* the block kernel of every tinykws model: taps unrolled */
            const int8_t *t0 = taps[0] + c, *t1 = taps[1] + c, *t2 = taps[2] + c;
            for (q = 0; q < n; ++q, w += 3) {
                acc[q] = bias[c + q] + t0[q] * w[0] + t1[q] * w[1] + t2[q] * w[2];
            }
        } else {
            for (q = 0; q < n; ++q, w += kernel) {
                acc[q] = bias[c + q];
                for (k = 0; k < kernel; ++k) {
                    acc[q] += taps[k][c + q] * w[k];
                }
            }
        }
        output_stage(l, c, acc, n, out + c);
    }
}

/* --- average pool ------------------------------------------------------------------------------------------- */

void kws_average_ring(int32_t *sums, int8_t *oldest, const int8_t *in, int32_t channels, int32_t frames,
                      int8_t *out)
{
    const int32_t half = frames / 2;
    int32_t c;

    /* No clamp needed: the mean of int8 values rounds into [-128, 127] (|s| <= 128 * frames). */
    for (c = 0; c < channels; ++c) {
        const int32_t s = sums[c] + in[c] - oldest[c];
        sums[c] = s;
        oldest[c] = in[c];
        out[c] = (int8_t)((s > 0 ? s + half : s - half) / frames); /* C division truncates: ties away from 0 */
    }
}

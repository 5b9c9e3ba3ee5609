/* Fuzz target: the int8 kernels (kws_kernels.h) against plain reference arithmetic written here.
 *
 * Byte 0 picks the kernel:
 *   0  kws_requantize on (acc, multiplier, shift) triples, against gemmlowp's own formulation (a truncating
 *      division with a sign-dependent nudge, round half away from zero via |x|), and kws_requantize_bounded
 *      against kws_requantize wherever the exporter's bounds hold;
 *   1  kws_conv_frame (and kws_conv1x1_frame) on a random layer: weights laid out by a packer written from
 *      kws_model_types.h, compared with a naive per-channel dot product + kws_requantize + clamp;
 *   2  kws_depthwise_frame likewise (kernel 3 has its own unrolled path);
 *   3  kws_average_ring over a stream of frames, against the mean of the last `frames` frames.
 * Layers respect what the exporter guarantees (deploy/c_export.py _check_layer): int8 weights, multipliers
 * >= 0, shifts in -31..30, |bias| + 128 * sum|w| shifted left by the shift below 2^29. Every buffer is
 * malloc'd at its exact size so that ASan sees a read or write one byte past it. */
#include <string.h>

#include "fuzz_input.h"
#include "kws_kernels.h"

#define ACC_LIMIT ((int64_t)1 << 29)
#define MAX_CHANNELS 70 /* crosses the kernels' 32-channel blocks twice, plus a remainder of 4 */
#define MAX_KERNEL 5
#define MAX_CONV_IN 24
#define MAX_POOL_FRAMES 64

/* gemmlowp SaturatingRoundingDoublingHighMul as first written: nudge, then division truncating to zero. */
static int32_t ref_srdhm(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^e rounded to nearest, ties away from zero, on the magnitude. */
static int32_t ref_round_shift(int32_t x, int32_t e)
{
    int64_t mag = x < 0 ? -(int64_t)x : x;
    if (e == 0) {
        return x;
    }
    mag = (mag + ((int64_t)1 << (e - 1))) >> e;
    return (int32_t)(x < 0 ? -mag : mag);
}

static int32_t ref_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int64_t scaled = (int64_t)acc * ((int64_t)1 << (shift > 0 ? shift : 0));
    const int32_t x = (int32_t)(scaled > INT32_MAX ? INT32_MAX : scaled < INT32_MIN ? INT32_MIN : scaled);
    return ref_round_shift(ref_srdhm(x, multiplier), shift > 0 ? 0 : -shift);
}

static void fuzz_requantize(fuzz_input_t *in)
{
    while (in->left >= 9) {
        const int32_t acc = (int32_t)fuzz_u32(in), multiplier = (int32_t)fuzz_u32(in);
        const int32_t shift = fuzz_small(in, -31, 30);
        const int32_t r = kws_requantize(acc, multiplier, shift);
        const int64_t magnitude = acc < 0 ? -(int64_t)acc : acc;
        FUZZ_CHECK(r == ref_requantize(acc, multiplier, shift));
        if (multiplier >= 0 && (magnitude << (shift > 0 ? shift : 0)) < ACC_LIMIT) {
            FUZZ_CHECK(kws_requantize_bounded(acc, multiplier, shift) == r);
        }
    }
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes > 0 ? bytes : 1);
    FUZZ_CHECK(p != NULL);
    return p;
}

/* A layer's per-channel constants within the exporter's accumulator bound; weight_abs[c] = sum |w| of c. */
static void fill_output_stage(fuzz_input_t *in, kws_layer_t *l, const int64_t *weight_abs, int32_t *bias,
                              int32_t *multiplier, int8_t *shift)
{
    int32_t c, a, b;
    for (c = 0; c < l->out_channels; ++c) {
        const int64_t bound = 128 * weight_abs[c];
        int32_t s = fuzz_small(in, -31, 30);
        int64_t room;
        while (s > 0 && (bound << s) >= ACC_LIMIT) {
            --s;
        }
        room = ((ACC_LIMIT - 1) >> (s > 0 ? s : 0)) - bound; /* (|bias| + bound) << s < 2^29 */
        FUZZ_CHECK(room >= 0);
        bias[c] = (int32_t)fuzz_range(in, -room, room);
        multiplier[c] = (int32_t)(fuzz_u32(in) & 0x7fffffffu);
        shift[c] = (int8_t)s;
    }
    l->output_zero_point = (int8_t)fuzz_u8(in);
    a = (int8_t)fuzz_u8(in);
    b = (int8_t)fuzz_u8(in);
    l->act_min = a < b ? a : b;
    l->act_max = a < b ? b : a;
    l->bias = bias;
    l->multiplier = multiplier;
    l->shift = shift;
}

static int8_t ref_output(const kws_layer_t *l, int32_t c, int32_t acc)
{
    int32_t v = kws_requantize(acc, l->multiplier[c], l->shift[c]) + l->output_zero_point;
    v = v < l->act_min ? l->act_min : v;
    return (int8_t)(v > l->act_max ? l->act_max : v);
}

/* Natural rows (cout x row_bytes, zero-padded) -> the kernels' order: 4-byte groups as bytes 0 2 1 3, and
 * blocks of 4 channels interleaved per group, the last cout % 4 rows plain (kws_model_types.h). */
static void pack_conv(const int8_t *rows, int32_t cout, int32_t row_bytes, int16_t *packed)
{
    static const int order[4] = {0, 2, 1, 3};
    const int32_t blocks = cout / 4 * 4;
    int32_t c, w, q, p, n = 0;
    for (c = 0; c < blocks; c += 4) {
        for (w = 0; w < row_bytes; w += 4) {
            for (q = 0; q < 4; ++q) {
                for (p = 0; p < 4; ++p) {
                    packed[n++] = rows[(c + q) * row_bytes + w + order[p]];
                }
            }
        }
    }
    for (c = blocks; c < cout; ++c) {
        for (w = 0; w < row_bytes; w += 4) {
            for (p = 0; p < 4; ++p) {
                packed[n++] = rows[c * row_bytes + w + order[p]];
            }
        }
    }
}

static int8_t **make_taps(fuzz_input_t *in, int32_t kernel, int32_t channels)
{
    int8_t **taps = xmalloc(sizeof(*taps) * (size_t)kernel);
    int32_t k, i;
    for (k = 0; k < kernel; ++k) {
        taps[k] = xmalloc((size_t)channels);
        for (i = 0; i < channels; ++i) {
            taps[k][i] = (int8_t)fuzz_u8(in);
        }
    }
    return taps;
}

static void free_taps(int8_t **taps, int32_t kernel)
{
    int32_t k;
    for (k = 0; k < kernel; ++k) {
        free(taps[k]);
    }
    free(taps);
}

static void fuzz_conv(fuzz_input_t *in)
{
    kws_layer_t l;
    const int32_t kernel = fuzz_small(in, 1, MAX_KERNEL), cin = fuzz_small(in, 1, MAX_CONV_IN);
    const int32_t cout = fuzz_small(in, 1, MAX_CHANNELS), row_bytes = (kernel * cin + 3) / 4 * 4;
    int8_t *rows = xmalloc((size_t)(cout * row_bytes)), *out = xmalloc((size_t)cout);
    int16_t *packed = xmalloc(sizeof(int16_t) * (size_t)(cout * row_bytes));
    int32_t *bias = xmalloc(sizeof(int32_t) * (size_t)cout), *multiplier = xmalloc(sizeof(int32_t) * (size_t)cout);
    int8_t *shift = xmalloc((size_t)cout), **taps;
    int64_t weight_abs[MAX_CHANNELS];
    uint32_t *scratch;
    int32_t c, i;

    memset(&l, 0, sizeof(l));
    l.kind = KWS_LAYER_CONV;
    l.kernel = kernel;
    l.dilation = 1;
    l.in_channels = cin;
    l.out_channels = cout;
    l.row_bytes = row_bytes;
    for (c = 0; c < cout; ++c) {
        weight_abs[c] = 0;
        for (i = 0; i < row_bytes; ++i) {
            const int8_t w = i < kernel * cin ? (int8_t)fuzz_u8(in) : 0;
            rows[c * row_bytes + i] = w;
            weight_abs[c] += w < 0 ? -w : w;
        }
    }
    pack_conv(rows, cout, row_bytes, packed);
    l.weights = packed;
    fill_output_stage(in, &l, weight_abs, bias, multiplier, shift);
    taps = make_taps(in, kernel, cin);
    scratch = xmalloc(sizeof(uint32_t) * (size_t)kws_conv_scratch_words(&l));

    kws_conv_frame(&l, (const int8_t *const *)taps, scratch, out);
    for (c = 0; c < cout; ++c) {
        int32_t acc = bias[c], k;
        for (k = 0; k < kernel; ++k) {
            for (i = 0; i < cin; ++i) {
                acc += taps[k][i] * rows[c * row_bytes + k * cin + i];
            }
        }
        FUZZ_CHECK(out[c] == ref_output(&l, c, acc));
    }
    if (kernel == 1 && cin % 4 == 0) {
        int8_t *again = xmalloc((size_t)cout);
        kws_conv1x1_frame(&l, taps[0], scratch, again);
        FUZZ_CHECK(memcmp(again, out, (size_t)cout) == 0);
        free(again);
    }
    free_taps(taps, kernel);
    free(scratch);
    free(rows);
    free(out);
    free(packed);
    free(bias);
    free(multiplier);
    free(shift);
}

static void fuzz_depthwise(fuzz_input_t *in)
{
    kws_layer_t l;
    const int32_t kernel = fuzz_small(in, 1, MAX_KERNEL), channels = fuzz_small(in, 1, MAX_CHANNELS);
    int16_t *weights = xmalloc(sizeof(int16_t) * (size_t)(channels * kernel));
    int32_t *bias = xmalloc(sizeof(int32_t) * (size_t)channels);
    int32_t *multiplier = xmalloc(sizeof(int32_t) * (size_t)channels);
    int8_t *shift = xmalloc((size_t)channels), *out = xmalloc((size_t)channels), **taps;
    int64_t weight_abs[MAX_CHANNELS];
    int32_t c, k;

    memset(&l, 0, sizeof(l));
    l.kind = KWS_LAYER_DEPTHWISE;
    l.kernel = kernel;
    l.dilation = 1;
    l.in_channels = channels;
    l.out_channels = channels;
    l.row_bytes = kernel;
    for (c = 0; c < channels; ++c) {
        weight_abs[c] = 0;
        for (k = 0; k < kernel; ++k) {
            const int8_t w = (int8_t)fuzz_u8(in);
            weights[c * kernel + k] = w;
            weight_abs[c] += w < 0 ? -w : w;
        }
    }
    l.weights = weights;
    fill_output_stage(in, &l, weight_abs, bias, multiplier, shift);
    taps = make_taps(in, kernel, channels);

    kws_depthwise_frame(&l, (const int8_t *const *)taps, out);
    for (c = 0; c < channels; ++c) {
        int32_t acc = bias[c];
        for (k = 0; k < kernel; ++k) {
            acc += taps[k][c] * weights[c * kernel + k];
        }
        FUZZ_CHECK(out[c] == ref_output(&l, c, acc));
    }
    free_taps(taps, kernel);
    free(weights);
    free(bias);
    free(multiplier);
    free(shift);
    free(out);
}

static void fuzz_average(fuzz_input_t *in)
{
    const int32_t channels = fuzz_small(in, 1, MAX_CHANNELS), frames = fuzz_small(in, 1, MAX_POOL_FRAMES);
    int32_t *sums = xmalloc(sizeof(int32_t) * (size_t)channels);
    int8_t *ring = xmalloc((size_t)(frames * channels)), *frame = xmalloc((size_t)channels);
    int8_t *out = xmalloc((size_t)channels), *history = xmalloc((size_t)(frames * channels));
    int32_t oldest = 0, t, c;

    memset(sums, 0, sizeof(int32_t) * (size_t)channels);
    memset(ring, 0, (size_t)(frames * channels));
    memset(history, 0, (size_t)(frames * channels));
    for (t = 0; in->left > 0; ++t) {
        for (c = 0; c < channels; ++c) {
            frame[c] = (int8_t)fuzz_u8(in);
        }
        kws_average_ring(sums, ring + oldest * channels, frame, channels, frames, out);
        memcpy(history + oldest * channels, frame, (size_t)channels); /* the last `frames` frames, zeros before */
        FUZZ_CHECK(memcmp(history, ring, (size_t)(frames * channels)) == 0);
        oldest = oldest + 1 == frames ? 0 : oldest + 1;
        for (c = 0; c < channels; ++c) {
            int32_t sum = 0, k, mean;
            for (k = 0; k < frames; ++k) {
                sum += history[k * channels + c];
            }
            mean = ((sum < 0 ? -sum : sum) * 2 + frames) / (2 * frames); /* |mean|, half rounded up */
            FUZZ_CHECK(sums[c] == sum && out[c] == (sum < 0 ? -mean : mean));
        }
    }
    free(sums);
    free(ring);
    free(frame);
    free(out);
    free(history);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input_t in = {data, size};
    switch (fuzz_u8(&in) % 4) {
    case 0:
        fuzz_requantize(&in);
        break;
    case 1:
        fuzz_conv(&in);
        break;
    case 2:
        fuzz_depthwise(&in);
        break;
    default:
        fuzz_average(&in);
        break;
    }
    return 0;
}

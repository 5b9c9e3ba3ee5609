/* Real FFT and power spectrum of the integer front end; see kws_fft.h for the arithmetic it reproduces.
 *
 * Speed without changing a bit of the result (Cortex-M4 budget): the FFT buffer holds 16 * z, and twiddles
 * are used as w * 2^13 (Q28), so a product sum is S * 2^17 with S = b * wa + c * wb, and Python's
 * (S + 2^14) >> 15 is exactly (S * 2^17 + 2^31) >> 32 = high word + top bit of the low word: SMULL, SMLAL
 * and one ADD. Additions stay exact on the scaled values, and the scale is taken out again in the split
 * step, where every value is a multiple of 16. Bounds: |z| <= sum |windowed| < 2^25, so 16 z < 2^29;
 * |16 z * w * 2^13| < 2^57. */
#include "kws_fft.h"

#define HALF KWS_FFT_HALF
#define Z_SHIFT 4
#define Z_SCALE (1 << Z_SHIFT)
#define TW_SCALE (1 << (32 - KWS_TWIDDLE_FRAC_BITS - Z_SHIFT))

#if HALF < 8
#error "kws_fft.c needs KWS_FFT_HALF >= 8 (the first pass fuses two stages)"
#endif

/* The radix-4 passes are expanded once per stage size so that h, and with it every offset inside a group,
 * is a compile-time constant: immediate offsets leave the registers to data and twiddles (no spills). */
#if defined(__GNUC__)
#define FORCE_INLINE __attribute__((always_inline)) inline
#else
#define FORCE_INLINE inline
#endif

/* Python's (b * wa + c * wb + 2^14) >> 15 for b, c scaled by Z_SCALE and wa, wb by TW_SCALE. The high word
 * comes from an arithmetic >> 32 (gcc and arm-none-eabi-gcc shift signed values arithmetically, the floor
 * of numpy's >>); adding the low word's top bit is the + 2^31 rounding. */
static inline int32_t mul_round(int32_t b, int32_t wa, int32_t c, int32_t wb)
{
    const int64_t acc = (int64_t)b * wa + (int64_t)c * wb;
    return (int32_t)(acc >> 32) + (int32_t)((uint32_t)acc >> 31);
}

/* The first two radix-2 stages use only W = 1 and W = -j, i.e. exact additions: they are fused with the
 * windowing and the bit-reversal permutation into one pass of radix-4 groups. Bit reversal is an
 * involution, so for k < H/4 the group at positions p = rev(k) .. p + 3 holds the inputs k, k + H/2,
 * k + H/4, k + 3H/4; input i is the sample pair (2i, 2i + 1). */
static FORCE_INLINE void first_group(const int16_t *x, int32_t *z, int k)
{
    const int32_t x0r = kws_window_sample(x, 2 * k), x0i = kws_window_sample(x, 2 * k + 1);
    const int32_t x1r = kws_window_sample(x, 2 * k + HALF), x1i = kws_window_sample(x, 2 * k + HALF + 1);
    const int32_t x2r = kws_window_sample(x, 2 * k + HALF / 2), x2i = kws_window_sample(x, 2 * k + HALF / 2 + 1);
    const int32_t x3r = kws_window_sample(x, 2 * k + 3 * HALF / 2);
    const int32_t x3i = kws_window_sample(x, 2 * k + 3 * HALF / 2 + 1);
    /* stage 1, W = 1 */
    const int32_t a0r = x0r + x1r, a0i = x0i + x1i, a1r = x0r - x1r, a1i = x0i - x1i;
    const int32_t a2r = x2r + x3r, a2i = x2i + x3i, a3r = x2r - x3r, a3i = x2i - x3i;
    int32_t *q = z + 2 * kws_bit_reverse[k];
    /* stage 2: W = 1 for (0, 2); W = -j for (1, 3), where (b * -j) rounds to exactly (bi, -br) */
    q[0] = (a0r + a2r) * Z_SCALE;
    q[1] = (a0i + a2i) * Z_SCALE;
    q[4] = (a0r - a2r) * Z_SCALE;
    q[5] = (a0i - a2i) * Z_SCALE;
    q[2] = (a1r + a3i) * Z_SCALE;
    q[3] = (a1i - a3r) * Z_SCALE;
    q[6] = (a1r - a3i) * Z_SCALE;
    q[7] = (a1i + a3r) * Z_SCALE;
}

/* Groups whose eight samples all lie inside the window come first: there the compiler can see from the
 * loop bound that kws_window_sample's zero-padding test is false and drops it. */
#define LAST_SAMPLE_OF_GROUP(k) (2 * (k) + 3 * HALF / 2 + 1)
#define FULL_GROUPS                                                                                          \
    (LAST_SAMPLE_OF_GROUP(HALF / 4 - 1) < KWS_WINDOW_SAMPLES ? HALF / 4                                    \
     : KWS_WINDOW_SAMPLES <= LAST_SAMPLE_OF_GROUP(0) ? 0                                                     \
                                                     : (KWS_WINDOW_SAMPLES - LAST_SAMPLE_OF_GROUP(0) + 1) / 2)

static void first_two_stages(const int16_t *x, int32_t *z)
{
    int k;
    for (k = 0; k < FULL_GROUPS; ++k) {
        first_group(x, z, k);
    }
    for (; k < HALF / 4; ++k) {
        first_group(x, z, k);
    }
}

/* t = round(b * w) for the scaled complex b and the scaled twiddle (wr, wi), still scaled by Z_SCALE.
 * The minus sign goes on a data operand, not on a twiddle, so that only (wr, wi) stay live in registers. */
static FORCE_INLINE void twiddle_product(int32_t br, int32_t bi, int32_t wr, int32_t wi, int32_t *tr,
                                         int32_t *ti)
{
    *tr = mul_round(br, wr, -bi, wi) * Z_SCALE;
    *ti = mul_round(br, wi, bi, wr) * Z_SCALE;
}

/* The same for the twiddle w * -j = (wi, -wr). */
static FORCE_INLINE void twiddle_product_mj(int32_t br, int32_t bi, int32_t wr, int32_t wi, int32_t *tr,
                                            int32_t *ti)
{
    *tr = mul_round(br, wi, bi, wr) * Z_SCALE;
    *ti = mul_round(bi, wi, -br, wr) * Z_SCALE;
}

enum { TW_GENERAL, TW_J0, TW_HALF }; /* twiddle cases of a radix-4 group, see radix4_group */

/* Stages h and 2h fused (radix 2^2): the four elements i, i + h, i + 2h, i + 3h (i = j + m * 4h, j < h) are
 * loaded once, go through stage h's two butterflies with A = W^(j N / 2h) and stage 2h's two with
 * B = W^(j N / 4h) and W^((j + h) N / 4h) = B * -j = (B.im, -B.re) (exact in the table: codegen checks
 * it), and are stored once: the butterflies and roundings of two radix-2 stages with half the loads and
 * stores. For j = 0 all four twiddles are 1 or -j, for j = h/2 A is -j; their rounded products are exact
 * moves. `kind` is a constant at each call, so each case compiles to its own loop body. */
static FORCE_INLINE void radix4_group(int32_t *q0, int h, int32_t awr, int32_t awi, int32_t bwr, int32_t bwi, int kind)
{
    int32_t *q1 = q0 + 2 * h, *q2 = q0 + 4 * h, *q3 = q0 + 6 * h;
    int32_t tr, ti, y0r, y0i, y1r, y1i, y2r, y2i, y3r, y3i;
    {
        const int32_t x0r = q0[0], x0i = q0[1], x1r = q1[0], x1i = q1[1];
        if (kind == TW_GENERAL) {
            twiddle_product(x1r, x1i, awr, awi, &tr, &ti);
        } else if (kind == TW_J0) {
            tr = x1r;
            ti = x1i;
        } else {
            tr = x1i;
            ti = -x1r;
        }
        y0r = x0r + tr;
        y0i = x0i + ti;
        y1r = x0r - tr;
        y1i = x0i - ti;
    }
    {
        const int32_t x2r = q2[0], x2i = q2[1], x3r = q3[0], x3i = q3[1];
        if (kind == TW_GENERAL) {
            twiddle_product(x3r, x3i, awr, awi, &tr, &ti);
        } else if (kind == TW_J0) {
            tr = x3r;
            ti = x3i;
        } else {
            tr = x3i;
            ti = -x3r;
        }
        y2r = x2r + tr;
        y2i = x2i + ti;
        y3r = x2r - tr;
        y3i = x2i - ti;
    }
    if (kind == TW_J0) {
        tr = y2r;
        ti = y2i;
    } else {
        twiddle_product(y2r, y2i, bwr, bwi, &tr, &ti);
    }
    q0[0] = y0r + tr;
    q0[1] = y0i + ti;
    q2[0] = y0r - tr;
    q2[1] = y0i - ti;
    if (kind == TW_J0) {
        tr = y3i;
        ti = -y3r;
    } else {
        twiddle_product_mj(y3r, y3i, bwr, bwi, &tr, &ti);
    }
    q1[0] = y1r + tr;
    q1[1] = y1i + ti;
    q3[0] = y1r - tr;
    q3[1] = y1i - ti;
}

static FORCE_INLINE void radix4_pass(int32_t *z, int h)
{
    const int step_a = KWS_FFT_SIZE / (2 * h), step_b = KWS_FFT_SIZE / (4 * h);
    const int32_t *end = z + 2 * HALF;
    int32_t *q;
    int j;

    for (q = z; q < end; q += 8 * h) {
        radix4_group(q, h, 0, 0, 0, 0, TW_J0);
    }
    for (j = 1; j < h; ++j) {
        const int32_t awr = kws_fft_twiddles[j * step_a][0] * TW_SCALE;
        const int32_t awi = kws_fft_twiddles[j * step_a][1] * TW_SCALE;
        const int32_t bwr = kws_fft_twiddles[j * step_b][0] * TW_SCALE;
        const int32_t bwi = kws_fft_twiddles[j * step_b][1] * TW_SCALE;
        if (8 * h == 2 * HALF) { /* one block: no inner loop */
            radix4_group(z + 2 * j, h, awr, awi, bwr, bwi, j == h / 2 ? TW_HALF : TW_GENERAL);
        } else if (j == h / 2) {
            for (q = z + 2 * j; q < end; q += 8 * h) {
                radix4_group(q, h, awr, awi, bwr, bwi, TW_HALF);
            }
        } else {
            for (q = z + 2 * j; q < end; q += 8 * h) {
                radix4_group(q, h, awr, awi, bwr, bwi, TW_GENERAL);
            }
        }
    }
}

#if KWS_FFT_HALF_LOG2 % 2 == 1
/* A lone radix-2 stage with half-size h, when an odd number of stages follows the first pass. */
static void radix2_stage(int32_t *z, int h)
{
    const int step = KWS_FFT_SIZE / (2 * h);
    const int32_t *end = z + 2 * HALF;
    int32_t *a;
    int j;

    for (j = 0; j < h; ++j) {
        const int32_t wr = kws_fft_twiddles[j * step][0] * TW_SCALE;
        const int32_t wi = kws_fft_twiddles[j * step][1] * TW_SCALE;
        for (a = z + 2 * j; a < end; a += 4 * h) {
            int32_t *b = a + 2 * h, tr, ti;
            const int32_t ar = a[0], ai = a[1];
            twiddle_product(b[0], b[1], wr, wi, &tr, &ti);
            a[0] = ar + tr;
            a[1] = ai + ti;
            b[0] = ar - tr;
            b[1] = ai - ti;
        }
    }
}
#endif

/* Stages after the first pass: radix-4 passes with h = 4, 16, 64, ... while 2h < H, then a lone radix-2
 * stage if the number of stages is odd. Written out per pass (see FORCE_INLINE). */
#define PASS_H(n) (4 << (2 * (n)))
void kws_fft_forward(const int16_t x[KWS_WINDOW_SAMPLES], kws_fft_buf_t *buf)
{
    int32_t *z = buf->c;
    first_two_stages(x, z);
#if 2 * PASS_H(0) < HALF
    radix4_pass(z, PASS_H(0));
#endif
#if 2 * PASS_H(1) < HALF
    radix4_pass(z, PASS_H(1));
#endif
#if 2 * PASS_H(2) < HALF
    radix4_pass(z, PASS_H(2));
#endif
#if 2 * PASS_H(3) < HALF
    radix4_pass(z, PASS_H(3));
#endif
#if 2 * PASS_H(4) < HALF
    radix4_pass(z, PASS_H(4));
#endif
#if 2 * PASS_H(5) < HALF
#error "KWS_FFT_HALF too large for the pass list in kws_fft_forward"
#endif
#if KWS_FFT_HALF_LOG2 % 2 == 1
    radix2_stage(z, HALF / 2);
#endif
}

/* Bin k of 2X from a = Z[k] and b = Z[(H - k) % H] (both scaled by Z_SCALE), as mfcc.real_fft:
 * e = a + conj(b), o = a - conj(b), d = -j * o, X = e + round(d * W^k). */
static inline void split_bin(int32_t ar, int32_t ai, int32_t br, int32_t bi, int k, int32_t *xr, int32_t *xi)
{
    const int32_t wr = kws_fft_twiddles[k][0] * TW_SCALE, wi = kws_fft_twiddles[k][1] * TW_SCALE;
    const int32_t er = ar + br, ei = ai - bi, dr = ai + bi, di = br - ar;
    *xr = (er >> Z_SHIFT) + mul_round(dr, wr, di, -wi);
    *xi = (ei >> Z_SHIFT) + mul_round(dr, wi, di, wr);
}

static inline int64_t power_of(int32_t r, int32_t i)
{
    return (int64_t)r * r + (int64_t)i * i;
}

/* Bins k and m = H - k together: both read Z[k] and Z[m]; for bin m, e = (er, -ei) and d = (dr, -di) of bin
 * k, and W^m = (-wr, wi) exactly (codegen checks the table), so bin m's imaginary product equals bin k's
 * and one twiddle load serves both. Each pair reads its two slots, then overwrites them with the two
 * powers, so the in-place union never overwrites a slot still to be read. `record` is a constant at each
 * call, so the loop without the debug record carries no debug pointers. */
static inline void split_pairs(kws_fft_buf_t *buf, int32_t *re, int32_t *im, int record)
{
    const int32_t *c = buf->c;
    int k;
    for (k = 1; k < HALF / 2; ++k) {
        const int m = HALF - k;
        const int32_t ar = c[2 * k], ai = c[2 * k + 1], br = c[2 * m], bi = c[2 * m + 1];
        const int32_t er = (ar + br) >> Z_SHIFT, ei = (ai - bi) >> Z_SHIFT, dr = ai + bi, di = br - ar;
        const int32_t wr = kws_fft_twiddles[k][0] * TW_SCALE, wi = kws_fft_twiddles[k][1] * TW_SCALE;
        const int32_t pi = mul_round(dr, wi, di, wr);
        const int32_t xr = er + mul_round(dr, wr, di, -wi), xi = ei + pi;
        const int32_t yr = er + mul_round(dr, -wr, di, wi), yi = pi - ei;
        buf->p[k] = power_of(xr, xi);
        buf->p[m] = power_of(yr, yi);
        if (record) {
            re[k] = xr;
            im[k] = xi;
            re[m] = yr;
            im[m] = yi;
        }
    }
}

/* Bins 0 and H both come from Z[0], bin H/2 from Z[H/2] alone; then the pairs. */
void kws_fft_power(kws_fft_buf_t *buf, int32_t *re, int32_t *im)
{
    const int32_t *c = buf->c;
    int32_t r0, i0, rh, ih, rq, iq;

    split_bin(c[0], c[1], c[0], c[1], 0, &r0, &i0);
    split_bin(c[0], c[1], c[0], c[1], HALF, &rh, &ih);
    split_bin(c[HALF], c[HALF + 1], c[HALF], c[HALF + 1], HALF / 2, &rq, &iq);
    buf->p[0] = power_of(r0, i0);
    buf->p[HALF] = power_of(rh, ih);
    buf->p[HALF / 2] = power_of(rq, iq);
    if (re == 0 || im == 0) {
        split_pairs(buf, 0, 0, 0);
        return;
    }
    re[0] = r0;
    im[0] = i0;
    re[HALF] = rh;
    im[HALF] = ih;
    re[HALF / 2] = rq;
    im[HALF / 2] = iq;
    split_pairs(buf, re, im, 1);
}

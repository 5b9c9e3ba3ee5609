/* int8 kernels of the keyword network, bit-exact with train/int_model.py (TFLite / CMSIS-NN int8 reference).
 *
 * Each kernel computes ONE output frame, which is what streaming needs: the network hands it the input frames
 * of the kernel's taps (oldest first) wherever they sit in its rings. On a core with the DSP extension
 * (__ARM_FEATURE_DSP: Cortex-M4/M7/M33) the dot products run on SMLAD, two MACs per instruction: the input
 * frame is unpacked once into halfword pairs with SXTB16, the weights are stored as such pairs
 * (kws_model_types.h), and SMMULR does the requantiser's high multiply; elsewhere (or with -DKWS_NO_DSP)
 * plain C. Both give the same integers: the accumulators cannot overflow (the exporter checks
 * |accumulator| < 2^29 for any int8 input) and integer sums do not depend on their order.
 *
 * No state, no globals; scratch comes from the caller (kws_conv_scratch_words). */
#ifndef KWS_KERNELS_H
#define KWS_KERNELS_H

#include <stdint.h>

#include "kws_model_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TFLite MultiplyByQuantizedMultiplier: acc * 2^max(shift, 0), then SaturatingRoundingDoublingHighMul by
 * `multiplier`, then RoundingDivideByPOT by max(-shift, 0) (ties away from zero): gemmlowp's double rounding.
 * -31 <= shift <= 30. A left shift that overflows int32 (int_model.py raises OverflowError) saturates. */
int32_t kws_requantize(int32_t acc, int32_t multiplier, int32_t shift);

/* What the kernels use: the same result as kws_requantize under the exporter's bounds, multiplier >= 0 and
 * |acc| * 2^max(shift, 0) < 2^29 (deploy/c_export.py proves them per layer), in one 64-bit multiply-add. */
int32_t kws_requantize_bounded(int32_t acc, int32_t multiplier, int32_t shift);

/* 32-bit words of scratch kws_conv_frame / kws_conv1x1_frame need for layer l. */
int32_t kws_conv_scratch_words(const kws_layer_t *l);

/* Conv (KWS_LAYER_CONV): out[c] for c < out_channels from taps[0..kernel-1], each in_channels int8. */
void kws_conv_frame(const kws_layer_t *l, const int8_t *const taps[], uint32_t *scratch, int8_t *out);

/* 1x1 conv (kernel 1, in_channels a multiple of 4): the pointwise layers and the classifier. */
void kws_conv1x1_frame(const kws_layer_t *l, const int8_t *in, uint32_t *scratch, int8_t *out);

/* Depthwise (KWS_LAYER_DEPTHWISE): out[c] from taps[k][c], k < kernel. */
void kws_depthwise_frame(const kws_layer_t *l, const int8_t *const taps[], int8_t *out);

/* Average pool over a ring of the last `frames` frames, kept as running int32 sums: `in` replaces the
 * ring's oldest frame `oldest` (sums += in - oldest, then oldest = in) and out = sums / frames rounded half
 * away from zero (TFLite AVERAGE_POOL_2D int8: same quantisation in and out, no zero point involved). */
void kws_average_ring(int32_t *sums, int8_t *oldest, const int8_t *in, int32_t channels, int32_t frames,
                      int8_t *out);

/* 1 if this build uses the SXTB16/SMLAD path, 0 for the portable C one. */
int kws_kernels_dsp(void);

#ifdef __cplusplus
}
#endif

#endif /* KWS_KERNELS_H */

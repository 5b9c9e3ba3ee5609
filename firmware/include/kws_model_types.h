/* Types of an int8 model as the firmware runs it: a layer table that `tinykws export --c-dir` fills in
 * (generated kws_model.h / kws_model.c) and the kernels and the streaming network read.
 *
 * Arithmetic is train/int_model.py's (TFLite int8): per output channel, an int32 accumulator of the int8
 * input times the int8 weights plus the int32 bias, requantised by (multiplier, shift), plus the output zero
 * point, clamped to [act_min, act_max]. The exporter folds the input zero point into the bias
 * (bias - input_zero_point * sum(weights), CMSIS-NN's "kernel sum"), so the kernels multiply raw inputs;
 * the zero points stay in the table for the record and for checks. */
#ifndef KWS_MODEL_TYPES_H
#define KWS_MODEL_TYPES_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Weights are read two words at a time (LDRD needs 4-byte alignment); 8 keeps them on whole flash lines. */
#if defined(__GNUC__)
#define KWS_MODEL_ALIGN __attribute__((aligned(8)))
#else
#define KWS_MODEL_ALIGN
#endif

/* Weights are int8 values stored as int16, in the order the kernels read them, so the Cortex-M4 path needs
 * no sign extension in its inner loop (SMLAD takes halfword pairs; unpacking int8 costs 2 SXTB16 per 4 MACs,
 * a third of the loop; the price is flash: 2 bytes per weight).
 * Conv: each output channel's row is its kernel taps of in_channels, zero-padded to row_bytes (a multiple of
 * 4), and each 4 bytes x0 x1 x2 x3 of a row are stored as x0 x2 x1 x3 (SXTB16's even / odd pairs). Rows go
 * in blocks of 4 output channels interleaved per 4 bytes: block b holds, for j = 0 .. row_bytes/4 - 1, the 4
 * values of row j of channels 4b, 4b+1, 4b+2, 4b+3; the last out_channels % 4 rows follow plainly.
 * Depthwise: [channel][kernel]. */
#define KWS_LAYER_CONV 0
#define KWS_LAYER_DEPTHWISE 1 /* weights [channel][kernel] */

/* One convolution along time: "valid", stride 1, kernel taps `dilation` frames apart. */
typedef struct {
    int32_t kind;
    int32_t kernel;
    int32_t dilation;
    int32_t in_channels;
    int32_t out_channels;
    int32_t row_bytes; /* conv: kernel * in_channels rounded up to a multiple of 4; depthwise: kernel */
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t act_min;
    int32_t act_max;
    const int16_t *weights;    /* int8 values, see above */
    const int32_t *bias;       /* input zero point folded in, see above */
    const int32_t *multiplier; /* Q31 in [2^30, 2^31), or 0 */
    const int8_t *shift;       /* TFLite convention: > 0 shifts left before, < 0 rounds right after */
} kws_layer_t;

/* Where the streaming network keeps each layer's past inputs (offsets into kws_network_t's ring bytes). */
typedef struct {
    int32_t offset; /* byte offset, a multiple of 4 */
    int32_t frames; /* (kernel - 1) * dilation + 1 */
    int32_t stride; /* bytes per frame: in_channels rounded up to a multiple of 4 */
} kws_ring_t;

typedef struct {
    int32_t num_layers;
    int32_t input_frames;   /* window of the non-streaming model (IntModel.input_frames) */
    int32_t input_channels; /* feature coefficients per frame */
    int32_t num_classes;
    int32_t pool_frames;    /* frames the average pool spans: input_frames - receptive field + 1 */
    int32_t pool_channels;
    int32_t pool_zero_point;
    int32_t ring_bytes;    /* size of the rings below, pool ring included */
    int32_t scratch_words; /* largest kws_conv_scratch_words() of the conv layers */
    int32_t max_kernel;
    const kws_layer_t *layers;     /* num_layers feature layers, in order */
    const kws_ring_t *rings;       /* num_layers input rings, then the pool's ring */
    const kws_layer_t *classifier; /* 1x1 conv on the pooled frame */
    const char *const *labels;
    const uint8_t *keywords; /* 1: the class may fire a detection */
    const char *feature_hash; /* the front end the model was trained on (KWS_FEATURE_HASH) */
    const char *model_id;     /* fingerprint of the exported model */
} kws_model_t;

#ifdef __cplusplus
}
#endif

#endif /* KWS_MODEL_TYPES_H */

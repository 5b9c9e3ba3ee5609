/* Streaming inference of the int8 keyword network: one feature frame in, one new frame per layer out.
 *
 * Layer i keeps its last (kernel - 1) * dilation + 1 input frames in a ring; the average pool keeps the last
 * pool_frames frames of the last layer in a ring plus their running int32 sums. So each hop costs one output
 * frame per layer (macs_per_hop) instead of the whole window, and once input_frames frames have arrived the
 * logits of every hop EQUAL IntModel.run(last input_frames frames) bit for bit: with stride 1 and "valid"
 * padding, a layer's output frame depends only on the input frames its taps reach, so streaming and the
 * whole window compute the same integers.
 *
 * Sizes come from the model's generated kws_model.h; the caller owns kws_network_t
 * (KWS_NETWORK_STATE_BYTES), which holds the rings and the kernels' scratch: no malloc, no globals. */
#ifndef KWS_NETWORK_H
#define KWS_NETWORK_H

#include <stddef.h>
#include <stdint.h>

#include "kws_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef KWS_OK
#define KWS_OK 0
#define KWS_ERR_ARG (-1)
#endif
#define KWS_ERR_MODEL (-2) /* the model does not fit this build's state sizes, or is malformed */

typedef struct {
    const kws_model_t *model;
    uint32_t frames;                            /* input frames since init */
    int32_t newest[KWS_MODEL_NUM_LAYERS + 1];   /* ring slot of each ring's newest frame; last: the pool */
    int32_t pool_sums[KWS_MODEL_POOL_CHANNELS]; /* sums of the pool ring's frames */
    uint32_t scratch[KWS_MODEL_SCRATCH_WORDS];  /* kernels' scratch (kws_conv_scratch_words) */
    /* Word arrays used as int8 frames: 4-byte alignment for the kernels' word loads. */
    uint32_t last[(KWS_MODEL_POOL_CHANNELS + 3) / 4];    /* the last layer's newest output frame */
    uint32_t pooled[(KWS_MODEL_POOL_CHANNELS + 3) / 4];  /* average pool output */
    uint32_t logits[(KWS_MODEL_NUM_CLASSES + 3) / 4];
    uint32_t rings[KWS_MODEL_RING_BYTES / 4];
} kws_network_t;

#define KWS_NETWORK_STATE_BYTES (sizeof(kws_network_t))

size_t kws_network_state_size(void);

/* Forget all frames. Checks that `model` fits this build's sizes: KWS_OK, KWS_ERR_ARG or KWS_ERR_MODEL. */
int kws_network_init(kws_network_t *s, const kws_model_t *model);

/* One feature frame (model->input_channels int8). Returns 1 and writes logits (num_classes int8) once
 * input_frames frames have arrived, 0 before (logits untouched), KWS_ERR_ARG on NULL arguments. */
int kws_network_push(kws_network_t *s, const int8_t *frame, int8_t *logits);

/* The newest output frame of feature layer `layer` (0 .. num_layers - 1), num_layers: the pooled frame,
 * num_layers + 1: the logits; for tests, which compare every layer with the golden vectors. Frames before
 * the layer's receptive field is filled hold numbers computed from the rings' initial zeros. */
const int8_t *kws_network_output(const kws_network_t *s, int layer);

#ifdef __cplusplus
}
#endif

#endif /* KWS_NETWORK_H */

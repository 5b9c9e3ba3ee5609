/* The network targets' oracle: a streaming network that has taken `pushed` frames must hold, for every layer,
 * the newest frame that whole-window inference (tests/kws_network_window.c, the golden test's reference)
 * computes from the last input_frames of them; likewise the pooled frame and the logits. */
#ifndef FUZZ_WINDOW_H
#define FUZZ_WINDOW_H

#include <string.h>

#include "fuzz_input.h"
#include "kws_network.h"
#include "kws_network_window.h"

/* frames: all `pushed` input frames, m->input_channels bytes each, oldest first; pushed >= m->input_frames. */
static inline void fuzz_check_window(const kws_network_t *s, const kws_model_t *m, const int8_t *frames,
                                     int32_t pushed)
{
    int8_t *layer_out[KWS_MODEL_NUM_LAYERS];
    int8_t *pooled = malloc((size_t)m->pool_channels), *logits = malloc((size_t)m->num_classes);
    uint32_t *scratch = malloc(sizeof(uint32_t) * (size_t)m->scratch_words);
    int32_t i;

    FUZZ_CHECK(pooled != NULL && logits != NULL && scratch != NULL && m->num_layers <= KWS_MODEL_NUM_LAYERS);
    for (i = 0; i < m->num_layers; ++i) {
        layer_out[i] = malloc((size_t)(kws_window_frames(m, i) * m->layers[i].out_channels));
        FUZZ_CHECK(layer_out[i] != NULL);
    }
    kws_network_window(m, frames + (size_t)(pushed - m->input_frames) * (size_t)m->input_channels, layer_out,
                       scratch, pooled, logits);
    for (i = 0; i < m->num_layers; ++i) {
        const int32_t cout = m->layers[i].out_channels;
        const int8_t *newest = layer_out[i] + (kws_window_frames(m, i) - 1) * cout;
        FUZZ_CHECK(memcmp(kws_network_output(s, i), newest, (size_t)cout) == 0);
        free(layer_out[i]);
    }
    FUZZ_CHECK(memcmp(kws_network_output(s, m->num_layers), pooled, (size_t)m->pool_channels) == 0);
    FUZZ_CHECK(memcmp(kws_network_output(s, m->num_layers + 1), logits, (size_t)m->num_classes) == 0);
    free(pooled);
    free(logits);
    free(scratch);
}

#endif /* FUZZ_WINDOW_H */

#include "kws_network_window.h"

#include "kws_kernels.h"

int32_t kws_window_frames(const kws_model_t *m, int32_t layer)
{
    int32_t i, frames = m->input_frames;
    for (i = 0; i <= layer; ++i) {
        frames -= (m->layers[i].kernel - 1) * m->layers[i].dilation;
    }
    return frames;
}

void kws_network_window(const kws_model_t *m, const int8_t *input, int8_t *const layer_out[], uint32_t *scratch,
                        int8_t *pooled, int8_t *logits)
{
    const int8_t *taps[16];
    const int8_t *in = input;
    int32_t i, t, k, c;

    for (i = 0; i < m->num_layers; ++i) {
        const kws_layer_t *l = &m->layers[i];
        const int32_t frames = kws_window_frames(m, i);
        for (t = 0; t < frames; ++t) {
            for (k = 0; k < l->kernel && k < 16; ++k) {
                taps[k] = in + (t + k * l->dilation) * l->in_channels;
            }
            if (l->kind == KWS_LAYER_DEPTHWISE) {
                kws_depthwise_frame(l, taps, layer_out[i] + t * l->out_channels);
            } else {
                kws_conv_frame(l, taps, scratch, layer_out[i] + t * l->out_channels);
            }
        }
        in = layer_out[i];
    }
    /* TFLite AVERAGE_POOL_2D over all frames: sum, divide, round half away from zero. */
    for (c = 0; c < m->pool_channels; ++c) {
        int32_t sum = 0, avg;
        for (t = 0; t < m->pool_frames; ++t) {
            sum += in[t * m->pool_channels + c];
        }
        avg = sum > 0 ? (sum + m->pool_frames / 2) / m->pool_frames : (sum - m->pool_frames / 2) / m->pool_frames;
        pooled[c] = (int8_t)(avg < INT8_MIN ? INT8_MIN : avg > INT8_MAX ? INT8_MAX : avg);
    }
    kws_conv1x1_frame(m->classifier, pooled, scratch, logits);
}

/* Whole-window inference with the network's kernels: every layer over all of its frames, as IntModel.run
 * does. Not part of the firmware: the golden test compares every frame of every layer with it, and the bench
 * measures what streaming saves. */
#ifndef KWS_NETWORK_WINDOW_H
#define KWS_NETWORK_WINDOW_H

#include <stdint.h>

#include "kws_model_types.h"

/* Frames layer i outputs for a window of m->input_frames frames. */
int32_t kws_window_frames(const kws_model_t *m, int32_t layer);

/* input: input_frames x input_channels int8. layer_out[i]: kws_window_frames(m, i) x out_channels of layer
 * i (consecutive layers may share nothing; layer i + 2 may reuse layer i's buffer). scratch: the model's
 * scratch_words. pooled: pool_channels, logits: num_classes. */
void kws_network_window(const kws_model_t *m, const int8_t *input, int8_t *const layer_out[], uint32_t *scratch,
                        int8_t *pooled, int8_t *logits);

#endif /* KWS_NETWORK_WINDOW_H */

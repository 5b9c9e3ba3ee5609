/* The keyword engine: audio samples in, detections out. Front end -> streaming network -> detector, with the
 * model compiled in (generated kws_model.h / kws_model.c). Equals train/engine.py PythonEngine bit for bit:
 * the same frames, logits, smoothed sums and detections for any chunking of the same audio.
 *
 * Memory: the caller owns kws_engine_t (KWS_ENGINE_STATE_BYTES, components' sizes below); the front end
 * needs KWS_FRONTEND_SCRATCH_BYTES plus its arrays on the stack per frame. No malloc, no mutable globals. */
#ifndef KWS_ENGINE_H
#define KWS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "kws_detector.h"
#include "kws_frontend.h"
#include "kws_network.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t hop;      /* front-end frame index since init; its window ends at sample
                          hop * KWS_HOP_SAMPLES + KWS_WINDOW_SAMPLES */
    int32_t keyword;   /* class index into kws_model.labels */
    int32_t score_sum; /* the keyword's score summed over KWS_DETECTOR_SMOOTHING_HOPS hops */
} kws_detection_t;

/* What one hop computed, for tests and score displays; pointers valid during the callback only. */
typedef struct {
    uint32_t hop;
    const int8_t *features; /* KWS_NUM_MFCC */
    const int8_t *logits;   /* KWS_MODEL_NUM_CLASSES, NULL before KWS_MODEL_INPUT_FRAMES frames */
    const int32_t *sums;    /* KWS_MODEL_NUM_CLASSES smoothed sums, NULL until the detector window is full */
    int32_t keyword;        /* class that fired at this hop, or -1 */
} kws_hop_t;

typedef void (*kws_hop_callback_t)(void *user, const kws_hop_t *hop);

typedef struct {
    kws_frontend_t frontend;
    kws_network_t network;
    kws_detector_t detector;
    uint32_t hops;
    kws_hop_callback_t on_hop; /* optional, see kws_engine_set_hop_callback */
    void *user;
    int8_t features[KWS_NUM_MFCC];
    int8_t logits[KWS_MODEL_NUM_CLASSES];
} kws_engine_t;

#define KWS_ENGINE_STATE_BYTES (sizeof(kws_engine_t))

size_t kws_engine_state_size(void);

/* Initialise or reset: forget all audio, clear the callback. KWS_OK, KWS_ERR_ARG, or KWS_ERR_MODEL when the
 * compiled-in model does not match this build (front end or sizes). */
int kws_engine_init(kws_engine_t *s);

/* Called after every hop of kws_process (set after kws_engine_init; NULL to stop). */
void kws_engine_set_hop_callback(kws_engine_t *s, kws_hop_callback_t fn, void *user);

/* Consume all n samples (any n >= 0, any chunking). Writes the first max_out detections to out and returns
 * how many there were (more than max_out means some were not stored), or KWS_ERR_ARG. */
int kws_process(kws_engine_t *s, const int16_t *samples, int n, kws_detection_t *out, int max_out);

/* The compiled-in model, for callers that cannot see kws_model.h (ctypes). */
const kws_model_t *kws_engine_model(void);

#ifdef __cplusplus
}
#endif

#endif /* KWS_ENGINE_H */

/* Keyword detection on the per-hop int8 logits, in integers, exactly as train/detector.py:
 *
 * - score[k] = logit[k] - max(logit[j], j != k);
 * - each class's scores are summed over the last KWS_DETECTOR_SMOOTHING_HOPS hops; nothing fires before that
 *   many hops have had logits;
 * - only keyword classes (model->keywords[k] != 0) can fire: the largest sum among them (ties: lowest index)
 *   fires when it is >= KWS_DETECTOR_THRESHOLD * KWS_DETECTOR_SMOOTHING_HOPS;
 * - after a detection, the next KWS_DETECTOR_REFRACTORY_HOPS hops cannot fire (the sums keep running).
 *
 * The constants come from the model's generated kws_model.h (tinykws/config.py DetectorConfig, or the
 * model's own tuned values). The caller owns kws_detector_t (KWS_DETECTOR_STATE_BYTES). */
#ifndef KWS_DETECTOR_H
#define KWS_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "kws_model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const uint8_t *keywords;                                            /* classes that may fire */
    int16_t scores[KWS_DETECTOR_SMOOTHING_HOPS][KWS_MODEL_NUM_CLASSES]; /* ring of the last hops' scores */
    int32_t sums[KWS_MODEL_NUM_CLASSES];                                /* sum of the ring */
    int32_t oldest;                                                     /* ring slot the next hop replaces */
    int32_t filled;                                                     /* hops in the ring */
    int32_t cooldown;                                                   /* hops that still cannot fire */
} kws_detector_t;

#define KWS_DETECTOR_STATE_BYTES (sizeof(kws_detector_t))

size_t kws_detector_state_size(void);

/* Forget all hops; `keywords` (KWS_MODEL_NUM_CLASSES flags, e.g. kws_model.keywords) must outlive s. */
void kws_detector_init(kws_detector_t *s, const uint8_t *keywords);

/* One hop's logits. Returns the class that fired (its sum in *score_sum) or -1. */
int kws_detector_push(kws_detector_t *s, const int8_t logits[KWS_MODEL_NUM_CLASSES], int32_t *score_sum);

/* The smoothed sums of every class, or NULL until KWS_DETECTOR_SMOOTHING_HOPS hops have had logits. */
const int32_t *kws_detector_sums(const kws_detector_t *s);

#ifdef __cplusplus
}
#endif

#endif /* KWS_DETECTOR_H */

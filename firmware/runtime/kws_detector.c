/* Smoothed-score keyword detector; the semantics are in kws_detector.h and train/detector.py. */
#include "kws_detector.h"

#include <string.h>

size_t kws_detector_state_size(void)
{
    return sizeof(kws_detector_t);
}

void kws_detector_init(kws_detector_t *s, const uint8_t *keywords)
{
    if (s == NULL) {
        return;
    }
    memset(s, 0, sizeof(*s));
    s->keywords = keywords;
}

int kws_detector_push(kws_detector_t *s, const int8_t logits[KWS_MODEL_NUM_CLASSES], int32_t *score_sum)
{
    int16_t *slot = s->scores[s->oldest];
    int32_t top = INT32_MIN, second = INT32_MIN, best = -1, best_sum = INT32_MIN;
    int32_t k, argmax = 0;

    /* Top two logits: the arg-max class is scored against the runner-up, every other against the top. */
    for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
        const int32_t v = logits[k];
        if (v > top) {
            second = top;
            top = v;
            argmax = k;
        } else if (v > second) {
            second = v;
        }
    }
    for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
        const int32_t score = logits[k] - (k == argmax ? second : top);
        s->sums[k] += score - slot[k];
        slot[k] = (int16_t)score;
    }
    s->oldest = s->oldest + 1 == KWS_DETECTOR_SMOOTHING_HOPS ? 0 : s->oldest + 1;
    s->filled += s->filled < KWS_DETECTOR_SMOOTHING_HOPS;
    if (s->cooldown > 0) {
        --s->cooldown;
        return -1;
    }
    if (s->filled < KWS_DETECTOR_SMOOTHING_HOPS) {
        return -1;
    }
    for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
        if (s->keywords[k] && s->sums[k] > best_sum) { /* strict: ties keep the lower index */
            best = k;
            best_sum = s->sums[k];
        }
    }
    if (best < 0 || best_sum < (int32_t)KWS_DETECTOR_THRESHOLD * KWS_DETECTOR_SMOOTHING_HOPS) {
        return -1;
    }
    s->cooldown = KWS_DETECTOR_REFRACTORY_HOPS;
    if (score_sum != NULL) {
        *score_sum = best_sum;
    }
    return best;
}

const int32_t *kws_detector_sums(const kws_detector_t *s)
{
    return s->filled == KWS_DETECTOR_SMOOTHING_HOPS ? s->sums : NULL;
}

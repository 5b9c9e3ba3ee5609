/* The keyword engine: front end, streaming network and detector chained per hop. */
#include "kws_engine.h"

#include <string.h>

/* A model exported for another front end gives meaningless scores: refuse it when compiling. */
#if KWS_MODEL_FEATURE_HASH_NUM != KWS_FEATURE_HASH_NUM
#error "kws_model.h was exported for another front end (KWS_MODEL_FEATURE_HASH != KWS_FEATURE_HASH): re-export or retrain"
#endif
#if KWS_MODEL_INPUT_CHANNELS != KWS_NUM_MFCC
#error "the model's input channels differ from the front end's coefficients per frame"
#endif

size_t kws_engine_state_size(void)
{
    return sizeof(kws_engine_t);
}

const kws_model_t *kws_engine_model(void)
{
    return &kws_model;
}

static int same_text(const char *a, const char *b)
{
    while (*a != '\0' && *a == *b) {
        ++a;
        ++b;
    }
    return *a == *b;
}

int kws_engine_init(kws_engine_t *s)
{
    int r;
    if (s == NULL) {
        return KWS_ERR_ARG;
    }
    memset(s, 0, sizeof(*s));
    /* The start-up twin of the #if above, for a kws_model.c linked from another export than its header. */
    if (!same_text(kws_model.feature_hash, kws_frontend_feature_hash())) {
        return KWS_ERR_MODEL;
    }
    kws_frontend_init(&s->frontend);
    r = kws_network_init(&s->network, &kws_model);
    if (r != KWS_OK) {
        return r;
    }
    kws_detector_init(&s->detector, kws_model.keywords);
    return KWS_OK;
}

void kws_engine_set_hop_callback(kws_engine_t *s, kws_hop_callback_t fn, void *user)
{
    if (s != NULL) {
        s->on_hop = fn;
        s->user = user;
    }
}

/* The hop whose frame is in s->features: network, detector, callback. Returns the class fired or -1. */
static int32_t hop(kws_engine_t *s, int32_t *score_sum)
{
    kws_hop_t info;
    const int has_logits = kws_network_push(&s->network, s->features, s->logits) == 1;
    const int32_t fired = has_logits ? kws_detector_push(&s->detector, s->logits, score_sum) : -1;

    if (s->on_hop != NULL) {
        info.hop = s->hops;
        info.features = s->features;
        info.logits = has_logits ? s->logits : NULL;
        info.sums = has_logits ? kws_detector_sums(&s->detector) : NULL;
        info.keyword = fired;
        s->on_hop(s->user, &info);
    }
    return fired;
}

int kws_process(kws_engine_t *s, const int16_t *samples, int n, kws_detection_t *out, int max_out)
{
    int used = 0, found = 0;

    if (s == NULL || s->network.model == NULL || n < 0 || (n > 0 && samples == NULL) || max_out < 0 ||
        (max_out > 0 && out == NULL)) {
        return KWS_ERR_ARG;
    }
    while (used < n) {
        int consumed = 0;
        int32_t sum = 0, fired;
        if (kws_frontend_push(&s->frontend, samples + used, n - used, &consumed, s->features) != 1) {
            break; /* the rest of the chunk went into the pending window */
        }
        used += consumed;
        fired = hop(s, &sum);
        if (fired >= 0) {
            if (found < max_out) {
                out[found].hop = s->hops;
                out[found].keyword = fired;
                out[found].score_sum = sum;
            }
            ++found;
        }
        s->hops++;
    }
    return found;
}

/* Fuzz target: the detector (kws_detector.h) against a naive re-reading of its specification.
 *
 * Input: byte 0 bit 0 = take the keyword flags from the next two bytes (else the model's), bit 1 = pass NULL
 * for score_sum; then KWS_MODEL_NUM_CLASSES int8 logits per hop. The reference keeps every hop's logits and
 * recomputes each margin (logit minus the best other, by a double loop), each window sum (over the last
 * KWS_DETECTOR_SMOOTHING_HOPS hops), the winner and the refractory count from scratch at every hop.
 * Checked per hop: the class that fired (or -1), its score_sum, kws_detector_sums (NULL until the window is
 * full, else every class's sum). */
#include <string.h>

#include "fuzz_input.h"
#include "kws_detector.h"

#define MAX_HOPS 4096

static int32_t margin(const int8_t *logits, int32_t k)
{
    int32_t j, other = INT32_MIN;
    for (j = 0; j < KWS_MODEL_NUM_CLASSES; ++j) {
        if (j != k && logits[j] > other) {
            other = logits[j];
        }
    }
    return logits[k] - other;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int8_t history[MAX_HOPS][KWS_MODEL_NUM_CLASSES];
    static kws_detector_t s;
    fuzz_input_t in = {data, size};
    const uint8_t flags = fuzz_u8(&in);
    const uint16_t mask = flags & 1 ? fuzz_u16(&in) : 0;
    uint8_t keywords[KWS_MODEL_NUM_CLASSES];
    int32_t hop, k, cooldown = 0;

    for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
        keywords[k] = flags & 1 ? (uint8_t)(mask >> (k % 16) & 1) : kws_model.keywords[k];
    }
    kws_detector_init(&s, keywords);
    FUZZ_CHECK(kws_detector_sums(&s) == NULL);
    for (hop = 0; hop < MAX_HOPS && in.left > 0; ++hop) {
        int32_t sums[KWS_MODEL_NUM_CLASSES], best = -1, score_sum = 12345, fired, t;
        const int32_t *got;
        for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
            history[hop][k] = (int8_t)fuzz_u8(&in);
        }
        fired = kws_detector_push(&s, history[hop], flags & 2 ? NULL : &score_sum);

        for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
            sums[k] = 0;
            for (t = hop; t >= 0 && t > hop - KWS_DETECTOR_SMOOTHING_HOPS; --t) {
                sums[k] += margin(history[t], k);
            }
        }
        if (cooldown > 0) {
            --cooldown;
        } else if (hop + 1 >= KWS_DETECTOR_SMOOTHING_HOPS) {
            for (k = 0; k < KWS_MODEL_NUM_CLASSES; ++k) {
                if (keywords[k] && (best < 0 || sums[k] > sums[best])) {
                    best = k;
                }
            }
            if (best >= 0 && sums[best] < KWS_DETECTOR_THRESHOLD * KWS_DETECTOR_SMOOTHING_HOPS) {
                best = -1;
            }
            cooldown = best >= 0 ? KWS_DETECTOR_REFRACTORY_HOPS : 0;
        }
        FUZZ_CHECK(fired == best);
        FUZZ_CHECK(score_sum == (fired >= 0 && !(flags & 2) ? sums[fired] : 12345));
        got = kws_detector_sums(&s);
        FUZZ_CHECK((got == NULL) == (hop + 1 < KWS_DETECTOR_SMOOTHING_HOPS));
        FUZZ_CHECK(got == NULL || memcmp(got, sums, sizeof(sums)) == 0);
    }
    return 0;
}

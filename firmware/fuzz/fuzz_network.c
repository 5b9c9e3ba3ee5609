/* Fuzz target: the streaming network (kws_network.h) with the compiled-in model on any feature frames.
 *
 * Input: byte 0 = extra pushes, byte 1 = which push also gets the whole-window check; then int8 frames of
 * KWS_MODEL_INPUT_CHANNELS bytes. The frames are pushed in order and then cycled for the extra pushes, so a
 * short input still fills the window. Checked: nothing (and the logits untouched) before input_frames frames,
 * logits from then on, kws_network_output's range, and at the first full window, at the chosen push and at
 * the last one every layer's newest frame, the pooled frame and the logits against whole-window inference.
 * Also the argument checks. */
#include <string.h>

#include "fuzz_input.h"
#include "fuzz_window.h"
#include "kws_network.h"

#define CHANNELS KWS_MODEL_INPUT_CHANNELS
#define MAX_PUSHES 128

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int8_t pushed[MAX_PUSHES][CHANNELS];
    static kws_network_t s;
    fuzz_input_t in = {data, size};
    const int32_t extra = fuzz_u8(&in), checked = fuzz_u8(&in);
    const int32_t given = (int32_t)(in.left / CHANNELS) < MAX_PUSHES ? (int32_t)(in.left / CHANNELS) : MAX_PUSHES;
    const int32_t total = given + extra < MAX_PUSHES ? given + extra : MAX_PUSHES;
    int8_t logits[KWS_MODEL_NUM_CLASSES];
    int32_t t, i;

    FUZZ_CHECK(kws_network_init(&s, &kws_model) == KWS_OK);
    FUZZ_CHECK(kws_network_output(&s, -1) == NULL && kws_network_output(&s, KWS_MODEL_NUM_LAYERS + 2) == NULL);
    for (t = 0; t < total; ++t) {
        int r;
        for (i = 0; i < CHANNELS; ++i) {
            pushed[t][i] = t < given ? (int8_t)fuzz_u8(&in) : (given > 0 ? pushed[t % given][i] : 0);
        }
        memset(logits, 0x5a, sizeof(logits));
        r = kws_network_push(&s, pushed[t], logits);
        if (t + 1 < KWS_MODEL_INPUT_FRAMES) {
            int8_t untouched[KWS_MODEL_NUM_CLASSES];
            memset(untouched, 0x5a, sizeof(untouched));
            FUZZ_CHECK(r == 0 && memcmp(logits, untouched, sizeof(logits)) == 0);
            continue;
        }
        FUZZ_CHECK(r == 1);
        FUZZ_CHECK(memcmp(logits, kws_network_output(&s, KWS_MODEL_NUM_LAYERS + 1), sizeof(logits)) == 0);
        for (i = 0; i <= KWS_MODEL_NUM_LAYERS + 1; ++i) {
            FUZZ_CHECK(kws_network_output(&s, i) != NULL);
        }
        if (t + 1 == KWS_MODEL_INPUT_FRAMES || t == checked || t + 1 == total) {
            fuzz_check_window(&s, &kws_model, &pushed[0][0], t + 1);
        }
    }
    FUZZ_CHECK(s.frames == (uint32_t)total);
    FUZZ_CHECK(kws_network_push(NULL, pushed[0], logits) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_network_push(&s, NULL, logits) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_network_push(&s, pushed[0], NULL) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_network_init(NULL, &kws_model) == KWS_ERR_ARG && kws_network_init(&s, NULL) == KWS_ERR_ARG);
    FUZZ_CHECK(kws_network_output(NULL, 0) == NULL);
    return 0;
}
